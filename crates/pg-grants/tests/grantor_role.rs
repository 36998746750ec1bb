//! The grantor role (PostgreSQL 16+, see `pg_grants::access`): it administers the access roles
//! and grants users' memberships in them, so that the connector (a member, with `ADMIN OPTION`,
//! of every role it ever created) never pays PostgreSQL's walk over all its memberships for
//! each `GRANT`. Attacked here, against real servers (17 and 18) with real logins: a member
//! cannot act as it; a tenant's look-alike (squatted before the connector made its own) and a
//! role someone joined to it are refused, and the grant changes nothing; memberships the
//! connector granted before the grantor role existed still end; an access role made before it
//! existed and a connector that lost its `SET` are repaired by the next grant.

mod common;

use common::*;
use pg_grants::{AccessLevel, GrantsError};
use pg_testkit::{for_each_version, rds};

const VERSIONS: &[u32] = &[17, 18];
const GRANTOR: &str = "rdspg_grantor";

fn exists(cluster: &pg_testkit::TestCluster, role: &str) -> bool {
    su(
        cluster,
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
    ) == "1"
}

/// A grant made through the grantor role: the grantor role administers the access role
/// (neither its privileges nor `SET`), grants the membership, and the connector only holds
/// `SET` on it. A member can neither act as the grantor role nor use what it holds.
#[test]
fn memberships_are_granted_by_the_grantor_role_which_no_member_can_act_as() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), &[sales_ro()]).await.unwrap();
            let access = grantee(&s, "alice", &sales_ro());
            assert_eq!(
                members_of(&cluster, &access),
                format!(
                    "alice:{GRANTOR}:false,true,false apono_connector:rdsadmin:true,false,false \
                     {GRANTOR}:apono_connector:true,false,false"
                ),
                "{v}"
            );
            assert_eq!(
                members_of(&cluster, GRANTOR),
                "apono_connector:apono_connector:false,false,true apono_connector:rdsadmin:true,false,false",
                "{v}"
            );
            assert_eq!(
                su(&cluster, "postgres", &format!(
                    "SELECT rolcanlogin::text || rolinherit::text || rolcreaterole::text || ' ' || shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{GRANTOR}'")),
                r#"falsefalsefalse {"rdspg":1,"kind":"grantor"}"#,
                "{v}"
            );
            let alice = try_connect(&cluster, "alice", &pw, rds::APP_DB).await.unwrap();
            try_sql(&alice, "SELECT 1 FROM sales.orders").await.unwrap();
            for (what, sql) in [
                ("set role", format!("SET ROLE {GRANTOR}")),
                ("grant it to herself", format!("GRANT {GRANTOR} TO alice")),
                ("grant herself the access role", format!("GRANT \"{access}\" TO alice WITH ADMIN OPTION")),
                ("grant another access role as it", format!("SET ROLE {GRANTOR}; GRANT \"{access}\" TO alice")),
                ("comment", format!("COMMENT ON ROLE {GRANTOR} IS 'x'")),
            ] {
                let result = try_sql(&alice, &sql).await;
                assert!(result.as_ref().is_err_and(|e| e.starts_with("42501")), "{v}: {what}: {result:?}");
            }
            // The grant ends: the grantor role revokes what it granted; alice reads nothing.
            let ended = s.apply(&id("alice"), &[]).await.unwrap();
            assert!(ended.plan.to_string().contains(&format!("SET LOCAL ROLE \"{GRANTOR}\"; REVOKE")), "{v}: {}", ended.plan);
            assert!(try_sql(&alice, "SELECT 1 FROM sales.orders").await.is_err(), "{v}");
            assert!(!members_of(&cluster, &access).contains("alice"), "{v}");
        });
    });
}

/// A tenant with `CREATEROLE` makes `rdspg_grantor` first, marked as the library marks it, so
/// that the access roles would be administered by its role (which it administers, and could
/// join). The grant is refused, names the role, and changes nothing: no access role, no
/// membership, nothing granted to the tenant's role. So is a grantor role someone made a member
/// of; ending a grant still works then (revoking as it gives nobody anything).
#[test]
fn a_squatted_or_joined_grantor_role_is_refused_and_the_grant_changes_nothing() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            su(&cluster, "postgres", "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw-1'");
            let tenant = try_connect(&cluster, "tenant", "tenant-pw-1", "postgres").await.unwrap();
            try_sql(&tenant, &format!(
                "CREATE ROLE {GRANTOR} NOLOGIN NOINHERIT; COMMENT ON ROLE {GRANTOR} IS '{{\"rdspg\":1,\"kind\":\"grantor\"}}'; \
                 GRANT {GRANTOR} TO apono_connector WITH SET TRUE, INHERIT FALSE, ADMIN TRUE"
            )).await.unwrap();
            let access = grantee(&s, "alice", &sales_ro());
            let err = s.apply(&id("alice"), &[sales_ro()]).await.unwrap_err();
            assert!(
                matches!(&err, GrantsError::UnsafeServiceRole { role, purpose: "grantor", problems }
                    if role == GRANTOR && problems.iter().any(|p| p.contains("does not administer it as its creator"))),
                "{v}: {err:?}"
            );
            assert!(!exists(&cluster, &access), "{v}: the access role was not created");
            assert_eq!(memberships(&cluster, "alice"), "|apono_connector,rdspg_managed", "{v}");
            assert_eq!(memberships(&cluster, GRANTOR), "|apono_connector,tenant", "{v}");
            try_sql(&tenant, &format!("DROP ROLE {GRANTOR}")).await.unwrap();

            // The library's own grantor role, then somebody makes a member of it.
            s.apply(&id("alice"), &[sales_ro()]).await.unwrap();
            new_user(&s, "bob", AccessLevel::ReadOnly).await;
            su(&cluster, "postgres", &format!("GRANT {GRANTOR} TO tenant"));
            let err = s.apply(&id("bob"), &[sales_ro()]).await.unwrap_err();
            assert!(
                matches!(&err, GrantsError::UnsafeServiceRole { purpose: "grantor", problems, .. }
                    if problems.iter().any(|p| p.contains("tenant"))),
                "{v}: {err:?}"
            );
            assert!(!members_of(&cluster, &access).contains("bob"), "{v}");
            // Ending alice's grant is not blocked by it.
            s.apply(&id("alice"), &[]).await.unwrap();
            assert!(!members_of(&cluster, &access).contains("alice"), "{v}");
        });
    });
}

/// Before the grantor role existed the connector granted memberships itself and access roles
/// had no grantor role: such a membership still ends (revoked as the connector, which granted
/// it), such an access role is given to the grantor role's administration by the next grant,
/// and a connector that lost its `SET` on the grantor role gets it back.
#[test]
fn memberships_and_access_roles_from_before_the_grantor_role_still_work() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            let pw = new_user(&s, "alice", AccessLevel::ReadOnly).await;
            new_user(&s, "bob", AccessLevel::ReadOnly).await;
            s.apply(&id("alice"), &[sales_ro()]).await.unwrap();
            let access = grantee(&s, "alice", &sales_ro());
            // As 0.1 left it: alice's membership granted by the connector, the grantor role
            // without ADMIN on the access role, the connector without SET on it.
            try_sql(&c.client, &format!(
                "SET ROLE {GRANTOR}; REVOKE \"{access}\" FROM alice; RESET ROLE; \
                 GRANT \"{access}\" TO alice WITH INHERIT TRUE, SET FALSE; \
                 REVOKE \"{access}\" FROM {GRANTOR}; \
                 REVOKE {GRANTOR} FROM apono_connector"
            )).await.unwrap();
            assert_eq!(
                members_of(&cluster, &access),
                "alice:apono_connector:false,true,false apono_connector:rdsadmin:true,false,false",
                "{v}"
            );
            let alice = try_connect(&cluster, "alice", &pw, rds::APP_DB).await.unwrap();
            try_sql(&alice, "SELECT 1 FROM sales.orders").await.unwrap();
            // alice's grant is settled as it is.
            assert!(s.plan(&id("alice"), &[sales_ro()]).await.unwrap().is_empty(), "{v}");
            // bob's grant repairs the grantor role's administration and the connector's SET.
            s.apply(&id("bob"), &[sales_ro()]).await.unwrap();
            assert_eq!(
                members_of(&cluster, &access),
                format!(
                    "alice:apono_connector:false,true,false apono_connector:rdsadmin:true,false,false \
                     bob:{GRANTOR}:false,true,false {GRANTOR}:apono_connector:true,false,false"
                ),
                "{v}"
            );
            // alice's grant ends: the connector revokes its own grant.
            let ended = s.apply(&id("alice"), &[]).await.unwrap();
            assert_eq!(ended.plan.to_string(), format!("REVOKE \"{access}\" FROM \"alice\";\n"), "{v}");
            assert!(try_sql(&alice, "SELECT 1 FROM sales.orders").await.is_err(), "{v}");
            assert!(s.plan(&id("bob"), &[sales_ro()]).await.unwrap().is_empty(), "{v}");
        });
    });
}

/// A tenant's role made under the grantor role's name before the library's grants a role of
/// the tenant's, marked like the access role of a real grant, to a managed user, and lets the
/// connector act as it. That membership is the tenant's: ending the user's grants neither
/// revokes it nor acts as the tenant's role (the library counts only a grantor role it
/// administers as its creator).
#[test]
fn what_a_squatted_grantor_role_granted_is_never_managed_nor_acted_as() {
    for_each_version(VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = owner_fixed_session(&cluster, &c).await;
            new_user(&s, "alice", AccessLevel::ReadOnly).await;
            let comment = s.access_role_of(&sales_ro()).unwrap().key.comment(None);
            su(&cluster, "postgres", "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw-1'");
            let tenant = try_connect(&cluster, "tenant", "tenant-pw-1", "postgres").await.unwrap();
            try_sql(&tenant, &format!(
                "CREATE ROLE {GRANTOR} NOLOGIN NOINHERIT; \
                 COMMENT ON ROLE {GRANTOR} IS '{{\"rdspg\":1,\"kind\":\"grantor\"}}'; \
                 GRANT {GRANTOR} TO apono_connector WITH SET TRUE, INHERIT FALSE; \
                 GRANT {GRANTOR} TO tenant WITH SET TRUE; \
                 CREATE ROLE fake NOLOGIN NOINHERIT; COMMENT ON ROLE fake IS '{comment}'; \
                 GRANT fake TO {GRANTOR} WITH ADMIN OPTION; \
                 SET ROLE {GRANTOR}; GRANT fake TO alice WITH INHERIT TRUE, SET FALSE; RESET ROLE"
            )).await.unwrap();
            assert_eq!(members_of(&cluster, "fake"), format!("alice:{GRANTOR}:false,true,false {GRANTOR}:tenant:true,false,true tenant:rdsadmin:true,false,false"), "{v}");
            // alice's grants end (she holds none of the library's): nothing is planned.
            let ended = s.apply(&id("alice"), &[]).await.unwrap();
            assert!(ended.plan.is_empty(), "{v}: {}", ended.plan);
            assert!(members_of(&cluster, "fake").contains(&format!("alice:{GRANTOR}")), "{v}");
            assert!(s.plan(&id("alice"), &[]).await.unwrap().is_empty(), "{v}");
        });
    });
}
