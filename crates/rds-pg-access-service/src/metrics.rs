//! The service's state as Prometheus metrics in the OpenMetrics text format, built afresh on
//! each scrape from a [`ServiceState`] (nothing is kept between scrapes).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `rdspg_job_runs_total` | integration, job | runs started |
//! | `rdspg_job_failures_total` | integration, job | runs that failed as a whole or on an instance |
//! | `rdspg_job_duration_seconds_total` | integration, job | time in finished runs |
//! | `rdspg_job_last_duration_seconds` | integration, job | the last run's duration |
//! | `rdspg_job_last_success_timestamp_seconds` | integration, job | end of the last clean run |
//! | `rdspg_job_in_progress` | integration, job | 1 while a run is in flight |
//! | `rdspg_job_instance_last_run` | integration, job, instance, result | 1 for the last result |
//! | `rdspg_job_instance_last_count` | integration, job, instance, count | what the last run did |
//! | `rdspg_disappeared_instance_active_grants` | integration, job, instance | vanished instances |
//! | `rdspg_active_grants` | integration, instance | managed users with active access |
//! | `rdspg_failovers_total` | integration | instance work run again after meeting a read-only server |
//!
//! ```
//! # async fn demo(state: &rds_pg_access_service::ServiceState) -> Result<(), std::fmt::Error> {
//! let text = rds_pg_access_service::metrics::encode(state)?;
//! assert!(text.ends_with("# EOF\n"));
//! # Ok(()) }
//! ```

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::scheduler::{InstanceRun, ServiceState};

/// The `Content-Type` of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The state as Prometheus metrics (OpenMetrics text), built afresh on each scrape.
///
/// # Errors
/// Only if writing to the string fails (it does not in practice).
pub fn encode(state: &ServiceState) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("rdspg");
    let runs = Family::<Labels, Counter>::default();
    let failures = Family::<Labels, Counter>::default();
    let seconds = Family::<Labels, Counter<f64, AtomicU64>>::default();
    let last_duration = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let last_success = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let in_progress = Family::<Labels, Gauge>::default();
    let last_run = Family::<Labels, Gauge>::default();
    let counts_of = Family::<Labels, Gauge>::default();
    let active = Family::<Labels, Gauge>::default();
    let disappeared = Family::<Labels, Gauge>::default();
    let failovers = Family::<Labels, Counter>::default();
    for (integration, n) in state.failovers() {
        failovers
            .get_or_create(&vec![("integration", integration)])
            .inc_by(n);
    }
    for job in state.jobs() {
        let labels: Labels = vec![
            ("integration", job.integration.clone()),
            ("job", job.kind.as_str().to_owned()),
        ];
        runs.get_or_create(&labels).inc_by(job.runs);
        failures.get_or_create(&labels).inc_by(job.failures);
        seconds
            .get_or_create(&labels)
            .inc_by(job.total_duration.as_secs_f64());
        if let Some(d) = job.last_duration {
            last_duration.get_or_create(&labels).set(d.as_secs_f64());
        }
        if let Some(at) = job.last_success {
            let unix = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            last_success.get_or_create(&labels).set(unix.as_secs_f64());
        }
        in_progress
            .get_or_create(&labels)
            .set(i64::from(job.in_progress));
        for (instance, gone) in &job.disappeared {
            let mut labels = labels.clone();
            labels.push(("instance", instance.clone()));
            // -1: the instance vanished before any sweep counted its users here.
            let users = gone
                .active_grants
                .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
            disappeared.get_or_create(&labels).set(users);
        }
        for (instance, status) in &job.instances {
            let mut labels = labels.clone();
            labels.push(("instance", instance.clone()));
            let (result, counts) = match &status.last_run {
                Some(InstanceRun::Done { counts }) => ("done", Some(counts)),
                Some(InstanceRun::Skipped) => ("skipped", None),
                Some(InstanceRun::Failed { .. }) => ("failed", None),
                _ => continue,
            };
            let mut with_result = labels.clone();
            with_result.push(("result", result.to_owned()));
            last_run.get_or_create(&with_result).set(1);
            for (what, n) in counts.into_iter().flat_map(|c| c.iter()) {
                let mut with_what = labels.clone();
                with_what.push(("count", what.to_owned()));
                counts_of
                    .get_or_create(&with_what)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
    for grants in state.active_grants() {
        let labels: Labels = vec![
            ("integration", grants.integration),
            ("instance", grants.instance),
        ];
        active
            .get_or_create(&labels)
            .set(i64::try_from(grants.active).unwrap_or(i64::MAX));
    }
    registry.register("job_runs", "Runs started, per integration and job", runs);
    registry.register(
        "job_failures",
        "Runs that failed as a whole or on an instance",
        failures,
    );
    registry.register(
        "job_duration_seconds",
        "Time spent in finished runs (divide by job_runs for the mean)",
        seconds,
    );
    registry.register(
        "job_last_duration_seconds",
        "Duration of the last finished run",
        last_duration,
    );
    registry.register(
        "job_last_success_timestamp_seconds",
        "End of the last run that succeeded everywhere it ran (Unix time)",
        last_success,
    );
    registry.register("job_in_progress", "1 while a run is in flight", in_progress);
    registry.register(
        "job_instance_last_run",
        "1 for the last run's result on each instance (done, skipped, failed)",
        last_run,
    );
    registry.register(
        "job_instance_last_count",
        "What the last run did on each instance (swept, active, items, rotated)",
        counts_of,
    );
    registry.register(
        "disappeared_instance_active_grants",
        "Instances discovery no longer returns, with the managed users the last sweep counted \
         there (-1: unknown); their access was not revoked by this service",
        disappeared,
    );
    registry.register(
        "active_grants",
        "Managed users whose access is active, as the last sweep here counted them",
        active,
    );
    registry.register(
        "failovers",
        "Times an instance's work was run again on the writer after meeting a read-only server \
         (a failover), per integration",
        failovers,
    );
    let mut text = String::new();
    encode_text(&mut text, &registry)?;
    Ok(text)
}
