//! End to end across the crates: an integration selected by AWS tag (moto), whose instances'
//! endpoints are overridden to two real throwaway clusters, the connector's password in
//! Secrets Manager (moto). Discover by tag → check → one grant spanning both instances → log in
//! to both → sweep after expiry (time moved forward, not slept) → the role is gone everywhere
//! and what the user created is kept, reassigned; two managers sweeping at once; one instance
//! stopped mid-run.

mod common;

use common::role_exists;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_testkit::{MotoFleet, MotoServer, TestCluster};
use rds_pg_access::AccessManager;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Identifier, Integration, Settings,
};
use rds_pg_access::pg_auth::{ManualClock, SdkConfig};

struct Fleet {
    moto: MotoServer,
    a: TestCluster,
    b: TestCluster,
    integration: Integration,
    aws: SdkConfig,
}

fn fleet() -> Fleet {
    let kit = MotoFleet::builder()
        .instance("billing", "billing")
        .start()
        .expect("start moto_server and two clusters");
    let settings = Settings::from_toml_str(&kit.settings_toml("")).expect("settings");
    let MotoFleet { moto, a, b, .. } = kit;
    let integration = settings.integrations()[0].clone();
    let aws = moto.sdk_config();
    // What an administrator runs once the check reports it (PostgreSQL 15 rules).
    for cluster in [&a, &b] {
        cluster
            .sql_as(
                cluster.master(),
                "appdb",
                "GRANT postgres TO apono_connector",
            )
            .expect("owner fix");
    }
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

fn request(manager: &AccessManager, user: &str, level: AccessLevel) -> AccessRequest {
    AccessRequest::builder(
        user.parse().expect("user"),
        level,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("orders-a/appdb/sales").expect("path"))
    .resource(manager.resource_path("orders-b/appdb/sales").expect("path"))
    .build()
    .expect("request")
}

/// Records the instances a fleet operation reports, in the order they finish, and those it
/// started, in the order they start.
#[derive(Debug, Default)]
struct Seen(
    std::sync::Mutex<Vec<(String, bool)>>,
    std::sync::Mutex<Vec<String>>,
);

impl rds_pg_access::FleetObserver for Seen {
    fn instance_started(&self, instance: &rds_pg_access::integration_model::InstanceId) {
        if let Ok(mut started) = self.1.lock() {
            started.push(instance.to_string());
        }
    }

    fn instance_finished(
        &self,
        instance: &rds_pg_access::integration_model::InstanceId,
        outcome: Result<(), &rds_pg_access::AccessError>,
    ) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((instance.to_string(), outcome.is_ok()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_check_grant_sweep_across_two_instances() {
    let fleet = fleet();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let seen = Arc::new(Seen::default());
    let manager = manager(&fleet, &clock)
        .with_observer(Arc::clone(&seen) as Arc<dyn rds_pg_access::FleetObserver>);

    // Discovery by tag: the two orders instances, at their overridden endpoints.
    let resolution = manager.targets().await.expect("discover");
    let names: Vec<String> = resolution
        .targets
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["orders-a", "orders-b"]);
    assert_eq!(resolution.targets[0].connect_to.port(), fleet.a.port());
    assert_eq!(resolution.targets[1].connect_to.port(), fleet.b.port());

    // Check: login with the Secrets Manager password works on both; the master's objects are
    // covered by the fix; app_owner's are reported with their fix.
    let report = manager.check().await.expect("check");
    for item in &report.items {
        if item.item == "owners" {
            assert!(
                item.ok || item.detail.contains("app_owner"),
                "unexpected owner problem: {item:?}"
            );
        } else {
            assert!(item.ok, "check item failed: {item:?}");
        }
    }
    let logins = report
        .items
        .iter()
        .filter(|i| i.item == "login" && i.ok)
        .count();
    assert_eq!(logins, 2, "{report:?}");

    // Sync over all instances: the inventory streams from both.
    let items = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let synced = manager
        .sync(|instance, database, entry| {
            if let rds_pg_access::InventoryEntry::Table(t) = entry
                && let Ok(mut items) = items.lock()
            {
                items.insert(format!("{instance}/{database}/{}/{}", t.schema, t.name));
            }
        })
        .await
        .expect("sync");
    assert!(synced.all_ok(), "{synced:?}");
    assert_eq!(
        seen.0.lock().expect("seen").len(),
        2,
        "sync reported both instances"
    );
    seen.0.lock().expect("seen").clear();
    seen.1.lock().expect("started").clear();
    let items = items.into_inner().expect("items");
    for instance in ["orders-a", "orders-b"] {
        assert!(
            items.contains(&format!("{instance}/appdb/sales/orders")),
            "{items:?}"
        );
    }

    // One grant spanning both instances: one password, one expiry, admin on sales so that the
    // user can create a table of their own.
    let granted = manager
        .grant(&request(&manager, "alice", AccessLevel::Admin))
        .await
        .expect("grant");
    assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    // One pool per instance and database was opened when first needed; idle ones close.
    assert!(manager.open_pools() >= 2, "{}", manager.open_pools());
    assert_eq!(manager.close_idle_pools(Duration::from_secs(3600)), 0);
    let open = manager.open_pools();
    assert_eq!(manager.close_idle_pools(Duration::ZERO), open);
    assert_eq!(manager.open_pools(), 0);

    // Each instance was reported as it finished, once.
    let mut reported = seen.0.lock().expect("seen").clone();
    reported.sort();
    assert_eq!(
        reported,
        [("orders-a".to_owned(), true), ("orders-b".to_owned(), true)]
    );
    // And each was reported as it started, once.
    let mut started = seen.1.lock().expect("started").clone();
    started.sort();
    assert_eq!(started, ["orders-a", "orders-b"]);
    let password = granted.password.expect("password auth gives a password");
    use rds_pg_access::pg_auth::ExposeSecret;
    let alice = pg_testkit::Credentials {
        user: "alice".to_owned(),
        password: password.expose_secret().to_owned(),
    };
    for cluster in [&fleet.a, &fleet.b] {
        cluster
            .sql_as(&alice, "appdb", "SELECT count(*) FROM sales.orders")
            .expect("alice reads on both instances");
    }
    fleet
        .a
        .sql_as(
            &alice,
            "appdb",
            "CREATE TABLE sales.alice_notes (n int); INSERT INTO sales.alice_notes VALUES (1), (2)",
        )
        .expect("alice creates a table");

    // Nothing has expired yet: a sweep changes nothing.
    let swept = manager.sweep().await.expect("sweep");
    assert!(swept.all_ok(), "{swept:?}");
    assert!(
        swept
            .results
            .values()
            .all(|r| r.as_ref().is_ok_and(|r| !r.skipped && r.swept.is_empty()))
    );
    assert!(role_exists(&fleet.a, "alice") && role_exists(&fleet.b, "alice"));

    // Two hours later the sweep revokes alice everywhere; her table is kept, reassigned.
    clock.advance(Duration::from_secs(2 * 3600));
    let swept = manager.sweep().await.expect("sweep");
    assert!(swept.all_ok(), "{swept:?}");
    for outcome in swept.results.values() {
        let roles = &outcome.as_ref().expect("ok").swept;
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].user, "alice");
    }
    assert!(!role_exists(&fleet.a, "alice") && !role_exists(&fleet.b, "alice"));
    let kept = fleet
        .a
        .sql(
            "appdb",
            "SELECT count(*) || ' ' || pg_get_userbyid(c.relowner) FROM sales.alice_notes, \
             pg_class c WHERE c.oid = 'sales.alice_notes'::regclass GROUP BY c.relowner",
        )
        .expect("the table is still there");
    // Owned by alice's own holder, `rdspg_holder_<16 hex digits>`.
    let kept = kept.trim();
    assert!(
        kept.starts_with("2 rdspg_holder_") && kept.len() == "2 rdspg_holder_".len() + 16,
        "{kept}"
    );
    drop(fleet.moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_sweep_at_once_and_a_stopped_instance_is_reported_then_completed() {
    let mut fleet = fleet();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let first = manager(&fleet, &clock);
    let second = manager(&fleet, &clock);

    for user in ["bob", "carol", "dave"] {
        let granted = first
            .grant(&request(&first, user, AccessLevel::ReadOnly))
            .await
            .expect("grant");
        assert!(granted.instances.all_ok(), "{:?}", granted.instances);
    }
    clock.advance(Duration::from_secs(2 * 3600));

    // Two replicas sweep at once: neither reports a conflict, each role is dropped once.
    let (one, two) = tokio::join!(first.sweep(), second.sweep());
    let (one, two) = (one.expect("sweep 1"), two.expect("sweep 2"));
    assert!(one.all_ok(), "{one:?}");
    assert!(two.all_ok(), "{two:?}");
    for instance in ["orders-a", "orders-b"] {
        let id = instance.parse().expect("id");
        let mut dropped: Vec<String> = [&one, &two]
            .iter()
            .flat_map(|r| r.results[&id].as_ref().expect("ok").swept.iter())
            .filter(|s| s.dropped_here)
            .map(|s| s.user.clone())
            .collect();
        dropped.sort();
        assert_eq!(dropped, ["bob", "carol", "dave"], "{instance}");
    }
    for user in ["bob", "carol", "dave"] {
        assert!(!role_exists(&fleet.a, user) && !role_exists(&fleet.b, user));
    }

    // Erin's access expires while instance b is stopped: the sweep finishes a, names b.
    let granted = first
        .grant(&request(&first, "erin", AccessLevel::ReadOnly))
        .await
        .expect("grant");
    assert!(granted.instances.all_ok());
    clock.advance(Duration::from_secs(2 * 3600));
    fleet.b.stop().expect("stop b");
    let swept = first.sweep().await.expect("sweep");
    let a: rds_pg_access::integration_model::InstanceId = "orders-a".parse().expect("id");
    let b: rds_pg_access::integration_model::InstanceId = "orders-b".parse().expect("id");
    assert!(swept.results[&a].is_ok(), "{swept:?}");
    // The address is in the connection error, the source of the facade's error.
    let err = rds_pg_access::error_chain(swept.results[&b].as_ref().expect_err("b is down"));
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(!role_exists(&fleet.a, "erin"));

    // After b restarts, the same sweep completes it.
    fleet.b.restart().expect("restart b");
    let swept = first.sweep().await.expect("sweep");
    assert!(swept.all_ok(), "{swept:?}");
    assert!(!role_exists(&fleet.b, "erin"));
    let user: Identifier = "erin".parse().expect("id");
    let again = first.revoke(&user).await.expect("revoke");
    assert!(
        again.all_ok(),
        "revoking a role already gone is fine: {again:?}"
    );
}
