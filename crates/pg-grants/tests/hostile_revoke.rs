//! A granted admin user turns hostile before its access ends: what it leaves behind must not run
//! with anyone's rights after revocation. Real PostgreSQL with RDS emulation, on 15 and 17 (the
//! membership rules differ from 16 on).
//!
//! The user plants, in a schema it may create in:
//! (a) `SECURITY DEFINER` functions callable by `PUBLIC`: one runs any SQL it is given, one reads
//!     a table the user itself could not read;
//! (b) a `SECURITY DEFINER` trigger function on a table it owns that others write to;
//! (c) a view over that unreadable table, readable by `PUBLIC`.
//!
//! Revocation used to hand these objects to the connector (CREATEROLE + `rds_superuser`), so an
//! accomplice that survives the revocation could then create roles with CREATEROLE and read the
//! table through them. They now go to a holder role with no rights of its own.

mod common;

use common::*;
use pg_grants::marker::{DEFAULT_HOLDER_ROLE, holder_role_name};
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, ServiceRole, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};

const ACCOMPLICE_PW: &str = "accomplice-pw-1";

/// What the hostile user plants while its admin grant on schema `sales` lasts.
const PLANT: &str = r#"
CREATE FUNCTION sales.run(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    AS $$BEGIN EXECUTE q; END$$;
CREATE FUNCTION sales.peek() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    AS $$BEGIN RETURN (SELECT sum(amount) FROM sales.payroll); END$$;
CREATE TABLE sales.inbox (n int);
INSERT INTO sales.inbox VALUES (1), (2);
GRANT INSERT, SELECT ON sales.inbox TO PUBLIC;
CREATE TABLE sales.loot (amount bigint);
GRANT SELECT ON sales.loot TO PUBLIC;
CREATE FUNCTION sales.on_inbox() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    AS $$BEGIN
        EXECUTE 'CREATE ROLE evil_trigger LOGIN CREATEROLE';
        INSERT INTO sales.loot SELECT amount FROM sales.payroll;
        RETURN NEW;
    END$$;
CREATE TRIGGER on_inbox AFTER INSERT ON sales.inbox FOR EACH ROW EXECUTE FUNCTION sales.on_inbox();
CREATE VIEW sales.payroll_view AS SELECT * FROM sales.payroll;
GRANT SELECT ON sales.payroll_view TO PUBLIC;
CREATE TABLE sales.mailbox (n int);
GRANT INSERT ON sales.mailbox TO PUBLIC;
CREATE RULE copy_diary AS ON INSERT TO sales.mailbox
    DO ALSO INSERT INTO sales.loot SELECT count(*) FROM sales.early_diary;
CREATE VIEW sales.drop_box AS SELECT 1 AS n;
CREATE RULE copy_diary_too AS ON INSERT TO sales.drop_box
    DO INSTEAD INSERT INTO sales.loot SELECT count(*) FROM sales.early_diary;
GRANT INSERT ON sales.drop_box TO PUBLIC;
CREATE VIEW sales.diary_view AS SELECT * FROM sales.early_diary;
GRANT SELECT ON sales.diary_view TO PUBLIC;
"#;

/// An index expression that shows another revoked user's table (in a schema that user's holder
/// now owns, found by name) when it runs as a holder, as `ANALYZE` by a `MAINTAIN` grantee (17+)
/// makes it.
const INDEX_PLANT: &str = r#"
CREATE FUNCTION sales.leak(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN
    IF current_user LIKE 'rdspg\_holder%' THEN
        RAISE EXCEPTION 'leaked %', (SELECT string_agg(n::text, ',' ORDER BY n) FROM early_work.notes);
    END IF;
    RETURN v;
END$$;
CREATE TABLE sales.stats (n int);
INSERT INTO sales.stats VALUES (1);
CREATE INDEX ON sales.stats (sales.leak(n));
"#;

#[test]
fn objects_left_by_a_revoked_user_gain_an_accomplice_nothing() {
    for_each_version(&[15, 17], |v| {
        let cluster = start(v, false);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;

            // The accomplice: a login that survives, may use schema sales, reads nothing in it.
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE accomplice LOGIN PASSWORD '{ACCOMPLICE_PW}'; \
                     GRANT USAGE ON SCHEMA sales TO accomplice;"
                ),
            );
            // An earlier user, already revoked, left a schema of its own: its holder owns it now.
            let early_pw = new_user(&s, "early", AccessLevel::Admin).await;
            s.apply(
                &id("early"),
                &[Grant::new(Scope::Database, AccessLevel::Admin)],
            )
            .await
            .unwrap();
            let e = try_connect(&cluster, "early", &early_pw, rds::APP_DB)
                .await
                .unwrap();
            e.batch_execute(
                "CREATE SCHEMA early_work; CREATE TABLE early_work.notes (n int); \
                 INSERT INTO early_work.notes VALUES (1), (2); \
                 CREATE TABLE sales.early_diary (note text); \
                 INSERT INTO sales.early_diary VALUES ('private');",
            )
            .await
            .unwrap();
            drop(e);
            let early = s
                .revoke_role(&id("early"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(
                early.moved.iter().any(|o| o.kind == "schema" && o.name == "early_work"),
                "{v}: {:?}",
                early.moved
            );

            // The hostile user: admin on schema sales.
            let pw = new_user(&s, "mallory", AccessLevel::Admin).await;
            s.apply(
                &id("mallory"),
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
            )
            .await
            .unwrap();
            // A table created after the grant: the user cannot read it, the connector can (the
            // owner gave it to the connector, as the owner fix does).
            su(
                &cluster,
                rds::APP_DB,
                "SET ROLE postgres; CREATE TABLE sales.payroll (amount bigint); \
                 INSERT INTO sales.payroll VALUES (100000), (250000); \
                 GRANT SELECT ON sales.payroll TO apono_connector WITH GRANT OPTION;",
            );
            let u = try_connect(&cluster, "mallory", &pw, rds::APP_DB)
                .await
                .unwrap();
            u.batch_execute(PLANT).await.unwrap();
            u.batch_execute(INDEX_PLANT).await.unwrap();
            if v >= 17 {
                u.batch_execute("GRANT MAINTAIN ON sales.stats TO PUBLIC")
                    .await
                    .unwrap();
            }
            assert!(
                try_sql(&u, "SELECT * FROM sales.payroll").await.is_err(),
                "{v}: the user itself cannot read the payroll"
            );

            // inspect flags the SECURITY DEFINER routines the user owns.
            let inspection = s.inspect(&id("mallory"), &[]).await.unwrap();
            let mut flagged: Vec<&str> = inspection
                .security_definer
                .iter()
                .map(|o| o.name.as_str())
                .collect();
            flagged.sort_unstable();
            assert_eq!(
                flagged,
                ["sales.on_inbox()", "sales.peek()", "sales.run(pg_catalog.text)"],
                "{v}"
            );

            let report = s
                .revoke_role(&id("mallory"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped, "{v}");

            // The accomplice tries every planted object.
            let a = try_connect(&cluster, "accomplice", ACCOMPLICE_PW, rds::APP_DB)
                .await
                .unwrap();
            let run = try_sql(&a, "SELECT sales.run('CREATE ROLE evil LOGIN CREATEROLE')").await;
            let grab = try_sql(
                &a,
                "SELECT sales.run('GRANT SELECT ON sales.payroll TO accomplice')",
            )
            .await;
            // Running as a holder would reach what it owns.
            let wreck = try_sql(&a, "SELECT sales.run('DROP TABLE early_work.notes')").await;
            let peek = a.query_one("SELECT sales.peek()", &[]).await;
            let trigger = try_sql(&a, "INSERT INTO sales.inbox VALUES (3)").await;
            let view = a
                .query("SELECT amount FROM sales.payroll_view", &[])
                .await;
            let direct = try_sql(&a, "SELECT * FROM sales.payroll").await;
            // A rule runs its actions with the rights of its table's owner, now the holder,
            // which owns the table an earlier revoked user left.
            let _rule = try_sql(&a, "INSERT INTO sales.mailbox VALUES (1)").await;
            let _view_rule = try_sql(&a, "INSERT INTO sales.drop_box VALUES (1)").await;
            let analyze = try_sql(&a, "ANALYZE sales.stats").await;
            // A view over a table an earlier revoked user left (owned by that user's holder).
            let diary = a.query("SELECT note FROM sales.diary_view", &[]).await;
            assert!(run.is_err(), "{v}: the SECURITY DEFINER function ran with rights");
            assert!(grab.is_err(), "{v}: the function granted the payroll");
            assert!(wreck.is_err(), "{v}: the function dropped a table the holder owns");
            assert!(
                peek.as_ref().map_or(true, |r| r.get::<_, Option<i64>>(0).is_none()),
                "{v}: the function read the payroll: {:?}",
                peek.map(|r| r.get::<_, Option<i64>>(0))
            );
            assert!(
                view.as_ref().map_or(true, Vec::is_empty),
                "{v}: the view showed the payroll"
            );
            assert!(direct.is_err(), "{v}: the accomplice reads the payroll");
            assert!(
                diary.as_ref().map_or(true, Vec::is_empty),
                "{v}: the view showed another revoked user's table"
            );
            assert!(
                !format!("{analyze:?}").contains("leaked 1,2"),
                "{v}: ANALYZE ran an index expression as the holder: {analyze:?}"
            );
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT count(*) FROM pg_roles WHERE rolname IN ('evil', 'evil_trigger') OR \
                     (rolname = 'accomplice' AND (rolcreaterole OR rolsuper))"
                ),
                "0",
                "{v}: a planted object created or promoted a role"
            );
            assert_eq!(
                su(&cluster, rds::APP_DB, "SELECT count(*) FROM sales.loot"),
                "0",
                "{v}: the trigger or the rule copied data the accomplice may not read"
            );

            // Nothing was lost: every object is still there, with its rows.
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT (SELECT count(*) FROM sales.inbox) || ',' || \
                     (SELECT count(*) FROM pg_proc WHERE proname IN ('run', 'peek', 'on_inbox')) || ',' || \
                     (SELECT count(*) FROM pg_class WHERE relname IN ('payroll_view', 'diary_view', 'loot', 'inbox', 'mailbox', 'drop_box')) || ',' || \
                     (SELECT count(*) FROM pg_rewrite WHERE rulename IN ('copy_diary', 'copy_diary_too')) || ',' || \
                     (SELECT count(*) FROM pg_trigger WHERE tgname = 'on_inbox') || ',' || \
                     (SELECT count(*) FROM early_work.notes)"
                ),
                // The accomplice's row 3 is in: the user's trigger on its own table no longer
                // runs (disabled, kept), so the insert did not fail in it.
                "3,3,6,2,1,2",
                "{v}"
            );
            assert!(trigger.is_ok(), "{v}: {trigger:?}");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT tgenabled FROM pg_trigger WHERE tgname = 'on_inbox'"
                ),
                "D",
                "{v}: the user's trigger on its own table is disabled"
            );
            assert!(
                report
                    .disabled_triggers
                    .iter()
                    .any(|t| t.trigger == "on_inbox" && t.table == "sales.inbox"),
                "{v}: {:?}",
                report.disabled_triggers
            );
            check_holder_and_report(&cluster, v, &report);
            assert_ne!(early.holder, report.holder, "{v}: each user has a holder of its own");
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    &format!(
                        "SELECT string_agg(x, ',' ORDER BY x) FROM ( \
                           SELECT relname::text AS x FROM pg_class \
                            WHERE relowner = '{}'::regrole AND relkind = 'r' \
                           UNION ALL SELECT nspname::text FROM pg_namespace WHERE nspowner = '{0}'::regrole) o",
                        early.holder
                    )
                ),
                "early_diary,early_work,notes",
                "{v}: the earlier user's holder owns what it left, and only that"
            );
        });
    });
}

/// The user's holder has no rights, owns what the user left (and nothing else), and the report
/// says what moved.
fn check_holder_and_report(cluster: &TestCluster, v: u32, report: &pg_grants::RevokeReport) {
    let holder = &report.holder;
    assert!(holder.starts_with("rdspg_holder_"), "{v}: {holder}");
    assert_eq!(
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
            )
        ),
        r#"f|f|f|f|f|f|f|{"rdspg":1,"kind":"holder","of":"mallory"}|0|apono_connector|0"#,
        "{v}: the holder must have no rights and only the connector as member"
    );
    assert_eq!(
        su(
            cluster,
            rds::APP_DB,
            &format!(
                "SELECT string_agg(x, ',' ORDER BY x) FROM ( \
                   SELECT proname::text || ':' || prosecdef AS x FROM pg_proc \
                    WHERE proowner = '{holder}'::regrole \
                   UNION ALL SELECT relname::text FROM pg_class \
                    WHERE relowner = '{holder}'::regrole AND relkind IN ('r', 'v')) o"
            )
        ),
        "diary_view,drop_box,inbox,leak:false,loot,mailbox,on_inbox:false,payroll_view,peek:false,run:false,stats",
        "{v}: the holder owns what the user left, no routine runs as its definer"
    );
    let moved = |name: &str| {
        report
            .moved
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("{v}: {name} not in {:?}", report.moved))
    };
    let run = moved("sales.run(pg_catalog.text)");
    assert!(run.security_definer && !run.trigger_function && run.kind == "function");
    let trigger = moved("sales.on_inbox()");
    assert!(trigger.security_definer && trigger.trigger_function);
    assert!(moved("sales.payroll_view").is_view());
    assert!(!moved("sales.inbox").is_view() && moved("sales.inbox").kind == "table");
    assert!(report.moved.iter().all(|o| o.database == rds::APP_DB));
    assert_eq!(report.moved.len(), 11, "{v}: {:?}", report.moved);
}

/// Who owns the victim's table, and whether the victim may log in.
fn victim_state(cluster: &TestCluster) -> String {
    su(
        cluster,
        rds::APP_DB,
        "SELECT pg_get_userbyid(c.relowner), r.rolcanlogin, (SELECT count(*) FROM sales.victim_notes) \
           FROM pg_class c, pg_roles r \
          WHERE c.oid = 'sales.victim_notes'::regclass AND r.rolname = 'victim'",
    )
}

#[test]
fn a_holder_with_any_right_or_not_ours_is_refused_and_nothing_moves() {
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

            let pw = new_user(&s, "victim", AccessLevel::Admin).await;
            s.apply(
                &id("victim"),
                &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
            )
            .await
            .unwrap();
            // The victim's holder, as a first, interrupted revocation would have left it.
            let oid: u32 = su(
                &cluster,
                "postgres",
                "SELECT oid FROM pg_roles WHERE rolname = 'victim'",
            )
            .parse()
            .unwrap();
            let holder = holder_role_name(&id(DEFAULT_HOLDER_ROLE), oid, "victim").unwrap();
            let h = holder.quoted().to_string();
            let marked = format!(
                "COMMENT ON ROLE {h} IS '{}'",
                ServiceRole::holder_comment("victim")
            );
            c.client
                .batch_execute(&format!("CREATE ROLE {h} NOLOGIN NOINHERIT; {marked}"))
                .await
                .unwrap();
            let u = try_connect(&cluster, "victim", &pw, rds::APP_DB)
                .await
                .unwrap();
            // It also grants its holder a privilege on its table: a hostile user must not be able
            // to block every revocation (its own included) that way.
            u.batch_execute(&format!(
                "CREATE TABLE sales.victim_notes (n int); INSERT INTO sales.victim_notes VALUES (7); \
                 GRANT SELECT ON sales.victim_notes TO {h};"
            ))
            .await
            .unwrap();
            drop(u);
            assert_eq!(victim_state(&cluster), "victim|t|1");

            // A holder prefix too long for a holder name: refused before anything changes.
            let c2 = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            let s2 = Session::new(
                &c2.client,
                Settings::default().reassign_to(id(&"p".repeat(47))),
            )
            .await
            .unwrap();
            let err = s2
                .revoke_role(&id("victim"), &connector_for(&cluster))
                .await
                .unwrap_err();
            assert!(matches!(&err, GrantsError::Quote(_)), "{v}: {err}");
            assert_eq!(victim_state(&cluster), "victim|t|1", "{v}");

            // The holder given any right, membership or member: refused, nothing moves.
            let tampers: Vec<(String, String, &str)> = [
                ("ALTER ROLE {h} CREATEROLE", "ALTER ROLE {h} NOCREATEROLE", "CREATEROLE"),
                ("ALTER ROLE {h} LOGIN", "ALTER ROLE {h} NOLOGIN", "LOGIN"),
                ("ALTER ROLE {h} INHERIT", "ALTER ROLE {h} NOINHERIT", "INHERIT"),
                ("GRANT rds_superuser TO {h}", "REVOKE rds_superuser FROM {h}", "member of rds_superuser"),
                ("GRANT pg_read_all_data TO {h}", "REVOKE pg_read_all_data FROM {h}", "member of pg_read_all_data"),
                ("GRANT {h} TO accomplice", "REVOKE {h} FROM accomplice", "accomplice are members"),
                ("COMMENT ON ROLE {h} IS 'mine now'", "{marked}", "not this library's holder"),
                (r#"COMMENT ON ROLE {h} IS '{"rdspg":1,"kind":"holder","of":"accomplice"}'"#, "{marked}", "holds for accomplice, not victim"),
            ]
            .into_iter()
            .map(|(t, u, says)| {
                let fill = |x: &str| x.replace("{h}", &h).replace("{marked}", &marked);
                (fill(t), fill(u), says)
            })
            .collect();
            for (tamper, undo, says) in &tampers {
                su(&cluster, "postgres", tamper);
                let err = s
                    .revoke_role(&id("victim"), &connector_for(&cluster))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(&err, GrantsError::UnsafeServiceRole { role, .. } if *role == holder.as_str())
                        && err.to_string().contains(says),
                    "{v}: {tamper}: {err}"
                );
                assert_eq!(victim_state(&cluster), "victim|f|1", "{v}: {tamper}");
                su(&cluster, "postgres", undo);
            }
            // A privilege an administrator gave it.
            su(&cluster, rds::APP_DB, &format!("GRANT SELECT ON sales.customers TO {h}"));
            let err = s
                .revoke_role(&id("victim"), &connector_for(&cluster))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("privileges"), "{v}: {err}");
            assert_eq!(victim_state(&cluster), "victim|f|1");
            su(&cluster, rds::APP_DB, &format!("REVOKE SELECT ON sales.customers FROM {h}"));

            // Restored, the revocation goes through and nothing is lost.
            let report = s
                .revoke_role(&id("victim"), &connector_for(&cluster))
                .await
                .unwrap();
            assert!(report.dropped);
            assert_eq!(
                su(
                    &cluster,
                    rds::APP_DB,
                    "SELECT pg_get_userbyid(relowner), (SELECT count(*) FROM sales.victim_notes) \
                       FROM pg_class WHERE oid = 'sales.victim_notes'::regclass"
                ),
                format!("{}|1", holder.as_str())
            );
            assert_eq!(report.holder, holder.as_str());
        });
    });
}
