//! Connecting with a credential source and an SSL mode, libpq style.

use std::fmt;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tracing::Instrument;

use crate::tls::{Plan, RootCertificates, SslMode, TlsPolicy, started};
use crate::{AuthError, Credential, CredentialSource};

/// Default connect timeout (per attempt).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to connect: endpoint, database, SSL mode and root certificates.
///
/// Built with [`ConnectOptions::builder`]; validated once in [`ConnectOptionsBuilder::build`].
///
/// ```
/// use pg_auth::{ConnectOptions, SslMode};
/// let options = ConnectOptions::builder("db.example.com")
///     .port(5432)
///     .dbname("appdb")
///     .ssl_mode(SslMode::Require)
///     .build()?;
/// assert_eq!(options.port(), 5432);
/// // verify-full without a root certificate is refused, as libpq refuses it.
/// assert!(ConnectOptions::builder("db.example.com").ssl_mode(SslMode::VerifyFull).build().is_err());
/// # Ok::<(), pg_auth::AuthError>(())
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    host: String,
    port: u16,
    dbname: String,
    ssl_mode: SslMode,
    root_certs: Option<RootCertificates>,
    connect_timeout: Duration,
    application_name: Option<String>,
    policy: TlsPolicy,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("ssl_mode", &self.ssl_mode.as_str())
            .field("root_certs", &self.root_certs)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// Builder of [`ConnectOptions`].
#[derive(Debug, Clone)]
pub struct ConnectOptionsBuilder {
    host: String,
    port: u16,
    dbname: String,
    ssl_mode: SslMode,
    root_certs: Option<RootCertificates>,
    connect_timeout: Duration,
    application_name: Option<String>,
}

impl ConnectOptions {
    /// Starts options for `host` (DNS name or IP literal); defaults: port 5432, database
    /// `postgres`, `sslmode=prefer` (libpq's default), 10 s connect timeout.
    pub fn builder(host: impl Into<String>) -> ConnectOptionsBuilder {
        ConnectOptionsBuilder {
            host: host.into(),
            port: 5432,
            dbname: "postgres".to_owned(),
            ssl_mode: SslMode::Prefer,
            root_certs: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            application_name: None,
        }
    }

    /// Host.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Database name.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }
    /// SSL mode.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }
    /// Connect timeout per attempt.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

impl ConnectOptionsBuilder {
    /// Port (default 5432).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Database to connect to (default `postgres`).
    #[must_use]
    pub fn dbname(mut self, dbname: impl Into<String>) -> Self {
        self.dbname = dbname.into();
        self
    }
    /// SSL mode (default `prefer`).
    #[must_use]
    pub fn ssl_mode(mut self, mode: SslMode) -> Self {
        self.ssl_mode = mode;
        self
    }
    /// Trusted root certificates (libpq's `sslrootcert`). When given, the server chain is
    /// verified in every mode that uses TLS, as libpq does.
    #[must_use]
    pub fn root_certificates(mut self, roots: RootCertificates) -> Self {
        self.root_certs = Some(roots);
        self
    }
    /// Timeout of each connection attempt (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// `application_name` reported to the server.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Validates the options.
    pub fn build(self) -> Result<ConnectOptions, AuthError> {
        if self.host.is_empty() || self.host.contains(['/', ' ', '?', '#', '@']) {
            return Err(AuthError::InvalidConfig {
                field: "host",
                reason: format!("{:?} is not a host name or IP address", self.host),
            });
        }
        if self.port == 0 {
            return Err(AuthError::InvalidConfig {
                field: "port",
                reason: "port 0 is not a database port".into(),
            });
        }
        if self.dbname.is_empty() {
            return Err(AuthError::InvalidConfig {
                field: "dbname",
                reason: "the database name is empty".into(),
            });
        }
        if self.connect_timeout.is_zero() {
            return Err(AuthError::InvalidConfig {
                field: "connect_timeout",
                reason: "the connect timeout must be greater than zero".into(),
            });
        }
        let policy = TlsPolicy::new(
            self.ssl_mode,
            self.root_certs.as_ref(),
            &self.host,
            self.port,
        )?;
        Ok(ConnectOptions {
            host: self.host,
            port: self.port,
            dbname: self.dbname,
            ssl_mode: self.ssl_mode,
            root_certs: self.root_certs,
            connect_timeout: self.connect_timeout,
            application_name: self.application_name,
            policy,
        })
    }
}

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
/// ([`CredentialSource::on_auth_failure`]), the source is asked again and the connection is
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
            Err(e) if e.is_authentication_failure() && source.on_auth_failure().await => {
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
        .query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
             current_setting('server_version'), current_user::text",
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
    error: tokio_postgres::Error,
    tls_started: bool,
    required_tls: bool,
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
            Err(Some(failed)) if failed.error.as_db_error().is_some() => {
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
                        && (failed.error.as_db_error().is_some()
                            || is_tls_error(&failed.error)) =>
                {
                    tracing::debug!("TLS attempt failed; retrying without TLS (sslmode=prefer)");
                    attempt(options, credential, Attempt::Plain).await
                }
                other => other,
            }
        }
    };
    result.map_err(|failed| match failed {
        None => AuthError::Timeout {
            host: options.host.clone(),
            port: options.port,
            timeout: options.connect_timeout,
        },
        Some(failed) => classify(options, credential, failed),
    })
}

/// One physical attempt. `Err(None)` means the attempt timed out.
async fn attempt(
    options: &ConnectOptions,
    credential: &Credential,
    how: Attempt,
) -> Result<Connection, Option<Failed>> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&options.host)
        .port(options.port)
        .dbname(&options.dbname)
        .user(credential.user())
        .password(credential.password_bytes())
        .connect_timeout(options.connect_timeout);
    if let Some(name) = &options.application_name {
        config.application_name(name);
    }
    let run = async {
        match (how, options.policy.maker()) {
            (Attempt::Tls { required }, Some((maker, flag))) => {
                config.ssl_mode(if required {
                    tokio_postgres::config::SslMode::Require
                } else {
                    tokio_postgres::config::SslMode::Prefer
                });
                match config.connect(maker).await {
                    Ok((client, connection)) => {
                        let tls = started(&flag);
                        Ok((client, spawn_connection(connection), tls))
                    }
                    Err(error) => Err(Failed {
                        error,
                        tls_started: started(&flag),
                        required_tls: required,
                    }),
                }
            }
            _ => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, connection)) => Ok((client, spawn_connection(connection), false)),
                    Err(error) => Err(Failed {
                        error,
                        tls_started: false,
                        required_tls: false,
                    }),
                }
            }
        }
    };
    match tokio::time::timeout(options.connect_timeout, run).await {
        Ok(Ok((client, task, tls))) => Ok(Connection {
            client,
            task,
            tls,
            user: credential.user().to_owned(),
        }),
        Ok(Err(failed)) => Err(Some(failed)),
        Err(_elapsed) => Err(None),
    }
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
    let error = failed.error;
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
        let detail = std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_else(|| "TLS handshake failed".to_owned());
        return AuthError::Tls {
            host,
            port,
            detail,
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
        detail: error.to_string(),
        source: error,
    }
}
