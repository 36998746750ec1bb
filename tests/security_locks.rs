//! Advisory locks exclude across databases (issue 14, item 6). PostgreSQL advisory locks
//! belong to one database: two integrations of one instance with different home databases
//! (`database`) once took "the same" job or per-role lock in different databases, so their
//! sweeps ran at once and two revocations of one user interleaved. Every job lock and per-role
//! lock is now taken in one lock database per instance (`lock_database`, default `postgres`).

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
use rds_pg_access::pg_auth::{Clock, ManualClock};

/// An integration over `cluster` named `name`, whose home database is `database`.
fn manager(cluster: &TestCluster, name: &str, extra: &str) -> AccessManager {
    cluster_manager(cluster, fixed_endpoint_integration(cluster, name, extra))
}

/// Grants read-only on appdb/inventory for an hour, two hours ago (so it has expired).
async fn grant_expired(cluster: &TestCluster, user: &str) {
    let past: Arc<dyn Clock> = Arc::new(ManualClock::new(
        SystemTime::now() - Duration::from_secs(7200),
    ));
    let granter = manager(cluster, "granter", "").with_clock(past);
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
}

/// A superuser session holding the home-database revocation lock of `user` in `postgres`:
/// whatever revokes `user` from there waits until it is dropped.
async fn hold_revoke_lock(cluster: &TestCluster, user: &str) -> tokio_postgres::Client {
    let (holder, connection) = tokio_postgres::connect(
        &cluster.conn_string(cluster.superuser(), "postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect as superuser");
    tokio::spawn(connection);
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtextextended($1, 0))",
            &[&format!("rdspg-revoke:{user}")],
        )
        .await
        .expect("hold the revocation lock");
    holder
}

/// Advisory-lock waits of the library's sessions (any database).
fn waiters(cluster: &TestCluster) -> usize {
    cluster
        .sql(
            "postgres",
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
             WHERE l.locktype = 'advisory' AND NOT l.granted \
             AND a.application_name = 'rds-pg-access'",
        )
        .expect("count waiters")
        .trim()
        .parse()
        .expect("a count")
}

/// Runs `body` on PostgreSQL 15 and 17 (the role rules differ from 16 on).
fn on_15_and_17<F: std::future::Future<Output = ()>>(body: impl Fn(TestCluster) -> F + Sync) {
    pg_testkit::for_each_version(&[15, 17], |version| {
        runtime().block_on(body(cluster_with_owner_fix(version)));
    });
}

#[test]
fn a_sweep_from_another_home_database_skips_the_instance_being_swept() {
    on_15_and_17(sweep_skips);
}

async fn sweep_skips(cluster: TestCluster) {
    grant_expired(&cluster, "x1").await;
    let one = manager(&cluster, "one", "database = \"postgres\"");
    let two = manager(&cluster, "two", "database = \"appdb\"");

    // One's sweep takes the instance and waits at x1, in flight.
    let holder = hold_revoke_lock(&cluster, "x1").await;
    let first = tokio::spawn(async move { one.sweep().await });
    wait_for("one's sweep waiting at x1", 30, || {
        (waiters(&cluster) == 1).then_some(())
    });

    // Two's sweep, from appdb, finds the instance taken and changes nothing.
    let report = two.sweep().await.expect("sweep");
    let local = report.results.values().next().expect("one instance");
    let local = local.as_ref().expect("the instance succeeds");
    assert!(local.skipped, "two swept an instance one was sweeping");
    assert!(local.swept.is_empty());
    assert!(role_exists(&cluster, "x1"), "x1 revoked behind one's back");

    drop(holder);
    let report = first.await.expect("join").expect("sweep");
    let local = report.results.values().next().expect("one instance");
    let local = local.as_ref().expect("the instance succeeds");
    assert!(!local.skipped);
    assert_eq!(local.swept.len(), 1);
    assert!(!role_exists(&cluster, "x1"));
}

#[test]
fn revocations_of_one_user_from_two_home_databases_exclude_each_other() {
    on_15_and_17(revocations_exclude);
}

async fn revocations_exclude(cluster: TestCluster) {
    grant_expired(&cluster, "u1").await;
    let one = manager(&cluster, "one", "database = \"postgres\"");
    let two = manager(&cluster, "two", "database = \"appdb\"");
    let user: rds_pg_access::integration_model::Identifier = "u1".parse().expect("user");

    // One's revoke of u1 is in flight (waiting inside, at the home-database lock).
    let holder = hold_revoke_lock(&cluster, "u1").await;
    let first = tokio::spawn({
        let user = user.clone();
        async move { one.revoke(&user).await }
    });
    wait_for("one's revoke waiting", 30, || {
        (waiters(&cluster) == 1).then_some(())
    });

    // Two's revoke of u1, from appdb, waits for one's to end instead of running beside it.
    let second = tokio::spawn({
        let user = user.clone();
        async move { two.revoke(&user).await }
    });
    wait_for("two's revoke waiting too", 30, || {
        (waiters(&cluster) == 2).then_some(())
    });
    assert!(
        role_exists(&cluster, "u1"),
        "u1 revoked beside one's revoke"
    );
    assert!(!second.is_finished());

    drop(holder);
    let first = first.await.expect("join").expect("revoke");
    let second = second.await.expect("join").expect("revoke");
    let dropped = |r: &rds_pg_access::FleetReport<rds_pg_access::pg_grants::RevokeReport>| {
        let local = r.results.values().next().expect("one instance");
        local.as_ref().expect("the instance succeeds").dropped
    };
    // One dropped it; two found it gone: no failure, no double revocation.
    assert!(dropped(&first));
    assert!(!dropped(&second));
    assert!(!role_exists(&cluster, "u1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_database_the_connector_cannot_reach_is_named_in_the_error() {
    let cluster = cluster_with_owner_fix(pg_testkit::DEFAULT_VERSION);
    let manager = manager(&cluster, "nolock", "lock_database = \"no_such_db\"");
    let report = manager.sweep().await.expect("discovery works");
    let local = report.results.values().next().expect("one instance");
    let error = local.as_ref().expect_err("no lock database, no sweep");
    let text = error.to_string();
    assert!(text.contains("lock_database"), "{text}");
    assert!(text.contains("no_such_db"), "{text}");
}
