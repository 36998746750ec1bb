//! A revoked user's code never runs as whoever uses its objects, on 15 and 17, whether the user
//! is retained (`retire_role`) or dropped (`revoke_role`, its objects moved to its holder).
//!
//! A user with `admin` on a schema leaves tables whose column default, `CHECK` constraint or
//! trigger calls a function it owns, and grants them to `PUBLIC`. Such code runs with the rights
//! of whoever writes: before the revocation a write by another role runs it as that role (the
//! test shows it does), after it the write either fails (`EXECUTE` on the user's routines is
//! revoked from everyone but its owner) or runs nothing of the user's (its triggers are
//! disabled).

mod common;

use common::*;
use pg_grants::{AccessLevel, Grant, Scope, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};
use time::macros::datetime;

const VICTIM_PW: &str = "victim-pw-1";

/// What the user plants in schema `sales` (`{u}` is replaced by its name): each function
/// records, in the caller's session, the role it ran as (`pwn.ran`).
const PLANT: &str = r#"
CREATE FUNCTION sales.{u}_ran() RETURNS text LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_catalog.set_config('pwn.ran', current_user::text, false); RETURN current_user::text; END $f$;
CREATE FUNCTION sales.{u}_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_catalog.set_config('pwn.ran', current_user::text, false); RETURN NEW; END $f$;
CREATE TABLE sales.{u}_default (x int, who text DEFAULT sales.{u}_ran());
CREATE TABLE sales.{u}_check (x int CHECK (sales.{u}_ran() IS NOT NULL));
CREATE TABLE sales.{u}_trig (x int);
CREATE TRIGGER t BEFORE INSERT ON sales.{u}_trig FOR EACH ROW EXECUTE FUNCTION sales.{u}_trg();
GRANT SELECT, INSERT ON sales.{u}_default, sales.{u}_check, sales.{u}_trig TO PUBLIC;
CREATE AGGREGATE sales.{u}_sum(int) (SFUNC = int4pl, STYPE = int);
CREATE PROCEDURE sales.{u}_proc() LANGUAGE sql AS $p$ SELECT 1 $p$;
GRANT EXECUTE ON FUNCTION sales.{u}_ran() TO victim WITH GRANT OPTION;
"#;

/// Inserts into the user's table `table` as the victim, in a new session; returns whether the
/// insert succeeded and the role the user's code ran as in that session (`""`: it did not run).
async fn write_as_victim(cluster: &TestCluster, table: &str) -> (bool, String) {
    let v = try_connect(cluster, "victim", VICTIM_PW, rds::APP_DB)
        .await
        .expect("victim logs in");
    let inserted = try_sql(&v, &format!("INSERT INTO sales.{table} (x) VALUES (1)")).await;
    let ran: String = v
        .query_one("SELECT coalesce(current_setting('pwn.ran', true), '')", &[])
        .await
        .expect("reading pwn.ran")
        .get(0);
    (inserted.is_ok(), ran)
}

fn users_code_never_runs_as_the_writer(dropped: bool) {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .expect("session");
            fix_owners(&cluster, &s).await;
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE victim LOGIN PASSWORD '{VICTIM_PW}'; \
                     GRANT USAGE ON SCHEMA sales TO victim;"
                ),
            );
            let user = "trudy";
            let pw = new_user(&s, user, AccessLevel::Admin).await;
            s.apply(
                &id(user),
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
            )
            .await
            .expect("admin on sales");
            let u = try_connect(&cluster, user, &pw, rds::APP_DB)
                .await
                .expect("user logs in");
            u.batch_execute(&PLANT.replace("{u}", user))
                .await
                .expect("the user plants its code");
            drop(u);

            // Before the revocation the user's code runs as the writer.
            for kind in ["default", "check", "trig"] {
                let (ok, ran) = write_as_victim(&cluster, &format!("{user}_{kind}")).await;
                assert!(ok && ran == "victim", "{v}: {kind} before: {ok} {ran:?}");
            }

            let report = if dropped {
                s.revoke_role(&id(user), &connector_for(&cluster))
                    .await
                    .expect("revoke")
            } else {
                s.retire_role(
                    &id(user),
                    &connector_for(&cluster),
                    datetime!(2026-12-01 12:00 UTC),
                )
                .await
                .expect("retire")
            };
            assert_eq!(report.dropped, dropped, "{v}: {report:?}");
            assert!(
                report
                    .disabled_triggers
                    .iter()
                    .any(|t| t.trigger == "t" && t.table == format!("sales.{user}_trig")),
                "{v}: the trigger on its own table is reported: {:?}",
                report.disabled_triggers
            );

            // After it, nothing of the user's runs as the writer: the default and the check
            // fail closed (no EXECUTE), the trigger is disabled and the insert goes through.
            for kind in ["default", "check", "trig"] {
                let (ok, ran) = write_as_victim(&cluster, &format!("{user}_{kind}")).await;
                assert_eq!(ran, "", "{v}: {kind}: the user's code ran as the writer");
                assert_eq!(ok, kind == "trig", "{v}: {kind}: insert succeeded: {ok}");
            }
            // Nobody but the owner may execute its routines; the tables stay usable as granted.
            let owner = if dropped {
                report.holder.clone()
            } else {
                user.to_owned()
            };
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    &format!(
                        "SELECT count(*) FROM pg_proc p, \
                         aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a \
                         WHERE p.proowner = '{owner}'::regrole AND a.grantee <> p.proowner"
                    )
                ),
                "0",
                "{v}: someone other than the owner may execute the user's routines"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    &format!("SELECT count(*) FROM sales.{user}_trig")
                ),
                "2",
                "{v}"
            );
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    &format!(
                        "SELECT tgenabled FROM pg_trigger \
                         WHERE tgrelid = 'sales.{user}_trig'::regclass AND NOT tgisinternal"
                    )
                ),
                "D",
                "{v}"
            );
        });
    });
}

#[test]
fn a_retained_users_defaults_checks_and_triggers_never_run_as_the_writer() {
    users_code_never_runs_as_the_writer(false);
}

#[test]
fn a_dropped_users_defaults_checks_and_triggers_never_run_as_the_writer() {
    users_code_never_runs_as_the_writer(true);
}
