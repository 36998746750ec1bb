//! The mark of a managed role must give its holder nothing. 0.1.0 made every managed user a
//! member of the NOLOGIN marker role; before PostgreSQL 16 a membership always allows
//! `SET ROLE`, so a user could act as the marker and create objects owned by it, which outlive
//! the user's revocation (and which every other managed user could then use as the marker).
//! Real PostgreSQL with RDS emulation, on 15 and 17.

mod common;

use common::*;
use pg_grants::{AccessLevel, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};

/// How many objects `role` owns, in every database (`pg_shdepend` is shared).
fn owned_objects(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_shdepend WHERE refobjid = '{role}'::regrole AND deptype = 'o'"
        ),
    )
}

#[test]
fn a_user_cannot_act_as_the_marker_or_leave_objects_owned_by_it() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            // A database upgraded from PostgreSQL 14 keeps CREATE on public for PUBLIC.
            su(
                &cluster,
                rds::APP_DB,
                "GRANT CREATE ON SCHEMA public TO PUBLIC",
            );
            let pw = new_user(&s, "sneaky", AccessLevel::ReadOnly).await;
            let u = try_connect(&cluster, "sneaky", &pw, rds::APP_DB)
                .await
                .unwrap();

            // Acting as the marker is refused on every version.
            let set = try_sql(
                &u,
                "SET ROLE rdspg_managed; CREATE TABLE public.keepsake (note text); \
                 INSERT INTO public.keepsake VALUES ('still here'); RESET ROLE;",
            )
            .await;
            let _ = try_sql(&u, "RESET ROLE").await;
            // Nor can the user remove its own mark, whichever way it points.
            let unmark = [
                try_sql(&u, "REVOKE sneaky FROM rdspg_managed").await,
                try_sql(&u, "REVOKE rdspg_managed FROM sneaky").await,
            ];
            // Nor change its record.
            let recomment = try_sql(&u, "COMMENT ON ROLE sneaky IS NULL").await;
            // Granting the marker a privilege on its own table does not stop the next grant.
            u.batch_execute(
                "CREATE TABLE public.mine (n int); GRANT SELECT ON public.mine TO rdspg_managed;",
            )
            .await
            .unwrap();
            new_user(&s, "next", AccessLevel::ReadOnly).await;
            // Nor does any other kind of grant a user can make on what it owns: a column, a
            // large object, default privileges (each used to refuse every later grant).
            for (i, grant) in [
                "CREATE TABLE public.cols (n int); GRANT SELECT (n) ON public.cols TO rdspg_managed;",
                "SELECT pg_catalog.lo_create(424242); \
                 GRANT SELECT ON LARGE OBJECT 424242 TO rdspg_managed;",
                "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO rdspg_managed;",
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO rdspg_managed;",
            ]
            .into_iter()
            .enumerate()
            {
                u.batch_execute(grant)
                    .await
                    .unwrap_or_else(|e| panic!("{v}: {grant}: {e}"));
                new_user(&s, &format!("next{i}"), AccessLevel::ReadOnly).await;
            }
            // A privilege an application owner grants the marker reaches only users marked
            // by 0.1.0 (its members): it is logged, and stops no user's creation; the new
            // user does not get it.
            su(
                &cluster,
                rds::APP_DB,
                "GRANT SELECT ON sales.orders TO rdspg_managed",
            );
            let created = try_new_user(&s, "after_app_grant", AccessLevel::ReadOnly).await;
            let gift_reached = su(
                &cluster,
                rds::APP_DB,
                "SELECT has_table_privilege('after_app_grant', 'sales.orders', 'SELECT')",
            );
            su(
                &cluster,
                rds::APP_DB,
                "REVOKE SELECT ON sales.orders FROM rdspg_managed",
            );

            let report = s
                .revoke_role(&id("sneaky"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped, "{v}");
            assert!(set.is_err(), "{v}: the user acted as the marker");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT count(*) FROM pg_class WHERE relname = 'keepsake'"
                ),
                "0",
                "{v}: an object created as the marker outlived the revocation"
            );
            assert!(
                unmark.iter().all(Result::is_err),
                "{v}: the user changed its mark: {unmark:?}"
            );
            assert!(recomment.is_err(), "{v}: the user changed its record");
            assert!(
                created.is_ok(),
                "{v}: a privilege an application owner gave the marker stopped a creation: {created:?}"
            );
            assert_eq!(gift_reached, "f", "{v}: the marker's gift reached a new user");
            assert_eq!(
                owned_objects(&cluster, "rdspg_managed"),
                "0",
                "{v}: the marker owns objects"
            );
        });
    });
}

#[test]
fn roles_marked_by_0_1_0_are_recognised_and_re_marked_on_their_next_change() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            let pw = new_user(&s, "old", AccessLevel::ReadOnly).await;
            new_user(&s, "new", AccessLevel::ReadOnly).await;
            // The 0.1.0 mark, as 0.1.0 granted it.
            let legacy = if v >= 16 {
                "REVOKE old FROM rdspg_managed; GRANT rdspg_managed TO old WITH INHERIT FALSE, SET FALSE"
            } else {
                "REVOKE old FROM rdspg_managed; GRANT rdspg_managed TO old"
            };
            c.client.batch_execute(legacy).await.unwrap();
            let marks = || {
                su(
                    &cluster,
                    "postgres",
                    "SELECT string_agg(roleid::regrole || '>' || member::regrole, ',' ORDER BY 1) \
                       FROM pg_auth_members WHERE 'rdspg_managed'::regrole IN (roleid, member) \
                        AND member <> 'apono_connector'::regrole",
                )
            };
            assert_eq!(marks(), "new>rdspg_managed,rdspg_managed>old", "{v}");
            if v < 16 {
                // What the old mark allowed before 16.
                let u = try_connect(&cluster, "old", &pw, rds::APP_DB).await.unwrap();
                try_sql(&u, "SET ROLE rdspg_managed").await.unwrap();
            }

            // Still recognised, in the one-query listing too.
            assert!(s.managed_role(&id("old")).await.unwrap().legacy_mark);
            assert!(!s.managed_role(&id("new")).await.unwrap().legacy_mark);
            let listed: Vec<(String, bool)> = s
                .managed_roles()
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.name.to_string(), r.legacy_mark))
                .collect();
            assert_eq!(
                listed,
                [("new".to_owned(), false), ("old".to_owned(), true)],
                "{v}"
            );

            // The next change turns the mark around.
            s.set_expiry(&id("old"), time::macros::datetime!(2098-01-01 0:00 UTC))
                .await
                .unwrap();
            assert_eq!(marks(), "new>rdspg_managed,old>rdspg_managed", "{v}");
            assert!(!s.managed_role(&id("old")).await.unwrap().legacy_mark);
            assert!(!s.migrate_mark(&id("old")).await.unwrap());
            let u = try_connect(&cluster, "old", &pw, rds::APP_DB).await.unwrap();
            assert!(
                try_sql(&u, "SET ROLE rdspg_managed").await.is_err(),
                "{v}: still able to act as the marker"
            );

            // Or all at once, as a sweep does.
            c.client.batch_execute(legacy).await.unwrap();
            assert_eq!(marks(), "new>rdspg_managed,rdspg_managed>old", "{v}");
            let migrated: Vec<String> = s
                .migrate_marks()
                .await
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(migrated, ["old"], "{v}");
            assert_eq!(marks(), "new>rdspg_managed,old>rdspg_managed", "{v}");
            assert!(s.migrate_marks().await.unwrap().is_empty());
        });
    });
}
