//! A deadpool pool whose every new physical connection asks the credential source.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use crate::clock::{SharedClock, system_clock};
use crate::connect::connect;
use crate::{AuthError, Clock, ConnectOptions, CredentialSource};

/// How a pooled connection is checked before it is handed out again.
///
/// Whatever the mode, a returned connection is first checked for session state that must
/// never reach the next user ([`SESSION_STATE_CHECK`], one round trip): it is discarded when it
/// is inside a transaction (open or aborted: a future cancelled between `BEGIN` and `COMMIT`),
/// holds an advisory lock, or has a setting changed by `SET` (a different `search_path`, a
/// changed timeout) or a `SET ROLE` in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecycleCheck {
    /// The session-state check only (it is a round trip too: skipping it could hand out a
    /// connection inside a transaction).
    Fast,
    /// The session-state check; being a query, it also replaces broken connections.
    #[default]
    Query,
}

/// The query that decides whether a returned connection may be reused: five booleans, all
/// true for a clean session on a writer.
///
/// - `transaction_timestamp() = statement_timestamp()` holds only for the first statement of a
///   transaction, i.e. when this query is not run inside a transaction left open (PostgreSQL
///   docs, "Current Date/Time"); in an aborted transaction the query fails, which discards too.
/// - no row of `pg_locks` for an advisory lock of this backend (session-level advisory locks
///   survive the end of a transaction).
/// - no setting whose source is `session` (`SET`, `set_config(…, false)`): our sessions only
///   use settings sent at startup, so any such setting is state we did not put there.
/// - `current_user = session_user`: no `SET ROLE` is in force (`role` is hidden from
///   `pg_settings`).
/// - `transaction_read_only` is `off`: the server still accepts writes. A writer demoted to a
///   standby, or set `default_transaction_read_only` after the connection was opened, makes
///   it `on`; with [`TargetSessionAttrs::ReadWrite`](crate::TargetSessionAttrs) (the
///   default) the connection is then discarded and the pool connects anew, to wherever the
///   endpoint points now (a failover).
///
/// Sent with the simple protocol (one statement, one implicit transaction); every name and
/// operator is schema-qualified, so a changed `search_path` cannot redirect it.
pub const SESSION_STATE_CHECK: &str = "SELECT \
    pg_catalog.transaction_timestamp() OPERATOR(pg_catalog.=) pg_catalog.statement_timestamp(), \
    NOT EXISTS (SELECT FROM pg_catalog.pg_locks \
        WHERE locktype OPERATOR(pg_catalog.=) 'advisory' \
        AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), \
    NOT EXISTS (SELECT FROM pg_catalog.pg_settings \
        WHERE source OPERATOR(pg_catalog.=) 'session'), \
    CURRENT_USER OPERATOR(pg_catalog.=) SESSION_USER, \
    pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'off'";

/// Pool settings. Built with [`PoolOptions::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Maximum number of connections.
    pub max_size: usize,
    /// How long `get` waits for a free connection (`None`: forever).
    pub wait_timeout: Option<Duration>,
    /// Connections older than this are closed at their next recycle (`None`: no limit).
    pub max_lifetime: Option<Duration>,
    /// Check run before a connection is reused.
    pub recycle_check: RecycleCheck,
    /// After a connection attempt fails because the server is unreachable or not accepting
    /// connections, how long the pool waits before it tries again (`None`: it tries whenever a
    /// caller asks). See [`ConnectBackoff`].
    pub connect_backoff: Option<ConnectBackoff>,
}

/// How a [`Pool`] backs off a server it cannot reach: after an attempt fails with the server
/// unreachable ([`AuthError::Connect`], [`AuthError::Timeout`]) or not accepting connections
/// (SQLSTATE 57P03 `cannot_connect_now` while it starts or stops, 53300
/// `too_many_connections`), `get` calls that need a new connection fail at once with
/// [`AuthError::Backoff`] (nothing is sent) for `initial`, then twice as long after each further
/// failure, up to `max`. When the wait is over one caller tries (the others still fail fast
/// while it does); its success ends the backoff. Connections already open are handed out
/// meanwhile as usual. Without it, a busy pool in an outage sends the server (or the network
/// path to it) one connection attempt per caller and per retry: 28,202 refused connections in
/// 5 seconds from 16 tasks in `pool_recovery`'s outage. Failures that are not about reaching
/// the server (a rejected password, a refused database, a read-only server) do not back off:
/// the credential source's fallback and the facade's failover retry act on those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectBackoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl ConnectBackoff {
    /// A backoff from `initial` doubling up to `max` (at least `initial`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = pg_auth::ConnectBackoff::new(Duration::from_millis(100), Duration::from_secs(2));
    /// assert_eq!(b.wait_after(1), Duration::from_millis(100));
    /// assert_eq!(b.wait_after(3), Duration::from_millis(400));
    /// assert_eq!(b.wait_after(60), Duration::from_secs(2));
    /// ```
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
        }
    }

    /// The wait after `failures` consecutive failed attempts (0: none).
    pub fn wait_after(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (failures - 1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

impl Default for ConnectBackoff {
    /// 100 ms, doubling up to 2 s: an outage costs a busy pool about one attempt per 2 s, and
    /// a server back costs its callers at most 2 s more.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(2))
    }
}

/// Builder of [`PoolOptions`].
#[derive(Debug, Clone)]
pub struct PoolOptionsBuilder {
    options: PoolOptions,
}

impl PoolOptions {
    /// Defaults: 10 connections, 30 s wait timeout, 30 min max lifetime, `SELECT 1` check.
    pub fn builder() -> PoolOptionsBuilder {
        PoolOptionsBuilder {
            options: PoolOptions {
                max_size: 10,
                wait_timeout: Some(Duration::from_secs(30)),
                max_lifetime: Some(Duration::from_secs(30 * 60)),
                recycle_check: RecycleCheck::Query,
                connect_backoff: Some(ConnectBackoff::default()),
            },
        }
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::builder().options
    }
}

impl PoolOptionsBuilder {
    /// Maximum number of connections (at least 1).
    #[must_use]
    pub fn max_size(mut self, size: usize) -> Self {
        self.options.max_size = size;
        self
    }
    /// How long `get` waits for a free connection.
    #[must_use]
    pub fn wait_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.wait_timeout = timeout;
        self
    }
    /// Maximum age of a connection.
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.options.max_lifetime = lifetime;
        self
    }
    /// Check run before reuse.
    #[must_use]
    pub fn recycle_check(mut self, check: RecycleCheck) -> Self {
        self.options.recycle_check = check;
        self
    }
    /// How the pool backs off a server it cannot reach (`None`: not at all).
    #[must_use]
    pub fn connect_backoff(mut self, backoff: Option<ConnectBackoff>) -> Self {
        self.options.connect_backoff = backoff;
        self
    }
    /// Validates the settings.
    pub fn build(self) -> Result<PoolOptions, AuthError> {
        if self.options.max_size == 0 {
            return Err(AuthError::InvalidConfig {
                field: "max_size",
                reason: "a pool needs at least one connection".into(),
            });
        }
        if self
            .options
            .connect_backoff
            .is_some_and(|b| b.initial.is_zero())
        {
            return Err(AuthError::InvalidConfig {
                field: "connect_backoff",
                reason: "an initial wait of zero does not back off; use None for no backoff".into(),
            });
        }
        if self.options.max_lifetime.is_some_and(|d| d.is_zero()) {
            return Err(AuthError::InvalidConfig {
                field: "max_lifetime",
                reason: "zero would close every connection at once; use None for no limit".into(),
            });
        }
        Ok(self.options)
    }
}

/// A pooled physical connection: a deadpool-postgres client wrapper (with its statement
/// cache) plus when it was opened and whether it is encrypted.
pub struct PooledConnection {
    client: deadpool_postgres::ClientWrapper,
    created_at: SystemTime,
    tls: bool,
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("created_at", &self.created_at)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl PooledConnection {
    /// When the physical connection was opened (by the pool's clock).
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }
    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

impl Deref for PooledConnection {
    type Target = deadpool_postgres::ClientWrapper;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

/// The deadpool manager: `create` connects with a fresh credential, `recycle` enforces the
/// max lifetime and the recycle check.
pub struct PoolManager {
    options: ConnectOptions,
    source: Arc<dyn CredentialSource>,
    clock: SharedClock,
    max_lifetime: Option<Duration>,
    check: RecycleCheck,
    backoff: Option<ConnectBackoff>,
    unreachable: Mutex<Unreachable>,
}

/// The [`ConnectBackoff`] state: consecutive failed attempts, until when no attempt is made,
/// and the last failure's message (for [`AuthError::Backoff`]).
#[derive(Debug, Default)]
struct Unreachable {
    failures: u32,
    until: Option<Instant>,
    last: String,
}

/// Whether `error` says the server could not be reached or is not accepting connections now
/// (what [`ConnectBackoff`] backs off).
fn is_unreachable(error: &AuthError) -> bool {
    use tokio_postgres::error::SqlState;
    match error {
        AuthError::Connect { .. } | AuthError::Timeout { .. } => true,
        AuthError::Rejected { source, .. } => matches!(
            source.code(),
            Some(c) if *c == SqlState::CANNOT_CONNECT_NOW || *c == SqlState::TOO_MANY_CONNECTIONS
        ),
        _ => false,
    }
}

impl PoolManager {
    fn unreachable(&self) -> std::sync::MutexGuard<'_, Unreachable> {
        self.unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before an attempt: `Err` while backing off; otherwise the attempt may go, and while it
    /// runs the others keep failing fast (its wait is taken again for it).
    fn may_attempt(&self) -> Result<(), AuthError> {
        let Some(backoff) = self.backoff else {
            return Ok(());
        };
        let mut state = self.unreachable();
        let now = Instant::now();
        match state.until {
            Some(until) if now < until => Err(AuthError::Backoff {
                host: self.options.host().to_owned(),
                port: self.options.port(),
                failures: state.failures,
                retry_in: until - now,
                last: state.last.clone(),
            }),
            Some(_) => {
                // This caller probes; the others fail fast until its outcome.
                state.until = Some(now + backoff.wait_after(state.failures));
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After an attempt.
    fn attempted(&self, result: &Result<crate::Connection, AuthError>) {
        let Some(backoff) = self.backoff else {
            return;
        };
        let mut state = self.unreachable();
        match result {
            Ok(_) => {
                if state.failures > 0 {
                    tracing::info!(host = %self.options.host(), port = self.options.port(),
                        failures = state.failures, "server reachable again");
                }
                *state = Unreachable::default();
            }
            Err(e) if is_unreachable(e) => {
                state.failures = state.failures.saturating_add(1);
                let wait = backoff.wait_after(state.failures);
                state.until = Some(Instant::now() + wait);
                state.last = e.to_string();
                tracing::debug!(host = %self.options.host(), port = self.options.port(),
                    failures = state.failures, ?wait, error = %e,
                    "connection attempt failed; backing off");
            }
            // Not about reaching the server: no backoff (and no reason to end one either).
            Err(_) => {}
        }
    }
}

impl fmt::Debug for PoolManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolManager")
            .field("options", &self.options)
            .field("source", &self.source)
            .field("max_lifetime", &self.max_lifetime)
            .field("check", &self.check)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl managed::Manager for PoolManager {
    type Type = PooledConnection;
    type Error = AuthError;

    async fn create(&self) -> Result<PooledConnection, AuthError> {
        self.may_attempt()?;
        let connection = connect(&self.options, self.source.as_ref()).await;
        self.attempted(&connection);
        let connection = connection?;
        let tls = connection.is_tls();
        let (client, task) = connection.into_parts();
        Ok(PooledConnection {
            client: deadpool_postgres::ClientWrapper::new(client, task),
            created_at: self.clock.now(),
            tls,
        })
    }

    async fn recycle(
        &self,
        conn: &mut PooledConnection,
        _metrics: &Metrics,
    ) -> RecycleResult<AuthError> {
        if conn.client.is_closed() {
            return Err(RecycleError::message("connection is closed"));
        }
        if let Some(max) = self.max_lifetime {
            let age = self
                .clock
                .now()
                .duration_since(conn.created_at)
                .unwrap_or(Duration::ZERO);
            if age >= max {
                return Err(RecycleError::message("connection reached its max lifetime"));
            }
        }
        // Every mode: a connection in an unknown state is never reused.
        let messages = conn
            .client
            .simple_query(SESSION_STATE_CHECK)
            .await
            .map_err(|source| {
                RecycleError::Backend(AuthError::Query {
                    context: "recycle check of the session state (an aborted transaction fails it)",
                    source,
                })
            })?;
        let row = messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .ok_or_else(|| RecycleError::message("recycle check returned no row"))?;
        let reasons = [
            "connection was returned inside a transaction",
            "connection still holds an advisory lock",
            "connection has a setting changed by SET (search_path, timeouts, ...)",
            "connection runs under SET ROLE",
        ];
        for (index, reason) in reasons.iter().enumerate() {
            if row.get(index) != Some("t") {
                tracing::debug!(reason, "discarding a pooled connection");
                return Err(RecycleError::message(*reason));
            }
        }
        if self.options.target_session_attrs() == crate::TargetSessionAttrs::ReadWrite
            && row.get(reasons.len()) != Some("t")
        {
            tracing::warn!(
                host = %self.options.host(),
                port = self.options.port(),
                "a pooled connection's server is read-only now (failover?); discarding it"
            );
            return Err(RecycleError::message(
                "the server is read-only now (a standby after a failover)",
            ));
        }
        Ok(())
    }
}

/// A connection pool; every new physical connection asks the credential source.
///
/// Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Pool {
    inner: managed::Pool<PoolManager>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.status();
        f.debug_struct("Pool")
            .field("size", &status.size)
            .field("available", &status.available)
            .field("max_size", &status.max_size)
            .finish()
    }
}

/// A connection borrowed from a [`Pool`]; returned to it on drop.
pub type PoolObject = managed::Object<PoolManager>;

impl Pool {
    /// Creates a pool (no connection is opened until the first `get`).
    ///
    /// Must be called inside a Tokio runtime.
    pub fn new(
        options: ConnectOptions,
        source: Arc<dyn CredentialSource>,
        pool_options: PoolOptions,
    ) -> Result<Self, AuthError> {
        Self::with_clock(options, source, pool_options, system_clock())
    }

    /// Like [`Pool::new`] with a clock for the max-lifetime decisions (tests).
    pub fn with_clock(
        options: ConnectOptions,
        source: Arc<dyn CredentialSource>,
        pool_options: PoolOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuthError> {
        let create_timeout = options.connect_timeout().saturating_mul(3);
        let manager = PoolManager {
            options,
            source,
            clock,
            max_lifetime: pool_options.max_lifetime,
            check: pool_options.recycle_check,
            backoff: pool_options.connect_backoff,
            unreachable: Mutex::new(Unreachable::default()),
        };
        let inner = managed::Pool::builder(manager)
            .max_size(pool_options.max_size)
            .wait_timeout(pool_options.wait_timeout)
            .create_timeout(Some(create_timeout))
            .recycle_timeout(Some(create_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| AuthError::Pool {
                // deadpool's only build error: timeouts without a runtime.
                detail: match e {
                    managed::BuildError::NoRuntimeSpecified => {
                        "cannot build the pool: its timeouts need the tokio runtime".to_owned()
                    }
                },
                source: None,
            })?;
        Ok(Self { inner })
    }

    /// Borrows a connection, opening a new one (with a fresh credential) when none is idle.
    pub async fn get(&self) -> Result<PoolObject, AuthError> {
        self.inner.get().await.map_err(|e| match e {
            managed::PoolError::Backend(err) => err,
            other => AuthError::Pool {
                detail: pool_failure(&other).to_owned(),
                source: None,
            },
        })
    }

    /// Closes the pool: idle connections are closed now, connections in use when they are
    /// returned, and `get` fails from then on. Clones share the closed state.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Current size, idle count and maximum size.
    pub fn status(&self) -> PoolStatus {
        let status = self.inner.status();
        PoolStatus {
            size: status.size,
            available: status.available,
            max_size: status.max_size,
        }
    }
}

/// A snapshot of a pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Open connections.
    pub size: usize,
    /// Idle connections.
    pub available: usize,
    /// Maximum size.
    pub max_size: usize,
}

/// What went wrong in the pool itself (not in a connection attempt), in deadpool's terms.
fn pool_failure(error: &managed::PoolError<AuthError>) -> &'static str {
    use managed::{PoolError, TimeoutType};
    match error {
        PoolError::Timeout(TimeoutType::Wait) => {
            "timed out waiting for a free connection (raise max_size or wait_timeout)"
        }
        PoolError::Timeout(TimeoutType::Create) => "timed out opening a new connection",
        PoolError::Timeout(TimeoutType::Recycle) => "timed out checking a returned connection",
        PoolError::Closed => "the pool has been closed",
        PoolError::NoRuntimeSpecified => "the pool's timeouts need the tokio runtime",
        PoolError::PostCreateHook(_) => "a post-create hook failed",
        PoolError::Backend(_) => "opening a connection failed",
    }
}
