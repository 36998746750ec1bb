//! The connector service's loop: every integration's jobs ([`JobKind`]) run on their
//! intervals until a shutdown signal, with a health and metrics state ([`ServiceState`]) that
//! an HTTP layer (or anything else) reads.
//!
//! `rdspg serve` is this loop plus HTTP; a team's own binary embeds the same loop:
//!
//! ```no_run
//! use std::time::Duration;
//! use rds_pg_access::AccessManager;
//! use rds_pg_access_service::scheduler::{Intervals, Scheduler};
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
//! ([`Integration::lock_database`](rds_pg_access::integration_model::Integration::lock_database), default
//! `postgres`; advisory locks are per database, so integrations with different home databases
//! would otherwise not exclude each other); a replica that finds it taken skips the instance
//! for the round ([`InstanceRun::Skipped`]), and a replica that dies loses its locks with its
//! connections, so the next round runs elsewhere. No state is kept outside the managed databases and AWS.
//!
//! The lock is held while the run lasts, not for the whole interval: a replica whose clock
//! is late, or that reaches the round after another one has finished, runs the job again.
//! Every job is idempotent (a second sweep finds nothing expired, and writes no second
//! outcome for a role another replica revoked; a second rotation finds it not due, from the
//! secret's stages read again under its locks), so that costs a little work and never a
//! conflict.
//!
//! # Process death
//!
//! A replica killed inside a change (`kill -9`) leaves the database and the secret in states
//! the next run finishes, and its audit intent open; the next sweep of the instance, or the
//! next rotation, from any replica, resolves the intent from the database or secret state and
//! writes the missing outcome (see [`rds_pg_access::audit`]). `tests/process_death.rs`
//! kills `rdspg serve` inside each job.
//!
//! # Shutdown
//!
//! Cancelling the token ([`Scheduler::shutdown_token`]) stops new runs at once. A run in
//! flight is never interrupted in the middle of a change: a sweep finishes the revocation it
//! is in (all of its steps) and starts no other; a sync finishes its instances (it changes
//! nothing); a rotation finishes (its steps leave a secret that logs in everywhere only as a
//! whole). [`Scheduler::run`] returns when the last run has finished.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use rds_pg_access::AccessManager;

mod run;
mod state;
#[cfg(test)]
mod tests;

pub use state::{
    ActiveGrants, Disappeared, Health, HealthProblem, InstanceRun, InstanceStatus, JobStatus,
    MAX_DISAPPEARED, RunCounts, ServiceState,
};

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
    /// `connector_rotation_days` have passed (or a rotation was left unfinished).
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
        let state = Arc::new(ServiceState::new(SystemTime::now()).with_managers(&self.managers));
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
        run::run_once(job, manager, state, shutdown).await;
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
