//! Races between a sweep and the operations of other replicas on the same user, found by the
//! load test (tests/load_replicas.rs) and made deterministic here: the sweep is stopped at the
//! point of the race by a row lock a superuser transaction holds on a role (`ALTER ROLE`
//! waits for it), the other operation runs, and the transaction is rolled back (it changes
//! nothing).

mod common;

use std::time::{Duration, SystemTime};

use common::{access_request, clocked_manager, role_exists, wait_for};
use pg_testkit::TestCluster;
use rds_pg_access::integration_model::AccessLevel;
use rds_pg_access::pg_auth::ManualClock;

/// Sessions of the library waiting for a lock (an `ALTER ROLE` behind the superuser's
/// transaction).
const WAITING: &str = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                       WHERE NOT l.granted AND a.application_name = 'rds-pg-access'";

fn can_login(cluster: &TestCluster, role: &str) -> bool {
    cluster
        .sql(
            "postgres",
            &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'"),
        )
        .expect("query the role")
        .trim()
        == "t"
}

async fn superuser(cluster: &TestCluster, database: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &cluster.conn_string(cluster.superuser(), database),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect as superuser");
    tokio::spawn(connection);
    client
}

/// A replica whose sweep finds the instance busy (another replica holds the sweep lock)
/// disables the logins of the expired users it listed, without their locks. A grant that made
/// one of them active again after the list was read must keep its login: before the fix, the
/// user was left `NOLOGIN` with an active grant (an IAM user could not log in at all; an
/// extension was refused as "revocation started"), and no later sweep repaired it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_sweep_never_disables_a_user_a_grant_just_renewed() {
    let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
    cluster
        .sql("postgres", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let past = ManualClock::new(SystemTime::now() - Duration::from_secs(7200));
    let old = clocked_manager(&cluster, "local", &past, "");
    for user in ["race_a", "race_b"] {
        let request = access_request(
            &old,
            user,
            &format!("old-{user}"),
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/sales"],
        );
        let granted = old.grant(&request).await.expect("grant");
        assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    }
    let now = ManualClock::new(SystemTime::now());
    let manager = clocked_manager(&cluster, "local", &now, "");

    // Another replica sweeps: this one finds the lock busy.
    let other_replica = superuser(&cluster, "postgres").await;
    other_replica
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('rdspg-job:sweep', 0))",
            &[],
        )
        .await
        .expect("hold the sweep lock");
    // Stop the busy sweep at race_a (the first it disables), after it read the list.
    let mut blocker = superuser(&cluster, "postgres").await;
    let row_lock = blocker.transaction().await.expect("begin");
    row_lock
        .batch_execute("ALTER ROLE race_a CONNECTION LIMIT 7")
        .await
        .expect("hold race_a's row");
    let sweeper = manager.clone();
    let sweep = tokio::spawn(async move { sweeper.sweep().await });
    wait_for("the busy sweep to wait at race_a", 60, || {
        (cluster.sql("postgres", WAITING).ok()?.trim() == "1").then_some(())
    });

    // race_b gets a new grant meanwhile.
    let renewed = access_request(
        &manager,
        "race_b",
        "new-race_b",
        AccessLevel::ReadOnly,
        "1h",
        &["appdb/sales"],
    );
    let granted = manager.grant(&renewed).await.expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    assert!(can_login(&cluster, "race_b"));

    row_lock.rollback().await.expect("release race_a's row");
    let report = sweep.await.expect("sweep task").expect("sweep");
    assert!(
        report
            .results
            .values()
            .all(|r| r.as_ref().is_ok_and(|r| r.skipped))
    );

    // The expired user cannot log in; the renewed one can, and keeps its access.
    assert!(!can_login(&cluster, "race_a"));
    assert!(
        can_login(&cluster, "race_b"),
        "the busy sweep disabled a user whose grant is active"
    );
    assert!(role_exists(&cluster, "race_b"));
    let extended = manager
        .extend(&rds_pg_access::ExtendRequest::new(
            "race_b".parse().expect("user"),
            time::OffsetDateTime::now_utc() + time::Duration::hours(2),
        ))
        .await
        .expect("extend");
    assert!(extended.all_ok(), "{extended:?}");
    drop(other_replica);
}
