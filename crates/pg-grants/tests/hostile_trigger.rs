//! A granted admin user attaches its own code to tables it does not own: after revocation no
//! write by the tables' owners may run any of it. Real PostgreSQL with RDS emulation, on 15 and
//! 17 (on 16+ the master user, owner of schema `sales`, is a member of the connector, which then
//! cannot act for it).
//!
//! A trigger runs its function as whoever writes to the table. A grantee holding `TRIGGER` on an
//! owner's table (the `admin` level of 0.1.0 granted it) creates a function it owns and a
//! trigger on the owner's table; the function executes SQL queued in a table the grantee leaves
//! writable by `PUBLIC`. Revocation moved the function to the holder but left the trigger, so
//! after it any write by the owner (or the master user) ran an accomplice's SQL with the writer's
//! rights (on 15 the master's `UPDATE` of `sales.orders` created a `CREATEROLE` login in the
//! `rds_superuser` group).

mod common;

use common::*;
use pg_grants::{
    AccessLevel, Grant, GrantsError, LevelPolicy, ObjectKind, Privilege, Scope, Session, Settings,
};
use pg_testkit::{TestCluster, for_each_version, rds};

const ACCOMPLICE_PW: &str = "accomplice-pw-1";

/// The admin level of 0.1.0: every table privilege, `TRIGGER` included (a role
/// granted then still holds it until its next apply or its revocation).
fn old_admin_policy() -> LevelPolicy {
    LevelPolicy::default().set(
        AccessLevel::Admin,
        ObjectKind::Table,
        ObjectKind::Table.applicable(),
    )
}

/// What the hostile user plants while its grant
/// lasts (in schema `sales`, which the owners may use): a queue anyone may fill, a log of who ran its code, a trigger function and a `WHEN`
/// condition that run whatever is queued, and triggers on tables it does not own.
const PLANT: &str = r#"
CREATE TABLE sales.queue (q text);
GRANT INSERT, SELECT ON sales.queue TO PUBLIC;
CREATE TABLE sales.seen (who text, via text);
GRANT INSERT ON sales.seen TO PUBLIC;
CREATE FUNCTION sales.run_queue(via text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE q text;
BEGIN
    INSERT INTO sales.seen VALUES (current_user, via);
    FOR q IN SELECT x.q FROM sales.queue x LOOP
        BEGIN EXECUTE q; EXCEPTION WHEN OTHERS THEN NULL; END;
    END LOOP;
    RETURN true;
END$$;
CREATE FUNCTION sales.fire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sales.run_queue(TG_NAME);
    RETURN NULL;
END$$;
CREATE TRIGGER t_items AFTER UPDATE ON inventory.items
    FOR EACH ROW EXECUTE FUNCTION sales.fire();
CREATE TRIGGER t_when BEFORE UPDATE ON inventory.items
    FOR EACH ROW WHEN (sales.run_queue('t_when'))
    EXECUTE FUNCTION pg_catalog.suppress_redundant_updates_trigger();
CREATE TRIGGER t_moves AFTER INSERT ON inventory.movements
    FOR EACH ROW EXECUTE FUNCTION sales.fire();
CREATE TRIGGER t_orders AFTER UPDATE ON sales.orders
    FOR EACH ROW EXECUTE FUNCTION sales.fire();
"#;

/// A trigger on a view (which PostgreSQL cannot disable).
const VIEW_PLANT: &str = r#"
CREATE TRIGGER t_view INSTEAD OF INSERT ON sales.order_totals
    FOR EACH ROW EXECUTE FUNCTION sales.fire();
"#;

/// The owners write to their tables (and the master inserts through its view).
fn owners_write(cluster: &TestCluster) {
    su(
        cluster,
        rds::APP_DB,
        "SET ROLE app_owner; UPDATE inventory.items SET qty = qty + 1; \
         INSERT INTO inventory.movements VALUES (1, '2026-03-01', 5); \
         SET ROLE postgres; UPDATE sales.orders SET amount = amount + 1;",
    );
}

/// Who ran the user's code, by which trigger.
fn seen(cluster: &TestCluster) -> String {
    su(
        cluster,
        rds::APP_DB,
        "SELECT coalesce(string_agg(DISTINCT who || ':' || via, ',' ORDER BY who || ':' || via), '') \
           FROM sales.seen",
    )
}

fn can_login(cluster: &TestCluster, role: &str) -> String {
    su(
        cluster,
        "postgres",
        &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'"),
    )
}

#[test]
fn admin_no_longer_grants_trigger_and_a_new_grant_cannot_attach_code() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap();
            fix_owners(&cluster, &s).await;
            let policy = LevelPolicy::default();
            assert!(
                !policy
                    .privileges(AccessLevel::Admin, ObjectKind::Table)
                    .contains(Privilege::Trigger),
                "{v}"
            );
            let pw = new_user(&s, "mallory", AccessLevel::Admin).await;
            let grants = [
                Grant::new(Scope::Schema(id("inventory")), AccessLevel::Admin),
                Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin),
            ];
            // A role granted before the change holds TRIGGER; its next apply takes it away.
            let old = Session::new(&c.client, Settings::default().policy(old_admin_policy()))
                .await
                .unwrap();
            old.apply(&id("mallory"), &grants).await.unwrap();
            let trigger_on = || {
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT string_agg(c.oid::regclass::text, ',' ORDER BY c.oid::regclass::text) \
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE n.nspname IN ('sales', 'inventory') AND c.relkind IN ('r', 'p', 'v', 'm') \
                        AND has_table_privilege('mallory', c.oid, 'TRIGGER')",
                )
            };
            assert!(trigger_on().contains("inventory.items"), "{v}");
            s.apply(&id("mallory"), &grants).await.unwrap();
            assert_eq!(trigger_on(), "", "{v}: admin still grants TRIGGER");
            assert!(s.plan(&id("mallory"), &grants).await.unwrap().is_empty());

            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(
                "CREATE FUNCTION sales.fire() RETURNS trigger LANGUAGE plpgsql \
                 AS $$BEGIN RETURN NULL; END$$;",
            )
            .await
            .unwrap();
            for table in ["inventory.items", "sales.orders"] {
                let err = try_sql(
                    &u,
                    &format!(
                        "CREATE TRIGGER t AFTER UPDATE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION sales.fire()"
                    ),
                )
                .await
                .expect_err("an admin grantee attached a trigger to an owner's table");
                assert!(err.starts_with("42501"), "{v}: {table}: {err}");
            }
        });
    });
}

#[test]
fn a_revoked_users_triggers_on_tables_it_does_not_own_run_nothing() {
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
                "postgres",
                &format!("CREATE ROLE accomplice LOGIN PASSWORD '{ACCOMPLICE_PW}'"),
            );
            // The application owner and the accomplice may use schema sales (read nothing in it).
            su(
                &cluster,
                rds::APP_DB,
                "GRANT USAGE ON SCHEMA sales TO app_owner, accomplice",
            );

            // Granted with the old admin level (TRIGGER included).
            let pw = new_user(&s, "mallory", AccessLevel::Admin).await;
            let old = Session::new(&c.client, Settings::default().policy(old_admin_policy()))
                .await
                .unwrap();
            old.apply(
                &id("mallory"),
                &[
                    Grant::new(Scope::Schema(id("inventory")), AccessLevel::Admin),
                    Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin),
                ],
            )
            .await
            .unwrap();
            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(PLANT).await.unwrap();
            u.batch_execute(VIEW_PLANT).await.unwrap();
            drop(u);
            // The plant is live: the owners' writes run the user's code as the owners.
            owners_write(&cluster);
            assert_eq!(
                seen(&cluster),
                "app_owner:t_items,app_owner:t_moves,app_owner:t_when,postgres:t_orders",
                "{v}"
            );
            su(&cluster, rds::APP_DB, "TRUNCATE sales.seen");

            // A trigger the connector cannot disable (a view's; on 16+ also those on the master's
            // tables, the master being a member of the connector): refused, nothing moves, the
            // user cannot log in, and the error says what the owner runs.
            let err = s
                .revoke_role(&id("mallory"), &connector_for(&cluster))
                .await
                .unwrap_err();
            let GrantsError::TriggersNotDisabled { role, triggers } = &err else {
                panic!("{v}: expected TriggersNotDisabled, got {err}");
            };
            assert_eq!(role, "mallory");
            let mut got: Vec<String> = triggers
                .iter()
                .map(|t| format!("{}|{}|{}|{}|{}", t.database, t.table, t.trigger, t.owner, t.fix_sql))
                .collect();
            got.sort();
            let mut want = vec![
                r#"appdb|sales.order_totals|t_view|postgres|DROP TRIGGER "t_view" ON "sales"."order_totals";"#
                    .to_owned(),
            ];
            if v >= 16 {
                want.push(
                    r#"appdb|sales.orders|t_orders|postgres|ALTER TABLE "sales"."orders" DISABLE TRIGGER "t_orders";"#
                        .to_owned(),
                );
            }
            assert_eq!(got, want, "{v}: {err}");
            let text = err.to_string();
            assert!(text.contains("t_view") && text.contains("sales.order_totals"), "{v}: {text}");
            assert_eq!(can_login(&cluster, "mallory"), "f", "{v}");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'fire'"
                ),
                "mallory",
                "{v}: nothing moved"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 't\\_%' AND tgenabled = 'D'"
                ),
                "0",
                "{v}: the failed transaction disabled nothing"
            );
            // The owner runs the fix SQL the error gave.
            for t in triggers {
                su(
                    &cluster,
                    &t.database,
                    &format!("SET ROLE {}; {}", t.owner, t.fix_sql),
                );
            }

            let report = s
                .revoke_role(&id("mallory"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped, "{v}");
            let mut disabled: Vec<String> = report
                .disabled_triggers
                .iter()
                .map(|t| format!("{}|{}|{}|{}", t.database, t.table, t.trigger, t.owner))
                .collect();
            disabled.sort();
            let mut want = vec![
                "appdb|inventory.items|t_items|app_owner",
                "appdb|inventory.items|t_when|app_owner",
                "appdb|inventory.movements|t_moves|app_owner",
                "appdb|inventory.movements_2025|t_moves|app_owner",
                "appdb|inventory.movements_2026|t_moves|app_owner",
            ];
            if v < 16 {
                want.push("appdb|sales.orders|t_orders|postgres");
            }
            want.sort_unstable();
            assert_eq!(disabled, want, "{v}");

            // The accomplice queues SQL; the owners write again.
            let a = try_connect(&cluster, "accomplice", ACCOMPLICE_PW, rds::APP_DB)
                .await
                .unwrap();
            a.batch_execute(
                "INSERT INTO sales.queue VALUES \
                 ('CREATE ROLE evil LOGIN CREATEROLE IN ROLE rds_superuser'), \
                 ('GRANT SELECT ON inventory.items TO accomplice')",
            )
            .await
            .unwrap();
            owners_write(&cluster);
            assert_eq!(seen(&cluster), "", "{v}: an owner's write ran the user's code");
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT count(*) FROM pg_roles WHERE rolname = 'evil'"
                ),
                "0",
                "{v}"
            );
            assert!(
                try_sql(&a, "SELECT * FROM inventory.items").await.is_err(),
                "{v}: the accomplice reads the owner's table"
            );

            // Nothing was lost: every trigger (but the view's, which its owner dropped) and
            // function is still there, disabled, the functions with the holder.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT (SELECT string_agg(DISTINCT tgname || ':' || tgenabled::text, ',' \
                                           ORDER BY tgname || ':' || tgenabled::text) \
                               FROM pg_trigger WHERE tgname LIKE 't\\_%'), \
                            (SELECT string_agg(pg_get_userbyid(proowner), ',' ORDER BY proname) \
                               FROM pg_proc WHERE proname IN ('fire', 'run_queue'))"
                ),
                format!(
                    "t_items:D,t_moves:D,t_orders:D,t_when:D|{0},{0}",
                    report.holder
                ),
                "{v}"
            );
        });
    });
}
