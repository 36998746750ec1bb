//! Issue 14, item 3: one expired user that cannot be revoked never stops the sweep. The hostile
//! set-up: of two expired users on one instance, the first (`amy`) owns an object in a database
//! the connector may not connect to (a DBA moved it there, or she got it some other way), so
//! her revocation cannot finish. Every later expired user (`bob`) must still be revoked in the
//! same sweep, `amy` must not log in any more (IAM users do not check `VALID UNTIL`), and the
//! report, the audit and the exit code must name her. Also: a fleet-wide revoke goes on on the
//! instances that answer when one does not.

mod common;

use common::{rdspg_path, role_exists, wait_for};

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Endpoint, InstanceId, Integration, Settings,
};
use rds_pg_access::pg_auth::{Clock, ManualClock, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials};
use rds_pg_access_service::scheduler::{InstanceRun, Intervals, JobKind, Scheduler};
use serde_json::Value;

/// A cluster, a config file for it (`[endpoint]`, password from the environment) and a manager.
struct Local {
    cluster: TestCluster,
    /// A schema the connector may grant on, after the owner fix of its version.
    grantable: &'static str,
    dir: tempfile::TempDir,
    config: PathBuf,
    integration: Integration,
}

fn local() -> Local {
    local_on(15)
}

/// As [`local`], on PostgreSQL `version`.
fn local_on(version: u32) -> Local {
    let cluster = TestCluster::builder()
        .version(version)
        .start()
        .expect("start a cluster with the RDS emulation");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("local.toml");
    let text = format!(
        "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
         ssl_mode = \"disable\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
         [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    std::fs::write(&config, &text).expect("write config");
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    // The owner fix an administrator runs once (`check` reports it).
    cluster.sql("appdb", owner_fix(version)).expect("owner fix");
    Local {
        cluster,
        grantable: if version >= 16 {
            "appdb/inventory"
        } else {
            "appdb/sales"
        },
        dir,
        config,
        integration,
    }
}

/// The owner fix an administrator runs once (`check` reports it): on 15 membership in the
/// master (owner of sales); on 16+, where the master administers the connector, membership in
/// app_owner (owner of inventory).
fn owner_fix(version: u32) -> &'static str {
    if version >= 16 {
        "GRANT app_owner TO apono_connector"
    } else {
        "GRANT postgres TO apono_connector"
    }
}

impl Local {
    fn manager(&self, clock: Option<Arc<dyn Clock>>) -> AccessManager {
        let manager = common::cluster_manager(&self.cluster, self.integration.clone());
        match clock {
            Some(clock) => manager.with_clock(clock),
            None => manager,
        }
    }

    /// Grants `users` read-only on appdb/sales for one hour, two hours ago: all expired now.
    async fn expired_users(&self, users: &[&str]) {
        let past: Arc<dyn Clock> = Arc::new(ManualClock::new(
            SystemTime::now() - Duration::from_secs(7200),
        ));
        let granter = self.manager(Some(past));
        for user in users {
            let request = AccessRequest::builder(
                user.parse().expect("user"),
                AccessLevel::ReadOnly,
                "1h".parse::<AccessDuration>().expect("duration"),
            )
            .resource(granter.resource_path(self.grantable).expect("path"))
            .build()
            .expect("request");
            let granted = granter.grant(&request).await.expect("grant");
            assert!(granted.instances.all_ok(), "{:?}", granted.instances);
        }
    }

    /// `user` owns a table in `vault`, a database the connector may not connect to.
    fn make_unrevokable(&self, user: &str) {
        self.cluster
            .sql(
                "postgres",
                "CREATE DATABASE vault; REVOKE CONNECT ON DATABASE vault FROM PUBLIC",
            )
            .expect("create vault");
        self.cluster
            .sql(
                "vault",
                &format!("CREATE TABLE kept (x int); ALTER TABLE kept OWNER TO {user}"),
            )
            .expect("give the user an object in vault");
    }

    fn can_login(&self, user: &str) -> bool {
        self.cluster
            .sql(
                "postgres",
                &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{user}'"),
            )
            .expect("query")
            .trim()
            == "t"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdspg_sweep_revokes_every_other_expired_user_when_one_cannot_be_revoked() {
    let env = local();
    env.expired_users(&["amy", "bob"]).await;
    env.make_unrevokable("amy");

    let out = Command::new(rdspg_path())
        .args(["--output", "json", "sweep", "--config"])
        .arg(&env.config)
        .env(
            "RDSPG_CONNECTOR_PASSWORD",
            &env.cluster.connector().password,
        )
        .output()
        .expect("run rdspg sweep");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);

    // Bob, expired after amy in the sweep's order, is revoked in the same sweep.
    assert!(
        !role_exists(&env.cluster, "bob"),
        "bob kept access because amy could not be revoked\nstdout: {stdout}\nstderr: {stderr}"
    );
    // Amy is still there (her object is kept), but cannot log in.
    assert!(role_exists(&env.cluster, "amy"));
    assert!(!env.can_login("amy"), "amy can still log in");
    // The run is a failure and names her, with why and that her login is disabled.
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    let local = &doc["instances"]["local"];
    assert_eq!(local["revoked"][0]["user"], "bob", "{doc}");
    assert_eq!(local["failed"][0]["user"], "amy", "{doc}");
    assert_eq!(local["failed"][0]["login_disabled"], true, "{doc}");
    assert!(
        local["failed"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("vault")),
        "{doc}"
    );
}

/// On 15 and 17 (16+ revocation needs ADMIN on the role; the rules differ).
#[test]
fn the_sweep_report_and_audit_name_the_unrevokable_user_and_the_sweep_goes_on() {
    pg_testkit::for_each_version(&[15, 17], |version| {
        common::runtime().block_on(sweep_report_and_audit(version));
    });
}

async fn sweep_report_and_audit(version: u32) {
    let env = local_on(version);
    env.expired_users(&["amy", "bob", "cid"]).await;
    env.make_unrevokable("amy");
    let audit_path = env.dir.path().join("audit.jsonl");
    let manager = env
        .manager(None)
        .with_audit(Arc::new(AppendFileSink::open(&audit_path).expect("audit")));

    let report = manager.sweep().await.expect("sweep");
    let local: InstanceId = rds_pg_access::LOCAL_TARGET.parse().expect("id");
    let swept = report.results[&local]
        .as_ref()
        .expect("the instance answered");
    let revoked: Vec<&str> = swept.swept.iter().map(|s| s.user.as_str()).collect();
    assert_eq!(revoked, ["bob", "cid"]);
    assert_eq!(swept.failed.len(), 1, "{swept:?}");
    assert_eq!(swept.failed[0].user, "amy");
    assert!(swept.failed[0].login_disabled);
    assert!(!swept.is_clean());
    assert!(!env.can_login("amy"));
    for user in ["bob", "cid"] {
        assert!(!role_exists(&env.cluster, user), "{user}");
    }

    let audit = std::fs::read_to_string(&audit_path).expect("audit file");
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let of = |user: &str| {
        lines
            .iter()
            // The outcome (its intent, `pending`, comes first).
            .find(|l| l["user"] == user && l["action"] == "sweep" && l["outcome"] != "pending")
            .unwrap_or_else(|| panic!("no sweep record of {user}: {audit}"))
            .clone()
    };
    assert_eq!(of("amy")["outcome"], "failure");
    assert!(
        of("amy")["error"]
            .as_str()
            .is_some_and(|e| e.contains("vault"))
    );
    assert_eq!(of("bob")["outcome"], "success");
    assert_eq!(of("cid")["outcome"], "success");

    // Once the connector may reach the database, the next sweep finishes amy.
    env.cluster
        .sql(
            "postgres",
            "GRANT CONNECT ON DATABASE vault TO apono_connector",
        )
        .expect("grant connect");
    let report = manager.sweep().await.expect("sweep");
    let swept = report.results[&local].as_ref().expect("ok");
    assert!(swept.is_clean(), "{swept:?}");
    assert!(!role_exists(&env.cluster, "amy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_reports_an_unrevokable_user_as_a_failed_sweep_of_the_instance() {
    let env = local();
    env.expired_users(&["amy", "bob"]).await;
    env.make_unrevokable("amy");
    // One round (the one at start) within the test: with a short interval a second round
    // (bob already gone, "0 revoked") could replace the first one's state before it is read.
    let scheduler = Scheduler::builder()
        .integration(env.manager(None))
        .jobs([JobKind::Sweep])
        .intervals(Intervals::default().sweep(Duration::from_secs(3600)))
        .build()
        .expect("scheduler");
    let state = scheduler.state();
    let shutdown = scheduler.shutdown_token();
    let task = tokio::spawn(scheduler.run());
    let run = wait_for("a finished sweep", 60, || {
        let job = state.jobs().into_iter().next()?;
        (job.runs >= 1 && !job.in_progress)
            .then(|| job.instances.get("local").and_then(|i| i.last_run.clone()))
            .flatten()
    });
    shutdown.cancel();
    task.await.expect("stops");
    // The failure is the instance's (health, metrics), naming the user; bob went anyway.
    let InstanceRun::Failed { error } = run else {
        panic!("an unrevoked expired user is not a failure: {run:?}");
    };
    assert!(
        error.contains("amy") && error.contains("1 revoked"),
        "{error}"
    );
    assert!(state.jobs()[0].failures >= 1);
    assert!(!role_exists(&env.cluster, "bob"));
    assert!(!env.can_login("amy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_wide_revoke_finishes_on_one_instance_while_the_other_is_down() {
    let a = TestCluster::start().expect("start cluster a");
    let mut b = TestCluster::start().expect("start cluster b");
    let password = a.connector().password.clone();
    b.sql(
        "postgres",
        &format!("ALTER ROLE apono_connector PASSWORD '{password}'"),
    )
    .expect("one connector password for both");
    for cluster in [&a, &b] {
        cluster
            .sql("appdb", "GRANT postgres TO apono_connector")
            .expect("owner fix");
    }
    let settings = Settings::from_toml_str(
        "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [instance]\ntags = { team = \"orders\" }\n[secret]\nenv = \"UNUSED\"\n",
    )
    .expect("settings");
    let endpoint = |port| Endpoint::new("127.0.0.1".parse().expect("host"), port).expect("ep");
    let directory = Arc::new(common::EveryInstance(
        StaticDirectory::new()
            .with_endpoint("orders-a".parse().expect("id"), endpoint(a.port()))
            .with_endpoint("orders-b".parse().expect("id"), endpoint(b.port())),
    ));
    let credentials = Arc::new(IntegrationCredentials::shared(Arc::new(
        StaticPassword::new("apono_connector", SecretString::from(password)),
    )));
    let manager = AccessManager::new(settings.integrations()[0].clone(), directory, credentials)
        .expect("manager");
    let request = AccessRequest::builder(
        "eve".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("orders-a/appdb/sales").expect("a"))
    .resource(manager.resource_path("orders-b/appdb/sales").expect("b"))
    .build()
    .expect("request");
    let granted = manager.grant(&request).await.expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);

    // b stops answering; the revoke of eve still ends her access on a, and names b.
    b.stop().expect("stop b");
    let report = manager
        .revoke(&"eve".parse().expect("user"))
        .await
        .expect("revoke");
    let (ia, ib): (InstanceId, InstanceId) = (
        "orders-a".parse().expect("a"),
        "orders-b".parse().expect("b"),
    );
    assert!(
        report.results[&ia].as_ref().is_ok_and(|r| r.dropped),
        "{report:?}"
    );
    assert!(report.results[&ib].is_err(), "{report:?}");
    assert!(!role_exists(&a, "eve"));
    b.restart().expect("restart b");
    let again = manager
        .revoke(&"eve".parse().expect("user"))
        .await
        .expect("revoke");
    assert!(again.all_ok(), "{again:?}");
    assert!(!role_exists(&b, "eve"));
}
