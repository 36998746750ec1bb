//! Attacks on access roles (PostgreSQL 16+) through the manager: a hostile member that keeps a
//! grant past its end by spoiling another database's access role, and a database dropped under
//! its access roles. The library-level attacks are in `crates/pg-grants/tests/`.

mod common;

use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{AccessLevel, InstanceId};
use rds_pg_access::pg_auth::ManualClock;

use common::{access_request as request, as_user, password_of};

const MINUTE: Duration = Duration::from_secs(60);

/// The access roles of `database` (by their comment).
fn access_roles_of(cluster: &TestCluster, database: &str) -> String {
    cluster
        .sql(
            "postgres",
            &format!(
                "SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles \
                 WHERE shobj_description(oid, 'pg_authid') LIKE '%\"database\":\"{database}\"%'"
            ),
        )
        .expect("query")
        .trim()
        .to_owned()
}

/// A schema `side` of app_owner (whom the connector acts for after the owner fix) in `db`.
fn side_schema(cluster: &TestCluster, db: &str) {
    cluster
        .sql(
            db,
            "CREATE SCHEMA side AUTHORIZATION app_owner; SET ROLE app_owner; \
             CREATE TABLE side.t (i int); INSERT INTO side.t VALUES (1)",
        )
        .expect("schema side");
}

/// Alice holds a long grant in `analytics` and a short one in `appdb`, and spoils the access
/// role of the long one (from appdb: an ACL entry naming it outside its database, which any
/// login makes with `ALTER DEFAULT PRIVILEGES` for itself). Applying her remaining grant in
/// analytics fails; the sweep must still end the short grant in appdb.
#[test]
fn an_ended_grant_never_waits_for_another_database() {
    pg_testkit::for_each_version(&[17, 18], |version| {
        let cluster = common::cluster_with_owner_fix(version);
        side_schema(&cluster, "analytics");
        let clock = ManualClock::new(SystemTime::now());
        let m = common::clocked_manager(&cluster, "attack", &clock, "");
        let rt = common::runtime();
        let long = rt
            .block_on(m.grant(&request(
                &m,
                "alice",
                "req-long",
                AccessLevel::ReadOnly,
                "8h",
                &["analytics/side"],
            )))
            .expect("long grant");
        assert!(long.is_complete(), "{long:?}");
        let login = as_user("alice", &password_of(&long));
        let short = rt
            .block_on(m.grant(&request(
                &m,
                "alice",
                "req-short",
                AccessLevel::ReadOnly,
                "1h",
                &["appdb/inventory"],
            )))
            .expect("short grant");
        assert!(short.is_complete(), "{short:?}");
        cluster
            .sql_as(&login, "appdb", "SELECT count(*) FROM inventory.items")
            .expect("alice reads inventory");
        let spoiled = access_roles_of(&cluster, "analytics");
        cluster
            .sql_as(
                &login,
                "appdb",
                &format!("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO \"{spoiled}\""),
            )
            .expect("any login may set its own default privileges");

        clock.advance(90 * MINUTE);
        let sweep = rt.block_on(m.sweep()).expect("sweep");
        assert!(
            cluster
                .sql_as(&login, "appdb", "SELECT count(*) FROM inventory.items")
                .is_err(),
            "{version}: alice kept reading inventory after req-short ended: {sweep:?}"
        );
        // The failure in analytics is reported, for the next sweep to finish.
        let local: InstanceId = rds_pg_access::LOCAL_TARGET.parse().expect("id");
        let report = sweep.results[&local]
            .as_ref()
            .expect("the instance answered");
        assert!(!report.is_clean(), "{version}: {report:?}");
    });
}

/// A database dropped while its access roles remain (a tenant owning it may drop it), and a role
/// a tenant forged naming a database that never existed: the sweep names them and still ages
/// and drops every other access role.
#[test]
fn a_dropped_database_never_stops_the_sweep_of_access_roles() {
    pg_testkit::for_each_version(&[17, 18], |version| {
        let cluster = common::cluster_with_owner_fix(version);
        cluster
            .sql("postgres", "CREATE DATABASE gone")
            .expect("database gone");
        side_schema(&cluster, "gone");
        let clock = ManualClock::new(SystemTime::now());
        let m = common::clocked_manager(&cluster, "attack", &clock, "");
        let rt = common::runtime();
        let granted = rt
            .block_on(m.grant(&request(
                &m,
                "bob",
                "req-1",
                AccessLevel::ReadOnly,
                "1h",
                &["appdb/inventory", "gone/side"],
            )))
            .expect("grant");
        assert!(granted.is_complete(), "{granted:?}");
        let (kept, gone) = (
            access_roles_of(&cluster, "appdb"),
            access_roles_of(&cluster, "gone"),
        );
        assert!(!kept.is_empty() && !gone.is_empty());
        // Bob's grant ends; the sweep revokes him and marks both roles idle.
        clock.advance(90 * MINUTE);
        let first = rt.block_on(m.sweep()).expect("sweep");
        let local: InstanceId = rds_pg_access::LOCAL_TARGET.parse().expect("id");
        let first = first.results[&local]
            .as_ref()
            .expect("the instance answered");
        assert_eq!(
            first.access_roles.marked_idle.len(),
            2,
            "{version}: {first:?}"
        );
        cluster
            .sql("postgres", "DROP DATABASE gone WITH (FORCE)")
            .expect("drop gone");
        // And a tenant with CREATEROLE forges an access role of a database that never existed.
        cluster
            .sql(
                "postgres",
                "CREATE ROLE tenant CREATEROLE; SET ROLE tenant; CREATE ROLE forged NOLOGIN; \
                 COMMENT ON ROLE forged IS '{\"rdspg\":1,\"kind\":\"access\",\"database\":\"nowhere\",\
                 \"level\":\"read-only\",\"follow_new_tables\":false}'",
            )
            .expect("forged role");

        clock.advance(25 * 60 * MINUTE);
        let second = rt.block_on(m.sweep()).expect("sweep");
        let second = second.results[&local]
            .as_ref()
            .unwrap_or_else(|e| panic!("{version}: the dropped database stopped the sweep: {e}"));
        let dropped: Vec<String> = second
            .access_roles
            .dropped
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(dropped, [kept.as_str()], "{version}: {second:?}");
        assert!(
            second
                .access_roles
                .blocked
                .iter()
                .any(|b| b.name == gone && b.reason.contains("gone")),
            "{version}: {second:?}"
        );
        assert!(
            second.refused.iter().any(|b| b.name == gone),
            "{version}: {second:?}"
        );
        assert!(
            second
                .access_roles
                .blocked
                .iter()
                .any(|b| b.name == "forged" && b.reason.contains("nowhere")),
            "{version}: {second:?}"
        );
        assert_eq!(access_roles_of(&cluster, "appdb"), "", "{version}");
    });
}
