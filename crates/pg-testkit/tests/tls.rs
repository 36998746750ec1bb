//! TLS clusters, pg_hba presets and the server log, observed with this version's psql.

use std::process::Output;

use pg_testkit::{HbaPreset, TLS_VERSIONS, TestCluster, TestkitError, for_each_version, rds};

/// Runs `SELECT ssl FROM pg_stat_ssl ...` through `psql_command` with the given extra conninfo.
fn psql_ssl(cluster: &TestCluster, conninfo: &str) -> Output {
    let creds = cluster.connector();
    cluster
        .psql_command()
        .env("PGPASSWORD", &creds.password)
        .args(["-A", "-t", "-d"])
        .arg(format!(
            "port={} user={} dbname={} {conninfo}",
            cluster.port(),
            creds.user,
            rds::APP_DB
        ))
        .args([
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .output()
        .expect("psql runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn verify_full_with_the_cluster_ca_and_not_with_another() {
    for_each_version(TLS_VERSIONS, |v| {
        let cluster = TestCluster::builder().version(v).ssl(true).start().unwrap();
        let ca = cluster.ca_cert_path().unwrap().display().to_string();
        let other = cluster.other_ca_cert_path().unwrap().display().to_string();

        let ok = psql_ssl(
            &cluster,
            &format!("host=localhost sslmode=verify-full sslrootcert={ca}"),
        );
        assert!(ok.status.success(), "v{v}: {}", stderr(&ok));
        assert_eq!(stdout(&ok), "t", "v{v}");

        let bad = psql_ssl(
            &cluster,
            &format!("host=localhost sslmode=verify-full sslrootcert={other}"),
        );
        assert!(
            !bad.status.success(),
            "v{v}: connected with an unrelated CA"
        );
        assert!(
            stderr(&bad).contains("certificate verify failed"),
            "v{v}: {}",
            stderr(&bad)
        );

        // HostBoth: plain TCP is accepted too.
        let plain = psql_ssl(&cluster, "host=127.0.0.1 sslmode=disable");
        assert!(plain.status.success(), "v{v}: {}", stderr(&plain));
        assert_eq!(stdout(&plain), "f", "v{v}");
    });
}

#[test]
fn host_name_check_uses_the_chosen_sans() {
    let cluster = TestCluster::builder()
        .ssl(true)
        .server_cert_sans(["db.example.test"])
        .rds_emulation(false)
        .start()
        .unwrap();
    let ca = cluster.ca_cert_path().unwrap().display().to_string();
    let creds = cluster.superuser();
    let run = |conninfo: String| {
        cluster
            .psql_command()
            .env("PGPASSWORD", &creds.password)
            .args(["-A", "-t", "-d"])
            .arg(format!(
                "port={} user={} dbname=postgres {conninfo}",
                cluster.port(),
                creds.user
            ))
            .args(["-c", "SELECT 1"])
            .output()
            .unwrap()
    };
    // The name is not in the certificate: verify-full refuses, verify-ca accepts.
    let full = run(format!(
        "host=127.0.0.1 sslmode=verify-full sslrootcert={ca}"
    ));
    assert!(!full.status.success());
    assert!(
        stderr(&full).contains("db.example.test"),
        "{}",
        stderr(&full)
    );
    let by_ca = run(format!("host=127.0.0.1 sslmode=verify-ca sslrootcert={ca}"));
    assert!(by_ca.status.success(), "{}", stderr(&by_ca));
    // hostaddr keeps the TCP target while host= names the certificate's SAN.
    let named = run(format!(
        "host=db.example.test hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"
    ));
    assert!(named.status.success(), "{}", stderr(&named));
}

#[test]
fn hostssl_only_refuses_plain_connections() {
    let cluster = TestCluster::builder()
        .ssl(true)
        .hba(HbaPreset::HostSslOnly)
        .start()
        .unwrap();
    let plain = psql_ssl(&cluster, "host=127.0.0.1 sslmode=disable");
    assert!(!plain.status.success());
    assert!(
        stderr(&plain).contains("no encryption"),
        "{}",
        stderr(&plain)
    );
    let tls = psql_ssl(&cluster, "host=127.0.0.1 sslmode=require");
    assert!(tls.status.success(), "{}", stderr(&tls));
    assert_eq!(stdout(&tls), "t");
    // sql_as negotiates TLS when the cluster has it.
    assert_eq!(
        cluster
            .sql_as(
                cluster.connector(),
                rds::APP_DB,
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            .unwrap(),
        "t"
    );
}

#[test]
fn hostnossl_only_refuses_tls_connections() {
    let cluster = TestCluster::builder()
        .ssl(true)
        .hba(HbaPreset::HostNoSslOnly)
        .start()
        .unwrap();
    let tls = psql_ssl(&cluster, "host=127.0.0.1 sslmode=require");
    assert!(!tls.status.success());
    assert!(stderr(&tls).contains("SSL encryption"), "{}", stderr(&tls));
    let plain = psql_ssl(&cluster, "host=127.0.0.1 sslmode=disable");
    assert!(plain.status.success(), "{}", stderr(&plain));
    assert_eq!(stdout(&plain), "f");
    // sql_as (sslmode=prefer) falls back to plain TCP when hba refuses TLS.
    assert_eq!(
        cluster
            .sql_as(
                cluster.connector(),
                rds::APP_DB,
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            .unwrap(),
        "f"
    );
}

#[test]
fn ssl_on_18_is_a_clear_error() {
    let err = TestCluster::builder()
        .version(18)
        .ssl(true)
        .rds_emulation(false)
        .start()
        .unwrap_err();
    assert!(
        matches!(err, TestkitError::TlsUnsupported { version: 18, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("without OpenSSL"), "{err}");
}

#[test]
fn server_key_is_private_to_the_server() {
    use std::os::unix::fs::MetadataExt;
    let cluster = TestCluster::builder()
        .ssl(true)
        .rds_emulation(false)
        .start()
        .unwrap();
    let key = cluster.root_dir().join("tls").join("server.key");
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let data_owner = std::fs::metadata(cluster.data_dir()).unwrap().uid();
    assert_eq!(meta.uid(), data_owner);
    assert_eq!(cluster.sql("postgres", "SHOW ssl").unwrap(), "on");
}
