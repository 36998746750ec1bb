//! Issue 15, load: four `rdspg serve` replicas (separate processes, each sweeping every second
//! and auditing to its own file) and four clients driving the library (`AccessManager`, each
//! with its own audit file) run a seeded mix of grant, extend, revoke, revoke-one-request and
//! explicit sweep operations on the users of one cluster, several clients often on the same
//! user at once. Then the replicas stop (SIGTERM), a final sweep runs at a time after every
//! short grant has ended, and the results are checked against a model:
//!
//! - **final catalog state**: for each user, some linearisation of its operations (consistent
//!   with their real-time order and with each operation's own result, sweeps allowed to remove
//!   any grant once it has expired) leads to exactly the grants its role's record holds (request
//!   ids and expiries), and the role's privileges are the union of what those grants give
//!   (measured with `has_*_privilege`, against single grants of each level and resource made
//!   before the run); every surviving user can log in and its `VALID UNTIL` is its latest
//!   expiry;
//! - **no leaked role**: every role that did not exist before the run is a user of the model's
//!   final state, or a shared access role / the grantor role / the marker (PostgreSQL 16+);
//! - **no deadlock, no hang**: no error mentions a deadlock (SQLSTATE 40P01), the server log has
//!   none, and every operation ends within its timeout (60 s);
//! - **audit**: each client operation has exactly one record in its client's file, matching its
//!   result (grant, extend, revoke: one per operation; a client sweep: one per user it swept or
//!   grant it ended); across all replicas and clients no grant is reported swept twice; every
//!   grant that ended is accounted for by a revocation or a sweep record; no sweep failed.
//!
//! Sizes: `RDSPG_LOAD_OPS` (default 200), `RDSPG_LOAD_USERS` (default 50), `RDSPG_LOAD_SEED`,
//! `RDSPG_LOAD_PG` (server version, default 15), `RDSPG_LOAD_REPORT` (a file the figures are
//! written to). `scripts/load` runs the long version (2,000 operations on 500 users).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_port, http_get, rdspg_path, wait_for};
use pg_testkit::TestCluster;
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{Clock, ManualClock};
use rds_pg_access::pg_grants::ManagedRecord;
use rds_pg_access::{
    AccessError, AccessManager, ExtendRequest, FleetReport, GrantRevocation, error_chain,
};
use time::OffsetDateTime;

const CLIENTS: usize = 4;
const REPLICAS: usize = 4;
/// An operation that has not ended after this long is a hang.
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// Slack on both sides of an operation's window when deciding whether a grant had expired
/// (records keep whole seconds).
const SLACK: f64 = 1.5;
/// The resources the mix grants on (database `appdb` of the test cluster), as the owner fix
/// allows: on 15 the connector is a member of the master (sales, appdb) and of app_owner
/// (inventory); on 16+, where the master administers the connector, of app_owner only.
const RESOURCES_15: [&str; 5] = [
    "appdb/sales",
    "appdb/sales/orders",
    "appdb/inventory",
    "appdb/inventory/items",
    "appdb",
];
const RESOURCES_16: [&str; 3] = [
    "appdb/inventory",
    "appdb/inventory/items",
    "appdb/inventory/movements",
];

fn resources(version: u32) -> &'static [&'static str] {
    if version >= 16 {
        &RESOURCES_16
    } else {
        &RESOURCES_15
    }
}

/// The owner fix `rdspg check` asks an administrator to run for [`resources`].
fn owner_fix(version: u32) -> &'static str {
    if version >= 16 {
        "GRANT app_owner TO apono_connector"
    } else {
        "GRANT postgres TO apono_connector; GRANT app_owner TO apono_connector"
    }
}

const LEVELS: [AccessLevel; 3] = [
    AccessLevel::ReadOnly,
    AccessLevel::ReadWrite,
    AccessLevel::Admin,
];
/// Privileges measured per user in appdb (`has_*_privilege`).
const PROBES: [&str; 18] = [
    "has_table_privilege(r, 'sales.orders', 'SELECT')",
    "has_table_privilege(r, 'sales.orders', 'INSERT')",
    "has_table_privilege(r, 'sales.orders', 'UPDATE')",
    "has_table_privilege(r, 'sales.orders', 'TRUNCATE')",
    "has_table_privilege(r, 'sales.customers', 'SELECT')",
    "has_table_privilege(r, 'sales.customers', 'DELETE')",
    "has_table_privilege(r, 'sales.customers', 'TRUNCATE')",
    "has_table_privilege(r, 'inventory.items', 'SELECT')",
    "has_table_privilege(r, 'inventory.items', 'INSERT')",
    "has_table_privilege(r, 'inventory.items', 'TRUNCATE')",
    "has_table_privilege(r, 'inventory.movements', 'SELECT')",
    "has_table_privilege(r, 'inventory.movements', 'UPDATE')",
    "has_schema_privilege(r, 'sales', 'USAGE')",
    "has_schema_privilege(r, 'sales', 'CREATE')",
    "has_schema_privilege(r, 'inventory', 'USAGE')",
    "has_schema_privilege(r, 'inventory', 'CREATE')",
    "has_database_privilege(r, 'appdb', 'CREATE')",
    "has_database_privilege(r, 'appdb', 'TEMPORARY')",
];

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// SplitMix64: a seeded generator whose sequence never changes across versions (a failing run
/// is repeated from its seed); the test needs nothing more.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn odt_secs(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[derive(Debug, Clone)]
enum OpKind {
    Grant {
        rid: String,
        level: AccessLevel,
        resources: Vec<&'static str>,
        duration: &'static str,
    },
    Extend {
        rid: Option<String>,
        until: i64,
    },
    Revoke,
    RevokeRequest {
        rid: String,
    },
    Sweep,
}

impl OpKind {
    fn name(&self) -> &'static str {
        match self {
            OpKind::Grant { .. } => "grant",
            OpKind::Extend { .. } => "extend",
            OpKind::Revoke => "revoke",
            OpKind::RevokeRequest { .. } => "revoke_request",
            OpKind::Sweep => "sweep",
        }
    }
}

/// What one operation returned (the instance `local`'s result).
#[derive(Debug, Clone)]
enum Res {
    GrantOk {
        expires_at: i64,
    },
    GrantFailed(String),
    ExtendSome(BTreeMap<String, i64>),
    ExtendNone,
    ExtendNotHeld,
    ExtendRevocationStarted,
    RevokeDropped,
    RevokeNothing,
    RrNotHeld,
    RrEnded,
    RrUserRevoked,
    Sweep(SweepSeen),
    /// Anything else: an unexpected error (the text of its chain).
    Error(String),
    Hang,
}

#[derive(Debug, Clone, Default)]
struct SweepSeen {
    skipped: bool,
    /// (user, request id, dropped here)
    swept: Vec<(String, String, bool)>,
    /// (user, request id)
    ended: Vec<(String, String)>,
    /// (user, request id): found expired, nothing left to do under the lock (`no_change`).
    unchanged: Vec<(String, String)>,
    failed: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Op {
    client: usize,
    user: String,
    kind: OpKind,
    start: f64,
    end: f64,
    latency: Duration,
    res: Res,
}

/// A random mix for one client. Users of "the hot user of the moment" (a slowly moving index
/// shared by the clients) make several clients work on one user at once.
struct Mix {
    users: usize,
    resources: &'static [&'static str],
    rng: Rng,
    /// Request ids granted so far per user (shared: any client may revoke or extend them).
    granted: Arc<Mutex<HashMap<String, Vec<String>>>>,
    counter: Arc<AtomicUsize>,
}

impl Mix {
    fn user(&mut self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let i = if self.rng.below(100) < 40 {
            (n / 12).wrapping_mul(7919) % self.users
        } else {
            self.rng.below(self.users)
        };
        format!("lu{i}")
    }

    fn known_rid(&mut self, user: &str) -> Option<String> {
        let granted = self.granted.lock().expect("granted");
        let rids = granted.get(user)?;
        (!rids.is_empty()).then(|| rids[self.rng.below(rids.len())].clone())
    }

    fn next(&mut self, client: usize, seq: usize) -> (String, OpKind) {
        let user = self.user();
        let roll = self.rng.below(100);
        let kind = if roll < 45 {
            let level = LEVELS[self.rng.below(LEVELS.len())];
            let first = self.rng.below(self.resources.len());
            let mut resources = vec![self.resources[first]];
            if self.rng.below(3) == 0 {
                let second = self.rng.below(self.resources.len());
                if second != first {
                    resources.push(self.resources[second]);
                }
            }
            let duration = match self.rng.below(100) {
                0..50 => "1m",
                50..65 => "2m",
                _ => "8h",
            };
            OpKind::Grant {
                rid: format!("c{client}-{seq}"),
                level,
                resources,
                duration,
            }
        } else if roll < 70 {
            let now = unix(SystemTime::now()) as i64;
            let until = if self.rng.below(2) == 0 {
                now + 3 + self.rng.below(25) as i64
            } else {
                now + 6 * 3600
            };
            let rid = if self.rng.below(2) == 0 {
                self.known_rid(&user)
            } else {
                None
            };
            OpKind::Extend { rid, until }
        } else if roll < 82 {
            OpKind::Revoke
        } else if roll < 96 {
            match self.known_rid(&user) {
                Some(rid) => OpKind::RevokeRequest { rid },
                None => OpKind::Revoke,
            }
        } else {
            OpKind::Sweep
        };
        (user, kind)
    }
}

fn one<T>(report: FleetReport<T>) -> Result<T, AccessError> {
    let mut results = report.results.into_iter();
    match (results.next(), results.next()) {
        (Some((_, result)), None) => result,
        other => panic!(
            "one instance expected, got {}",
            if other.0.is_none() { 0 } else { 2 }
        ),
    }
}

async fn run_op(manager: &AccessManager, user: &str, kind: &OpKind) -> Res {
    let work = async {
        match kind {
            OpKind::Grant {
                rid,
                level,
                resources,
                duration,
            } => {
                let mut request = AccessRequest::builder(
                    user.parse().expect("user"),
                    *level,
                    duration.parse::<AccessDuration>().expect("duration"),
                )
                .request_id(rid.parse().expect("request id"));
                for r in resources {
                    request = request.resource(manager.resource_path(r).expect("resource"));
                }
                let request = request.build().expect("request");
                match manager.grant(&request).await {
                    Err(e) => Res::Error(error_chain(&e)),
                    Ok(out) if out.instances.all_ok() => Res::GrantOk {
                        expires_at: odt_secs(out.expires_at),
                    },
                    Ok(out) => {
                        assert!(
                            out.password.is_none(),
                            "a failed grant handed out a password"
                        );
                        Res::GrantFailed(
                            out.instances
                                .failures()
                                .map(|(_, e)| error_chain(e))
                                .collect::<Vec<_>>()
                                .join("; "),
                        )
                    }
                }
            }
            OpKind::Extend { rid, until } => {
                let until = OffsetDateTime::from_unix_timestamp(*until).expect("time");
                let mut request = ExtendRequest::new(user.parse().expect("user"), until);
                if let Some(rid) = rid {
                    request = request.request(rid.clone());
                }
                match manager.extend(&request).await.map(one) {
                    Err(e) | Ok(Err(e)) => match e {
                        AccessError::GrantNotHeld { .. } => Res::ExtendNotHeld,
                        AccessError::RevocationStarted { .. } => Res::ExtendRevocationStarted,
                        e => Res::Error(error_chain(&e)),
                    },
                    Ok(Ok(None)) => Res::ExtendNone,
                    Ok(Ok(Some(record))) => Res::ExtendSome(
                        record
                            .grants
                            .iter()
                            .map(|g| (g.request_id.clone(), odt_secs(g.expires_at)))
                            .collect(),
                    ),
                }
            }
            OpKind::Revoke => match manager.revoke(&user.parse().expect("user")).await.map(one) {
                Err(e) | Ok(Err(e)) => Res::Error(error_chain(&e)),
                Ok(Ok(report)) if report.dropped => Res::RevokeDropped,
                Ok(Ok(report)) if report.retained => Res::Error("retained".to_owned()),
                Ok(Ok(_)) => Res::RevokeNothing,
            },
            OpKind::RevokeRequest { rid } => match manager
                .revoke_request(&user.parse().expect("user"), rid)
                .await
                .map(one)
            {
                Err(e) | Ok(Err(e)) => Res::Error(error_chain(&e)),
                Ok(Ok(GrantRevocation::NotHeld)) => Res::RrNotHeld,
                Ok(Ok(GrantRevocation::Ended { .. })) => Res::RrEnded,
                Ok(Ok(GrantRevocation::UserRevoked(r))) if r.dropped => Res::RrUserRevoked,
                Ok(Ok(other)) => Res::Error(format!("unexpected revocation {other:?}")),
            },
            OpKind::Sweep => match manager.sweep().await.map(one) {
                Err(e) | Ok(Err(e)) => Res::Error(error_chain(&e)),
                Ok(Ok(report)) => Res::Sweep(SweepSeen {
                    skipped: report.skipped,
                    swept: report
                        .swept
                        .iter()
                        .map(|s| (s.user.clone(), s.request_id.clone(), s.dropped_here))
                        .collect(),
                    ended: report
                        .ended_grants
                        .iter()
                        .map(|g| (g.user.clone(), g.request_id.clone()))
                        .collect(),
                    unchanged: report
                        .unchanged
                        .iter()
                        .map(|u| (u.user.clone(), u.request_id.clone()))
                        .collect(),
                    failed: report
                        .failed
                        .iter()
                        .map(|f| (f.user.clone(), error_chain(&f.error)))
                        .collect(),
                }),
            },
        }
    };
    tokio::time::timeout(OP_TIMEOUT, work)
        .await
        .unwrap_or(Res::Hang)
}

// ---------------------------------------------------------------------------------------------
// The model.

/// A user's grants in the model: request id → expiry (Unix seconds). A grant whose expiry has
/// passed may or may not still be there (a sweep removes it at some point); the checks below
/// accept both while it is uncertain.
type Model = BTreeMap<String, i64>;

/// Whether grant expiring at `exp` is certainly present and active throughout `[s, e]`.
fn surely_active(exp: i64, e: f64) -> bool {
    exp as f64 > e + SLACK
}

/// Whether it may have been active at some point of `[s, e]`.
fn maybe_active(exp: i64, s: f64) -> bool {
    exp as f64 > s - SLACK
}

/// The state after `op` from `m`, or `None` when `op`'s result cannot follow from `m`.
fn step(m: &Model, op: &Op, revoke_overlaps: bool) -> Option<Model> {
    let (s, e) = (op.start, op.end);
    let chosen = |rid: &str, target: &Option<String>| target.as_deref().is_none_or(|t| t == rid);
    match (&op.kind, &op.res) {
        (OpKind::Grant { rid, .. }, Res::GrantOk { expires_at, .. }) => {
            if m.contains_key(rid) {
                return None;
            }
            let mut m = m.clone();
            m.insert(rid.clone(), *expires_at);
            Some(m)
        }
        (OpKind::Grant { .. }, Res::GrantFailed(_)) => Some(m.clone()),
        (OpKind::Extend { rid: target, until }, Res::ExtendSome(record)) => {
            for (rid, exp) in record {
                let before = m.get(rid)?;
                let extended = *exp == *until && chosen(rid, target) && maybe_active(*before, s);
                if exp != before && !extended {
                    return None;
                }
            }
            for (rid, exp) in m {
                match record.get(rid) {
                    None if surely_active(*exp, e) => return None,
                    Some(now) if chosen(rid, target) && surely_active(*exp, e) && now != until => {
                        return None;
                    }
                    _ => {}
                }
            }
            Some(record.clone())
        }
        (OpKind::Extend { .. }, Res::ExtendNone) => m
            .values()
            .all(|exp| !surely_active(*exp, e))
            .then(Model::new),
        (OpKind::Extend { rid: target, .. }, Res::ExtendNotHeld) => m
            .iter()
            .filter(|(rid, _)| chosen(rid, target))
            .all(|(_, exp)| !surely_active(*exp, e))
            .then(|| m.clone()),
        (OpKind::Extend { .. }, Res::ExtendRevocationStarted) => {
            (revoke_overlaps || m.values().all(|exp| !surely_active(*exp, e))).then(|| m.clone())
        }
        (OpKind::Revoke, Res::RevokeDropped) => (!m.is_empty()).then(Model::new),
        (OpKind::Revoke, Res::RevokeNothing) => m
            .values()
            .all(|exp| !surely_active(*exp, e))
            .then(Model::new),
        (OpKind::RevokeRequest { rid }, Res::RrNotHeld) => {
            if m.get(rid).is_some_and(|exp| surely_active(*exp, e)) {
                return None;
            }
            let mut m = m.clone();
            m.remove(rid);
            Some(m)
        }
        (OpKind::RevokeRequest { rid }, Res::RrEnded) => {
            m.get(rid)?;
            let mut m = m.clone();
            m.remove(rid);
            m.values().any(|exp| maybe_active(*exp, s)).then_some(m)
        }
        (OpKind::RevokeRequest { rid }, Res::RrUserRevoked) => {
            m.get(rid)?;
            m.iter()
                .filter(|(r, _)| *r != rid)
                .all(|(_, exp)| !surely_active(*exp, e))
                .then(Model::new)
        }
        _ => None,
    }
}

/// Searches a linearisation of `per_client` (each client's operations on one user, in order)
/// that ends in `wanted` (the grants expiring after `final_at`). Returns whether one exists.
fn linearisable(per_client: &[Vec<(&Op, bool)>], wanted: &Model, final_at: f64) -> bool {
    fn go(
        per_client: &[Vec<(&Op, bool)>],
        pos: &mut Vec<usize>,
        m: &Model,
        wanted: &Model,
        final_at: f64,
        failed: &mut HashSet<(Vec<usize>, Model)>,
    ) -> bool {
        if pos.iter().zip(per_client).all(|(p, ops)| *p == ops.len()) {
            let left: Model = m
                .iter()
                .filter(|(_, exp)| **exp as f64 > final_at)
                .map(|(r, e)| (r.clone(), *e))
                .collect();
            return &left == wanted;
        }
        if failed.contains(&(pos.clone(), m.clone())) {
            return false;
        }
        let heads: Vec<Option<&Op>> = pos
            .iter()
            .zip(per_client)
            .map(|(p, ops)| ops.get(*p).map(|(op, _)| *op))
            .collect();
        for c in 0..per_client.len() {
            let Some(op) = heads[c] else { continue };
            // Real-time order: an operation that ended before this one started goes first.
            if heads
                .iter()
                .enumerate()
                .any(|(d, h)| d != c && h.is_some_and(|h| h.end < op.start))
            {
                continue;
            }
            let (_, overlaps) = per_client[c][pos[c]];
            if let Some(next) = step(m, op, overlaps) {
                pos[c] += 1;
                let found = go(per_client, pos, &next, wanted, final_at, failed);
                pos[c] -= 1;
                if found {
                    return true;
                }
            }
        }
        failed.insert((pos.clone(), m.clone()));
        false
    }
    let mut pos = vec![0; per_client.len()];
    let mut failed = HashSet::new();
    go(
        per_client,
        &mut pos,
        &Model::new(),
        wanted,
        final_at,
        &mut failed,
    )
}

// ---------------------------------------------------------------------------------------------
// Processes and the catalog.

struct Replica {
    child: Child,
    addr: SocketAddr,
    audit: PathBuf,
    log: PathBuf,
}

fn spawn_replica(config: &Path, dir: &Path, i: usize, password: &str) -> Replica {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let audit = dir.join(format!("replica{i}-audit.jsonl"));
    let log = dir.join(format!("replica{i}.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(rdspg_path())
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &addr.to_string()])
        .args([
            "--sweep-every",
            "1s",
            "--sync-every",
            "1h",
            "--rotate-every",
            "1h",
        ])
        .arg("--audit")
        .arg(&audit)
        .env("RDSPG_CONNECTOR_PASSWORD", password)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start rdspg serve");
    Replica {
        child,
        addr,
        audit,
        log,
    }
}

/// A role in the catalog at the end.
#[derive(Debug)]
struct RoleRow {
    can_login: bool,
    valid_until: Option<i64>,
    comment: Option<String>,
    managed: bool,
    probes: Vec<bool>,
}

async fn catalog(cluster: &TestCluster) -> BTreeMap<String, RoleRow> {
    let (client, connection) = tokio_postgres::connect(
        &cluster.conn_string(cluster.superuser(), "appdb"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect as superuser");
    tokio::spawn(connection);
    let sql = format!(
        "SELECT x.rolname::text, x.rolcanlogin, extract(epoch FROM x.rolvaliduntil)::float8, \
         shobj_description(x.oid, 'pg_authid'), \
         EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g \
                 ON (g.oid = m.member AND m.roleid = x.oid) OR (g.oid = m.roleid AND m.member = x.oid) \
                 WHERE g.rolname = 'rdspg_managed'), \
         ARRAY[{}] \
         FROM (SELECT oid, rolname AS r, rolname, rolcanlogin, rolvaliduntil FROM pg_roles) x",
        PROBES.join(", ")
    );
    let rows = client.query(&sql, &[]).await.expect("read the catalog");
    rows.iter()
        .map(|row| {
            (
                row.get::<_, String>(0),
                RoleRow {
                    can_login: row.get(1),
                    valid_until: row.get::<_, Option<f64>>(2).map(|v| v as i64),
                    comment: row.get(3),
                    managed: row.get(4),
                    probes: row.get(5),
                },
            )
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The audit records of one sink, without intent records (outcome `pending`, written before a
/// sweep's change and paired with its outcome under the same id: `tests/process_death.rs`
/// checks the pairing); the checks below are about outcomes.
fn read_audit(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display()))
        })
        .filter(|r| r["outcome"] != "pending")
        .collect()
}

fn s(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// The audit key of a record: action, user, request id (not for extend, whose record names
/// the user's latest grant), outcome.
type AuditKey = (String, String, String, String);

fn key_of(record: &serde_json::Value) -> AuditKey {
    let action = s(&record["action"]);
    let rid = if action == "extend" || (action == "revoke" && record["request_id"].is_null()) {
        String::new()
    } else {
        s(&record["request_id"])
    };
    (action, s(&record["user"]), rid, s(&record["outcome"]))
}

fn expected_keys(op: &Op) -> Vec<AuditKey> {
    let k = |action: &str, rid: &str, outcome: &str| {
        (
            action.to_owned(),
            op.user.clone(),
            rid.to_owned(),
            outcome.to_owned(),
        )
    };
    match (&op.kind, &op.res) {
        (OpKind::Grant { rid, .. }, Res::GrantOk { .. }) => vec![k("grant", rid, "success")],
        (OpKind::Grant { rid, .. }, _) => vec![k("grant", rid, "failure")],
        (OpKind::Extend { .. }, Res::ExtendSome(_)) => vec![k("extend", "", "success")],
        (OpKind::Extend { .. }, Res::ExtendNone) => vec![k("extend", "", "no_change")],
        (OpKind::Extend { .. }, _) => vec![k("extend", "", "failure")],
        (OpKind::Revoke, Res::RevokeDropped) => vec![k("revoke", "", "success")],
        (OpKind::Revoke, Res::RevokeNothing) => vec![k("revoke", "", "no_change")],
        (OpKind::Revoke, _) => vec![k("revoke", "", "failure")],
        (OpKind::RevokeRequest { rid }, Res::RrNotHeld) => vec![k("revoke", rid, "no_change")],
        (OpKind::RevokeRequest { rid }, Res::RrEnded | Res::RrUserRevoked) => {
            vec![k("revoke", rid, "success")]
        }
        (OpKind::RevokeRequest { rid }, _) => vec![k("revoke", rid, "failure")],
        (OpKind::Sweep, Res::Sweep(seen)) => {
            let mut keys = Vec::new();
            for (user, rid, here) in &seen.swept {
                let outcome = if *here { "success" } else { "no_change" };
                keys.push(("sweep".into(), user.clone(), rid.clone(), outcome.into()));
            }
            for (user, rid) in &seen.ended {
                keys.push(("sweep".into(), user.clone(), rid.clone(), "success".into()));
            }
            // Found expired, then nothing to do under its lock (a replica or a request was
            // first): its intent resolved as `no_change` (the CI run of session 8 met one).
            for (user, rid) in &seen.unchanged {
                keys.push((
                    "sweep".into(),
                    user.clone(),
                    rid.clone(),
                    "no_change".into(),
                ));
            }
            keys
        }
        (OpKind::Sweep, _) => Vec::new(),
    }
}

fn multiset(keys: impl IntoIterator<Item = AuditKey>) -> BTreeMap<AuditKey, usize> {
    let mut out = BTreeMap::new();
    for k in keys {
        *out.entry(k).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_and_four_clients_under_load_match_the_model() {
    let ops_total = env_usize("RDSPG_LOAD_OPS", 200);
    let users = env_usize("RDSPG_LOAD_USERS", 50).max(1);
    let seed = env_usize("RDSPG_LOAD_SEED", 15) as u64;
    let version = env_usize("RDSPG_LOAD_PG", 15) as u32;
    let cluster = TestCluster::builder()
        .version(version)
        .start()
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL {version} is required: {e} (install: {})",
                pg_testkit::install_hint(version)
            )
        });
    cluster
        .sql("postgres", owner_fix(version))
        .expect("owner fixes");
    let dir = tempfile::tempdir().expect("dir");
    let text = format!(
        "name = \"load\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n[endpoint]\n\
         host = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    let config = dir.path().join("load.toml");
    std::fs::write(&config, &text).expect("settings file");
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let manager = |audit: &Path, clock: Option<Arc<dyn Clock>>| {
        let m = common::cluster_manager(&cluster, integration.clone())
            .with_audit(Arc::new(AppendFileSink::open(audit).expect("audit file")));
        match clock {
            Some(c) => m.with_clock(c),
            None => m,
        }
    };

    // The oracle: what one grant of each level on each resource gives, measured.
    let oracle_audit = dir.path().join("oracle.jsonl");
    let oracle_manager = manager(&oracle_audit, None);
    let mut oracle: HashMap<(AccessLevel, &str), Vec<bool>> = HashMap::new();
    for (li, level) in LEVELS.iter().enumerate() {
        for (ri, resource) in resources(version).iter().enumerate() {
            let user = format!("oracle{li}x{ri}");
            let res = run_op(
                &oracle_manager,
                &user,
                &OpKind::Grant {
                    rid: format!("oracle-{li}-{ri}"),
                    level: *level,
                    resources: vec![resource],
                    duration: "8h",
                },
            )
            .await;
            assert!(matches!(res, Res::GrantOk { .. }), "{user}: {res:?}");
            let row = catalog(&cluster).await.remove(&user).expect("oracle user");
            assert!(row.probes.iter().any(|p| *p), "{user} got nothing");
            oracle.insert((*level, resource), row.probes);
            let res = run_op(&oracle_manager, &user, &OpKind::Revoke).await;
            assert!(matches!(res, Res::RevokeDropped), "{user}: {res:?}");
        }
    }
    let nobody = vec![false; PROBES.len()];
    let baseline: BTreeSet<String> = catalog(&cluster).await.into_keys().collect();

    // Four replicas.
    let password = cluster.connector().password.clone();
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|i| spawn_replica(&config, dir.path(), i, &password))
        .collect();
    for r in &replicas {
        wait_for("a replica's /healthz", 60, || {
            http_get(r.addr, "/healthz").and_then(|(status, _)| (status == 200).then_some(()))
        });
    }

    // Four clients.
    let granted = Arc::new(Mutex::new(HashMap::<String, Vec<String>>::new()));
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let m = manager(
            &dir.path().join(format!("client{client}-audit.jsonl")),
            None,
        );
        let mut mix = Mix {
            users,
            resources: resources(version),
            rng: Rng(seed.wrapping_mul(1_000_003).wrapping_add(client as u64)),
            granted: granted.clone(),
            counter: counter.clone(),
        };
        let n = ops_total / CLIENTS + usize::from(client < ops_total % CLIENTS);
        tasks.push(tokio::spawn(async move {
            let mut log = Vec::with_capacity(n);
            for seq in 0..n {
                let (user, kind) = mix.next(client, seq);
                let t0 = SystemTime::now();
                let i0 = Instant::now();
                let res = run_op(&m, &user, &kind).await;
                let latency = i0.elapsed();
                let end = unix(SystemTime::now());
                if let (OpKind::Grant { rid, .. }, Res::GrantOk { .. }) = (&kind, &res) {
                    mix.granted
                        .lock()
                        .expect("granted")
                        .entry(user.clone())
                        .or_default()
                        .push(rid.clone());
                }
                log.push(Op {
                    client,
                    user,
                    kind,
                    start: unix(t0),
                    end,
                    latency,
                    res,
                });
            }
            log
        }));
    }
    let mut ops: Vec<Op> = Vec::new();
    for task in tasks {
        ops.extend(task.await.expect("client task"));
    }
    let wall = started.elapsed();

    // Stop the replicas: each exits 0 once its sweep in flight is done.
    for r in &replicas {
        let term = Command::new("kill")
            .args(["-TERM", &r.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(term.success());
    }
    for r in &mut replicas {
        let status = wait_for("a replica to exit", 120, || {
            r.child.try_wait().expect("poll")
        });
        assert!(
            status.success(),
            "replica exited with {status}: {}",
            std::fs::read_to_string(&r.log).unwrap_or_default()
        );
    }

    // The final sweep, at a time after every short grant and extension has ended.
    let last_end = ops.iter().map(|o| o.end).fold(0.0, f64::max);
    let final_at = last_end + 600.0;
    let final_clock: Arc<dyn Clock> = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs_f64(final_at),
    ));
    let final_audit = dir.path().join("final-audit.jsonl");
    let final_sweep = manager(&final_audit, Some(final_clock))
        .sweep()
        .await
        .map(one)
        .expect("final sweep")
        .expect("final sweep on local");
    assert!(
        !final_sweep.skipped && final_sweep.is_clean(),
        "{final_sweep:?}"
    );
    let roles = catalog(&cluster).await;

    let mut problems: Vec<String> = Vec::new();

    // No unexpected error, no hang, no deadlock.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for op in &ops {
        let kind = match &op.res {
            Res::ExtendNotHeld => "extend: grant not held (expected: expired or revoked)",
            Res::ExtendRevocationStarted => {
                "extend: revocation started (expected: a revoke or sweep at once)"
            }
            Res::Hang => {
                problems.push(format!("hang: {op:?}"));
                "hang"
            }
            Res::Error(e) | Res::GrantFailed(e) => {
                problems.push(format!("unexpected error: {op:?}"));
                if e.contains("deadlock") || e.contains("40P01") {
                    "DEADLOCK"
                } else {
                    "unexpected"
                }
            }
            Res::Sweep(seen) if !seen.failed.is_empty() => {
                problems.push(format!("sweep failed: {:?}", seen.failed));
                "sweep failure"
            }
            _ => continue,
        };
        *kinds.entry(kind.to_owned()).or_default() += 1;
    }
    let server_log = cluster.server_log().unwrap_or_default();
    let deadlocks = server_log.matches("deadlock detected").count();
    if deadlocks > 0 {
        problems.push(format!("{deadlocks} deadlocks in the server log"));
    }

    // The model, user by user.
    let mut by_user: BTreeMap<&str, Vec<Vec<&Op>>> = BTreeMap::new();
    for op in ops.iter().filter(|o| !matches!(o.kind, OpKind::Sweep)) {
        by_user
            .entry(&op.user)
            .or_insert_with(|| vec![Vec::new(); CLIENTS])[op.client]
            .push(op);
    }
    let grants_of: HashMap<&str, (&AccessLevel, &Vec<&str>)> = ops
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Grant {
                rid,
                level,
                resources,
                ..
            } => Some((rid.as_str(), (level, resources))),
            _ => None,
        })
        .collect();
    let mut conflicts = 0;
    let mut model_users = BTreeSet::new();
    for (user, per_client) in &by_user {
        let all: Vec<&Op> = per_client.iter().flatten().copied().collect();
        let overlapping = |op: &Op| {
            all.iter()
                .any(|o| o.client != op.client && o.start < op.end && op.start < o.end)
        };
        conflicts += all.iter().filter(|o| overlapping(o)).count();
        let annotated: Vec<Vec<(&Op, bool)>> = per_client
            .iter()
            .map(|ops| {
                ops.iter()
                    .map(|op| {
                        let revoke_at_once = all.iter().any(|o| {
                            o.client != op.client
                                && matches!(o.kind, OpKind::Revoke | OpKind::RevokeRequest { .. })
                                && o.start < op.end
                                && op.start < o.end
                        });
                        (*op, revoke_at_once)
                    })
                    .collect()
            })
            .collect();
        let row = roles.get(*user);
        let wanted: Model = match row {
            None => Model::new(),
            Some(row) => {
                if !row.managed {
                    problems.push(format!("{user} exists but is not marked"));
                    continue;
                }
                let record = ManagedRecord::from_comment(row.comment.as_deref().unwrap_or(""))
                    .unwrap_or_else(|e| panic!("{user}'s record: {e}"));
                let mut expected = nobody.clone();
                for g in &record.grants {
                    match grants_of.get(g.request_id.as_str()) {
                        Some((level, resources)) => {
                            if g.level != **level || g.resources.len() != resources.len() {
                                problems.push(format!(
                                    "{user}: grant {} recorded as {g:?}",
                                    g.request_id
                                ));
                            }
                            for r in *resources {
                                for (e, o) in expected.iter_mut().zip(&oracle[&(**level, *r)]) {
                                    *e |= *o;
                                }
                            }
                        }
                        None => problems.push(format!("{user}: unknown grant {}", g.request_id)),
                    }
                }
                if row.probes != expected {
                    let diff: Vec<String> = PROBES
                        .iter()
                        .zip(row.probes.iter().zip(&expected))
                        .filter(|(_, (a, b))| a != b)
                        .map(|(p, (a, b))| format!("{p}: is {a}, model {b}"))
                        .collect();
                    problems.push(format!("{user}: privileges differ: {}", diff.join(", ")));
                }
                if !row.can_login {
                    problems.push(format!("{user} is active but cannot log in"));
                }
                let latest = record.grants.iter().map(|g| odt_secs(g.expires_at)).max();
                if row.valid_until != latest {
                    problems.push(format!(
                        "{user}: VALID UNTIL {:?}, latest grant {latest:?}",
                        row.valid_until
                    ));
                }
                model_users.insert(user.to_string());
                record
                    .grants
                    .iter()
                    .map(|g| (g.request_id.clone(), odt_secs(g.expires_at)))
                    .collect()
            }
        };
        if !linearisable(&annotated, &wanted, final_at) {
            let mut history = String::new();
            for op in all.iter() {
                let _ = writeln!(
                    history,
                    "  client {} [{:.3}, {:.3}] {:?} -> {:?}",
                    op.client, op.start, op.end, op.kind, op.res
                );
            }
            problems.push(format!(
                "{user}: no linearisation of its operations ends in its catalog state {wanted:?}:\n{history}"
            ));
        }
    }

    // No leaked role.
    for (name, row) in &roles {
        if baseline.contains(name) || model_users.contains(name) {
            continue;
        }
        let shared = name.starts_with("rdspg_access_") || name == "rdspg_grantor";
        if !shared || row.can_login {
            problems.push(format!("leaked role {name}: {row:?}"));
        }
    }

    // Audit: each client's operations, one record each, as their results say.
    let mut all_records: Vec<(String, serde_json::Value)> = Vec::new();
    for client in 0..CLIENTS {
        let path = dir.path().join(format!("client{client}-audit.jsonl"));
        let records = read_audit(&path);
        let actual = multiset(records.iter().map(key_of));
        let expected = multiset(
            ops.iter()
                .filter(|o| o.client == client)
                .flat_map(expected_keys),
        );
        if actual != expected {
            let keys: BTreeSet<&AuditKey> = actual.keys().chain(expected.keys()).collect();
            let diff: Vec<String> = keys
                .into_iter()
                .filter(|k| actual.get(*k) != expected.get(*k))
                .map(|k| {
                    format!(
                        "{k:?}: written {:?}, expected {:?}",
                        actual.get(k),
                        expected.get(k)
                    )
                })
                .collect();
            problems.push(format!(
                "client {client}'s audit differs: {}",
                diff.join("; ")
            ));
        }
        all_records.extend(records.into_iter().map(|r| (format!("client{client}"), r)));
    }
    let mut by_replica = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let records = read_audit(&r.audit);
        by_replica.push(
            records
                .iter()
                .filter(|r| r["action"] == "sweep" && r["outcome"] == "success")
                .count(),
        );
        all_records.extend(records.into_iter().map(|r| (format!("replica{i}"), r)));
    }
    all_records.extend(
        read_audit(&final_audit)
            .into_iter()
            .map(|r| ("final".to_owned(), r)),
    );
    // No grant swept twice, no sweep failure, anywhere.
    let mut swept: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (sink, r) in &all_records {
        if r["action"] == "sweep" {
            match r["outcome"].as_str() {
                Some("success") => swept
                    .entry((s(&r["user"]), s(&r["request_id"])))
                    .or_default()
                    .push(sink),
                Some("failure") => problems.push(format!("sweep failure in {sink}: {r}")),
                _ => {}
            }
        }
    }
    for ((user, rid), sinks) in &swept {
        if sinks.len() > 1 {
            problems.push(format!(
                "{user}/{rid} swept {} times: {sinks:?}",
                sinks.len()
            ));
        }
    }
    // Every grant that ended is accounted for: a sweep record names it, or a revocation of the
    // user (or of that request) succeeded after it was granted, or a sweep record of the
    // user that ended at or after its expiry (a user's drop names its latest grant).
    let sweep_records: Vec<&serde_json::Value> = all_records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["action"] == "sweep" && r["outcome"] == "success")
        .collect();
    let mut unaccounted = Vec::new();
    for op in &ops {
        let (OpKind::Grant { rid, .. }, Res::GrantOk { expires_at, .. }) = (&op.kind, &op.res)
        else {
            continue;
        };
        let survives = roles
            .get(&op.user)
            .and_then(|row| row.comment.as_deref())
            .is_some_and(|c| c.contains(&format!("\"{rid}\"")));
        if survives {
            continue;
        }
        let revoked = ops.iter().any(|o| {
            o.user == op.user
                && o.end > op.start
                && match (&o.kind, &o.res) {
                    (OpKind::Revoke, Res::RevokeDropped) => true,
                    (OpKind::RevokeRequest { rid: r }, Res::RrEnded) => r == rid,
                    (OpKind::RevokeRequest { .. }, Res::RrUserRevoked) => true,
                    _ => false,
                }
        });
        let swept = sweep_records.iter().any(|r| {
            s(&r["user"]) == op.user
                && (s(&r["request_id"]) == *rid
                    || r["expires_at"]
                        .as_str()
                        .and_then(|t| {
                            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .is_some_and(|t| odt_secs(t) >= (*expires_at).min(op.start as i64)))
        });
        if !revoked && !swept {
            unaccounted.push(format!("{}/{rid}", op.user));
        }
    }
    if !unaccounted.is_empty() {
        problems.push(format!("grants ended without a record: {unaccounted:?}"));
    }

    // Figures.
    let mut report = String::new();
    let _ = writeln!(
        report,
        "load: {} ops on {users} users, {CLIENTS} clients, {REPLICAS} replicas, PostgreSQL {version}, seed {seed}: {:.1} s, {:.1} ops/s",
        ops.len(),
        wall.as_secs_f64(),
        ops.len() as f64 / wall.as_secs_f64()
    );
    let _ = writeln!(report, "| operation | count | p50 ms | p99 ms | max ms |");
    let _ = writeln!(report, "|---|---|---|---|---|");
    for name in ["grant", "extend", "revoke", "revoke_request", "sweep"] {
        let mut lat: Vec<Duration> = ops
            .iter()
            .filter(|o| o.kind.name() == name)
            .map(|o| o.latency)
            .collect();
        lat.sort();
        let _ = writeln!(
            report,
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            lat.len(),
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(
        report,
        "conflicting ops (overlapping another client's op on the same user): {conflicts}"
    );
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for op in &ops {
        let label = match &op.res {
            Res::Sweep(seen) if seen.skipped => {
                "sweep skipped (a replica held the lock)".to_owned()
            }
            Res::Sweep(_) => "sweep ran".to_owned(),
            Res::Error(_) => "error".to_owned(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("")
                .to_owned(),
        };
        *outcomes
            .entry(format!("{} {label}", op.kind.name()))
            .or_default() += 1;
    }
    let _ = writeln!(report, "outcomes: {outcomes:?}");
    let _ = writeln!(report, "errors by kind: {kinds:?}");
    let _ = writeln!(
        report,
        "sweep drops/ends recorded per replica: {by_replica:?}; by clients and the final sweep: {}",
        sweep_records.len() - by_replica.iter().sum::<usize>()
    );
    let _ = writeln!(
        report,
        "final: {} users, {} roles outside the baseline; problems: {}",
        model_users.len(),
        roles.keys().filter(|r| !baseline.contains(*r)).count(),
        problems.len()
    );
    println!("{report}");
    if let Ok(path) = std::env::var("RDSPG_LOAD_REPORT") {
        std::fs::write(&path, &report).expect("write the report");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: histories whose catalog state no linearisation explains are refused.
mod checker {
    use super::*;

    fn op(client: usize, start: f64, end: f64, kind: OpKind, res: Res) -> Op {
        Op {
            client,
            user: "u".to_owned(),
            kind,
            start,
            end,
            latency: Duration::ZERO,
            res,
        }
    }

    fn grant(rid: &str) -> OpKind {
        OpKind::Grant {
            rid: rid.to_owned(),
            level: AccessLevel::ReadOnly,
            resources: vec!["appdb/sales"],
            duration: "8h",
        }
    }

    fn check(ops: &[Op], wanted: &[(&str, i64)]) -> bool {
        let mut per_client = vec![Vec::new(); CLIENTS];
        for op in ops {
            let revoke_at_once = ops.iter().any(|o| {
                o.client != op.client
                    && matches!(o.kind, OpKind::Revoke | OpKind::RevokeRequest { .. })
                    && o.start < op.end
                    && op.start < o.end
            });
            per_client[op.client].push((op, revoke_at_once));
        }
        let wanted: Model = wanted.iter().map(|(r, e)| ((*r).to_owned(), *e)).collect();
        linearisable(&per_client, &wanted, 10_000.0)
    }

    const LONG: i64 = 1_000_000;

    #[test]
    fn a_revoke_after_a_grant_leaves_nothing() {
        let ops = [
            op(0, 0.0, 1.0, grant("a"), Res::GrantOk { expires_at: LONG }),
            op(1, 2.0, 3.0, OpKind::Revoke, Res::RevokeDropped),
        ];
        assert!(check(&ops, &[]));
        assert!(!check(&ops, &[("a", LONG)]), "the revoked grant survived");
    }

    #[test]
    fn overlapping_grant_and_revoke_may_go_either_way_as_their_results_say() {
        let both = |revoke: Res| {
            [
                op(0, 0.0, 2.0, grant("a"), Res::GrantOk { expires_at: LONG }),
                op(1, 1.0, 3.0, OpKind::Revoke, revoke),
            ]
        };
        // The revoke dropped the user: it came after the grant.
        assert!(check(&both(Res::RevokeDropped), &[]));
        assert!(!check(&both(Res::RevokeDropped), &[("a", LONG)]));
        // It found nothing: it came first, the grant stays.
        assert!(check(&both(Res::RevokeNothing), &[("a", LONG)]));
        assert!(!check(&both(Res::RevokeNothing), &[]));
    }

    #[test]
    fn a_grant_is_never_lost_nor_invented_nor_its_expiry_changed() {
        let ops = [
            op(0, 0.0, 1.0, grant("a"), Res::GrantOk { expires_at: LONG }),
            op(
                1,
                2.0,
                3.0,
                grant("b"),
                Res::GrantOk {
                    expires_at: LONG + 5,
                },
            ),
        ];
        assert!(check(&ops, &[("a", LONG), ("b", LONG + 5)]));
        assert!(!check(&ops, &[("a", LONG)]));
        assert!(!check(&ops, &[("a", LONG), ("b", LONG + 5), ("c", LONG)]));
        assert!(!check(&ops, &[("a", LONG + 1), ("b", LONG + 5)]));
    }

    #[test]
    fn an_extension_moves_only_what_it_chose_and_a_short_grant_goes() {
        let ops = [
            op(0, 0.0, 1.0, grant("a"), Res::GrantOk { expires_at: LONG }),
            op(0, 1.5, 2.0, grant("b"), Res::GrantOk { expires_at: 20 }),
            op(
                1,
                3.0,
                4.0,
                OpKind::Extend {
                    rid: Some("a".to_owned()),
                    until: LONG + 100,
                },
                Res::ExtendSome([("a".to_owned(), LONG + 100), ("b".to_owned(), 20)].into()),
            ),
        ];
        assert!(check(&ops, &[("a", LONG + 100)]));
        assert!(!check(&ops, &[("a", LONG)]));
        // An extension result that moved a grant it did not choose is refused.
        let mut wrong = ops.clone();
        wrong[2].res =
            Res::ExtendSome([("a".to_owned(), LONG + 100), ("b".to_owned(), LONG + 100)].into());
        assert!(!check(&wrong, &[("a", LONG + 100), ("b", LONG + 100)]));
    }

    #[test]
    fn an_extension_of_an_active_user_refused_as_revocation_started_needs_a_revoke_at_once() {
        let ops = [
            op(0, 0.0, 1.0, grant("a"), Res::GrantOk { expires_at: LONG }),
            op(
                1,
                2.0,
                3.0,
                OpKind::Extend {
                    rid: None,
                    until: LONG + 100,
                },
                Res::ExtendRevocationStarted,
            ),
        ];
        // Nothing revoked it: an active user whose login was disabled.
        assert!(!check(&ops, &[("a", LONG)]));
        let mut with_revoke = ops.to_vec();
        with_revoke.push(op(2, 2.5, 3.5, OpKind::Revoke, Res::RevokeDropped));
        assert!(check(&with_revoke, &[]));
    }

    #[test]
    fn real_time_order_is_kept() {
        // The revoke ended before the grant started: the grant cannot be undone by it.
        let ops = [
            op(1, 0.0, 1.0, OpKind::Revoke, Res::RevokeDropped),
            op(0, 2.0, 3.0, grant("a"), Res::GrantOk { expires_at: LONG }),
        ];
        assert!(!check(&ops, &[]));
        assert!(
            !check(&ops, &[("a", LONG)]),
            "a revoke of nobody dropped something"
        );
    }
}
