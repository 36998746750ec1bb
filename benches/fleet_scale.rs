//! Issue 19, second part: the fleet at scale, against real PostgreSQL 15 (pg-testkit, RDS
//! emulation: the connector has `CREATEROLE` and `rds_superuser`, and is not a superuser).
//!
//! Three parts, each a one-shot measurement (not criterion: a 1,000-user sweep is one run, not
//! a sample), chosen with `RDSPG_BENCH_PARTS=sweep,fanout,sync` (default: all three) or by
//! naming them after `--` (`cargo bench --bench fleet_scale -- sweep`):
//!
//! * `sweep`: `RDSPG_BENCH_USERS` (default 1,000) managed users created through
//!   [`AccessManager::grant`] on one instance (read-only on `appdb/sales` for an hour, one grant
//!   after the other, each timed), then the manager's clock moved two hours on and one
//!   [`AccessManager::sweep`] run. Per-user times of the sweep are the gaps between its audit
//!   records: the sweep writes one as each user is revoked, one user after the other, so a gap
//!   is one user's lock, revocation and unlock.
//! * `fanout`: `RDSPG_BENCH_INSTANCES` (default 250) instances in one integration, selected by
//!   tag, each a database of one of `RDSPG_BENCH_CLUSTERS` (default 32) clusters (instance `i`
//!   on cluster `i % clusters`) reached through its own `endpoint_overrides` entry: a relay
//!   port on 127.0.0.1 that delays every chunk by half of `RDSPG_BENCH_RTT_MS` (default 4; `0`
//!   connects straight to the cluster) in each direction, as a network would. One grant whose
//!   resources name every instance, at each fan-out concurrency of `RDSPG_BENCH_CONCURRENCY`
//!   (default `1,8,32`), each for a new user; per instance, the time from its start to its
//!   finish as a [`FleetObserver`] hears them. Then a control: one instance per cluster.
//! * `sync`: peak RSS of the `rdspg` example's `sync` (text) and `inventory` (`--output json`)
//!   over a database of `RDSPG_BENCH_TABLES` (default 200,000) tables in 200 schemas (built as
//!   `catalog_scale` builds them), with `/usr/bin/time -v` (else by polling `VmHWM` in
//!   `/proc/<pid>/status`); the same before the tables are built, as the baseline. Needs the
//!   example built with the same profile (`cargo build --release --example rdspg`, or
//!   `RDSPG_BIN=path`).
//!
//! Without `--bench` (`cargo test --benches`) every part runs once at a tiny size. With
//! `RDSPG_BENCH_LOG_MS=N`, the sweep part's server logs the statements slower than N ms and the
//! bench prints them, grouped, after the grants and after the sweep (diagnosis).
//!
//! Run: `cargo build --release --example rdspg && cargo bench --bench fleet_scale` (about
//! 13 minutes on 2 cores: 5 for the sweep, 3 for the fan-out, 3 building the 200,000 tables).

#[allow(dead_code)] // the criterion helpers are for the other benches
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pg_testkit::{TestCluster, rds};
use rds_pg_access::audit::{AuditAction, AuditError, AuditRecord, AuditSink};
use rds_pg_access::integration_model::{
    AccessDuration, AccessLevel, AccessRequest, InstanceId, Integration, Settings, TagFilters,
};
use rds_pg_access::pg_auth::{Clock, ExposeSecret, ManualClock, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::{
    DbInstance, DiscoveryError, InstanceDirectory, StaticDirectory,
};
use rds_pg_access::{AccessError, AccessManager, FleetObserver, IntegrationCredentials};
use rds_pg_access::{ManagerOptions, error_chain};
use tokio::runtime::Runtime;

/// The environment variable the `rdspg` runs read the connector's password from.
const PASSWORD_ENV: &str = "RDSPG_BENCH_CONNECTOR_PASSWORD";
/// Unrelated tables are spread over this many schemas (as `catalog_scale` does).
const TABLE_SCHEMAS: usize = 200;
/// Tables in each fan-out instance's schema `app`.
const FANOUT_TABLES: usize = 5;

// ---------------------------------------------------------------------------------------------
// Settings and small helpers.

fn env_usize(name: &str, measuring: usize, test: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}: a whole number, not {text:?}")),
        Err(_) if common::measuring() => measuring,
        Err(_) => test,
    }
}

fn env_list(name: &str, measuring: &[usize], test: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: comma-separated numbers, not {text:?}"))
            })
            .collect(),
        Err(_) if common::measuring() => measuring.to_vec(),
        Err(_) => test.to_vec(),
    }
}

/// The parts to run: `RDSPG_BENCH_PARTS`, else the names given after `--`, else all.
fn parts() -> Vec<String> {
    const ALL: [&str; 3] = ["sweep", "fanout", "sync"];
    let named: Vec<String> = match std::env::var("RDSPG_BENCH_PARTS") {
        Ok(text) => text.split(',').map(|p| p.trim().to_owned()).collect(),
        Err(_) => std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect(),
    };
    for part in &named {
        assert!(
            ALL.contains(&part.as_str()),
            "unknown part {part:?}: one of {ALL:?}"
        );
    }
    if named.is_empty() {
        ALL.iter().map(|p| (*p).to_owned()).collect()
    } else {
        named
    }
}

/// The `q` quantile (nearest rank) of `values`, which it sorts.
fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    let last = values.len().saturating_sub(1);
    // Nearest rank; `last` is small, so the float round trip is exact.
    let index = (q * last as f64).round() as usize;
    values.get(index.min(last)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `p50 X, p99 Y, max Z` of `values`.
fn spread(values: &[Duration]) -> String {
    let mut v = values.to_vec();
    format!(
        "p50 {}, p99 {}, max {}",
        ms(quantile(&mut v, 0.5)),
        ms(quantile(&mut v, 0.99)),
        ms(quantile(&mut v, 1.0))
    )
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("(uptime: {e})"))
}

/// Busy and total jiffies of the whole machine (`/proc/stat`), to tell how loaded a run was.
fn machine_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = text.lines().next() else {
        return (0, 0);
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // idle and iowait
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU time of this process's threads so far, split into the relay's threads (named `relay`)
/// and all the others (the bench and the library), from `/proc/self/task/*/stat`.
fn thread_cpu() -> (Duration, Duration) {
    let tick = clock_tick();
    let (mut relay, mut other) = (Duration::ZERO, Duration::ZERO);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (relay, other);
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3, utime 14, stime 15.
        let jiffies: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        let time = tick * u32::try_from(jiffies).unwrap_or(u32::MAX);
        if name.starts_with("relay") {
            relay += time;
        } else {
            other += time;
        }
    }
    (relay, other)
}

fn clock_tick() -> Duration {
    static TICK: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        let hz = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .filter(|&hz| hz > 0)
            .unwrap_or(100);
        Duration::from_nanos(1_000_000_000 / hz)
    })
}

/// Machine and process CPU over a span of the bench.
struct CpuSpan {
    machine: (u64, u64),
    threads: (Duration, Duration),
    wall: Instant,
}

impl CpuSpan {
    fn start() -> Self {
        Self {
            machine: machine_jiffies(),
            threads: thread_cpu(),
            wall: Instant::now(),
        }
    }

    /// `machine busy N %, bench threads X s (Y % of one core), relay Z s`.
    fn report(&self) -> String {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        let (busy, total) = machine_jiffies();
        let busy = (busy - self.machine.0) as f64 / ((total - self.machine.1).max(1)) as f64;
        let (relay, other) = thread_cpu();
        let other = other.saturating_sub(self.threads.1).as_secs_f64();
        let relay = relay.saturating_sub(self.threads.0).as_secs_f64();
        format!(
            "machine CPU busy {:.0} %; bench process: library threads {other:.1} s CPU ({:.0} % of one core), relay {relay:.1} s",
            busy * 100.0,
            other / wall * 100.0
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Wiring a manager to test clusters (as tests/common does).

/// The connector's credentials: `apono_connector` with `password` everywhere.
fn credentials(password: &str) -> Arc<IntegrationCredentials> {
    Arc::new(IntegrationCredentials::shared(Arc::new(
        StaticPassword::new(rds::CONNECTOR, SecretString::from(password.to_owned())),
    )))
}

fn integration(toml: &str) -> Integration {
    Settings::from_toml_str(toml)
        .unwrap_or_else(|e| panic!("settings: {e}\n{toml}"))
        .integrations()[0]
        .clone()
}

/// A directory whose tag selector answers with every instance it knows (a fleet of test
/// clusters), as tests/common's.
#[derive(Debug)]
struct EveryInstance(StaticDirectory);

#[async_trait::async_trait]
impl InstanceDirectory for EveryInstance {
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        self.0.instance(id).await
    }

    async fn instances_by_tags(
        &self,
        _filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        let mut out = Vec::new();
        for name in self.0.names() {
            out.push(self.0.instance(name).await?);
        }
        Ok(out)
    }
}

fn request(
    manager: &AccessManager,
    user: &str,
    resources: impl IntoIterator<Item = String>,
) -> AccessRequest {
    let mut builder = AccessRequest::builder(
        user.parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    );
    for r in resources {
        builder = builder.resource(manager.resource_path(&r).expect("resource"));
    }
    builder.build().expect("request")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------------------------------------
// Part 1: a sweep of many expired users on one instance.

/// Notes the moment of each audit record (the sweep writes one per user as it goes).
#[derive(Debug, Default)]
struct Timeline(Mutex<Vec<(Instant, AuditAction)>>);

impl AuditSink for Timeline {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let now = Instant::now();
        // Outcomes only: a revocation also writes an intent record before its change.
        if record.is_intent() {
            return Ok(());
        }
        if let Ok(mut seen) = self.0.lock() {
            seen.push((now, record.action));
        }
        Ok(())
    }
}

fn sweep_part(rt: &Runtime) {
    let users = env_usize("RDSPG_BENCH_USERS", 1_000, 5);
    println!("\n== sweep: {users} expired users on one instance ==");
    println!("load at start: {}", uptime());
    let slow_ms = std::env::var("RDSPG_BENCH_LOG_MS").ok();
    let mut builder = TestCluster::builder();
    if let Some(slow) = &slow_ms {
        // Diagnosis: the server logs every statement slower than this.
        builder = builder.config_line(format!("log_min_duration_statement = {slow}"));
    }
    let cluster = builder
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL 15 for the bench: {e}"));
    // The owner fix `rdspg check` prints for schema sales (owned by the master).
    cluster
        .sql_as(
            cluster.master(),
            rds::APP_DB,
            "GRANT postgres TO apono_connector",
        )
        .expect("owner fix");
    let integration = integration(&format!(
        "name = \"sweep\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n[secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    ));
    let clock = ManualClock::new(SystemTime::now());
    let timeline = Arc::new(Timeline::default());
    let manager = AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        credentials(&cluster.connector().password),
    )
    .expect("manager")
    .with_clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
    .with_audit(Arc::clone(&timeline) as Arc<dyn AuditSink>);

    // The users, through the library, one grant after the other.
    let mut grant_times = Vec::with_capacity(users);
    let cpu = CpuSpan::start();
    let started = Instant::now();
    for i in 0..users {
        let request = request(
            &manager,
            &format!("sweep_{i:04}"),
            ["appdb/sales".to_owned()],
        );
        let t = Instant::now();
        let granted = rt.block_on(manager.grant(&request)).expect("grant");
        grant_times.push(t.elapsed());
        assert!(granted.is_complete(), "{:?}", granted.instances);
        assert!(granted.password.is_some(), "a new user gets a password");
    }
    let granting = started.elapsed();
    let grant_cpu = cpu.report();
    println!(
        "grant: {users} users in {} = {:.1} grants/s; per grant {}",
        ms(granting),
        users as f64 / granting.as_secs_f64(),
        spread(&grant_times)
    );
    println!("       {grant_cpu}");
    // Does a grant slow down as users accumulate? The median of each tenth, in order.
    let tenth = users.div_ceil(10);
    let medians: Vec<String> = grant_times
        .chunks(tenth)
        .map(|c| ms(quantile(&mut c.to_vec(), 0.5)))
        .collect();
    println!(
        "       per grant, median of each tenth of the users in order: {}",
        medians.join(", ")
    );
    if slow_ms.is_some() {
        print_slow_statements(&cluster, "grants");
    }

    // Two hours on, every grant has ended: one sweep.
    clock.advance(Duration::from_secs(2 * 3600));
    timeline.0.lock().expect("timeline").clear();
    let cpu = CpuSpan::start();
    let started = Instant::now();
    let report = rt.block_on(manager.sweep()).expect("sweep");
    let sweeping = started.elapsed();
    let sweep_cpu = cpu.report();
    assert!(report.all_ok(), "{report:?}");
    let swept: usize = report
        .results
        .values()
        .map(|r| {
            let r = r.as_ref().expect("instance ok");
            assert!(!r.skipped && r.failed.is_empty(), "{r:?}");
            r.swept.iter().filter(|s| s.dropped_here).count()
        })
        .sum();
    assert_eq!(swept, users, "every user revoked");
    let left = cluster
        .sql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'sweep\\_%'",
        )
        .expect("count roles");
    assert_eq!(left.trim(), "0", "no user left");

    let records: Vec<Instant> = timeline
        .0
        .lock()
        .expect("timeline")
        .iter()
        .filter(|(_, action)| *action == AuditAction::Sweep)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(records.len(), users, "one audit record per swept user");
    let per_user: Vec<Duration> = records.windows(2).map(|w| w[1] - w[0]).collect();
    let before_first = records[0] - started;
    println!(
        "sweep: {users} users in {} = {:.1} users/s; per user (gaps between the sweep's audit records) {}",
        ms(sweeping),
        users as f64 / sweeping.as_secs_f64(),
        spread(&per_user)
    );
    println!(
        "       until the first user's record {} (discovery, lock, listing, every login disabled, the first revocation)",
        ms(before_first)
    );
    println!("       {sweep_cpu}");
    if slow_ms.is_some() {
        print_slow_statements(&cluster, "the sweep");
    }
    println!("load at end: {}", uptime());
}

/// The statements the server logged as slow since the last call (`RDSPG_BENCH_LOG_MS`),
/// grouped by their first 100 characters: count, total and largest time, most total first.
fn print_slow_statements(cluster: &TestCluster, during: &str) {
    static SEEN: Mutex<usize> = Mutex::new(0);
    let log = cluster.server_log().unwrap_or_default();
    let mut seen = SEEN.lock().expect("seen");
    let new = log.get(*seen..).unwrap_or_default().to_owned();
    *seen = log.len();
    let mut by_statement: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for line in new.lines() {
        let Some((_, rest)) = line.split_once("duration: ") else {
            continue;
        };
        let Some((ms, statement)) = rest.split_once(" ms") else {
            continue;
        };
        let Ok(ms) = ms.trim().parse::<f64>() else {
            continue;
        };
        // `statement: SQL`, or `execute s12: SQL` (the prepared statement's name varies).
        let statement = statement.trim_start_matches([' ', ':']);
        let statement = match statement.split_once(": ") {
            Some((kind, sql)) if kind.starts_with("execute") || kind == "statement" => sql,
            _ => statement,
        };
        let statement: String = statement.chars().take(100).collect();
        let entry = by_statement.entry(statement).or_default();
        entry.0 += 1;
        entry.1 += ms;
        entry.2 = entry.2.max(ms);
    }
    let mut rows: Vec<_> = by_statement.into_iter().collect();
    rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    println!("       slow statements during {during} (count, total, largest):");
    for (statement, (count, total, largest)) in rows.iter().take(12) {
        println!("         {count:>5} {total:>9.0} ms {largest:>7.0} ms  {statement}");
    }
}

// ---------------------------------------------------------------------------------------------
// Part 2: one grant fanned out over many instances.

/// When one instance started and finished, and whether it succeeded.
type Span = (Option<Instant>, Option<Instant>, bool);

/// Start and finish of each instance of a fleet operation.
#[derive(Debug, Default)]
struct Spans(Mutex<BTreeMap<String, Span>>);

impl FleetObserver for Spans {
    fn instance_started(&self, instance: &InstanceId) {
        if let Ok(mut spans) = self.0.lock() {
            spans.entry(instance.to_string()).or_default().0 = Some(Instant::now());
        }
    }

    fn instance_finished(&self, instance: &InstanceId, outcome: Result<(), &AccessError>) {
        if let Err(e) = outcome {
            eprintln!("{instance}: {}", error_chain(e));
        }
        if let Ok(mut spans) = self.0.lock() {
            let span = spans.entry(instance.to_string()).or_default();
            span.1 = Some(Instant::now());
            span.2 = outcome.is_ok();
        }
    }
}

/// Chunks the relays forwarded from the library to the servers: each is a flight of requests
/// the library sent before waiting for an answer, so about one round trip each.
static FLIGHTS: AtomicU64 = AtomicU64::new(0);
/// Connections the relays accepted.
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Listens on a port of 127.0.0.1 and forwards each connection to `upstream`, every chunk
/// delayed by `one_way` in each direction (order kept, bandwidth not limited), on `relay`'s
/// threads. Returns the port.
fn relay(relay: &Runtime, upstream: u16, one_way: Duration) -> u16 {
    let listener = relay
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("relay port");
    let port = listener.local_addr().expect("relay address").port();
    relay.spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = (down.set_nodelay(true), up.set_nodelay(true));
                let (down_read, down_write) = down.into_split();
                let (up_read, up_write) = up.into_split();
                tokio::spawn(delayed(down_read, up_write, one_way, Some(&FLIGHTS)));
                tokio::spawn(delayed(up_read, down_write, one_way, None));
            });
        }
    });
    port
}

async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    count: Option<&'static AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(count) = count {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                let at = tokio::time::Instant::now() + delay;
                if tx.send((at, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn instance_name(i: usize) -> String {
    format!("fleet-{i:03}")
}

fn database_name(i: usize) -> String {
    format!("fleet_{i:03}")
}

/// `clusters` clusters with `instances` databases between them (database `i` on cluster
/// `i % clusters`), each with schema `app` (owned by the connector) and its tables; one
/// connector password on all. Returns the clusters and that password.
fn fanout_clusters(clusters: usize, instances: usize) -> (Vec<TestCluster>, String) {
    let built = Instant::now();
    let tables: String = (0..FANOUT_TABLES)
        .map(|t| format!("CREATE TABLE app.t{t} (id int PRIMARY KEY, v text);\n"))
        .collect();
    let password = Mutex::new(None::<String>);
    // Two clusters at a time: the machine has two cores.
    let mut all: Vec<(usize, TestCluster)> = std::thread::scope(|s| {
        let halves: Vec<_> = (0..2)
            .map(|half| {
                let (tables, password) = (&tables, &password);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for c in (half..clusters).step_by(2) {
                        let cluster = TestCluster::builder().start().unwrap_or_else(|e| {
                            panic!("starting PostgreSQL 15 cluster {c} for the bench: {e}")
                        });
                        cluster
                            .sql("postgres", "CREATE DATABASE fleet_tpl")
                            .expect("the template database");
                        cluster
                            .sql(
                                "fleet_tpl",
                                "CREATE SCHEMA app AUTHORIZATION apono_connector",
                            )
                            .expect("schema app");
                        cluster
                            .sql_as(cluster.connector(), "fleet_tpl", tables)
                            .expect("the tables of app, as the connector");
                        // One connector password on every cluster: the first one's.
                        let shared = password
                            .lock()
                            .expect("password")
                            .get_or_insert_with(|| cluster.connector().password.clone())
                            .clone();
                        cluster
                            .sql(
                                "postgres",
                                &format!("ALTER ROLE apono_connector PASSWORD '{shared}'"),
                            )
                            .expect("the connector's password");
                        let databases: String = (c..instances)
                            .step_by(clusters)
                            .map(|i| {
                                format!(
                                    "CREATE DATABASE {} TEMPLATE fleet_tpl;\n",
                                    database_name(i)
                                )
                            })
                            .collect();
                        cluster
                            .sql("postgres", &databases)
                            .expect("the instances' databases");
                        mine.push((c, cluster));
                    }
                    mine
                })
            })
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("cluster thread"))
            .collect()
    });
    all.sort_by_key(|(c, _)| *c);
    println!(
        "{clusters} clusters, {instances} databases built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let password = password
        .into_inner()
        .expect("password")
        .expect("at least one cluster");
    (
        all.into_iter().map(|(_, cluster)| cluster).collect(),
        password,
    )
}

/// The fan-out integration over instances `0..instances` (selected by tag), each reached
/// through its endpoint override `ports[i]`.
fn fanout_manager(
    ports: &[u16],
    password: &str,
    concurrency: usize,
    spans: &Arc<Spans>,
) -> AccessManager {
    let mut toml = String::from(
        "name = \"fleet\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [instance]\ntags = { team = \"fleet\" }\n[secret]\nenv = \"UNUSED\"\n[endpoint_overrides]\n",
    );
    let mut directory = StaticDirectory::new();
    for (i, port) in ports.iter().enumerate() {
        let name = instance_name(i);
        toml.push_str(&format!("\"{name}\" = \"127.0.0.1:{port}\"\n"));
        // What discovery would give; the override replaces it.
        directory.insert(
            name.parse().expect("instance id"),
            format!("{name}.c0bench.us-east-1.rds.amazonaws.com:5432")
                .parse()
                .expect("endpoint"),
        );
    }
    AccessManager::new(
        integration(&toml),
        Arc::new(EveryInstance(directory)),
        credentials(password),
    )
    .expect("manager")
    .with_options(ManagerOptions::default().concurrency(concurrency))
    .with_observer(Arc::clone(spans) as Arc<dyn FleetObserver>)
}

/// One grant over every instance of `ports` at `concurrency`; prints and returns
/// (total, sum of per-instance times).
fn fanout_run(
    rt: &Runtime,
    ports: &[u16],
    clusters: usize,
    password: &str,
    concurrency: usize,
    user: &str,
) -> (Duration, Duration) {
    let spans = Arc::new(Spans::default());
    let manager = fanout_manager(ports, password, concurrency, &spans);
    let resources: Vec<String> = (0..ports.len())
        .map(|i| format!("{}/{}/app", instance_name(i), database_name(i)))
        .collect();
    let request = request(&manager, user, resources);
    let cpu = CpuSpan::start();
    let flights = FLIGHTS.load(Ordering::Relaxed);
    let connections = CONNECTIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    let granted = rt.block_on(manager.grant(&request)).expect("grant");
    let total = started.elapsed();
    let cpu = cpu.report();
    let flights = FLIGHTS.load(Ordering::Relaxed) - flights;
    let connections = CONNECTIONS.load(Ordering::Relaxed) - connections;
    assert!(
        granted.is_complete(),
        "{:?}",
        granted.instances.failures().next()
    );
    assert_eq!(granted.instances.results.len(), ports.len());
    let password = granted
        .password
        .as_ref()
        .expect("a new user gets a password");
    assert!(!password.expose_secret().is_empty());

    let spans = spans.0.lock().expect("spans").clone();
    assert_eq!(spans.len(), ports.len(), "every instance observed");
    let mut per_instance = Vec::new();
    let mut events = Vec::new();
    let (mut first_start, mut last_finish) = (None::<Instant>, None::<Instant>);
    // Instances whose span overlapped one of another instance of the same cluster: they
    // share the role (roles are per cluster) and wait on its per-role lock (emulation only).
    let mut by_cluster: BTreeMap<usize, Vec<(Instant, Instant)>> = BTreeMap::new();
    for (name, (start, finish, ok)) in &spans {
        let i: usize = name
            .strip_prefix("fleet-")
            .and_then(|n| n.parse().ok())
            .expect("an instance of the bench");
        let (start, finish) = (start.expect("started"), finish.expect("finished"));
        assert!(*ok, "{name} failed");
        per_instance.push(finish - start);
        events.push((start, 1_i32));
        events.push((finish, -1));
        first_start = Some(first_start.map_or(start, |f| f.min(start)));
        last_finish = Some(last_finish.map_or(finish, |l| l.max(finish)));
        by_cluster
            .entry(i % clusters)
            .or_default()
            .push((start, finish));
    }
    events.sort();
    let (mut in_flight, mut most) = (0, 0);
    for (_, delta) in events {
        in_flight += delta;
        most = most.max(in_flight);
    }
    let overlapped: usize = by_cluster
        .values()
        .map(|spans| {
            spans
                .iter()
                .enumerate()
                .filter(|(a, (s1, f1))| {
                    spans
                        .iter()
                        .enumerate()
                        .any(|(b, (s2, f2))| *a != b && s1 < f2 && s2 < f1)
                })
                .count()
        })
        .sum();
    let sum: Duration = per_instance.iter().sum();
    let (first_start, last_finish) = (
        first_start.expect("an instance"),
        last_finish.expect("an instance"),
    );
    let fan_out = last_finish - first_start;
    // With fewer instances than slots, the bound is sum / instances (all at once).
    let slots = concurrency.min(ports.len());
    let ideal = sum / u32::try_from(slots).expect("small");
    println!(
        "concurrency {concurrency:>3}: total {} | fan-out phase {} (first start → last finish), before it {}, after it {}",
        ms(total),
        ms(fan_out),
        ms(first_start - started),
        ms(started + total - last_finish)
    );
    println!(
        "                 per instance {}; sum {}; sum/min(concurrency, instances) {}; fan-out phase / that {:.2}; most in flight {most}; instances overlapping a cluster-mate {overlapped}",
        spread(&per_instance),
        ms(sum),
        ms(ideal),
        fan_out.as_secs_f64() / ideal.as_secs_f64()
    );
    println!(
        "                 per instance {:.1} request flights (about round trips) on {:.1} new connections; {cpu}",
        flights as f64 / ports.len() as f64,
        connections as f64 / ports.len() as f64
    );
    (total, sum)
}

/// Median round trip of `SELECT 1` through the relay of `port` (a connection of the
/// connector, prepared once).
fn measured_rtt(rt: &Runtime, port: u16, password: &str) -> Duration {
    rt.block_on(async {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user(rds::CONNECTOR)
            .password(password)
            .dbname("postgres");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect through the relay");
        let driver = tokio::spawn(connection);
        let statement = client.prepare("SELECT 1").await.expect("prepare");
        let mut times = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            client.query_one(&statement, &[]).await.expect("select 1");
            times.push(t.elapsed());
        }
        drop(client);
        let _ = driver.await;
        quantile(&mut times, 0.5)
    })
}

fn fanout_part(rt: &Runtime) {
    let instances = env_usize("RDSPG_BENCH_INSTANCES", 250, 6);
    let clusters = env_usize("RDSPG_BENCH_CLUSTERS", 32, 2).clamp(1, instances);
    let rtt =
        Duration::from_millis(u64::try_from(env_usize("RDSPG_BENCH_RTT_MS", 4, 2)).expect("small"));
    let concurrencies = env_list("RDSPG_BENCH_CONCURRENCY", &[1, 8, 32], &[1, 3]);
    println!(
        "\n== fanout: one grant over {instances} instances ({clusters} clusters), round trip {} added ==",
        ms(rtt)
    );
    println!("load at start: {}", uptime());
    let (cluster_list, password) = fanout_clusters(clusters, instances);
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("relay")
        .enable_all()
        .build()
        .expect("relay runtime");
    let ports: Vec<u16> = (0..instances)
        .map(|i| {
            let upstream = cluster_list[i % clusters].port();
            if rtt.is_zero() {
                upstream
            } else {
                relay(&relay_rt, upstream, rtt / 2)
            }
        })
        .collect();
    println!(
        "round trip through an instance's endpoint (SELECT 1, median of 21): {}",
        ms(measured_rtt(rt, ports[0], &password))
    );
    // Main: every instance; control: one instance per cluster, so that no two instances
    // share a role (roles belong to a cluster, and a real fleet has one server per instance).
    let mut results = Vec::new();
    for &concurrency in &concurrencies {
        println!("{instances} instances:");
        let main = fanout_run(
            rt,
            &ports,
            clusters,
            &password,
            concurrency,
            &format!("fan_c{concurrency}"),
        );
        println!("control, one instance per cluster ({clusters} instances):");
        let control = fanout_run(
            rt,
            &ports[..clusters],
            clusters,
            &password,
            concurrency,
            &format!("fan_control_c{concurrency}"),
        );
        results.push((concurrency, main, control));
    }
    if let Some((_, (base, _), (control_base, _))) = results.iter().find(|(c, ..)| *c == 1) {
        for (c, (total, _), (control, _)) in &results {
            println!(
                "concurrency {c:>3}: {instances} instances {} ({:.1}x faster than concurrency 1); control {} ({:.1}x)",
                ms(*total),
                base.as_secs_f64() / total.as_secs_f64(),
                ms(*control),
                control_base.as_secs_f64() / control.as_secs_f64()
            );
        }
    }
    println!("load at end: {}", uptime());
    drop(relay_rt);
    drop(cluster_list);
}

// ---------------------------------------------------------------------------------------------
// Part 3: memory of `rdspg sync` and `rdspg inventory` over a large catalog.

/// The `rdspg` example: `RDSPG_BIN`, else next to this bench's profile directory.
fn rdspg_path() -> PathBuf {
    if let Some(path) = std::env::var_os("RDSPG_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current executable");
    // target/<profile>/deps/fleet_scale-<hash> -> target/<profile>/examples/rdspg
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join("rdspg");
    assert!(
        path.exists(),
        "{} does not exist: build it with the bench's profile first \
         (`cargo build --release --example rdspg` for `cargo bench`), or set RDSPG_BIN",
        path.display()
    );
    path
}

/// `size` tables in 200 schemas of appdb, owned by app_owner (as `catalog_scale` builds them).
fn populate(cluster: &TestCluster, size: usize) {
    let per_schema = size.div_ceil(TABLE_SCHEMAS);
    let built = Instant::now();
    for s in 0..TABLE_SCHEMAS {
        let first = s * per_schema;
        let last = (first + per_schema).min(size);
        if first >= last {
            break;
        }
        // One transaction per schema: its locks stay well under the lock table's size.
        cluster
            .sql(
                rds::APP_DB,
                &format!(
                    "CREATE SCHEMA u{s:03} AUTHORIZATION {owner};
                     DO $$ BEGIN FOR i IN {first}..{end} LOOP
                       EXECUTE pg_catalog.format('CREATE TABLE u{s:03}.t%s (id int PRIMARY KEY, v text)', i);
                     END LOOP; END $$;",
                    owner = rds::APP_OWNER,
                    end = last - 1
                ),
            )
            .expect("creating tables");
    }
    cluster
        .sql(
            rds::APP_DB,
            "VACUUM ANALYZE pg_catalog.pg_class, pg_catalog.pg_namespace",
        )
        .expect("vacuum");
    println!(
        "{size} tables built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
}

/// One `rdspg` run: what it printed and its peak RSS.
struct RdspgRun {
    lines: u64,
    bytes: u64,
    wall: Duration,
    max_rss_kib: u64,
    how: &'static str,
}

fn run_rdspg(rdspg: &Path, config: &Path, password: &str, json: bool, command: &str) -> RdspgRun {
    let time = Path::new("/usr/bin/time");
    let with_time = time.exists();
    let mut cmd = if with_time {
        let mut cmd = Command::new(time);
        cmd.arg("-v").arg(rdspg);
        cmd
    } else {
        Command::new(rdspg)
    };
    cmd.args([
        "--output",
        if json { "json" } else { "text" },
        command,
        "--config",
    ])
    .arg(config)
    .env(PASSWORD_ENV, password)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("starting rdspg");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    // The output is read as it comes, as a pipe to another program would.
    let counter = std::thread::spawn(move || {
        let (mut lines, mut bytes) = (0_u64, 0_u64);
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            lines += 1;
            bytes += line.len() as u64;
            line.clear();
        }
        (lines, bytes)
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Without /usr/bin/time: the high-water mark as the kernel keeps it, read until exit.
    let mut polled = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for rdspg") {
            break status;
        }
        if !with_time
            && let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        {
            polled = polled.max(kib_field(&text, "VmHWM:").unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    let (lines, bytes) = counter.join().expect("stdout reader");
    let errors = errors.join().expect("stderr reader");
    assert!(
        status.success(),
        "rdspg {command} failed ({status}):\n{errors}"
    );
    let (max_rss_kib, how) = if with_time {
        let rss = kib_field(&errors, "Maximum resident set size (kbytes):")
            .unwrap_or_else(|| panic!("no maximum RSS in /usr/bin/time's output:\n{errors}"));
        (rss, "/usr/bin/time -v")
    } else {
        (polled, "VmHWM polled every 5 ms")
    };
    RdspgRun {
        lines,
        bytes,
        wall,
        max_rss_kib,
        how,
    }
}

/// The number after `label` on its line of `text`.
fn kib_field(text: &str, label: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn print_run(what: &str, run: &RdspgRun) {
    println!(
        "{what}: peak RSS {:.1} MiB ({}); {} lines, {:.1} MiB of output in {:.1} s ({:.0} lines/s)",
        run.max_rss_kib as f64 / 1024.0,
        run.how,
        run.lines,
        run.bytes as f64 / (1024.0 * 1024.0),
        run.wall.as_secs_f64(),
        run.lines as f64 / run.wall.as_secs_f64()
    );
}

fn sync_part() {
    let tables = env_usize("RDSPG_BENCH_TABLES", 200_000, 400);
    println!("\n== sync: peak RSS of rdspg sync/inventory over {tables} tables ==");
    println!("load at start: {}", uptime());
    let rdspg = rdspg_path();
    let cluster = TestCluster::builder()
        .start()
        .unwrap_or_else(|e| panic!("starting PostgreSQL 15 for the bench: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("scale.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"scale\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
             database = \"appdb\"\n[secret]\nenv = \"{PASSWORD_ENV}\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
            cluster.port()
        ),
    )
    .expect("writing the settings");
    let password = cluster.connector().password.clone();
    let base_sync = run_rdspg(&rdspg, &config, &password, false, "sync");
    let base_inventory = run_rdspg(&rdspg, &config, &password, true, "inventory");
    populate(&cluster, tables);
    println!("load after building: {}", uptime());
    let sync = run_rdspg(&rdspg, &config, &password, false, "sync");
    let inventory = run_rdspg(&rdspg, &config, &password, true, "inventory");
    assert!(sync.lines >= tables as u64, "every table listed by sync");
    assert!(
        inventory.lines >= tables as u64,
        "every table listed by inventory"
    );
    print_run("sync (text), sample objects only", &base_sync);
    print_run("inventory (json), sample objects only", &base_inventory);
    print_run(&format!("sync (text), {tables} tables"), &sync);
    print_run(&format!("inventory (json), {tables} tables"), &inventory);
    for (what, run, base) in [
        ("sync", &sync, &base_sync),
        ("inventory", &inventory, &base_inventory),
    ] {
        println!(
            "{what}: peak RSS {:.2}x the sample-objects run's; {} the 64 MiB goal",
            run.max_rss_kib as f64 / base.max_rss_kib.max(1) as f64,
            if run.max_rss_kib <= 64 * 1024 {
                "within"
            } else {
                "OVER"
            }
        );
    }
    println!("load at end: {}", uptime());
}

fn main() {
    let parts = parts();
    println!(
        "fleet_scale ({}): parts {parts:?}",
        if common::measuring() {
            "measuring"
        } else {
            "test mode, tiny sizes"
        }
    );
    let rt = runtime();
    for part in &parts {
        match part.as_str() {
            "sweep" => sweep_part(&rt),
            "fanout" => fanout_part(&rt),
            "sync" => sync_part(),
            _ => unreachable!("checked by parts()"),
        }
    }
}
