//! Issue 19: privileges through access roles on PostgreSQL 16+ (one shared, marked `NOLOGIN`
//! role per database, scope and level; each user a member `WITH INHERIT TRUE, SET FALSE`), and
//! direct grants on 15. Real logins on 15, 17 and 18, written as a hostile member would: it
//! tries to act as the shared role, to hand it on, to plant defaults for it; a tenant with
//! `CREATEROLE` forges the shared role first, or joins it by hand.

mod common;

use common::*;
use pg_grants::access::ACCESS_ROLE_GRACE;
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{ALL_VERSIONS, for_each_version, rds};

/// The ACL entries on `sales.orders` naming `role`.
fn orders_acl(cluster: &pg_testkit::TestCluster, role: &str) -> String {
    su(
        cluster,
        rds::APP_DB,
        &format!(
            "SELECT count(*) FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = 'sales.orders'::regclass)) a \
             WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = '{role}')"
        ),
    )
}

#[test]
fn members_read_what_the_level_allows_never_act_as_the_access_role_and_lose_it_on_revoke() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            let ro = [Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly)];
            let alice_pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            let bob_pw = new_user(&s, "bob", AccessLevel::ReadOnly).await;
            let first = s.apply(&id("alice"), &ro).await.unwrap();
            let second = s.apply(&id("bob"), &ro).await.unwrap();
            let holder = grantee(&s, "alice", &ro[0]);
            assert_eq!(s.uses_access_roles(), v >= 16, "{v}");

            if v >= 16 {
                // One access role holds the privileges; each user one membership.
                assert!(holder.starts_with("rdspg_access_"), "{v}: {holder}");
                assert_eq!(orders_acl(&cluster, &holder), "1", "{v}");
                assert_eq!(orders_acl(&cluster, "alice"), "0", "{v}");
                assert_eq!(orders_acl(&cluster, "bob"), "0", "{v}");
                assert!(!first.plan.access.is_empty(), "{v}: the first grant gives the role its privileges");
                assert!(second.plan.access.is_empty(), "{v}: the second only adds a member: {}", second.plan);
                assert_eq!(
                    second.plan.to_string(),
                    format!("SET LOCAL ROLE \"rdspg_grantor\"; GRANT \"{holder}\" TO \"bob\" WITH INHERIT TRUE, SET FALSE; SET LOCAL ROLE NONE;\n"),
                    "{v}"
                );
                assert_eq!(
                    su(&cluster, "postgres", &format!(
                        "SELECT string_agg(u.rolname || ':' || m.inherit_option || m.set_option || m.admin_option || ':' || g.rolname, ',' ORDER BY u.rolname) \
                         FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.grantor \
                         WHERE m.roleid = '{holder}'::regrole AND u.rolname <> 'apono_connector'")),
                    // The grantor role administers it (neither its privileges nor SET), and
                    // grants the memberships (see `access`, the grantor role).
                    "alice:truefalsefalse:rdspg_grantor,bob:truefalsefalse:rdspg_grantor,rdspg_grantor:falsefalsetrue:apono_connector",
                    "{v}"
                );
                assert_eq!(
                    su(&cluster, "postgres", &format!(
                        "SELECT rolcanlogin, rolinherit, rolcreaterole, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{holder}'")),
                    r#"f|f|f|{"rdspg":1,"kind":"access","database":"appdb","schema":"sales","level":"read-only","follow_new_tables":false}"#,
                    "{v}"
                );
            } else {
                // 13 to 15 cannot forbid SET ROLE: direct grants, no access role.
                assert_eq!(holder, "alice");
                assert_eq!(orders_acl(&cluster, "alice"), "1", "{v}");
                assert_eq!(orders_acl(&cluster, "bob"), "1", "{v}");
                assert_eq!(
                    su(&cluster, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'rdspg_access_%'"),
                    "0",
                    "{v}"
                );
            }
            // Inspection shows what alice holds, directly or through the access role.
            let seen = s.inspect(&id("alice"), &[]).await.unwrap();
            let through: Vec<(String, String, String)> = seen
                .through
                .iter()
                .flat_map(|h| {
                    h.objects.iter().map(|o| {
                        (h.access_role.name.to_string(), o.object.to_string(), format!("{:?}", o.role_has))
                    })
                })
                .collect();
            if v >= 16 {
                assert!(
                    through.contains(&(holder.clone(), "sales.orders".to_owned(), "{SELECT}".to_owned())),
                    "{v}: {through:?}"
                );
                assert!(seen.objects.iter().all(|o| o.role_has.is_empty()), "{v}: nothing held directly");
            } else {
                assert!(through.is_empty(), "{v}");
            }

            // Idempotent: nothing to do the second time.
            assert!(s.plan(&id("alice"), &ro).await.unwrap().is_empty(), "{v}");
            assert_eq!(s.apply(&id("alice"), &ro).await.unwrap().attempts, 0, "{v}");

            // What the level allows, and nothing more.
            let alice = try_connect(&cluster, "alice", &alice_pw, rds::APP_DB).await.unwrap();
            let n: i64 = alice
                .query_one("SELECT count(*) FROM sales.orders", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, i64::from(rds::ORDERS_ROWS), "{v}");
            let write = try_sql(&alice, "INSERT INTO sales.orders DEFAULT VALUES").await;
            assert!(write.unwrap_err().starts_with("42501"), "{v}");
            let other = try_sql(&alice, "SELECT 1 FROM inventory.items").await;
            assert!(other.unwrap_err().starts_with("42501"), "{v}");

            if v >= 16 {
                // A hostile member: cannot act as the access role, hand it on, or plant
                // defaults in its name; nothing it does is owned by the shared role.
                for (what, sql) in [
                    ("set role", format!("SET ROLE \"{holder}\"")),
                    ("grant it on", format!("GRANT \"{holder}\" TO bob")),
                    ("give it one object", format!("CREATE TEMP TABLE mine2 (i int); ALTER TABLE mine2 OWNER TO \"{holder}\"")),
                    ("comment", format!("COMMENT ON ROLE \"{holder}\" IS 'x'")),
                    ("revoke the connector", format!("REVOKE \"{holder}\" FROM apono_connector")),
                ] {
                    let result = try_sql(&alice, &sql).await;
                    assert!(result.as_ref().is_err_and(|e| e.starts_with("42501")), "{v}: {what}: {result:?}");
                }
                // An admin member owns real objects, and cannot give them to its access role
                // either (so none outlives it as the shared role's).
                let admin = [Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)];
                let eve_pw = new_user(&s, "eve", AccessLevel::Admin).await;
                s.apply(&id("eve"), &admin).await.unwrap();
                let admin_role = grantee(&s, "eve", &admin[0]);
                let eve = try_connect(&cluster, "eve", &eve_pw, rds::APP_DB).await.unwrap();
                try_sql(&eve, "CREATE FUNCTION sales.eve_f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'").await.unwrap();
                for sql in [
                    format!("REASSIGN OWNED BY eve TO \"{admin_role}\""),
                    format!("ALTER FUNCTION sales.eve_f() OWNER TO \"{admin_role}\""),
                    format!("SET ROLE \"{admin_role}\""),
                ] {
                    let result = try_sql(&eve, &sql).await;
                    assert!(result.as_ref().is_err_and(|e| e.starts_with("42501")), "{v}: {sql}: {result:?}");
                }
                assert_eq!(su(&cluster, rds::APP_DB, "SELECT proowner::regrole FROM pg_proc WHERE proname = 'eve_f'"), "eve", "{v}");
                drop(eve);
                s.revoke_role(&id("eve"), &connector_for(&cluster)).await.unwrap();

                // What INHERIT does allow: default privileges for objects the access role
                // creates, which it never does (nobody can act as it). They change nothing,
                // block nothing, and go when the role is dropped.
                try_sql(&alice, &format!("ALTER DEFAULT PRIVILEGES FOR ROLE \"{holder}\" GRANT SELECT ON TABLES TO PUBLIC"))
                    .await
                    .unwrap();
                assert_eq!(
                    su(&cluster, "postgres", &format!(
                        "SELECT count(*) FROM pg_shdepend WHERE refobjid = '{holder}'::regrole AND deptype = 'o' \
                         AND classid <> 'pg_default_acl'::regclass")),
                    "0",
                    "{v}"
                );
                assert!(s.plan(&id("alice"), &ro).await.unwrap().is_empty(), "{v}");
            }

            // Revoke alice: bob keeps reading, alice's user and membership are gone.
            drop(alice);
            let report = s.revoke_role(&id("alice"), &connector_for(&cluster)).await.unwrap();
            assert!(report.dropped, "{v}");
            let bob = try_connect(&cluster, "bob", &bob_pw, rds::APP_DB).await.unwrap();
            try_sql(&bob, "SELECT 1 FROM sales.orders").await.unwrap();
            // Bob's grant ends (applied with nothing): his open session loses the access.
            let ended = s.apply(&id("bob"), &[]).await.unwrap();
            if v >= 16 {
                assert_eq!(ended.plan.to_string(), format!("SET LOCAL ROLE \"rdspg_grantor\"; REVOKE \"{holder}\" FROM \"bob\"; SET LOCAL ROLE NONE;\n"), "{v}");
                assert_eq!(orders_acl(&cluster, &holder), "1", "{v}: the role keeps its privileges for the next member");
            }
            let err = try_sql(&bob, "SELECT 1 FROM sales.orders").await.unwrap_err();
            assert!(err.starts_with("42501"), "{v}: {err}");
            assert_eq!(orders_acl(&cluster, "bob"), "0", "{v}");

            if v >= 16 {
                // Idle: marked by one sweep, kept through the grace, dropped after it.
                let now = time::OffsetDateTime::now_utc();
                let marked = s.sweep_access_roles(now).await.unwrap();
                assert!(marked.marked_idle.iter().any(|r| r.as_str() == holder), "{v}: {marked:?}");
                let kept = s.sweep_access_roles(now + ACCESS_ROLE_GRACE - time::Duration::seconds(1)).await.unwrap();
                assert!(kept.dropped.is_empty(), "{v}: {kept:?}");
                // Used again within the grace: the next sweep keeps it.
                s.apply(&id("bob"), &ro).await.unwrap();
                try_sql(&bob, "SELECT 1 FROM sales.orders").await.unwrap();
                let used = s.sweep_access_roles(now + ACCESS_ROLE_GRACE).await.unwrap();
                let states = s.access_roles().await.unwrap();
                let state = states.iter().find(|a| a.role.name.as_str() == holder).unwrap();
                assert_eq!((state.idle_since, state.members), (None, 1), "{v}: the grant cleared the mark");
                assert!(!used.dropped.iter().any(|r| r.as_str() == holder), "{v}: {used:?}");
                s.apply(&id("bob"), &[]).await.unwrap();
                let t = now + ACCESS_ROLE_GRACE;
                s.sweep_access_roles(t).await.unwrap();
                let dropped = s.sweep_access_roles(t + ACCESS_ROLE_GRACE).await.unwrap();
                assert!(dropped.dropped.iter().any(|r| r.as_str() == holder), "{v}: {dropped:?}");
                assert_eq!(orders_acl(&cluster, &holder), "0", "{v}");
                assert_eq!(
                    su(&cluster, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'rdspg_access_%'"),
                    "0",
                    "{v}"
                );
                // The next grant makes it again.
                s.apply(&id("bob"), &ro).await.unwrap();
                try_sql(&bob, "SELECT 1 FROM sales.orders").await.unwrap();
            }
        });
    });
}

#[test]
fn a_forged_or_joined_access_role_is_refused_and_nothing_changes() {
    for_each_version(&[17, 18], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            let ro = [Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly)];
            let rw = [Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadWrite)];
            let forged = grantee(&s, "x", &ro[0]);
            let joined = grantee(&s, "x", &rw[0]);
            new_user(&s, "carol", AccessLevel::ReadOnly).await;

            // A tenant with CREATEROLE makes the read-only access role first, with the right
            // comment, to collect the members (and so their privileges' use).
            su(&cluster, "postgres", "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw-1'");
            su(&cluster, "postgres", &format!(
                "SET ROLE tenant; CREATE ROLE \"{forged}\" NOLOGIN NOINHERIT; \
                 COMMENT ON ROLE \"{forged}\" IS '{{\"rdspg\":1,\"kind\":\"access\",\"database\":\"appdb\",\"schema\":\"sales\",\"level\":\"read-only\",\"follow_new_tables\":false}}'"));
            let before = memberships(&cluster, "carol");
            let err = s.apply(&id("carol"), &ro).await.unwrap_err();
            match &err {
                GrantsError::UnsafeServiceRole { purpose, problems, .. } => {
                    assert_eq!(*purpose, "access");
                    assert!(problems.iter().any(|p| p.contains("tenant")), "{v}: {problems:?}");
                }
                other => panic!("{v}: {other}"),
            }
            assert_eq!(memberships(&cluster, "carol"), before, "{v}");
            assert_eq!(orders_acl(&cluster, &forged), "0", "{v}");

            // The read-write role is ours, but someone joined it by hand: refused too, and
            // with both grants at once nothing changes (the checks come before any change).
            s.apply(&id("carol"), &rw).await.unwrap();
            s.apply(&id("carol"), &[]).await.unwrap();
            su(&cluster, "postgres", &format!("GRANT \"{joined}\" TO tenant"));
            let acl_before = orders_acl(&cluster, &joined);
            let both = [rw[0].clone(), ro[0].clone()];
            let err = s.apply(&id("carol"), &both).await.unwrap_err();
            assert!(matches!(err, GrantsError::UnsafeServiceRole { .. }), "{v}: {err}");
            assert_eq!(memberships(&cluster, "carol"), before, "{v}");
            assert_eq!(orders_acl(&cluster, &joined), acl_before, "{v}");
            let err = s.apply(&id("carol"), &rw).await.unwrap_err();
            match &err {
                GrantsError::UnsafeServiceRole { problems, .. } => {
                    assert!(problems.iter().any(|p| p.contains("tenant (granted by")), "{v}: {problems:?}");
                }
                other => panic!("{v}: {other}"),
            }
            assert_eq!(memberships(&cluster, "carol"), before, "{v}");
            // The sweep leaves an unfit role alone and says so.
            let swept = s.sweep_access_roles(time::OffsetDateTime::now_utc() + ACCESS_ROLE_GRACE * 3).await.unwrap();
            let mut unfit: Vec<&str> = swept.unfit.iter().map(|r| r.name.as_str()).collect();
            unfit.sort_unstable();
            let mut want = [forged.as_str(), joined.as_str()];
            want.sort_unstable();
            assert_eq!(unfit, want, "{v}: {swept:?}");
            assert_eq!(
                su(&cluster, "postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname IN ('{forged}', '{joined}')")),
                "2",
                "{v}"
            );
        });
    });
}

/// A grant that only adds a member to a settled access role (16+) inspects the access role's
/// privileges once, before its transaction (drift there is repaired by that plan); inside the
/// transaction only the user is inspected again, and the access role's check runs. What goes
/// to the server is counted in its statement log: three inspections, not four.
#[test]
fn a_new_member_of_a_settled_access_role_inspects_its_privileges_once() {
    let cluster = start(17, true);
    runtime().block_on(async {
        let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
        let s = Session::new(&c.client, Settings::default()).await.unwrap();
        fix_owners(&cluster, &s).await;
        let ro = [Grant::new(
            Scope::Schema(id("sales")),
            AccessLevel::ReadOnly,
        )];
        new_user(&s, "alice", AccessLevel::ReadOnly).await;
        new_user(&s, "bob", AccessLevel::ReadOnly).await;
        s.apply(&id("alice"), &ro).await.unwrap();
        let holder = grantee(&s, "alice", &ro[0]);
        let mark = "SELECT 'mark: bob joins'";
        c.client.batch_execute(mark).await.unwrap();
        let bob = s.apply(&id("bob"), &ro).await.unwrap();
        assert!(bob.plan.access.is_empty(), "{}", bob.plan);
        assert!(members_of(&cluster, &holder).contains("bob:rdspg_grantor:false,true,false"));
        let log = cluster.server_log().unwrap();
        let after = &log[log.rfind(mark).expect("the mark is logged")..];
        // One inspection is one `execute` of the inspection's SQL; its first parameter names
        // the role inspected.
        let inspected: Vec<&str> = after
            .lines()
            .filter(|l| l.contains("execute <unnamed>: WITH RECURSIVE r AS"))
            .collect();
        assert_eq!(inspected.len(), 3, "{after}");
        let of = |role: &str| after.matches(&format!("Parameters: $1 = '{role}'")).count();
        assert_eq!(of("bob"), 2, "{after}");
        assert_eq!(
            of(&holder),
            1 + 2,
            "the inspection and two checks of {holder}: {after}"
        );
    });
}
