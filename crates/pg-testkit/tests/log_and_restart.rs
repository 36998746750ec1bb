//! Server log, extra configuration, restart, and clusters side by side.

use pg_testkit::TestCluster;

#[test]
fn log_statement_lines_appear_in_server_log() {
    let cluster = TestCluster::builder()
        .log_statements(true)
        .config_line("work_mem = '7MB'")
        .start()
        .unwrap();
    cluster
        .sql("postgres", "SELECT 'marker-4711' AS m")
        .unwrap();
    let log = cluster.server_log().unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("statement: SELECT 'marker-4711' AS m")),
        "{log}"
    );
    assert_eq!(
        cluster.sql("postgres", "SHOW log_statement").unwrap(),
        "all"
    );
    assert_eq!(cluster.sql("postgres", "SHOW work_mem").unwrap(), "7MB");
}

#[test]
fn without_log_statements_statements_are_not_logged() {
    let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    cluster.sql("postgres", "SELECT 'marker-4712'").unwrap();
    let log = cluster.server_log().unwrap();
    assert!(!log.contains("marker-4712"), "{log}");
}

#[test]
fn restart_keeps_port_and_data() {
    let mut cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    let port = cluster.port();
    cluster
        .sql(
            "postgres",
            "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here');",
        )
        .unwrap();
    let pid_before = cluster
        .sql("postgres", "SELECT pg_postmaster_start_time()")
        .unwrap();
    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(cluster.sql("postgres", "SELECT 1").is_err());
    cluster.stop().unwrap(); // idempotent
    cluster.restart().unwrap();
    assert!(cluster.is_running());
    assert_eq!(cluster.port(), port);
    assert_eq!(
        cluster.sql("postgres", "SELECT v FROM kept").unwrap(),
        "still here"
    );
    let pid_after = cluster
        .sql("postgres", "SELECT pg_postmaster_start_time()")
        .unwrap();
    assert_ne!(pid_before, pid_after);
    // The superuser's password survives too.
    assert_eq!(
        cluster
            .sql_as(cluster.superuser(), "postgres", "SELECT 1")
            .unwrap(),
        "1"
    );
}

#[test]
fn two_clusters_side_by_side() {
    let a = TestCluster::builder().rds_emulation(false).start().unwrap();
    let b = TestCluster::builder().rds_emulation(false).start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.root_dir(), b.root_dir());
    a.sql("postgres", "CREATE TABLE only_in_a (x int)").unwrap();
    assert_eq!(
        a.sql(
            "postgres",
            "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'"
        )
        .unwrap(),
        "1"
    );
    assert_eq!(
        b.sql(
            "postgres",
            "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'"
        )
        .unwrap(),
        "0"
    );
    // Each answers on its own TCP port.
    for c in [&a, &b] {
        let port = c
            .sql_as(c.superuser(), "postgres", "SELECT inet_server_port()")
            .unwrap();
        assert_eq!(port, c.port().to_string());
    }
}

#[test]
fn conn_string_is_libpq_key_value() {
    let cluster = TestCluster::builder().rds_emulation(false).start().unwrap();
    let conn = cluster.conn_string(cluster.superuser(), "postgres");
    assert!(conn.contains(&format!("port={}", cluster.port())), "{conn}");
    assert!(conn.contains("sslmode=disable"), "{conn}");
    let out = cluster
        .psql_command()
        .args(["-A", "-t", "-d", &conn, "-c", "SELECT current_user"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rdsadmin");
}
