//! Revocation against real PostgreSQL with RDS emulation.

mod common;

use common::*;
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session, Settings};
use pg_testkit::{ALL_VERSIONS, TestCluster, for_each_version, rds};

#[test]
fn revocation_keeps_data_ends_sessions_and_resumes_after_failure() {
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap().with_notices(c.notices.clone());
            let o = connect(&cluster, cluster.connector(), rds::OTHER_DB).await;
            let s_other = Session::new(&o.client, Settings::default()).await.unwrap();
            fix_owners(&cluster, &s).await;

            // A user with admin on appdb and read-only on analytics, connected, owning a table.
            let pw = new_user(&s, "leaver", AccessLevel::Admin).await;
            s.apply(&id("leaver"), &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)]).await.unwrap();
            su(&cluster, rds::OTHER_DB, r#"GRANT USAGE ON SCHEMA reports TO apono_connector WITH GRANT OPTION; GRANT SELECT ON reports.daily TO apono_connector WITH GRANT OPTION"#);
            s_other.apply(&id("leaver"), &[Grant::new(Scope::Schema(id("reports")), AccessLevel::ReadOnly)]).await.unwrap();
            if v >= 16 {
                // On 16+ the user holds analytics' privileges through a membership, which
                // DROP ROLE removes without visiting analytics; a privilege granted to it there
                // by hand still needs a visit.
                su(&cluster, rds::OTHER_DB, "SET ROLE apono_connector; GRANT SELECT ON reports.daily TO leaver");
            }
            let u = try_connect(&cluster, "leaver", &pw, rds::APP_DB).await.unwrap();
            u.batch_execute("CREATE TABLE sales.leaver_notes (id int); INSERT INTO sales.leaver_notes VALUES (1), (2), (3)").await.unwrap();

            // Unmanaged roles are refused and unchanged.
            for victim in [rds::MASTER, rds::CONNECTOR] {
                let err = s.revoke_role(&id(victim), &connector_for(&cluster)).await.unwrap_err();
                assert!(matches!(err, GrantsError::NotManaged { .. }), "{err}");
                assert_eq!(su(&cluster, "postgres", &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{victim}'")), "t");
            }

            // analytics is unreachable: the role can no longer log in, and the error says what is left.
            let err = s.revoke_role(&id("leaver"), &connector_except(&cluster, &[rds::OTHER_DB])).await.unwrap_err();
            match &err {
                GrantsError::RevokeIncomplete { remaining, .. } => assert_eq!(remaining, &[rds::OTHER_DB]),
                other => panic!("{other}"),
            }
            assert_eq!(su(&cluster, "postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'leaver'"), "f");
            assert!(try_connect(&cluster, "leaver", &pw, rds::APP_DB).await.is_err(), "login must be refused");
            // The open session was terminated.
            assert!(u.query_one("SELECT 1", &[]).await.is_err(), "session must be gone");

            // Running again finishes.
            let report = s.revoke_role(&id("leaver"), &connector_for(&cluster)).await.unwrap();
            assert!(report.dropped);
            assert!(report.databases.contains(&rds::OTHER_DB.to_owned()), "{report:?}");
            assert_eq!(su(&cluster, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'leaver'"), "0");
            // Its table kept every row, now owned by its holder (never the connector): the
            // holder the interrupted run created, found again by its stable name.
            assert!(report.holder.starts_with("rdspg_holder_"), "{}", report.holder);
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.leaver_notes) FROM pg_class WHERE oid = 'sales.leaver_notes'::regclass"),
                format!("{}|3", report.holder)
            );
            assert_eq!(
                su(&cluster, "postgres", "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE 'rdspg\\_holder%'"),
                report.holder
            );
            // A third run is a no-op.
            let again = s.revoke_role(&id("leaver"), &connector_for(&cluster)).await.unwrap();
            assert!(!again.dropped);
        });
    });
}

/// What a refused revocation could have changed about `role`.
fn role_state(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolvaliduntil, md5(coalesce(rolpassword, '')), \
             (SELECT string_agg(roleid::regrole || '>' || member::regrole || ':' || admin_option, ',' ORDER BY 1) \
                FROM pg_auth_members WHERE member = a.oid OR roleid = a.oid) \
             FROM pg_authid a WHERE rolname = '{role}'"
        ),
    )
}

#[test]
fn a_managed_role_out_of_the_connectors_reach_is_refused_with_the_fix() {
    // 16+: the connector may alter and drop a role only with ADMIN OPTION on it, which it gets
    // implicitly when it creates the role (CREATE ROLE docs, `createrole_self_grant`). If that
    // grant is removed, every change is refused before anything happens, with the fix; before
    // 16, CREATEROLE is what counts, so the same setup still revokes.
    for_each_version(ALL_VERSIONS, |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let pw = new_user(&s, "frank", AccessLevel::ReadOnly).await;
            let implicit = su(
                &cluster,
                "postgres",
                "SELECT pg_has_role('apono_connector', 'frank', 'MEMBER WITH ADMIN OPTION')",
            );
            assert_eq!(
                implicit,
                if v >= 16 { "t" } else { "f" },
                "{v}: implicit ADMIN OPTION of the creator"
            );
            if v >= 16 {
                // The mark (the marker a member of frank) was granted with that ADMIN OPTION;
                // an administrator re-grants it first, or the revoke would need CASCADE (which
                // would remove the mark too, and the library then refuses frank as unmanaged).
                su(
                    &cluster,
                    "postgres",
                    "REVOKE frank FROM rdspg_managed GRANTED BY apono_connector; \
                     GRANT frank TO rdspg_managed WITH INHERIT FALSE, SET FALSE; \
                     REVOKE ADMIN OPTION FOR frank FROM apono_connector GRANTED BY rdsadmin",
                );
                assert_eq!(
                    su(
                        &cluster,
                        "postgres",
                        "SELECT pg_has_role('apono_connector', 'frank', 'MEMBER WITH ADMIN OPTION')"
                    ),
                    "f"
                );
                let before = role_state(&cluster, "frank");
                let fix = r#"GRANT "frank" TO "apono_connector" WITH ADMIN OPTION;"#;
                let err = s
                    .revoke_role(&id("frank"), &connector_for(&cluster))
                    .await
                    .unwrap_err();
                match &err {
                    GrantsError::CannotAdministerRole {
                        role,
                        action,
                        fix_sql,
                        ..
                    } => {
                        assert_eq!(
                            (role.as_str(), *action, fix_sql.as_str()),
                            ("frank", "revoke", fix)
                        );
                    }
                    other => panic!("{v}: {other}"),
                }
                assert!(
                    err.to_string().contains("ADMIN OPTION") && err.to_string().contains(fix),
                    "{err}"
                );
                let err = s
                    .set_expiry(&id("frank"), time::macros::datetime!(2098-01-01 0:00 UTC))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, GrantsError::CannotAdministerRole { .. }),
                    "{err}"
                );
                let err = s.rotate_password(&id("frank")).await.unwrap_err();
                assert!(
                    matches!(err, GrantsError::CannotAdministerRole { .. }),
                    "{err}"
                );
                assert_eq!(
                    role_state(&cluster, "frank"),
                    before,
                    "{v}: a refused change changed the role"
                );
                try_connect(&cluster, "frank", &pw, rds::APP_DB)
                    .await
                    .expect("frank still logs in");
                // The fix, run by an administrator, is enough.
                su(&cluster, "postgres", fix);
            } else {
                // 15: CREATEROLE is what counts; without it the fix is to give it back.
                su(
                    &cluster,
                    "postgres",
                    "ALTER ROLE apono_connector NOCREATEROLE",
                );
                let c2 = connect(&cluster, cluster.connector(), rds::APP_DB).await;
                let s2 = Session::new(&c2.client, Settings::default()).await.unwrap();
                let before = role_state(&cluster, "frank");
                let err = s2
                    .revoke_role(&id("frank"), &connector_for(&cluster))
                    .await
                    .unwrap_err();
                match &err {
                    GrantsError::CannotAdministerRole { fix_sql, .. } => {
                        assert_eq!(fix_sql, r#"ALTER ROLE "apono_connector" CREATEROLE;"#);
                    }
                    other => panic!("{v}: {other}"),
                }
                assert_eq!(role_state(&cluster, "frank"), before);
                su(
                    &cluster,
                    "postgres",
                    "ALTER ROLE apono_connector CREATEROLE",
                );
            }
            let report = s
                .revoke_role(&id("frank"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped, "{v}");
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT count(*) FROM pg_roles WHERE rolname = 'frank'"
                ),
                "0"
            );
        });
    });
}
