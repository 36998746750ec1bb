//! Session-level advisory locks, the one API for them: [`AdvisoryKey`] names a lock,
//! [`AdvisoryLocks`] takes, waits for, releases and inspects it on one connection.
//!
//! # Squatters
//!
//! Every key is public (`rdspg:<role>`, `rdspg-revoke:<role>`, `rdspg-role:<role>`,
//! `rdspg-job:<job>`, hashed with `hashtextextended(key, 0)`): any login role may take
//! `pg_advisory_lock` on the same hash in any database it can connect to, and hold it
//! forever, or `PREPARE TRANSACTION` holding it. A holder whose user (for a prepared
//! transaction, its owner) has neither `CREATEROLE` nor superuser is never a connector at work:
//! it squats the lock ([`LockHolder::is_squatter`], the one definition, computed by one query
//! for every caller). No lock the library takes can be blocked by squatters:
//!
//! - session-level locks: [`AdvisoryLocks::lock_unless_squatted`] (revocations'
//!   `rdspg-revoke:<role>`, the facade's per-role `rdspg-role:<role>`);
//! - the transaction-level lock `rdspg:<role>` of every change batch: the same rule in one
//!   SQL expression sent with the batch;
//! - job locks are only tried ([`AdvisoryLocks::try_lock`]); callers look at the
//!   [`AdvisoryLocks::holders`] to tell a squatted job lock from a busy one.
//!
//! When the lock is held and every holder squats it, the caller goes on **without** it and
//! logs a warning naming them; when a connector-like holder (`CREATEROLE` or superuser) holds
//! it, the caller waits as the session's `lock_timeout` allows. Two connectors that both find
//! a lock squatted both go on: while squatted, the lock serialises nothing, and the work relies
//! on its own checks and transactions, as it would without the lock.

use tokio_postgres::Client;

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::sql;

use super::Session;

/// The name of a session-level advisory lock: `namespace:name`, hashed with
/// `hashtextextended(key, 0)` by every lock function.
///
/// ```
/// use pg_grants::AdvisoryKey;
/// use pg_grants::quote::Ident;
///
/// assert_eq!(AdvisoryKey::job("sweep").as_str(), "rdspg-job:sweep");
/// let role = Ident::new("alice@example.com")?;
/// assert_eq!(AdvisoryKey::new("rdspg-role", &role).as_str(), "rdspg-role:alice@example.com");
/// # Ok::<(), pg_grants::quote::QuoteError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvisoryKey(String);

impl AdvisoryKey {
    /// The namespace of job locks ([`AdvisoryKey::job`]).
    pub const JOB_NAMESPACE: &'static str = "rdspg-job";

    /// The namespace of the transaction-level lock every change to a role takes
    /// ([`AdvisoryKey::role`]).
    pub const ROLE_NAMESPACE: &'static str = "rdspg";

    /// The lock `namespace:name` of one role (for example one operation on one user).
    pub fn new(namespace: &str, name: &Ident) -> Self {
        Self(format!("{namespace}:{}", name.as_str()))
    }

    /// The transaction-level lock of every change to `role` (`rdspg:<role>`), taken in the
    /// transaction that makes it (unless only squatters hold it, see
    /// [squatters](crate::session::lock#squatters)).
    pub fn role(role: &Ident) -> Self {
        Self::new(Self::ROLE_NAMESPACE, role)
    }

    /// The lock of job `job` (`rdspg-job:<job>`): one sweep, sync or rotation of one server
    /// at a time across connector replicas.
    pub fn job(job: &str) -> Self {
        Self(format!("{}:{job}", Self::JOB_NAMESPACE))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AdvisoryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Another session holding one of the library's advisory locks (see
/// [`AdvisoryLocks::holders`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LockHolder {
    /// Its backend process id (0 for a prepared transaction).
    pub pid: i32,
    /// Its user, or the owner of the prepared transaction (empty when the server does not
    /// say).
    pub user: String,
    /// Whether that user is a superuser or has `CREATEROLE`, as a connector does. A holder
    /// without it (any grantee, any rightless login, a prepared transaction of one) is
    /// squatting the lock.
    pub may_create_roles: bool,
    /// The global id of the prepared transaction holding the lock (`PREPARE TRANSACTION`
    /// keeps its locks with no session, until committed or rolled back), else `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepared_transaction: Option<String>,
}

impl LockHolder {
    /// Whether this holder squats the lock (it cannot be a connector doing the job).
    pub fn is_squatter(&self) -> bool {
        !self.may_create_roles
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.prepared_transaction {
            Some(gid) => write!(f, "{} (prepared transaction \"{gid}\")", self.user),
            None => write!(f, "{} (pid {})", self.user, self.pid),
        }
    }
}

/// Session-level advisory locks on one connection: held until released or until the
/// connection ends (also when the process dies). Needs no [`Session`] (no round trip to read
/// the server's version); [`Session::advisory_locks`] gives the one of a session.
///
/// ```no_run
/// use pg_grants::{AdvisoryKey, AdvisoryLocks, LockHolder};
///
/// # async fn demo(client: &tokio_postgres::Client) -> Result<(), pg_grants::GrantsError> {
/// let locks = AdvisoryLocks::new(client);
/// let key = AdvisoryKey::job("sweep");
/// if locks.try_lock(&key).await? {
///     // ... the job ...
///     locks.unlock(&key).await?;
/// } else {
///     let squatters: Vec<LockHolder> =
///         locks.holders(&key).await?.into_iter().filter(LockHolder::is_squatter).collect();
///     println!("held; squatted by {squatters:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AdvisoryLocks<'c> {
    client: &'c Client,
}

impl<'c> AdvisoryLocks<'c> {
    /// Advisory locks on `client`'s connection.
    pub fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// Calls `function` (one of the constants of the methods below, never input) on `key`;
    /// its result as text (`""` for the functions returning `void`).
    async fn call(
        &self,
        function: &'static str,
        key: &AdvisoryKey,
        action: &str,
    ) -> Result<Option<String>, GrantsError> {
        let row = self
            .client
            .query_typed_one(
                &sql::advisory(function),
                &sql::typed(&[&key.as_str()], sql::TEXT_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(format!("{action} {key}"), e))?;
        col(&row, 0, action)
    }

    /// Tries to take `key` without waiting: `true` when this connection holds it now.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn try_lock(&self, key: &AdvisoryKey) -> Result<bool, GrantsError> {
        let taken = self
            .call("pg_try_advisory_lock", key, "taking the advisory lock")
            .await?;
        Ok(taken.as_deref() == Some("true"))
    }

    /// Waits for `key` (as long as the session's `lock_timeout` allows; past it the error's
    /// [`sqlstate`](GrantsError::sqlstate) is `55P03`).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn lock(&self, key: &AdvisoryKey) -> Result<(), GrantsError> {
        self.call("pg_advisory_lock", key, "waiting for the advisory lock")
            .await
            .map(|_| ())
    }

    /// Releases `key` once: `true` when this connection held it.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn unlock(&self, key: &AdvisoryKey) -> Result<bool, GrantsError> {
        let released = self
            .call("pg_advisory_unlock", key, "releasing the advisory lock")
            .await?;
        Ok(released.as_deref() == Some("true"))
    }

    /// The other sessions and the prepared transactions holding `key` (in any mode) in this
    /// database, each with its user (a prepared transaction's owner) and whether that user may
    /// create roles. A holder without `CREATEROLE` or superuser (never a grantee's right) is
    /// squatting, not working ([`LockHolder::is_squatter`]).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn holders(&self, key: &AdvisoryKey) -> Result<Vec<LockHolder>, GrantsError> {
        let action = "finding who holds an advisory lock";
        let rows = self
            .client
            .query_typed(
                &sql::advisory_lock_holders(),
                &sql::typed(&[&key.as_str()], sql::TEXT_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(format!("{action} ({key})"), e))?;
        rows.iter()
            .map(|row| {
                Ok(LockHolder {
                    pid: col::<Option<i32>>(row, 0, action)?.unwrap_or_default(),
                    user: col::<Option<String>>(row, 1, action)?.unwrap_or_default(),
                    may_create_roles: col(row, 2, action)?,
                    prepared_transaction: col(row, 3, action)?,
                })
            })
            .collect()
    }

    /// The holders of `key` that squat it ([`LockHolder::is_squatter`]).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn squatters(&self, key: &AdvisoryKey) -> Result<Vec<LockHolder>, GrantsError> {
        let mut holders = self.holders(key).await?;
        holders.retain(LockHolder::is_squatter);
        Ok(holders)
    }

    /// The holders of `key` when there is one and every one squats it (see
    /// [squatters](crate::session::lock#squatters)); else empty.
    async fn squatted_by(&self, key: &AdvisoryKey) -> Result<Vec<LockHolder>, GrantsError> {
        let holders = self.holders(key).await?;
        if holders.iter().all(LockHolder::is_squatter) {
            Ok(holders)
        } else {
            Ok(Vec::new())
        }
    }

    /// Takes `key`, waiting while a connector-like session (`CREATEROLE` or superuser) holds
    /// it, but not for squatters: when the lock is held and every holder squats it
    /// ([`LockHolder::is_squatter`]), returns them **without** taking it. Empty: this
    /// connection holds the lock now (release it with [`AdvisoryLocks::unlock`]); otherwise
    /// the squatters, and nothing to release.
    ///
    /// Tries first; when that fails, reads the holders: squatters only, they are returned; a
    /// connector (also one that took the lock since the try), it waits. When the wait ends
    /// at `lock_timeout`, the holders are read again: a squatter may have taken the lock as
    /// the connector released it.
    ///
    /// ```no_run
    /// use pg_grants::{AdvisoryKey, AdvisoryLocks};
    /// use pg_grants::quote::Ident;
    ///
    /// # async fn demo(client: &tokio_postgres::Client) -> Result<(), pg_grants::GrantsError> {
    /// let locks = AdvisoryLocks::new(client);
    /// let key = AdvisoryKey::new("rdspg-role", &Ident::new("dave")?);
    /// let squatters = locks.lock_unless_squatted(&key).await?;
    /// // ... the work, with or without the lock ...
    /// if squatters.is_empty() {
    ///     locks.unlock(&key).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`GrantsError::Database`]: `55P03` when a connector held the lock past `lock_timeout`.
    pub async fn lock_unless_squatted(
        &self,
        key: &AdvisoryKey,
    ) -> Result<Vec<LockHolder>, GrantsError> {
        if self.try_lock(key).await? {
            return Ok(Vec::new());
        }
        let squatters = self.squatted_by(key).await?;
        if !squatters.is_empty() {
            return Ok(squatters);
        }
        match self.lock(key).await {
            Ok(()) => Ok(Vec::new()),
            Err(e) if e.sqlstate() == Some("55P03") => {
                let squatters = self.squatted_by(key).await?;
                if squatters.is_empty() {
                    Err(e)
                } else {
                    Ok(squatters)
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// `a (pid 1), b (prepared transaction "x")`.
pub(crate) fn holder_names(holders: &[LockHolder]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Session<'_> {
    /// The advisory locks of this session's connection.
    pub fn advisory_locks(&self) -> AdvisoryLocks<'_> {
        AdvisoryLocks::new(self.client)
    }

    /// Takes the session-level advisory lock `namespace:name` (held until
    /// [`Session::session_unlock`] or the end of the connection), waiting for connectors but
    /// not for squatters ([`AdvisoryLocks::lock_unless_squatted`]): the squatters, logged as a
    /// warning, when it went on without the lock (then there is nothing to unlock).
    pub(crate) async fn session_lock(
        &self,
        namespace: &str,
        name: &Ident,
    ) -> Result<Vec<LockHolder>, GrantsError> {
        let key = AdvisoryKey::new(namespace, name);
        let squatters = self.advisory_locks().lock_unless_squatted(&key).await?;
        if !squatters.is_empty() {
            tracing::warn!(database = %self.database, lock = %key, squatters = %holder_names(&squatters),
                "sessions without CREATEROLE hold the advisory lock: squatted, going on without it");
        }
        Ok(squatters)
    }

    /// Releases a lock taken with [`Session::session_lock`].
    pub(crate) async fn session_unlock(
        &self,
        namespace: &str,
        name: &Ident,
    ) -> Result<(), GrantsError> {
        self.advisory_locks()
            .unlock(&AdvisoryKey::new(namespace, name))
            .await
            .map(|_| ())
    }

    /// Tries to take the session-level advisory lock of job `job` on this server (e.g. one
    /// sweep of one instance at a time across connector replicas). `true`: this connection
    /// holds it until [`Session::release_job_lock`] or until the connection ends (also when
    /// the process dies); `false`: another session holds it, skip the job this round.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn try_job_lock(&self, job: &str) -> Result<bool, GrantsError> {
        self.advisory_locks().try_lock(&AdvisoryKey::job(job)).await
    }

    /// The other sessions holding the advisory lock of job `job` (see
    /// [`Session::try_job_lock`]) in this database, for when it could not be taken.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn job_lock_holders(&self, job: &str) -> Result<Vec<LockHolder>, GrantsError> {
        self.advisory_locks().holders(&AdvisoryKey::job(job)).await
    }

    /// The other sessions holding (in any mode) the advisory lock keyed by the 64-bit hash
    /// of `key` (`hashtextextended(key, 0)`, as the library takes its locks) in this
    /// database; as [`AdvisoryLocks::holders`].
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn advisory_lock_holders(&self, key: &str) -> Result<Vec<LockHolder>, GrantsError> {
        self.advisory_locks()
            .holders(&AdvisoryKey(key.to_owned()))
            .await
    }

    /// Releases a job lock taken with [`Session::try_job_lock`].
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn release_job_lock(&self, job: &str) -> Result<(), GrantsError> {
        self.advisory_locks()
            .unlock(&AdvisoryKey::job(job))
            .await
            .map(|_| ())
    }
}
