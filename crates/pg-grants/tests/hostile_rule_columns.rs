//! A granted admin user leaves a view with a rule writable through column privileges: after
//! revocation nobody may write through it. Real PostgreSQL with RDS emulation, on 15 and 17.
//!
//! A rule runs its actions with the rights of its relation's owner, after revocation the user's
//! holder. Revocation disables rules on the user's tables and, since a view's rules cannot be
//! disabled, revokes the write privileges the user granted on its views with rules. It used to
//! read only table-level grants (`pg_class.relacl`): `GRANT INSERT (n) ON … TO PUBLIC` lives in
//! `pg_attribute.attacl`, survived, and anyone could still make the rule run as the holder.

mod common;

use common::*;
use pg_grants::{AccessLevel, Grant, Scope, Session, Settings};
use pg_testkit::{for_each_version, rds};

const ACCOMPLICE_PW: &str = "accomplice-pw-1";

/// Views with rules, writable through column privileges only, whose rules copy a table the
/// user keeps private into a table anyone reads.
const PLANT: &str = r#"
CREATE TABLE sales.secret (note text);
INSERT INTO sales.secret VALUES ('private'), ('also private');
CREATE TABLE sales.loot (n bigint);
GRANT SELECT ON sales.loot TO PUBLIC;
CREATE VIEW sales.box AS SELECT 1 AS n, 2 AS m;
CREATE RULE box_insert AS ON INSERT TO sales.box
    DO INSTEAD INSERT INTO sales.loot SELECT count(*) FROM sales.secret;
CREATE RULE box_update AS ON UPDATE TO sales.box
    DO INSTEAD INSERT INTO sales.loot SELECT count(*) FROM sales.secret;
GRANT INSERT (n) ON sales.box TO PUBLIC;
GRANT UPDATE (m), INSERT (n, m) ON sales.box TO accomplice;
GRANT SELECT (n) ON sales.box TO accomplice;
"#;

#[test]
fn column_write_grants_on_a_view_with_rules_end_at_revocation() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap();
            fix_owners(&cluster, &s).await;
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE accomplice LOGIN PASSWORD '{ACCOMPLICE_PW}'; \
                     GRANT USAGE ON SCHEMA sales TO accomplice;"
                ),
            );
            let pw = new_user(&s, "mallory", AccessLevel::Admin).await;
            s.apply(
                &id("mallory"),
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
            )
            .await
            .unwrap();
            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(PLANT).await.unwrap();
            drop(u);
            // The plant is live while the user is: writing through the view runs the rule.
            let a = try_connect(&cluster, "accomplice", ACCOMPLICE_PW, rds::APP_DB)
                .await
                .unwrap();
            a.batch_execute("INSERT INTO sales.box (n) VALUES (1)")
                .await
                .unwrap();
            assert_eq!(su(&cluster, rds::APP_DB, "SELECT n FROM sales.loot"), "2");
            su(&cluster, rds::APP_DB, "TRUNCATE sales.loot");

            let report = s
                .revoke_role(&id("mallory"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped, "{v}");

            let insert = try_sql(&a, "INSERT INTO sales.box (n) VALUES (1)").await;
            let insert_both = try_sql(&a, "INSERT INTO sales.box (n, m) VALUES (1, 2)").await;
            let update = try_sql(&a, "UPDATE sales.box SET m = 3").await;
            for (what, r) in [
                ("insert", &insert),
                ("insert (n, m)", &insert_both),
                ("update", &update),
            ] {
                assert!(
                    r.as_ref().is_err_and(|e| e.starts_with("42501")),
                    "{v}: {what} through the view: {r:?}"
                );
            }
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT count(*) FROM sales.loot"),
                "0",
                "{v}: the rule ran as the holder"
            );
            // Only the write privileges went; the rest (and every object, rule and row) stays.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT array_to_string(attacl, ' ') FROM pg_attribute \
                      WHERE attrelid = 'sales.box'::regclass AND attname = 'n'"
                ),
                format!("accomplice=r/{}", report.holder),
                "{v}"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT (SELECT count(*) FROM pg_rewrite WHERE rulename LIKE 'box\\_%') || ',' || \
                            (SELECT count(*) FROM sales.secret)"
                ),
                "2,2",
                "{v}"
            );
        });
    });
}
