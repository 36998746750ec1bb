//! A slow inventory consumer must not starve grants (issue 14, item 6): the inventory once
//! held a pooled connection per database (the grant pools) for as long as its sink took, so
//! with a slow sink and a small pool a grant on the same instance waited for the whole sync.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials, InventoryEntry, ManagerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_get_connections_while_a_slow_inventory_streams() {
    let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
    cluster
        .sql_as(
            cluster.master(),
            "appdb",
            "GRANT postgres TO apono_connector",
        )
        .expect("owner fix");
    let text = format!(
        "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let password = SecretString::from(cluster.connector().password.clone());
    let credentials =
        IntegrationCredentials::shared(Arc::new(StaticPassword::new("apono_connector", password)));
    let manager = AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
    // One connection per instance and database for grants: the tightest pool.
    .with_options(ManagerOptions::default().pool_size(1));

    // The sink stops at the first table of appdb until the grant below has finished: the
    // inventory is in the middle of appdb, as a slow consumer would keep it.
    let (release, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let (reached, at_appdb) = tokio::sync::oneshot::channel::<()>();
    let reached = Mutex::new(Some(reached));
    let inventory = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager
                .inventory(move |_, database, entry| {
                    if database == "appdb"
                        && matches!(entry, InventoryEntry::Table(_))
                        && let Some(reached) = reached.lock().expect("lock").take()
                    {
                        let _ = reached.send(());
                        // A slow consumer (off the runtime's workers, as a blocking sink should
                        // be). Bounded: a deadlock fails the test below instead of hanging it.
                        tokio::task::block_in_place(|| {
                            let _ = wait
                                .lock()
                                .expect("lock")
                                .recv_timeout(Duration::from_secs(60));
                        });
                    }
                })
                .await
        }
    });
    at_appdb.await.expect("the inventory reaches appdb");

    let request = AccessRequest::builder(
        "during_sync".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .build()
    .expect("request");
    let granted = tokio::time::timeout(Duration::from_secs(30), manager.grant(&request))
        .await
        .expect("the grant got connections while the inventory streamed")
        .expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);

    release.send(()).expect("release the sink");
    let report = inventory.await.expect("join").expect("inventory");
    assert!(report.all_ok(), "{report:?}");
    let counts = report.results.values().next().expect("one instance");
    assert!(counts.as_ref().expect("counts").tables > 0);
}
