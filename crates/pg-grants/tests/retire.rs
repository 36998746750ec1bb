//! Revocation with retention (`Session::retire_role`) against real PostgreSQL with RDS
//! emulation, on 15 and 17 (the membership rules differ from 16 on), written as a hostile
//! grantee would: the user plants what runs with its rights, keeps a session open, ties itself
//! to other roles, and must end up as powerless as a dropped user while keeping its data; then
//! it comes back, and finally its cleanup drops it.

mod common;

use common::*;
use pg_grants::password::Password;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{
    AccessLevel, Grant, GrantsError, LevelPolicy, ManagedRecord, ObjectKind, Scope, Session,
    Settings,
};
use pg_testkit::{TestCluster, for_each_version, rds};
use time::macros::datetime;

const ACCOMPLICE_PW: &str = "accomplice-pw-1";

/// What the user plants while its admin grant on schema `sales` lasts.
const PLANT: &str = r#"
CREATE TABLE sales.notes (id int);
INSERT INTO sales.notes VALUES (1), (2), (3);
CREATE TABLE sales.notes_log (id int);
CREATE RULE log_notes AS ON INSERT TO sales.notes DO ALSO INSERT INTO sales.notes_log VALUES (NEW.id);
GRANT INSERT, SELECT ON sales.notes TO accomplice;
CREATE FUNCTION sales.whoami() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$SELECT current_user::text$$;
CREATE FUNCTION sales.stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER notes_stamp BEFORE INSERT ON sales.notes FOR EACH ROW EXECUTE FUNCTION sales.stamp();
CREATE VIEW sales.customer_names AS SELECT name FROM sales.customers;
GRANT SELECT ON sales.customer_names TO accomplice;
"#;

/// What a retirement could have changed about `role`.
fn role_state(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolvaliduntil, md5(coalesce(rolpassword, '')), \
             md5(coalesce(shobj_description(oid, 'pg_authid'), '')) \
             FROM pg_authid WHERE rolname = '{role}'"
        ),
    )
}

#[test]
fn a_retired_user_keeps_its_data_and_nothing_else_then_comes_back_then_is_dropped() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let o = connect(&cluster, cluster.connector(), rds::OTHER_DB).await;
            let s_other = Session::new(&o.client, Settings::default()).await.unwrap();
            fix_owners(&cluster, &s).await;
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE accomplice LOGIN PASSWORD '{ACCOMPLICE_PW}'; \
                     GRANT USAGE ON SCHEMA sales TO accomplice;"
                ),
            );

            // A user with admin on schema sales and read-only on analytics, also in rds_iam.
            let pw = new_user(&s, "mallory", AccessLevel::Admin).await;
            s.apply(
                &id("mallory"),
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
            )
            .await
            .unwrap();
            su(
                &cluster,
                rds::OTHER_DB,
                "GRANT USAGE ON SCHEMA reports TO apono_connector WITH GRANT OPTION; \
                 GRANT SELECT ON reports.daily TO apono_connector WITH GRANT OPTION",
            );
            s_other
                .apply(
                    &id("mallory"),
                    &[Grant::new(Scope::Schema(id("reports")), AccessLevel::ReadOnly)],
                )
                .await
                .unwrap();
            c.client
                .batch_execute("GRANT rds_iam TO mallory")
                .await
                .unwrap();
            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(PLANT).await.unwrap();
            // A role that administers itself (old releases) makes an accomplice act as it; the
            // servers under test refuse. A member granted by hand (here by the connector) is
            // removed by the retirement.
            let self_grant = try_sql(&u, "GRANT mallory TO accomplice").await;
            assert!(self_grant.is_err(), "{v}: {self_grant:?}");
            c.client
                .batch_execute("GRANT mallory TO accomplice")
                .await
                .unwrap();
            let had = su(
                &cluster,
                rds::APP_DB,
                "SELECT has_table_privilege('mallory', 'sales.customers', 'SELECT,INSERT,UPDATE,DELETE'), \
                 has_schema_privilege('mallory', 'sales', 'USAGE'), \
                 has_schema_privilege('mallory', 'sales', 'CREATE')",
            );
            assert_eq!(had, "t|t|t", "{v}");
            assert_eq!(
                su(
                    &cluster,
                    rds::OTHER_DB,
                    "SELECT has_table_privilege('mallory', 'reports.daily', 'SELECT'), \
                     has_schema_privilege('mallory', 'reports', 'USAGE')"
                ),
                "t|t",
                "{v}"
            );
            // Direct ACL entries before 16, memberships in access roles on 16+.
            if v >= 16 {
                let member_of = memberships(&cluster, "mallory");
                assert!(member_of.split('|').next().unwrap().contains("rdspg_access_"), "{v}: {member_of}");
            } else {
                assert_ne!(acl_entries(&cluster, "mallory"), "0", "{v}");
            }

            // analytics is unreachable while another user is retired: it can no longer log in,
            // its record is untouched (still its grant), and the error says what is left.
            let at = datetime!(2026-12-01 12:00 UTC);
            let trudy_pw = new_user(&s, "trudy", AccessLevel::ReadOnly).await;
            s_other
                .apply(
                    &id("trudy"),
                    &[Grant::new(Scope::Schema(id("reports")), AccessLevel::ReadOnly)],
                )
                .await
                .unwrap();
            if v >= 16 {
                // On 16+ the grant is a membership, which retirement removes without visiting
                // analytics; a privilege the connector granted trudy there directly needs a visit.
                su(&cluster, rds::OTHER_DB, "SET ROLE apono_connector; GRANT SELECT ON reports.daily TO trudy");
            }
            let t = try_connect(&cluster, "trudy", &trudy_pw, rds::APP_DB)
                .await
                .unwrap();
            let err = s
                .retire_role(
                    &id("trudy"),
                    &connector_except(&cluster, &[rds::OTHER_DB]),
                    at,
                )
                .await
                .unwrap_err();
            match &err {
                GrantsError::RevokeIncomplete { remaining, .. } => {
                    assert_eq!(remaining, &[rds::OTHER_DB], "{v}");
                }
                other => panic!("{v}: {other}"),
            }
            assert_eq!(can_login(&cluster, "trudy"), "f", "{v}");
            let half = s.managed_role(&id("trudy")).await.unwrap();
            assert_eq!(half.record.revoked_at, None, "{v}");
            assert_eq!(half.record.grants.len(), 1, "{v}");
            assert!(t.query_one("SELECT 1", &[]).await.is_err(), "{v}: session must be gone");
            // Running again finishes.
            let report = s
                .retire_role(&id("trudy"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(report.retained, "{v}");
            assert_eq!(report.databases, [rds::APP_DB, rds::OTHER_DB], "{v}");
            assert_eq!(
                s.managed_role(&id("trudy")).await.unwrap().record.revoked_at,
                Some(at),
                "{v}"
            );
            assert_eq!(acl_entries(&cluster, "trudy"), "0", "{v}");

            // Unmanaged roles are refused and unchanged.
            for victim in [rds::MASTER, "accomplice"] {
                let before = role_state(&cluster, victim);
                let err = s
                    .retire_role(&id(victim), &connector_for(&cluster), at)
                    .await
                    .unwrap_err();
                assert!(matches!(err, GrantsError::NotManaged { .. }), "{v}: {err}");
                assert_eq!(role_state(&cluster, victim), before, "{v}: {victim}");
            }
            // A missing role is an empty report.
            let none = s
                .retire_role(&id("nobody"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(!none.retained && !none.dropped && none.databases.is_empty(), "{v}");

            let report = s
                .retire_role(&id("mallory"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(report.retained && !report.dropped, "{v}: {report:?}");
            assert_eq!(report.sessions_terminated, 1, "{v}: its open session");
            assert!(report.holder.is_empty() && report.moved.is_empty(), "{v}");
            // On 16+ analytics' grant is a membership (removed with the others), so only
            // appdb, where mallory owns objects, needs a visit.
            assert!(
                (v >= 16 || report.databases.contains(&rds::OTHER_DB.to_owned()))
                    && report.databases.contains(&rds::APP_DB.to_owned()),
                "{v}: {:?}",
                report.databases
            );
            let kept = |kind: &str, name: &str| {
                report
                    .kept
                    .iter()
                    .find(|o| o.kind == kind && o.name == name)
                    .unwrap_or_else(|| panic!("{v}: {kind} {name} not in {:?}", report.kept))
            };
            kept("table", "sales.notes");
            kept("view", "sales.customer_names");
            assert!(kept("function", "sales.whoami()").security_definer, "{v}");
            assert!(
                report
                    .disabled_triggers
                    .iter()
                    .any(|t| t.trigger == "notes_stamp" && t.table == "sales.notes"),
                "{v}: {:?}",
                report.disabled_triggers
            );
            // rds_iam and the accomplice's membership in it, both granted by the connector,
            // were removed.
            let mut removed: Vec<String> = report
                .memberships_removed
                .iter()
                .map(|m| format!("{}>{}", m.member, m.role))
                .collect();
            removed.sort();
            // On 16+ also its memberships in the access roles of its two grants.
            let access = removed.iter().filter(|m| m.starts_with("mallory>rdspg_access_")).count();
            assert_eq!(access, if v >= 16 { 2 } else { 0 }, "{v}: {removed:?}");
            removed.retain(|m| !m.starts_with("mallory>rdspg_access_"));
            assert_eq!(removed, ["accomplice>mallory", "mallory>rds_iam"], "{v}");

            // The role is kept, cannot log in, expires at `at`, records its retirement.
            assert_eq!(can_login(&cluster, "mallory"), "f", "{v}");
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = 'mallory'"
                ),
                at.unix_timestamp().to_string(),
                "{v}"
            );
            let retained = s.managed_role(&id("mallory")).await.unwrap();
            assert_eq!(retained.record.revoked_at, Some(at), "{v}");
            assert!(retained.record.grants.is_empty(), "{v}");
            assert!(retained.record.is_retained() && !retained.can_login, "{v}");
            // Tied to no role: the marker's membership (the mark) and the connector's remain.
            assert_eq!(
                memberships(&cluster, "mallory"),
                "|apono_connector,rdspg_managed",
                "{v}"
            );
            // No privilege on anything it had, no ACL entry anywhere.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT has_table_privilege('mallory', 'sales.customers', 'SELECT'), \
                     has_table_privilege('mallory', 'sales.orders', 'INSERT'), \
                     has_schema_privilege('mallory', 'sales', 'USAGE'), \
                     has_schema_privilege('mallory', 'sales', 'CREATE'), \
                     has_database_privilege('mallory', 'appdb', 'CREATE')"
                ),
                "f|f|f|f|f",
                "{v}"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::OTHER_DB,
                    "SELECT has_table_privilege('mallory', 'reports.daily', 'SELECT'), \
                     has_schema_privilege('mallory', 'reports', 'USAGE'), \
                     has_database_privilege('mallory', 'analytics', 'CREATE')"
                ),
                "f|f|f",
                "{v}"
            );
            assert_eq!(acl_entries(&cluster, "mallory"), "0", "{v}");
            // Password login is refused.
            assert!(
                try_connect(&cluster, "mallory", &pw, rds::APP_DB).await.is_err(),
                "{v}: login must be refused"
            );
            // Its table is still its own, every row in it; its rule and trigger are disabled,
            // its function is SECURITY INVOKER and executable by nobody but its owner (a
            // revoked user's routines no longer run for others at all: see caller_rights.rs),
            // its view reads as its caller.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.notes), \
                     (SELECT ev_enabled FROM pg_rewrite WHERE rulename = 'log_notes'), \
                     (SELECT tgenabled FROM pg_trigger WHERE tgname = 'notes_stamp'), \
                     (SELECT prosecdef FROM pg_proc WHERE proname = 'whoami'), \
                     (SELECT 'security_invoker=true' = ANY(reloptions) FROM pg_class \
                       WHERE oid = 'sales.customer_names'::regclass) \
                     FROM pg_class WHERE oid = 'sales.notes'::regclass"
                ),
                "mallory|3|D|D|f|t",
                "{v}"
            );
            let a = try_connect(&cluster, "accomplice", ACCOMPLICE_PW, rds::APP_DB)
                .await
                .unwrap();
            // Deliberately changed (defect A of the review): before, others kept EXECUTE and
            // the function ran as its caller; now nobody but its owner may run it.
            let who = try_sql(&a, "SELECT sales.whoami()").await;
            assert!(
                who.as_ref().is_err_and(|e| e.starts_with("42501")),
                "{v}: the accomplice may still execute the retained user's function: {who:?}"
            );
            assert!(
                try_sql(&a, "SELECT * FROM sales.customer_names").await.is_err(),
                "{v}: the view reads as its caller, who may not read customers"
            );
            try_sql(&a, "INSERT INTO sales.notes VALUES (4)").await.unwrap();
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT count(*) FROM sales.notes_log"),
                "0",
                "{v}: the disabled rule did not run"
            );
            // No accomplice acts as it.
            assert!(
                try_sql(&a, "SET ROLE mallory").await.is_err(),
                "{v}: the accomplice may act as the retained user"
            );
            drop(a);

            // A second retirement is a no-op success: the record keeps its time.
            let later = datetime!(2026-12-02 12:00 UTC);
            assert!(u.query_one("SELECT 1", &[]).await.is_err(), "{v}: session must be gone");
            let before = role_state(&cluster, "mallory");
            let again = s
                .retire_role(&id("mallory"), &connector_for(&cluster), later)
                .await
                .unwrap();
            assert!(again.retained && !again.dropped, "{v}");
            assert!(again.memberships_removed.is_empty(), "{v}");
            assert!(again.disabled_triggers.is_empty(), "{v}: {:?}", again.disabled_triggers);
            assert_eq!(role_state(&cluster, "mallory"), before, "{v}");

            // Its next request brings the same user back: its old password, its own table,
            // its new privileges.
            let new = NewRole::new(
                id("mallory"),
                LoginAuth::Password(Password::generate()),
                ManagedRecord::new(
                    "req-back",
                    AccessLevel::ReadOnly,
                    datetime!(2099-01-01 0:00 UTC),
                    rds::CONNECTOR,
                ),
            );
            let mut back = s.create_or_add(&new, later).await.unwrap();
            assert!(back.role.can_login && back.role.record.revoked_at.is_none(), "{v}");
            s.apply_to(
                &mut back.role,
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::ReadOnly)],
            )
            .await
            .unwrap();
            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap_or_else(|e| panic!("{v}: the old password must work again: {e}"));
            let rows: i64 = u
                .query_one("SELECT count(*) FROM sales.notes", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(rows, 4, "{v}");
            try_sql(&u, "INSERT INTO sales.notes VALUES (5)").await.unwrap();
            let customers: i64 = u
                .query_one("SELECT count(*) FROM sales.customers", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(customers, 3, "{v}");
            assert!(
                try_sql(&u, "INSERT INTO sales.customers VALUES (9, 'x')").await.is_err(),
                "{v}: read-only now"
            );
            drop(u);

            // The cleanup drops it and hands its table, rows included, to its holder.
            let gone = s
                .revoke_role(&id("mallory"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(gone.dropped && !gone.retained, "{v}");
            assert_eq!(can_login(&cluster, "mallory"), "", "{v}");
            assert!(gone.holder.starts_with("rdspg_holder_"), "{v}: {}", gone.holder);
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.notes) \
                     FROM pg_class WHERE oid = 'sales.notes'::regclass"
                ),
                format!("{}|5", gone.holder),
                "{v}"
            );
        });
    });
}

#[test]
fn a_membership_granted_by_hand_is_removed_or_named() {
    // Before 16 the connector's CREATEROLE removes any membership in a role that is not a
    // superuser; from 16 on only a role with the grantor's privileges may, and the master user
    // that granted it by hand is not one the connector has.
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let pw = new_user(&s, "hal", AccessLevel::ReadOnly).await;
            as_master(
                &cluster,
                "postgres",
                "CREATE ROLE auditors NOLOGIN; GRANT auditors TO hal;",
            );
            c.client
                .batch_execute("GRANT rds_iam TO hal; GRANT CONNECT ON DATABASE analytics TO hal")
                .await
                .unwrap();
            assert_eq!(
                memberships(&cluster, "hal").split('|').next().unwrap(),
                "auditors,rds_iam",
                "{v}"
            );
            let at = datetime!(2026-12-01 12:00 UTC);
            let result = s
                .retire_role(&id("hal"), &connector_for(&cluster), at)
                .await;
            if v < 16 {
                let report = result.unwrap();
                let mut removed: Vec<String> = report
                    .memberships_removed
                    .iter()
                    .map(|m| m.role.clone())
                    .collect();
                removed.sort();
                assert_eq!(removed, ["auditors", "rds_iam"], "{v}");
            } else {
                let err = result.unwrap_err();
                let GrantsError::MembershipsNotRemoved {
                    role,
                    memberships: left,
                } = &err
                else {
                    panic!("{v}: {err}");
                };
                assert_eq!(role, "hal");
                assert_eq!(left.len(), 1, "{v}: {left:?}");
                let m = &left[0];
                assert_eq!(
                    (m.role.as_str(), m.member.as_str(), m.grantor.as_str()),
                    ("auditors", "hal", rds::MASTER),
                    "{v}"
                );
                let fix = r#"REVOKE "auditors" FROM "hal" GRANTED BY "postgres";"#;
                assert_eq!(m.fix_sql, fix, "{v}");
                assert!(err.to_string().contains(fix), "{v}: {err}");
                // Its privileges were revoked all the same.
                assert_eq!(acl_entries(&cluster, "hal"), "0", "{v}");
                // It stays NOLOGIN, its record untouched, rds_iam gone.
                assert_eq!(can_login(&cluster, "hal"), "f", "{v}");
                assert!(
                    try_connect(&cluster, "hal", &pw, rds::APP_DB)
                        .await
                        .is_err(),
                    "{v}"
                );
                let record = s.managed_role(&id("hal")).await.unwrap().record;
                assert!(
                    record.revoked_at.is_none() && record.grants.len() == 1,
                    "{v}"
                );
                assert_eq!(
                    memberships(&cluster, "hal").split('|').next().unwrap(),
                    "auditors",
                    "{v}"
                );
                // The master runs the fix; the retirement then finishes.
                as_master(&cluster, "postgres", fix);
                let report = s
                    .retire_role(&id("hal"), &connector_for(&cluster), at)
                    .await
                    .unwrap();
                assert!(report.retained, "{v}");
            }
            assert_eq!(
                memberships(&cluster, "hal").split('|').next().unwrap(),
                "",
                "{v}"
            );
            let record = s.managed_role(&id("hal")).await.unwrap().record;
            assert_eq!(record.revoked_at, Some(at), "{v}");
            assert_eq!(can_login(&cluster, "hal"), "f", "{v}");

            // A user carrying the 0.1.0 mark (a member of the marker) keeps a mark: it is
            // turned around, never removed with its other memberships.
            new_user(&s, "olga", AccessLevel::ReadOnly).await;
            c.client
                .batch_execute(if v >= 16 {
                    "REVOKE olga FROM rdspg_managed; \
                     GRANT rdspg_managed TO olga WITH INHERIT FALSE, SET FALSE"
                } else {
                    "REVOKE olga FROM rdspg_managed; GRANT rdspg_managed TO olga"
                })
                .await
                .unwrap();
            assert!(
                s.managed_role(&id("olga")).await.unwrap().legacy_mark,
                "{v}"
            );
            let report = s
                .retire_role(&id("olga"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(
                report.memberships_removed.is_empty(),
                "{v}: {:?}",
                report.memberships_removed
            );
            let olga = s.managed_role(&id("olga")).await.unwrap();
            assert!(!olga.legacy_mark && olga.record.is_retained(), "{v}");
            assert_eq!(
                memberships(&cluster, "olga"),
                "|apono_connector,rdspg_managed",
                "{v}"
            );
        });
    });
}

#[test]
fn privileges_the_connector_cannot_revoke_are_named_and_the_user_stays_disabled() {
    // A column privilege granted by the master user (no plan covers columns) and, on a shared
    // object, a parameter privilege granted by a superuser: neither is the connector's to
    // revoke, so the retirement stops naming them; once their grantors revoke them, it finishes.
    // (A privilege the plan covers but the connector cannot revoke, say USAGE on a schema the
    // master granted, stops it earlier, with the plan's fix: see `privileges.rs`.)
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let pw = new_user(&s, "cole", AccessLevel::ReadOnly).await;
            as_master(
                &cluster,
                rds::APP_DB,
                "GRANT SELECT (name) ON sales.customers TO cole;",
            );
            su(
                &cluster,
                "postgres",
                "GRANT SET ON PARAMETER work_mem TO cole",
            );
            // A database it may only connect to: no object of it there, only the database's
            // ACL (a shared object) names it; the retirement visits it all the same.
            c.client
                .batch_execute("GRANT CONNECT, TEMPORARY ON DATABASE analytics TO cole")
                .await
                .unwrap();
            let at = datetime!(2026-12-01 12:00 UTC);
            let err = s
                .retire_role(&id("cole"), &connector_for(&cluster), at)
                .await
                .unwrap_err();
            let GrantsError::RevokeIncomplete {
                remaining, reason, ..
            } = &err
            else {
                panic!("{v}: {err}");
            };
            // analytics was done all the same.
            assert_eq!(remaining, &[rds::APP_DB], "{v}");
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a \
                     WHERE a.grantee = 'cole'::regrole"
                ),
                "0",
                "{v}"
            );
            assert!(
                reason.contains("table column sales.customers.name")
                    && reason.contains("shared parameter ACL work_mem"),
                "{v}: {reason}"
            );
            assert_eq!(can_login(&cluster, "cole"), "f", "{v}");
            assert!(
                try_connect(&cluster, "cole", &pw, rds::APP_DB)
                    .await
                    .is_err(),
                "{v}"
            );
            let record = s.managed_role(&id("cole")).await.unwrap().record;
            assert!(
                record.revoked_at.is_none() && record.grants.len() == 1,
                "{v}"
            );

            su(
                &cluster,
                "postgres",
                "REVOKE SET ON PARAMETER work_mem FROM cole",
            );
            if v < 16 {
                // The owner fix of 15 lets the connector act for the master, which granted the
                // column privilege: the retirement revokes it.
                su(&cluster, "postgres", "GRANT postgres TO apono_connector");
            } else {
                // On 16+ the master is a member of the connector, which cannot act for it: the
                // master revokes it.
                as_master(
                    &cluster,
                    rds::APP_DB,
                    "REVOKE SELECT (name) ON sales.customers FROM cole",
                );
            }
            let report = s
                .retire_role(&id("cole"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(report.retained, "{v}");
            assert_eq!(acl_entries(&cluster, "cole"), "0", "{v}");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT has_column_privilege('cole', 'sales.customers', 'name', 'SELECT')"
                ),
                "f",
                "{v}"
            );
            assert_eq!(
                s.managed_role(&id("cole")).await.unwrap().record.revoked_at,
                Some(at),
                "{v}"
            );
        });
    });
}

#[test]
fn triggers_running_a_retired_users_code_are_disabled_or_stop_it() {
    // A user holding TRIGGER (the admin level of 0.1.0) attaches its own function to tables it
    // does not own: retirement disables those triggers, acting for their owners, or, on 16+ for
    // a table of the master user (a member of the connector), stops naming the SQL its owner
    // runs; the user stays NOLOGIN and its record untouched until then.
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            let pw = new_user(&s, "trig", AccessLevel::Admin).await;
            let old_admin = Settings::default().policy(LevelPolicy::default().set(
                AccessLevel::Admin,
                ObjectKind::Table,
                ObjectKind::Table.applicable(),
            ));
            Session::new(&c.client, old_admin)
                .await
                .unwrap()
                .apply(
                    &id("trig"),
                    &[
                        Grant::new(Scope::Schema(id("inventory")), AccessLevel::Admin),
                        Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin),
                    ],
                )
                .await
                .unwrap();
            let u = try_connect(&cluster, "trig", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(
                "CREATE FUNCTION sales.fire() RETURNS trigger LANGUAGE plpgsql AS \
                   $$BEGIN RETURN NULL; END$$; \
                 CREATE TRIGGER t_items AFTER UPDATE ON inventory.items \
                   FOR EACH ROW EXECUTE FUNCTION sales.fire(); \
                 CREATE TRIGGER t_orders AFTER UPDATE ON sales.orders \
                   FOR EACH ROW EXECUTE FUNCTION sales.fire();",
            )
            .await
            .unwrap();
            drop(u);
            let enabled = || {
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) \
                       FROM pg_trigger WHERE tgname IN ('t_items', 't_orders')",
                )
            };
            let at = datetime!(2026-12-01 12:00 UTC);
            if v >= 16 {
                let err = s
                    .retire_role(&id("trig"), &connector_for(&cluster), at)
                    .await
                    .unwrap_err();
                let GrantsError::TriggersNotDisabled { triggers, .. } = &err else {
                    panic!("{v}: {err}");
                };
                assert_eq!(triggers.len(), 1, "{v}: {triggers:?}");
                assert_eq!(
                    (triggers[0].trigger.as_str(), triggers[0].owner.as_str()),
                    ("t_orders", rds::MASTER),
                    "{v}"
                );
                // Nothing changed in that database: the transaction rolled back.
                assert_eq!(enabled(), "t_items:O,t_orders:O", "{v}");
                assert_eq!(can_login(&cluster, "trig"), "f", "{v}");
                let record = s.managed_role(&id("trig")).await.unwrap().record;
                assert!(record.revoked_at.is_none(), "{v}");
                as_master(&cluster, rds::APP_DB, &triggers[0].fix_sql);
            }
            let report = s
                .retire_role(&id("trig"), &connector_for(&cluster), at)
                .await
                .unwrap();
            assert!(report.retained, "{v}");
            let mut disabled: Vec<&str> = report
                .disabled_triggers
                .iter()
                .map(|t| t.trigger.as_str())
                .collect();
            disabled.sort_unstable();
            assert_eq!(
                disabled,
                if v >= 16 {
                    vec!["t_items"]
                } else {
                    vec!["t_items", "t_orders"]
                },
                "{v}"
            );
            assert_eq!(enabled(), "t_items:D,t_orders:D", "{v}");
            // The function is still its own.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'fire'"
                ),
                "trig",
                "{v}"
            );
        });
    });
}
