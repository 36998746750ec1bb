//! Advisory-lock keys are public (`rdspg:<role>`, `rdspg-role:<role>`, `rdspg-job:sweep`),
//! and any login role may take them in any database it can connect to. A grantee (or any
//! rightless login) holding them once kept an expired user's login alive: the sweep's and
//! revoke's `disable_login` waited behind the lock and failed at `lock_timeout`, and a held
//! `rdspg-job:sweep` made every sweep report `skipped` forever. Stopping logins now depends
//! on no lock anybody else can take, and a lock held by a session without `CREATEROLE` is
//! reported as squatted and ignored: the job and per-role locks here, and in pg-grants the
//! revocation's session lock and every transaction's role lock, so that the revocation of a
//! user whose accomplice squats every key still finishes.

mod common;

use common::{
    cluster_manager, cluster_with_owner_fix, fixed_endpoint_integration, role_exists, runtime,
    wait_for,
};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::AccessManager;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest};
use rds_pg_access::pg_auth::{Clock, ExposeSecret, ManualClock};
use rds_pg_access_service::scheduler::{InstanceRun, Intervals, JobKind, Scheduler};

fn manager(cluster: &TestCluster) -> AccessManager {
    cluster_manager(cluster, fixed_endpoint_integration(cluster, "squat", ""))
}

fn cluster() -> TestCluster {
    cluster_with_owner_fix(15)
}

/// Grants read-only on appdb/inventory to `user` for an hour, from now; returns its password.
async fn grant(cluster: &TestCluster, user: &str) -> String {
    let granter = manager(cluster);
    let request = AccessRequest::builder(
        user.parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(granter.resource_path("appdb/inventory").expect("path"))
    .build()
    .expect("request");
    let granted = granter.grant(&request).await.expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    granted
        .password
        .expect("password")
        .expose_secret()
        .to_owned()
}

/// A manager whose clock is two hours ahead: every grant of an hour made now has expired.
fn later(cluster: &TestCluster) -> AccessManager {
    let later: Arc<dyn Clock> = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(7200),
    ));
    manager(cluster).with_clock(later)
}

async fn login(
    cluster: &TestCluster,
    user: &str,
    password: &str,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let conn = format!(
        "host=127.0.0.1 port={} user={user} password='{}' dbname={database} sslmode=disable",
        cluster.port(),
        password.replace('\\', "\\\\").replace('\'', "\\'")
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `user` logs in to `postgres` and `appdb` and holds, in each, every lock key the library
/// uses for `user` (and the sweep's job lock, where `job` says so).
async fn squat(
    cluster: &TestCluster,
    user: &str,
    password: &str,
    keys: &[String],
) -> Vec<tokio_postgres::Client> {
    let mut sessions = Vec::new();
    for database in ["postgres", "appdb"] {
        let client = login(cluster, user, password, database)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in to {database}: {e:?}"));
        for key in keys {
            client
                .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[key])
                .await
                .expect("take the lock");
        }
        sessions.push(client);
    }
    sessions
}

fn role_keys(user: &str) -> Vec<String> {
    vec![
        format!("rdspg:{user}"),
        format!("rdspg-role:{user}"),
        format!("rdspg-revoke:{user}"),
    ]
}

fn can_login(cluster: &TestCluster, user: &str) -> bool {
    cluster
        .sql(
            "postgres",
            &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{user}'"),
        )
        .expect("query")
        .trim()
        == "t"
}

async fn all_ended(sessions: &[tokio_postgres::Client]) -> bool {
    for s in sessions {
        if s.simple_query("SELECT 1").await.is_ok() {
            return false;
        }
    }
    true
}

#[test]
fn a_grantee_holding_its_own_lock_keys_loses_its_login_to_the_sweep_and_to_revoke() {
    // 16+ needs ADMIN OPTION to alter a role: the rules differ.
    pg_testkit::for_each_version(&[15, 17], |version| {
        runtime().block_on(own_locks(cluster_with_owner_fix(version)));
    });
}

async fn own_locks(cluster: TestCluster) {
    // Both log in while their access runs; carol is revoked by hand, then the sweep runs
    // two hours later (bob's access has ended then).
    let bob = grant(&cluster, "bob").await;
    let carol = grant(&cluster, "carol").await;
    let bob_sessions = squat(&cluster, "bob", &bob, &role_keys("bob")).await;
    let carol_sessions = squat(&cluster, "carol", &carol, &role_keys("carol")).await;

    let user = "carol".parse().expect("user");
    let report = manager(&cluster).revoke(&user).await.expect("revoke");
    let local = report.results.values().next().expect("one instance");
    assert!(
        !can_login(&cluster, "carol"),
        "carol kept LOGIN behind its own locks: {local:?}"
    );
    assert!(
        all_ended(&carol_sessions).await,
        "carol's sessions still run"
    );
    let local = local.as_ref().expect("the revoke succeeds");
    assert!(local.dropped, "{local:?}");
    assert!(local.sessions_terminated >= 2, "{local:?}");
    assert!(!role_exists(&cluster, "carol"));
    assert!(login(&cluster, "carol", &carol, "postgres").await.is_err());

    let manager = later(&cluster);
    let report = manager.sweep().await.expect("sweep");
    let local = report.results.values().next().expect("one instance");
    let local = local.as_ref().expect("the instance succeeds");
    assert!(!local.skipped);
    assert!(
        !can_login(&cluster, "bob"),
        "bob kept LOGIN behind its own locks: {local:?}"
    );
    assert!(all_ended(&bob_sessions).await, "bob's sessions still run");
    // The report says what happened to bob: revoked, or at least no login.
    let revoked = local.swept.iter().any(|s| s.user == "bob");
    let disabled = local
        .failed
        .iter()
        .any(|f| f.user == "bob" && f.login_disabled);
    assert!(revoked || disabled, "{local:?}");
    assert!(login(&cluster, "bob", &bob, "postgres").await.is_err());
}

#[test]
fn a_rightless_login_squatting_the_sweep_and_role_locks_is_named_and_ignored() {
    runtime().block_on(async {
        let cluster = cluster();
        cluster
            .sql(
                "postgres",
                "CREATE ROLE mallory LOGIN PASSWORD 'mallory-pw-1'",
            )
            .expect("create mallory");
        let _dave = grant(&cluster, "dave").await;
        let mut keys = role_keys("dave");
        keys.push("rdspg-job:sweep".to_owned());
        let mallory = squat(&cluster, "mallory", "mallory-pw-1", &keys).await;

        let manager = later(&cluster);
        let report = manager.sweep().await.expect("sweep");
        let local = report.results.values().next().expect("one instance");
        let local = local.as_ref().expect("the instance succeeds");
        assert!(
            !local.skipped,
            "a rightless login stopped the sweep: {local:?}"
        );
        assert!(!can_login(&cluster, "dave"), "{local:?}");
        assert!(
            local.lock_squatters.iter().any(|h| h.user == "mallory"),
            "the squatter is not named: {local:?}"
        );
        assert!(!local.is_clean(), "a squatted lock reads as healthy");
        // The role locks were squatted in both databases, the revocation's and the role's
        // transaction lock included: none of them holds the revocation up any more, so dave
        // is swept, its privileges gone with it, not merely kept from logging in.
        assert!(
            local.swept.iter().any(|s| s.user == "dave"),
            "dave was not swept: {local:?}"
        );
        assert!(!local.failed.iter().any(|f| f.user == "dave"), "{local:?}");
        assert!(!role_exists(&cluster, "dave"), "{local:?}");
        // The revocation names the squatters of its own locks too.
        let dave = local.swept.iter().find(|s| s.user == "dave").expect("dave");
        assert!(
            dave.report
                .lock_squatters
                .iter()
                .any(|h| h.user == "mallory" && h.is_squatter()),
            "{dave:?}"
        );
        drop(mallory);
    });
}

#[test]
fn the_service_reports_a_squatted_sweep_lock_as_a_failed_run_naming_the_squatter() {
    runtime().block_on(async {
        let cluster = cluster();
        cluster
            .sql("postgres", "CREATE ROLE eve LOGIN PASSWORD 'eve-pw-1'")
            .expect("create eve");
        let _frank = grant(&cluster, "frank").await;
        let eve = squat(&cluster, "eve", "eve-pw-1", &["rdspg-job:sweep".to_owned()]).await;
        let scheduler = Scheduler::builder()
            .integration(later(&cluster))
            .jobs([JobKind::Sweep])
            .intervals(Intervals::default().sweep(Duration::from_secs(1)))
            .build()
            .expect("scheduler");
        let state = scheduler.state();
        let shutdown = scheduler.shutdown_token();
        let task = tokio::spawn(scheduler.run());
        let run = wait_for("a finished sweep", 60, || {
            let job = state.jobs().into_iter().next()?;
            (job.runs >= 1 && !job.in_progress)
                .then(|| {
                    job.instances
                        .values()
                        .next()
                        .and_then(|i| i.last_run.clone())
                })
                .flatten()
        });
        shutdown.cancel();
        task.await.expect("stops");
        // Not a healthy "skipped": a failure of the instance (health, metrics) naming eve,
        // and frank was revoked anyway.
        let InstanceRun::Failed { error } = run else {
            panic!("a squatted sweep lock is not a failure: {run:?}");
        };
        assert!(error.contains("eve"), "{error}");
        assert!(state.jobs()[0].failures >= 1);
        assert!(!role_exists(&cluster, "frank"));
        drop(eve);
    });
}

#[test]
fn a_sweep_that_finds_its_lock_held_still_disables_expired_logins() {
    runtime().block_on(async {
        let cluster = cluster();
        // A role that looks like a connector (CREATEROLE: the master user, say) holds the
        // sweep's job lock, so the sweep counts it as another replica's and skips the instance;
        // the expired user must lose its login all the same.
        cluster
            .sql(
                "postgres",
                "CREATE ROLE lookalike LOGIN CREATEROLE PASSWORD 'lookalike-pw-1'",
            )
            .expect("create the look-alike");
        let _erin = grant(&cluster, "erin").await;
        let holder = squat(
            &cluster,
            "lookalike",
            "lookalike-pw-1",
            &["rdspg-job:sweep".to_owned()],
        )
        .await;

        let report = later(&cluster).sweep().await.expect("sweep");
        let local = report.results.values().next().expect("one instance");
        let local = local.as_ref().expect("the instance succeeds");
        assert!(local.skipped, "the lock looked legitimate: {local:?}");
        assert!(
            !can_login(&cluster, "erin"),
            "an expired user kept its login while the sweep lock was held"
        );
        assert!(
            role_exists(&cluster, "erin"),
            "revoked without the job lock"
        );
        drop(holder);
    });
}
