//! Lifecycle of a TestCluster: start, SQL, restart, drop.

use std::path::Path;

use pg_testkit::{TestCluster, rds};

fn pid_alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

#[test]
fn start_sql_and_drop_removes_dir_and_process() {
    let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    assert_eq!(cluster.version(), 15);
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_ne!(cluster.port(), 0);
    assert_eq!(cluster.sql("postgres", "SELECT 1 + 1").unwrap(), "2");
    let num = cluster.sql("postgres", "SHOW server_version_num").unwrap();
    assert!(num.starts_with("15"), "{num}");
    // Settings the kit promises.
    assert_eq!(cluster.sql("postgres", "SHOW fsync").unwrap(), "off");
    assert_eq!(
        cluster.sql("postgres", "SHOW password_encryption").unwrap(),
        "scram-sha-256"
    );
    assert_eq!(
        cluster.sql("postgres", "SELECT current_user").unwrap(),
        rds::SUPERUSER
    );
    // Several statements: every result in order.
    assert_eq!(
        cluster.sql("postgres", "SELECT 1; SELECT 2;").unwrap(),
        "1\n2"
    );
    // Superuser over TCP with its password.
    let over_tcp = cluster
        .sql_as(cluster.superuser(), "postgres", "SELECT inet_server_addr()")
        .unwrap();
    assert_eq!(over_tcp, "127.0.0.1");

    let postmaster = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).unwrap();
    let postmaster_pid = postmaster.lines().next().unwrap().to_owned();
    assert!(pid_alive(&postmaster_pid));
    let root = cluster.root_dir().to_path_buf();
    assert!(root.exists());
    drop(cluster);
    assert!(!root.exists(), "{} still exists", root.display());
    assert!(
        !pid_alive(&postmaster_pid),
        "postmaster {postmaster_pid} still runs"
    );
}

#[test]
fn sql_errors_carry_psql_message() {
    let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    let err = cluster
        .sql("postgres", "SELECT * FROM no_such_table")
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no_such_table"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    // ON_ERROR_STOP: nothing after the failing statement runs.
    let err = cluster
        .sql(
            "postgres",
            "CREATE TABLE t1 (a int); SELECT 1/0; CREATE TABLE t2 (a int);",
        )
        .unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    assert_eq!(
        cluster
            .sql(
                "postgres",
                "SELECT count(*) FROM pg_class WHERE relname IN ('t1', 't2')"
            )
            .unwrap(),
        "1"
    );
}

#[test]
fn panicking_test_still_stops_and_removes_the_cluster() {
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
        let pid_file = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().to_owned();
        *seen.lock().unwrap() = Some((cluster.root_dir().to_path_buf(), pid));
        panic!("test body failed");
    }));
    assert!(result.is_err());
    let (root, pid) = seen.into_inner().unwrap().unwrap();
    assert!(!root.exists(), "{} still exists", root.display());
    assert!(!pid_alive(&pid), "postmaster {pid} still runs");
}

#[test]
fn missing_version_names_the_fix() {
    let err = TestCluster::builder().version(14).start().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("PostgreSQL 14"), "{msg}");
    assert!(msg.contains("PG_TEST_BIN_14"), "{msg}");
    assert!(msg.contains("/usr/lib/postgresql/14/bin"), "{msg}");
}

#[test]
fn invalid_options_fail_before_starting() {
    let err = TestCluster::builder()
        .hba(pg_testkit::HbaPreset::HostSslOnly)
        .start()
        .unwrap_err();
    assert!(
        matches!(
            err,
            pg_testkit::TestkitError::InvalidOption { option: "hba", .. }
        ),
        "{err:?}"
    );
}

/// Helper process for `server_stops_when_the_test_process_is_killed`: starts a cluster, prints its
/// postmaster pid and directory, then waits to be killed.
#[test]
#[ignore = "helper process, run by server_stops_when_the_test_process_is_killed"]
fn helper_hold_a_cluster_until_killed() {
    let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    let pid_file = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).unwrap();
    println!(
        "HELD {} {}",
        pid_file.lines().next().unwrap(),
        cluster.root_dir().display()
    );
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn server_stops_when_the_test_process_is_killed() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_hold_a_cluster_until_killed",
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
        .expect("helper printed its cluster");
    let mut fields = line.split_whitespace().skip(1);
    let pid = fields.next().unwrap().to_owned();
    let root = std::path::PathBuf::from(fields.next().unwrap());
    assert!(pid_alive(&pid));
    // SIGKILL: no destructor runs in the helper.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pid_alive(&pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let alive = pid_alive(&pid);
    let _ = std::fs::remove_dir_all(&root);
    assert!(!alive, "postmaster {pid} outlived its killed test process");
}
