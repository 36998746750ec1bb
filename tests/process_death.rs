//! `kill -9` of `rdspg serve` inside each job, then restarts: no expired user survives the
//! next sweep, every change has its intent and exactly one outcome in the audit file (none
//! lost, none duplicated, also after a second restart), a rotation is not repeated within its
//! period and the secret still logs in.
//!
//! Death lands inside a job deterministically through the death points of a debug build
//! (`rds_pg_access::death`: `RDSPG_TEST_PAUSE_AT=POINT@MARKER`; the process writes the marker
//! and waits there), then the test sends SIGKILL. Real components: a PostgreSQL test cluster
//! with the RDS permission model, moto_server for Secrets Manager, the `rdspg` binary.

mod common;

use common::{free_port, http_get, rdspg_path, wait_for};

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::{MotoServer, TestCluster};
use rds_pg_access::AccessManager;
use rds_pg_access::audit::{AuditAction, AuditChange, AuditOutcome, AuditRecord};
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{
    AWSCURRENT, AWSPENDING, Clock, ExposeSecret, ManualClock, SecretsManagerRotation,
};
use rds_pg_access::pg_grants::password::Password;

const SECRET: &str = "rdspg/death/connector";

struct World {
    cluster: TestCluster,
    moto: MotoServer,
    dir: tempfile::TempDir,
    config: PathBuf,
    audit: PathBuf,
    /// Grants in the test process with a clock two hours behind: its one-hour grants have
    /// already expired for the server.
    manager: AccessManager,
    aws: rds_pg_access::pg_auth::SdkConfig,
}

fn world() -> World {
    let moto = MotoServer::start()
        .unwrap_or_else(|e| panic!("moto_server is required (pip install 'moto[server]'): {e}"));
    let cluster = TestCluster::start()
        .unwrap_or_else(|e| panic!("PostgreSQL is required (.ci/install-postgres-versions): {e}"));
    cluster
        .sql_as(
            cluster.master(),
            "appdb",
            "GRANT postgres TO apono_connector",
        )
        .expect("owner fix");
    let password = cluster.connector().password.clone();
    moto.boto3(&format!(
        "secrets.create_secret(Name={SECRET:?}, SecretString=json.dumps({{\
         'username': 'apono_connector', 'password': {password:?}, 'engine': 'postgres'}}))"
    ))
    .expect("create the secret");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("local.toml");
    let text = format!(
        "name = \"local\"\nregion = \"{}\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         connector_rotation_days = 30\n[secret]\nid = \"{SECRET}\"\n\
         [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n[aws]\nendpoint_url = \"{}\"\n",
        moto.region(),
        cluster.port(),
        moto.endpoint_url()
    );
    std::fs::write(&config, &text).expect("write config");
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let aws = moto.sdk_config();
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(7200),
    ));
    let manager = AccessManager::from_integration_with_aws(integration, &aws)
        .expect("manager")
        .with_clock(clock as Arc<dyn Clock>);
    let audit = dir.path().join("audit.jsonl");
    World {
        cluster,
        moto,
        dir,
        config,
        audit,
        manager,
        aws,
    }
}

async fn grant(manager: &AccessManager, user: &str, duration: &str) {
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
}

fn role_exists(cluster: &TestCluster, role: &str) -> bool {
    common::role_exists(cluster, role)
}

/// `rdspg serve` on `world`, every job at start then hourly; with `pause` armed at a death
/// point (its marker file).
fn spawn_serve(world: &World, addr: SocketAddr, pause: Option<(&str, &Path)>) -> Child {
    // Its logs, appended to one file per test (read when a test fails).
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(world.dir.path().join("serve.log"))
        .expect("log file");
    let mut command = Command::new(rdspg_path());
    command
        .args(["serve", "--config"])
        .arg(&world.config)
        .args(["--listen", &addr.to_string()])
        .args([
            "--sweep-every",
            "1h",
            "--sync-every",
            "1h",
            "--rotate-every",
            "1h",
        ])
        .arg("--audit")
        .arg(&world.audit)
        .envs(world.moto.env_vars())
        .env_remove(rds_pg_access::death::PAUSE_AT_ENV)
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    if let Some((point, marker)) = pause {
        command.env(
            rds_pg_access::death::PAUSE_AT_ENV,
            format!("{point}@{}", marker.display()),
        );
    }
    command.spawn().expect("start rdspg serve")
}

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

/// Starts serve at `point`, waits until it stands there and kills it with SIGKILL.
fn die_at(world: &World, point: &str) {
    let marker = world
        .dir
        .path()
        .join(format!("{}.marker", point.replace(':', "-")));
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut serve = spawn_serve(world, addr, Some((point, &marker)));
    wait_for(&format!("serve to reach {point}"), 120, || {
        if let Some(status) = serve.try_wait().expect("poll") {
            panic!("serve exited ({status}) before reaching {point}");
        }
        marker.exists().then_some(())
    });
    serve.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let status = serve.wait().expect("reap");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
}

/// Starts serve without a death point, waits until every job has run once, stops it with
/// SIGTERM (exit 0).
fn run_once(world: &World) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut serve = spawn_serve(world, addr, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    wait_for("every job to run once", 130, || {
        assert!(
            std::time::Instant::now() < deadline,
            "no clean run of every job: {}",
            std::fs::read_to_string(world.dir.path().join("serve.log")).unwrap_or_default()
        );
        if let Some(status) = serve.try_wait().expect("poll") {
            panic!("serve exited ({status})");
        }
        let (_, body) = http_get(addr, "/metrics")?;
        // Finished cleanly: a last success, nothing in flight.
        ["sweep", "sync", "rotate"]
            .iter()
            .all(|job| {
                let labels = [("integration", "local"), ("job", *job)];
                metric(&body, "rdspg_job_last_success_timestamp_seconds", &labels).is_some()
                    && metric(&body, "rdspg_job_in_progress", &labels) == Some(0.0)
            })
            .then_some(())
    });
    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = wait_for("serve to exit", 60, || serve.try_wait().expect("poll"));
    assert_eq!(status.code(), Some(0));
}

/// Every record of the audit file (each line must parse).
fn records(world: &World) -> Vec<AuditRecord> {
    std::fs::read_to_string(&world.audit)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Intent/outcome pairing: every intent has outcome records, one per (id, request id), and
/// every outcome of a sweep or rotation has its intent.
fn check_pairs(records: &[AuditRecord]) {
    let mut intents = BTreeMap::new();
    let mut outcomes: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    for r in records {
        assert!(!r.id.is_empty(), "{r:?}");
        if r.is_intent() {
            assert!(
                intents.insert(r.id.clone(), r.clone()).is_none(),
                "intent {} twice",
                r.id
            );
        } else if matches!(r.action, AuditAction::Sweep | AuditAction::Rotate) {
            *outcomes
                .entry((r.id.clone(), r.request_id.clone()))
                .or_default() += 1;
        }
    }
    for ((id, request), n) in &outcomes {
        assert_eq!(*n, 1, "outcome of {id} ({request:?}) written {n} times");
        assert!(intents.contains_key(id), "outcome {id} without an intent");
    }
    let resolved: BTreeSet<&String> = outcomes.keys().map(|(id, _)| id).collect();
    for (id, intent) in &intents {
        assert!(resolved.contains(id), "intent without outcome: {intent:?}");
    }
}

/// Successful sweep outcomes of `user`.
fn swept(records: &[AuditRecord], user: &str) -> usize {
    records
        .iter()
        .filter(|r| {
            r.action == AuditAction::Sweep
                && r.outcome == AuditOutcome::Success
                && r.user.as_deref() == Some(user)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_inside_a_sweep_or_a_sync_then_restart_loses_and_repeats_nothing() {
    let world = world();
    grant(&world.manager, "keeper", "8h").await;
    for (round, point) in ["sweep:before-change", "sweep:after-change", "sync:locked"]
        .into_iter()
        .enumerate()
    {
        let users = [format!("d{round}a"), format!("d{round}b")];
        for user in &users {
            grant(&world.manager, user, "1h").await;
        }
        let before = records(&world).len();
        die_at(&world, point);
        let died = records(&world)[before..].to_vec();
        let open: Vec<&AuditRecord> = died
            .iter()
            .filter(|r| r.is_intent() && !died.iter().any(|o| o.id == r.id && !o.is_intent()))
            .collect();
        if point.starts_with("sweep") {
            // Exactly the change in flight is open.
            assert_eq!(open.len(), 1, "{died:?}");
            let user = open[0].user.clone().expect("user");
            assert_eq!(open[0].change, Some(AuditChange::RevokeUser));
            assert_eq!(
                role_exists(&world.cluster, &user),
                point == "sweep:before-change",
                "{user} at {point}"
            );
        }
        // Restart: the next sweep resolves what the dead one left and finishes its work.
        run_once(&world);
        let all = records(&world);
        check_pairs(&all);
        for user in &users {
            assert!(
                !role_exists(&world.cluster, user),
                "{user} survived {point}: {}\n{}",
                std::fs::read_to_string(world.dir.path().join("serve.log")).unwrap_or_default(),
                std::fs::read_to_string(&world.audit).unwrap_or_default()
            );
            assert_eq!(swept(&all, user), 1, "{user} after {point}: {all:#?}");
        }
        assert!(role_exists(&world.cluster, "keeper"));
        let recovered: Vec<&AuditRecord> = all[before..].iter().filter(|r| r.recovered).collect();
        match point {
            "sweep:before-change" => {
                assert_eq!(recovered.len(), 1, "{recovered:?}");
                assert_eq!(recovered[0].outcome, AuditOutcome::Interrupted);
            }
            "sweep:after-change" => {
                assert_eq!(recovered.len(), 1, "{recovered:?}");
                assert_eq!(recovered[0].outcome, AuditOutcome::Success);
            }
            // The jobs start together: a kill inside the sync lands wherever the sweep
            // running beside it is (any of its records may be recovered, each checked above).
            _ => {}
        }
        // A second restart finds nothing to resolve: no record is written twice.
        let settled = records(&world).len();
        run_once(&world);
        let again = records(&world);
        check_pairs(&again);
        assert_eq!(again.len(), settled, "{:#?}", &again[settled..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_inside_a_rotation_then_restart_finishes_it_once_and_the_secret_logs_in() {
    let world = world();
    let secrets = SecretsManagerRotation::new(&world.aws, SECRET).expect("secret id");
    let mut versions = Vec::new();
    for point in [
        "rotate:before-change",
        "rotate:after-set",
        "rotate:after-promote",
        "rotate:after-finish",
    ] {
        // A rotation an earlier run left after step 1 (AWSPENDING made): the service finishes
        // it at start whether or not the period has passed, as it would after any crash.
        let current = secrets.version(AWSCURRENT).await.expect("current");
        let new = Password::generate();
        let version = secrets
            .put_pending(&current, new.expose())
            .await
            .expect("AWSPENDING");
        let before = records(&world).len();
        die_at(&world, point);
        let died = records(&world)[before..].to_vec();
        assert!(
            died.iter()
                .any(|r| r.is_intent() && r.request_id.as_deref() == Some(version.as_str())),
            "{died:?}"
        );
        run_once(&world);
        let stages = secrets.describe().await.expect("describe");
        assert_eq!(stages.current(), Some(version.as_str()), "{point}");
        assert_eq!(stages.pending(), None, "{point}");
        let now = secrets.version(AWSCURRENT).await.expect("current");
        assert_eq!(
            now.secret.password.expose_secret(),
            new.expose().expose_secret(),
            "{point}"
        );
        logs_in(&world.cluster, now.secret.password.expose_secret()).await;
        let all = records(&world);
        check_pairs(&all);
        // Set once: one successful outcome for the version (recovered or not).
        let set: Vec<&AuditRecord> = all
            .iter()
            .filter(|r| {
                r.action == AuditAction::Rotate
                    && r.outcome == AuditOutcome::Success
                    && r.request_id.as_deref() == Some(version.as_str())
            })
            .collect();
        assert_eq!(set.len(), 1, "{point}: {all:#?}");
        assert_eq!(
            set[0].recovered,
            point != "rotate:before-change",
            "{point}: {set:?}"
        );
        // Within its period, a restart does not rotate again, and writes nothing.
        let settled = records(&world).len();
        run_once(&world);
        let again = records(&world);
        check_pairs(&again);
        assert_eq!(again.len(), settled, "{:#?}", &again[settled..]);
        assert_eq!(
            secrets.describe().await.expect("describe").current(),
            Some(version.as_str())
        );
        versions.push(version);
    }
    assert_eq!(versions.iter().collect::<BTreeSet<_>>().len(), 4);
    assert!(
        secrets
            .describe()
            .await
            .expect("describe")
            .version_with(AWSPENDING)
            .is_none()
    );
}

async fn logs_in(cluster: &TestCluster, password: &str) {
    let options = rds_pg_access::pg_auth::ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(rds_pg_access::integration_model::SslMode::Disable)
        .build()
        .expect("options");
    let source =
        rds_pg_access::pg_auth::StaticPassword::new("apono_connector", password.to_owned().into());
    rds_pg_access::pg_auth::connect(&options, &source)
        .await
        .unwrap_or_else(|e| panic!("the current secret must log in: {e}"));
}
