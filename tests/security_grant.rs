//! Issue 14, items 4 and 6 (facade part): a refused or failed grant leaves no working login and
//! prints no credential; a re-run reports what the role really has; `--dry-run` refuses what
//! the real run refuses; `extend` obeys access flows and refuses half-revoked roles; `--reason`
//! is recorded; `--config` reads are bounded.

mod common;

use common::{rdspg_path, role_exists};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, InstanceId, Integration, Settings,
};
use rds_pg_access::pg_auth::{Clock, ExposeSecret, ManualClock};
use rds_pg_access::pg_grants::GrantsError;
use rds_pg_access::{AccessError, AccessManager};
use serde_json::Value;

struct Env {
    cluster: TestCluster,
    dir: tempfile::TempDir,
    config: PathBuf,
    integration: Integration,
}

impl Env {
    /// A cluster and a config; `extra` is appended to the config (e.g. access flows).
    fn start_with(extra: &str) -> Env {
        Env::start_on(15, extra)
    }

    /// As [`Env::start_with`], on PostgreSQL `version`.
    fn start_on(version: u32, extra: &str) -> Env {
        let cluster = TestCluster::builder()
            .version(version)
            .start()
            .expect("start a cluster with the RDS emulation");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("local.toml");
        let text = format!(
            "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
             ssl_mode = \"disable\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
             [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n{extra}",
            cluster.port()
        );
        std::fs::write(&config, &text).expect("write config");
        let integration = Settings::from_toml_str(&text)
            .expect("settings")
            .integrations()[0]
            .clone();
        // The master owns sales (appdb) and reports (analytics): the owner fix for those.
        // app_owner's inventory stays without it: grants there fail.
        cluster
            .sql("postgres", owner_fix(version))
            .expect("owner fix");
        Env {
            cluster,
            dir,
            config,
            integration,
        }
    }

    fn start() -> Env {
        Env::start_with("")
    }

    fn rdspg_with(&self, config: &Path, args: &[&str]) -> Output {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        Command::new(rdspg_path())
            .args(&full)
            .arg("--config")
            .arg(config)
            .env(
                "RDSPG_CONNECTOR_PASSWORD",
                &self.cluster.connector().password,
            )
            .output()
            .expect("run rdspg")
    }

    fn rdspg(&self, args: &[&str]) -> Output {
        self.rdspg_with(&self.config, args)
    }

    fn manager(&self, clock: Option<Arc<dyn Clock>>) -> AccessManager {
        let manager = common::cluster_manager(&self.cluster, self.integration.clone());
        match clock {
            Some(clock) => manager.with_clock(clock),
            None => manager,
        }
    }

    fn logs_in(&self, user: &str, password: &str) -> bool {
        let creds = pg_testkit::Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        self.cluster.sql_as(&creds, "appdb", "SELECT 1").is_ok()
    }

    fn query(&self, sql: &str) -> String {
        self.cluster
            .sql("postgres", sql)
            .expect("query")
            .trim()
            .to_owned()
    }

    fn valid_until(&self, user: &str) -> String {
        self.query(&format!(
            "SELECT rolvaliduntil AT TIME ZONE 'UTC' FROM pg_roles WHERE rolname = '{user}'"
        ))
    }

    fn record(&self, user: &str) -> Value {
        let text = self.query(&format!(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{user}'"
        ));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("record of {user}: {e}: {text}"))
    }
}

/// The owner fix an administrator runs once (`check` reports it): on 15 membership in the
/// master, who owns sales (appdb) and reports (analytics); on 16+, where the master
/// administers the connector, membership in app_owner (inventory) instead.
fn owner_fix(version: u32) -> &'static str {
    if version >= 16 {
        "GRANT app_owner TO apono_connector"
    } else {
        "GRANT postgres TO apono_connector"
    }
}

/// A resource the connector can grant on, and one it cannot (its owner fix was not run).
fn grantable(version: u32) -> (&'static str, &'static str) {
    if version >= 16 {
        ("appdb/inventory", "analytics/reports")
    } else {
        ("appdb/sales", "appdb/inventory")
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every value under a key named `key`, anywhere in `doc`.
fn values_of<'a>(doc: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    out.push(v);
                }
                values_of(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| values_of(v, key, out)),
        _ => {}
    }
}

fn request(
    manager: &AccessManager,
    user: &str,
    resources: &[&str],
    id: Option<&str>,
) -> AccessRequest {
    let mut builder = AccessRequest::builder(
        user.parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    );
    for r in resources {
        builder = builder.resource(manager.resource_path(r).expect("path"));
    }
    if let Some(id) = id {
        builder = builder.request_id(id.parse().expect("request id"));
    }
    builder.build().expect("request")
}

fn local() -> InstanceId {
    rds_pg_access::LOCAL_TARGET.parse().expect("id")
}

#[test]
fn a_failed_grant_prints_no_password_and_leaves_no_login() {
    let env = Env::start();
    // analytics/reports is granted first (it works), appdb/inventory then fails: the
    // connector is not a member of its owner, app_owner.
    let out = env.rdspg(&[
        "grant",
        "--user",
        "mallory",
        "--level",
        "read-only",
        "--resource",
        "analytics/reports",
        "--resource",
        "appdb/inventory",
        "--for",
        "1h",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let mut passwords = Vec::new();
    values_of(&doc, "password", &mut passwords);
    for password in passwords.iter().filter_map(|p| p.as_str()) {
        assert!(
            !env.logs_in("mallory", password),
            "the printed password of a failed grant logs in"
        );
    }
    assert!(
        passwords.is_empty(),
        "a failed grant printed a password: {doc}"
    );
    // No URI carries a credential either.
    let mut uris = Vec::new();
    values_of(&doc, "uri", &mut uris);
    for uri in uris.iter().filter_map(|u| u.as_str()) {
        assert!(uri.starts_with("postgresql://mallory@"), "{uri}");
    }
    // The role this request created is gone again, and the error says what to fix.
    assert!(
        !role_exists(&env.cluster, "mallory"),
        "the failed grant left a role"
    );
    assert_eq!(doc["undone"]["local"]["removed"], true, "{doc}");
    assert!(
        stderr.contains("app_owner") && stderr.contains("GRANT"),
        "{stderr}"
    );
}

/// On 15 and 17 (16+ removal needs ADMIN on the role; the rules differ).
#[test]
fn a_failed_grant_through_the_library_returns_no_credential_and_keeps_an_earlier_role() {
    pg_testkit::for_each_version(&[15, 17], |version| {
        common::runtime().block_on(failed_grant_through_the_library(version));
    });
}

async fn failed_grant_through_the_library(version: u32) {
    let env = Env::start_on(version, "");
    let (fixed, unfixed) = grantable(version);
    let manager = env.manager(None);

    // A new role: removed again, no password.
    let failing = request(&manager, "mallory", &[fixed, unfixed], None);
    let outcome = manager.grant(&failing).await.expect("grant ran");
    assert!(!outcome.is_complete());
    assert!(
        outcome.password.is_none(),
        "a failed grant returned a password"
    );
    assert!(
        matches!(outcome.undone.get(&local()), Some(Ok(()))),
        "{outcome:?}"
    );
    assert!(!role_exists(&env.cluster, "mallory"));

    // A user that existed keeps its privileges, expiry and password when a later request
    // for it fails: the grant that request added is taken out again, nothing else.
    let good = request(&manager, "olga", &[fixed], Some("req-7"));
    let first = manager.grant(&good).await.expect("grant");
    assert!(first.is_complete(), "{:?}", first.instances);
    let password = first.password.expect("password").expose_secret().to_owned();
    let until = env.valid_until("olga");
    let record = env.record("olga");
    let widened = request(&manager, "olga", &[fixed, unfixed], Some("req-8"));
    let second = manager.grant(&widened).await.expect("grant ran");
    assert!(!second.is_complete());
    assert!(second.password.is_none());
    assert!(
        matches!(second.undone.get(&local()), Some(Ok(()))),
        "the grant this run added was undone: {second:?}"
    );
    assert!(role_exists(&env.cluster, "olga"));
    assert!(
        env.logs_in("olga", &password),
        "the earlier password was changed"
    );
    assert_eq!(env.valid_until("olga"), until);
    assert_eq!(env.record("olga"), record, "the record is as it was");

    // A widened re-run of the same request id is refused as other access, nothing changed.
    let widened = request(&manager, "olga", &[fixed, unfixed], Some("req-7"));
    let refused = manager.grant(&widened).await.expect("grant ran");
    assert!(
        matches!(
            refused.instances.results[&local()],
            Err(AccessError::Grants(GrantsError::RequestConflict { .. }))
        ),
        "{:?}",
        refused.instances
    );
    assert!(refused.undone.is_empty(), "{refused:?}");
    assert_eq!(env.record("olga"), record);

    // The same request id at another level is refused, nothing changed.
    let mut admin = AccessRequest::builder(
        "olga".parse().expect("user"),
        AccessLevel::Admin,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path(fixed).expect("path"))
    .request_id("req-7".parse().expect("id"))
    .build()
    .expect("request");
    let third = manager.grant(&admin).await.expect("grant ran");
    assert!(
        matches!(
            third.instances.results[&local()],
            Err(AccessError::Grants(GrantsError::RequestConflict { .. }))
        ),
        "{:?}",
        third.instances
    );
    assert_eq!(env.record("olga")["grants"][0]["level"], "read-only");
    admin = request(&manager, "olga", &[fixed], Some("req-7"));
    assert!(manager.grant(&admin).await.expect("grant").is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_grant_reports_the_expiry_and_level_the_role_has() {
    let env = Env::start();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let manager = env.manager(Some(Arc::clone(&clock) as Arc<dyn Clock>));
    let req = request(&manager, "rita", &["appdb/sales"], None);
    let first = manager.grant(&req).await.expect("grant");
    assert!(first.is_complete(), "{:?}", first.instances);

    clock.advance(Duration::from_secs(30 * 60));
    let again = manager.grant(&req).await.expect("grant");
    assert!(again.is_complete(), "{:?}", again.instances);
    assert_eq!(
        again.expires_at, first.expires_at,
        "the re-run reports an expiry the role does not have"
    );
    assert_eq!(again.level, AccessLevel::ReadOnly);
    let recorded = env.record("rita")["grants"][0]["expires_at"]
        .as_str()
        .expect("expiry")
        .to_owned();
    let reported = again
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    assert_eq!(recorded, reported);
    // The fresh password of the re-run works.
    let password = again.password.expect("password");
    assert!(env.logs_in("rita", password.expose_secret()));
}

#[test]
fn dry_run_refuses_unmanaged_roles_as_the_real_run_does() {
    let env = Env::start();
    for user in ["postgres", "app_owner", "apono_connector"] {
        let grant = [
            "grant",
            "--user",
            user,
            "--level",
            "read-only",
            "--database",
            "appdb",
            "--schema",
            "sales",
            "--for",
            "1h",
        ];
        let mut dry = grant.to_vec();
        dry.push("--dry-run");
        let out = env.rdspg(&dry);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{user}: stdout: {stdout}\nstderr: {stderr}"
        );
        assert!(stderr.contains("not managed"), "{user}: {stderr}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        assert!(
            doc["plans"].as_object().is_some_and(|p| p.is_empty()),
            "{doc}"
        );
        // The real run refuses it the same way.
        let out = env.rdspg(&grant);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains("not managed"), "{}", text(&out).1);
    }
    // A role that does not exist yet is planned as new.
    let out = env.rdspg(&[
        "grant",
        "--user",
        "newcomer",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(!role_exists(&env.cluster, "newcomer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reason_is_recorded_in_the_marker_and_the_audit_and_bounded() {
    let env = Env::start();
    let out = env.rdspg(&[
        "grant",
        "--user",
        "rhea",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
        "--reason",
        "incident 4711: it's broken",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(
        env.record("rhea")["grants"][0]["reason"],
        "incident 4711: it's broken"
    );

    // Through the library: the grant's audit record carries it.
    let audit_path = env.dir.path().join("audit.jsonl");
    let manager = env
        .manager(None)
        .with_audit(Arc::new(AppendFileSink::open(&audit_path).expect("audit")));
    let req = AccessRequest::builder(
        "rolf".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .reason("ticket OPS-12")
    .build()
    .expect("request");
    assert!(manager.grant(&req).await.expect("grant").is_complete());
    let audit = std::fs::read_to_string(&audit_path).expect("audit");
    let line: Value = serde_json::from_str(audit.lines().next().expect("a line")).expect("JSON");
    assert_eq!(line["action"], "grant");
    assert_eq!(line["reason"], "ticket OPS-12");
    assert_eq!(env.record("rolf")["grants"][0]["reason"], "ticket OPS-12");

    // Too long: refused before anything changes, naming the flag.
    let long = "x".repeat(1025);
    let out = env.rdspg(&[
        "grant",
        "--user",
        "rory",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
        "--reason",
        &long,
    ]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("--reason"), "{}", text(&out).1);
    assert!(!role_exists(&env.cluster, "rory"));
}

#[test]
fn extend_obeys_access_flows_and_refuses_half_revoked_roles() {
    let env = Env::start_with(
        "[[access_flow]]\nname = \"analysts\"\nrequesters = [\"ana*\"]\n\
         resources = [\"local/appdb/sales/**\", \"local/appdb/sales\"]\nlevels = [\"read-only\"]\n\
         max_duration = \"8h\"\napproval = true\n",
    );
    let out = env.rdspg(&[
        "grant",
        "--user",
        "ana",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
        "--approved-by",
        "carol",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let granted_until = env.valid_until("ana");

    // Longer than any flow allows: refused, nothing changed.
    let out = env.rdspg(&[
        "extend",
        "--user",
        "ana",
        "--for",
        "7d",
        "--approved-by",
        "carol",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(text(&out).1.contains("longer than 8h"), "{}", text(&out).1);
    assert_eq!(env.valid_until("ana"), granted_until);

    // Without the approver the flow needs: refused.
    let out = env.rdspg(&["extend", "--user", "ana", "--for", "2h"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("needs an approver"),
        "{}",
        text(&out).1
    );
    assert_eq!(env.valid_until("ana"), granted_until);

    // Within the flow, approved: extended, the record keeps its approver.
    let out = env.rdspg(&[
        "extend",
        "--user",
        "ana",
        "--for",
        "2h",
        "--approved-by",
        "carol",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let extended = env.valid_until("ana");
    assert_ne!(extended, granted_until);
    assert_eq!(env.record("ana")["grants"][0]["approved_by"], "carol");

    // Its revocation started (login disabled): an extension is refused, nothing changes.
    env.cluster
        .sql("postgres", "ALTER ROLE ana NOLOGIN")
        .expect("disable the login as a sweep does first");
    let out = env.rdspg(&[
        "extend",
        "--user",
        "ana",
        "--for",
        "3h",
        "--approved-by",
        "carol",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("revocation started"),
        "{}",
        text(&out).1
    );
    assert_eq!(env.valid_until("ana"), extended);
    assert_eq!(
        env.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ana'"),
        "f"
    );
}

#[test]
fn config_reads_are_bounded_and_refuse_special_files() {
    let env = Env::start();
    // Larger than 1 MiB: refused by size, naming the path.
    let big = env.dir.path().join("big.toml");
    let mut padding = std::fs::read_to_string(&env.config).expect("config");
    padding.push_str(&format!("# {}\n", "x".repeat(1024 * 1024)));
    std::fs::write(&big, padding).expect("write");
    let out = env.rdspg_with(&big, &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    let stderr = text(&out).1;
    assert!(stderr.contains(big.to_str().expect("utf-8")), "{stderr}");
    assert!(stderr.contains("1 MiB"), "{stderr}");

    // A FIFO (would block) and an endless device (would exhaust memory): refused at once.
    let fifo = env.dir.path().join("fifo.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        for command in [&["validate"][..], &["check"][..]] {
            let out = env.rdspg_with(path, command);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{path:?} {command:?}: {:?}",
                text(&out)
            );
            let stderr = text(&out).1;
            assert!(stderr.contains(path.to_str().expect("utf-8")), "{stderr}");
            assert!(stderr.contains("not a regular file"), "{stderr}");
        }
    }
}
