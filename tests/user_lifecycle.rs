//! Issue 17: generated users as the product keeps them, on PostgreSQL 15 and 17 with real
//! logins. One user per requester across requests (its table stays its own), several grants
//! at once whose privileges are their union and which end one at a time, the password rotated
//! by age and never during active access, revocation with retention (a disabled user that
//! cannot log in), and cleanup by the sweep once `user_cleanup_days` have passed, with nothing
//! it owned lost.

mod common;

use std::time::{Duration, SystemTime};

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::AccessLevel;
use rds_pg_access::pg_auth::{Clock, ManualClock};
use rds_pg_access::pg_grants::{GrantsError, UserState};
use rds_pg_access::{AccessError, AccessManager, GrantRevocation, PasswordKept};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

use common::{access_request as request, as_user, password_of};

fn manager(cluster: &TestCluster, clock: &ManualClock, extra: &str) -> AccessManager {
    common::clocked_manager(cluster, "lifecycle", clock, extra)
}

/// What the server says about `user`: (can log in, owner of `inventory.mine`'s rows count).
fn can_login(cluster: &TestCluster, user: &str) -> Option<bool> {
    let out = cluster
        .sql(
            "postgres",
            &format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{user}'"),
        )
        .expect("query");
    match out.trim() {
        "t" => Some(true),
        "f" => Some(false),
        _ => None,
    }
}

fn owner_and_rows(cluster: &TestCluster, table: &str) -> String {
    cluster
        .sql(
            "appdb",
            &format!(
                "SELECT c.relowner::regrole::text || ' ' || (SELECT count(*) FROM {table}) \
                 FROM pg_class c WHERE c.oid = '{table}'::regclass"
            ),
        )
        .expect("owner query")
        .trim()
        .to_owned()
}

fn the_same_requester_keeps_its_user_and_its_table(version: u32) {
    let cluster = common::cluster_with_owner_fix(version);
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(
        &cluster,
        &clock,
        "user_cleanup_days = 7\ncredentials_rotation_days = 30",
    );
    let rt = common::runtime();
    let user = "dana";

    // Request 1: admin on the inventory schema; the user creates a table and a row.
    let first = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-1",
            AccessLevel::Admin,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant 1");
    assert!(first.is_complete(), "{first:?}");
    let password1 = password_of(&first);
    cluster
        .sql_as(
            &as_user(user, &password1),
            "appdb",
            "CREATE TABLE inventory.mine (note text); INSERT INTO inventory.mine VALUES ('kept')",
        )
        .expect("the user creates its table");

    // Revoked and kept: no login, the table still its own.
    let revoked = rt
        .block_on(m.revoke(&user.parse().expect("user")))
        .expect("revoke");
    let report = revoked.results.values().next().expect("one instance");
    let report = report.as_ref().expect("revoked");
    assert!(report.retained && !report.dropped, "{report:?}");
    assert_eq!(can_login(&cluster, user), Some(false));
    assert!(
        cluster
            .sql_as(&as_user(user, &password1), "appdb", "SELECT 1")
            .is_err(),
        "a retained user cannot log in"
    );
    assert_eq!(
        owner_and_rows(&cluster, "inventory.mine"),
        format!("{user} 1")
    );
    let status = rt.block_on(m.users()).expect("users");
    let users = status
        .results
        .values()
        .next()
        .expect("instance")
        .as_ref()
        .expect("ok");
    let dana = users.iter().find(|u| u.user == user).expect("listed");
    assert!(matches!(dana.state, UserState::Disabled { .. }), "{dana:?}");
    assert!(dana.deletes_on.is_some(), "{dana:?}");

    // Request 2 a day later: the same user, enabled again, read-only; its password is younger
    // than 30 days, so it keeps it and the answer says until when.
    clock.advance(DAY);
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
    assert!(second.is_complete(), "{second:?}");
    assert!(
        second.password.is_none(),
        "no password handed out: {second:?}"
    );
    assert!(
        matches!(second.password_kept, Some(PasswordKept::NotDue { .. })),
        "{second:?}"
    );
    let out = cluster
        .sql_as(
            &as_user(user, &password1),
            "appdb",
            "SELECT note FROM inventory.mine; SELECT count(*) FROM inventory.items",
        )
        .expect("logs in with its old password and reads its own table");
    assert!(out.contains("kept"), "{out}");
    assert!(
        cluster
            .sql_as(
                &as_user(user, &password1),
                "appdb",
                "INSERT INTO inventory.items VALUES (99, 'x', 1)"
            )
            .is_err(),
        "read-only now"
    );
    assert_eq!(
        owner_and_rows(&cluster, "inventory.mine"),
        format!("{user} 1")
    );

    // Request 3 after the rotation period: a new password; the old one no longer works.
    rt.block_on(m.revoke(&user.parse().expect("user")))
        .expect("revoke 2");
    clock.advance(31 * DAY);
    let third = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-3",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant 3");
    assert!(third.is_complete(), "{third:?}");
    let password3 = password_of(&third);
    assert_ne!(password3, password1);
    assert!(
        cluster
            .sql_as(&as_user(user, &password1), "appdb", "SELECT 1")
            .is_err(),
        "the old password is gone"
    );
    let out = cluster
        .sql_as(
            &as_user(user, &password3),
            "appdb",
            "SELECT note FROM inventory.mine",
        )
        .expect("the new password works, the table is still its own");
    assert!(out.contains("kept"), "{out}");

    // Its access ends; the sweep revokes and keeps it; 7 days later the sweep deletes it, and
    // its table (with its row) goes to its holder.
    clock.advance(2 * HOUR);
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    let r = sweep
        .results
        .values()
        .next()
        .expect("instance")
        .as_ref()
        .expect("ok");
    assert!(
        r.swept.iter().any(|s| s.user == user && s.retained),
        "{r:?}"
    );
    assert_eq!(can_login(&cluster, user), Some(false));
    clock.advance(6 * DAY);
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    let r = sweep
        .results
        .values()
        .next()
        .expect("instance")
        .as_ref()
        .expect("ok");
    assert!(r.swept.is_empty(), "not due yet: {r:?}");
    assert_eq!(r.retained, Some(1), "{r:?}");
    clock.advance(DAY + HOUR);
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    let r = sweep
        .results
        .values()
        .next()
        .expect("instance")
        .as_ref()
        .expect("ok");
    assert!(r.swept.iter().any(|s| s.user == user && s.cleanup), "{r:?}");
    assert_eq!(can_login(&cluster, user), None, "dropped");
    let after = owner_and_rows(&cluster, "inventory.mine");
    assert!(
        after.starts_with("rdspg_holder_") && after.ends_with(" 1"),
        "{after}"
    );
}

#[test]
fn the_same_requester_keeps_its_user_and_its_table_on_15() {
    the_same_requester_keeps_its_user_and_its_table(15);
}

#[test]
fn the_same_requester_keeps_its_user_and_its_table_on_17() {
    the_same_requester_keeps_its_user_and_its_table(17);
}

fn valid_until(cluster: &TestCluster, user: &str) -> String {
    cluster
        .sql(
            "postgres",
            &format!(
                "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
                 FROM pg_roles WHERE rolname = '{user}'"
            ),
        )
        .expect("query")
        .trim()
        .to_owned()
}

fn overlapping_grants_end_one_at_a_time(version: u32) {
    let cluster = common::cluster_with_owner_fix(version);
    let start = SystemTime::now();
    let clock = ManualClock::new(start);
    let m = manager(&cluster, &clock, "");
    let rt = common::runtime();
    let user = "erin";

    let a = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-a",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant a");
    assert!(a.is_complete(), "{a:?}");
    let password = password_of(&a);
    // A second request while the first is active: the same user, the password unchanged.
    let b = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-b",
            AccessLevel::ReadWrite,
            "2h",
            &["appdb/inventory/items"],
        )))
        .expect("grant b");
    assert!(b.is_complete(), "{b:?}");
    assert!(b.password.is_none(), "{b:?}");
    assert_eq!(b.password_kept, Some(PasswordKept::InUse), "{b:?}");
    let login = as_user(user, &password);
    cluster
        .sql_as(
            &login,
            "appdb",
            "SELECT count(*) FROM inventory.movements; INSERT INTO inventory.items VALUES (50, 'b', 1)",
        )
        .expect("the union: read the schema, write the table");
    // VALID UNTIL follows the latest expiry.
    let latest = time::OffsetDateTime::from(start) + time::Duration::hours(2);
    let latest = latest.replace_nanosecond(0).expect("whole seconds");
    let shown = latest
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .expect("format");
    assert_eq!(valid_until(&cluster, user), shown);

    // The same request id for other access is refused, and changes nothing.
    let conflict = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-a",
            AccessLevel::Admin,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant outcome");
    assert!(!conflict.is_complete());
    let error = conflict
        .instances
        .results
        .values()
        .next()
        .expect("instance");
    assert!(
        matches!(
            error,
            Err(AccessError::Grants(GrantsError::RequestConflict { .. }))
        ),
        "{error:?}"
    );
    assert!(
        rds_pg_access::error_chain(error.as_ref().expect_err("refused")).contains("req-a"),
        "{error:?}"
    );

    // After 90 minutes the sweep ends req-a only: the schema is no longer readable, the table
    // still is (and writable), the user still logs in with the same password.
    clock.advance(90 * 60 * Duration::from_secs(1));
    let sweep = rt.block_on(m.sweep()).expect("sweep");
    let r = sweep
        .results
        .values()
        .next()
        .expect("instance")
        .as_ref()
        .expect("ok");
    assert_eq!(r.ended_grants.len(), 1, "{r:?}");
    assert_eq!(r.ended_grants[0].request_id, "req-a");
    assert!(r.swept.is_empty(), "{r:?}");
    cluster
        .sql_as(
            &login,
            "appdb",
            "SELECT count(*) FROM inventory.items; INSERT INTO inventory.items VALUES (51, 'c', 1)",
        )
        .expect("req-b's privileges stay");
    assert!(
        cluster
            .sql_as(&login, "appdb", "SELECT count(*) FROM inventory.movements")
            .is_err(),
        "req-a's privileges are gone"
    );
    assert_eq!(valid_until(&cluster, user), shown);
    let status = rt
        .block_on(m.user_status(&user.parse().expect("user")))
        .expect("status");
    let status = status.results.values().next().expect("instance");
    let status = status.as_ref().expect("ok").as_ref().expect("exists");
    assert_eq!(status.grants.len(), 1, "{status:?}");
    assert_eq!(status.grants[0].request_id, "req-b");

    // Revoking req-b (the last grant) revokes the user; with user_cleanup_days = 0, dropped.
    let ended = rt
        .block_on(m.revoke_request(&user.parse().expect("user"), "req-b"))
        .expect("revoke request");
    let ended = ended.results.values().next().expect("instance");
    assert!(
        matches!(ended, Ok(GrantRevocation::UserRevoked(r)) if r.dropped),
        "{ended:?}"
    );
    assert_eq!(can_login(&cluster, user), None, "dropped");
}

#[test]
fn overlapping_grants_end_one_at_a_time_on_15() {
    overlapping_grants_end_one_at_a_time(15);
}

#[test]
fn overlapping_grants_end_one_at_a_time_on_17() {
    overlapping_grants_end_one_at_a_time(17);
}

/// Revoking one grant of two keeps the other's privileges; extending one grant moves only its
/// expiry.
#[test]
fn one_grant_is_revoked_or_extended_alone() {
    let cluster = common::cluster_with_owner_fix(15);
    let clock = ManualClock::new(SystemTime::now());
    let m = manager(&cluster, &clock, "");
    let rt = common::runtime();
    let user = "fay";
    let a = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-a",
            AccessLevel::ReadOnly,
            "1h",
            &["appdb/inventory"],
        )))
        .expect("grant a");
    let password = password_of(&a);
    let b = rt
        .block_on(m.grant(&request(
            &m,
            user,
            "req-b",
            AccessLevel::ReadWrite,
            "1h",
            &["appdb/inventory/items"],
        )))
        .expect("grant b");
    assert!(b.is_complete(), "{b:?}");
    let login = as_user(user, &password);

    let until = time::OffsetDateTime::from(clock.now()) + time::Duration::hours(5);
    let extended = rt
        .block_on(m.extend(
            &rds_pg_access::ExtendRequest::new(user.parse().expect("user"), until).request("req-a"),
        ))
        .expect("extend");
    let record = extended.results.values().next().expect("instance");
    let record = record.as_ref().expect("ok").as_ref().expect("found");
    let a_until = record.grant("req-a").expect("a").expires_at;
    let b_until = record.grant("req-b").expect("b").expires_at;
    assert!(a_until > b_until, "{record:?}");
    let missing = rt
        .block_on(
            m.extend(
                &rds_pg_access::ExtendRequest::new(user.parse().expect("user"), until)
                    .request("req-zz"),
            ),
        )
        .expect("extend");
    assert!(
        matches!(
            missing.results.values().next(),
            Some(Err(AccessError::GrantNotHeld { .. }))
        ),
        "{missing:?}"
    );

    let ended = rt
        .block_on(m.revoke_request(&user.parse().expect("user"), "req-b"))
        .expect("revoke request");
    assert!(
        matches!(
            ended.results.values().next(),
            Some(Ok(GrantRevocation::Ended { .. }))
        ),
        "{ended:?}"
    );
    cluster
        .sql_as(&login, "appdb", "SELECT count(*) FROM inventory.items")
        .expect("req-a still reads the schema");
    assert!(
        cluster
            .sql_as(
                &login,
                "appdb",
                "INSERT INTO inventory.items VALUES (60, 'd', 1)"
            )
            .is_err(),
        "req-b's write is gone"
    );
    let not_held = rt
        .block_on(m.revoke_request(&user.parse().expect("user"), "req-b"))
        .expect("revoke request again");
    assert!(
        matches!(
            not_held.results.values().next(),
            Some(Ok(GrantRevocation::NotHeld))
        ),
        "{not_held:?}"
    );
}
