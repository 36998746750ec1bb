//! One run of one job: what it calls on the [`AccessManager`], and how its result is read
//! per instance for the [`ServiceState`](super::ServiceState) and the logs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rds_pg_access::{AccessManager, FleetReport, RotateError, RotateOutcome, error_chain};

use super::state::{InstanceRun, RunCounts, ServiceState, lock};
use super::{CancellationToken, Job, JobKind};

pub(super) async fn run_once(
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

/// Per instance, or why the run failed as a whole.
pub(super) type RunResult = Result<Runs, String>;

/// What one run did, per instance.
#[derive(Debug)]
pub(super) struct Runs {
    pub(super) instances: BTreeMap<String, InstanceRun>,
    /// Whether `instances` are every instance discovery returned (a sweep, a sync, a rotation
    /// that ran): then an instance of the previous run that is missing has vanished. A
    /// rotation check that was not due, or found another replica rotating, lists none or one
    /// and says nothing about the others.
    pub(super) listing: bool,
}

/// A run that went over every instance discovery returned.
pub(super) fn listed(instances: BTreeMap<String, InstanceRun>) -> Runs {
    Runs {
        instances,
        listing: true,
    }
}

async fn sweep(manager: &AccessManager, shutdown: &CancellationToken) -> RunResult {
    let report = manager
        .sweep_until(Some(shutdown))
        .await
        .map_err(|e| error_chain(&e))?;
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
                r.lock_squatters
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        // A marked role the library refuses to manage (forged marks, an unreadable record) is
        // never revoked: a failure of the instance, naming it.
        let refused = if r.refused.is_empty() {
            String::new()
        } else {
            format!(
                "; marked roles refused as managed users (never altered): {}",
                r.refused
                    .iter()
                    .map(|x| format!("{}: {}", x.name, x.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        // An expired user left unrevoked is a failure of the instance (health, metrics).
        if !r.failed.is_empty() || !squatted.is_empty() || !refused.is_empty() {
            let users: Vec<String> = r
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.user, error_chain(&f.error)))
                .collect();
            return InstanceRun::Failed {
                error: format!(
                    "{} expired user(s) not revoked ({} revoked): {}{squatted}{refused}",
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
    // Per integration (`sync:<integration>`): two integrations over one server sync
    // different resource types.
    let counted = Mutex::new(BTreeMap::<String, u64>::new());
    let report = manager
        .sync_as_job(|instance, _, _| {
            *lock(&counted).entry(instance.to_string()).or_default() += 1;
        })
        .await
        .map_err(|e| error_chain(&e))?;
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
pub(super) fn rotate_runs(outcome: Result<RotateOutcome, RotateError>) -> RunResult {
    let unlisted = |instances| Runs {
        instances,
        listing: false,
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // A password from an environment variable: nothing this service can rotate.
        Err(RotateError::NothingToRotate { .. }) => return Ok(unlisted(BTreeMap::new())),
        Err(e) => return Err(error_chain(&e)),
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
                    error: error_chain(e),
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
