//! `/healthz`, `/metrics` and the access API over HTTP/1.1 (hyper), until a shutdown signal.
//!
//! | path | answer |
//! |---|---|
//! | `/healthz` | 200 with `{"status":"ok",...}` or 503 with `{"status":"failing","problems":[...]}` ([`HealthDocument`]) |
//! | `/metrics` | 200 with OpenMetrics text ([`metrics::encode`]) |
//! | `/` | the status page ([`crate::status`]): from loopback, or with a token |
//! | `/v1/...` | the access API ([`crate::api`]), when served ([`serve_with_api`], [`serve_tls`]) |
//! | anything else | 404 |
//!
//! A client gets [`HEADER_TIMEOUT`] to send its request head, so a connection that opens and
//! says nothing does not hold a task for ever.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::api::{Api, ApiBody, ClientCertificate};
use crate::health::HealthDocument;
use crate::metrics;
use crate::scheduler::{CancellationToken, ServiceState};
use crate::tls::ApiTls;

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
    serve_with_api(listener, state, None, shutdown).await;
}

/// As [`serve`], and the access API under `/v1/` when `api` is given. Stops accepting when
/// `shutdown` is cancelled; calls in flight go on ([`Api::finish`] waits for the operations
/// they started).
///
/// ```no_run
/// # async fn demo(
/// #     state: std::sync::Arc<rds_pg_access_service::ServiceState>,
/// #     api: std::sync::Arc<rds_pg_access_service::api::Api>,
/// # ) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9188").await?;
/// let shutdown = rds_pg_access_service::CancellationToken::new();
/// tokio::spawn(rds_pg_access_service::http::serve_with_api(
///     listener, state, Some(api), shutdown.clone(),
/// ));
/// # Ok(()) }
/// ```
pub async fn serve_with_api(
    listener: TcpListener,
    state: Arc<ServiceState>,
    api: Option<Arc<Api>>,
    shutdown: CancellationToken,
) {
    accept_loop(listener, state, api, None, shutdown).await;
}

/// As [`serve_with_api`] over TLS ([`ApiTls`]): each connection's handshake within
/// [`HANDSHAKE_TIMEOUT`](crate::tls::HANDSHAKE_TIMEOUT), and the names of a verified client
/// certificate handed to the API as [`ClientCertificate`] (mutual TLS callers).
pub async fn serve_tls(
    listener: TcpListener,
    state: Arc<ServiceState>,
    api: Arc<Api>,
    tls: Arc<ApiTls>,
    shutdown: CancellationToken,
) {
    accept_loop(listener, state, Some(api), Some(tls), shutdown).await;
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServiceState>,
    api: Option<Arc<Api>>,
    tls: Option<Arc<ApiTls>>,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an HTTP connection");
                    continue;
                }
            },
        };
        let state = Arc::clone(&state);
        let api = api.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return serve_connection(stream, peer, None, state, api, true).await;
            };
            let handshake = tls.acceptor().accept(stream);
            let stream = match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, handshake).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| ClientCertificate {
                    names: Arc::new(crate::tls::certificate_names(leaf.as_ref())),
                });
            // The TLS listener faces the network: the API and the status page only, not the
            // health and metrics documents (their errors name instances and roles).
            serve_connection(stream, peer, certificate, state, api, false).await;
        });
    }
}

async fn serve_connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    certificate: Option<ClientCertificate>,
    state: Arc<ServiceState>,
    api: Option<Arc<Api>>,
    health: bool,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let api = api.clone();
        let certificate = certificate.clone();
        async move {
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            let path = request.uri().path();
            let response: Response<ApiBody> = match api {
                Some(api) if path.starts_with("/v1/") => api.handle(request).await,
                api if path == "/" => status_page(&state, api.as_deref(), peer, &request).await,
                _ if health => respond(path, &state, SystemTime::now()).map(BodyExt::boxed),
                _ => response(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "not found: this listener serves / and /v1/\n".to_owned(),
                )
                .map(BodyExt::boxed),
            };
            Ok::<_, Infallible>(response)
        }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(error = %e, "HTTP connection ended");
    }
}

/// The status page for a client at `peer`: from loopback, or with the token of a caller with
/// the `status` action (who sees its integrations only).
async fn status_page(
    state: &ServiceState,
    api: Option<&Api>,
    peer: std::net::SocketAddr,
    request: &Request<Incoming>,
) -> Response<ApiBody> {
    use hyper::header::{self, HeaderValue};
    let certificate = request.extensions().get::<ClientCertificate>();
    let caller = api.and_then(|api| api.status_caller(request.headers(), certificate));
    let visible: Box<dyn Fn(&str) -> bool + Send + Sync> = match caller {
        _ if peer.ip().is_loopback() => Box::new(|_| true),
        Some(caller) => Box::new(move |integration| caller.may_use(integration)),
        None => {
            let mut answer = response(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "the status page is readable from loopback, or with the bearer token of a caller \
                 with the status action\n"
                    .to_owned(),
            );
            answer.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rdspg\""),
            );
            return answer.map(BodyExt::boxed);
        }
    };
    // A caller limited to some access flows sees only the users those flows cover.
    let scoped = caller.filter(|_| !peer.ip().is_loopback());
    let visible_user = |manager: &rds_pg_access::AccessManager,
                        user: &rds_pg_access::UserStatus| {
        scoped.is_none_or(|caller| crate::api::covers_user(caller, manager, user))
    };
    let html = crate::status::render(
        state,
        api,
        SystemTime::now(),
        visible.as_ref(),
        &visible_user,
    )
    .await;
    let mut answer = response(StatusCode::OK, "text/html; charset=utf-8", html);
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::status::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer.map(BodyExt::boxed)
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
            "not found: try /, /healthz or /metrics\n".to_owned(),
        ),
    }
}
