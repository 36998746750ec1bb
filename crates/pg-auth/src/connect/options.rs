//! [`ConnectOptions`]: where and how to connect (host, database, SSL mode and roots, timeouts,
//! the session settings sent as startup options), validated by its builder.

use std::fmt;
use std::time::Duration;

use crate::AuthError;
use crate::tls::{RootCertificates, SslMode, TlsPolicy};

/// Default connect timeout (per attempt).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `lock_timeout` of every session: how long one statement waits for a lock (a table
/// lock an application holds, a catalog row, an advisory lock of another run) before it fails
/// with SQLSTATE `55P03`. Ten seconds: a grant or revoke normally needs its locks at once, and a
/// failed statement is retried by the next run rather than hanging behind a user's transaction.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `statement_timeout` of every session: five minutes, enough for the inventory of a
/// database with hundreds of thousands of objects, small enough that nothing hangs for good.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Default `idle_in_transaction_session_timeout`: a session left inside a transaction (a
/// cancelled future) is ended by the server after one minute, releasing its locks.
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The `search_path` every session starts with: only the system catalog and the session's
/// own temporary schema (last, so that it never shadows a catalog object). A function planted
/// in any other schema never resolves for an unqualified call.
pub const SESSION_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// PostgreSQL's largest value of a millisecond setting (`int` GUC).
const MAX_SETTING_MS: u128 = i32::MAX as u128;

/// Which servers a connection accepts, as libpq's `target_session_attrs`.
///
/// The default here is [`ReadWrite`](Self::ReadWrite), not libpq's `any`: the connector's
/// work is writes (roles, grants, passwords) and advisory locks, which a standby refuses
/// half-way with SQLSTATE 25006; refusing the server at connect says at once what happened
/// ([`AuthError::ReadOnlyServer`]) and sends nothing to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TargetSessionAttrs {
    /// Any server, writer or standby.
    Any,
    /// Only a server that accepts writes. Decided as libpq decides it: from the
    /// `in_hot_standby` and `default_transaction_read_only` parameters the server reports at
    /// startup (PostgreSQL 14 and later, no extra round trip), otherwise by
    /// `SHOW transaction_read_only` (13).
    ///
    /// ```
    /// use pg_auth::{ConnectOptions, TargetSessionAttrs};
    /// let writer = ConnectOptions::builder("db.example.com").build()?;
    /// assert_eq!(writer.target_session_attrs(), TargetSessionAttrs::ReadWrite);
    /// let reader = ConnectOptions::builder("reader.example.com")
    ///     .target_session_attrs(TargetSessionAttrs::Any)
    ///     .build()?;
    /// assert_eq!(reader.target_session_attrs().as_str(), "any");
    /// # Ok::<(), pg_auth::AuthError>(())
    /// ```
    #[default]
    ReadWrite,
}

impl TargetSessionAttrs {
    /// libpq's spelling (`any`, `read-write`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::ReadWrite => "read-write",
        }
    }
}

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
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) dbname: String,
    pub(super) ssl_mode: SslMode,
    pub(super) root_certs: Option<RootCertificates>,
    pub(super) connect_timeout: Duration,
    pub(super) application_name: Option<String>,
    pub(super) session: SessionSettings,
    pub(super) allow_unverified_password: bool,
    pub(super) target_session_attrs: TargetSessionAttrs,
    pub(super) policy: TlsPolicy,
}

/// Settings sent as startup options, in force from the first statement of every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionSettings {
    pub(super) lock_timeout: Duration,
    pub(super) statement_timeout: Duration,
    pub(super) idle_in_transaction_timeout: Duration,
}

impl SessionSettings {
    /// The libpq `options` startup parameter: `-c name=value` pairs. Settings sent this way
    /// take precedence over `ALTER ROLE … SET` and `ALTER DATABASE … SET` (source "client"
    /// outranks "database", "user" and "database/user" in PostgreSQL's GUC priority), so a
    /// hostile database owner cannot change them for our sessions.
    pub(super) fn startup_options(&self) -> String {
        let pairs = [
            ("search_path", SESSION_SEARCH_PATH.replace(' ', "")),
            // `ALTER DATABASE … SET role = …` by a database owner would otherwise make the
            // session act as another role (one the connector is a member of).
            ("role", "none".to_owned()),
            // Backslashes in string literals are literal (the quoting module relies on it);
            // `ALTER DATABASE … SET standard_conforming_strings = off` must not change that.
            ("standard_conforming_strings", "on".to_owned()),
            ("lock_timeout", millis(self.lock_timeout).to_string()),
            (
                "statement_timeout",
                millis(self.statement_timeout).to_string(),
            ),
            (
                "idle_in_transaction_session_timeout",
                millis(self.idle_in_transaction_timeout).to_string(),
            ),
        ];
        pairs
            .iter()
            .map(|(name, value)| format!("-c {}", escape_option(&format!("{name}={value}"))))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn millis(d: Duration) -> u128 {
    d.as_millis()
}

/// Escapes one word of the `options` parameter: the server splits it at unescaped white space
/// and removes one level of backslashes (libpq docs, "options").
pub(super) fn escape_option(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
            .field("lock_timeout", &self.session.lock_timeout)
            .field("statement_timeout", &self.session.statement_timeout)
            .field(
                "idle_in_transaction_timeout",
                &self.session.idle_in_transaction_timeout,
            )
            .field("allow_unverified_password", &self.allow_unverified_password)
            .field("target_session_attrs", &self.target_session_attrs)
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
    lock_timeout: Duration,
    statement_timeout: Duration,
    idle_in_transaction_timeout: Duration,
    allow_unverified_password: bool,
    target_session_attrs: TargetSessionAttrs,
}

impl ConnectOptions {
    /// Starts options for `host` (DNS name or IP literal); defaults: port 5432, database
    /// `postgres`, `sslmode=prefer` (libpq's default), 10 s connect timeout,
    /// [`DEFAULT_LOCK_TIMEOUT`], [`DEFAULT_STATEMENT_TIMEOUT`],
    /// [`DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT`], no password to an unverified server, and only
    /// a server that accepts writes ([`TargetSessionAttrs::ReadWrite`]).
    pub fn builder(host: impl Into<String>) -> ConnectOptionsBuilder {
        ConnectOptionsBuilder {
            host: host.into(),
            port: 5432,
            dbname: "postgres".to_owned(),
            ssl_mode: SslMode::Prefer,
            root_certs: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            application_name: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
            allow_unverified_password: false,
            target_session_attrs: TargetSessionAttrs::ReadWrite,
        }
    }

    /// Which servers a connection accepts (see [`TargetSessionAttrs`]).
    pub fn target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs
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
    /// `lock_timeout` of every session.
    pub fn lock_timeout(&self) -> Duration {
        self.session.lock_timeout
    }
    /// `statement_timeout` of every session.
    pub fn statement_timeout(&self) -> Duration {
        self.session.statement_timeout
    }
    /// `idle_in_transaction_session_timeout` of every session.
    pub fn idle_in_transaction_timeout(&self) -> Duration {
        self.session.idle_in_transaction_timeout
    }
    /// Whether a cleartext or MD5 password request of an unverified server is answered
    /// (see [`ConnectOptionsBuilder::allow_unverified_password`]).
    pub fn allows_unverified_password(&self) -> bool {
        self.allow_unverified_password
    }
    /// Whether every TLS session checks the server's certificate chain (a root certificate
    /// is given); only then, and only over TLS, is a cleartext or MD5 password request answered.
    pub fn verifies_server(&self) -> bool {
        self.policy.verifies
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

    /// `lock_timeout` of every session (default [`DEFAULT_LOCK_TIMEOUT`]): a statement that
    /// waits longer for a lock (a table an application locked, an advisory lock held by a
    /// concurrent run, which `pg_advisory_lock` waits for) fails with SQLSTATE `55P03` instead
    /// of hanging. Between 1 ms and `i32::MAX` ms.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
    /// `statement_timeout` of every session (default [`DEFAULT_STATEMENT_TIMEOUT`]); long
    /// inventory queries of very large databases may need more. Between 1 ms and `i32::MAX` ms.
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }
    /// `idle_in_transaction_session_timeout` of every session (default
    /// [`DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT`]): the server ends a session that stays inside
    /// a transaction longer, releasing its locks. Between 1 ms and `i32::MAX` ms.
    #[must_use]
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
        self
    }
    /// Lab setups only (default `false`): answer a server's cleartext or MD5 password request
    /// even when the server's identity was not verified (plaintext, or TLS without a root
    /// certificate). A cleartext request sends the password, or the IAM token, as is, to
    /// whoever answers at the address; MD5 lets an eavesdropper guess it offline. Without this,
    /// such a connection fails with [`AuthError::UnverifiedServer`] before anything is sent.
    /// SCRAM-SHA-256 never reveals the password and is always answered.
    #[must_use]
    pub fn allow_unverified_password(mut self, allow: bool) -> Self {
        self.allow_unverified_password = allow;
        self
    }

    /// Which servers a connection accepts (default [`TargetSessionAttrs::ReadWrite`]):
    /// [`TargetSessionAttrs::Any`] to read from a standby.
    #[must_use]
    pub fn target_session_attrs(mut self, attrs: TargetSessionAttrs) -> Self {
        self.target_session_attrs = attrs;
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
        for (field, value) in [
            ("lock_timeout", self.lock_timeout),
            ("statement_timeout", self.statement_timeout),
            (
                "idle_in_transaction_timeout",
                self.idle_in_transaction_timeout,
            ),
        ] {
            let ms = millis(value);
            if ms == 0 || ms > MAX_SETTING_MS {
                return Err(AuthError::InvalidConfig {
                    field,
                    reason: format!(
                        "{value:?} is out of range: give between 1 ms and {MAX_SETTING_MS} ms (PostgreSQL's limit); 0 would disable the bound"
                    ),
                });
            }
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
            session: SessionSettings {
                lock_timeout: self.lock_timeout,
                statement_timeout: self.statement_timeout,
                idle_in_transaction_timeout: self.idle_in_transaction_timeout,
            },
            allow_unverified_password: self.allow_unverified_password,
            target_session_attrs: self.target_session_attrs,
            policy,
        })
    }
}
