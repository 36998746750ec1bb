//! Every session pg-auth opens starts safe and stays bounded, against real PostgreSQL
//! (pg-testkit, RDS permission model: the connector is not a superuser):
//!
//! - startup options pin `search_path = pg_catalog, pg_temp` and the timeouts, and win over
//!   what a hostile database owner (`ALTER DATABASE … SET`) or a role setting puts there;
//! - a statement behind a lock a hostile grantee holds fails after `lock_timeout`;
//! - the pool never hands out a connection inside a transaction, holding an advisory lock or
//!   with session state changed by `SET`, whatever the recycle mode.

use std::time::Duration;

use pg_auth::{
    ConnectOptions, Pool, PoolOptions, RecycleCheck, SecretString, SslMode, StaticPassword,
};
use pg_testkit::{ALL_VERSIONS, Credentials, TestCluster, for_each_version};
use tokio_postgres::NoTls;

fn cluster() -> TestCluster {
    TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is required: {e}"))
}

fn options(cluster: &TestCluster, dbname: &str) -> ConnectOptions {
    ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname(dbname)
        .ssl_mode(SslMode::Disable)
        .build()
        .expect("valid options")
}

fn connector_source(cluster: &TestCluster) -> StaticPassword {
    let c = cluster.connector();
    StaticPassword::new(&c.user, SecretString::from(c.password.clone()))
}

async fn show(client: &tokio_postgres::Client, setting: &str) -> String {
    let row = client
        .query_one("SELECT pg_catalog.current_setting($1)", &[&setting])
        .await
        .expect("current_setting");
    row.get(0)
}

/// A database owner sets `search_path` (and switches the timeouts off) for everyone who
/// connects to its database; the superuser-level role settings try the same. Sessions opened
/// through pg-auth still run with pg-auth's values; a plain libpq session shows the hostile
/// ones, so the settings are really in force.
#[test]
fn startup_settings_override_a_hostile_owners_database_and_role_settings() {
    for_each_version(ALL_VERSIONS, |version| {
        let cluster = TestCluster::builder()
            .version(version)
            .start()
            .unwrap_or_else(|e| panic!("PostgreSQL {version} is required: {e}"));
        hostile_owner_settings_lose(&cluster);
    });
}

fn hostile_owner_settings_lose(cluster: &TestCluster) {
    let owner = Credentials {
        user: "hostile_owner".into(),
        password: "owner-pass-1".into(),
    };
    cluster
        .sql(
            "postgres",
            "CREATE ROLE hostile_owner LOGIN PASSWORD 'owner-pass-1';\n\
             CREATE DATABASE hostiledb OWNER hostile_owner;",
        )
        .expect("setup");
    cluster
        .sql_as(
            &owner,
            "hostiledb",
            "CREATE SCHEMA evil;\n\
             ALTER DATABASE hostiledb SET search_path = evil, public;\n\
             ALTER DATABASE hostiledb SET lock_timeout = 0;\n\
             ALTER DATABASE hostiledb SET statement_timeout = 0;\n\
             ALTER DATABASE hostiledb SET idle_in_transaction_session_timeout = 0;\n\
             ALTER DATABASE hostiledb SET standard_conforming_strings = off;",
        )
        .expect("the owner may set defaults of its database");
    let connector = cluster.connector().user.clone();
    // Sessions in hostiledb would act as the owner, whom the connector may act for (as it
    // must for the owners of objects it grants on).
    cluster
        .sql("postgres", &format!("GRANT hostile_owner TO {connector};"))
        .expect("membership");
    cluster
        .sql_as(
            &owner,
            "hostiledb",
            "ALTER DATABASE hostiledb SET role = 'hostile_owner';",
        )
        .expect("the owner may set the role of sessions in its database");
    cluster
        .sql(
            "postgres",
            &format!(
                "ALTER ROLE {connector} SET search_path = evil, \"$user\", public;\n\
                 ALTER ROLE {connector} IN DATABASE hostiledb SET search_path = evil, public;\n\
                 ALTER ROLE {connector} IN DATABASE hostiledb SET lock_timeout = 0;"
            ),
        )
        .expect("role settings");

    // The hostile settings are in force for a session without startup options.
    let plain = cluster
        .sql_as(
            cluster.connector(),
            "hostiledb",
            "SHOW search_path; SHOW lock_timeout; SELECT current_user;",
        )
        .expect("plain session");
    assert_eq!(
        plain, "evil, public\n0\nhostile_owner",
        "setup did not take effect"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for dbname in ["hostiledb", "postgres"] {
            let connection =
                pg_auth::connect(&options(cluster, dbname), &connector_source(cluster))
                    .await
                    .expect("connect");
            let client = connection.client();
            assert_eq!(
                show(client, "search_path").await,
                "pg_catalog,pg_temp",
                "{dbname}"
            );
            let schemas: Vec<String> = client
                .query_one("SELECT pg_catalog.current_schemas(true)::text[]", &[])
                .await
                .expect("current_schemas")
                .get(0);
            assert_eq!(
                schemas,
                ["pg_catalog"],
                "{dbname}: no other schema resolves"
            );
            let who: String = client
                .query_one("SELECT CURRENT_USER::pg_catalog.text", &[])
                .await
                .expect("current_user")
                .get(0);
            assert_eq!(who, connector, "{dbname}: the session acts as another role");
            assert_eq!(show(client, "lock_timeout").await, "10s", "{dbname}");
            assert_eq!(
                show(client, "standard_conforming_strings").await,
                "on",
                "{dbname}"
            );
            assert_eq!(show(client, "statement_timeout").await, "5min", "{dbname}");
            assert_eq!(
                show(client, "idle_in_transaction_session_timeout").await,
                "1min",
                "{dbname}"
            );
        }
    });
}

/// A hostile grantee (UPDATE on a table is enough for `LOCK TABLE … ACCESS EXCLUSIVE`) keeps
/// a transaction open holding the lock. A connector statement that needs the table (the
/// connector is a member of the table's owner, as the setup guide has it) fails with
/// SQLSTATE 55P03 (lock_not_available) after the default `lock_timeout` instead of waiting for
/// good (the outer 120 s bound only stops the test on the old code).
#[tokio::test]
async fn a_statement_behind_a_grantees_table_lock_fails_after_lock_timeout() {
    let cluster = cluster();
    let grantee = Credentials {
        user: "hostile_grantee".into(),
        password: "grantee-pass-1".into(),
    };
    let connector = cluster.connector().user.clone();
    let owner = cluster.app_owner().user.clone();
    cluster
        .sql(
            "postgres",
            &format!(
                "CREATE ROLE hostile_grantee LOGIN PASSWORD 'grantee-pass-1';\n\
                 GRANT {owner} TO {connector};"
            ),
        )
        .expect("grantee");
    cluster
        .sql_as(
            cluster.app_owner(),
            "appdb",
            "GRANT USAGE ON SCHEMA inventory TO hostile_grantee;\n\
             GRANT SELECT, UPDATE ON inventory.items TO hostile_grantee;",
        )
        .expect("grant");
    let (holder, connection) =
        tokio_postgres::connect(&cluster.conn_string(&grantee, "appdb"), NoTls)
            .await
            .expect("grantee connects");
    tokio::spawn(connection);
    holder
        .batch_execute("BEGIN; LOCK TABLE inventory.items IN ACCESS EXCLUSIVE MODE;")
        .await
        .expect("the grantee may lock the table");

    let connection = pg_auth::connect(&options(&cluster, "appdb"), &connector_source(&cluster))
        .await
        .expect("connect");
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        connection
            .client()
            .simple_query("SELECT count(*) FROM inventory.items"),
    )
    .await
    .expect("the statement must not wait for the grantee's transaction");
    let error = outcome.expect_err("the table is locked");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE),
        "{error}"
    );
    let text = error.as_db_error().map(|e| e.message().to_owned());
    assert_eq!(
        text.as_deref(),
        Some("canceling statement due to lock timeout")
    );
    // The grantee's transaction is untouched.
    holder.batch_execute("COMMIT").await.expect("commit");
}

async fn pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0)
}

/// What a borrower leaves behind before returning a connection to the pool.
#[derive(Debug, Clone, Copy)]
enum Leftover {
    OpenTransaction,
    AbortedTransaction,
    SessionAdvisoryLock,
    ChangedSearchPath,
    SetRole,
    /// A future cancelled (by a timeout) between statements of a multi-statement transaction.
    CancelledMidTransaction,
}

/// With one connection in the pool, whatever was left behind, the next `get` gets a new,
/// clean backend: not inside a transaction, no advisory lock, pg-auth's search_path.
#[tokio::test]
async fn pool_never_reuses_a_connection_in_an_unknown_state() {
    let cluster = cluster();
    let source = std::sync::Arc::new(connector_source(&cluster));
    let leftovers = [
        Leftover::OpenTransaction,
        Leftover::AbortedTransaction,
        Leftover::SessionAdvisoryLock,
        Leftover::ChangedSearchPath,
        Leftover::SetRole,
        Leftover::CancelledMidTransaction,
    ];
    for check in [RecycleCheck::Query, RecycleCheck::Fast] {
        let pool = Pool::new(
            options(&cluster, "postgres"),
            source.clone(),
            PoolOptions::builder()
                .max_size(1)
                .recycle_check(check)
                .build()
                .expect("pool options"),
        )
        .expect("pool");
        // A clean connection is reused (the check does not discard everything).
        let first = pid(&pool.get().await.expect("get")).await;
        assert_eq!(
            pid(&pool.get().await.expect("get")).await,
            first,
            "{check:?}: a clean connection is reused"
        );
        for leftover in leftovers {
            let object = pool.get().await.expect("get");
            let before = pid(&object).await;
            match leftover {
                Leftover::OpenTransaction => {
                    object.batch_execute("BEGIN").await.expect("begin");
                }
                Leftover::AbortedTransaction => {
                    object.batch_execute("BEGIN").await.expect("begin");
                    object
                        .batch_execute("SELECT 1/0")
                        .await
                        .expect_err("division by zero");
                }
                Leftover::SessionAdvisoryLock => {
                    object
                        .batch_execute("SELECT pg_catalog.pg_advisory_lock(4242)")
                        .await
                        .expect("lock");
                }
                Leftover::ChangedSearchPath => {
                    object
                        .batch_execute("SET search_path = public, pg_catalog")
                        .await
                        .expect("set");
                }
                Leftover::SetRole => {
                    object
                        .batch_execute("SET ROLE pg_monitor")
                        .await
                        .expect("set role");
                }
                Leftover::CancelledMidTransaction => {
                    let work = async {
                        object
                            .batch_execute("BEGIN; CREATE TEMP TABLE half_done (id int)")
                            .await
                            .expect("first statements");
                        // Stands for a slow step (an AWS call) that the timeout cancels.
                        std::future::pending::<()>().await;
                    };
                    tokio::time::timeout(Duration::from_millis(200), work)
                        .await
                        .expect_err("the work is cancelled");
                }
            }
            drop(object);
            let again = pool.get().await.expect("get again");
            let after = pid(&again).await;
            assert_ne!(
                after, before,
                "{check:?}/{leftover:?}: the connection was reused"
            );
            // Simple protocol: the statement is the first of its own implicit transaction
            // unless a transaction was left open.
            let row = again
                .simple_query(
                    "SELECT pg_catalog.transaction_timestamp() = pg_catalog.statement_timestamp(), \
                     pg_catalog.current_setting('search_path')",
                )
                .await
                .expect("state")
                .into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
                    _ => None,
                })
                .expect("a row");
            assert_eq!(
                row.get(0),
                Some("t"),
                "{check:?}/{leftover:?}: in a transaction"
            );
            assert_eq!(row.get(1), Some("pg_catalog,pg_temp"));
            drop(again);
            assert_eq!(pool.status().size, 1, "{check:?}/{leftover:?}");
        }
    }
}
