//! Many connector sessions granting on the same schemas at once (what four replicas and four
//! clients do under load, tests/load_replicas.rs): PostgreSQL answers some of them `tuple
//! concurrently updated` (a GRANT does not lock the schema's or table's catalog row), and
//! every grant must still succeed, retried with random waits instead of in step.

mod common;

use common::*;
use pg_grants::{AccessLevel, Session};

const USERS: usize = 24;

#[test]
fn concurrent_grants_on_one_schema_all_succeed() {
    let cluster = start(15, false);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let setup = connect(&cluster, cluster.connector(), "appdb").await;
        let s = owner_fixed_session(&cluster, &setup).await;
        for i in 0..USERS {
            new_user(&s, &format!("cg_{i}"), AccessLevel::ReadOnly).await;
        }
        let mut connections = Vec::new();
        for _ in 0..USERS {
            connections.push(connect(&cluster, cluster.connector(), "appdb").await);
        }
        let grants = connections.iter().enumerate().map(|(i, c)| async move {
            let session = Session::new(&c.client, pg_grants::Settings::default())
                .await
                .expect("a session");
            session
                .apply(&id(&format!("cg_{i}")), &[sales_ro(), inventory_ro()])
                .await
                .map(|report| report.attempts)
        });
        let results = futures_util::future::join_all(grants).await;
        let failed: Vec<String> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("cg_{i}: {e}")))
            .collect();
        assert!(failed.is_empty(), "grants failed: {failed:#?}");
        let retried = results.iter().flatten().filter(|a| **a > 1).count();
        println!("{USERS} concurrent grants on sales and inventory: {retried} needed more than one attempt");
    });
    for i in 0..USERS {
        let held = su(
            &cluster,
            "appdb",
            &format!(
                "SELECT has_schema_privilege('cg_{i}', 'sales', 'USAGE') \
                 AND has_schema_privilege('cg_{i}', 'inventory', 'USAGE') \
                 AND has_table_privilege('cg_{i}', 'sales.orders', 'SELECT')"
            ),
        );
        assert_eq!(held, "t", "cg_{i}");
    }
}
