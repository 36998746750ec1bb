//! `rds-pg-access-service`: the connector of [`rds_pg_access`] as a long-running service, to
//! embed in a connector binary (`rdspg serve` is a thin caller of [`run`]).
//!
//! | module | what it holds |
//! |---|---|
//! | [`scheduler`] | every integration's sweep, sync and rotation on their intervals, with a [`ServiceState`] |
//! | [`health`] | the `/healthz` document ([`HealthDocument`]) |
//! | [`metrics`] | the state as OpenMetrics text ([`metrics::encode`]) |
//! | [`http`] | `/healthz`, `/metrics` and the access API over HTTP/1.1 ([`http::serve`], [`http::serve_with_api`]) |
//! | [`api`] | the access API: grant, inspect, extend, revoke, inventory, check for authenticated callers ([`api::Api`]) |
//! | [`tls`] | TLS for the access API (rustls), reloaded on SIGHUP and file change; mutual TLS |
//! | [`status`] | the status page at `/` (server-rendered HTML, no script) |
//! | [`service`] | the whole service in one call ([`run`], [`ServiceConfig`]), the audit target, shutdown on signals |
//!
//! Why a crate of its own and not a feature of the facade: the service is the only part of
//! the workspace that needs an HTTP server and a metrics encoder; a team that links only the
//! facade to grant and revoke from its own service does not compile them, and the dependency
//! runs one way (service → facade → crates), as `pgroles-operator` sits on `pgroles-core`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rds_pg_access::integration_model::Settings;
//! use rds_pg_access_service::{AuditTarget, ServiceConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::from_toml_str(&std::fs::read_to_string("connector.toml")?)?;
//! let config = ServiceConfig::new("127.0.0.1:9187".parse()?)
//!     .audit("stdout".parse::<AuditTarget>()?.open()?)
//!     .handle_signals(true);
//! // Runs until SIGTERM or SIGINT, then lets the runs in flight finish.
//! rds_pg_access_service::run(&settings, config).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod health;
pub mod http;
pub mod metrics;
pub mod scheduler;
pub mod service;
pub mod status;
pub mod tls;

pub use health::HealthDocument;
pub use scheduler::{CancellationToken, Intervals, JobKind, Scheduler, ServiceState};
pub use service::{ApiConfig, AuditTarget, ServiceConfig, ServiceError, run, shutdown_on_signals};

pub use rds_pg_access;
