//! A busy pool through server restarts, an outage and terminated backends (issue 15), and a
//! pool and connections that meet a read-only server (a hot standby: Aurora after a failover).
//!
//! Load: `RDSPG_POOL_TASKS` tasks (default 16) share one [`Pool`] of 4 connections, each
//! running a transaction after another (`BEGIN; pg_advisory_xact_lock; COMMIT`). Faults, in
//! turn, with the same pool object throughout: a restart, a stop of 2 s then a start, and
//! `pg_terminate_backend` of every pool connection (`RDSPG_POOL_ROUNDS` times, default 2).
//!
//! Checked: every failure is a typed [`AuthError`] of the expected kinds and none hangs past
//! the pool's timeouts; once the server is back each task succeeds again within 2 attempts;
//! a connection whose query failed is never handed out again (deadpool's object id); the pool
//! never holds more than `max_size` connections.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pg_auth::{
    AuthError, ConnectOptions, Pool, PoolObject, PoolOptions, SecretString, SslMode,
    StaticPassword, TargetSessionAttrs, is_read_only_failure,
};
use pg_testkit::TestCluster;

const MAX_SIZE: usize = 4;
const APP: &str = "pool-recovery";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn cluster() -> TestCluster {
    TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is required: {e}"))
}

fn options(cluster: &TestCluster) -> ConnectOptions {
    ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(SslMode::Disable)
        .connect_timeout(Duration::from_secs(2))
        .application_name(APP)
        .build()
        .expect("options")
}

fn source(cluster: &TestCluster) -> Arc<StaticPassword> {
    let c = cluster.connector();
    Arc::new(StaticPassword::new(
        &c.user,
        SecretString::from(c.password.clone()),
    ))
}

/// What the load saw, shared by its tasks.
#[derive(Default)]
struct Load {
    ok: AtomicUsize,
    /// Failures by kind (the `AuthError` variant, or the SQLSTATE of a query).
    failures: Mutex<BTreeMap<String, usize>>,
    /// Pool objects whose query failed: never to be handed out again.
    broken: Mutex<BTreeSet<String>>,
    handed_out_broken: AtomicUsize,
    over_max: AtomicUsize,
    /// Per task, the attempts since the last `mark` and whether one succeeded since.
    attempts_since_mark: Mutex<Vec<(usize, bool)>>,
    stop: AtomicBool,
}

impl Load {
    fn mark(&self) {
        let mut all = self.attempts_since_mark.lock().expect("lock");
        for entry in all.iter_mut() {
            *entry = (0, false);
        }
    }
    fn record_attempt(&self, task: usize, ok: bool) {
        let mut all = self.attempts_since_mark.lock().expect("lock");
        let entry = &mut all[task];
        if !entry.1 {
            entry.0 += 1;
            entry.1 = ok;
        }
    }
    fn all_recovered(&self) -> bool {
        self.attempts_since_mark
            .lock()
            .expect("lock")
            .iter()
            .all(|(_, ok)| *ok)
    }
    /// The most attempts a task needed to succeed since the mark.
    fn max_attempts(&self) -> usize {
        self.attempts_since_mark
            .lock()
            .expect("lock")
            .iter()
            .map(|(n, _)| *n)
            .max()
            .unwrap_or(0)
    }
    fn fail(&self, kind: String) {
        *self.failures.lock().expect("lock").entry(kind).or_default() += 1;
    }
}

/// The kind of a failure, and whether it is one the outage explains (anything else fails the
/// test): no connection (refused, reset, timed out), the pool's own timeout, or a query cut by
/// the server's shutdown or `pg_terminate_backend` (57P01), a closed connection.
fn kind(error: &AuthError) -> (String, bool) {
    match error {
        AuthError::Connect { .. } => ("Connect".into(), true),
        AuthError::Timeout { .. } => ("Timeout".into(), true),
        // The pool backing off a server it could not reach (nothing sent).
        AuthError::Backoff { .. } => ("Backoff".into(), true),
        AuthError::Pool { detail, .. } => (format!("Pool({detail})"), true),
        // The server is starting up or shutting down (57P03 cannot_connect_now).
        AuthError::Rejected { source, .. } => (
            format!("Rejected({:?})", source.code().map(|c| c.code())),
            source.code() == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW),
        ),
        other => (format!("{other:?}"), false),
    }
}

fn query_kind(error: &tokio_postgres::Error) -> (String, bool) {
    let code = error.code().map(|c| c.code().to_owned());
    let expected = error.is_closed()
        || matches!(code.as_deref(), Some("57P01" | "57P02" | "57P03"))
        || code.is_none();
    (
        format!("query({})", code.as_deref().unwrap_or("closed")),
        expected,
    )
}

async fn one_operation(pool: &Pool, load: &Load, task: usize) {
    let object: PoolObject = match pool.get().await {
        Ok(object) => object,
        Err(error) => {
            let (kind, expected) = kind(&error);
            assert!(
                expected,
                "task {task}: unexpected pool error {kind}: {error}"
            );
            load.fail(kind);
            if matches!(error, AuthError::Backoff { .. }) {
                // Nothing was tried: not an attempt. A caller told to come back later pauses
                // rather than spin (the library's own callers fail the operation, and the
                // scheduler's next round comes after its interval).
                tokio::time::sleep(Duration::from_millis(20)).await;
            } else {
                load.record_attempt(task, false);
            }
            return;
        }
    };
    let id = PoolObject::id(&object).to_string();
    if load.broken.lock().expect("lock").contains(&id) {
        load.handed_out_broken.fetch_add(1, Ordering::SeqCst);
    }
    if pool.status().size > MAX_SIZE {
        load.over_max.fetch_add(1, Ordering::SeqCst);
    }
    let result = object
        .batch_execute(
            "BEGIN; SELECT pg_catalog.pg_advisory_xact_lock(42); \
             SELECT count(*) FROM pg_catalog.pg_class; COMMIT",
        )
        .await;
    match result {
        Ok(()) => {
            load.ok.fetch_add(1, Ordering::SeqCst);
            load.record_attempt(task, true);
        }
        Err(error) => {
            let (kind, expected) = query_kind(&error);
            assert!(
                expected,
                "task {task}: unexpected query error {kind}: {error}"
            );
            load.broken.lock().expect("lock").insert(id);
            load.fail(kind);
            load.record_attempt(task, false);
        }
    }
}

/// Waits until every task has succeeded since the last mark; returns how long it took.
async fn wait_recovered(load: &Load, what: &str) -> Duration {
    let start = Instant::now();
    // A hang detector, not a performance bound: the pool's timeouts are seconds.
    let deadline = start + Duration::from_secs(120);
    while !load.all_recovered() {
        assert!(
            Instant::now() < deadline,
            "{what}: tasks still failing after 120 s: {:?}",
            load.failures.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_recovers_from_restarts_outages_and_terminated_backends() {
    let mut cluster = cluster();
    let tasks = env_count("RDSPG_POOL_TASKS", 16);
    let rounds = env_count("RDSPG_POOL_ROUNDS", 2);
    let pool = Pool::new(
        options(&cluster),
        source(&cluster),
        PoolOptions::builder()
            .max_size(MAX_SIZE)
            .wait_timeout(Some(Duration::from_secs(5)))
            .build()
            .expect("pool options"),
    )
    .expect("pool");
    let load = Arc::new(Load {
        attempts_since_mark: Mutex::new(vec![(0, false); tasks]),
        ..Load::default()
    });
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (pool, load) = (pool.clone(), Arc::clone(&load));
        handles.push(tokio::spawn(async move {
            while !load.stop.load(Ordering::SeqCst) {
                // Hang detector: wait timeout 5 s + create timeout 6 s + the query.
                tokio::time::timeout(Duration::from_secs(60), one_operation(&pool, &load, task))
                    .await
                    .unwrap_or_else(|_| panic!("task {task}: an operation hung for 60 s"));
                tokio::task::yield_now().await;
            }
        }));
    }
    let warm = wait_recovered(&load, "warm-up").await;
    println!("warm-up: every task succeeded within {warm:?}");

    let mut report = Vec::new();
    for round in 0..rounds {
        // A restart under load: fast shutdown (in-flight queries get 57P01), same port.
        tokio::task::block_in_place(|| cluster.restart()).expect("restart");
        load.mark();
        let took = wait_recovered(&load, "after restart").await;
        report.push((round, "restart", took, load.max_attempts()));

        // An outage: down for 2 s, then back.
        tokio::task::block_in_place(|| cluster.stop()).expect("stop");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let failures_before = load.failures.lock().expect("lock").values().sum::<usize>();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let failures_during = load.failures.lock().expect("lock").values().sum::<usize>();
        assert!(
            failures_during > failures_before,
            "operations during the outage must fail (with typed errors), not wait"
        );
        tokio::task::block_in_place(|| cluster.start_again()).expect("start again");
        load.mark();
        let took = wait_recovered(&load, "after an outage").await;
        report.push((round, "outage 2 s", took, load.max_attempts()));

        // The server ends the pool's sessions under load.
        let killed = tokio::task::block_in_place(|| {
            cluster.sql(
                "postgres",
                &format!(
                    // OFFSET 0 keeps the filter ahead of the terminations.
                    "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM \
                     (SELECT pid FROM pg_catalog.pg_stat_activity \
                      WHERE application_name = '{APP}' OFFSET 0) AS pool"
                ),
            )
        })
        .expect("terminate");
        load.mark();
        let took = wait_recovered(&load, "after pg_terminate_backend").await;
        report.push((round, "terminate backends", took, load.max_attempts()));
        println!("round {round}: terminated {killed} backends");
    }
    load.stop.store(true, Ordering::SeqCst);
    for handle in handles {
        handle.await.expect("task");
    }
    for (round, fault, took, attempts) in &report {
        println!(
            "round {round} {fault}: every task succeeded again after {took:?}, at most {attempts} attempts"
        );
        // Once the server is back, a task needs at most one failed attempt (an operation
        // already in flight on a connection the fault cut) before it succeeds.
        assert!(
            *attempts <= 2,
            "{fault}: a task needed {attempts} attempts after recovery"
        );
    }
    let failures = load.failures.lock().expect("lock").clone();
    println!(
        "operations: {} ok; failures by kind: {failures:?}",
        load.ok.load(Ordering::SeqCst)
    );
    assert_eq!(
        load.handed_out_broken.load(Ordering::SeqCst),
        0,
        "a connection whose query failed was handed out again"
    );
    assert_eq!(
        load.over_max.load(Ordering::SeqCst),
        0,
        "pool above max_size"
    );
    assert!(!failures.is_empty(), "the faults must have been felt");
    // The pool backs off a server it cannot reach (`ConnectBackoff`, 100 ms doubling to 2 s,
    // one probe at a time): per outage of 2.5 s a handful of refused connections, not one per
    // caller and retry (28,202 in two outages before it). A bound on attempts, not on time: a
    // slower machine makes fewer.
    let refused = failures.get("Connect").copied().unwrap_or(0)
        + failures.get("Timeout").copied().unwrap_or(0);
    assert!(
        refused <= 40 * rounds,
        "{refused} connection attempts failed in {rounds} rounds: the pool did not back off"
    );
    assert!(
        failures.get("Backoff").copied().unwrap_or(0) > 0,
        "callers during the outage were told the pool is backing off"
    );
    assert!(pool.status().size <= MAX_SIZE);
    // The same pool object still works.
    pool.get()
        .await
        .expect("get")
        .simple_query("SELECT 1")
        .await
        .expect("query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_server_is_refused_at_connect_and_discarded_by_the_pool() {
    let primary = cluster();
    let standby = tokio::task::block_in_place(|| primary.start_standby()).expect("standby");
    assert!(standby.is_in_recovery().expect("recovery"));

    // connect: refused with a typed error; nothing else is sent.
    let err = pg_auth::connect(&options(&standby), source(&standby).as_ref())
        .await
        .expect_err("a standby is not a writer");
    assert!(
        matches!(
            &err,
            AuthError::ReadOnlyServer {
                reason: "in_hot_standby = on",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(is_read_only_failure(&err) && err.is_read_only_server());
    assert!(err.to_string().contains("read-only"), "{err}");
    // Reading from a standby stays possible when asked for.
    let any = ConnectOptions::builder(standby.host())
        .port(standby.port())
        .ssl_mode(SslMode::Disable)
        .target_session_attrs(TargetSessionAttrs::Any)
        .build()
        .expect("options");
    let reader = pg_auth::connect(&any, source(&standby).as_ref())
        .await
        .expect("any server");
    let write = reader
        .client()
        .batch_execute("CREATE ROLE never_on_a_standby")
        .await
        .expect_err("25006");
    assert!(is_read_only_failure(&write), "{write}");

    // The pool hands out no connection to a standby: get fails with the typed error.
    let pool = Pool::new(
        options(&standby),
        source(&standby),
        PoolOptions::builder().max_size(2).build().expect("pool"),
    )
    .expect("pool");
    let err = pool.get().await.expect_err("standby");
    assert!(is_read_only_failure(&err), "{err:?}");
    assert_eq!(pool.status().size, 0);

    // default_transaction_read_only = on after connections were opened: the pool's recycle
    // check sees it and discards them (the connection answers, so only the check can tell).
    let pool = Pool::new(
        options(&primary),
        source(&primary),
        PoolOptions::builder().max_size(2).build().expect("pool"),
    )
    .expect("pool");
    let first = pool.get().await.expect("writer");
    let first_id = PoolObject::id(&first);
    drop(first);
    tokio::task::block_in_place(|| {
        primary.sql(
            "postgres",
            "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()",
        )
    })
    .expect("read-only");
    // The reload reaches existing sessions at their next command; new ones see it at once.
    let err = loop {
        match pool.get().await {
            Ok(object) => {
                assert_eq!(
                    PoolObject::id(&object),
                    first_id,
                    "no new connection to a read-only server"
                );
                drop(object);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => break err,
        }
    };
    assert!(
        matches!(
            &err,
            AuthError::ReadOnlyServer {
                reason: "default_transaction_read_only = on",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        pool.status().size,
        0,
        "the read-only connection was discarded"
    );
    tokio::task::block_in_place(|| {
        primary.sql(
            "postgres",
            "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf()",
        )
    })
    .expect("writable");
    let again = loop {
        match pool.get().await {
            Ok(object) => break object,
            Err(err) => {
                assert!(is_read_only_failure(&err), "{err:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    again
        .batch_execute("CREATE ROLE written_on_the_writer")
        .await
        .expect("the writer accepts writes");
}
