//! The connector service's loop: every integration's jobs ([`JobKind`]) run on their
//! intervals until a shutdown signal, with a health and metrics state ([`ServiceState`]) that
//! an HTTP layer (or anything else) reads.
//!
//! `rdspg serve` is this loop plus HTTP; a team's own binary embeds the same loop:
//!
//! ```no_run
//! use std::time::Duration;
//! use rds_pg_access::AccessManager;
//! use rds_pg_access::scheduler::{Intervals, Scheduler};
//!
//! # async fn demo(orders: AccessManager) -> Result<(), Box<dyn std::error::Error>> {
//! let scheduler = Scheduler::builder()
//!     .integration(orders)
//!     .intervals(Intervals::default().sweep(Duration::from_secs(30)))
//!     .build()?;
//! let shutdown = scheduler.shutdown_token();
//! let state = scheduler.state();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     shutdown.cancel(); // no new runs; the runs in flight finish
//! });
//! scheduler.run().await;
//! println!("healthy at exit: {}", state.health(std::time::SystemTime::now()).is_healthy());
//! # Ok(()) }
//! ```
//!
//! # Rounds and replicas
//!
//! Rounds start at whole multiples of the interval since the Unix epoch (after a first round
//! at start), so replicas reach a round at the same moment. Each instance's run takes a
//! session-level PostgreSQL advisory lock on that instance, per job (`sweep`,
//! `sync:<integration>`, `rotate`; see [`AccessManager::sweep`] and
//! [`AccessManager::rotate`]), always in the instance's lock database
//! ([`Integration::lock_database`](integration_model::Integration::lock_database), default
//! `postgres`; advisory locks are per database, so integrations with different home databases
//! would otherwise not exclude each other); a replica that finds it taken skips the instance
//! for the round ([`InstanceRun::Skipped`]), and a replica that dies loses its locks with its
//! connections, so the next round runs elsewhere. No state is kept outside the managed databases and AWS.
//!
//! The lock is held while the run lasts, not for the whole interval: a replica whose clock
//! is late, or that reaches the round after another one has finished, runs the job again.
//! Every job is idempotent (a second sweep finds nothing expired, a second rotation finds it
//! not due), so that costs a little work and never a conflict.
//!
//! # Shutdown
//!
//! Cancelling the token ([`Scheduler::shutdown_token`]) stops new runs at once. A run in
//! flight is never interrupted in the middle of a change: a sweep finishes the revocation it
//! is in (all of its steps) and starts no other; a sync finishes its instances (it changes
//! nothing); a rotation finishes (its steps leave a secret that logs in everywhere only as a
//! whole). [`Scheduler::run`] returns when the last run has finished.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::join_all;

use crate::manager::AccessManager;
use crate::report::FleetReport;
use crate::rotate::{RotateError, RotateOutcome};

/// The shutdown signal type (re-exported so that embedders need no `tokio-util` dependency).
pub use tokio_util::sync::CancellationToken;

/// A job the service runs for each integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum JobKind {
    /// [`AccessManager::sweep`]: revoke the managed users whose access expired.
    Sweep,
    /// Discovery and [`AccessManager::sync`]: the inventory of the synced resource types.
    Sync,
    /// [`AccessManager::rotate`] when due: the connector's password, when the integration's
    /// `credentials_rotation_days` have passed (or a rotation was left unfinished).
    Rotate,
}

impl JobKind {
    /// Every job, in a stable order.
    pub const ALL: [JobKind; 3] = [JobKind::Sweep, JobKind::Sync, JobKind::Rotate];

    /// The job's name in logs and metrics (`sweep`, `sync`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Sweep => "sweep",
            JobKind::Sync => "sync",
            JobKind::Rotate => "rotate",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How often each job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Intervals {
    /// [`JobKind::Sweep`] (default 60 s).
    pub sweep: Duration,
    /// [`JobKind::Sync`] (default 15 min).
    pub sync: Duration,
    /// [`JobKind::Rotate`]: how often to check whether a rotation is due (default 1 h).
    pub rotate: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Self {
            sweep: Duration::from_secs(60),
            sync: Duration::from_secs(15 * 60),
            rotate: Duration::from_secs(3600),
        }
    }
}

impl Intervals {
    /// Sets the sweep interval.
    #[must_use]
    pub fn sweep(mut self, every: Duration) -> Self {
        self.sweep = every;
        self
    }

    /// Sets the sync interval.
    #[must_use]
    pub fn sync(mut self, every: Duration) -> Self {
        self.sync = every;
        self
    }

    /// Sets how often to check whether a rotation is due.
    #[must_use]
    pub fn rotate(mut self, every: Duration) -> Self {
        self.rotate = every;
        self
    }

    /// The interval of `kind`.
    pub fn of(&self, kind: JobKind) -> Duration {
        match kind {
            JobKind::Sweep => self.sweep,
            JobKind::Sync => self.sync,
            JobKind::Rotate => self.rotate,
        }
    }
}

/// A scheduler that cannot be built as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// An interval shorter than one second (zero would spin).
    #[error("the {job} interval is {seconds:.3} s: give it at least 1 s")]
    IntervalTooShort {
        /// The job.
        job: JobKind,
        /// The interval given.
        seconds: f64,
    },
    /// No integration to run.
    #[error("no integration to run: add one with Scheduler::builder().integration(manager)")]
    NoIntegration,
    /// Two integrations with the same name (their metrics and locks would mix).
    #[error("integration {0} is given twice")]
    DuplicateIntegration(String),
}

/// One job of one integration, as the scheduler runs it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Job {
    /// The integration.
    pub integration: String,
    /// What it does.
    pub kind: JobKind,
    /// How often.
    pub every: Duration,
}

/// Builds a [`Scheduler`].
#[derive(Debug, Default)]
pub struct SchedulerBuilder {
    managers: Vec<AccessManager>,
    intervals: Intervals,
    kinds: Option<Vec<JobKind>>,
    shutdown: Option<CancellationToken>,
}

impl SchedulerBuilder {
    /// Adds an integration; every job runs for it.
    #[must_use]
    pub fn integration(mut self, manager: AccessManager) -> Self {
        self.managers.push(manager);
        self
    }

    /// Sets the intervals (default: [`Intervals::default`]).
    #[must_use]
    pub fn intervals(mut self, intervals: Intervals) -> Self {
        self.intervals = intervals;
        self
    }

    /// Runs only these jobs (default: [`JobKind::ALL`]).
    #[must_use]
    pub fn jobs(mut self, kinds: impl IntoIterator<Item = JobKind>) -> Self {
        let mut kinds: Vec<JobKind> = kinds.into_iter().collect();
        kinds.sort();
        kinds.dedup();
        self.kinds = Some(kinds);
        self
    }

    /// Uses this token as the shutdown signal (e.g. a child of the application's own).
    #[must_use]
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// The scheduler.
    ///
    /// # Errors
    /// [`SchedulerError`]: an interval under one second, no integration, a name given twice.
    pub fn build(self) -> Result<Scheduler, SchedulerError> {
        if self.managers.is_empty() {
            return Err(SchedulerError::NoIntegration);
        }
        let kinds = self.kinds.unwrap_or_else(|| JobKind::ALL.to_vec());
        for &kind in &kinds {
            let every = self.intervals.of(kind);
            if every < Duration::from_secs(1) {
                return Err(SchedulerError::IntervalTooShort {
                    job: kind,
                    seconds: every.as_secs_f64(),
                });
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for manager in &self.managers {
            let name = manager.integration().name().to_string();
            if !names.insert(name.clone()) {
                return Err(SchedulerError::DuplicateIntegration(name));
            }
        }
        let state = Arc::new(ServiceState::new(SystemTime::now()));
        let mut jobs = Vec::new();
        for manager in self.managers {
            for &kind in &kinds {
                let job = Job {
                    integration: manager.integration().name().to_string(),
                    kind,
                    every: self.intervals.of(kind),
                };
                state.register(&job);
                jobs.push((job, manager.clone()));
            }
        }
        Ok(Scheduler {
            jobs,
            state,
            shutdown: self.shutdown.unwrap_or_default(),
        })
    }
}

/// Runs every job of every integration on its interval until shut down.
#[derive(Debug)]
pub struct Scheduler {
    jobs: Vec<(Job, AccessManager)>,
    state: Arc<ServiceState>,
    shutdown: CancellationToken,
}

impl Scheduler {
    /// A builder.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// The jobs it runs.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter().map(|(job, _)| job)
    }

    /// The health and metrics state, updated after every run.
    pub fn state(&self) -> Arc<ServiceState> {
        Arc::clone(&self.state)
    }

    /// The shutdown signal: cancel it to stop taking new runs; [`Scheduler::run`] returns once
    /// the runs in flight have finished.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled, then waits for the runs in flight.
    pub async fn run(self) {
        let state = &self.state;
        let shutdown = &self.shutdown;
        join_all(
            self.jobs
                .iter()
                .map(|(job, manager)| job_loop(job, manager, state, shutdown)),
        )
        .await;
    }
}

/// One job's loop: a round at start, then at each multiple of the interval.
async fn job_loop(
    job: &Job,
    manager: &AccessManager,
    state: &ServiceState,
    shutdown: &CancellationToken,
) {
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        // Not raced with the shutdown signal: the change in flight always finishes.
        run_once(job, manager, state, shutdown).await;
        let wait = until_next_round(SystemTime::now(), job.every);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Time from `now` to the next whole multiple of `every` since the Unix epoch.
fn until_next_round(now: SystemTime, every: Duration) -> Duration {
    let every_ms = every.as_millis().max(1);
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let rest = every_ms - since_epoch % every_ms;
    Duration::from_millis(u64::try_from(rest).unwrap_or(u64::MAX))
}

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

async fn run_once(
    job: &Job,
    manager: &AccessManager,
    state: &ServiceState,
    shutdown: &CancellationToken,
) {
    state.started(job);
    let started = Instant::now();
    let result = match job.kind {
        JobKind::Sweep => sweep(manager, shutdown).await,
        JobKind::Sync => sync(manager).await,
        JobKind::Rotate => rotate(manager).await,
    };
    let elapsed = started.elapsed();
    log_run(job, elapsed, &result);
    state.finished(job, SystemTime::now(), elapsed, result);
    // Pools of instances no job has used for a while (gone, or only swept) are closed.
    let closed = manager.close_idle_pools(manager.options().pool_idle);
    if closed > 0 {
        tracing::debug!(integration = %job.integration, closed, "closed idle connection pools");
    }
}

/// How many vanished instances one job keeps listed (see [`JobStatus::disappeared`]).
pub const MAX_DISAPPEARED: usize = 256;

/// Per instance, or why the run failed as a whole.
type RunResult = Result<Runs, String>;

/// What one run did, per instance.
#[derive(Debug)]
struct Runs {
    instances: BTreeMap<String, InstanceRun>,
    /// Whether `instances` are every instance discovery returned (a sweep, a sync, a rotation
    /// that ran): then an instance of the previous run that is missing has vanished. A
    /// rotation check that was not due, or found another replica rotating, lists none or one
    /// and says nothing about the others.
    listing: bool,
}

/// A run that went over every instance discovery returned.
fn listed(instances: BTreeMap<String, InstanceRun>) -> Runs {
    Runs {
        instances,
        listing: true,
    }
}

async fn sweep(manager: &AccessManager, shutdown: &CancellationToken) -> RunResult {
    let report = manager
        .sweep_until(Some(shutdown))
        .await
        .map_err(|e| e.to_string())?;
    Ok(listed(per_instance(report, |r| {
        if r.skipped {
            return InstanceRun::Skipped;
        }
        // A lock squatted by a session without CREATEROLE is a failure of the instance
        // (health, metrics) even when every expired user was revoked: it names them.
        let squatted = if r.lock_squatters.is_empty() {
            String::new()
        } else {
            format!(
                "; advisory locks squatted by sessions without CREATEROLE (swept without them): {}",
                crate::manager::names(&r.lock_squatters)
            )
        };
        // An expired user left unrevoked is a failure of the instance (health, metrics).
        if !r.failed.is_empty() || !squatted.is_empty() {
            let users: Vec<String> = r
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.user, f.error))
                .collect();
            return InstanceRun::Failed {
                error: format!(
                    "{} expired user(s) not revoked ({} revoked): {}{squatted}",
                    r.failed.len(),
                    r.swept.len(),
                    users.join("; ")
                ),
            };
        }
        let swept = r.swept.iter().filter(|s| s.dropped_here).count();
        InstanceRun::Done {
            counts: RunCounts {
                swept: Some(swept as u64),
                active: r.active.map(|n| n as u64),
                ..RunCounts::default()
            },
        }
    })))
}

async fn sync(manager: &AccessManager) -> RunResult {
    // Per integration: two integrations over one server sync different resource types.
    let job = format!("sync:{}", manager.integration().name());
    let counted = Mutex::new(BTreeMap::<String, u64>::new());
    let report = manager
        .sync_locked(
            |instance, _, _| {
                *lock(&counted).entry(instance.to_string()).or_default() += 1;
            },
            Some(&job),
        )
        .await
        .map_err(|e| e.to_string())?;
    let counted = lock(&counted).clone();
    Ok(listed(
        per_instance(report, |locked| match locked {
            None => InstanceRun::Skipped,
            Some(_) => InstanceRun::Done {
                counts: RunCounts::default(),
            },
        })
        .into_iter()
        .map(|(instance, mut run)| {
            if let InstanceRun::Done { counts } = &mut run {
                counts.items = Some(counted.get(&instance).copied().unwrap_or(0));
            }
            (instance, run)
        })
        .collect(),
    ))
}

async fn rotate(manager: &AccessManager) -> RunResult {
    rotate_runs(manager.rotate(false).await)
}

/// The rotate job's result: per instance when a rotation ran; a check that found nothing to
/// do (not due, IAM, a password from the environment) or another replica rotating is a
/// success that lists no instance as vanished.
fn rotate_runs(outcome: Result<RotateOutcome, RotateError>) -> RunResult {
    let unlisted = |instances| Runs {
        instances,
        listing: false,
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // A password from an environment variable: nothing this service can rotate.
        Err(RotateError::NothingToRotate { .. }) => return Ok(unlisted(BTreeMap::new())),
        Err(e) => return Err(e.to_string()),
    };
    Ok(match outcome {
        RotateOutcome::Busy { instance } => unlisted(BTreeMap::from([(
            instance.to_string(),
            InstanceRun::Skipped,
        )])),
        RotateOutcome::Rotated(report) | RotateOutcome::Incomplete(report) => {
            listed(per_instance(report.instances, |r| InstanceRun::Done {
                counts: RunCounts {
                    rotated: Some(u64::from(r.password_set)),
                    ..RunCounts::default()
                },
            }))
        }
        // Not due, or nothing to rotate (IAM): a successful check.
        _ => unlisted(BTreeMap::new()),
    })
}

fn per_instance<T>(
    report: FleetReport<T>,
    done: impl Fn(&T) -> InstanceRun,
) -> BTreeMap<String, InstanceRun> {
    report
        .results
        .into_iter()
        .map(|(instance, outcome)| {
            let run = match &outcome {
                Ok(r) => done(r),
                Err(e) => InstanceRun::Failed {
                    error: e.to_string(),
                },
            };
            (instance.to_string(), run)
        })
        .collect()
}

/// One structured event per run.
fn log_run(job: &Job, elapsed: Duration, result: &RunResult) {
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(Runs { instances, .. }) => {
            let count = |f: fn(&InstanceRun) -> bool| instances.values().filter(|r| f(r)).count();
            let failed = count(|r| matches!(r, InstanceRun::Failed { .. }));
            let skipped = count(|r| matches!(r, InstanceRun::Skipped));
            let ok = instances.len() - failed - skipped;
            let total = |key: &str| -> u64 {
                instances
                    .values()
                    .filter_map(|r| match r {
                        InstanceRun::Done { counts } => {
                            counts.iter().find(|(name, _)| *name == key).map(|(_, n)| n)
                        }
                        _ => None,
                    })
                    .sum()
            };
            let errors: Vec<String> = instances
                .iter()
                .filter_map(|(name, r)| match r {
                    InstanceRun::Failed { error } => Some(format!("{name}: {error}")),
                    _ => None,
                })
                .collect();
            let outcome = if failed == 0 { "success" } else { "failure" };
            tracing::info!(
                target: "rdspg::job",
                integration = %job.integration,
                job = job.kind.as_str(),
                outcome,
                duration_ms,
                instances_ok = ok,
                instances_skipped = skipped,
                instances_failed = failed,
                swept = total("swept"),
                items = total("items"),
                rotated = total("rotated"),
                errors = %errors.join("; "),
                "job run"
            );
        }
        Err(error) => tracing::info!(
            target: "rdspg::job",
            integration = %job.integration,
            job = job.kind.as_str(),
            outcome = "failure",
            duration_ms,
            errors = %error,
            "job run"
        ),
    }
}

/// Keeps the `cap` most recent vanished instances: a fleet that churns (autoscaled, or
/// instances replaced by blue/green deployments) must not grow the state, the metrics and
/// `/healthz` without end. Each eviction is logged once.
fn evict_oldest(disappeared: &mut BTreeMap<String, Disappeared>, cap: usize) {
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl ServiceState {
    fn new(started: SystemTime) -> Self {
        Self {
            started,
            jobs: Mutex::new(BTreeMap::new()),
        }
    }

    fn register(&self, job: &Job) {
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

    fn started(&self, job: &Job) {
        if let Some(status) = lock(&self.jobs).get_mut(&(job.integration.clone(), job.kind)) {
            status.runs += 1;
            status.in_progress = true;
        }
    }

    fn finished(&self, job: &Job, now: SystemTime, elapsed: Duration, result: RunResult) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: JobKind, every: u64) -> Job {
        Job {
            integration: "orders".to_owned(),
            kind,
            every: Duration::from_secs(every),
        }
    }

    fn done() -> InstanceRun {
        InstanceRun::Done {
            counts: RunCounts {
                active: Some(3),
                swept: Some(1),
                ..RunCounts::default()
            },
        }
    }

    #[test]
    fn rounds_fall_on_multiples_of_the_interval() {
        let at = |secs: u64, ms: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
        };
        let minute = Duration::from_secs(60);
        assert_eq!(until_next_round(at(120, 0), minute), minute);
        assert_eq!(
            until_next_round(at(121, 500), minute),
            Duration::from_millis(58_500)
        );
        assert_eq!(
            until_next_round(at(179, 999), minute),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn huge_intervals_never_overflow() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let sweep = Job {
            integration: "orders".to_owned(),
            kind: JobKind::Sweep,
            every: Duration::MAX,
        };
        state.register(&sweep);
        assert!(
            state
                .health(t0 + Duration::from_secs(86_400 * 365))
                .is_healthy()
        );
        state.started(&sweep);
        let failed = BTreeMap::from([(
            "a".to_owned(),
            InstanceRun::Failed {
                error: "refused".to_owned(),
            },
        )]);
        state.finished(&sweep, t0, Duration::MAX, Ok(listed(failed)));
        state.finished(&sweep, t0, Duration::MAX, Ok(listed(BTreeMap::new())));
        assert!(
            state
                .health(t0 + Duration::from_secs(86_400 * 365))
                .is_healthy()
        );
        assert_eq!(state.jobs()[0].total_duration, Duration::MAX);
        // The next round of a huge interval is far away, not a panic.
        assert!(until_next_round(t0, Duration::MAX) > Duration::from_secs(86_400 * 365));
    }

    #[test]
    fn a_rotation_check_that_is_not_due_vanishes_no_instance() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let rotate = job(JobKind::Rotate, 3600);
        state.register(&rotate);
        let rotated = InstanceRun::Done {
            counts: RunCounts {
                rotated: Some(1),
                ..RunCounts::default()
            },
        };
        state.started(&rotate);
        let both = BTreeMap::from([("a".to_owned(), rotated.clone()), ("b".to_owned(), rotated)]);
        state.finished(&rotate, t0, Duration::from_millis(5), Ok(listed(both)));
        // The next checks find the rotation not due: that says nothing about the instances.
        for round in 1..=3 {
            state.started(&rotate);
            let at = t0 + Duration::from_secs(3600 * round);
            let not_due = rotate_runs(Ok(RotateOutcome::NotDue {
                last_rotated: None,
                due_at: None,
            }));
            state.finished(&rotate, at, Duration::from_millis(5), not_due);
        }
        let status = &state.jobs()[0];
        assert!(status.disappeared.is_empty(), "{:?}", status.disappeared);
        assert!(
            state
                .health(t0 + Duration::from_secs(3600 * 3 + 60))
                .is_healthy()
        );
    }

    #[test]
    fn the_vanished_list_is_bounded_and_keeps_the_newest() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let sweep = job(JobKind::Sweep, 60);
        state.register(&sweep);
        // A fleet that is replaced instance by instance, 3 * MAX_DISAPPEARED times.
        let total = 3 * MAX_DISAPPEARED as u64;
        for i in 0..total {
            state.started(&sweep);
            let at = t0 + Duration::from_secs(60 * i);
            let runs = BTreeMap::from([(format!("db-{i:06}"), done())]);
            state.finished(&sweep, at, Duration::from_millis(5), Ok(listed(runs)));
        }
        let status = &state.jobs()[0];
        assert_eq!(status.disappeared.len(), MAX_DISAPPEARED);
        // The oldest were evicted; the most recent vanishings are all there.
        assert!(!status.disappeared.contains_key("db-000000"));
        let newest = format!("db-{:06}", total - 2);
        assert!(status.disappeared.contains_key(&newest), "{newest}");
    }

    #[test]
    fn an_instance_that_disappears_is_kept_with_its_active_grants() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let sweep = job(JobKind::Sweep, 60);
        state.register(&sweep);
        let both = || BTreeMap::from([("a".to_owned(), done()), ("b".to_owned(), done())]);
        state.started(&sweep);
        state.finished(&sweep, t0, Duration::from_millis(5), Ok(listed(both())));

        // b is no longer discovered: reported with the 3 users it still had.
        state.started(&sweep);
        let later = t0 + Duration::from_secs(60);
        let only_a = BTreeMap::from([("a".to_owned(), done())]);
        state.finished(&sweep, later, Duration::from_millis(5), Ok(listed(only_a)));
        let status = &state.jobs()[0];
        assert!(!status.instances.contains_key("b"));
        assert_eq!(
            status.disappeared.get("b"),
            Some(&Disappeared {
                since: later,
                active_grants: Some(3)
            })
        );

        // Still missing a round later: still listed, since the first time.
        let only_a = BTreeMap::from([("a".to_owned(), done())]);
        state.finished(
            &sweep,
            later + Duration::from_secs(60),
            Duration::from_millis(5),
            Ok(listed(only_a)),
        );
        assert_eq!(
            state.jobs()[0].disappeared.get("b").map(|d| d.since),
            Some(later)
        );

        // Back again: no longer listed.
        state.finished(
            &sweep,
            later + Duration::from_secs(120),
            Duration::from_millis(5),
            Ok(listed(both())),
        );
        assert!(state.jobs()[0].disappeared.is_empty());
    }

    #[test]
    fn healthy_until_two_intervals_pass_without_success() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let sweep = job(JobKind::Sweep, 60);
        state.register(&sweep);
        // Before any run: grace of two intervals from start.
        assert!(state.health(t0 + Duration::from_secs(119)).is_healthy());
        assert!(!state.health(t0 + Duration::from_secs(121)).is_healthy());

        state.started(&sweep);
        let runs = BTreeMap::from([
            ("a".to_owned(), done()),
            ("b".to_owned(), InstanceRun::Skipped),
        ]);
        state.finished(
            &sweep,
            t0 + Duration::from_secs(10),
            Duration::from_millis(5),
            Ok(listed(runs)),
        );
        assert!(state.health(t0 + Duration::from_secs(129)).is_healthy());
        let active = state.active_grants();
        assert_eq!(active.len(), 1);
        assert_eq!((active[0].instance.as_str(), active[0].active), ("a", 3));

        // b fails from then on: unhealthy once two intervals pass, naming b and its error.
        let runs = BTreeMap::from([
            ("a".to_owned(), done()),
            (
                "b".to_owned(),
                InstanceRun::Failed {
                    error: "refused".to_owned(),
                },
            ),
        ]);
        state.started(&sweep);
        state.finished(
            &sweep,
            t0 + Duration::from_secs(70),
            Duration::from_millis(5),
            Ok(listed(runs)),
        );
        assert!(state.health(t0 + Duration::from_secs(129)).is_healthy());
        let health = state.health(t0 + Duration::from_secs(131));
        assert_eq!(health.problems.len(), 1, "{health:?}");
        assert_eq!(health.problems[0].instance.as_deref(), Some("b"));
        assert_eq!(health.problems[0].error.as_deref(), Some("refused"));
        let status = &state.jobs()[0];
        assert_eq!((status.runs, status.failures), (2, 1));
        assert_eq!(status.last_success, Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn a_whole_job_failure_is_reported_without_an_instance() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let state = ServiceState::new(t0);
        let sync = job(JobKind::Sync, 900);
        state.register(&sync);
        state.started(&sync);
        state.finished(
            &sync,
            t0,
            Duration::from_secs(1),
            Err("no credentials".to_owned()),
        );
        let health = state.health(t0 + Duration::from_secs(1801));
        assert_eq!(health.problems.len(), 1);
        assert_eq!(health.problems[0].instance, None);
        assert!(health.problems[0].to_string().contains("orders sync"));
    }

    fn manager(name: &str) -> AccessManager {
        let settings = integration_model::Settings::from_toml_str(&format!(
            "name = \"{name}\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
             [secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n"
        ))
        .expect("settings");
        let source = pg_auth::StaticPassword::new("apono_connector", "x".to_owned().into());
        let credentials = crate::IntegrationCredentials::shared(Arc::new(source));
        AccessManager::new(
            settings.integrations()[0].clone(),
            Arc::new(rds_discovery::StaticDirectory::new()),
            Arc::new(credentials),
        )
        .expect("manager")
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let built = Scheduler::builder().build();
        assert!(matches!(built, Err(SchedulerError::NoIntegration)));

        let short = Intervals::default().sync(Duration::from_millis(500));
        let built = Scheduler::builder()
            .integration(manager("orders"))
            .intervals(short)
            .build();
        match built {
            Err(
                e @ SchedulerError::IntervalTooShort {
                    job: JobKind::Sync, ..
                },
            ) => {
                assert!(e.to_string().contains("sync interval is 0.500 s"), "{e}");
            }
            other => panic!("{other:?}"),
        }

        let built = Scheduler::builder()
            .integration(manager("orders"))
            .integration(manager("orders"))
            .build();
        assert!(matches!(built, Err(SchedulerError::DuplicateIntegration(n)) if n == "orders"));

        let scheduler = Scheduler::builder()
            .integration(manager("orders"))
            .integration(manager("billing"))
            .jobs([JobKind::Sweep])
            .build()
            .expect("valid");
        let jobs: Vec<_> = scheduler
            .jobs()
            .map(|j| (j.integration.as_str(), j.kind))
            .collect();
        assert_eq!(
            jobs,
            [("orders", JobKind::Sweep), ("billing", JobKind::Sweep)]
        );
        // Before any run: healthy (grace), and every job is listed with no runs.
        let state = scheduler.state();
        assert!(state.health(SystemTime::now()).is_healthy());
        assert!(state.jobs().iter().all(|j| j.runs == 0 && !j.in_progress));
    }
}
