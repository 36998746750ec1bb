//! The advisory-lock keys of the library are public (`rdspg:<role>`, `rdspg-revoke:<role>`):
//! any login may take them and hold them forever, in a session or in a prepared transaction.
//! A rightless accomplice of an expired user once kept its revocation from ever finishing
//! (every attempt waited, then failed with `55P03`): its login was disabled, but its
//! privileges stayed and its `SECURITY DEFINER` functions kept running with them. Locks held
//! only by squatters (no `CREATEROLE`, no superuser) are now named and ignored; a lock held by
//! a connector is still waited for. Real PostgreSQL (15 and 17) with RDS emulation; the
//! connector is not a superuser.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pg_grants::marker::{DEFAULT_HOLDER_ROLE, holder_role_name};
use pg_grants::{AccessLevel, Grant, LockHolder, RevokeReport, Scope, Session, Settings};
use pg_testkit::{TestCluster, for_each_version, rds};
use tokio_postgres::Client;

const MALLORY_PW: &str = "mallory-pw-1";

/// A cluster that allows prepared transactions (`max_prepared_transactions` is 0 by default).
fn start_with_prepared(version: u32) -> TestCluster {
    TestCluster::builder()
        .version(version)
        .rds_emulation(true)
        .config_line("max_prepared_transactions = 8")
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL {version}: {e}"))
}

/// Creates the managed `user` with admin on schema `sales`, which plants a `SECURITY DEFINER`
/// function reading `sales.orders` (which mallory may not read) with its privileges.
async fn planted_user(cluster: &TestCluster, s: &Session<'_>, user: &str) {
    let pw = new_user(s, user, AccessLevel::Admin).await;
    s.apply(
        &id(user),
        &[Grant::new(Scope::Schema(id("sales")), AccessLevel::Admin)],
    )
    .await
    .expect("granting admin on sales");
    let u = try_connect(cluster, user, &pw, rds::APP_DB)
        .await
        .expect("the user logs in");
    u.batch_execute(&format!(
        "CREATE FUNCTION sales.peek_{user}() RETURNS bigint LANGUAGE sql SECURITY DEFINER \
         AS 'SELECT count(*) FROM sales.orders'"
    ))
    .await
    .expect("planting the function");
}

/// What mallory gets from `user`'s function: the count it reads, or the server's error.
async fn peek(mallory: &Client, user: &str) -> Result<i64, String> {
    mallory
        .query_one(&format!("SELECT sales.peek_{user}()"), &[])
        .await
        .map(|r| r.get(0))
        .map_err(|e| {
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().to_owned())
        })
}

/// A session of mallory in the app database.
async fn mallory(cluster: &TestCluster) -> Client {
    try_connect(cluster, "mallory", MALLORY_PW, rds::APP_DB)
        .await
        .expect("mallory logs in")
}

/// The lock keys an accomplice of `user` squats: the revocation's, the role's transaction
/// lock, and that of the holder role its objects go to (its name is computable by anyone).
fn keys_of(cluster: &TestCluster, user: &str) -> Vec<String> {
    let oid: u32 = su(
        cluster,
        "postgres",
        &format!("SELECT oid FROM pg_roles WHERE rolname = '{user}'"),
    )
    .parse()
    .expect("an OID");
    let holder = holder_role_name(&id(DEFAULT_HOLDER_ROLE), oid, user).expect("the holder's name");
    vec![
        format!("rdspg:{user}"),
        format!("rdspg-revoke:{user}"),
        format!("rdspg:{holder}"),
    ]
}

/// Takes each of `keys` as a session-level lock on `client`.
async fn hold(client: &Client, keys: &[String]) {
    for key in keys {
        client
            .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[key])
            .await
            .expect("take the lock");
    }
}

/// Takes each of `keys` in a transaction of `client` and prepares it as `gid`: the locks stay
/// held with no session, until `COMMIT PREPARED` or `ROLLBACK PREPARED`.
async fn hold_prepared(client: &Client, keys: &[String], gid: &str) {
    client.batch_execute("BEGIN").await.expect("BEGIN");
    for key in keys {
        client
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[key],
            )
            .await
            .expect("take the lock");
    }
    client
        .batch_execute(&format!("PREPARE TRANSACTION '{gid}'"))
        .await
        .expect("PREPARE TRANSACTION");
}

/// The report's squatters: user and prepared transaction (or `None` for a session).
fn named(report: &RevokeReport) -> Vec<(String, Option<String>)> {
    let mut named: Vec<_> = report
        .lock_squatters
        .iter()
        .map(|h| (h.user.clone(), h.prepared_transaction.clone()))
        .collect();
    named.sort();
    named.dedup();
    named
}

#[test]
fn squatted_locks_stop_neither_revocation_nor_retirement() {
    for_each_version(&[15, 17], |v| {
        let cluster = start_with_prepared(v);
        assert_eq!(
            su(&cluster, "postgres", "SHOW max_prepared_transactions"),
            "8",
            "{v}"
        );
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT rolsuper FROM pg_roles WHERE rolname = 'apono_connector'"
                ),
                "f"
            );
            // A squatted lock used to fail every attempt with 55P03; a hang would show here.
            c.client
                .batch_execute("SET lock_timeout = '3s'")
                .await
                .unwrap();
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            // The accomplice: a login with no rights but USAGE on sales (to call the functions).
            su(
                &cluster,
                rds::APP_DB,
                &format!(
                    "CREATE ROLE mallory LOGIN PASSWORD '{MALLORY_PW}'; \
                     GRANT USAGE ON SCHEMA sales TO mallory;"
                ),
            );
            let m = mallory(&cluster).await;
            assert!(
                try_sql(&m, "SELECT count(*) FROM sales.orders").await.is_err(),
                "{v}: mallory reads the orders on its own"
            );

            // dave (revoked) and erin (retired): squatted by mallory's sessions.
            // frank (revoked) and gina (retired): by mallory's prepared transactions.
            for user in ["dave", "erin", "frank", "gina"] {
                planted_user(&cluster, &s, user).await;
                assert_eq!(
                    peek(&m, user).await,
                    Ok(i64::from(rds::ORDERS_ROWS)),
                    "{v}: {user}'s function runs with its privileges before"
                );
            }
            let squatter_sessions = [mallory(&cluster).await, mallory(&cluster).await];
            hold(&squatter_sessions[0], &keys_of(&cluster, "dave")).await;
            hold(&squatter_sessions[1], &keys_of(&cluster, "erin")).await;
            let preparer = mallory(&cluster).await;
            hold_prepared(&preparer, &keys_of(&cluster, "frank"), "squat-frank").await;
            hold_prepared(&preparer, &keys_of(&cluster, "gina"), "squat-gina").await;
            drop(preparer);
            // The prepared transactions outlive the session, owned by mallory.
            assert_eq!(
                su(
                    &cluster,
                    "postgres",
                    "SELECT string_agg(gid || ':' || owner, ',' ORDER BY gid) FROM pg_prepared_xacts"
                ),
                "squat-frank:mallory,squat-gina:mallory",
                "{v}"
            );
            // Seen by the library as squatters, the prepared ones named by their transaction.
            let holders = s.advisory_lock_holders("rdspg-revoke:frank").await.unwrap();
            assert_eq!(holders.len(), 1, "{v}: {holders:?}");
            assert_eq!(holders[0].user, "mallory", "{v}: {holders:?}");
            assert_eq!(
                holders[0].prepared_transaction.as_deref(),
                Some("squat-frank"),
                "{v}"
            );
            assert!(holders[0].is_squatter(), "{v}: {holders:?}");
            assert_eq!(
                holders[0].to_string(),
                "mallory (prepared transaction \"squat-frank\")"
            );
            let holders = s.advisory_lock_holders("rdspg:dave").await.unwrap();
            assert!(
                holders.len() == 1 && holders[0].user == "mallory" && holders[0].is_squatter(),
                "{v}: {holders:?}"
            );

            let at = time::OffsetDateTime::now_utc();
            let started = Instant::now();
            let dave = tokio::time::timeout(
                Duration::from_secs(60),
                s.revoke_role(&id("dave"), &connector_for(&cluster)),
            )
            .await
            .expect("revoking dave hangs")
            .unwrap_or_else(|e| panic!("{v}: revoking dave: {e}"));
            let erin = tokio::time::timeout(
                Duration::from_secs(60),
                s.retire_role(&id("erin"), &connector_for(&cluster), at),
            )
            .await
            .expect("retiring erin hangs")
            .unwrap_or_else(|e| panic!("{v}: retiring erin: {e}"));
            let frank = tokio::time::timeout(
                Duration::from_secs(60),
                s.revoke_role(&id("frank"), &connector_for(&cluster)),
            )
            .await
            .expect("revoking frank hangs")
            .unwrap_or_else(|e| panic!("{v}: revoking frank: {e}"));
            let gina = tokio::time::timeout(
                Duration::from_secs(60),
                s.retire_role(&id("gina"), &connector_for(&cluster), at),
            )
            .await
            .expect("retiring gina hangs")
            .unwrap_or_else(|e| panic!("{v}: retiring gina: {e}"));
            // No lock was waited for (each wait would last lock_timeout, then fail).
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{v}: {:?}",
                started.elapsed()
            );

            assert!(dave.dropped && !role_exists(&cluster, "dave"), "{v}: {dave:?}");
            assert!(frank.dropped && !role_exists(&cluster, "frank"), "{v}: {frank:?}");
            assert!(erin.retained && can_login(&cluster, "erin") == "f", "{v}: {erin:?}");
            assert!(gina.retained && can_login(&cluster, "gina") == "f", "{v}: {gina:?}");
            // The squatters are named in the reports.
            assert_eq!(named(&dave), [("mallory".to_owned(), None)], "{v}: {dave:?}");
            assert_eq!(named(&erin), [("mallory".to_owned(), None)], "{v}: {erin:?}");
            assert_eq!(
                named(&frank),
                [("mallory".to_owned(), Some("squat-frank".to_owned()))],
                "{v}: {frank:?}"
            );
            assert_eq!(
                named(&gina),
                [("mallory".to_owned(), Some("squat-gina".to_owned()))],
                "{v}: {gina:?}"
            );
            assert!(
                dave.lock_squatters.iter().all(LockHolder::is_squatter),
                "{v}: {dave:?}"
            );
            // The retired users hold no privilege any more.
            for user in ["erin", "gina"] {
                assert_eq!(acl_entries(&cluster, user), "0", "{v}: {user}");
                assert_eq!(
                    su(
                        &cluster,
                        rds::APP_DB,
                        &format!("SELECT has_table_privilege('{user}', 'sales.orders', 'SELECT')")
                    ),
                    "f",
                    "{v}: {user}"
                );
            }
            // No function of theirs runs with their privileges for the accomplice.
            for user in ["dave", "erin", "frank", "gina"] {
                let after = peek(&m, user).await;
                assert!(
                    after
                        .as_ref()
                        .is_err_and(|e| e.contains("permission denied")),
                    "{v}: {user}'s function still runs with its privileges: {after:?}"
                );
            }
            // mallory still holds every lock: nothing waited for it to let go.
            let held = m
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0);
            assert_eq!(held, 12, "{v}");
            drop(squatter_sessions);
            for gid in ["squat-frank", "squat-gina"] {
                su(&cluster, rds::APP_DB, &format!("ROLLBACK PREPARED '{gid}'"));
            }
        });
    });
}

/// Runs `revoke` while `holder` keeps `key`: the revocation must still be running after a
/// while (it waits), and finish once `holder` lets go. Returns its report.
async fn waits_for_a_connector<F>(
    cluster: &TestCluster,
    holder: &Client,
    key: &str,
    user: &str,
    revoke: F,
) -> RevokeReport
where
    F: std::future::Future<Output = Result<RevokeReport, pg_grants::GrantsError>>,
{
    hold(holder, &[key.to_owned()]).await;
    let started = Instant::now();
    let release = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Still there: the revocation waits for the connector.
        assert!(role_exists(cluster, user), "{user} revoked under {key}");
        let released: bool = holder
            .query_one(
                "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                &[&key],
            )
            .await
            .expect("releasing the lock")
            .get(0);
        assert!(released);
    };
    let (report, ()) = tokio::join!(revoke, release);
    let report = report.unwrap_or_else(|e| panic!("revoking {user}: {e}"));
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{user}: did not wait for {key}: {:?}",
        started.elapsed()
    );
    assert!(report.lock_squatters.is_empty(), "{report:?}");
    report
}

fn role_exists(cluster: &TestCluster, role: &str) -> bool {
    su(
        cluster,
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
    ) == "1"
}

#[test]
fn locks_held_by_a_connector_are_waited_for() {
    for_each_version(&[15, 17], |v| {
        let cluster = start_with_prepared(v);
        runtime().block_on(async {
            let c = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            c.client
                .batch_execute("SET lock_timeout = '30s'")
                .await
                .unwrap();
            let s = Session::new(&c.client, Settings::default())
                .await
                .unwrap()
                .with_notices(c.notices.clone());
            fix_owners(&cluster, &s).await;
            // Another connector replica: the same role, its own session.
            let other = connect(&cluster, cluster.connector(), rds::APP_DB).await;
            for user in ["hank", "iris", "jack"] {
                planted_user(&cluster, &s, user).await;
            }

            // Past lock_timeout the revocation fails, changing nothing.
            hold(&other.client, &["rdspg-revoke:hank".to_owned()]).await;
            c.client
                .batch_execute("SET lock_timeout = '500ms'")
                .await
                .unwrap();
            let err = s
                .revoke_role(&id("hank"), &connector_for(&cluster))
                .await
                .expect_err("revoked while a connector held the revocation's lock");
            assert_eq!(err.sqlstate(), Some("55P03"), "{v}: {err}");
            assert_eq!(can_login(&cluster, "hank"), "t", "{v}");
            other
                .client
                .batch_execute(
                    "SELECT pg_advisory_unlock(hashtextextended('rdspg-revoke:hank', 0))",
                )
                .await
                .unwrap();
            c.client
                .batch_execute("SET lock_timeout = '30s'")
                .await
                .unwrap();

            // The revocation's session lock, then the role's transaction lock: each waited for.
            let hank = waits_for_a_connector(
                &cluster,
                &other.client,
                "rdspg-revoke:hank",
                "hank",
                s.revoke_role(&id("hank"), &connector_for(&cluster)),
            )
            .await;
            assert!(
                hank.dropped && !role_exists(&cluster, "hank"),
                "{v}: {hank:?}"
            );
            let iris = waits_for_a_connector(
                &cluster,
                &other.client,
                "rdspg:iris",
                "iris",
                s.revoke_role(&id("iris"), &connector_for(&cluster)),
            )
            .await;
            assert!(
                iris.dropped && !role_exists(&cluster, "iris"),
                "{v}: {iris:?}"
            );

            // A prepared transaction of a CREATEROLE role (the connector's) is no squatter.
            hold_prepared(&other.client, &["rdspg:jack".to_owned()], "connector-jack").await;
            let holders = s.advisory_lock_holders("rdspg:jack").await.unwrap();
            assert!(
                holders.len() == 1
                    && holders[0].user == rds::CONNECTOR
                    && holders[0].prepared_transaction.as_deref() == Some("connector-jack")
                    && !holders[0].is_squatter(),
                "{v}: {holders:?}"
            );
            c.client
                .batch_execute("SET lock_timeout = '500ms'")
                .await
                .unwrap();
            let err = s
                .retire_role(
                    &id("jack"),
                    &connector_for(&cluster),
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .expect_err("retired while a connector's prepared transaction held the lock");
            assert!(
                format!("{err}").contains("lock timeout") || err.sqlstate() == Some("55P03"),
                "{v}: {err}"
            );
            assert!(role_exists(&cluster, "jack"), "{v}");
            other
                .client
                .batch_execute("ROLLBACK PREPARED 'connector-jack'")
                .await
                .unwrap();
            let jack = s
                .retire_role(
                    &id("jack"),
                    &connector_for(&cluster),
                    time::OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
            assert!(
                jack.retained && jack.lock_squatters.is_empty(),
                "{v}: {jack:?}"
            );
        });
    });
}
