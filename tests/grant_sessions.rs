//! Issue 18 (one entry point for a grant): `AccessManager::grant` opens one pg-grants session
//! per database it works in (the integration's, where the role is created, and each one it
//! grants in) and reads the role's mark once per instance, counted in the server's statement
//! log (before: two sessions in the integration's database appdb and three mark reads).

use std::sync::Arc;

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials};

/// The start of the query reading one role's marks (`pg_grants::Session::managed_role`).
const MARK_READ: &str = "SELECT r.rolname::pg_catalog.text, r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid')";
/// The start of a pg-grants session (`Session::new`: server version, connector, database).
const SESSION_START: &str = "current_setting('server_version_num')::pg_catalog.int4, \
     current_user::pg_catalog.text";

/// A manager of one integration reaching `cluster` directly, with `extra` settings lines.
fn manager(cluster: &TestCluster, extra: &str) -> AccessManager {
    let text = format!(
        "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
         ssl_mode = \"disable\"\n{extra}[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
         [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let credentials = IntegrationCredentials::shared(Arc::new(StaticPassword::new(
        "apono_connector",
        SecretString::from(cluster.connector().password.clone()),
    )));
    AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_on_two_databases_opens_one_session_each_and_reads_the_mark_once() {
    let cluster = TestCluster::builder()
        .version(15)
        .log_statements(true)
        .start()
        .expect("start a cluster with the RDS emulation");
    // The master owns sales (appdb) and reports (analytics).
    cluster
        .sql("postgres", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let manager = manager(&cluster, "database = \"appdb\"\n");
    let mut request = AccessRequest::builder(
        "counted".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    );
    for r in ["appdb/sales", "analytics/reports"] {
        request = request.resource(manager.resource_path(r).expect("path"));
    }
    let request = request.build().expect("request");

    let before = cluster.server_log().expect("server log");
    let outcome = manager.grant(&request).await.expect("grant");
    assert!(outcome.is_complete(), "{outcome:?}");
    let log = cluster.server_log().expect("server log");
    let log = log.strip_prefix(before.as_str()).unwrap_or(&log);
    assert_eq!(
        log.matches(MARK_READ).count(),
        1,
        "one read of the mark:\n{log}"
    );
    // The role is created in the integration's database (appdb), then granted there (in the
    // same session) and in analytics: one session in each.
    let mut sessions: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(SESSION_START))
        .filter_map(|line| {
            line.split_once(" LOG:")?
                .0
                .rsplit_once('@')
                .map(|(_, db)| db)
        })
        .collect();
    sessions.sort_unstable();
    assert_eq!(
        sessions,
        ["analytics", "appdb"],
        "one session per database:\n{log}"
    );
    // Both databases were granted.
    let granted = cluster
        .sql(
            "analytics",
            "SELECT has_table_privilege('counted', 'reports.daily', 'SELECT')",
        )
        .expect("query");
    assert_eq!(granted.trim(), "t");
}

/// The connector's backends that ran statements in `log`, as `database` per backend (sorted).
fn connector_backends(log: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    for line in log.lines() {
        // `… UTC [pid] apono_connector@database LOG:  …`
        let Some((head, _)) = line.split_once(" LOG:") else {
            continue;
        };
        let Some((pid, who)) = head.rsplit_once("] ") else {
            continue;
        };
        let Some(db) = who.strip_prefix("apono_connector@") else {
            continue;
        };
        let pid = pid.rsplit_once('[').map_or(pid, |(_, p)| p);
        seen.insert(pid.to_owned(), db.to_owned());
    }
    let mut dbs: Vec<String> = seen.into_values().collect();
    dbs.sort_unstable();
    dbs
}

/// With the default settings the per-role lock and the user's creation share one database
/// (`postgres`): the lock's connection does that work too. A grant in appdb then logs in
/// twice (postgres: lock, marks, creation; appdb: the grant), not three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_role_lock_connection_also_does_the_home_database_work() {
    let cluster = TestCluster::builder()
        .version(15)
        .log_statements(true)
        .start()
        .expect("start a cluster with the RDS emulation");
    cluster
        .sql("postgres", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let manager = manager(&cluster, "");
    assert_eq!(
        manager.integration().database(),
        manager.integration().lock_database()
    );
    let request = AccessRequest::builder(
        "twice".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .build()
    .expect("request");
    let before = cluster.server_log().expect("server log");
    let outcome = manager.grant(&request).await.expect("grant");
    assert!(outcome.is_complete(), "{outcome:?}");
    let log = cluster.server_log().expect("server log");
    let log = log.strip_prefix(before.as_str()).unwrap_or(&log);
    assert_eq!(
        connector_backends(log),
        ["appdb", "postgres"],
        "one backend per database:\n{log}"
    );
    // The lock was taken (and is gone with its connection), and the grant holds.
    assert!(
        log.contains("pg_try_advisory_lock") || log.contains("pg_advisory_lock"),
        "{log}"
    );
    let granted = cluster
        .sql(
            "appdb",
            "SELECT has_table_privilege('twice', 'sales.orders', 'SELECT')",
        )
        .expect("query");
    assert_eq!(granted.trim(), "t");
}
