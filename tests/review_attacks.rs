//! Hostile review of issue 17 (several grants per user, revocation with retention): attacks
//! that currently succeed. Each test fails while the defect it names is present.

mod common;

use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::AccessManager;
use rds_pg_access::integration_model::AccessLevel;
use rds_pg_access::pg_auth::{Clock, ManualClock};

const HOUR: Duration = Duration::from_secs(3600);

use common::{access_request as request, as_user, password_of};

fn manager(cluster: &TestCluster, clock: &ManualClock, extra: &str) -> AccessManager {
    common::clocked_manager(cluster, "review", clock, extra)
}

/// An expired grant's privileges outlive it when a later request fails: `add_grant` writes the
/// record without the expired grant (`without_expired`) before its privileges are removed, and
/// the failed request's undo (like every later sweep) only re-applies the databases the record
/// still names. The user keeps `admin` on `appdb/inventory` while holding only `read_only` on
/// `analytics`, and nothing ever removes it while that grant lasts (extensions included).
fn expired_admin_survives_a_failed_request(version: u32) {
    let cluster = common::cluster_with_owner_fix(version);
    // The owner fix `rdspg check` prints for analytics.reports.
    cluster
        .sql(
            "analytics",
            "GRANT USAGE, CREATE ON SCHEMA reports TO apono_connector WITH GRANT OPTION; \
             GRANT ALL ON ALL TABLES IN SCHEMA reports TO apono_connector WITH GRANT OPTION",
        )
        .expect("owner fix for analytics");
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(&cluster, &clock, "");
    let rt = common::runtime();
    let user = "mallory";

    let a = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-admin",
            AccessLevel::Admin,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant admin");
    assert!(a.is_complete(), "{a:?}");
    let password = password_of(&a);
    let c = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-read",
            AccessLevel::ReadOnly,
            "8h",
            &["analytics/reports"],
        )))
        .expect("grant read");
    assert!(c.is_complete(), "{c:?}");

    // The admin grant expires; no sweep has run yet.
    clock.advance(2 * HOUR);

    // A third request that fails (its table does not exist).
    let b = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-bad",
            AccessLevel::ReadOnly,
            "1h",
            &["analytics/reports/no_such_table"],
        )))
        .expect("grant bad");
    assert!(!b.is_complete(), "the request is expected to fail: {b:?}");

    // A sweep, as the service runs every few minutes.
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    eprintln!("sweep: {sweep:?}");

    let login = as_user(user, &password);
    cluster
        .sql_as(&login, "analytics", "SELECT count(*) FROM reports.daily")
        .expect("the active read-only grant works");
    let leaked = cluster.sql_as(
        &login,
        "appdb",
        "INSERT INTO inventory.items VALUES (4242, 'planted', 1); \
         CREATE TABLE inventory.planted (x int)",
    );
    let acl = cluster
        .sql(
            "appdb",
            &format!(
                "SELECT coalesce(string_agg(privilege_type, ','), '') FROM \
                 information_schema.role_table_grants WHERE grantee = '{user}' \
                 AND table_schema = 'inventory'"
            ),
        )
        .expect("acl");
    let record = cluster
        .sql(
            "postgres",
            &format!(
                "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{user}'"
            ),
        )
        .expect("record");
    assert!(
        leaked.is_err() && acl.trim().is_empty(),
        "the expired admin grant still works: write result {leaked:?}, privileges on \
         inventory: {acl}; the user's record no longer names it: {record}"
    );
}

#[test]
fn expired_admin_survives_a_failed_request_on_15() {
    expired_admin_survives_a_failed_request(15);
}

#[test]
fn expired_admin_survives_a_failed_request_on_17() {
    expired_admin_survives_a_failed_request(17);
}

/// A retained user's table runs its code for whoever reads it: retirement disables the
/// triggers on the user's tables (its code run as the writer) but leaves its row-level
/// security policies enabled, and a policy's expression runs as the *reader*. A DBA (here the
/// application's owner, owner of the schema) looks at the data the retained user left behind:
/// the policy calls the user's function, which changes the reader's own password to one the
/// attacker knows.
fn retained_users_rls_policy_runs_as_the_reader(version: u32) {
    rls_policy_runs_as_the_reader(version, 7);
}

/// The same with `user_cleanup_days = 0`: the user is dropped, its table and function move to
/// its holder, and the policy still runs the function as whoever reads the table.
fn rls_policy_runs_as_the_reader(version: u32, cleanup_days: u32) {
    let cluster = common::cluster_with_owner_fix(version);
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(
        &cluster,
        &clock,
        &format!("user_cleanup_days = {cleanup_days}"),
    );
    let rt = common::runtime();
    let user = "trudy";

    let a = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-1",
            AccessLevel::Admin,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant");
    assert!(a.is_complete(), "{a:?}");
    let password = password_of(&a);
    cluster
        .sql_as(
            &as_user(user, &password),
            "appdb",
            "CREATE FUNCTION inventory.visible() RETURNS boolean LANGUAGE plpgsql AS $f$ \
             BEGIN \
               IF current_user <> 'trudy' THEN \
                 EXECUTE format('ALTER ROLE %I PASSWORD %L', current_user, 'owned-by-trudy'); \
               END IF; \
               RETURN true; \
             EXCEPTION WHEN others THEN RETURN true; \
             END $f$; \
             CREATE TABLE inventory.notes (note text); \
             INSERT INTO inventory.notes VALUES ('please review'); \
             ALTER TABLE inventory.notes ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY p ON inventory.notes USING (inventory.visible()); \
             GRANT SELECT ON inventory.notes TO PUBLIC",
        )
        .expect("the user plants its policy");

    // Revoked and kept: the retirement neutralises what the user owns.
    let revoked = rt
        .block_on(m.revoke(&user.parse().expect("user")))
        .expect("revoke");
    let report = revoked
        .results
        .values()
        .next()
        .expect("one instance")
        .as_ref()
        .expect("revoked");
    assert!(report.retained || report.dropped, "{report:?}");

    // The application's owner reads the table the retained user left. Revocation revokes
    // EXECUTE on the user's routines from everyone but their owner, so the read fails closed
    // (`permission denied for function visible`) instead of running the policy's function as
    // the reader; any other outcome than success or that refusal is a failure.
    let app_owner = cluster.app_owner().clone();
    match cluster.sql_as(&app_owner, "appdb", "SELECT * FROM inventory.notes") {
        Ok(_) => {}
        Err(e) => assert!(
            e.to_string()
                .contains("permission denied for function visible"),
            "the owner of the schema cannot read the retained user's notes for another reason: {e}"
        ),
    }

    let taken = cluster.sql_as(
        &as_user(&app_owner.user, "owned-by-trudy"),
        "appdb",
        "SELECT current_user",
    );
    assert!(
        taken.is_err(),
        "a retained user's policy ran its code as the reader: app_owner's password is now \
         the attacker's ({taken:?})"
    );
}

#[test]
fn retained_users_rls_policy_runs_as_the_reader_on_15() {
    retained_users_rls_policy_runs_as_the_reader(15);
}

#[test]
fn retained_users_rls_policy_runs_as_the_reader_on_17() {
    retained_users_rls_policy_runs_as_the_reader(17);
}

#[test]
fn dropped_users_rls_policy_runs_as_the_reader_on_17() {
    rls_policy_runs_as_the_reader(17, 0);
}

/// An administrator's revocation that does not finish is undone by the user's next request:
/// `revoke` turns the login off first, but the record keeps every grant active until the
/// retirement (or drop) succeeds, and `add_grant` takes a `NOLOGIN` user whose record holds
/// active grants for one whose login a sweep disabled: it turns the login on again with every
/// grant the administrator meant to end. Here an accomplice's open transaction on a table the
/// user owns holds the lock the retirement needs (any failure does the same); then a
/// self-service read-only request brings the `admin` grant back, and the sweep sees nothing
/// to do.
fn a_failed_revocation_is_undone_by_the_next_request(version: u32) {
    let cluster = common::cluster_with_owner_fix(version);
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(&cluster, &clock, "user_cleanup_days = 7").with_options(
        rds_pg_access::ManagerOptions::default().instance_timeout(Duration::from_secs(8)),
    );
    let rt = common::runtime();
    let user = "oscar";

    let admin = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-admin",
            AccessLevel::Admin,
            "8h",
            &["appdb/inventory"],
        )))
        .expect("grant admin");
    assert!(admin.is_complete(), "{admin:?}");
    let password = password_of(&admin);
    let accomplice = rt
        .block_on(m.grant(&request(
            &m,
            "eve",
            "req-eve",
            AccessLevel::ReadOnly,
            "8h",
            &["appdb/inventory"],
        )))
        .expect("grant accomplice");
    let eve = as_user("eve", &password_of(&accomplice));
    cluster
        .sql_as(
            &as_user(user, &password),
            "appdb",
            "CREATE TABLE inventory.box (x int); \
             CREATE FUNCTION inventory.box_trg() RETURNS trigger LANGUAGE plpgsql AS \
               $f$ BEGIN RETURN NEW; END $f$; \
             CREATE TRIGGER t BEFORE INSERT ON inventory.box FOR EACH ROW \
               EXECUTE FUNCTION inventory.box_trg(); \
             GRANT INSERT ON inventory.box TO PUBLIC",
        )
        .expect("the user prepares its table");

    // The administrator revokes the user while the accomplice writes to its table.
    let revoked = std::thread::scope(|s| {
        let holder = s.spawn(|| {
            cluster.sql_as(
                &eve,
                "appdb",
                "BEGIN; INSERT INTO inventory.box VALUES (1); SELECT pg_sleep(20); COMMIT",
            )
        });
        std::thread::sleep(Duration::from_secs(2));
        let revoked = rt
            .block_on(m.revoke(&user.parse().expect("user")))
            .expect("revoke");
        let _ = holder.join();
        revoked
    });
    let failed = revoked.results.values().next().expect("one instance");
    assert!(
        failed.is_err(),
        "the revocation is expected to stop: {failed:?}"
    );
    assert!(
        cluster
            .sql_as(&as_user(user, &password), "appdb", "SELECT 1")
            .is_err(),
        "no login after the failed revocation"
    );

    // The user asks for read-only access (self-service) before the administrator tries again.
    let again = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-read",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant read");
    eprintln!("grant after the failed revocation: {again:?}");
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    eprintln!("sweep: {sweep:?}");
    let written = cluster.sql_as(
        &as_user(user, &password),
        "appdb",
        "INSERT INTO inventory.items VALUES (777, 'after revoke', 1)",
    );
    assert!(
        written.is_err(),
        "the revoked admin grant is back: the user writes to inventory.items ({written:?})"
    );
}

#[test]
fn a_failed_revocation_is_undone_by_the_next_request_on_15() {
    a_failed_revocation_is_undone_by_the_next_request(15);
}

#[test]
fn a_failed_revocation_is_undone_by_the_next_request_on_17() {
    a_failed_revocation_is_undone_by_the_next_request(17);
}

/// On PostgreSQL 16+ a role with `CREATEROLE` (a team lead's login, not `rds_superuser`)
/// administers the roles it creates, so it can give a role of its own every mark of a managed
/// user: the marker's membership (`GRANT alice TO rdspg_managed`), the connector's `ADMIN`
/// option and a record in the comment (format 2, retained, `password_set_at` now). It names it
/// like a future requester and makes itself a member. When that requester's request comes,
/// `create_or_add` takes the role for a retained managed user, enables it and grants it the
/// request's privileges, keeping the password the tenant set (not due for rotation): the tenant
/// logs in as `alice` with its own password, and its own login inherits alice's privileges.
#[test]
fn a_createrole_tenant_forges_a_managed_user_and_receives_its_grants_on_17() {
    let cluster = common::cluster_with_owner_fix(17);
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(&cluster, &clock, "credentials_rotation_days = 30");
    let rt = common::runtime();

    // Some earlier grant created the marker role (a grant that fails no longer leaves it:
    // its undo drops the marker it created).
    let first = rt
        .block_on(m.grant(&request(
            &m,
            "bob",
            "req-bob",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant bob");
    assert!(first.is_complete(), "{first:?}");

    let master = cluster.master().clone();
    cluster
        .sql_as(
            &master,
            "postgres",
            "CREATE ROLE tenant LOGIN CREATEROLE PASSWORD 'tenant-pw'",
        )
        .expect("the master creates a team lead with CREATEROLE");
    let tenant = as_user("tenant", "tenant-pw");
    let now = time::OffsetDateTime::from(clock.now());
    let now = now.replace_nanosecond(0).expect("whole second");
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let forged = format!(
        r#"{{"rdspg":2,"creator":"apono_connector","grants":[],"password_set_at":"{stamp}","revoked_at":"{stamp}"}}"#
    );
    cluster
        .sql_as(
            &tenant,
            "postgres",
            &format!(
                "CREATE ROLE alice NOLOGIN PASSWORD 'tenant-knows'; \
                 GRANT alice TO rdspg_managed; \
                 GRANT alice TO apono_connector WITH ADMIN OPTION; \
                 GRANT alice TO tenant; \
                 COMMENT ON ROLE alice IS '{forged}'"
            ),
        )
        .expect("the tenant forges a managed user");
    assert!(
        cluster
            .sql_as(&tenant, "appdb", "SELECT count(*) FROM inventory.items")
            .is_err(),
        "the tenant cannot read inventory.items on its own"
    );

    // The real alice asks for read-write access to the inventory.
    let granted = rt
        .block_on(m.grant(&request(
            &m,
            "alice",
            "req-alice",
            AccessLevel::ReadWrite,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant alice");
    eprintln!("alice's grant: {granted:?}");

    let as_alice = cluster.sql_as(
        &as_user("alice", "tenant-knows"),
        "appdb",
        "SELECT count(*) FROM inventory.items",
    );
    let inherited = cluster.sql_as(&tenant, "appdb", "SELECT count(*) FROM inventory.items");
    assert!(
        !granted.is_complete() || (as_alice.is_err() && inherited.is_err()),
        "the product granted alice's access into the tenant's role: logging in as alice with \
         the tenant's password: {as_alice:?}; the tenant's own login: {inherited:?}"
    );
    // The sweep names the forged role as refused (never altered) and is not clean, so the
    // service reports the instance as failing instead of silently leaving it alone.
    let swept = rt.block_on(m.sweep()).expect("sweep");
    let local = swept.results.values().next().expect("one instance");
    let local = local.as_ref().expect("the sweep ran");
    assert!(
        local
            .refused
            .iter()
            .any(|r| r.name == "alice" && r.reason.contains("connector")),
        "{local:?}"
    );
    assert!(!local.is_clean(), "{local:?}");
    let text = rds_pg_access::document::SweepDocument::new(&swept).to_string();
    assert!(
        text.contains("NOT a managed user, left alone: alice"),
        "{text}"
    );
}

/// Held: with `log_statement = 'all'`, no password handed out by the issue-17 flows (a new
/// user; a retained user enabled again whose password is due and rotated by
/// `set_password_at`) reaches the server log in plaintext, nor any verifier in statement text.
/// (Nor as a bound parameter: the verifier travels as `COPY` data, which the server never
/// logs; see `tests/roles.rs` in pg-grants.)
#[test]
fn passwords_of_the_user_lifecycle_never_reach_the_statement_log_on_17() {
    let cluster = TestCluster::builder()
        .version(17)
        .log_statements(true)
        .start()
        .expect("PostgreSQL 17");
    cluster
        .sql("appdb", "GRANT app_owner TO apono_connector")
        .expect("owner fix");
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(
        &cluster,
        &clock,
        "user_cleanup_days = 7\ncredentials_rotation_days = 1",
    );
    let rt = common::runtime();
    let user = "lena";
    let first = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-1",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant 1");
    let p1 = password_of(&first);
    rt.block_on(m.revoke(&user.parse().expect("user")))
        .expect("revoke");
    clock.advance(2 * 24 * HOUR);
    let second = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-2",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant 2");
    let p2 = password_of(&second);
    cluster
        .sql_as(
            &as_user(user, &p2),
            "appdb",
            "SELECT count(*) FROM inventory.items",
        )
        .expect("the rotated password works");
    let log = cluster.server_log().expect("log");
    assert!(
        !log.contains(&p1) && !log.contains(&p2),
        "plaintext password in the server log"
    );
    assert!(
        !log.contains("SCRAM-SHA-256$"),
        "a verifier in the server log"
    );
}
