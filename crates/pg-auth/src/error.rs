//! The one error type of this crate.

use std::time::Duration;

/// Everything that can go wrong while obtaining a credential or connecting.
///
/// Messages that describe a connection failure follow libpq's wording where libpq has one.
/// No variant ever carries a password, token or secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A configuration value is invalid; nothing was attempted.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The option or field at fault.
        field: &'static str,
        /// What is wrong with it and what is expected.
        reason: String,
    },

    /// An environment variable that should hold the password is not set or not Unicode.
    #[error(
        "environment variable {name} is not set or is not valid Unicode: set it to the password"
    )]
    EnvVarMissing {
        /// Name of the variable.
        name: String,
    },

    /// The AWS credential chain produced no credentials.
    #[error(
        "no AWS credentials for the IAM auth token: configure the standard AWS chain (env, profile, web identity, IMDS)"
    )]
    AwsCredentials(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// SigV4 signing of the IAM auth token failed.
    #[error("could not sign the IAM auth token for {host}:{port}")]
    Signing {
        /// Database host the token was for.
        host: String,
        /// Database port the token was for.
        port: u16,
        /// The signer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Reading a secret from AWS Secrets Manager failed.
    #[error("could not read secret {secret_id} (stage {version_stage}) from AWS Secrets Manager")]
    SecretsManager {
        /// Name or ARN of the secret.
        secret_id: String,
        /// Version stage asked for.
        version_stage: String,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A Secrets Manager call of a password rotation failed (nothing after it was attempted;
    /// running the rotation again resumes from the secret's stages).
    #[error("AWS Secrets Manager {operation} on secret {secret_id} failed")]
    SecretRotation {
        /// Name or ARN of the secret.
        secret_id: String,
        /// The API call (`DescribeSecret`, `PutSecretValue`, ...).
        operation: &'static str,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The secret exists but cannot be used as a credential.
    #[error("secret {secret_id} is not usable: {reason}")]
    SecretFormat {
        /// Name or ARN of the secret.
        secret_id: String,
        /// What is missing or malformed (never the value itself).
        reason: String,
    },

    /// The root certificate bundle could not be read or parsed.
    #[error("could not load root certificate {origin}: {reason}")]
    RootCert {
        /// Where the certificate came from (a path or "in-memory PEM").
        origin: String,
        /// What is wrong with it (without the text of `source`).
        reason: String,
        /// The I/O or certificate parser error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// `verify-ca` / `verify-full` without a root certificate (libpq refuses the same way).
    #[error(
        "root certificate file is not given: sslmode={mode} requires one; either provide a CA bundle (ssl_root_cert) or change sslmode to disable server certificate verification"
    )]
    RootCertMissing {
        /// The SSL mode that needed it.
        mode: String,
    },

    /// The server answered `N` to the SSLRequest but the mode requires TLS.
    #[error("server does not support SSL, but SSL was required")]
    TlsNotSupported,

    /// TLS setup or handshake failed (for example certificate verification); the TLS library's
    /// reason is the [`source`](std::error::Error::source).
    #[error("SSL connection to {host}:{port} failed: {detail}")]
    Tls {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// What was being done (not the text of `source`).
        detail: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The server rejected the credential (wrong password, expired token).
    #[error("password authentication failed for user \"{user}\" on {host}:{port}")]
    AuthenticationFailed {
        /// User that tried to log in.
        user: String,
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The server asked for the password in a form that reveals it (cleartext, as RDS IAM
    /// tokens are sent, or MD5) while its identity was not verified; nothing was sent.
    #[error(
        "refused to send the credential of \"{user}\" to {host}:{port}: the server asked for a {method}, which reveals it to whoever answers at that address, and sslmode={ssl_mode} did not verify the server's certificate{}; use ssl_mode \"verify-full\" with the RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) as ssl_root_cert, or scram-sha-256 authentication on the server (allow_unverified_password exists for lab setups only)",
        if *tls { "" } else { " (the session was not even encrypted)" }
    )]
    UnverifiedServer {
        /// User that would have logged in.
        user: String,
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// The revealing method the server asked for (`cleartext password`, `MD5 password`).
        method: &'static str,
        /// The SSL mode in use.
        ssl_mode: String,
        /// Whether the session was encrypted (TLS without a verified chain).
        tls: bool,
    },

    /// The server refused the connection for another reason (pg_hba, database missing, ...);
    /// the server's error (severity, SQLSTATE, message) is the
    /// [`source`](std::error::Error::source).
    #[error(
        "connection to server at {host}:{port} failed: the server refused the connection; its \
         reason follows (check pg_hba.conf, the database name and the user's CONNECT privilege)"
    )]
    Rejected {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// The server's message as libpq prints it (`FATAL:  ...`, never a secret); the same
        /// text is in `source`, so the error's `Display` does not repeat it.
        message: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Network or protocol failure while connecting or querying; the socket or protocol error
    /// is the [`source`](std::error::Error::source).
    #[error("connection to server at {host}:{port} failed: {detail}")]
    Connect {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// What was being done (not the text of `source`).
        detail: String,
        /// The underlying error (socket or protocol).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Connecting took longer than the configured connect timeout.
    #[error("connection to server at {host}:{port} timed out after {timeout:?}")]
    Timeout {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// The configured timeout.
        timeout: Duration,
    },

    /// The server accepts only read-only sessions (a hot standby, an Aurora reader, or
    /// `default_transaction_read_only = on`) while the connection must write
    /// ([`TargetSessionAttrs::ReadWrite`](crate::TargetSessionAttrs)); the connection was
    /// closed before anything was sent on it. After a failover the writer's endpoint points
    /// at another server within seconds: retrying finds it.
    #[error(
        "server at {host}:{port} is read-only ({reason}): it is a standby or reader, not the \
         writer (a failover may be in progress: retry, or point the integration at the writer \
         or cluster endpoint)"
    )]
    ReadOnlyServer {
        /// Host connected to.
        host: String,
        /// Port connected to.
        port: u16,
        /// What said so (`in_hot_standby = on`, `default_transaction_read_only = on`,
        /// `transaction_read_only = on`).
        reason: &'static str,
    },

    /// The pool did not try to connect: its last attempts found the server unreachable or not
    /// accepting connections, and it is backing off (see
    /// [`ConnectBackoff`](crate::ConnectBackoff)). Nothing was sent.
    #[error(
        "connection to server at {host}:{port} not attempted: the last {failures} attempt(s) \
         failed ({last}); the pool tries again in {retry_in:?}"
    )]
    Backoff {
        /// Host the pool connects to.
        host: String,
        /// Port the pool connects to.
        port: u16,
        /// Consecutive failed attempts.
        failures: u32,
        /// How long until the pool tries again.
        retry_in: Duration,
        /// The last failure's message.
        last: String,
    },

    /// A query on an established connection failed.
    #[error("query failed: {context}")]
    Query {
        /// What was being done.
        context: &'static str,
        /// The server or client error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The pool could not hand out a connection.
    #[error("connection pool: {detail}")]
    Pool {
        /// What went wrong.
        detail: String,
        /// The error of the connection attempt, if any.
        #[source]
        source: Option<Box<AuthError>>,
    },
}

impl AuthError {
    /// True when the server rejected the credential itself, so that a fresh one may succeed.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, Self::AuthenticationFailed { .. })
    }

    /// True when the connection reached a read-only server ([`AuthError::ReadOnlyServer`], or
    /// a query refused with SQLSTATE 25006): the writer is elsewhere now.
    pub fn is_read_only_server(&self) -> bool {
        is_read_only_failure(self)
    }
}

/// Whether `error`, or any error in its [`source`](std::error::Error::source) chain, says the
/// server was read-only: [`AuthError::ReadOnlyServer`] (found at connect or when a pooled
/// connection was checked), or a statement refused with SQLSTATE 25006
/// (`read_only_sql_transaction`: a write in a read-only transaction, as on a standby after a
/// failover). Such a statement changed nothing (PostgreSQL refuses it before it runs, and
/// the transaction it was in is rolled back), so the operation may be retried on the writer.
///
/// ```
/// use pg_auth::{AuthError, is_read_only_failure};
/// let error = AuthError::ReadOnlyServer {
///     host: "db".into(),
///     port: 5432,
///     reason: "in_hot_standby = on",
/// };
/// assert!(is_read_only_failure(&error));
/// let other = AuthError::TlsNotSupported;
/// assert!(!is_read_only_failure(&other));
/// ```
pub fn is_read_only_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        // A boxed `AuthError` (the pool's source) is its own type to `downcast_ref`.
        let auth = e
            .downcast_ref::<AuthError>()
            .or_else(|| e.downcast_ref::<Box<AuthError>>().map(AsRef::as_ref));
        if matches!(auth, Some(AuthError::ReadOnlyServer { .. })) {
            return true;
        }
        if e.downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::code)
            == Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
        {
            return true;
        }
        current = e.source();
    }
    false
}
