//! `rdspg serve`: `rds_pg_access_service::run` for every integration of a file (the
//! scheduler, `/healthz`, `/metrics`, shutdown on SIGTERM and SIGINT: no new runs, the runs in
//! flight finish, exit 0), with logs from `tracing-subscriber` (JSON when stdout is not a
//! terminal).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use integration_model::Interval;
use rds_pg_access_service::api::Callers;
use rds_pg_access_service::tls::TlsSettings;
use rds_pg_access_service::{ApiConfig, AuditTarget, Intervals, ServiceConfig};

use crate::cli::ServeArgs;
use crate::config::load_settings;
use crate::output::Failure;

/// Reads `60s`, `15m`, `1h`, `1h30m`, `2d` (an [`Interval`]), naming the flag in the error.
fn parse_interval(flag: &str, text: &str) -> Result<Duration, Failure> {
    text.parse::<Interval>()
        .map(Interval::as_std)
        .map_err(|e| Failure::usage(e.at(flag)))
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

/// The access API's settings from `--api-callers` and `--api-listen`, if asked for.
fn api_config(args: &ServeArgs) -> Result<Option<ApiConfig>, Failure> {
    let Some(path) = &args.api_callers else {
        return Ok(None);
    };
    let text = rds_pg_access::read_text_file(path).map_err(|e| {
        Failure::usage(format!("--api-callers: {}", rds_pg_access::error_chain(&e)))
    })?;
    let callers = Callers::from_toml_str(&text)
        .map_err(|e| Failure::usage(format!("--api-callers: {}: {e}", path.display())))?;
    let mut api = ApiConfig::new(callers);
    if let Some(addr) = args.api_listen {
        api = api.listen(addr);
    }
    if let (Some(cert), Some(key)) = (&args.api_tls_cert, &args.api_tls_key) {
        let mut tls = TlsSettings::new(cert, key);
        if let Some(ca) = &args.api_client_ca {
            tls = tls.client_ca(ca);
        }
        // Read now: a bad file is a usage error (exit 2), before anything runs.
        rds_pg_access_service::tls::ApiTls::new(tls.clone())
            .map_err(|e| Failure::usage(format!("--api-tls-cert: {e}")))?;
        api = api.tls(tls);
    }
    Ok(Some(api))
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode, Failure> {
    ServiceConfig::new(args.listen)
        .validate()
        .map_err(|e| Failure::usage(format!("--listen: {e}")))?;
    let api = api_config(args)?;
    if let Some(api) = &api {
        ServiceConfig::new(args.listen)
            .api(api.clone())
            .validate()
            .map_err(|e| Failure::usage(format!("--api-listen: {e}")))?;
    }
    let intervals = Intervals::default()
        .sweep(parse_interval("--sweep-every", &args.sweep_every)?)
        .sync(parse_interval("--sync-every", &args.sync_every)?)
        .rotate(parse_interval("--rotate-every", &args.rotate_every)?);
    let settings = load_settings(&args.config)?;
    let audit = args
        .audit
        .parse::<AuditTarget>()
        .and_then(|target| target.open())
        .map_err(|e| Failure::usage(format!("--audit: {}", rds_pg_access::error_chain(&e))))?;
    let mut config = ServiceConfig::new(args.listen)
        .intervals(intervals)
        .audit(audit)
        .handle_signals(true);
    if let Some(api) = api {
        config = config.api(api);
    }
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::job(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(rds_pg_access_service::run(&settings, config))
        .map_err(|e| Failure::job_error(&e))?;
    Ok(ExitCode::SUCCESS)
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
