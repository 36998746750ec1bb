//! Rotating the connector's password across a fleet: moto (Secrets Manager and RDS discovery)
//! and two real clusters. The four steps are driven one by one; a "crash" is stopping between
//! two of them, a failure is real (moto frozen with SIGSTOP so that its calls time out, a
//! cluster stopped, the password changed behind the rotation's back). After each, the secret
//! logs in on every instance (AWSCURRENT, or AWSPENDING through the credential source's
//! fallback) and a full `rotate()` finishes the job, reusing the pending version.

mod common;

use common::rdspg_path;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use pg_testkit::{MotoFleet, MotoServer, TestCluster};
use rds_pg_access::integration_model::{Integration, Settings};
use rds_pg_access::pg_auth::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, ConnectOptions, ExposeSecret, ManualClock, SdkConfig,
    SecretsManagerRotation, SecretsManagerSource, SslMode, StaticPassword,
};
use rds_pg_access::{AcceptedStage, AccessManager, RotateError, RotateOutcome};

const SECRET: &str = "rds/orders-connector";

struct Fleet {
    moto: MotoServer,
    a: TestCluster,
    b: TestCluster,
    integration: Integration,
    aws: SdkConfig,
}

/// Moto's SDK configuration, failing fast: a frozen moto must fail a call quickly, not hang it.
fn aws_config(moto: &MotoServer) -> SdkConfig {
    moto.sdk_config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build()
}

fn fleet() -> Fleet {
    let kit = MotoFleet::builder()
        .secret_id(SECRET)
        .start()
        .unwrap_or_else(|e| panic!("moto_server and PostgreSQL are required: {e}"));
    let settings = Settings::from_toml_str(&kit.settings_toml("connector_rotation_days = 30\n"))
        .expect("settings");
    let integration = settings.integrations()[0].clone();
    let MotoFleet { moto, a, b, .. } = kit;
    let aws = aws_config(&moto);
    Fleet {
        moto,
        a,
        b,
        integration,
        aws,
    }
}

fn manager(fleet: &Fleet, clock: &Arc<ManualClock>) -> AccessManager {
    AccessManager::from_integration_with_aws(fleet.integration.clone(), &fleet.aws)
        .expect("manager")
        .with_clock(Arc::clone(clock) as Arc<dyn rds_pg_access::pg_auth::Clock>)
}

fn secrets(fleet: &Fleet) -> SecretsManagerRotation {
    SecretsManagerRotation::new(&fleet.aws, SECRET).expect("secret id")
}

/// The password of `stage`, if a version has it.
async fn stage_password(fleet: &Fleet, stage: &str) -> Option<String> {
    let stages = secrets(fleet).describe().await.expect("describe");
    stages.version_with(stage)?;
    let version = secrets(fleet).version(stage).await.expect("get by stage");
    Some(version.secret.password.expose_secret().to_owned())
}

fn options(cluster: &TestCluster) -> ConnectOptions {
    ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(SslMode::Disable)
        .build()
        .expect("options")
}

async fn logs_in_with(cluster: &TestCluster, password: &str) -> bool {
    let source = StaticPassword::new("apono_connector", password.to_owned().into());
    rds_pg_access::pg_auth::connect(&options(cluster), &source)
        .await
        .is_ok()
}

/// The invariant after any crash or failure: the secret logs in on every instance, through
/// the connector's own credential source (AWSCURRENT, or AWSPENDING after a rejection).
async fn secret_logs_in_everywhere(fleet: &Fleet) {
    let source = SecretsManagerSource::new(&fleet.aws, SECRET)
        .expect("source")
        .with_user("apono_connector");
    for cluster in [&fleet.a, &fleet.b] {
        let report = rds_pg_access::pg_auth::ping(&options(cluster), &source)
            .await
            .unwrap_or_else(|e| panic!("the secret must log in on port {}: {e}", cluster.port()));
        assert_eq!(report.user, "apono_connector");
    }
}

/// Freezes (SIGSTOP) or thaws (SIGCONT) this test's moto_server, found by its port.
fn signal_moto(moto: &MotoServer, signal: &str) {
    let out = Command::new("lsof")
        .args(["-t", "-sTCP:LISTEN", &format!("-iTCP:{}", moto.port())])
        .output()
        .expect("lsof");
    let pids = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!pids.trim().is_empty(), "no process listens on moto's port");
    for pid in pids.split_whitespace() {
        let status = Command::new("kill")
            .args([signal, pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

fn rotated(outcome: RotateOutcome) -> rds_pg_access::RotationReport {
    match outcome {
        RotateOutcome::Rotated(report) => report,
        other => panic!("expected a finished rotation, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_when_due_on_every_instance_and_the_connector_follows() {
    let fleet = fleet();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let manager = manager(&fleet, &clock);
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");

    // Just created: not due for 30 days.
    match manager.rotate(false).await.expect("rotate") {
        RotateOutcome::NotDue {
            last_rotated: Some(last),
            due_at: Some(due),
        } => assert_eq!(due - last, time::Duration::days(30)),
        other => panic!("expected NotDue, got {other:?}"),
    }
    assert!(stage_password(&fleet, AWSPENDING).await.is_none());

    // Another replica holds the rotation lock of one instance: this one changes nothing.
    let holder = manager.rotation().await.expect("first replica locks");
    match manager.rotate(true).await.expect("rotate") {
        RotateOutcome::Busy { .. } => {}
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(stage_password(&fleet, AWSPENDING).await.is_none());
    drop(holder);

    // 31 days later it is due.
    clock.advance(Duration::from_secs(31 * 86_400));
    let report = rotated(manager.rotate(false).await.expect("rotate"));
    assert!(report.finished && !report.resumed);
    assert!(report.instances.all_ok(), "{report:?}");
    for outcome in report.instances.results.values() {
        let r = outcome.as_ref().expect("ok");
        assert_eq!(r.accepted_at_start, AcceptedStage::Current);
        assert!(r.password_set && r.login_tested);
    }

    // The new AWSCURRENT logs in everywhere, the old password nowhere; the old version is
    // AWSPREVIOUS; no AWSPENDING is left; the JSON kept its other fields.
    let new = stage_password(&fleet, AWSCURRENT).await.expect("current");
    assert_ne!(new, old);
    assert_eq!(new.len(), 40);
    for cluster in [&fleet.a, &fleet.b] {
        assert!(logs_in_with(cluster, &new).await);
        assert!(!logs_in_with(cluster, &old).await);
    }
    assert_eq!(stage_password(&fleet, AWSPREVIOUS).await, Some(old.clone()));
    assert!(stage_password(&fleet, AWSPENDING).await.is_none());
    let current = secrets(&fleet).version(AWSCURRENT).await.expect("current");
    assert_eq!(
        report.version_id.as_deref(),
        Some(current.version_id.as_str())
    );
    assert_eq!(current.secret.host.as_deref(), Some("orders-a.example"));
    assert_eq!(current.secret.port, Some(5432));
    assert_eq!(current.secret.engine.as_deref(), Some("postgres"));
    assert_eq!(current.secret.username, "apono_connector");

    // The stored password is a SCRAM verifier, never the plaintext.
    let stored = fleet
        .a
        .sql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'apono_connector'",
        )
        .expect("pg_authid");
    assert!(stored.trim().starts_with("SCRAM-SHA-256$4096:"), "{stored}");

    // The manager's own connections follow (its cached password was the old one).
    let swept = manager.sweep().await.expect("sweep");
    assert!(swept.all_ok(), "{swept:?}");

    // Just rotated: not due again.
    clock.set(SystemTime::now() + Duration::from_secs(86_400));
    assert!(matches!(
        manager.rotate(false).await.expect("rotate"),
        RotateOutcome::NotDue { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_step_logs_in_and_a_rerun_finishes_with_the_same_version() {
    let fleet = fleet();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let manager = manager(&fleet, &clock);
    // Crash after: 0 = the locks, 1 = begin, 2 = set_in_databases, 3 = test_logins.
    for crash_after in 0..=3 {
        let mut rotation = manager.rotation().await.expect("rotation");
        let mut pending = None;
        if crash_after >= 1 {
            pending = Some(rotation.begin().await.expect("begin").to_owned());
        }
        if crash_after >= 2 {
            let set = rotation.set_in_databases().await.expect("set");
            assert!(set.all_ok(), "{set:?}");
        }
        if crash_after >= 3 {
            let tested = rotation.test_logins().await.expect("test");
            assert!(tested.all_ok(), "{tested:?}");
        }
        drop(rotation); // the crash: the locks go with the connections

        secret_logs_in_everywhere(&fleet).await;
        assert_eq!(
            stage_password(&fleet, AWSPENDING).await.is_some(),
            crash_after >= 1,
            "crash after step {crash_after}"
        );

        // Not due, but an unfinished rotation is always finished (after the locks alone
        // nothing was begun: force it).
        let report = rotated(
            manager
                .rotate(crash_after == 0)
                .await
                .unwrap_or_else(|e| panic!("rerun after a crash after step {crash_after}: {e}")),
        );
        if crash_after == 0 {
            assert!(!report.resumed);
        } else {
            assert!(report.resumed, "crash after step {crash_after}");
            assert_eq!(report.version_id, pending, "the pending version is reused");
        }
        let current = stage_password(&fleet, AWSCURRENT).await.expect("current");
        for cluster in [&fleet.a, &fleet.b] {
            assert!(logs_in_with(cluster, &current).await);
        }
        assert!(stage_password(&fleet, AWSPENDING).await.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_failing_leaves_a_secret_that_logs_in_and_a_rerun_finishes() {
    let mut fleet = fleet();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let manager = manager(&fleet, &clock);

    // Step 1 fails: Secrets Manager does not answer. AWSCURRENT and the instances are
    // unchanged. (moto may still process the request once thawed, as AWS may after a
    // timeout: the rerun then reuses that AWSPENDING.)
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");
    let mut rotation = manager.rotation().await.expect("rotation");
    signal_moto(&fleet.moto, "-STOP");
    let err = rotation.begin().await.expect_err("moto is frozen");
    signal_moto(&fleet.moto, "-CONT");
    assert!(
        matches!(err, RotateError::Access(_)) && err.to_string().contains("PutSecretValue"),
        "{err}"
    );
    drop(rotation);
    assert_eq!(stage_password(&fleet, AWSCURRENT).await, Some(old.clone()));
    for cluster in [&fleet.a, &fleet.b] {
        assert!(logs_in_with(cluster, &old).await);
    }
    secret_logs_in_everywhere(&fleet).await;
    let report = rotated(manager.rotate(true).await.expect("rerun"));
    assert!(report.instances.all_ok());

    // Step 2 fails on b (stopped): a has the new password, b the old one. AWSCURRENT is
    // unchanged and still logs in on b; a logs in with AWSPENDING.
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");
    let mut rotation = manager.rotation().await.expect("rotation");
    let pending_id = rotation.begin().await.expect("begin").to_owned();
    fleet.b.stop().expect("stop b");
    let set = rotation.set_in_databases().await.expect("set");
    let a: rds_pg_access::integration_model::InstanceId = "orders-a".parse().expect("id");
    let b: rds_pg_access::integration_model::InstanceId = "orders-b".parse().expect("id");
    assert!(set.results[&a].as_ref().is_ok_and(|r| r.password_set));
    assert!(set.results[&b].is_err(), "{set:?}");
    let tested = rotation
        .test_logins()
        .await
        .expect("the others are still tested");
    assert!(tested.results[&a].as_ref().is_ok_and(|r| r.login_tested));
    let finish = rotation.finish().await.expect_err("b failed: no promotion");
    assert!(
        matches!(finish, RotateError::InstancesFailed { .. }),
        "{finish}"
    );
    let pending = stage_password(&fleet, AWSPENDING)
        .await
        .expect("pending kept");
    assert_eq!(stage_password(&fleet, AWSCURRENT).await, Some(old.clone()));
    assert!(logs_in_with(&fleet.a, &pending).await && !logs_in_with(&fleet.a, &old).await);
    fleet.b.restart().expect("restart b");
    assert!(logs_in_with(&fleet.b, &old).await);
    secret_logs_in_everywhere(&fleet).await;
    let report = rotated(manager.rotate(false).await.expect("rerun"));
    assert!(report.resumed);
    assert_eq!(report.version_id.as_deref(), Some(pending_id.as_str()));
    let ra = report.instances.results[&a].as_ref().expect("a");
    let rb = report.instances.results[&b].as_ref().expect("b");
    assert_eq!(
        (ra.accepted_at_start, ra.password_set),
        (AcceptedStage::Pending, false)
    );
    assert_eq!(
        (rb.accepted_at_start, rb.password_set),
        (AcceptedStage::Current, true)
    );
    for cluster in [&fleet.a, &fleet.b] {
        assert!(logs_in_with(cluster, &pending).await);
    }

    // Step 3 fails on b: its password was changed back behind the rotation's back (an
    // administrator restoring the old one). Nothing is promoted; the rerun sets it again.
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");
    let mut rotation = manager.rotation().await.expect("rotation");
    rotation.begin().await.expect("begin");
    assert!(rotation.set_in_databases().await.expect("set").all_ok());
    fleet
        .b
        .sql(
            "postgres",
            &format!("ALTER ROLE apono_connector PASSWORD '{old}'"),
        )
        .expect("revert b");
    let tested = rotation.test_logins().await.expect("test");
    assert!(tested.results[&a].is_ok() && tested.results[&b].is_err());
    assert!(rotation.finish().await.is_err());
    assert_eq!(stage_password(&fleet, AWSCURRENT).await, Some(old.clone()));
    secret_logs_in_everywhere(&fleet).await;
    let report = rotated(manager.rotate(false).await.expect("rerun"));
    assert!(report.resumed && report.instances.all_ok());

    // Step 4 fails: Secrets Manager does not answer when AWSCURRENT is moved. Every instance
    // has the new password, which is AWSPENDING: the source's fallback logs in.
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");
    let mut rotation = manager.rotation().await.expect("rotation");
    let pending_id = rotation.begin().await.expect("begin").to_owned();
    assert!(rotation.set_in_databases().await.expect("set").all_ok());
    assert!(rotation.test_logins().await.expect("test").all_ok());
    signal_moto(&fleet.moto, "-STOP");
    let err = rotation.finish().await.expect_err("moto is frozen");
    signal_moto(&fleet.moto, "-CONT");
    assert!(err.to_string().contains("Secrets Manager"), "{err}");
    assert_eq!(stage_password(&fleet, AWSCURRENT).await, Some(old.clone()));
    for cluster in [&fleet.a, &fleet.b] {
        assert!(!logs_in_with(cluster, &old).await);
    }
    secret_logs_in_everywhere(&fleet).await;
    let report = rotated(manager.rotate(false).await.expect("rerun"));
    assert_eq!(report.version_id.as_deref(), Some(pending_id.as_str()));

    // A crash inside step 4: AWSCURRENT moved, AWSPENDING not removed yet.
    let mut rotation = manager.rotation().await.expect("rotation");
    let pending_id = rotation.begin().await.expect("begin").to_owned();
    assert!(rotation.set_in_databases().await.expect("set").all_ok());
    assert!(rotation.test_logins().await.expect("test").all_ok());
    drop(rotation);
    let stages = secrets(&fleet).describe().await.expect("describe");
    let current = stages.current().expect("current").to_owned();
    secrets(&fleet)
        .promote(&pending_id, &current)
        .await
        .expect("promote");
    secret_logs_in_everywhere(&fleet).await;
    let report = rotated(manager.rotate(false).await.expect("rerun"));
    assert_eq!(report.version_id.as_deref(), Some(pending_id.as_str()));
    assert!(stage_password(&fleet, AWSPENDING).await.is_none());
    let new = stage_password(&fleet, AWSCURRENT).await.expect("current");
    for cluster in [&fleet.a, &fleet.b] {
        assert!(logs_in_with(cluster, &new).await);
    }

    // The whole rotate() with b down: reported per instance, nothing begun, nothing changed.
    fleet.b.stop().expect("stop b");
    match manager.rotate(true).await.expect("rotate") {
        RotateOutcome::Incomplete(report) => {
            assert!(
                !report.finished && report.version_id.is_none(),
                "{report:?}"
            );
            assert!(report.instances.results[&a].is_ok());
            let err = report.instances.results[&b]
                .as_ref()
                .expect_err("b is down");
            // The address is in the connection error, the source of the facade's error.
            let chain = rds_pg_access::error_chain(err);
            assert!(chain.contains("127.0.0.1"), "{chain}");
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(stage_password(&fleet, AWSPENDING).await.is_none());
    assert_eq!(stage_password(&fleet, AWSCURRENT).await, Some(new.clone()));
    fleet.b.restart().expect("restart b");
    secret_logs_in_everywhere(&fleet).await;
}

#[tokio::test]
async fn iam_and_environment_passwords_have_nothing_to_rotate() {
    let moto = MotoServer::start()
        .unwrap_or_else(|e| panic!("moto_server is required (pip install 'moto[server]'): {e}"));
    let aws = aws_config(&moto);
    let settings = Settings::from_toml_str(
        r#"
[[integration]]
name = "iam"
region = "us-east-1"
auth = "iam"
[integration.endpoint]
host = "127.0.0.1"
port = 5432

[[integration]]
name = "env"
region = "us-east-1"
auth = "password"
ssl_mode = "disable"
connector_rotation_days = 7
[integration.secret]
env = "SOME_PASSWORD"
[integration.endpoint]
host = "127.0.0.1"
port = 5432
"#,
    )
    .expect("settings");
    let iam =
        AccessManager::from_integration_with_aws(settings.get("iam").expect("iam").clone(), &aws)
            .expect("manager");
    match iam.rotate(true).await.expect("not an error") {
        RotateOutcome::NothingToRotate { reason } => assert!(reason.contains("IAM"), "{reason}"),
        other => panic!("expected NothingToRotate, got {other:?}"),
    }
    let env =
        AccessManager::from_integration_with_aws(settings.get("env").expect("env").clone(), &aws)
            .expect("manager");
    let err = env
        .rotate(true)
        .await
        .expect_err("an env password cannot be rotated");
    assert!(err.to_string().contains("Secrets Manager secret"), "{err}");
}

#[tokio::test]
async fn rdspg_rotate_reports_not_due_then_rotates_with_force() {
    let moto = MotoServer::start()
        .unwrap_or_else(|e| panic!("moto_server is required (pip install 'moto[server]'): {e}"));
    let cluster = TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is required: {e}"));
    let old = cluster.connector().password.clone();
    moto.boto3(&format!(
        "secrets.create_secret(Name={SECRET:?}, SecretString=json.dumps({{\
         'username': 'apono_connector', 'password': {old:?}, 'engine': 'postgres'}}))"
    ))
    .expect("create the secret");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("orders.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"orders\"\nregion = \"{}\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
             connector_rotation_days = 30\n[secret]\nid = \"{SECRET}\"\n\
             [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n[aws]\nendpoint_url = \"{}\"\n",
            moto.region(),
            cluster.port(),
            moto.endpoint_url()
        ),
    )
    .expect("write config");
    let run = |extra: &[&str]| {
        let mut args = vec!["--output", "json", "rotate", "--config"];
        args.push(config.to_str().expect("utf-8 path"));
        args.extend_from_slice(extra);
        let out = Command::new(rdspg_path())
            .args(&args)
            .envs(moto.env_vars())
            .output()
            .expect("run rdspg");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), json)
    };

    let (code, json) = run(&[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["status"], "not-due", "{json}");
    assert!(json["due_at"].as_str().is_some(), "{json}");

    let (code, json) = run(&["--force"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["status"], "rotated", "{json}");
    assert_eq!(json["finished"], true);
    assert_eq!(json["instances"]["local"]["password_set"], true, "{json}");
    let aws = aws_config(&moto);
    let current = SecretsManagerRotation::new(&aws, SECRET)
        .expect("id")
        .version(AWSCURRENT)
        .await
        .expect("current");
    assert_eq!(json["version_id"], current.version_id.as_str());
    let new = current.secret.password.expose_secret().to_owned();
    assert!(logs_in_with(&cluster, &new).await);
    assert!(!logs_in_with(&cluster, &old).await);
}

/// Step 2's SQL on every tested version: the connector (not a superuser) changes its own
/// password with `ALTER ROLE CURRENT_USER`, sent as a SCRAM verifier.
#[test]
fn the_connector_sets_its_own_password_on_every_version() {
    use rds_pg_access::pg_grants::password::Password;
    use rds_pg_access::pg_grants::{Session, Settings as GrantsSettings};

    pg_testkit::for_each_version(pg_testkit::ALL_VERSIONS, |version| {
        let cluster = TestCluster::builder()
            .version(version)
            .start()
            .unwrap_or_else(|e| panic!("PostgreSQL {version} is required: {e}"));
        let old = cluster.connector().password.clone();
        let super_flag = cluster
            .sql(
                "postgres",
                "SELECT rolsuper FROM pg_roles WHERE rolname = 'apono_connector'",
            )
            .expect("rolsuper");
        assert_eq!(super_flag.trim(), "f", "the connector is not a superuser");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let source = StaticPassword::new("apono_connector", old.clone().into());
            let connection = rds_pg_access::pg_auth::connect(&options(&cluster), &source)
                .await
                .expect("connect with the old password");
            let session = Session::new(connection.client(), GrantsSettings::default())
                .await
                .expect("session");
            let new = Password::generate();
            session
                .set_own_password(&new)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL {version}: {e}"));
            assert!(logs_in_with(&cluster, new.expose().expose_secret()).await);
            assert!(!logs_in_with(&cluster, &old).await);
        });
    });
}
