//! The lock database's sessions: job locks (`sweep`, `rotate`, `sync:<integration>`) and
//! per-role operation locks, with the sessions that squat them.

use integration_model::InstanceId;
use pg_auth::Connection;
use pg_grants::quote::Ident;
use pg_grants::{AdvisoryKey, AdvisoryLocks, GrantsError, LockHolder};

use crate::error::AccessError;
use crate::target::Target;

use super::AccessManager;

/// The namespace of per-role operation locks, taken in the lock database.
pub(super) const ROLE_LOCK: &str = "rdspg-role";

/// A dedicated connection to an instance's lock database
/// ([`Integration::lock_database`]), for session-level advisory locks.
///
/// PostgreSQL advisory locks belong to one database, so locks taken in each integration's
/// home database would not exclude each other when two integrations of one instance have
/// different `database`s. Every job lock (`sweep`, `sync:<integration>`, `rotate`) and every
/// per-role operation lock is taken here instead, one database per instance. The connection
/// is never pooled: its locks end when it is dropped, also when the work is cancelled or the
/// process dies (the server ends the session).
pub(crate) struct LockSession {
    connection: Connection,
}

impl LockSession {
    /// The connection (to run statements that must hold this session's locks).
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        self.connection.client()
    }

    /// Takes job lock `job` (see [`Session::try_job_lock`]), or says who holds it: another
    /// session, from any integration or replica, or a squatter. The key is public and any login role may
    /// take it: a lock held by a session without `CREATEROLE` is squatted
    /// ([`JobLock::Squatted`], logged as a warning), and the job runs anyway (nothing
    /// legitimate holds it); one held by connectors only is [`JobLock::Busy`].
    pub(crate) async fn job_lock(
        &self,
        instance: &InstanceId,
        job: &str,
    ) -> Result<JobLock, AccessError> {
        let locks = AdvisoryLocks::new(self.connection.client());
        let key = AdvisoryKey::job(job);
        if locks.try_lock(&key).await? {
            return Ok(JobLock::Taken);
        }
        let squatters = locks.squatters(&key).await?;
        if squatters.is_empty() {
            return Ok(JobLock::Busy);
        }
        tracing::warn!(%instance, job, squatters = %names(&squatters),
            "a session without CREATEROLE holds the job lock: squatted, running the job anyway");
        Ok(JobLock::Squatted(squatters))
    }

    /// Takes the per-role operation lock of `role` (waiting while a connector holds it;
    /// released by [`LockSession::unlock_role`] or with the connection). When a session
    /// without `CREATEROLE` holds it (any login may take the public key), it is squatted: the
    /// operation goes on without it, and the squatters are returned (empty: the lock is
    /// held here). Callers disable the role's login before, so that nothing here can keep
    /// it alive.
    pub(crate) async fn lock_role(&self, role: &Ident) -> Result<Vec<LockHolder>, GrantsError> {
        let squatters = AdvisoryLocks::new(self.connection.client())
            .lock_unless_squatted(&AdvisoryKey::new(ROLE_LOCK, role))
            .await?;
        if !squatters.is_empty() {
            tracing::warn!(user = %role, squatters = %names(&squatters),
                "a session without CREATEROLE holds the per-role lock: squatted, going on without it");
        }
        Ok(squatters)
    }

    /// Tries the per-role operation lock of `role` without waiting: [`JobLock::Taken`]
    /// (release it with [`LockSession::unlock_role`]), [`JobLock::Busy`] when a connector
    /// holds it (an operation on the role is in flight), or [`JobLock::Squatted`] when only
    /// sessions without `CREATEROLE` hold it.
    pub(crate) async fn try_lock_role(&self, role: &Ident) -> Result<JobLock, GrantsError> {
        let locks = AdvisoryLocks::new(self.connection.client());
        let key = AdvisoryKey::new(ROLE_LOCK, role);
        if locks.try_lock(&key).await? {
            return Ok(JobLock::Taken);
        }
        let squatters = locks.squatters(&key).await?;
        Ok(if squatters.is_empty() {
            JobLock::Busy
        } else {
            JobLock::Squatted(squatters)
        })
    }

    /// Releases the per-role operation lock of `role`.
    pub(crate) async fn unlock_role(&self, role: &Ident) -> Result<(), GrantsError> {
        AdvisoryLocks::new(self.connection.client())
            .unlock(&AdvisoryKey::new(ROLE_LOCK, role))
            .await
            .map(|_| ())
    }
}

/// The outcome of [`LockSession::job_lock`] and [`LockSession::try_lock_role`].
#[derive(Debug)]
pub(crate) enum JobLock {
    /// This session holds it.
    Taken,
    /// A connector (another replica or integration) holds it: skip this round.
    Busy,
    /// Only sessions without `CREATEROLE` hold it besides: run the job anyway, and report.
    Squatted(Vec<LockHolder>),
}

/// `a (pid 1), b (pid 2)`.
pub(crate) fn names(holders: &[LockHolder]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The per-role operation lock of one role on one instance, held until dropped (see
/// [`AccessManager::role_lock`]).
pub(crate) struct RoleLock {
    session: LockSession,
    /// Sessions without `CREATEROLE` that held the lock: the operation went on without it.
    pub(crate) squatters: Vec<LockHolder>,
}

/// A per-role operation lock and a connection to the integration's home database for the
/// work it covers (see [`AccessManager::locked_home`]).
pub(crate) struct LockedHome {
    lock: RoleLock,
    /// `None` when the lock's own connection is to the home database and does the work.
    home: Option<super::connections::Pooled>,
}

impl LockedHome {
    /// The connection to the home database.
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        match &self.home {
            Some(pooled) => pooled.client(),
            None => self.lock.session.client(),
        }
    }
}

impl AccessManager {
    /// Disables the login of `role`, which a read a moment ago found due (`due`: an expired
    /// user for a sweep, a user holding nothing but a failed request's grant for its undo),
    /// unless it changed since: a grant may have come in after that read, and a login disabled
    /// then stayed disabled with the grant active (tests/sweep_races.rs). Its per-role lock is
    /// taken without waiting and the role read again under it: disabled only if still `due`
    /// (`Ok(None)` otherwise). A connector holding the lock is an operation on the role in
    /// flight (a grant, a revocation, a sweep), which decides for itself: nothing is done here
    /// (`Ok(None)`; the caller's own locked step follows). When only sessions without
    /// `CREATEROLE` hold it (squatted: any login may take the public key), the login is
    /// disabled without the lock, as before, so that a grantee cannot keep its login by
    /// holding the key. Returns the sessions ended.
    pub(crate) async fn disable_login_if(
        &self,
        target: &Target,
        locks: &LockSession,
        session: &pg_grants::Session<'_>,
        role: &Ident,
        due: &(dyn Fn(&pg_grants::ManagedRole) -> bool + Sync),
    ) -> Result<Option<u64>, GrantsError> {
        match locks.try_lock_role(role).await? {
            JobLock::Busy => Ok(None),
            JobLock::Squatted(squatters) => {
                tracing::warn!(instance = %target.name, user = %role, squatters = %names(&squatters),
                    "disabling a login without the per-role lock, which sessions without CREATEROLE hold");
                session.disable_login(role).await.map(Some)
            }
            JobLock::Taken => {
                let result = match session.managed_role(role).await {
                    Ok(current) if due(&current) => session.disable_login(role).await.map(Some),
                    Ok(_) | Err(GrantsError::RoleNotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                };
                // The lock also ends with the connection.
                let _ = locks.unlock_role(role).await;
                result
            }
        }
    }

    /// Opens a [`LockSession`] on `target`'s lock database with the connector's credential.
    pub(crate) async fn lock_session(&self, target: &Target) -> Result<LockSession, AccessError> {
        let source = self.inner.credentials.source_for(target)?;
        self.lock_session_with(target, source.as_ref()).await
    }

    /// As [`AccessManager::lock_session`], logging in with `source` (a rotation logs in with a
    /// chosen stage of the secret). A password the server refuses comes back unchanged, as
    /// [`AccessError::Auth`]; any other failure is [`AccessError::LockDatabase`], naming the
    /// setting.
    pub(crate) async fn lock_session_with(
        &self,
        target: &Target,
        source: &dyn pg_auth::CredentialSource,
    ) -> Result<LockSession, AccessError> {
        let database = self.inner.integration.lock_database().as_str();
        match self.connect_with(target, database, source).await {
            Ok(connection) => Ok(LockSession { connection }),
            Err(AccessError::Auth(e)) if e.is_authentication_failure() => Err(AccessError::Auth(e)),
            Err(e) => Err(AccessError::LockDatabase {
                instance: target.name.clone(),
                database: database.to_owned(),
                source: Box::new(e),
            }),
        }
    }

    /// Takes the per-role operation lock of `role` on `target` (waiting while another holds
    /// it) in the instance's lock database, on a dedicated connection; held until the guard
    /// is dropped. Revocations (also those of sweeps and of a failed grant's undo), grants and
    /// extensions take it, so that no two operations on one role interleave whatever the home
    /// database of the integration that runs them.
    pub(crate) async fn role_lock(
        &self,
        target: &Target,
        role: &Ident,
    ) -> Result<RoleLock, AccessError> {
        let session = self.lock_session(target).await?;
        let squatters = session.lock_role(role).await?;
        Ok(RoleLock { session, squatters })
    }

    /// Takes the per-role operation lock of `role` on `target` (as
    /// [`AccessManager::role_lock`]) and a connection to the integration's home database for
    /// the work it covers. When the lock database is the home database (the default: both are
    /// the integration's `database` unless `lock_database` says otherwise), the lock's own
    /// connection does the work: one connection, one login and one backend fewer per
    /// operation. That connection is never pooled, so the session-level lock still ends with
    /// it, and nothing the work runs touches the lock (its statements are transactions; a
    /// session-level advisory lock outlives their commits and rollbacks). Otherwise the work
    /// takes a connection from the home database's pool.
    pub(crate) async fn locked_home(
        &self,
        target: &Target,
        role: &Ident,
    ) -> Result<LockedHome, AccessError> {
        let lock = self.role_lock(target, role).await?;
        let home = self.inner.integration.database();
        let home = if home == self.inner.integration.lock_database() {
            None
        } else {
            Some(self.pooled(target, home.as_str()).await?)
        };
        Ok(LockedHome { lock, home })
    }
}
