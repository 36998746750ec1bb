//! Levels × scopes against real PostgreSQL with RDS emulation: the grantee logs in over a real
//! connection and every allowed operation works while every other one is refused.

mod common;

use common::*;
use pg_grants::quote::{Ident, QualifiedName};
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{ALL_VERSIONS, TestCluster, for_each_version, rds};

fn id(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier in test")
}

fn table(s: &str, t: &str) -> Scope {
    Scope::Table(QualifiedName::new(id(s), id(t)))
}

struct Probe {
    name: &'static str,
    db: &'static str,
    sql: &'static str,
}

const fn p(name: &'static str, sql: &'static str) -> Probe {
    Probe {
        name,
        db: rds::APP_DB,
        sql,
    }
}

const PROBES: &[Probe] = &[
    p("read orders", "SELECT count(*) FROM sales.orders"),
    p("read view", "SELECT count(*) FROM sales.order_totals"),
    p("read matview", "SELECT count(*) FROM sales.order_summary"),
    p("read customers", "SELECT count(*) FROM sales.customers"),
    p("read items", "SELECT count(*) FROM inventory.items"),
    p(
        "read partitioned",
        "SELECT count(*) FROM inventory.movements",
    ),
    p(
        "insert orders",
        "INSERT INTO sales.orders (customer_id, amount) VALUES (1, 1)",
    ),
    p("update orders", "UPDATE sales.orders SET amount = amount"),
    p("delete orders", "DELETE FROM sales.orders WHERE id = -1"),
    p("truncate orders", "TRUNCATE sales.orders"),
    p(
        "insert items",
        "INSERT INTO inventory.items VALUES (99, 'X', 1)",
    ),
    p("truncate items", "TRUNCATE inventory.items"),
    p(
        "create table in sales",
        "CREATE TABLE sales.probe_t (i int)",
    ),
    p(
        "create table in inventory",
        "CREATE TABLE inventory.probe_t (i int)",
    ),
    p("create schema", "CREATE SCHEMA probe_s"),
    p(
        "alter orders (owner only)",
        "ALTER TABLE sales.orders ADD COLUMN probe int",
    ),
    // Needs MAINTAIN (PostgreSQL 17+) or ownership.
    p(
        "refresh matview",
        "REFRESH MATERIALIZED VIEW sales.order_summary",
    ),
    Probe {
        name: "read other database",
        db: rds::OTHER_DB,
        sql: "SELECT count(*) FROM reports.daily",
    },
];

/// Runs every probe as `user` inside a rolled-back transaction; returns the names that worked.
async fn allowed(cluster: &TestCluster, user: &str, password: &str) -> Vec<&'static str> {
    let mut ok = Vec::new();
    for db in [rds::APP_DB, rds::OTHER_DB] {
        let client = try_connect(cluster, user, password, db)
            .await
            .expect("the grantee logs in");
        for probe in PROBES.iter().filter(|p| p.db == db) {
            match try_sql(&client, &format!("BEGIN; {}; ROLLBACK", probe.sql)).await {
                Ok(()) => ok.push(probe.name),
                Err(e) => {
                    assert!(
                        e.starts_with("42501"),
                        "{user}: {} failed otherwise than by permission: {e}",
                        probe.name
                    );
                    try_sql(&client, "ROLLBACK").await.expect("rollback");
                }
            }
        }
    }
    ok
}

/// Every level × scope row on every version, one cluster per version shared by all rows.
#[test]
fn levels_by_scopes_matrix() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            use AccessLevel::*;
            let rows: Vec<(&str, AccessLevel, Scope, Vec<&str>)> = vec![
                (
                    "ro_db",
                    ReadOnly,
                    Scope::Database,
                    vec![
                        "read orders",
                        "read view",
                        "read matview",
                        "read customers",
                        "read items",
                        "read partitioned",
                    ],
                ),
                (
                    "ro_schema",
                    ReadOnly,
                    Scope::Schema(id("sales")),
                    vec!["read orders", "read view", "read matview", "read customers"],
                ),
                (
                    "ro_table",
                    ReadOnly,
                    table("sales", "orders"),
                    vec!["read orders"],
                ),
                (
                    "rw_schema",
                    ReadWrite,
                    Scope::Schema(id("sales")),
                    vec![
                        "read orders",
                        "read view",
                        "read matview",
                        "read customers",
                        "insert orders",
                        "update orders",
                        "delete orders",
                    ],
                ),
                // The serial column's sequence comes with the table, so INSERT works.
                (
                    "rw_table",
                    ReadWrite,
                    table("sales", "orders"),
                    vec![
                        "read orders",
                        "insert orders",
                        "update orders",
                        "delete orders",
                    ],
                ),
                (
                    "admin_schema",
                    Admin,
                    Scope::Schema(id("sales")),
                    vec![
                        "read orders",
                        "read view",
                        "read matview",
                        "read customers",
                        "insert orders",
                        "update orders",
                        "delete orders",
                        "truncate orders",
                        "create table in sales",
                    ],
                ),
                (
                    "admin_table",
                    Admin,
                    table("inventory", "items"),
                    vec!["read items", "insert items", "truncate items"],
                ),
                (
                    "admin_db",
                    Admin,
                    Scope::Database,
                    vec![
                        "read orders",
                        "read view",
                        "read matview",
                        "read customers",
                        "read items",
                        "read partitioned",
                        "insert orders",
                        "update orders",
                        "delete orders",
                        "truncate orders",
                        "insert items",
                        "truncate items",
                        "create table in sales",
                        "create table in inventory",
                        "create schema",
                    ],
                ),
            ];
            for (user, level, scope, mut want) in rows {
                // MAINTAIN is part of admin on 17+ (PG 17 release notes): REFRESH then works.
                let maintain = level == Admin && v >= 17 && scope != table("inventory", "items");
                if maintain {
                    want.push("refresh matview");
                }
                let pw = new_user(&s, user, level).await;
                let grants = [Grant::new(scope.clone(), level)];
                let first = s.apply(&id(user), &grants).await.unwrap();
                assert!(!first.plan.is_empty(), "{v} {user}");
                // The plan names MAINTAIN exactly where the server has it and the level grants it.
                let sql = first.plan.to_string();
                assert_eq!(
                    sql.contains("MAINTAIN"),
                    level == Admin && v >= 17,
                    "{v} {user}: {sql}"
                );
                // Idempotent: the second time plans and sends nothing.
                let second = s.apply(&id(user), &grants).await.unwrap();
                assert!(second.plan.is_empty(), "{v} {user}: {}", second.plan);
                assert_eq!(second.attempts, 0);
                let got = allowed(&cluster, user, &pw).await;
                assert_eq!(got, want, "PostgreSQL {v}, {user}: {level:?} on {scope:?}");
            }
        });
    });
}

#[test]
fn owners_maintain_drift_and_partial_revoke_per_version() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            let fixes = fix_owners(&cluster, &s).await;
            if v >= 16 {
                // The master created the connector, so on 16+ it is a member of the connector
                // and the connector cannot join it (circular): the master hands out grant
                // options instead, while app_owner can still be joined with INHERIT.
                assert!(fixes.contains(&r#"GRANT "app_owner" TO "apono_connector" WITH INHERIT TRUE, SET FALSE;"#.to_owned()), "{fixes:?}");
                assert!(!fixes.iter().any(|f| f.starts_with(r#"GRANT "postgres" TO"#)), "{fixes:?}");
                let by_option: Vec<&String> = fixes.iter().filter(|f| f.ends_with("WITH GRANT OPTION;")).collect();
                assert_eq!(by_option.len(), fixes.len() - 1, "{fixes:?}");
                assert!(by_option.iter().any(|f| f.contains(r#"ON TABLE "sales"."orders" TO "apono_connector""#)), "{fixes:?}");
                assert!(by_option.iter().any(|f| f.contains(r#"ON DATABASE "appdb""#)), "{fixes:?}");
            } else {
                assert_eq!(
                    fixes,
                    [r#"GRANT "app_owner" TO "apono_connector";"#, r#"GRANT "postgres" TO "apono_connector";"#],
                );
            }

            // MAINTAIN exists on 17+: admin may refresh a materialized view it does not own.
            let pw = new_user(&s, "maint", AccessLevel::Admin).await;
            s.apply(&id("maint"), &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)]).await.unwrap();
            let u = try_connect(&cluster, "maint", &pw, rds::APP_DB).await.unwrap();
            let refresh = try_sql(&u, "REFRESH MATERIALIZED VIEW sales.order_summary").await;
            assert_eq!(refresh.is_ok(), v >= 17, "{v}: {refresh:?}");
            assert_eq!(
                su(&cluster, rds::APP_DB, &format!("SELECT count(*) FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = 'sales.orders'::regclass)) a WHERE a.grantee = '{}'::regrole AND a.privilege_type = 'MAINTAIN'", grantee(&s, "maint", &Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)))),
                if v >= 17 { "1" } else { "0" }
            );

            // Drift: someone adds and removes privileges behind our back; apply repairs exactly that.
            let pw = new_user(&s, "drift", AccessLevel::ReadOnly).await;
            let grants = [
                Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly),
                Grant::new(table("sales", "orders"), AccessLevel::ReadOnly),
            ];
            s.apply(&id("drift"), &grants).await.unwrap();
            // Who holds the privileges: drift itself before 16, its access roles on 16+.
            let inv = grantee(&s, "drift", &grants[0]);
            let ord = grantee(&s, "drift", &grants[1]);
            // The connector granted as a member of app_owner, so app_owner is recorded as the
            // grantor (on every version) and the owner's own REVOKE removes it.
            assert_eq!(
                su(&cluster, rds::APP_DB, &format!("SELECT string_agg(DISTINCT a.grantor::regrole::text, ',') FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = 'inventory.items'::regclass)) a WHERE a.grantee = '{inv}'::regrole")),
                "app_owner"
            );
            su(&cluster, rds::APP_DB, &format!("SET ROLE app_owner; GRANT DELETE ON inventory.items TO \"{inv}\"; REVOKE SELECT ON inventory.items FROM \"{inv}\""));
            let plan = s.plan(&id("drift"), &grants).await.unwrap();
            assert_eq!(
                plan.to_string(),
                format!("REVOKE DELETE ON TABLE \"inventory\".\"items\" FROM \"{inv}\";\nGRANT SELECT ON TABLE \"inventory\".\"items\" TO \"{inv}\";\n")
            );
            s.apply(&id("drift"), &grants).await.unwrap();
            assert!(s.plan(&id("drift"), &grants).await.unwrap().is_empty());
            if v >= 16 {
                // A privilege granted to the user itself by hand is drift too: revoked.
                su(&cluster, rds::APP_DB, "SET ROLE app_owner; GRANT DELETE ON inventory.items TO drift");
                let plan = s.plan(&id("drift"), &grants).await.unwrap();
                assert_eq!(plan.to_string(), "REVOKE DELETE ON TABLE \"inventory\".\"items\" FROM \"drift\";\n");
                s.apply(&id("drift"), &grants).await.unwrap();
                assert!(s.plan(&id("drift"), &grants).await.unwrap().is_empty());
            }

            // Revoke one grant without dropping the role: sales.orders goes, inventory stays.
            let u = try_connect(&cluster, "drift", &pw, rds::APP_DB).await.unwrap();
            try_sql(&u, "SELECT 1 FROM sales.orders").await.unwrap();
            let report = s.apply(&id("drift"), &grants[..1]).await.unwrap();
            let want = if v >= 16 {
                format!("SET LOCAL ROLE \"rdspg_grantor\"; REVOKE \"{ord}\" FROM \"drift\"; SET LOCAL ROLE NONE;\n")
            } else {
                "REVOKE USAGE ON SCHEMA \"sales\" FROM \"drift\";\nREVOKE SELECT ON TABLE \"sales\".\"orders\" FROM \"drift\";\nREVOKE SELECT ON SEQUENCE \"sales\".\"orders_id_seq\" FROM \"drift\";\n".to_owned()
            };
            assert_eq!(report.plan.to_string(), want);
            let err = try_sql(&u, "SELECT 1 FROM sales.orders").await.unwrap_err();
            assert!(err.starts_with("42501"), "{err}");
            try_sql(&u, "SELECT 1 FROM inventory.items").await.unwrap();
            assert_eq!(su(&cluster, "postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'drift'"), "t");
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = 'drift'::regrole AND c.relnamespace = 'sales'::regnamespace"),
                "0"
            );

            // A scope naming a missing object changes nothing.
            let err = s.apply(&id("drift"), &[Grant::new(table("sales", "nope"), AccessLevel::ReadOnly)]).await.unwrap_err();
            assert!(matches!(err, GrantsError::ObjectNotFound { kind: "table", .. }), "{err}");
        });
    });
}

#[test]
fn concurrent_grants_from_two_replicas_converge() {
    for_each_version(&[15], |v| {
        let cluster = start(v, false);
        su(
            &cluster,
            rds::APP_DB,
            "CREATE EXTENSION pgcrypto SCHEMA sales; REVOKE EXECUTE ON FUNCTION sales.digest(text, text) FROM PUBLIC",
        );
        runtime().block_on(async {
            let a = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let b = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let sa = Session::new(&a.client, Settings::default())
                .await
                .unwrap()
                .with_notices(a.notices.clone());
            let sb = Session::new(&b.client, Settings::default())
                .await
                .unwrap()
                .with_notices(b.notices.clone());
            // Extension members (owned by the bootstrap superuser, as on RDS) are in no scope, so
            // they need no fix that nobody could run.
            let fixes = fix_owners(&cluster, &sa).await;
            assert!(!fixes.iter().any(|f| f.contains("rdsadmin")), "{fixes:?}");
            let mut names = Vec::new();
            for i in 0..4 {
                let n = format!("conc{i}");
                new_user(&sa, &n, AccessLevel::ReadWrite).await;
                names.push(n);
            }
            let grants = [Grant::new(Scope::Database, AccessLevel::ReadWrite)];
            // Both replicas grant the same roles at once, over overlapping objects.
            let fa = async {
                for n in &names {
                    sa.apply(&id(n), &grants).await.unwrap();
                }
            };
            let fb = async {
                for n in names.iter().rev() {
                    sb.apply(&id(n), &grants).await.unwrap();
                }
            };
            tokio::join!(fa, fb);
            for n in &names {
                assert!(sa.plan(&id(n), &grants).await.unwrap().is_empty(), "{n}");
                assert_eq!(
                    su(
                        &cluster,
                        rds::APP_DB,
                        &format!("SELECT has_table_privilege('{n}', 'inventory.items', 'INSERT')")
                    ),
                    "t"
                );
            }
        });
    });
}

#[test]
fn nothing_happened_warnings_are_captured_from_the_connection() {
    for_each_version(&[15], |v| {
        let cluster = start(v, false);
        // The connector holds SELECT without grant option: granting it on draws a 01007 warning.
        su(
            &cluster,
            rds::APP_DB,
            "GRANT USAGE ON SCHEMA sales TO apono_connector; GRANT SELECT ON sales.orders TO apono_connector",
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            try_sql(&c.client, "GRANT SELECT ON sales.orders TO app_owner")
                .await
                .unwrap();
            let notices = c.notices.take();
            assert!(
                notices.iter().any(|n| n.means_nothing_happened()
                    && n.message.contains("no privileges were granted")),
                "{notices:?}"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT has_table_privilege('app_owner', 'sales.orders', 'SELECT')"
                ),
                "f"
            );
        });
    });
}

/// `pg_default_acl` entries naming `role` as grantee, as `creator/schema/type:privileges`.
fn default_acls(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        rds::APP_DB,
        &format!(
            "SELECT coalesce(string_agg(e, ',' ORDER BY e), '') FROM ( \
               SELECT pg_get_userbyid(d.defaclrole) || '/' || n.nspname || '/' || d.defaclobjtype::text || ':' || a.privilege_type AS e \
                 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a \
                WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = '{role}')) x"
        ),
    )
}

#[test]
fn following_new_tables_with_default_privileges() {
    // ALTER DEFAULT PRIVILEGES FOR ROLE <creator> IN SCHEMA … (PostgreSQL docs, ALTER DEFAULT
    // PRIVILEGES): objects the creator makes later carry the grant.
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            let pw = new_user(&s, "follower", AccessLevel::ReadOnly).await;
            let follow = [Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly).follow_new_tables(true)];
            let report = s.apply(&id("follower"), &follow).await.unwrap();
            let sql = report.plan.to_string();
            // On 16+ the entries name the access role the follower is a member of.
            let holder = grantee(&s, "follower", &follow[0]);
            for want in [
                format!(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT SELECT ON TABLES TO "{holder}";"#),
                format!(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT SELECT ON SEQUENCES TO "{holder}";"#),
            ] {
                assert!(sql.contains(&want), "{v}: {sql}");
            }
            assert_eq!(default_acls(&cluster, &holder), "app_owner/inventory/S:SELECT,app_owner/inventory/r:SELECT");
            assert!(s.plan(&id("follower"), &follow).await.unwrap().is_empty());

            // The owner creates a table during the access window: the grantee reads it.
            su(&cluster, rds::APP_DB, "SET ROLE app_owner; CREATE TABLE inventory.later (i int); INSERT INTO inventory.later VALUES (1), (2)");
            let u = try_connect(&cluster, "follower", &pw, rds::APP_DB).await.unwrap();
            let n: i64 = u.query_one("SELECT count(*) FROM inventory.later", &[]).await.unwrap().get(0);
            assert_eq!(n, 2, "{v}");
            assert!(s.plan(&id("follower"), &follow).await.unwrap().is_empty(), "{v}: the new table is as planned");

            // Without following, the next apply removes the entries and keeps what exists.
            let plain = [Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly)];
            let report = s.apply(&id("follower"), &plain).await.unwrap();
            if s.uses_access_roles() {
                // The follower leaves the following role for the plain one, which the sweep
                // drops once idle (see `pg_grants::access`).
                assert!(report.plan.to_string().contains(&format!(r#"REVOKE "{holder}" FROM "follower";"#)), "{}", report.plan);
            } else {
                assert!(report.plan.to_string().contains(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" REVOKE SELECT ON TABLES FROM "follower";"#), "{}", report.plan);
            }
            assert_eq!(default_acls(&cluster, "follower"), "");
            u.query_one("SELECT count(*) FROM inventory.later", &[]).await.unwrap();

            // A table scope cannot follow new tables: refused, nothing changes.
            let err = s.apply(&id("follower"), &[Grant::new(table("inventory", "items"), AccessLevel::ReadOnly).follow_new_tables(true)]).await.unwrap_err();
            assert!(matches!(err, GrantsError::InvalidGrant { .. }), "{err}");
            assert!(s.plan(&id("follower"), &plain).await.unwrap().is_empty());

            // sales belongs to the master. On 16+ the master is a member of the connector it
            // created, so the connector can never act for it nor revoke what its future tables
            // would carry: following is refused, nothing changes. On 15 the connector joined the
            // master (fix_owners), so it works like inventory.
            let sales = [Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly).follow_new_tables(true)];
            let both = [follow[0].clone(), sales[0].clone()];
            if v >= 16 {
                let before = default_acls(&cluster, &holder);
                let err = s.apply(&id("follower"), &both).await.unwrap_err();
                match &err {
                    GrantsError::CannotFollowNewTables { creator, schema, .. } => {
                        assert_eq!((creator.as_str(), schema.as_str()), ("postgres", "sales"));
                    }
                    other => panic!("{v}: {other}"),
                }
                assert_eq!(default_acls(&cluster, "follower"), "", "{v}: a refused plan changed nothing");
                assert_eq!(default_acls(&cluster, &holder), before, "{v}: a refused plan changed nothing");
                // Except that ending access never waits for granting it: the plain grant, which
                // the request no longer wants, ended first (see `Session::apply`).
                assert_eq!(memberships(&cluster, "follower"), "|apono_connector,rdspg_managed", "{v}");
                s.apply(&id("follower"), &follow).await.unwrap();
                assert_eq!(default_acls(&cluster, &holder).split(',').count(), 2, "{v}");
            } else {
                s.apply(&id("follower"), &both).await.unwrap();
                assert!(s.plan(&id("follower"), &both).await.unwrap().is_empty());
                su(&cluster, rds::APP_DB, "SET ROLE postgres; CREATE TABLE sales.later (i int)");
                u.query_one("SELECT count(*) FROM sales.later", &[]).await.unwrap();
                assert_eq!(default_acls(&cluster, "follower").split(',').count(), 4, "{v}");
            }

            // Revocation removes every entry.
            drop(u);
            // The role touched appdb only, so no other database is needed.
            let only_appdb = |db: String| async move {
                Err::<tokio_postgres::Client, GrantsError>(GrantsError::Connect {
                    database: db,
                    source: "this test connects to appdb only".into(),
                })
            };
            let report = s.revoke_role(&id("follower"), &only_appdb).await.unwrap();
            assert!(report.dropped, "{v}");
            assert_eq!(report.databases, [rds::APP_DB], "{v}");
            if v >= 16 {
                // The entries are the access roles', kept while they are idle: the sweep marks
                // them, and drops them (privileges, default privileges and all) after the grace.
                assert_eq!(default_acls(&cluster, "follower"), "", "{v}");
                let now = time::OffsetDateTime::now_utc();
                let first = s.sweep_access_roles(now).await.unwrap();
                assert!(first.marked_idle.iter().any(|r| r.as_str() == holder) && first.dropped.is_empty(), "{v}: {first:?}");
                let later = s.sweep_access_roles(now + pg_grants::access::ACCESS_ROLE_GRACE).await.unwrap();
                assert!(later.dropped.iter().any(|r| r.as_str() == holder), "{v}: {later:?}");
                assert_eq!(su(&cluster, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'rdspg_access_%'"), "0", "{v}: {later:?}");
            }
            assert_eq!(su(&cluster, rds::APP_DB, "SELECT count(*) FROM pg_default_acl"), "0", "{v}");
        });
    });
}

/// Issue 19: the inspection reads only the objects in scope and those whose ACL names the role
/// (its `pg_shdepend` entries), not every object of the database; drift outside the scope
/// (a table, a schema, a function, a serial sequence granted by hand) is still found and
/// revoked, and a table scope still covers its serial sequence.
#[test]
fn drift_outside_the_scope_is_found_through_the_roles_acl_dependencies() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            fix_owners(&cluster, &s).await;
            su(&cluster, rds::APP_DB, "SET ROLE app_owner; \
                CREATE FUNCTION inventory.restock(n int) RETURNS int LANGUAGE sql AS 'SELECT n'; \
                REVOKE EXECUTE ON FUNCTION inventory.restock(int) FROM PUBLIC; \
                CREATE TABLE inventory.tags (id serial PRIMARY KEY, tag text)");
            let pw = new_user(&s, "roamer", AccessLevel::ReadOnly).await;
            let grants = [Grant::new(table("sales", "orders"), AccessLevel::ReadWrite)];
            s.apply(&id("roamer"), &grants).await.unwrap();
            // The serial sequence of sales.orders comes with the table scope.
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT has_sequence_privilege('roamer', pg_get_serial_sequence('sales.orders', 'id'), 'USAGE')"),
                "t"
            );
            // Behind our back, outside the scope.
            su(&cluster, rds::APP_DB, "SET ROLE app_owner; \
                GRANT USAGE ON SCHEMA inventory TO roamer; GRANT SELECT ON inventory.items TO roamer; \
                GRANT EXECUTE ON FUNCTION inventory.restock(int) TO roamer; \
                GRANT USAGE ON SEQUENCE inventory.tags_id_seq TO roamer");
            let plan = s.plan(&id("roamer"), &grants).await.unwrap().to_string();
            for expected in [
                r#"REVOKE USAGE ON SCHEMA "inventory" FROM "roamer";"#,
                r#"REVOKE SELECT ON TABLE "inventory"."items" FROM "roamer";"#,
                r#"REVOKE EXECUTE ON ROUTINE "inventory"."restock"(n integer) FROM "roamer";"#,
                r#"REVOKE USAGE ON SEQUENCE "inventory"."tags_id_seq" FROM "roamer";"#,
            ] {
                assert!(plan.contains(expected), "{v}: missing {expected} in\n{plan}");
            }
            s.apply(&id("roamer"), &grants).await.unwrap();
            assert!(s.plan(&id("roamer"), &grants).await.unwrap().is_empty());
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT has_table_privilege('roamer', 'inventory.items', 'SELECT'), \
                    has_function_privilege('roamer', 'inventory.restock(int)', 'EXECUTE'), \
                    has_schema_privilege('roamer', 'inventory', 'USAGE')"),
                "f|f|f"
            );
            let u = try_connect(&cluster, "roamer", &pw, rds::APP_DB).await.unwrap();
            try_sql(&u, "INSERT INTO sales.orders (customer_id, amount) VALUES (1, 1)").await.unwrap();
        });
    });
}
