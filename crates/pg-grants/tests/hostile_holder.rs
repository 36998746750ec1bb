//! One holder per revoked user: what a revoked user left runs, at worst, with the rights of a
//! holder that owns only what that same user owned, never another revoked user's leftovers.
//! Real PostgreSQL with RDS emulation, on 15 and 17.
//!
//! Two users with admin level on the database each leave a schema and a table with private
//! rows. The
//! hostile one (alice) also leaves, before revocation, a view over the other's (bob's) table and
//! a function that copies bob's rows into a table an accomplice may read, falsely declared
//! `IMMUTABLE` and used in an index expression on one of her tables. Autovacuum (here: the
//! superuser `SET ROLE` to alice's holder and `ANALYZE`, which is what autovacuum does as the
//! table owner) runs the index expression as the owner of alice's table. With one holder for
//! everyone, that owner also owned bob's table, and the rows leaked; with a holder per user it
//! does not.

mod common;

use common::*;
use pg_grants::marker::{DEFAULT_HOLDER_ROLE, holder_role_name};
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};

const ACCOMPLICE_PW: &str = "accomplice-pw-1";

/// What bob leaves: private rows, in a schema others may look into.
const BOB_PLANT: &str = "CREATE SCHEMA bob_work; GRANT USAGE ON SCHEMA bob_work TO PUBLIC; CREATE TABLE bob_work.secret (s text); \
                         INSERT INTO bob_work.secret VALUES ('bob-private');";

/// What alice leaves. `a_copy` is volatile (an `IMMUTABLE` function may not write), `a_idx`
/// calls it and claims to be `IMMUTABLE` so that an index may use it. Names are qualified: on
/// 17+ maintenance runs with `search_path = pg_catalog, pg_temp`.
const ALICE_PLANT: &str = r#"
CREATE SCHEMA alice_work;
GRANT USAGE ON SCHEMA alice_work TO accomplice;
CREATE TABLE alice_work.a_pub (s text);
GRANT SELECT ON alice_work.a_pub TO accomplice;
CREATE FUNCTION alice_work.a_copy() RETURNS void LANGUAGE plpgsql AS $$BEGIN
    INSERT INTO alice_work.a_pub SELECT s FROM bob_work.secret;
EXCEPTION WHEN insufficient_privilege THEN NULL;
END$$;
CREATE FUNCTION alice_work.a_idx(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN
    PERFORM alice_work.a_copy();
    RETURN v;
END$$;
CREATE TABLE alice_work.a_stats (n int);
INSERT INTO alice_work.a_stats SELECT pg_catalog.generate_series(1, 50);
CREATE INDEX a_stats_idx ON alice_work.a_stats (alice_work.a_idx(n));
CREATE VIEW alice_work.a_view AS SELECT s FROM bob_work.secret;
GRANT SELECT ON alice_work.a_view TO accomplice;
"#;

/// Creates `name` with admin level on `scope`; its password.
async fn admin_user(s: &Session<'_>, name: &str, scope: Scope) -> String {
    let pw = new_user(s, name, AccessLevel::Admin).await;
    s.apply(&id(name), &[Grant::new(scope, AccessLevel::Admin)])
        .await
        .expect("granting admin level");
    pw
}

/// Connects as `name` and runs `plant`.
async fn plant(cluster: &TestCluster, name: &str, pw: &str, plant: &str) {
    let u = try_connect(cluster, name, pw, rds::APP_DB)
        .await
        .expect("the user logs in");
    u.batch_execute(plant).await.expect("the user plants");
}

/// The holder's attributes, comment, memberships, members and privileges.
fn holder_state(cluster: &TestCluster, holder: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolreplication, rolbypassrls, \
                    shobj_description(oid, 'pg_authid'), \
                    (SELECT count(*) FROM pg_auth_members WHERE member = r.oid), \
                    (SELECT string_agg(DISTINCT member::regrole::text, ',') FROM pg_auth_members WHERE roleid = r.oid), \
                    (SELECT count(*) FROM pg_shdepend WHERE refobjid = r.oid AND deptype = 'a') \
               FROM pg_roles r WHERE rolname = '{holder}'"
        ),
    )
}

/// The relations and functions `holder` owns in the application database.
fn owned_by(cluster: &TestCluster, holder: &str) -> String {
    su(
        cluster,
        rds::APP_DB,
        &format!(
            "SELECT string_agg(x, ',' ORDER BY x) FROM ( \
               SELECT proname::text AS x FROM pg_proc WHERE proowner = '{holder}'::regrole \
               UNION ALL SELECT relname::text FROM pg_class \
                WHERE relowner = '{holder}'::regrole AND relkind IN ('r', 'v')) o"
        ),
    )
}

#[test]
fn a_revoked_users_leftovers_never_reach_another_revoked_users() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE accomplice LOGIN PASSWORD '{ACCOMPLICE_PW}';"
                ),
            );
            // Both granted before either creates anything (a later grant would need the
            // connector to act for the other's tables).
            let bob_pw = admin_user(&s, "bob", Scope::Database).await;
            let alice_pw = admin_user(&s, "alice", Scope::Database).await;
            plant(&cluster, "bob", &bob_pw, BOB_PLANT).await;
            plant(&cluster, "alice", &alice_pw, ALICE_PLANT).await;
            // A user that owns nothing gets no holder.
            new_user(&s, "carol", AccessLevel::ReadOnly).await;
            // Alice herself cannot read bob's table: nothing of it reached her table so far.
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT count(*) FROM alice_work.a_pub"),
                "0",
                "{v}"
            );
            let oid = |name: &str| -> u32 {
                su(
                    &cluster,
                    "postgres",
                    &format!("SELECT oid FROM pg_roles WHERE rolname = '{name}'"),
                )
                .parse()
                .unwrap()
            };
            let prefix = id(DEFAULT_HOLDER_ROLE);
            let bob_holder = holder_role_name(&prefix, oid("bob"), "bob").unwrap();
            let alice_holder = holder_role_name(&prefix, oid("alice"), "alice").unwrap();

            let bob = s
                .revoke_role(&id("bob"), &connector_for(&cluster))
                .await
                .unwrap();
            let alice = s
                .revoke_role(&id("alice"), &connector_for(&cluster))
                .await
                .unwrap();
            let carol = s
                .revoke_role(&id("carol"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(bob.dropped && alice.dropped && carol.dropped, "{v}");

            // Autovacuum, as the owner of alice's table: runs her index expression.
            su(
                &cluster,
                rds::APP_DB,
                &format!("SET ROLE \"{}\"; ANALYZE alice_work.a_stats;", alice.holder),
            );
            // Her view read as its owner (what a view does before 15, and on 15+ what the
            // holder itself would see through it).
            let as_owner = cluster.sql(
                rds::APP_DB,
                &format!("SET ROLE \"{}\"; SELECT s FROM alice_work.a_view;", alice.holder),
            );
            let a = try_connect(&cluster, "accomplice", ACCOMPLICE_PW, rds::APP_DB)
                .await
                .unwrap();
            let copied: Vec<String> = a
                .query("SELECT s FROM alice_work.a_pub", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let through_view = a.query("SELECT s FROM alice_work.a_view", &[]).await;
            assert!(
                copied.is_empty(),
                "{v}: an index expression running as alice's holder copied bob's rows: {copied:?}"
            );
            assert!(
                !format!("{as_owner:?}").contains("bob-private"),
                "{v}: alice's view, read as its owner, shows bob's rows: {as_owner:?}"
            );
            assert!(
                through_view.as_ref().map_or(true, Vec::is_empty),
                "{v}: the accomplice read bob's rows through alice's view"
            );

            // Each user has a holder of its own, named from its OID and name, marked for it.
            assert_eq!(bob.holder, bob_holder.as_str(), "{v}");
            assert_eq!(alice.holder, alice_holder.as_str(), "{v}");
            assert_ne!(alice.holder, bob.holder, "{v}");
            assert!(
                alice.holder.starts_with("rdspg_holder_") && alice.holder.len() == 13 + 16,
                "{v}: {}",
                alice.holder
            );
            for (holder, user) in [(&alice.holder, "alice"), (&bob.holder, "bob")] {
                assert_eq!(
                    holder_state(&cluster, holder),
                    format!(
                        r#"f|f|f|f|f|f|f|{{"rdspg":1,"kind":"holder","of":"{user}"}}|0|apono_connector|0"#
                    ),
                    "{v}: {holder} must have no rights and only the connector as member"
                );
            }
            assert_eq!(owned_by(&cluster, &bob.holder), "secret", "{v}");
            assert_eq!(
                owned_by(&cluster, &alice.holder),
                "a_copy,a_idx,a_pub,a_stats,a_view",
                "{v}"
            );
            assert!(bob.moved.iter().all(|o| o.name == "bob_work.secret" || o.name == "bob_work"), "{v}: {:?}", bob.moved);
            assert_eq!(alice.moved.len(), 6, "{v}: {:?}", alice.moved);
            // Carol owned nothing: no holder of hers exists.
            assert!(carol.moved.is_empty(), "{v}");
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles \
                      WHERE rolname LIKE 'rdspg\\_holder%'"
                ),
                {
                    let mut both = [alice.holder.clone(), bob.holder.clone()];
                    both.sort();
                    both.join(",")
                },
                "{v}"
            );
            // Nothing was lost.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT (SELECT count(*) FROM bob_work.secret) || ',' || (SELECT count(*) FROM alice_work.a_stats)"
                ),
                "1,50",
                "{v}"
            );
        });
    });
}

/// Who owns dave's table, and whether dave may log in.
fn dave_state(cluster: &TestCluster) -> String {
    su(
        cluster,
        rds::APP_DB,
        "SELECT pg_get_userbyid(c.relowner), r.rolcanlogin, (SELECT count(*) FROM sales.d_notes) \
           FROM pg_class c, pg_roles r \
          WHERE c.oid = 'sales.d_notes'::regclass AND r.rolname = 'dave'",
    )
}

#[test]
fn a_role_not_ours_under_a_holders_name_is_refused_and_nothing_moves() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            let pw = admin_user(&s, "dave", Scope::Schema(id("sales"))).await;
            plant(
                &cluster,
                "dave",
                &pw,
                "CREATE TABLE sales.d_notes (n int); INSERT INTO sales.d_notes VALUES (7);",
            )
            .await;
            let oid: u32 = su(
                &cluster,
                "postgres",
                "SELECT oid FROM pg_roles WHERE rolname = 'dave'",
            )
            .parse()
            .unwrap();
            let holder = holder_role_name(&id(DEFAULT_HOLDER_ROLE), oid, "dave").unwrap();
            assert_eq!(
                holder,
                holder_role_name(&id(DEFAULT_HOLDER_ROLE), oid, "dave").unwrap(),
                "the name is stable"
            );
            assert_ne!(
                holder,
                holder_role_name(&id(DEFAULT_HOLDER_ROLE), oid + 1, "dave").unwrap()
            );
            assert_eq!(dave_state(&cluster), "dave|t|1", "{v}");

            // Someone else's role under that name, rightless but unmarked, or marked for another user.
            let q = holder.quoted().to_string();
            for (comment, says) in [
                ("NULL", "not this library's holder"),
                (r#"'{"rdspg":1,"kind":"holder","of":"erin"}'"#, "holds for erin"),
                (r#"'{"rdspg":1,"kind":"holder"}'"#, "not this library's holder"),
            ] {
                su(
                    &cluster,
                    "postgres",
                    &format!(
                        "CREATE ROLE {q} NOLOGIN NOINHERIT; COMMENT ON ROLE {q} IS {comment};"
                    ),
                );
                let err = s
                    .revoke_role(&id("dave"), &connector_for(&cluster))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(&err, GrantsError::UnsafeServiceRole { role, purpose: "holder", .. } if *role == holder.as_str())
                        && err.to_string().contains(says),
                    "{v}: {comment}: {err}"
                );
                assert_eq!(dave_state(&cluster), "dave|f|1", "{v}: {comment}");
                su(&cluster, "postgres", &format!("DROP ROLE {q}"));
            }

            // With the name free, the revocation creates dave's holder and goes through.
            let report = s
                .revoke_role(&id("dave"), &connector_for(&cluster))
                .await;
            assert!(report.is_ok(), "{v}: {report:?}");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.d_notes) \
                       FROM pg_class WHERE oid = 'sales.d_notes'::regclass"
                ),
                format!("{}|1", holder.as_str()),
                "{v}"
            );
        });
    });
}

#[test]
fn holder_names_are_stable_and_fit() {
    let prefix = id(DEFAULT_HOLDER_ROLE);
    let a = holder_role_name(&prefix, 16_384, "alice").unwrap();
    assert_eq!(a, holder_role_name(&prefix, 16_384, "alice").unwrap());
    assert_ne!(a, holder_role_name(&prefix, 16_385, "alice").unwrap());
    assert_ne!(a, holder_role_name(&prefix, 16_384, "alicf").unwrap());
    assert!(a.as_str().starts_with("rdspg_holder_"));
    assert_eq!(a.as_str().len(), "rdspg_holder_".len() + 16);
    assert!(
        a.as_str()["rdspg_holder_".len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // The longest prefix that fits: 46 bytes; one more is refused.
    assert_eq!(
        holder_role_name(&id(&"p".repeat(46)), 1, "u")
            .unwrap()
            .as_str()
            .len(),
        63
    );
    assert!(holder_role_name(&id(&"p".repeat(47)), 1, "u").is_err());
}
