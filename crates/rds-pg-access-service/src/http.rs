//! `/healthz` and `/metrics` over HTTP/1.1 (hyper), until a shutdown signal.
//!
//! | path | answer |
//! |---|---|
//! | `/healthz` | 200 with `{"status":"ok",...}` or 503 with `{"status":"failing","problems":[...]}` ([`HealthDocument`]) |
//! | `/metrics` | 200 with OpenMetrics text ([`metrics::encode`]) |
//! | anything else | 404 |
//!
//! A client gets [`HEADER_TIMEOUT`] to send its request head, so a connection that opens and
//! says nothing does not hold a task for ever.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::health::HealthDocument;
use crate::metrics;
use crate::scheduler::{CancellationToken, ServiceState};

/// How long a client has to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown` is cancelled.
///
/// ```no_run
/// # async fn demo(state: std::sync::Arc<rds_pg_access_service::ServiceState>) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9187").await?;
/// let shutdown = rds_pg_access_service::CancellationToken::new();
/// tokio::spawn(rds_pg_access_service::http::serve(listener, state, shutdown.clone()));
/// # Ok(()) }
/// ```
pub async fn serve(listener: TcpListener, state: Arc<ServiceState>, shutdown: CancellationToken) {
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
                let response = respond(request.uri().path(), &state, SystemTime::now());
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
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

/// The answer to a request for `path` at `now`.
pub fn respond(path: &str, state: &ServiceState, now: SystemTime) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => {
            let doc = HealthDocument::from(&state.health(now));
            let status = if doc.is_healthy() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            match serde_json::to_string(&doc) {
                Ok(body) => response(status, "application/json", body),
                Err(e) => response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("encoding health: {e}\n"),
                ),
            }
        }
        "/metrics" => match metrics::encode(state) {
            Ok(text) => response(StatusCode::OK, metrics::CONTENT_TYPE, text),
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
