//! The futures of the manager's operations are `Send`, so that a caller can `tokio::spawn`
//! them on a multi-threaded runtime (as a service handling requests concurrently does). Found
//! by the load test (tests/load_replicas.rs), whose clients spawn their operations: before the
//! fix, `grant`'s future was not `Send` ("implementation of `FnOnce` is not general enough": a
//! closure over borrowed pairs in the password step's stream), so this file did not compile.

mod common;

use std::future::Future;

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::AccessLevel;
use rds_pg_access::{AccessManager, ExtendRequest};

/// Spawns `future` as a caller would: compiles only when it is `Send`.
fn spawned<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_can_be_spawned() {
    let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
    cluster
        .sql("postgres", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let integration = common::fixed_endpoint_integration(&cluster, "local", "database = \"appdb\"");
    let manager: AccessManager = common::cluster_manager(&cluster, integration);
    let request = common::access_request(
        &manager,
        "spawned",
        "req-spawned",
        AccessLevel::ReadOnly,
        "1h",
        &["appdb/sales"],
    );

    let m = manager.clone();
    let r = request.clone();
    let planned = spawned(async move { m.plan(&r).await })
        .await
        .expect("task");
    assert!(planned.expect("plan").all_ok());
    let m = manager.clone();
    let granted = spawned(async move { m.grant(&request).await })
        .await
        .expect("task")
        .expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    assert!(common::role_exists(&cluster, "spawned"));

    let m = manager.clone();
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let extended = spawned(async move {
        m.extend(&ExtendRequest::new("spawned".parse().expect("user"), until))
            .await
    })
    .await
    .expect("task")
    .expect("extend");
    assert!(extended.all_ok(), "{extended:?}");
    let m = manager.clone();
    let swept = spawned(async move { m.sweep().await })
        .await
        .expect("task")
        .expect("sweep");
    assert!(swept.all_ok());
    let m = manager.clone();
    let ended = spawned(async move {
        m.revoke_request(&"spawned".parse().expect("user"), "req-other")
            .await
    })
    .await
    .expect("task")
    .expect("revoke one request");
    assert!(ended.all_ok());
    let m = manager.clone();
    let revoked = spawned(async move { m.revoke(&"spawned".parse().expect("user")).await })
        .await
        .expect("task")
        .expect("revoke");
    assert!(revoked.all_ok());
    assert!(!common::role_exists(&cluster, "spawned"));
}
