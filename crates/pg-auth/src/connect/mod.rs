//! Connecting with a credential source and an SSL mode, libpq style.

use std::fmt;

use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tracing::Instrument;

use crate::guard::{Guarded, refusal_of};
use crate::tls::{Plan, started};
use crate::{AuthError, Credential, CredentialSource};

mod options;

pub use options::{
    ConnectOptions, ConnectOptionsBuilder, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT,
    SESSION_SEARCH_PATH, TargetSessionAttrs,
};

/// An open connection: the tokio-postgres client (its connection task runs in the background)
/// and whether the session is encrypted.
pub struct Connection {
    client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
    tls: bool,
    user: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("user", &self.user)
            .field("tls", &self.tls)
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

impl Connection {
    /// The client, for queries.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
    /// Gives up the wrapper and keeps the client.
    pub fn into_client(self) -> tokio_postgres::Client {
        self.client
    }
    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
    pub(crate) fn into_parts(self) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
        (self.client, self.task)
    }
    /// The user logged in as.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// What [`ping`] found out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingReport {
    /// Whether the server reports the session as encrypted (`pg_stat_ssl.ssl`).
    pub tls: bool,
    /// The server's `server_version`.
    pub server_version: String,
    /// `current_user` of the session.
    pub user: String,
}

/// Connects once with a credential from `source`, following the SSL mode.
///
/// When the server rejects the credential and the source says a fresh one may differ
/// ([`CredentialSource::on_rejected`]), the source is asked again and the connection is
/// retried once, so a rotated secret is picked up.
pub async fn connect(
    options: &ConnectOptions,
    source: &dyn CredentialSource,
) -> Result<Connection, AuthError> {
    let span = tracing::info_span!(
        "pg.connect",
        host = %options.host,
        port = options.port,
        dbname = %options.dbname,
        sslmode = options.ssl_mode.as_str()
    );
    async {
        let credential = source.credential().await?;
        let result = match connect_with(options, &credential).await {
            Err(e) if e.is_authentication_failure() && source.on_rejected(&credential).await => {
                tracing::info!(user = %credential.user(), "credential rejected; asking the source again");
                let credential = source.credential().await?;
                connect_with(options, &credential).await
            }
            other => other,
        };
        match &result {
            Ok(connection) => {
                tracing::debug!(user = %connection.user(), tls = connection.is_tls(), "connected");
            }
            Err(error) => tracing::debug!(%error, "connection failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// Connects and reports whether TLS is in use and the server version (for `rdspg ping`).
pub async fn ping(
    options: &ConnectOptions,
    source: &dyn CredentialSource,
) -> Result<PingReport, AuthError> {
    let connection = connect(options, source).await?;
    let row = connection
        .client
        // Typed (no parameters): one round trip, no separate prepare.
        .query_typed_one(
            "SELECT COALESCE((SELECT s.ssl FROM pg_catalog.pg_stat_ssl s \
                               WHERE s.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), false), \
             pg_catalog.current_setting('server_version'), CURRENT_USER::pg_catalog.text",
            &[],
        )
        .await
        .map_err(|source| AuthError::Query {
            context: "reading pg_stat_ssl and server_version",
            source,
        })?;
    let tls: bool = row.try_get(0).map_err(|source| AuthError::Query {
        context: "reading pg_stat_ssl.ssl",
        source,
    })?;
    let server_version: String = row.try_get(1).map_err(|source| AuthError::Query {
        context: "reading server_version",
        source,
    })?;
    let user: String = row.try_get(2).map_err(|source| AuthError::Query {
        context: "reading current_user",
        source,
    })?;
    Ok(PingReport {
        tls,
        server_version,
        user,
    })
}

/// One attempt's result: the error and whether the TLS handshake had started.
struct Failed {
    error: AttemptError,
    tls_started: bool,
    required_tls: bool,
}

/// What failed in one attempt: opening the socket, or the protocol on it.
enum AttemptError {
    Socket(std::io::Error),
    Postgres(tokio_postgres::Error),
}

impl AttemptError {
    fn is_db_error(&self) -> bool {
        matches!(self, Self::Postgres(e) if e.as_db_error().is_some())
    }
    fn is_tls_error(&self) -> bool {
        matches!(self, Self::Postgres(e) if is_tls_error(e))
    }
}

enum Attempt {
    Plain,
    /// TLS; `required`: an `N` answer is an error rather than a plaintext session.
    Tls {
        required: bool,
    },
}

/// Runs the libpq attempt sequence of the SSL mode with one credential.
pub(crate) async fn connect_with(
    options: &ConnectOptions,
    credential: &Credential,
) -> Result<Connection, AuthError> {
    let result = match options.policy.plan {
        Plan::Plain => attempt(options, credential, Attempt::Plain).await,
        Plan::TlsOnly => attempt(options, credential, Attempt::Tls { required: true }).await,
        Plan::PlainThenTls => match attempt(options, credential, Attempt::Plain).await {
            // libpq (allow): any ErrorResponse during startup → retry with SSL.
            Err(Some(failed)) if failed.error.is_db_error() => {
                tracing::debug!("plaintext attempt rejected; retrying with TLS (sslmode=allow)");
                attempt(options, credential, Attempt::Tls { required: false }).await
            }
            other => other,
        },
        Plan::TlsThenPlain => {
            match attempt(options, credential, Attempt::Tls { required: false }).await {
                // libpq (prefer): a failed handshake or an ErrorResponse over SSL → retry without.
                Err(Some(failed))
                    if failed.tls_started
                        && (failed.error.is_db_error() || failed.error.is_tls_error()) =>
                {
                    tracing::debug!("TLS attempt failed; retrying without TLS (sslmode=prefer)");
                    attempt(options, credential, Attempt::Plain).await
                }
                other => other,
            }
        }
    };
    let (connection, writable) = result.map_err(|failed| match failed {
        None => AuthError::Timeout {
            host: options.host.clone(),
            port: options.port,
            timeout: options.connect_timeout,
        },
        Some(failed) => classify(options, credential, failed),
    })?;
    if options.target_session_attrs == TargetSessionAttrs::ReadWrite {
        let read_only = match writable {
            Writable::Yes => None,
            Writable::No(reason) => Some(reason),
            Writable::Unknown => read_only_by_query(options, &connection).await?,
        };
        if let Some(reason) = read_only {
            // Dropping the connection closes it: nothing is sent to a read-only server.
            tracing::warn!(
                host = %options.host,
                port = options.port,
                reason,
                "connected to a read-only server (standby or reader: failover?); closing it"
            );
            return Err(AuthError::ReadOnlyServer {
                host: options.host.clone(),
                port: options.port,
                reason,
            });
        }
    }
    Ok(connection)
}

/// Whether a server accepts writes, from what it reported at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writable {
    Yes,
    /// Read-only, and which parameter says so.
    No(&'static str),
    /// The server does not report `in_hot_standby` (PostgreSQL 13 and older).
    Unknown,
}

impl Writable {
    /// libpq's decision for `target_session_attrs=read-write` on PostgreSQL 14+: both
    /// `in_hot_standby` and `default_transaction_read_only` are `GUC_REPORT` parameters, sent
    /// with the startup answer, so the check costs no round trip.
    fn reported<'a>(parameter: impl Fn(&str) -> Option<&'a str>) -> Self {
        let Some(hot) = parameter("in_hot_standby") else {
            return Self::Unknown;
        };
        if hot == "on" {
            return Self::No("in_hot_standby = on");
        }
        if parameter("default_transaction_read_only") == Some("on") {
            return Self::No("default_transaction_read_only = on");
        }
        Self::Yes
    }
}

/// libpq's fallback for servers that do not report `in_hot_standby`: one query.
async fn read_only_by_query(
    options: &ConnectOptions,
    connection: &Connection,
) -> Result<Option<&'static str>, AuthError> {
    let messages = connection
        .client
        .simple_query("SHOW transaction_read_only")
        .await
        .map_err(|source| AuthError::Query {
            context: "SHOW transaction_read_only (is the server a writer?)",
            source,
        })?;
    let value = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    match value {
        Some("off") => Ok(None),
        Some(_) => Ok(Some("transaction_read_only = on")),
        None => Err(AuthError::Connect {
            host: options.host.clone(),
            port: options.port,
            detail: "SHOW transaction_read_only returned no row".to_owned(),
            source: Box::new(std::io::Error::other("no row")),
        }),
    }
}

/// One physical attempt. `Err(None)` means the attempt timed out.
///
/// The socket is opened here and handed to tokio-postgres (`connect_raw`) wrapped in a
/// [`Guarded`] stream, so that the server's authentication request is read before
/// tokio-postgres answers it, on the plaintext socket and inside TLS alike.
async fn attempt(
    options: &ConnectOptions,
    credential: &Credential,
    how: Attempt,
) -> Result<(Connection, Writable), Option<Failed>> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&options.host)
        .port(options.port)
        .dbname(&options.dbname)
        .user(credential.user())
        .password(credential.password_bytes())
        .options(options.session.startup_options())
        // SCRAM-SHA-256-PLUS (bound to the TLS session) whenever the server offers it and the
        // TLS stream has tls-server-end-point data; plain SCRAM otherwise.
        .channel_binding(tokio_postgres::config::ChannelBinding::Prefer)
        .connect_timeout(options.connect_timeout);
    if let Some(name) = &options.application_name {
        config.application_name(name);
    }
    let allow = options.allow_unverified_password;
    let run = async {
        let socket = open_socket(&options.host, options.port)
            .await
            .map_err(|e| Failed {
                error: AttemptError::Socket(e),
                tls_started: false,
                required_tls: false,
            })?;
        match (how, options.policy.maker(allow)) {
            (Attempt::Tls { required }, Some((mut maker, flag))) => {
                config.ssl_mode(if required {
                    tokio_postgres::config::SslMode::Require
                } else {
                    tokio_postgres::config::SslMode::Prefer
                });
                let failed = |error| Failed {
                    error: AttemptError::Postgres(error),
                    tls_started: started(&flag),
                    required_tls: required,
                };
                // Before the server's answer to the SSLRequest: on 'S' the TLS layer is
                // guarded by the maker, on 'N' this guard reads the plaintext protocol.
                let socket = Guarded::after_ssl_request(socket, allow);
                let tls = MakeTlsConnect::<Guarded<TcpStream>>::make_tls_connect(
                    &mut maker,
                    &options.host,
                )
                .map_err(|e| Failed {
                    error: AttemptError::Socket(std::io::Error::other(e)),
                    tls_started: false,
                    required_tls: required,
                })?;
                match config.connect_raw(socket, tls).await {
                    Ok((client, connection)) => {
                        let tls = started(&flag);
                        let writable = Writable::reported(|name| connection.parameter(name));
                        Ok((client, spawn_connection(connection), tls, writable))
                    }
                    Err(error) => Err(failed(error)),
                }
            }
            _ => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                match config
                    .connect_raw(Guarded::new(socket, allow), tokio_postgres::NoTls)
                    .await
                {
                    Ok((client, connection)) => {
                        let writable = Writable::reported(|name| connection.parameter(name));
                        Ok((client, spawn_connection(connection), false, writable))
                    }
                    Err(error) => Err(Failed {
                        error: AttemptError::Postgres(error),
                        tls_started: false,
                        required_tls: false,
                    }),
                }
            }
        }
    };
    match tokio::time::timeout(options.connect_timeout, run).await {
        Ok(Ok((client, task, tls, writable))) => Ok((
            Connection {
                client,
                task,
                tls,
                user: credential.user().to_owned(),
            },
            writable,
        )),
        Ok(Err(failed)) => Err(Some(failed)),
        Err(_elapsed) => Err(None),
    }
}

/// Opens a TCP connection to the first address of `host` that answers (as libpq tries every
/// address), with `TCP_NODELAY` and keepalives as tokio-postgres sets them.
async fn open_socket(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for address in tokio::net::lookup_host((host, port)).await? {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_keepalive(true)?;
        match socket.connect(address).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("could not translate host name \"{host}\" to address"),
        )
    }))
}

fn spawn_connection<F>(connection: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended with an error");
        }
    })
}

fn is_tls_error(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        if s.downcast_ref::<native_tls::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

fn classify(options: &ConnectOptions, credential: &Credential, failed: Failed) -> AuthError {
    let host = options.host.clone();
    let port = options.port;
    let error = match failed.error {
        AttemptError::Socket(error) => {
            return AuthError::Connect {
                host,
                port,
                detail: "could not open a TCP connection".to_owned(),
                source: Box::new(error),
            };
        }
        AttemptError::Postgres(error) => error,
    };
    if let Some(method) = refusal_of(&error) {
        return AuthError::UnverifiedServer {
            user: credential.user().to_owned(),
            host,
            port,
            method: method.as_str(),
            ssl_mode: options.ssl_mode.as_str().to_owned(),
            tls: failed.tls_started,
        };
    }
    if let Some(db) = error.as_db_error() {
        let auth_failed = *db.code() == SqlState::INVALID_PASSWORD
            || (*db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                && db.message().contains("authentication failed"));
        if auth_failed {
            return AuthError::AuthenticationFailed {
                user: credential.user().to_owned(),
                host,
                port,
                source: error,
            };
        }
        let message = format!("{}:  {}", db.severity(), db.message());
        return AuthError::Rejected {
            host,
            port,
            message,
            source: error,
        };
    }
    if is_tls_error(&error) {
        return AuthError::Tls {
            host,
            port,
            detail: "the TLS handshake failed (certificate or protocol)".to_owned(),
            source: Box::new(error),
        };
    }
    if failed.required_tls
        && !failed.tls_started
        && error
            .to_string()
            .starts_with("error performing TLS handshake")
    {
        // tokio-postgres reports the server's 'N' to the SSLRequest this way.
        return AuthError::TlsNotSupported;
    }
    AuthError::Connect {
        host,
        port,
        detail: "network or protocol error".to_owned(),
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::options::escape_option;
    use super::*;

    #[test]
    fn startup_options_pin_search_path_and_timeouts() {
        let options = ConnectOptions::builder("db.example.com")
            .lock_timeout(Duration::from_millis(1500))
            .build()
            .expect("options");
        assert_eq!(
            options.session.startup_options(),
            "-c search_path=pg_catalog,pg_temp -c role=none -c standard_conforming_strings=on \
             -c lock_timeout=1500 \
             -c statement_timeout=300000 -c idle_in_transaction_session_timeout=60000"
        );
    }

    #[test]
    fn option_words_escape_white_space_and_backslashes() {
        // libpq docs, "options": spaces within a value are escaped with a backslash, and a
        // literal backslash is written as two.
        assert_eq!(escape_option("a b\\c\td"), "a\\ b\\\\c\\\td");
    }

    #[test]
    fn timeouts_are_validated() {
        for (name, builder) in [
            (
                "lock_timeout",
                ConnectOptions::builder("h").lock_timeout(Duration::ZERO),
            ),
            (
                "statement_timeout",
                ConnectOptions::builder("h").statement_timeout(Duration::from_secs(u64::MAX)),
            ),
            (
                "idle_in_transaction_timeout",
                ConnectOptions::builder("h").idle_in_transaction_timeout(Duration::from_micros(10)),
            ),
        ] {
            match builder.build() {
                Err(AuthError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
