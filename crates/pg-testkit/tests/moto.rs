//! MotoServer: a real moto_server answering boto3.

use pg_testkit::MotoServer;

#[test]
fn moto_answers_boto3_and_stops_on_drop() {
    let moto = MotoServer::start().unwrap();
    assert!(moto.endpoint_url().starts_with("http://127.0.0.1:"));
    assert_eq!(moto.region(), "us-east-1");
    assert_eq!(moto.access_key_id(), "testing");
    let out = moto
        .boto3("print(json.dumps(rds.describe_db_instances()['DBInstances']))")
        .unwrap();
    assert_eq!(out.trim(), "[]");
    // Secrets Manager client too: a secret round-trips.
    let out = moto
        .boto3(
            "secrets.create_secret(Name='t/1', SecretString='s3cr3t')\n\
             print(secrets.get_secret_value(SecretId='t/1')['SecretString'])",
        )
        .unwrap();
    assert_eq!(out.trim(), "s3cr3t");
    // A failing script reports python's error.
    let err = moto
        .boto3("rds.describe_db_instances(DBInstanceIdentifier='nope')")
        .unwrap_err();
    assert!(err.to_string().contains("DBInstanceNotFound"), "{err}");

    let port = moto.port();
    drop(moto);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "moto_server still listens on {port}"
    );
}

/// Helper process for `moto_stops_when_the_test_process_is_killed`.
#[test]
#[ignore = "helper process, run by moto_stops_when_the_test_process_is_killed"]
fn helper_hold_moto_until_killed() {
    let moto = MotoServer::start().unwrap();
    println!("HELD {}", moto.port());
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn moto_stops_when_the_test_process_is_killed() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_hold_moto_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("HELD "))
        .expect("helper printed its port");
    let port: u16 = line["HELD ".len()..].trim().parse().unwrap();
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(listening());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while listening() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !listening(),
        "moto_server on {port} outlived its killed test process"
    );
}
