//! `rdspg serve`: the library's scheduler for every integration of a file, plus `/healthz` and
//! `/metrics` over HTTP (hyper), metrics encoded with `prometheus-client`, logs with
//! `tracing-subscriber` (JSON when stdout is not a terminal), and a graceful shutdown on
//! SIGTERM and SIGINT: no new runs, the runs in flight finish, exit 0.

use std::convert::Infallible;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rds_pg_access::AccessManager;
use rds_pg_access::audit::{AppendFileSink, AuditSink, StdoutSink};
use rds_pg_access::scheduler::{
    CancellationToken, InstanceRun, Intervals, Scheduler, ServiceState,
};
use serde_json::json;

use crate::cli::ServeArgs;
use crate::config::load_settings;
use crate::output::Failure;

/// Reads `60s`, `15m`, `1h`, `1h30m`, `2d`: numbers each followed by a unit.
fn parse_interval(flag: &str, text: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure::usage(format!(
            "{flag} {text:?}: expected a duration such as 30s, 15m, 1h or 1h30m (at least 1s)"
        ))
    };
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn audit_sink(text: &str) -> Result<Arc<dyn AuditSink>, Failure> {
    if text == "stdout" {
        return Ok(Arc::new(StdoutSink::new()));
    }
    let sink = AppendFileSink::open(text).map_err(|e| Failure::usage(format!("--audit: {e}")))?;
    Ok(Arc::new(sink))
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // One JSON object per line for log collectors; readable lines on a terminal.
    let _ = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode, Failure> {
    if !args.listen.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--listen {}: give a loopback address (127.0.0.1 or ::1); put a proxy in front to \
             expose it",
            args.listen
        )));
    }
    let intervals = Intervals::default()
        .sweep(parse_interval("--sweep-every", &args.sweep_every)?)
        .sync(parse_interval("--sync-every", &args.sync_every)?)
        .rotate(parse_interval("--rotate-every", &args.rotate_every)?);
    let settings = load_settings(&args.config)?;
    let audit = audit_sink(&args.audit)?;
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::job(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        // Handlers first: a signal while the integrations are being set up also stops cleanly.
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        let mut builder = Scheduler::builder()
            .intervals(intervals)
            .shutdown(shutdown.clone());
        for integration in settings.integrations() {
            let manager = AccessManager::from_integration(integration.clone())
                .await
                .map_err(|e| Failure::job_error(&e))?;
            builder = builder.integration(manager.with_audit(Arc::clone(&audit)));
        }
        let scheduler = builder.build().map_err(Failure::usage)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::job(format!("--listen {}: {e}", args.listen)))?;
        tokio::spawn(http(listener, scheduler.state(), shutdown));
        tracing::info!(listen = %args.listen, jobs = scheduler.jobs().count(), "serving");
        scheduler.run().await;
        tracing::info!("stopped: every run in flight finished");
        Ok(ExitCode::SUCCESS)
    })
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
async fn signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stopping");
            shutdown.cancel();
            return;
        }
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(
        signal = name,
        "shutting down: no new runs, finishing the runs in flight"
    );
    shutdown.cancel();
}

/// Serves `/healthz` and `/metrics` until `shutdown`.
async fn http(
    listener: tokio::net::TcpListener,
    state: Arc<ServiceState>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an HTTP connection");
                    continue;
                }
            },
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(request.uri().path(), &state);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
        });
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn respond(path: &str, state: &ServiceState) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => {
            let health = state.health(SystemTime::now());
            let problems: Vec<_> = health
                .problems
                .iter()
                .map(|p| {
                    json!({
                        "integration": p.integration,
                        "job": p.kind.as_str(),
                        "instance": p.instance,
                        "error": p.error,
                        "message": p.to_string(),
                    })
                })
                .collect();
            let (status, text) = if health.is_healthy() {
                (StatusCode::OK, "ok")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "failing")
            };
            let body = json!({ "status": text, "problems": problems }).to_string();
            response(status, "application/json", body)
        }
        "/metrics" => match metrics(state) {
            Ok(text) => response(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(e) => response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("encoding metrics: {e}\n"),
            ),
        },
        _ => response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /healthz or /metrics\n".to_owned(),
        ),
    }
}

type Labels = Vec<(&'static str, String)>;

/// The state as Prometheus metrics (OpenMetrics text), built afresh on each scrape.
fn metrics(state: &ServiceState) -> Result<String, std::fmt::Error> {
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
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals_read_as_documented() {
        for (text, secs) in [
            ("60s", 60),
            ("15m", 900),
            ("1h", 3600),
            ("1h30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(
                parse_interval("--x", text).expect(text),
                Duration::from_secs(secs)
            );
        }
        for bad in ["", "0s", "10", "5x", "m", "-1s", "99999999999999999999s"] {
            assert!(parse_interval("--x", bad).is_err(), "{bad}");
        }
    }
}
