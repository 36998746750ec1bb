//! The whole service in one call: an [`AccessManager`] per integration with the audit sink,
//! the [`Scheduler`], `/healthz` and `/metrics` on a loopback listener, shutdown on SIGTERM or
//! SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rds_pg_access::audit::{AppendFileSink, AuditError, AuditSink, StdoutSink};
use rds_pg_access::integration_model::Settings;
use rds_pg_access::{AccessError, AccessManager};

use crate::api::{Api, Callers};
use crate::scheduler::{CancellationToken, Intervals, Scheduler, SchedulerError};

/// The access API of the service ([`crate::api`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Who may call it.
    pub callers: Callers,
    /// A listener of its own; `None`: the API is served on the health listener, under `/v1/`.
    /// Without TLS it must be a loopback address.
    pub listen: Option<SocketAddr>,
    /// TLS on the API's own listener (then any address may be given), with mutual TLS when a
    /// client CA is set.
    pub tls: Option<crate::tls::TlsSettings>,
}

impl ApiConfig {
    /// The API for `callers`, on the health listener.
    pub fn new(callers: Callers) -> Self {
        Self {
            callers,
            listen: None,
            tls: None,
        }
    }

    /// Serves the API over TLS (on its own listener, [`ApiConfig::listen`]).
    #[must_use]
    pub fn tls(mut self, tls: crate::tls::TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Serves the API on a listener of its own.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }
}

/// Where audit records go, as a setting reads it: `stdout` (JSON lines) or a file path
/// (appended to).
///
/// ```
/// use rds_pg_access_service::AuditTarget;
/// assert_eq!("stdout".parse::<AuditTarget>()?, AuditTarget::Stdout);
/// assert!(matches!("/var/log/rdspg/audit.jsonl".parse::<AuditTarget>()?, AuditTarget::File(_)));
/// assert!("".parse::<AuditTarget>().is_err());
/// # Ok::<(), rds_pg_access_service::ServiceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditTarget {
    /// JSON lines on standard output.
    Stdout,
    /// JSON lines appended to this file.
    File(PathBuf),
}

impl FromStr for AuditTarget {
    type Err = ServiceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "" => Err(ServiceError::EmptyAuditTarget),
            "stdout" => Ok(AuditTarget::Stdout),
            path => Ok(AuditTarget::File(PathBuf::from(path))),
        }
    }
}

impl AuditTarget {
    /// Opens the sink (creates the file if needed).
    ///
    /// # Errors
    /// [`ServiceError::Audit`] when the file cannot be opened for appending.
    pub fn open(&self) -> Result<Arc<dyn AuditSink>, ServiceError> {
        Ok(match self {
            AuditTarget::Stdout => Arc::new(StdoutSink::new()),
            AuditTarget::File(path) => Arc::new(AppendFileSink::open(path)?),
        })
    }
}

/// How [`run`] runs the service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Where `/healthz` and `/metrics` listen: a loopback address (put a proxy in front to
    /// expose them).
    pub listen: SocketAddr,
    /// How often each job runs.
    pub intervals: Intervals,
    /// Where audit records go (default: standard output).
    pub audit: Arc<dyn AuditSink>,
    /// The shutdown signal.
    pub shutdown: CancellationToken,
    /// Whether [`run`] also cancels `shutdown` on SIGTERM or SIGINT (default `false`). A
    /// binary that is only this service turns it on (`rdspg serve` does); an application
    /// with its own signal handling leaves it off and cancels `shutdown` itself: tokio never
    /// gives a signal back to its default action once it has listened for it.
    pub handle_signals: bool,
    /// The access API, when it is served (default: not).
    pub api: Option<ApiConfig>,
}

impl ServiceConfig {
    /// Default intervals, audit on standard output, a new shutdown token.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            intervals: Intervals::default(),
            audit: Arc::new(StdoutSink::new()),
            shutdown: CancellationToken::new(),
            handle_signals: false,
            api: None,
        }
    }

    /// Serves the access API ([`crate::api`]).
    #[must_use]
    pub fn api(mut self, api: ApiConfig) -> Self {
        self.api = Some(api);
        self
    }

    /// Makes [`run`] stop on SIGTERM or SIGINT as well (see
    /// [`ServiceConfig::handle_signals`](ServiceConfig#structfield.handle_signals)).
    #[must_use]
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Sets the intervals.
    #[must_use]
    pub fn intervals(mut self, intervals: Intervals) -> Self {
        self.intervals = intervals;
        self
    }

    /// Sets the audit sink.
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Checks what can be checked before anything runs: the listen addresses are loopback.
    ///
    /// # Errors
    /// [`ServiceError::NotLoopback`], [`ServiceError::ApiNeedsTls`].
    pub fn validate(&self) -> Result<(), ServiceError> {
        if !self.listen.ip().is_loopback() {
            return Err(ServiceError::NotLoopback(self.listen));
        }
        if let Some(api) = &self.api {
            match (api.listen, &api.tls) {
                (None, Some(_)) => return Err(ServiceError::ApiTlsNeedsListener),
                (Some(addr), None) if !addr.ip().is_loopback() => {
                    return Err(ServiceError::ApiNeedsTls(addr));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Uses this shutdown token (e.g. a child of the application's own).
    #[must_use]
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }
}

/// Why the service did not start (once started, failures of jobs are reported in the state,
/// never here).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The listen address is not a loopback address.
    #[error(
        "listen address {0}: give a loopback address (127.0.0.1 or ::1); put a proxy in front \
         to expose it"
    )]
    NotLoopback(SocketAddr),
    /// The access API would listen off loopback without TLS.
    #[error(
        "API listen address {0}: without TLS the access API listens only on loopback (127.0.0.1 \
         or ::1), where bearer tokens do not cross a network; give it a certificate and key \
         (--api-tls-cert, --api-tls-key) to listen elsewhere"
    )]
    ApiNeedsTls(SocketAddr),
    /// TLS for the API without a listener of its own (the health listener stays plain).
    #[error("the access API's TLS needs a listener of its own: give its address (--api-listen)")]
    ApiTlsNeedsListener,
    /// The API's TLS material could not be used.
    #[error("the access API's TLS")]
    Tls(#[from] crate::tls::TlsError),
    /// An empty audit target.
    #[error("audit target is empty: give `stdout` or a file path")]
    EmptyAuditTarget,
    /// The audit sink could not be opened.
    #[error("cannot open the audit sink")]
    Audit(#[from] AuditError),
    /// An integration could not be set up (its settings, or loading the AWS configuration).
    #[error("integration {integration}: cannot set it up")]
    Integration {
        /// The integration.
        integration: String,
        /// Why.
        #[source]
        source: Box<AccessError>,
    },
    /// The schedule is not valid.
    #[error("the schedule is not valid")]
    Schedule(#[from] SchedulerError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the connector service for every integration of `settings` until `config.shutdown` is
/// cancelled (or SIGTERM or SIGINT with [`ServiceConfig::handle_signals`]), then waits for the
/// runs in flight to finish.
///
/// # Errors
/// [`ServiceError`] when it cannot start: a non-loopback address, an integration that
/// cannot be set up, a bad schedule, a port in use. Nothing has run then.
pub async fn run(settings: &Settings, config: ServiceConfig) -> Result<(), ServiceError> {
    config.validate()?;
    let shutdown = config.shutdown;
    // Handlers first: a signal while the integrations are being set up also stops cleanly.
    let signals = config
        .handle_signals
        .then(|| AbortOnDrop(tokio::spawn(shutdown_on_signals(shutdown.clone()))));
    let mut builder = Scheduler::builder()
        .intervals(config.intervals)
        .shutdown(shutdown.clone());
    let mut api = config
        .api
        .as_ref()
        .map(|a| Api::new(a.callers.clone()).audit(Arc::clone(&config.audit)));
    for integration in settings.integrations() {
        let manager = AccessManager::from_integration(integration.clone())
            .await
            .map_err(|source| ServiceError::Integration {
                integration: integration.name().to_string(),
                source: Box::new(source),
            })?
            .with_audit(Arc::clone(&config.audit));
        // The API and the scheduler share the manager, and so its pools.
        api = api.map(|a| a.integration(manager.clone()));
        builder = builder.integration(manager);
    }
    let scheduler = builder.build()?;
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServiceError::Listen { addr, source })
    };
    let tls = match config.api.as_ref().and_then(|a| a.tls.clone()) {
        Some(settings) => Some(Arc::new(crate::tls::ApiTls::new(settings)?)),
        None => None,
    };
    let listener = bind(config.listen).await?;
    let api = api.map(Arc::new);
    let api_listen = config.api.as_ref().and_then(|a| a.listen);
    match (&api, api_listen) {
        (Some(api), Some(addr)) => {
            let api_listener = bind(addr).await?;
            tokio::spawn(crate::http::serve(
                listener,
                scheduler.state(),
                shutdown.clone(),
            ));
            match tls {
                Some(tls) => {
                    tokio::spawn(Arc::clone(&tls).watch(shutdown.clone()));
                    tokio::spawn(crate::http::serve_tls(
                        api_listener,
                        scheduler.state(),
                        Arc::clone(api),
                        tls,
                        shutdown.clone(),
                    ));
                }
                None => {
                    tokio::spawn(crate::http::serve_with_api(
                        api_listener,
                        scheduler.state(),
                        Some(Arc::clone(api)),
                        shutdown.clone(),
                    ));
                }
            }
            tracing::info!(listen = %addr, "serving the access API");
        }
        (api, _) => {
            tokio::spawn(crate::http::serve_with_api(
                listener,
                scheduler.state(),
                api.clone(),
                shutdown.clone(),
            ));
        }
    }
    tracing::info!(listen = %config.listen, jobs = scheduler.jobs().count(), "serving");
    scheduler.run().await;
    if let Some(api) = &api {
        // Grants, extensions and revocations that calls started finish (or are undone).
        api.finish().await;
    }
    tracing::info!("stopped: every run in flight finished");
    drop(signals);
    Ok(())
}

/// Stops the signal task when [`run`] returns, by any path.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT (at once if the handlers cannot be
/// installed: a service that cannot be stopped cleanly does not start).
pub async fn shutdown_on_signals(shutdown: CancellationToken) {
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
