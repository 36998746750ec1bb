//! The connector-password rotation against moto through an HTTP fault proxy (issue 15): the
//! Secrets Manager call of each of the four steps is throttled (`ThrottlingException`, AWS
//! JSON), answered 503, dropped without an answer, delayed past the SDK's attempt timeout, or
//! carried out by moto with its answer lost, on a fleet of two real clusters.
//!
//! Checked after every fault: the step fails with a typed error naming the Secrets Manager
//! call (step 2 makes no AWS call and succeeds whatever AWS does); `AWSCURRENT` logs in on
//! every instance, or `AWSPENDING` does through the credential source's fallback (the
//! database password and the secret never diverge without a recoverable `AWSPENDING`); with
//! the fault cleared, a rerun finishes the rotation and leaves no `AWSPENDING`. Throttling that
//! clears within the SDK's retries (`RetryConfig::standard`, 3 attempts) does not fail the
//! rotation at all.
//!
//! `RDSPG_AWS_FAULTS=all` runs all five faults on every step; the default (CI) runs
//! throttling, a dropped answer and a lost answer.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use pg_testkit::{AwsFault, AwsFaultProxy, MotoFleet, MotoServer, TestCluster};
use rds_pg_access::integration_model::{Integration, Settings};
use rds_pg_access::pg_auth::{
    AWSCURRENT, AWSPENDING, ConnectOptions, ExposeSecret, ManualClock, SdkConfig,
    SecretsManagerRotation, SecretsManagerSource, SslMode,
};
use rds_pg_access::{AccessManager, RotateError, RotateOutcome};

const SECRET: &str = "rds/orders-connector";

struct Fleet {
    moto: MotoServer,
    proxy: AwsFaultProxy,
    a: TestCluster,
    b: TestCluster,
    integration: Integration,
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
    let proxy = AwsFaultProxy::start(&moto).expect("proxy");
    Fleet {
        moto,
        proxy,
        a,
        b,
        integration,
    }
}

/// Through the proxy: 3 attempts with short backoff, 2 s per attempt.
fn proxied(fleet: &Fleet) -> SdkConfig {
    fleet
        .proxy
        .sdk_config()
        .to_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .build()
}

fn manager(fleet: &Fleet) -> AccessManager {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    AccessManager::from_integration_with_aws(fleet.integration.clone(), &proxied(fleet))
        .expect("manager")
        .with_clock(clock as Arc<dyn rds_pg_access::pg_auth::Clock>)
}

/// Straight to moto, never through the proxy: what the secret holds.
fn secrets(fleet: &Fleet) -> SecretsManagerRotation {
    SecretsManagerRotation::new(&fleet.moto.sdk_config(), SECRET).expect("secret id")
}

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

/// The invariant after any fault: the connector's own credential source (AWSCURRENT, or
/// AWSPENDING after a rejection) logs in on every instance.
async fn secret_logs_in_everywhere(fleet: &Fleet, context: &str) {
    let source = SecretsManagerSource::new(&fleet.moto.sdk_config(), SECRET)
        .expect("source")
        .with_user("apono_connector");
    for cluster in [&fleet.a, &fleet.b] {
        let report = rds_pg_access::pg_auth::ping(&options(cluster), &source)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{context}: the secret must log in on port {}: {e}",
                    cluster.port()
                )
            });
        assert_eq!(report.user, "apono_connector");
    }
}

/// A rerun with no fault finishes: rotated, no AWSPENDING left, AWSCURRENT logs in.
async fn rerun_finishes(fleet: &Fleet, manager: &AccessManager, context: &str) {
    // Calls the proxy delayed may still reach moto (as AWS may carry out a call whose answer
    // timed out); the rerun starts once they have.
    assert!(fleet.proxy.wait_idle(Duration::from_secs(30)), "{context}");
    let pending = secrets(fleet)
        .describe()
        .await
        .expect("describe")
        .pending()
        .is_some();
    let outcome = manager
        .rotate(!pending)
        .await
        .unwrap_or_else(|e| panic!("{context}: rerun: {e}"));
    match outcome {
        RotateOutcome::Rotated(report) => {
            assert!(
                report.finished && report.instances.all_ok(),
                "{context}: {report:?}"
            );
        }
        other => panic!("{context}: the rerun did not finish: {other:?}"),
    }
    assert_eq!(stage_password(fleet, AWSPENDING).await, None, "{context}");
    let current = stage_password(fleet, AWSCURRENT).await.expect("current");
    for cluster in [&fleet.a, &fleet.b] {
        let source =
            rds_pg_access::pg_auth::StaticPassword::new("apono_connector", current.clone().into());
        rds_pg_access::pg_auth::connect(&options(cluster), &source)
            .await
            .unwrap_or_else(|e| panic!("{context}: AWSCURRENT must log in: {e}"));
    }
}

/// The Secrets Manager call each step makes (step 2 makes none: its faults go to every call).
const STEP_CALLS: [(u8, &str, &[&str]); 4] = [
    (1, "begin", &["PutSecretValue"]),
    (
        2,
        "set_in_databases",
        &[
            "PutSecretValue",
            "GetSecretValue",
            "DescribeSecret",
            "UpdateSecretVersionStage",
            "DescribeDBInstances",
        ],
    ),
    (3, "test_logins", &["GetSecretValue"]),
    (4, "finish", &["DescribeSecret", "UpdateSecretVersionStage"]),
];

/// Every fault; `RDSPG_AWS_FAULTS=all` runs each on each step (about 4 minutes), the default
/// (CI) the three that stand for the others: an error answer, no answer, a change made with
/// its answer lost.
const ALL_FAULTS: [AwsFault; 5] = [
    AwsFault::Throttle,
    AwsFault::Unavailable,
    AwsFault::Drop,
    AwsFault::Delay(Duration::from_secs(3)),
    AwsFault::LoseAnswer,
];
const CI_FAULTS: [AwsFault; 3] = [AwsFault::Throttle, AwsFault::Drop, AwsFault::LoseAnswer];

fn faults() -> &'static [AwsFault] {
    if std::env::var("RDSPG_AWS_FAULTS").is_ok_and(|v| v == "all") {
        &ALL_FAULTS
    } else {
        &CI_FAULTS
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_under_every_aws_fault_keeps_a_secret_that_logs_in_and_a_rerun_finishes() {
    let fleet = fleet();
    let manager = manager(&fleet);
    let mut rows = Vec::new();
    for (step, name, calls) in STEP_CALLS {
        for &fault in faults() {
            for (index, call) in calls.iter().enumerate() {
                // Step 4 makes two calls: a fault on each; others: one row per fault.
                if step == 2 && index > 0 {
                    break;
                }
                let context = format!("step {step} ({name}), {fault:?} on {call}");
                let mut rotation = manager
                    .rotation()
                    .await
                    .unwrap_or_else(|e| panic!("{context}: starting the rotation: {e}"));
                if step > 1 {
                    rotation.begin().await.expect("begin");
                }
                if step > 2 {
                    assert!(rotation.set_in_databases().await.expect("set").all_ok());
                }
                if step > 3 {
                    assert!(rotation.test_logins().await.expect("test").all_ok());
                }
                let targets: &[&str] = if step == 2 { calls } else { &[call] };
                for target in targets {
                    fleet.proxy.inject(target, fault, 0, usize::MAX);
                }
                // The rotation ends with the step (its locks released), as after a crash.
                let result: Result<(), RotateError> = async move {
                    match step {
                        1 => rotation.begin().await.map(drop),
                        2 => rotation
                            .set_in_databases()
                            .await
                            .map(|r| assert!(r.all_ok())),
                        3 => rotation.test_logins().await.map(|r| assert!(r.all_ok())),
                        _ => rotation.finish().await.map(drop),
                    }
                }
                .await;
                fleet.proxy.clear();
                let outcome = match (&result, step) {
                    (Ok(()), 2) => "ok (no AWS call)".to_owned(),
                    (Ok(()), _) => panic!("{context}: the step succeeded through the fault"),
                    (Err(error), _) => {
                        let chain = rds_pg_access::error_chain(error);
                        assert!(
                            chain.contains(call) && chain.contains("Secrets Manager"),
                            "{context}: the error must name the call: {chain}"
                        );
                        assert!(
                            matches!(error, RotateError::Access(_)),
                            "{context}: {error:?}"
                        );
                        if fault == AwsFault::Throttle {
                            assert!(chain.contains("ThrottlingException"), "{context}: {chain}");
                        }
                        chain
                    }
                };
                rows.push((context.clone(), outcome));
                secret_logs_in_everywhere(&fleet, &context).await;
                rerun_finishes(&fleet, &manager, &context).await;
                secret_logs_in_everywhere(&fleet, &context).await;
            }
        }
    }
    for (context, outcome) in &rows {
        println!("{context}: {outcome}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_within_the_sdk_retries_does_not_fail_the_rotation() {
    let fleet = fleet();
    let manager = manager(&fleet);
    let old = stage_password(&fleet, AWSCURRENT).await.expect("current");
    // Every Secrets Manager call and the discovery listing throttled twice, then answered.
    let calls = [
        "DescribeSecret",
        "GetSecretValue",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "DescribeDBInstances",
    ];
    for call in calls {
        fleet.proxy.inject(call, AwsFault::Throttle, 0, 2);
    }
    match manager.rotate(true).await.expect("rotate") {
        RotateOutcome::Rotated(report) => assert!(report.instances.all_ok(), "{report:?}"),
        other => panic!("throttling within the retries must not fail: {other:?}"),
    }
    for call in calls {
        assert_eq!(fleet.proxy.faults(call), 2, "{call} was throttled twice");
    }
    let new = stage_password(&fleet, AWSCURRENT).await.expect("current");
    assert_ne!(new, old);
    assert_eq!(stage_password(&fleet, AWSPENDING).await, None);
    secret_logs_in_everywhere(&fleet, "after throttled rotation").await;
}
