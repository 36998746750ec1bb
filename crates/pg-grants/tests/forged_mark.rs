//! On PostgreSQL 16+ a `CREATEROLE` tenant administers the roles it creates and could give one
//! both marks of a managed user (the marker's membership, a record in its comment) and the
//! connector's `ADMIN`; the library refuses such a role (the mark was not granted by the
//! connector, the tenant is a member with `ADMIN`) and never alters it. Roles the library
//! created keep passing, through their whole lifecycle.

mod common;

use common::*;
use pg_grants::password::Password;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, GrantsError, ManagedRecord, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};
use time::macros::datetime;

/// Everything about `role` a grant could change.
fn state(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT rolcanlogin, rolvaliduntil, md5(coalesce(rolpassword, '')), \
             md5(coalesce(shobj_description(oid, 'pg_authid'), '')), \
             (SELECT string_agg(member::regrole || '/' || grantor::regrole || '/' || admin_option, ',' \
                                ORDER BY member::regrole::text, grantor::regrole::text) \
                FROM pg_auth_members WHERE roleid = a.oid), \
             (SELECT string_agg(roleid::regrole::text, ',' ORDER BY 1) \
                FROM pg_auth_members WHERE member = a.oid) \
             FROM pg_authid a WHERE rolname = '{role}'"
        ),
    )
}

#[test]
fn a_createrole_tenants_forged_managed_user_is_refused_and_never_altered_on_17() {
    for_each_version(&[17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            // A legitimate user first (it also creates the marker).
            new_user(&s, "bob", AccessLevel::ReadOnly).await;
            s.managed_role(&id("bob")).await.expect("bob is managed");
            // What PostgreSQL 17 records when the connector (CREATEROLE, not superuser) creates
            // a role and marks it: its own implicit ADMIN, granted by the bootstrap superuser
            // (OID 10), and the mark, granted by the connector.
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT string_agg(member::regrole || '/' ||                        CASE WHEN grantor = 10 THEN 'bootstrap' ELSE grantor::regrole::text END                        || '/' || admin_option, ',' ORDER BY member::regrole::text)                      FROM pg_auth_members WHERE roleid = 'bob'::regrole"
                ),
                "apono_connector/bootstrap/true,rdspg_managed/apono_connector/false",
                "{v}"
            );

            su(
                &cluster,
                "postgres",
                "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw'",
            );
            let tenant = try_connect(&cluster, "tenant", "tenant-pw", "postgres")
                .await
                .unwrap();
            let record = ManagedRecord::new(
                "req-old",
                AccessLevel::ReadOnly,
                datetime!(2026-01-01 0:00 UTC),
                rds::CONNECTOR,
            )
            .revoked(datetime!(2026-01-02 0:00 UTC));
            tenant
                .batch_execute(&format!(
                    "CREATE ROLE alice NOLOGIN PASSWORD 'tenant-knows'; \
                     GRANT alice TO rdspg_managed WITH INHERIT FALSE, SET FALSE; \
                     GRANT alice TO apono_connector WITH ADMIN OPTION; \
                     COMMENT ON ROLE alice IS '{}'",
                    record.to_comment()
                ))
                .await
                .expect("the tenant forges the marks");
            let before = state(&cluster, "alice");

            let err = s.managed_role(&id("alice")).await.unwrap_err();
            let GrantsError::NotManaged { reason, .. } = &err else {
                panic!("{v}: expected NotManaged, got {err}");
            };
            assert!(
                reason.contains("tenant") && reason.contains("granted by the connector"),
                "{v}: {err}"
            );
            let names: Vec<String> = s
                .managed_roles()
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.name.to_string())
                .collect();
            assert!(names.contains(&"bob".to_owned()), "{v}: {names:?}");
            assert!(!names.contains(&"alice".to_owned()), "{v}: {names:?}");

            // A request for alice fails closed; nothing changed on the role.
            let new = NewRole::new(
                id("alice"),
                LoginAuth::Password(Password::generate()),
                ManagedRecord::new(
                    "req-alice",
                    AccessLevel::ReadWrite,
                    datetime!(2099-01-01 0:00 UTC),
                    rds::CONNECTOR,
                ),
            );
            let refused = s.create_or_add(&new, time::OffsetDateTime::now_utc()).await;
            assert!(
                matches!(refused, Err(GrantsError::NotManaged { .. })),
                "{v}: {refused:?}"
            );
            let retire = s
                .retire_role(
                    &id("alice"),
                    &connector_for(&cluster),
                    datetime!(2026-12-01 0:00 UTC),
                )
                .await;
            assert!(
                matches!(retire, Err(GrantsError::NotManaged { .. })),
                "{v}: {retire:?}"
            );
            let revoke = s.revoke_role(&id("alice"), &connector_for(&cluster)).await;
            assert!(
                matches!(revoke, Err(GrantsError::NotManaged { .. })),
                "{v}: {revoke:?}"
            );
            assert_eq!(state(&cluster, "alice"), before, "{v}: the forged role changed");

            // Even without the tenant's own membership: its creator's ADMIN stays recorded, and
            // the mark is still not the connector's.
            tenant
                .batch_execute("CREATE ROLE carol NOLOGIN; GRANT carol TO rdspg_managed; \
                                GRANT carol TO apono_connector WITH ADMIN OPTION")
                .await
                .unwrap();
            su(
                &cluster,
                "postgres",
                &format!(
                    "COMMENT ON ROLE carol IS '{}'",
                    record.to_comment()
                ),
            );
            let err = s.managed_role(&id("carol")).await.unwrap_err();
            assert!(matches!(err, GrantsError::NotManaged { .. }), "{v}: {err}");
        });
    });
}

#[test]
fn roles_the_library_creates_stay_managed_through_their_lifecycle() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default()).await.unwrap();
            new_user(&s, "dora", AccessLevel::ReadOnly).await;
            s.managed_role(&id("dora")).await.expect("new user");
            s.retire_role(
                &id("dora"),
                &connector_for(&cluster),
                datetime!(2026-12-01 0:00 UTC),
            )
            .await
            .expect("retire");
            // Retirement made the connector a member (granted by itself): still managed.
            let again = s.managed_role(&id("dora")).await.expect("retained user");
            assert!(again.record.is_retained(), "{v}");
            assert!(
                s.managed_roles()
                    .await
                    .unwrap()
                    .iter()
                    .any(|r| r.name.as_str() == "dora"),
                "{v}"
            );
            let report = s
                .revoke_role(&id("dora"), &connector_for(&cluster))
                .await
                .expect("cleanup");
            assert!(report.dropped, "{v}");
        });
    });
}
