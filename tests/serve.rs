//! `rdspg serve` started as a real process against a real cluster: `/metrics` over HTTP shows
//! the sweep; SIGTERM while a sweep is in flight exits 0 once that sweep has finished, with no
//! role left half-revoked; the audit trail has every revocation once and no password.

mod common;

use common::{free_port, http_get};
use common::{rdspg_path, wait_for};

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{Clock, ExposeSecret, ManualClock, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials};

/// The value of the sample `name{...}` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|line| {
            line.starts_with(&format!("{name}{{"))
                && labels
                    .iter()
                    .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct Local {
    cluster: TestCluster,
    dir: tempfile::TempDir,
    config: PathBuf,
    manager: AccessManager,
}

/// A cluster, a settings file for it, and a manager in the test process whose clock is two
/// hours behind: its one-hour grants have already expired for the server.
fn local() -> Local {
    let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
    // What an administrator runs once `rdspg check` reports it (PostgreSQL 15 rules).
    cluster
        .sql_as(
            cluster.master(),
            "appdb",
            "GRANT postgres TO apono_connector",
        )
        .expect("owner fix");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("local.toml");
    let text = format!(
        "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n[endpoint]\nhost = \"127.0.0.1\"\n\
         port = {}\n",
        cluster.port()
    );
    std::fs::write(&config, &text).expect("write config");
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let password = SecretString::from(cluster.connector().password.clone());
    let credentials =
        IntegrationCredentials::shared(Arc::new(StaticPassword::new("apono_connector", password)));
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(7200),
    ));
    let grants_audit = AppendFileSink::open(dir.path().join("grants.jsonl")).expect("audit file");
    let manager = AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
    .with_clock(clock as Arc<dyn Clock>)
    .with_audit(Arc::new(grants_audit));
    Local {
        cluster,
        dir,
        config,
        manager,
    }
}

/// Grants read-only on appdb/sales; returns the password handed out.
async fn grant(manager: &AccessManager, user: &str, duration: &str) -> String {
    let request = AccessRequest::builder(
        user.parse().expect("user"),
        AccessLevel::ReadOnly,
        duration.parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .build()
    .expect("request");
    let granted = manager.grant(&request).await.expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    granted
        .password
        .expect("password auth")
        .expose_secret()
        .to_owned()
}

/// `exists`, `can_login`, `reads sales`: a role is either fully granted or absent.
fn role_state(cluster: &TestCluster, role: &str) -> (bool, bool, bool) {
    let out = cluster
        .sql(
            "appdb",
            &format!(
                "SELECT count(*), coalesce(bool_and(rolcanlogin), false), \
                 coalesce(bool_and(has_schema_privilege(rolname, 'sales', 'USAGE') \
                 AND has_table_privilege(rolname, 'sales.orders', 'SELECT')), false) \
                 FROM pg_roles WHERE rolname = '{role}'"
            ),
        )
        .expect("query the role");
    let parts: Vec<&str> = out.trim().split('|').collect();
    (parts[0] == "1", parts[1] == "t", parts[2] == "t")
}

fn spawn_serve(local: &Local, addr: SocketAddr, audit: &Path) -> Child {
    Command::new(rdspg_path())
        .args(["serve", "--config"])
        .arg(&local.config)
        .args(["--listen", &addr.to_string()])
        .args([
            "--sweep-every",
            "2s",
            "--sync-every",
            "1h",
            "--rotate-every",
            "1h",
        ])
        .arg("--audit")
        .arg(audit)
        .env(
            "RDSPG_CONNECTOR_PASSWORD",
            &local.cluster.connector().password,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rdspg serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_sweep_and_sigterm_mid_sweep_exits_0_with_nothing_half_done() {
    let local = local();
    let mut passwords = Vec::new();
    passwords.push(grant(&local.manager, "keeper", "8h").await);
    for user in ["e0", "e1", "e2"] {
        passwords.push(grant(&local.manager, user, "1h").await);
    }

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let audit = local.dir.path().join("serve-audit.jsonl");
    let mut serve = spawn_serve(&local, addr, &audit);

    // /metrics shows a finished sweep: the three expired users revoked, one grant active.
    let sweep = [("integration", "local"), ("job", "sweep")];
    let text = wait_for("a finished sweep in /metrics", 30, || {
        let (status, body) = http_get(addr, "/metrics")?;
        assert_eq!(status, 200, "{body}");
        let active = metric(&body, "rdspg_active_grants", &[("instance", "local")])?;
        (metric(&body, "rdspg_job_runs_total", &sweep)? >= 1.0 && active == 1.0).then_some(body)
    });
    let swept = [("job", "sweep"), ("instance", "local"), ("count", "swept")];
    assert!(
        metric(&text, "rdspg_job_instance_last_count", &swept).is_some(),
        "{text}"
    );
    assert_eq!(
        metric(&text, "rdspg_job_failures_total", &sweep),
        Some(0.0),
        "{text}"
    );
    assert!(metric(&text, "rdspg_job_last_success_timestamp_seconds", &sweep).is_some());
    for user in ["e0", "e1", "e2"] {
        assert_eq!(
            role_state(&local.cluster, user),
            (false, false, false),
            "{user}"
        );
    }
    assert_eq!(role_state(&local.cluster, "keeper"), (true, true, true));
    let (status, body) = http_get(addr, "/healthz").expect("healthz");
    assert_eq!(status, 200, "{body}");

    // Hold the revocation lock of l1, then let l0..l3 expire: the next sweep revokes l0 and
    // waits at l1, in flight.
    let (holder, connection) = tokio_postgres::connect(
        &local
            .cluster
            .conn_string(local.cluster.superuser(), "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect as superuser");
    tokio::spawn(connection);
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('rdspg-revoke:l1', 0))",
            &[],
        )
        .await
        .expect("hold l1's revocation lock");
    for user in ["l0", "l1", "l2", "l3"] {
        passwords.push(grant(&local.manager, user, "1h").await);
    }
    let waiting = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                   WHERE l.locktype = 'advisory' AND NOT l.granted \
                   AND a.application_name = 'rds-pg-access'";
    wait_for("a sweep waiting at l1", 30, || {
        let n = local.cluster.sql("postgres", waiting).ok()?;
        (n.trim() == "1").then_some(())
    });
    let (_, body) = http_get(addr, "/metrics").expect("metrics");
    assert_eq!(
        metric(&body, "rdspg_job_in_progress", &sweep),
        Some(1.0),
        "{body}"
    );

    // SIGTERM mid-sweep: the process stays until the sweep in flight has finished.
    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    wait_for("the listener to close", 30, || {
        http_get(addr, "/healthz").is_none().then_some(())
    });
    assert!(
        serve.try_wait().expect("poll").is_none(),
        "serve exited with a sweep in flight"
    );
    assert_eq!(
        local
            .cluster
            .sql("postgres", waiting)
            .expect("locks")
            .trim(),
        "1",
        "the sweep is still waiting at l1"
    );
    holder
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended('rdspg-revoke:l1', 0))",
            &[],
        )
        .await
        .expect("release the lock");
    let status = wait_for("serve to exit", 30, || serve.try_wait().expect("poll"));
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = serve.stdout.take() {
        out.read_to_string(&mut stdout).expect("stdout");
    }
    if let Some(mut err) = serve.stderr.take() {
        err.read_to_string(&mut stderr).expect("stderr");
    }
    assert_eq!(status.code(), Some(0), "stderr: {stderr}\nstdout: {stdout}");

    // Nothing half done: l1 (in flight) is fully revoked; a sweep disables the login of every
    // expired user it lists before it revokes them one by one, so each other expired user is
    // either fully revoked, or cannot log in any more and waits for the next sweep, or (if
    // the sweep in flight had not listed it yet) still fully granted. None can log in with
    // its privileges cut off half-way.
    let mut revoked = vec!["e0", "e1", "e2"];
    let mut pending = Vec::new();
    for user in ["l0", "l1", "l2", "l3"] {
        match role_state(&local.cluster, user) {
            (false, false, false) => revoked.push(user),
            (true, false, true) => {
                assert_ne!(user, "l1", "the revocation in flight finished");
                pending.push(user);
            }
            (true, true, true) => {
                assert_ne!(user, "l1", "the revocation in flight finished");
                pending.push(user);
            }
            half => panic!("{user} is half revoked: {half:?}"),
        }
    }
    assert!(revoked.contains(&"l1"));
    assert_eq!(role_state(&local.cluster, "keeper"), (true, true, true));
    // The next sweep finishes what the stopped one left (all of l0..l3 have expired): no
    // managed role stays without login.
    if !pending.is_empty() {
        // With the server's clock (the test's manager runs two hours behind).
        let now = Arc::new(ManualClock::new(SystemTime::now())) as Arc<dyn Clock>;
        let report = local
            .manager
            .clone()
            .with_clock(now)
            .sweep()
            .await
            .expect("the next sweep");
        assert!(report.all_ok(), "{report:?}");
        for user in &pending {
            assert_eq!(
                role_state(&local.cluster, user),
                (false, false, false),
                "{user}"
            );
        }
    }
    let nologin = local
        .cluster
        .sql(
            "postgres",
            "SELECT count(*) FROM pg_roles r JOIN pg_auth_members m ON m.roleid = r.oid \
             JOIN pg_roles g ON g.oid = m.member \
             WHERE g.rolname = 'rdspg_managed' AND NOT r.rolcanlogin",
        )
        .expect("managed roles");
    assert_eq!(nologin.trim(), "0");

    // Each run is one JSON event on stdout (not a terminal here).
    let runs: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "job run" && v["job"] == "sweep")
        .collect();
    assert!(runs.len() >= 2, "{stdout}");
    let swept_total: u64 = runs.iter().filter_map(|v| v["swept"].as_u64()).sum();
    assert_eq!(swept_total, revoked.len() as u64, "{stdout}");
    assert!(runs.iter().all(|v| v["outcome"] == "success"), "{stdout}");

    // Audit: one sweep record per expired user, none for the active one; the grants' records
    // (written by the test's manager) have the users, and no password appears anywhere.
    let serve_audit = std::fs::read_to_string(&audit).expect("serve audit");
    let grants_audit =
        std::fs::read_to_string(local.dir.path().join("grants.jsonl")).expect("grant audit");
    let mut swept_users: Vec<String> = serve_audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit line is JSON"))
        .filter(|v| v["action"] == "sweep" && v["outcome"] == "success")
        .map(|v| v["user"].as_str().expect("user").to_owned())
        .collect();
    swept_users.sort();
    assert_eq!(swept_users, revoked);
    let (granted, finished): (Vec<serde_json::Value>, Vec<serde_json::Value>) = grants_audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit line is JSON"))
        .partition(|v| v["action"] != "sweep");
    assert_eq!(granted.len(), 8, "{grants_audit}");
    // The test's own follow-up sweep recorded exactly the users the stopped sweep left.
    let mut finished: Vec<&str> = finished
        .iter()
        .filter(|v| v["outcome"] == "success")
        .map(|v| v["user"].as_str().expect("user"))
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, pending, "{grants_audit}");
    assert!(granted.iter().all(|v| v["action"] == "grant"
        && v["outcome"] == "success"
        && v["level"] == "read-only"
        && v["resources"][0] == "local/appdb/sales"));
    for password in &passwords {
        assert!(password.len() >= 16);
        for (name, text) in [
            ("serve audit", &serve_audit),
            ("grant audit", &grants_audit),
            ("stdout", &stdout),
            ("stderr", &stderr),
        ] {
            assert!(
                !text.contains(password.as_str()),
                "a password appears in {name}"
            );
        }
    }
}

#[test]
fn serve_refuses_a_non_loopback_listen_address_and_bad_intervals_with_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "name = \"x\"\nregion = \"us-east-1\"\nauth = \"password\"\n[secret]\nenv = \"P\"\n\
         [endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n",
    )
    .expect("write");
    for (args, says) in [
        (vec!["--listen", "0.0.0.0:9187"], "loopback"),
        (vec!["--sweep-every", "0s"], "--sweep-every"),
        (vec!["--sync-every", "soon"], "--sync-every"),
    ] {
        let out = Command::new(rdspg_path())
            .args(["serve", "--config"])
            .arg(&config)
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn healthz_turns_503_naming_the_job_and_instance_that_keep_failing() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("down.toml");
    // Nothing listens on the port of a listener that was just closed.
    let dead = free_port();
    std::fs::write(
        &config,
        format!(
            "name = \"down\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
             ssl_mode = \"disable\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
             [endpoint]\nhost = \"127.0.0.1\"\nport = {dead}\n"
        ),
    )
    .expect("write");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut serve = Command::new(rdspg_path())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &addr.to_string(), "--sweep-every", "1s"])
        .args(["--audit", "stdout"])
        .env("RDSPG_CONNECTOR_PASSWORD", "not-a-real-password-4711")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rdspg serve");
    let body = wait_for("/healthz to report the failing sweep", 30, || {
        let (status, body) = http_get(addr, "/healthz")?;
        (status == 503).then_some(body)
    });
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["status"], "failing");
    let sweep = health["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["job"] == "sweep")
        .unwrap_or_else(|| panic!("no sweep problem in {body}"));
    assert_eq!(sweep["instance"], "local");
    assert_eq!(sweep["integration"], "down");
    assert!(
        sweep["error"]
            .as_str()
            .is_some_and(|e| e.contains(&dead.to_string())),
        "{body}"
    );
    let (_, metrics) = http_get(addr, "/metrics").expect("metrics");
    let failed = [
        ("job", "sweep"),
        ("instance", "local"),
        ("result", "failed"),
    ];
    assert_eq!(
        metric(&metrics, "rdspg_job_instance_last_run", &failed),
        Some(1.0)
    );
    assert!(
        metric(&metrics, "rdspg_job_failures_total", &[("job", "sweep")]).is_some_and(|n| n >= 2.0)
    );

    Command::new("kill")
        .args(["-INT", &serve.id().to_string()])
        .status()
        .expect("run kill");
    let status = wait_for("serve to exit", 30, || serve.try_wait().expect("poll"));
    let mut stdout = String::new();
    if let Some(mut out) = serve.stdout.take() {
        out.read_to_string(&mut stdout).expect("stdout");
    }
    assert_eq!(status.code(), Some(0));
    assert!(!stdout.contains("not-a-real-password-4711"), "{stdout}");
}
