//! Attacks on access roles (PostgreSQL 16+): a hostile member, a hostile second member, a
//! hostile `CREATEROLE` tenant, against real servers (17 and 18), with real logins.

mod common;

use common::*;
use pg_grants::access::ACCESS_ROLE_GRACE;
use pg_grants::quote::QualifiedName;
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{for_each_version, rds};
use time::OffsetDateTime;

const VERSIONS: &[u32] = &[17, 18];

async fn login(
    cluster: &pg_testkit::TestCluster,
    user: &str,
    pw: &str,
    db: &str,
) -> tokio_postgres::Client {
    try_connect(cluster, user, pw, db)
        .await
        .unwrap_or_else(|e| panic!("{user} logging in to {db}: {e}"))
}

async fn reads(client: &tokio_postgres::Client, table: &str) -> Result<(), String> {
    try_sql(client, &format!("SELECT 1 FROM {table} LIMIT 1")).await
}

/// `ALTER DEFAULT PRIVILEGES` a login may always run for itself, in a database other than the
/// access role's: an ACL entry naming the access role elsewhere (pg_shdepend `'a'`), which makes
/// the role unfit (see `Session::access_role_problems`).
fn spoil_sql(access_role: &str) -> String {
    format!("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO \"{access_role}\"")
}

/// Whether `user` is a member of `role`.
fn is_member(cluster: &pg_testkit::TestCluster, user: &str, role: &str) -> bool {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_auth_members WHERE member = '{user}'::regrole AND roleid = '{role}'::regrole"
        ),
    ) != "0"
}

/// A hostile member holding two grants spoils the access role of the long one (an ACL entry
/// naming it in another database, which any login may make with `ALTER DEFAULT PRIVILEGES` for
/// itself), so that giving it "exactly the remaining grant" fails. Ending the short grant must
/// still end it: its membership goes, its open session stops reading.
#[test]
fn a_member_cannot_keep_an_ended_grant_by_spoiling_the_access_role_of_another() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), &[sales_ro(), inventory_ro()]).await.unwrap();
            let sales = grantee(&s, "alice", &sales_ro());
            let inventory = grantee(&s, "alice", &inventory_ro());
            let alice = login(&cluster, "alice", &pw, rds::APP_DB).await;
            let elsewhere = login(&cluster, "alice", &pw, rds::OTHER_DB).await;
            try_sql(&elsewhere, &spoil_sql(&inventory)).await.unwrap();
            reads(&alice, "sales.orders").await.unwrap();

            // The sales grant ends (the manager applies the remaining grant).
            let ended = s.apply(&id("alice"), &[inventory_ro()]).await;
            assert!(!is_member(&cluster, "alice", &sales), "{v}: {ended:?}");
            let err = reads(&alice, "sales.orders").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
            // The spoiled role is still refused and says why; alice keeps what she had there.
            assert!(
                matches!(&ended, Err(GrantsError::UnsafeServiceRole { role, .. }) if *role == inventory),
                "{v}: {ended:?}"
            );
            reads(&alice, "inventory.items").await.unwrap();
            // And her revocation takes everything.
            drop((alice, elsewhere));
            assert!(s.revoke_role(&id("alice"), &connector_for(&cluster)).await.unwrap().dropped, "{v}");
        });
    });
}

/// A member with the admin level owns what it creates in the schema, which the connector can
/// neither grant nor revoke on (it does not act for users): the admin access role's next plan
/// fails (OwnerMembershipMissing), and so does the sweep's repair of it (logged, not stopping
/// the sweep). Neither that nor a privilege such a member grants another user directly (which
/// the connector cannot revoke either) may keep a grant from ending.
#[test]
fn objects_and_grants_of_an_admin_member_never_keep_a_grant_from_ending() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let sales_admin = Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin);
            let eve_pw = new_user(&s, "eve", AccessLevel::Admin).await;
            let alice_pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("eve"), &[sales_admin.clone(), inventory_ro()])
                .await
                .unwrap();
            s.apply(&id("alice"), &[sales_ro(), inventory_ro()])
                .await
                .unwrap();
            let eve = login(&cluster, "eve", &eve_pw, rds::APP_DB).await;
            let alice = login(&cluster, "alice", &alice_pw, rds::APP_DB).await;
            try_sql(
                &eve,
                "CREATE TABLE sales.eve_t (i int); GRANT SELECT ON sales.eve_t TO alice",
            )
            .await
            .unwrap();

            // Eve's inventory grant ends while her admin grant goes on.
            let ended = s
                .apply(&id("eve"), std::slice::from_ref(&sales_admin))
                .await;
            assert!(
                matches!(ended, Err(GrantsError::OwnerMembershipMissing { .. })),
                "{v}: {ended:?}"
            );
            let err = reads(&eve, "inventory.items").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
            reads(&eve, "sales.orders").await.unwrap();
            // Alice's sales grant ends; eve's gift to her is eve's, not the library's.
            let ended = s.apply(&id("alice"), &[inventory_ro()]).await;
            assert!(
                matches!(ended, Err(GrantsError::OwnerMembershipMissing { .. })),
                "{v}: {ended:?}"
            );
            let err = reads(&alice, "sales.orders").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
            reads(&alice, "inventory.items").await.unwrap();
            // The sweep cannot repair the admin role, and goes on.
            let swept = s
                .sweep_access_roles(OffsetDateTime::now_utc())
                .await
                .unwrap();
            assert!(
                swept.blocked.is_empty() && swept.repaired.is_empty(),
                "{v}: {swept:?}"
            );
            drop((eve, alice));
        });
    });
}

/// A tenant with CREATEROLE makes a role carrying an access role's comment and grants it to a
/// user. The library never takes it for its own: the user's grants and revocation work, and
/// the library never revokes (or grants) the tenant's role, even when the tenant hands the
/// connector ADMIN OPTION on it.
#[test]
fn a_forged_access_role_granted_to_a_user_is_never_touched_and_blocks_nothing() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "bob", AccessLevel::ReadOnly).await;
            new_user(&s, "carl", AccessLevel::ReadOnly).await;
            su(&cluster, "postgres", "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw-1'");
            let tenant = login(&cluster, "tenant", "tenant-pw-1", "postgres").await;
            let forged = s.access_role_of(&sales_ro()).unwrap().key.comment(None).replace("sales", "elsewhere");
            try_sql(&tenant, &format!(
                "CREATE ROLE fake NOLOGIN NOINHERIT; COMMENT ON ROLE fake IS '{forged}'; GRANT fake TO bob; \
                 CREATE ROLE fake2 NOLOGIN NOINHERIT; COMMENT ON ROLE fake2 IS '{forged}'; GRANT fake2 TO carl; \
                 GRANT fake2 TO apono_connector WITH ADMIN OPTION"
            ))
            .await
            .unwrap();

            s.apply(&id("bob"), &[sales_ro()]).await.unwrap();
            let bob = login(&cluster, "bob", &pw, rds::APP_DB).await;
            reads(&bob, "sales.orders").await.unwrap();
            s.apply(&id("bob"), &[]).await.unwrap();
            assert!(reads(&bob, "sales.orders").await.is_err(), "{v}");
            assert!(is_member(&cluster, "bob", "fake"), "{v}");
            let plan = s.apply(&id("carl"), &[sales_ro()]).await.unwrap().plan.to_string();
            assert!(!plan.contains("fake2"), "{v}: {plan}");
            assert!(is_member(&cluster, "carl", "fake2"), "{v}");
            drop(bob);
            assert!(s.revoke_role(&id("bob"), &connector_for(&cluster)).await.unwrap().dropped, "{v}");
        });
    });
}

/// What a member (or anyone) can hang on an access role in another database, or grant it on
/// its own objects in this one, may keep the role from being dropped: the sweep says so and
/// goes on with every other access role.
#[test]
fn the_sweep_goes_on_past_an_access_role_it_cannot_drop() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let grants = [
                sales_ro(),
                inventory_ro(),
                Grant::new(Scope::Database, AccessLevel::ReadOnly),
                Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadWrite),
            ];
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), &grants).await.unwrap();
            let roles: Vec<String> = grants.iter().map(|g| grantee(&s, "alice", g)).collect();
            let elsewhere = login(&cluster, "alice", &pw, rds::OTHER_DB).await;
            // Defaults for (not to) an access role, and a policy naming one, in another
            // database: neither makes the role unfit, both keep DROP ROLE from working.
            try_sql(&elsewhere, &format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"{}\" GRANT SELECT ON TABLES TO PUBLIC; \
                 CREATE TEMP TABLE t (i int); CREATE POLICY p ON t TO \"{}\" USING (true)",
                roles[0], roles[1]
            ))
            .await
            .unwrap();
            // A tenant's own table in this database, granted to an access role.
            as_master(&cluster, rds::APP_DB, "CREATE ROLE tenant LOGIN CREATEROLE; GRANT CREATE ON DATABASE appdb TO tenant");
            su(&cluster, rds::APP_DB, &format!(
                "SET ROLE tenant; CREATE SCHEMA tenant_s; CREATE TABLE tenant_s.t (i int); GRANT SELECT ON tenant_s.t TO \"{}\"",
                roles[2]
            ));
            s.apply(&id("alice"), &[]).await.unwrap();

            let now = OffsetDateTime::now_utc();
            let marked = s.sweep_access_roles(now).await.unwrap();
            assert_eq!(marked.marked_idle.len(), 4, "{v}: {marked:?}");
            let swept = s.sweep_access_roles(now + ACCESS_ROLE_GRACE).await;
            let swept = swept.unwrap_or_else(|e| panic!("{v}: one role stopped the sweep: {e}"));
            // The fourth role went; each of the others is named with its reason.
            assert_eq!(swept.dropped.iter().map(|r| r.to_string()).collect::<Vec<_>>(), [roles[3].clone()], "{v}: {swept:?}");
            for role in &roles[..3] {
                assert!(swept.blocked.iter().any(|b| b.name == *role), "{v}: {role}: {swept:?}");
            }
            drop(elsewhere);
        });
    });
}

/// A grant of two scopes that the server refuses half-way (here: the user holds a direct
/// privilege another member gave it, which the connector cannot revoke) changes nothing: no
/// access role is left created, given privileges, or marked in use.
#[test]
fn a_grant_that_fails_changes_nothing() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let sales_admin = Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin);
            let eve_pw = new_user(&s, "eve", AccessLevel::Admin).await;
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("eve"), &[sales_admin]).await.unwrap();
            let eve = login(&cluster, "eve", &eve_pw, rds::APP_DB).await;
            try_sql(&eve, "CREATE TABLE sales.eve_t (i int); GRANT SELECT ON sales.eve_t TO alice")
                .await
                .unwrap();
            let roles = || su(&cluster, "postgres", "SELECT string_agg(rolname || ':' || coalesce(shobj_description(oid, 'pg_authid'), ''), ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'rdspg\\_access\\_%'");
            let acls = || su(&cluster, rds::APP_DB, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a, pg_roles r WHERE a.grantee = r.oid AND r.rolname LIKE 'rdspg\\_access\\_%'");
            let before = (roles(), acls(), memberships(&cluster, "alice"));
            let err = s.apply(&id("alice"), &[inventory_ro(), Grant::new(Scope::Table(QualifiedName::new(id("sales"), id("customers"))), AccessLevel::ReadOnly)]).await.unwrap_err();
            assert!(matches!(err, GrantsError::OwnerMembershipMissing { .. }), "{v}: {err}");
            assert_eq!((roles(), acls(), memberships(&cluster, "alice")), before, "{v}");
            drop(eve);
        });
    });
}

/// A sweep that read an access role as idle past its grace, and a grant of that role, at the
/// same time (the sweep stalled on another role's lock, the grant on its user's): the grant
/// succeeds and its user reads, whichever of the two goes first.
#[test]
fn a_grant_racing_the_sweep_that_drops_its_access_role_still_works() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let c2 = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s2 = Session::new(&c2.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c2.notices.clone());
            let holder = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            new_user(&s, "carl", AccessLevel::ReadOnly).await;
            let bob_pw = new_user(&s, "bob", AccessLevel::ReadOnly).await;
            // r1 sorts before r2: the sweep marks r1 idle (under r1's lock), then drops r2.
            let mut pair = [sales_ro(), inventory_ro()];
            pair.sort_by_key(|g| grantee(&s, "x", g));
            let (g1, g2) = (pair[0].clone(), pair[1].clone());
            let r1 = grantee(&s, "x", &g1);
            s.apply(&id("alice"), &pair).await.unwrap();
            s.apply(&id("alice"), &[]).await.unwrap();
            let t0 = OffsetDateTime::now_utc();
            s.sweep_access_roles(t0).await.unwrap();
            // r1 used and left again: no member, no mark; r2 idle since t0.
            s.apply(&id("carl"), std::slice::from_ref(&g1))
                .await
                .unwrap();
            s.apply(&id("carl"), &[]).await.unwrap();

            let lock = |key: String| {
                format!("SELECT pg_advisory_lock(hashtextextended('rdspg:{key}', 0))")
            };
            let unlock = |key: String| {
                format!("SELECT pg_advisory_unlock(hashtextextended('rdspg:{key}', 0))")
            };
            holder
                .client
                .batch_execute(&lock(r1.clone()))
                .await
                .unwrap();
            holder
                .client
                .batch_execute(&lock("bob".to_owned()))
                .await
                .unwrap();
            let sweep = s.sweep_access_roles(t0 + ACCESS_ROLE_GRACE);
            let bob_id = id("bob");
            let grant = s2.apply(&bob_id, std::slice::from_ref(&g2));
            let release = async {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                holder
                    .client
                    .batch_execute(&unlock(r1.clone()))
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                holder
                    .client
                    .batch_execute(&unlock("bob".to_owned()))
                    .await
                    .unwrap();
            };
            let (swept, granted, ()) = tokio::join!(sweep, grant, release);
            swept.unwrap();
            granted.unwrap_or_else(|e| panic!("{v}: the grant lost the race: {e}"));
            let bob = login(&cluster, "bob", &bob_pw, rds::APP_DB).await;
            let table = if g2 == sales_ro() {
                "sales.orders"
            } else {
                "inventory.items"
            };
            reads(&bob, table).await.unwrap();
        });
    });
}

/// A member drops what is "owned" by its access role: `DROP OWNED BY` needs only the privileges
/// of the role (INHERIT), and removes the default privileges its owner set for it (table
/// privileges stay: their grantor is the owner). The second member stops getting new tables
/// until the sweep, which repairs every access role in use.
#[test]
fn drift_a_member_makes_is_repaired_by_the_sweep() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let follow = Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly)
                .follow_new_tables(true);
            let alice_pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            let bob_pw = new_user(&s, "bob", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), std::slice::from_ref(&follow))
                .await
                .unwrap();
            s.apply(&id("bob"), std::slice::from_ref(&follow))
                .await
                .unwrap();
            let role = grantee(&s, "alice", &follow);
            let alice = login(&cluster, "alice", &alice_pw, rds::APP_DB).await;
            let bob = login(&cluster, "bob", &bob_pw, rds::APP_DB).await;
            try_sql(&alice, &format!("DROP OWNED BY \"{role}\""))
                .await
                .unwrap();
            reads(&bob, "inventory.items").await.unwrap();
            su(
                &cluster,
                rds::APP_DB,
                "SET ROLE app_owner; CREATE TABLE inventory.later (i int)",
            );
            assert!(
                reads(&bob, "inventory.later").await.is_err(),
                "{v}: the defaults are gone"
            );

            let swept = s
                .sweep_access_roles(OffsetDateTime::now_utc())
                .await
                .unwrap();
            assert!(
                swept.repaired.iter().any(|r| r.as_str() == role),
                "{v}: {swept:?}"
            );
            reads(&bob, "inventory.later").await.unwrap();
            su(
                &cluster,
                rds::APP_DB,
                "SET ROLE app_owner; CREATE TABLE inventory.later2 (i int)",
            );
            reads(&bob, "inventory.later2").await.unwrap();
            let again = s
                .sweep_access_roles(OffsetDateTime::now_utc())
                .await
                .unwrap();
            assert!(again.repaired.is_empty(), "{v}: {again:?}");
            drop((alice, bob));
        });
    });
}

/// A tenant with CREATEROLE makes the access role's name through a role it then drops: the
/// role is left with no member at all (not even its creator's ADMIN OPTION) and the right
/// comment, which every other check accepts. It is refused, and nothing is granted to it.
#[test]
fn an_orphaned_forged_access_role_is_refused_and_gets_nothing() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            let access = s.access_role_of(&sales_ro()).unwrap();
            let (role, comment) = (access.name.to_string(), access.key.comment(None));
            su(&cluster, "postgres", "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw-1'");
            let tenant = login(&cluster, "tenant", "tenant-pw-1", "postgres").await;
            try_sql(&tenant, "CREATE ROLE b NOLOGIN CREATEROLE").await.unwrap();
            su(&cluster, "postgres", &format!(
                "SET ROLE b; CREATE ROLE \"{role}\" NOLOGIN NOINHERIT; COMMENT ON ROLE \"{role}\" IS '{comment}'"
            ));
            try_sql(&tenant, "DROP ROLE b").await.unwrap();
            assert_eq!(memberships(&cluster, &role), "|", "{v}: an orphan");

            let err = s.apply(&id("alice"), &[sales_ro()]).await.unwrap_err();
            match &err {
                GrantsError::UnsafeServiceRole { problems, .. } => {
                    assert!(problems.iter().any(|p| p.contains("administer")), "{v}: {problems:?}");
                }
                other => panic!("{v}: {other}"),
            }
            assert_eq!(acl_entries(&cluster, &role), "0", "{v}: nothing granted to it");
            assert_eq!(memberships(&cluster, &role), "|", "{v}");
            let swept = s.sweep_access_roles(OffsetDateTime::now_utc()).await.unwrap();
            assert!(swept.unfit.iter().any(|u| u.name == role), "{v}: {swept:?}");
        });
    });
}

/// Names that could confuse keys or SQL: a schema with a double quote, a single quote, a space
/// and a non-ASCII letter, a table name of 63 bytes (the longest PostgreSQL keeps), and two
/// tables whose schema and name only differ by where a dot falls ("x.y"."z" and "x"."y.z").
/// Each key gets its own access role, its comment reads back as the same key, each member reads
/// its table only, and the sweep ages and drops them all.
#[test]
fn hostile_names_get_their_own_access_roles() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let weird = "a\"b'c \u{fc}";
            let long = format!("{}x", "\u{f1}".repeat(31));
            assert_eq!(long.len(), 63);
            let q = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
            su(&cluster, rds::APP_DB, &format!(
                "CREATE SCHEMA {w} AUTHORIZATION app_owner; CREATE SCHEMA \"x.y\" AUTHORIZATION app_owner; \
                 CREATE SCHEMA x AUTHORIZATION app_owner; SET ROLE app_owner; \
                 CREATE TABLE {w}.{l} (i int); INSERT INTO {w}.{l} VALUES (1); \
                 CREATE TABLE \"x.y\".z (i int); CREATE TABLE x.\"y.z\" (i int)",
                w = q(weird), l = q(&long)
            ));
            let table = |schema: &str, name: &str| {
                Grant::new(Scope::Table(QualifiedName::new(id(schema), id(name))), AccessLevel::ReadOnly)
            };
            let grants = [table(weird, &long), table("x.y", "z"), table("x", "y.z")];
            let mut roles = Vec::new();
            let mut logins = Vec::new();
            for (user, grant) in ["alice", "bob", "carl"].iter().zip(&grants) {
                let pw = new_user(&s, user, AccessLevel::ReadOnly).await;
                s.apply(&id(user), std::slice::from_ref(grant)).await.unwrap();
                roles.push(grantee(&s, user, grant));
                logins.push(login(&cluster, user, &pw, rds::APP_DB).await);
            }
            let distinct: std::collections::BTreeSet<&String> = roles.iter().collect();
            assert_eq!(distinct.len(), 3, "{v}: {roles:?}");
            let listed = s.access_roles().await.unwrap();
            for (grant, role) in grants.iter().zip(&roles) {
                let found = listed.iter().find(|a| a.role.name.as_str() == role).unwrap();
                assert_eq!(found.role.key, s.access_role_of(grant).unwrap().key, "{v}");
                assert_eq!(found.members, 1, "{v}");
            }
            let targets = [format!("{}.{}", q(weird), q(&long)), "\"x.y\".z".to_owned(), "x.\"y.z\"".to_owned()];
            for (i, client) in logins.iter().enumerate() {
                for (j, t) in targets.iter().enumerate() {
                    let r = reads(client, t).await;
                    assert_eq!(r.is_ok(), i == j, "{v}: login {i} reading {t}: {r:?}");
                }
            }
            drop(logins);
            for user in ["alice", "bob", "carl"] {
                s.apply(&id(user), &[]).await.unwrap();
            }
            let now = OffsetDateTime::now_utc();
            assert_eq!(s.sweep_access_roles(now).await.unwrap().marked_idle.len(), 3, "{v}");
            let swept = s.sweep_access_roles(now + ACCESS_ROLE_GRACE).await.unwrap();
            assert_eq!(swept.dropped.len(), 3, "{v}: {swept:?}");
        });
    });
}

/// A user granted directly before an upgrade to 16 (or by hand): its first grant through
/// access roles takes the direct privileges and default privileges away, and its end leaves it
/// nothing.
#[test]
fn direct_grants_from_before_an_upgrade_go_at_the_first_grant() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            su(
                &cluster,
                rds::APP_DB,
                "SET ROLE app_owner; GRANT USAGE ON SCHEMA inventory TO alice; \
                GRANT SELECT ON inventory.items TO alice; \
                ALTER DEFAULT PRIVILEGES IN SCHEMA inventory GRANT SELECT ON TABLES TO alice",
            );
            assert_ne!(acl_entries(&cluster, "alice"), "0", "{v}");
            let report = s.apply(&id("alice"), &[inventory_ro()]).await.unwrap();
            let sql = report.plan.to_string();
            assert!(
                sql.contains("REVOKE SELECT ON TABLE \"inventory\".\"items\" FROM \"alice\""),
                "{v}: {sql}"
            );
            assert_eq!(acl_entries(&cluster, "alice"), "0", "{v}: {sql}");
            let alice = login(&cluster, "alice", &pw, rds::APP_DB).await;
            reads(&alice, "inventory.items").await.unwrap();
            s.apply(&id("alice"), &[]).await.unwrap();
            assert!(reads(&alice, "inventory.items").await.is_err(), "{v}");
            su(
                &cluster,
                rds::APP_DB,
                "SET ROLE app_owner; CREATE TABLE inventory.later (i int)",
            );
            assert!(reads(&alice, "inventory.later").await.is_err(), "{v}");
        });
    });
}

/// Two connectors (replicas) grant two new access roles at once, in opposite orders: each
/// role is made once, both grants succeed without waiting on each other.
#[test]
fn concurrent_grants_make_each_access_role_once() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let c2 = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s2 = Session::new(&c2.client, Settings::default()).await.unwrap();
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            new_user(&s, "bob", AccessLevel::ReadOnly).await;
            let (alice, bob) = (id("alice"), id("bob"));
            let ab = [sales_ro(), inventory_ro()];
            let ba = [inventory_ro(), sales_ro()];
            let started = std::time::Instant::now();
            let (a, b) = tokio::join!(s.apply(&alice, &ab), s2.apply(&bob, &ba));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.attempts + b.attempts, 2, "{v}: no retry");
            assert!(
                started.elapsed() < std::time::Duration::from_millis(900),
                "{v}: no deadlock to detect"
            );
            let listed = s.access_roles().await.unwrap();
            assert_eq!(listed.len(), 2, "{v}: {listed:?}");
            assert!(listed.iter().all(|r| r.members == 2), "{v}: {listed:?}");
        });
    });
}

/// A member keeps a transaction open across the end of its grant: its next statement in that
/// very transaction is refused (the membership's removal reaches the open session at once).
#[test]
fn an_open_transaction_stops_reading_when_the_grant_ends() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), &[inventory_ro()]).await.unwrap();
            let alice = login(&cluster, "alice", &pw, rds::APP_DB).await;
            try_sql(
                &alice,
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1 FROM inventory.items",
            )
            .await
            .unwrap();
            s.apply(&id("alice"), &[]).await.unwrap();
            let err = reads(&alice, "inventory.items").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
            try_sql(&alice, "ROLLBACK").await.unwrap();
            let err = reads(&alice, "inventory.items").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
        });
    });
}
