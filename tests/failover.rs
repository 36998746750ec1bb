//! Read-only failover and restarts through the facade (issue 15): a real hot standby of a
//! real writer (`pg_basebackup -R`), and discovery that answers the standby's endpoint first
//! and the writer's after, as Aurora's cluster endpoint does during a failover. Then the
//! writer goes away and the standby is promoted. Then a busy connector (grants from many
//! tasks at once) through a restart and an outage of its server.
//!
//! Checked: the grant lands on the writer, the standby was sent nothing (it refuses a write
//! at connect, before any statement), the failover is reported to the fleet observer and
//! logged; a standby that stays the only answer fails the instance with a typed "read-only"
//! error after the configured retries and changes nothing; every grant either completes
//! (the user logs in and reads) or leaves no login behind, and a rerun completes it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{cluster_with_owner_fix, connector_credentials, role_exists};
use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Endpoint, InstanceId, Integration, Settings,
    TagFilters,
};
use rds_pg_access::pg_auth::{ConnectOptions, SecretString, SslMode, StaticPassword};
use rds_pg_access::rds_discovery::{
    DbInstance, DiscoveryError, InstanceDirectory, StaticDirectory,
};
use rds_pg_access::{AccessError, AccessManager, FleetObserver, ManagerOptions};

const INSTANCE: &str = "orders";

fn integration() -> Integration {
    let text = format!(
        "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n[instance]\nid = \"{INSTANCE}\"\n[secret]\nenv = \"UNUSED\"\n"
    );
    Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone()
}

fn endpoint(cluster: &TestCluster) -> Endpoint {
    Endpoint::new("127.0.0.1".parse().expect("host"), cluster.port()).expect("endpoint")
}

/// Discovery as Aurora's cluster endpoint behaves during a failover: the first `stale`
/// lookups still answer the old server (here the standby), later ones the writer. The test
/// may point it elsewhere at any time.
#[derive(Debug)]
struct FailoverDirectory {
    answers: Mutex<(Endpoint, Endpoint)>,
    stale: AtomicUsize,
    lookups: AtomicUsize,
}

impl FailoverDirectory {
    fn new(stale_endpoint: Endpoint, writer: Endpoint, stale: usize) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new((stale_endpoint, writer)),
            stale: AtomicUsize::new(stale),
            lookups: AtomicUsize::new(0),
        })
    }
    fn point_at(&self, writer: Endpoint) {
        let mut answers = self.answers.lock().expect("lock");
        *answers = (writer.clone(), writer);
    }
}

#[async_trait::async_trait]
impl InstanceDirectory for FailoverDirectory {
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        let n = self.lookups.fetch_add(1, Ordering::SeqCst);
        let (stale, writer) = self.answers.lock().expect("lock").clone();
        let answer = if n < self.stale.load(Ordering::SeqCst) {
            stale
        } else {
            writer
        };
        StaticDirectory::new()
            .with_endpoint(id.clone(), answer)
            .instance(id)
            .await
    }

    async fn instances_by_tags(
        &self,
        _filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        Ok(Vec::new())
    }
}

/// Counts the failovers the manager reports.
#[derive(Debug, Default)]
struct Failovers {
    seen: Mutex<Vec<(String, u32, String)>>,
}

impl FleetObserver for Failovers {
    fn instance_finished(&self, _instance: &InstanceId, _outcome: Result<(), &AccessError>) {}
    fn instance_failover(&self, instance: &InstanceId, attempt: u32, error: &AccessError) {
        self.seen.lock().expect("lock").push((
            instance.to_string(),
            attempt,
            rds_pg_access::error_chain(error),
        ));
    }
}

fn manager(
    cluster: &TestCluster,
    directory: Arc<dyn InstanceDirectory>,
    observer: Arc<Failovers>,
) -> AccessManager {
    AccessManager::new(
        integration(),
        directory,
        Arc::new(connector_credentials(&cluster.connector().password)),
    )
    .expect("manager")
    // Short waits between retries: the test's directory answers the writer at once.
    .with_options(ManagerOptions::default().failover(2, Duration::from_millis(50)))
    .with_observer(observer)
}

fn request(manager: &AccessManager, user: &str) -> AccessRequest {
    AccessRequest::builder(
        user.parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/inventory").expect("path"))
    .build()
    .expect("request")
}

/// Logs in as `user` with `password` on `cluster` and reads the granted table.
async fn reads_inventory(cluster: &TestCluster, user: &str, password: &SecretString) -> bool {
    let options = ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("appdb")
        .ssl_mode(SslMode::Disable)
        .build()
        .expect("options");
    let source = StaticPassword::new(user, password.clone());
    match rds_pg_access::pg_auth::connect(&options, &source).await {
        Ok(connection) => connection
            .client()
            .simple_query("SELECT count(*) FROM inventory.items")
            .await
            .is_ok(),
        Err(_) => false,
    }
}

fn primary_and_standby() -> (TestCluster, TestCluster) {
    let primary = cluster_with_owner_fix(15);
    let standby = primary
        .start_standby()
        .unwrap_or_else(|e| panic!("a hot standby (pg_basebackup) is required: {e}"));
    primary.wait_for_standby(&standby).expect("caught up");
    (primary, standby)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_meets_a_standby_is_retried_on_the_writer() {
    let (primary, standby) = primary_and_standby();
    let standby_log_before = standby.server_log().expect("log").len();
    let directory = FailoverDirectory::new(endpoint(&standby), endpoint(&primary), 1);
    let failovers = Arc::new(Failovers::default());
    let manager = manager(&primary, directory.clone(), failovers.clone());

    let outcome = manager
        .grant(&request(&manager, "alice_failover"))
        .await
        .expect("grant");
    assert!(outcome.instances.all_ok(), "{:?}", outcome.instances);
    let password = outcome.password.clone().expect("a new user's password");
    // On the writer: the user logs in and reads what was granted.
    assert!(reads_inventory(&primary, "alice_failover", &password).await);
    // The failover was seen once and named; discovery ran again for the retry.
    let seen = failovers.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].0.as_str(), seen[0].1), (INSTANCE, 1));
    assert!(seen[0].2.contains("read-only"), "{}", seen[0].2);
    assert!(directory.lookups.load(Ordering::SeqCst) >= 2);
    assert_eq!(manager.failovers(), 1);
    // `rdspg serve` exports the count: a scheduler running this manager shows it on /metrics.
    let scheduler = rds_pg_access_service::Scheduler::builder()
        .integration(manager.clone())
        .build()
        .expect("scheduler");
    let text = rds_pg_access_service::metrics::encode(&scheduler.state()).expect("metrics");
    let name = manager.integration().name().to_string();
    assert!(
        text.contains(&format!(
            "rdspg_failovers_total{{integration=\"{name}\"}} 1\n"
        )),
        "{text}"
    );
    // The answer names the writer's endpoint, where the retry went.
    assert_eq!(
        outcome.endpoints[&INSTANCE.parse::<InstanceId>().expect("id")],
        endpoint(&primary)
    );
    // The standby was sent nothing: no statement failed there (a write refused with 25006
    // would be logged as "cannot execute ... in a read-only transaction").
    let standby_log = standby.server_log().expect("log");
    let new_lines = &standby_log[standby_log_before..];
    assert!(!new_lines.contains("read-only transaction"), "{new_lines}");
    // Replication brings the writer's state to the standby: the same user, whole.
    primary.wait_for_standby(&standby).expect("caught up");
    assert!(role_exists(&standby, "alice_failover"));
    assert_eq!(
        standby
            .sql(
                "appdb",
                "SELECT has_table_privilege('alice_failover', 'inventory.items', 'SELECT')"
            )
            .expect("privilege"),
        "t"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_that_stays_the_answer_fails_with_a_read_only_error_and_changes_nothing() {
    let (primary, standby) = primary_and_standby();
    let directory = FailoverDirectory::new(endpoint(&standby), endpoint(&standby), usize::MAX);
    let failovers = Arc::new(Failovers::default());
    let manager = manager(&primary, directory.clone(), failovers.clone());

    let outcome = manager
        .grant(&request(&manager, "bob_failover"))
        .await
        .expect("grant runs");
    let error = outcome.instances.results[&INSTANCE.parse::<InstanceId>().expect("id")]
        .as_ref()
        .expect_err("only a standby answers");
    let chain = rds_pg_access::error_chain(error);
    assert!(chain.contains("read-only"), "{chain}");
    // The typed error is in the chain (behind the lock connection that met the standby).
    assert!(format!("{error:?}").contains("ReadOnlyServer"), "{error:?}");
    assert!(
        outcome.password.is_none(),
        "no credential for a failed grant"
    );
    // Two retries (the configured count), each after discovery ran again (and once more
    // after the fan-out, for the steps that follow it).
    assert_eq!(failovers.seen.lock().expect("lock").len(), 2);
    assert_eq!(manager.failovers(), 2);
    assert_eq!(directory.lookups.load(Ordering::SeqCst), 4);
    assert!(!role_exists(&primary, "bob_failover"));
    assert!(!role_exists(&standby, "bob_failover"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promoted_standby_takes_over_when_the_writer_goes_away() {
    let (mut primary, standby) = primary_and_standby();
    let directory = FailoverDirectory::new(endpoint(&primary), endpoint(&primary), 0);
    let failovers = Arc::new(Failovers::default());
    let manager = manager(&primary, directory.clone(), failovers.clone());
    let first = manager
        .grant(&request(&manager, "carol_before"))
        .await
        .expect("grant");
    assert!(first.instances.all_ok(), "{:?}", first.instances);
    primary.wait_for_standby(&standby).expect("caught up");

    // The writer goes away; the standby is promoted; the endpoint moves to it.
    primary.stop().expect("stop the writer");
    standby.promote().expect("promote");
    assert!(!standby.is_in_recovery().expect("recovery"));
    directory.point_at(endpoint(&standby));

    let second = manager
        .grant(&request(&manager, "carol_after"))
        .await
        .expect("grant");
    assert!(second.instances.all_ok(), "{:?}", second.instances);
    // Nothing lost: the user granted before the failover still logs in on the new writer,
    // and the new one too.
    let before = first.password.clone().expect("password");
    let after = second.password.clone().expect("password");
    assert!(reads_inventory(&standby, "carol_before", &before).await);
    assert!(reads_inventory(&standby, "carol_after", &after).await);
    // And the user from before can be revoked on the new writer.
    let revoked = manager
        .revoke(&"carol_before".parse().expect("user"))
        .await
        .expect("revoke");
    assert!(revoked.all_ok(), "{revoked:?}");
    assert!(!reads_inventory(&standby, "carol_before", &before).await);
}

/// One grant of the load: `Some(password)` when it completed on the instance.
async fn grant_once(manager: &AccessManager, user: &str) -> Result<SecretString, String> {
    match manager.grant(&request(manager, user)).await {
        Ok(outcome) if outcome.instances.all_ok() => {
            Ok(outcome.password.expect("a new user's password"))
        }
        Ok(outcome) => {
            assert!(
                outcome.password.is_none(),
                "a failed grant hands out nothing"
            );
            let (_, error) = outcome.instances.failures().next().expect("a failure");
            Err(rds_pg_access::error_chain(error))
        }
        Err(error) => Err(rds_pg_access::error_chain(&error)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_under_load_through_a_restart_and_an_outage_complete_or_leave_no_login() {
    let cluster = cluster_with_owner_fix(15);
    let tasks: usize = std::env::var("RDSPG_POOL_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let directory: Arc<dyn InstanceDirectory> = Arc::new(
        StaticDirectory::new().with_endpoint(INSTANCE.parse().expect("id"), endpoint(&cluster)),
    );
    let manager = AccessManager::new(
        integration(),
        directory,
        Arc::new(connector_credentials(&cluster.connector().password)),
    )
    .expect("manager")
    .with_options(
        ManagerOptions::default()
            .connect_timeout(Duration::from_secs(2))
            .instance_timeout(Duration::from_secs(60)),
    );
    let cluster = Arc::new(Mutex::new(cluster));
    let stop = AtomicBool::new(false);
    let phase = AtomicUsize::new(0);
    // (task, user, phase when it began, outcome)
    type Outcome = (usize, String, usize, Result<SecretString, String>);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::default();
    // The grants: `tasks` loops in this test's task (a grant's future is not `Send`).
    let load = futures_util::future::join_all((0..tasks).map(|task| {
        let (manager, stop, phase, outcomes) = (&manager, &stop, &phase, &outcomes);
        async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let user = format!("load_{task}_{i}");
                let began = phase.load(Ordering::SeqCst);
                let outcome =
                    tokio::time::timeout(Duration::from_secs(120), grant_once(manager, &user))
                        .await
                        .unwrap_or_else(|_| panic!("{user}: the grant hung for 120 s"));
                let failed = outcome.is_err();
                outcomes
                    .lock()
                    .expect("lock")
                    .push((task, user, began, outcome));
                i += 1;
                if failed {
                    // A caller backs off after a failure (here 100 ms) rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }));
    // Every task has completed a grant begun since phase `p`; how long that took.
    let all_succeed_since = |p: usize| {
        let outcomes = &outcomes;
        async move {
            let start = Instant::now();
            loop {
                let done = {
                    let o = outcomes.lock().expect("lock");
                    (0..tasks).all(|t| {
                        o.iter()
                            .any(|(task, _, began, r)| *task == t && *began >= p && r.is_ok())
                    })
                };
                if done {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(180),
                    "tasks did not recover after phase {p}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let on_cluster = |f: fn(&mut TestCluster) -> Result<(), pg_testkit::TestkitError>| {
        let cluster = Arc::clone(&cluster);
        async move {
            tokio::task::spawn_blocking(move || f(&mut cluster.lock().expect("lock")))
                .await
                .expect("blocking")
                .expect("cluster operation");
        }
    };
    let control = async {
        all_succeed_since(0).await;
        on_cluster(TestCluster::restart).await;
        phase.store(1, Ordering::SeqCst);
        let after_restart = all_succeed_since(1).await;
        on_cluster(TestCluster::stop).await;
        phase.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        on_cluster(TestCluster::start_again).await;
        phase.store(3, Ordering::SeqCst);
        let after_outage = all_succeed_since(3).await;
        stop.store(true, Ordering::SeqCst);
        (after_restart, after_outage)
    };
    let (_, (after_restart, after_outage)) = tokio::join!(load, control);
    let cluster = Arc::try_unwrap(cluster)
        .map_err(|_| "the cluster is still shared")
        .expect("sole owner")
        .into_inner()
        .expect("lock");
    let outcomes = outcomes.lock().expect("lock").clone();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.3.is_err()).collect();
    println!(
        "{tasks} tasks, {} grants: {} complete, {} failed; every task granted again {after_restart:?} after the restart and {after_outage:?} after the outage",
        outcomes.len(),
        outcomes.len() - failed.len(),
        failed.len()
    );
    assert!(
        failed.iter().any(|o| o.2 == 2),
        "grants during the outage must fail"
    );
    // Nothing lost: every completed grant logs in and reads.
    for (_, user, _, outcome) in &outcomes {
        if let Ok(password) = outcome {
            assert!(
                reads_inventory(&cluster, user, password).await,
                "{user} was granted but cannot read"
            );
        }
    }
    // A failed grant leaves no login behind (removed, or left NOLOGIN where the undo could
    // not reach the server): the logins among the load's users are exactly the granted ones.
    let logins: std::collections::BTreeSet<String> = cluster
        .sql(
            "postgres",
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'load\\_%' AND rolcanlogin",
        )
        .expect("roles")
        .lines()
        .map(str::to_owned)
        .collect();
    let granted: std::collections::BTreeSet<String> = outcomes
        .iter()
        .filter(|o| o.3.is_ok())
        .map(|o| o.1.clone())
        .collect();
    let stray: Vec<&String> = logins.difference(&granted).collect();
    assert!(stray.is_empty(), "failed grants left logins: {stray:?}");
    // Reruns complete: every failed grant that left a role behind, and a few others.
    let left: std::collections::BTreeSet<String> = cluster
        .sql(
            "postgres",
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'load\\_%' AND NOT rolcanlogin",
        )
        .expect("roles")
        .lines()
        .map(str::to_owned)
        .collect();
    println!(
        "failed grants that left a NOLOGIN role for the rerun: {}",
        left.len()
    );
    let reruns: Vec<&String> = failed
        .iter()
        .map(|o| &o.1)
        .filter(|u| left.contains(*u))
        .chain(failed.iter().map(|o| &o.1).take(8))
        .collect();
    for user in reruns {
        let password = grant_once(&manager, user)
            .await
            .unwrap_or_else(|e| panic!("rerun of {user}: {e}"));
        assert!(reads_inventory(&cluster, user, &password).await);
    }
}
