//! What the scheduler knows after each run: per job and instance, for health and metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rds_pg_access::AccessManager;

use super::run::{RunResult, Runs};
use super::{Job, JobKind};

/// What one run did on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceRun {
    /// It ran.
    Done {
        /// What it did.
        counts: RunCounts,
    },
    /// Another replica held the instance's job lock: nothing was done here this round.
    Skipped,
    /// It failed.
    Failed {
        /// The error's message.
        error: String,
    },
}

/// What one run did on one instance; each job fills in its own counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunCounts {
    /// Sweep: expired users revoked here.
    pub swept: Option<u64>,
    /// Sweep: managed users whose access had not ended.
    pub active: Option<u64>,
    /// Sync: resources sent (databases, schemas, tables of the synced types).
    pub items: Option<u64>,
    /// Rotation: 1 when the new password was set here.
    pub rotated: Option<u64>,
}

impl RunCounts {
    /// The counts that are set, by name (`swept`, `active`, `items`, `rotated`).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("swept", self.swept),
            ("active", self.active),
            ("items", self.items),
            ("rotated", self.rotated),
        ]
        .into_iter()
        .filter_map(|(name, n)| n.map(|n| (name, n)))
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind: still usable.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state of one instance for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceStatus {
    /// The last time the job ran here or another replica held it (skipped).
    pub last_ok: Option<SystemTime>,
    /// What the last run did here.
    pub last_run: Option<InstanceRun>,
}

/// The state of one job of one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobStatus {
    /// The integration.
    pub integration: String,
    /// The job.
    pub kind: JobKind,
    /// Its interval.
    pub every: Duration,
    /// Runs started.
    pub runs: u64,
    /// Runs that failed as a whole or on some instance.
    pub failures: u64,
    /// Whether a run is in flight.
    pub in_progress: bool,
    /// The last run's duration.
    pub last_duration: Option<Duration>,
    /// The sum of all finished runs' durations.
    pub total_duration: Duration,
    /// The end of the last run that succeeded everywhere it ran.
    pub last_success: Option<SystemTime>,
    /// Why the last run failed as a whole (discovery), if it did.
    pub last_error: Option<String>,
    /// Per instance of the last run that reached discovery.
    pub instances: BTreeMap<String, InstanceStatus>,
    /// Instances an earlier run saw that discovery no longer returns, each with the managed
    /// users the last sweep counted there (their access was not revoked by this service), and
    /// logged when they vanish. An instance leaves this list when it comes back. At most
    /// [`MAX_DISAPPEARED`] are kept: beyond that the one that vanished longest ago is dropped
    /// (with a log line), so a churning fleet does not grow the state without end. Only runs
    /// that list every instance (sweep, sync, a rotation that ran) add to it; a rotation check
    /// that is not due adds nothing.
    pub disappeared: BTreeMap<String, Disappeared>,
}

/// An instance discovery stopped returning (see [`JobStatus::disappeared`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disappeared {
    /// The end of the first run that no longer saw it.
    pub since: SystemTime,
    /// Managed users with active access there at the last sweep that ran there, if known.
    pub active_grants: Option<u64>,
}

/// How many managed users have active access on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActiveGrants {
    /// The integration.
    pub integration: String,
    /// The instance.
    pub instance: String,
    /// Managed users whose access had not ended at the last sweep here.
    pub active: u64,
}

/// Why the service is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthProblem {
    /// The integration.
    pub integration: String,
    /// The job.
    pub kind: JobKind,
    /// The instance, or `None` when the job failed as a whole.
    pub instance: Option<String>,
    /// The last error, if one is known.
    pub error: Option<String>,
}

impl fmt::Display for HealthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.integration, self.kind)?;
        if let Some(instance) = &self.instance {
            write!(f, " on {instance}")?;
        }
        write!(f, ": no success within two intervals")?;
        if let Some(error) = &self.error {
            write!(f, " (last error: {error})")?;
        }
        Ok(())
    }
}

/// The service's health at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Jobs (and instances) that have not succeeded within two of their intervals.
    pub problems: Vec<HealthProblem>,
}

impl Health {
    /// Whether every job has succeeded within two of its intervals.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the scheduler knows: per job, runs, failures, durations, last success, per instance;
/// per instance, the active grants the last sweep counted. Read it for health checks and
/// metrics.
#[derive(Debug)]
pub struct ServiceState {
    started: SystemTime,
    jobs: Mutex<BTreeMap<(String, JobKind), JobStatus>>,
    /// Each integration's manager, for the counters it keeps itself (failovers).
    managers: Vec<(String, AccessManager)>,
}

impl ServiceState {
    pub(super) fn new(started: SystemTime) -> Self {
        Self {
            started,
            jobs: Mutex::new(BTreeMap::new()),
            managers: Vec::new(),
        }
    }

    /// The state of a scheduler running `managers`: their own counters are read on each call
    /// of [`ServiceState::failovers`].
    pub(super) fn with_managers(mut self, managers: &[AccessManager]) -> Self {
        self.managers = managers
            .iter()
            .map(|m| (m.integration().name().to_string(), m.clone()))
            .collect();
        self
    }

    /// Per integration, how many times an instance's work was run again after meeting a
    /// read-only server (a failover: see `ManagerOptions::failover`) since the service started,
    /// by every job and call of its manager.
    pub fn failovers(&self) -> Vec<(String, u64)> {
        self.managers
            .iter()
            .map(|(name, m)| (name.clone(), m.failovers()))
            .collect()
    }

    pub(super) fn register(&self, job: &Job) {
        lock(&self.jobs).insert(
            (job.integration.clone(), job.kind),
            JobStatus {
                integration: job.integration.clone(),
                kind: job.kind,
                every: job.every,
                runs: 0,
                failures: 0,
                in_progress: false,
                last_duration: None,
                total_duration: Duration::ZERO,
                last_success: None,
                last_error: None,
                instances: BTreeMap::new(),
                disappeared: BTreeMap::new(),
            },
        );
    }

    pub(super) fn started(&self, job: &Job) {
        if let Some(status) = lock(&self.jobs).get_mut(&(job.integration.clone(), job.kind)) {
            status.runs += 1;
            status.in_progress = true;
        }
    }

    pub(super) fn finished(
        &self,
        job: &Job,
        now: SystemTime,
        elapsed: Duration,
        result: RunResult,
    ) {
        let mut jobs = lock(&self.jobs);
        let Some(status) = jobs.get_mut(&(job.integration.clone(), job.kind)) else {
            return;
        };
        status.in_progress = false;
        status.last_duration = Some(elapsed);
        status.total_duration = status.total_duration.saturating_add(elapsed);
        match result {
            Err(error) => {
                status.failures += 1;
                status.last_error = Some(error);
            }
            Ok(Runs {
                instances: runs,
                listing,
            }) => {
                status.last_error = None;
                let mut failed = false;
                let mut instances = BTreeMap::new();
                for (name, run) in runs {
                    let mut entry = status.instances.remove(&name).unwrap_or_default();
                    if matches!(run, InstanceRun::Failed { .. }) {
                        failed = true;
                    } else {
                        entry.last_ok = Some(now);
                    }
                    entry.last_run = Some(run);
                    instances.insert(name, entry);
                }
                // What is left of the previous round, discovery no longer returns: report it
                // with the managed users it still had, and keep it listed until it returns.
                // A run that did not list every instance says nothing about the others: they
                // are forgotten (their staleness would mean nothing either), not vanished.
                let previous = std::mem::take(&mut status.instances);
                for (name, old) in previous.into_iter().filter(|_| listing) {
                    let active_grants = match &old.last_run {
                        Some(InstanceRun::Done { counts }) => counts.active,
                        _ => None,
                    };
                    tracing::warn!(
                        integration = %job.integration,
                        job = %job.kind,
                        instance = %name,
                        active_grants = ?active_grants,
                        "instance no longer returned by discovery; its managed users were not revoked here"
                    );
                    status.disappeared.entry(name).or_insert(Disappeared {
                        since: now,
                        active_grants,
                    });
                }
                status
                    .disappeared
                    .retain(|name, _| !instances.contains_key(name));
                evict_oldest(&mut status.disappeared, MAX_DISAPPEARED);
                status.instances = instances;
                if failed {
                    status.failures += 1;
                } else {
                    status.last_success = Some(now);
                }
            }
        }
    }

    /// When the scheduler was built.
    pub fn started_at(&self) -> SystemTime {
        self.started
    }

    /// Every job's status, sorted by integration and job.
    pub fn jobs(&self) -> Vec<JobStatus> {
        lock(&self.jobs).values().cloned().collect()
    }

    /// Managed users whose access is active, per integration and instance, as the last sweep
    /// that ran there counted them (instances another replica swept are not counted here).
    pub fn active_grants(&self) -> Vec<ActiveGrants> {
        let jobs = lock(&self.jobs);
        let mut out = Vec::new();
        for status in jobs.values().filter(|s| s.kind == JobKind::Sweep) {
            for (instance, st) in &status.instances {
                if let Some(InstanceRun::Done { counts }) = &st.last_run
                    && let Some(active) = counts.active
                {
                    out.push(ActiveGrants {
                        integration: status.integration.clone(),
                        instance: instance.clone(),
                        active,
                    });
                }
            }
        }
        out
    }

    /// Health at `now`: a job (on an instance) is failing when it has not succeeded within
    /// two of its intervals (counted from start before its first success).
    pub fn health(&self, now: SystemTime) -> Health {
        let jobs = lock(&self.jobs);
        let mut problems = Vec::new();
        let stale = |since: Option<SystemTime>, every: Duration| {
            let since = since.unwrap_or(self.started).max(self.started);
            // Saturating: an interval of years (or `Duration::MAX`) must not overflow here;
            // a run that is never due is never stale.
            now.duration_since(since).unwrap_or_default() > every.saturating_mul(2)
        };
        for status in jobs.values() {
            let mut found = false;
            for (instance, st) in &status.instances {
                if stale(st.last_ok, status.every) {
                    found = true;
                    problems.push(HealthProblem {
                        integration: status.integration.clone(),
                        kind: status.kind,
                        instance: Some(instance.clone()),
                        error: match &st.last_run {
                            Some(InstanceRun::Failed { error }) => Some(error.clone()),
                            _ => None,
                        },
                    });
                }
            }
            if !found && stale(status.last_success, status.every) {
                problems.push(HealthProblem {
                    integration: status.integration.clone(),
                    kind: status.kind,
                    instance: None,
                    error: status.last_error.clone(),
                });
            }
        }
        Health { problems }
    }
}

/// How many vanished instances one job keeps listed (see [`JobStatus::disappeared`]).
pub const MAX_DISAPPEARED: usize = 256;

/// Keeps the `cap` most recent vanished instances: a fleet that churns (autoscaled, or
/// instances replaced by blue/green deployments) must not grow the state, the metrics and
/// `/healthz` without end. Each eviction is logged once.
pub(super) fn evict_oldest(disappeared: &mut BTreeMap<String, Disappeared>, cap: usize) {
    while disappeared.len() > cap {
        let Some(oldest) = disappeared
            .iter()
            .min_by_key(|(name, gone)| (gone.since, (*name).clone()))
            .map(|(name, _)| name.clone())
        else {
            return;
        };
        if let Some(gone) = disappeared.remove(&oldest) {
            tracing::warn!(
                instance = %oldest,
                active_grants = ?gone.active_grants,
                cap,
                "vanished instance dropped from the list (the list keeps the most recent)"
            );
        }
    }
}
