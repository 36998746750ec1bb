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

/// The [`ConnectBackoff`] state, a small state machine kept apart from the clock (its methods
/// take `now`) so that its rules are tested on their own: consecutive failed attempts, until
/// when none is made, whether a probe is in flight, and the last failure (for
/// [`AuthError::Backoff`]).
#[derive(Debug, Default)]
struct Unreachable {
    failures: u32,
    until: Option<Instant>,
    probing: bool,
    /// Incremented whenever the server is found reachable: a failure of an attempt started
    /// before that is stale and ignored.
    generation: u64,
    last: String,
}

/// An attempt [`Unreachable::before`] let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket {
    probe: bool,
    generation: u64,
    started: Instant,
}

/// What an attempt found, for [`Unreachable::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The server answered (a session, or a refusal of its own: a password, a database, a
    /// read-only server).
    Answered,
    /// The server was not reached or does not accept connections now.
    Unreachable,
    /// Nothing about the server (a credential source, local settings).
    Local,
    /// The attempt was abandoned (its future dropped) before it ended.
    Abandoned,
}

impl Unreachable {
    /// Before an attempt: the wait left while backing off (or while another caller's probe is
    /// in flight); otherwise a ticket (a probe when a backoff was on).
    fn before(&mut self, backoff: &ConnectBackoff, now: Instant) -> Result<Ticket, Duration> {
        let probe = match self.until {
            None => false,
            Some(until) if now < until || self.probing => {
                return Err(until.saturating_duration_since(now));
            }
            Some(_) => {
                self.probing = true;
                self.until = Some(now + backoff.wait_after(self.failures));
                true
            }
        };
        Ok(Ticket {
            probe,
            generation: self.generation,
            started: now,
        })
    }

    /// After an attempt; `abandon_after`: how long an abandoned attempt must have waited to
    /// count as a failure (the connect timeout: a caller giving up sooner says nothing of the
    /// server). `message`: the failure's, for [`AuthError::Backoff`].
    fn after(
        &mut self,
        backoff: &ConnectBackoff,
        ticket: Ticket,
        outcome: Outcome,
        now: Instant,
        abandon_after: Duration,
        message: impl FnOnce() -> String,
    ) {
        if ticket.probe {
            self.probing = false;
        }
        let failed = match outcome {
            Outcome::Answered => {
                *self = Unreachable {
                    generation: self.generation.wrapping_add(1),
                    ..Unreachable::default()
                };
                return;
            }
            Outcome::Local => false,
            Outcome::Unreachable => true,
            Outcome::Abandoned => now.saturating_duration_since(ticket.started) >= abandon_after,
        };
        // A failure of an attempt started before the server was last found reachable is
        // stale: that success stands.
        if failed && ticket.generation == self.generation {
            self.failures = self.failures.saturating_add(1);
            self.until = Some(now + backoff.wait_after(self.failures));
            self.last = message();
        }
    }
}

/// What `error` says about the server (see [`Outcome`]).
fn outcome_of(error: &AuthError) -> Outcome {
    use tokio_postgres::error::SqlState;
    match error {
        AuthError::Connect { .. } | AuthError::Timeout { .. } => Outcome::Unreachable,
        AuthError::Rejected { source, .. } => match source.code() {
            Some(c)
                if *c == SqlState::CANNOT_CONNECT_NOW || *c == SqlState::TOO_MANY_CONNECTIONS =>
            {
                Outcome::Unreachable
            }
            _ => Outcome::Answered,
        },
        // A TLS handshake the peer cut (reset, closed) is the network, not a certificate.
        AuthError::Tls { .. } if io_failure_in(error) => Outcome::Unreachable,
        AuthError::Tls { .. }
        | AuthError::TlsNotSupported
        | AuthError::AuthenticationFailed { .. }
        | AuthError::UnverifiedServer { .. }
        | AuthError::ReadOnlyServer { .. }
        | AuthError::Query { .. } => Outcome::Answered,
        _ => Outcome::Local,
    }
}

/// Whether a connection-level I/O failure (refused, reset, aborted, closed early, timed out) is
/// in `error`'s source chain.
fn io_failure_in(error: &AuthError) -> bool {
    use std::io::ErrorKind;
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::TimedOut
                    | ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// `error` with its sources, `: `-joined (none of this crate's errors holds a secret).
fn chain(error: &AuthError) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// An attempt in flight: if its future is dropped before it ends, [`Outcome::Abandoned`].
struct Attempt<'a> {
    manager: &'a PoolManager,
    ticket: Option<Ticket>,
}

impl Attempt<'_> {
    fn end(mut self, result: &Result<crate::Connection, AuthError>) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let outcome = match result {
            Ok(_) => Outcome::Answered,
            Err(e) => outcome_of(e),
        };
        self.manager.ended(ticket, outcome, || match result {
            Err(e) => chain(e),
            Ok(_) => String::new(),
        });
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.manager.ended(ticket, Outcome::Abandoned, || {
                "the attempt was abandoned".to_owned()
            });
        }
    }
}

impl PoolManager {
    fn unreachable(&self) -> std::sync::MutexGuard<'_, Unreachable> {
        self.unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before an attempt: [`AuthError::Backoff`] while backing off.
    fn attempt(&self) -> Result<Attempt<'_>, AuthError> {
        let Some(backoff) = self.backoff else {
            return Ok(Attempt {
                manager: self,
                ticket: None,
            });
        };
        let mut state = self.unreachable();
        match state.before(&backoff, Instant::now()) {
            Ok(ticket) => Ok(Attempt {
                manager: self,
                ticket: Some(ticket),
            }),
            Err(retry_in) => Err(AuthError::Backoff {
                host: self.options.host().to_owned(),
                port: self.options.port(),
                failures: state.failures,
                retry_in,
                last: state.last.clone(),
            }),
        }
    }

    fn ended(&self, ticket: Ticket, outcome: Outcome, message: impl FnOnce() -> String) {
        let Some(backoff) = self.backoff else {
            return;
        };
        let mut state = self.unreachable();
        let failures = state.failures;
        state.after(
            &backoff,
            ticket,
            outcome,
            Instant::now(),
            self.options.connect_timeout(),
            message,
        );
        if state.failures > failures {
            tracing::debug!(host = %self.options.host(), port = self.options.port(),
                failures = state.failures, last = %state.last,
                "connection attempt failed; backing off");
        } else if failures > 0 && state.failures == 0 {
            tracing::info!(host = %self.options.host(), port = self.options.port(), failures,
                "server reachable again");
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
        let attempt = self.attempt()?;
        let connection = connect(&self.options, self.source.as_ref()).await;
        attempt.end(&connection);
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn backoff() -> ConnectBackoff {
        ConnectBackoff::new(100 * MS, 2000 * MS)
    }

    fn fail(state: &mut Unreachable, ticket: Ticket, now: Instant) {
        state.after(
            &backoff(),
            ticket,
            Outcome::Unreachable,
            now,
            10 * MS,
            || "refused".to_owned(),
        );
    }

    #[test]
    fn failures_back_off_doubling_and_one_probe_goes_at_a_time() {
        let (b, t0) = (backoff(), Instant::now());
        let mut s = Unreachable::default();
        // No backoff yet: attempts go, none is a probe.
        let a = s.before(&b, t0).expect("goes");
        let c = s.before(&b, t0).expect("goes too");
        assert!(!a.probe && !c.probe);
        fail(&mut s, a, t0);
        assert_eq!(s.before(&b, t0 + 50 * MS), Err(50 * MS));
        // The late failure of an attempt started at the same time counts (same generation).
        fail(&mut s, c, t0);
        assert_eq!(s.failures, 2);
        assert_eq!(s.before(&b, t0 + 100 * MS), Err(100 * MS));
        // The wait over: one probe; the others wait for its outcome, even past its wait.
        let probe = s.before(&b, t0 + 200 * MS).expect("probe");
        assert!(probe.probe);
        assert!(s.before(&b, t0 + 201 * MS).is_err());
        assert!(
            s.before(&b, t0 + 900 * MS).is_err(),
            "the probe is still in flight"
        );
        fail(&mut s, probe, t0 + 900 * MS);
        assert_eq!(s.failures, 3);
        assert_eq!(s.before(&b, t0 + 900 * MS), Err(400 * MS));
        // Up to the maximum.
        for _ in 0..10 {
            let generation = s.generation;
            let ticket = Ticket {
                probe: false,
                generation,
                started: t0,
            };
            fail(&mut s, ticket, t0);
        }
        assert_eq!(s.before(&b, t0), Err(2000 * MS));
        assert_eq!(s.last, "refused");
    }

    #[test]
    fn an_answer_ends_the_backoff_and_makes_older_failures_stale() {
        let (b, t0) = (backoff(), Instant::now());
        let mut s = Unreachable::default();
        let early = s.before(&b, t0).expect("goes");
        let first = s.before(&b, t0).expect("goes");
        fail(&mut s, first, t0);
        let probe = s.before(&b, t0 + 100 * MS).expect("probe");
        // The server answers the probe, even with a refusal of its own (a read-only server):
        // reachable, no backoff.
        s.after(
            &b,
            probe,
            Outcome::Answered,
            t0 + 110 * MS,
            10 * MS,
            String::new,
        );
        assert_eq!(s.failures, 0);
        assert!(s.before(&b, t0 + 110 * MS).is_ok());
        // An attempt started before that answer, failing late, is stale: ignored.
        fail(&mut s, early, t0 + 120 * MS);
        assert_eq!(s.failures, 0);
        assert!(s.before(&b, t0 + 120 * MS).is_ok());
        // Local failures (a credential source) neither start nor end a backoff.
        let t = s.before(&b, t0).expect("goes");
        s.after(&b, t, Outcome::Local, t0, 10 * MS, String::new);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_caller_probe_and_counts_only_after_a_connect_timeout() {
        let (b, t0) = (backoff(), Instant::now());
        let mut s = Unreachable::default();
        let first = s.before(&b, t0).expect("goes");
        fail(&mut s, first, t0);
        let probe = s.before(&b, t0 + 100 * MS).expect("probe");
        // Dropped quickly (the caller gave up): says nothing of the server.
        s.after(
            &b,
            probe,
            Outcome::Abandoned,
            t0 + 101 * MS,
            10 * MS,
            || "gone".into(),
        );
        assert_eq!(s.failures, 1);
        assert!(!s.probing);
        let next = s.before(&b, t0 + 200 * MS).expect("the next caller probes");
        assert!(next.probe);
        // Abandoned after a whole connect timeout: the server did not answer in time.
        s.after(&b, next, Outcome::Abandoned, t0 + 300 * MS, 10 * MS, || {
            "gone".into()
        });
        assert_eq!(s.failures, 2);
        assert_eq!(s.last, "gone");
    }

    #[test]
    fn errors_are_classified_by_what_they_say_of_the_server() {
        let connect = AuthError::Connect {
            host: "h".into(),
            port: 5432,
            detail: "could not open a TCP connection".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert_eq!(outcome_of(&connect), Outcome::Unreachable);
        assert!(chain(&connect).contains("could not open a TCP connection: "));
        let cut_tls = AuthError::Tls {
            host: "h".into(),
            port: 5432,
            detail: "the TLS handshake failed (certificate or protocol)".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        };
        assert_eq!(outcome_of(&cut_tls), Outcome::Unreachable);
        let bad_cert = AuthError::Tls {
            host: "h".into(),
            port: 5432,
            detail: "the TLS handshake failed (certificate or protocol)".into(),
            source: Box::new(std::io::Error::other("certificate verify failed")),
        };
        assert_eq!(outcome_of(&bad_cert), Outcome::Answered);
        let read_only = AuthError::ReadOnlyServer {
            host: "h".into(),
            port: 5432,
            reason: "in_hot_standby = on",
        };
        assert_eq!(outcome_of(&read_only), Outcome::Answered);
        let env = AuthError::EnvVarMissing {
            name: "PGPASSWORD".into(),
        };
        assert_eq!(outcome_of(&env), Outcome::Local);
    }
}
