//! [`AccessManager::sweep`]: every expired managed user revoked, logins first.

use std::collections::BTreeMap;

use pg_grants::{GrantRecord, GrantsError, ManagedRole, RevokeReport, Session, UserState};
use time::OffsetDateTime;

use crate::audit::{AuditAction, AuditChange};
use crate::error::AccessError;
use crate::report::{EndedGrant, FleetReport, SweepReport, SweptFailure, SweptRole};
use crate::target::Target;

use super::AccessManager;
use super::locks::JobLock;
use super::users::{Ended, UserEnd};

/// What a sweep does with one managed user it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Todo {
    /// Every grant ended: revoke the user (dropped, or kept for `user_cleanup_days`).
    EndUser,
    /// Some grants ended, others are active: end those.
    EndGrants,
    /// Revoked and kept, its cleanup period over: drop it.
    Delete,
}

/// What a sweep did with one managed user.
enum Swept {
    Nothing,
    Grants(Vec<GrantRecord>),
    User(RevokeReport),
}

/// The job-lock name of sweeps.
pub(super) const SWEEP_JOB: &str = "sweep";

impl AccessManager {
    /// Revokes every managed role whose expiry has passed, on every instance, found from the
    /// marks in the databases themselves (no local state): it works after any restart, and for
    /// IAM users, whom `VALID UNTIL` does not stop. Each role is revoked as
    /// [`AccessManager::revoke`] does. Replicas sweeping at once do not conflict: one sweep
    /// of an instance runs at a time (a session-level advisory lock on that instance, in its
    /// `lock_database`, whatever the integration's home database; the others report it as
    /// skipped), and a role another replica already dropped counts as
    /// done.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sweep(&self) -> Result<FleetReport<SweepReport>, AccessError> {
        self.sweep_until(None).await
    }

    /// Disables the login of every expired managed role on `target` that can still log in,
    /// each on its own, only if still expired under its lock (see
    /// [`AccessManager::disable_login_if`]); failures are logged (the
    /// sweep that holds the instance's job lock reports them).
    pub(super) async fn disable_expired_logins(
        &self,
        target: &Target,
        locks: &super::LockSession,
        now: OffsetDateTime,
    ) {
        let home = self.inner.integration.database().as_str();
        let result = async {
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            for role in session.managed_roles().await? {
                if role.can_login
                    && role.record.is_expired(now)
                    && let Err(error) = self
                        .disable_login_if(target, locks, &session, &role.name, &|r| {
                            r.can_login && r.record.is_expired(now)
                        })
                        .await
                {
                    tracing::error!(instance = %target.name, user = %role.name, error = %crate::error_chain(&error),
                        "could not disable the login of an expired user");
                }
            }
            Ok::<(), AccessError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::error!(instance = %target.name, error = %crate::error_chain(&error),
                "could not disable the logins of expired users");
        }
    }

    /// [`Session::sweep_access_roles`] in every database of `target` that has access roles,
    /// `home` reused for the integration's home database; the results merged.
    async fn sweep_access_roles(
        &self,
        target: &Target,
        home: &Session<'_>,
        now: OffsetDateTime,
    ) -> Result<pg_grants::AccessSweep, AccessError> {
        let mut databases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for state in home.access_roles().await? {
            databases
                .entry(state.role.key.database)
                .or_default()
                .push(state.role.name.to_string());
        }
        let mut out = pg_grants::AccessSweep::default();
        for (database, roles) in databases {
            let swept = if database == home.database() {
                home.sweep_access_roles(now)
                    .await
                    .map_err(AccessError::from)
            } else {
                self.sweep_access_roles_in(target, &database, now).await
            };
            match swept {
                Ok(swept) => {
                    out.marked_idle.extend(swept.marked_idle);
                    out.dropped.extend(swept.dropped);
                    out.in_use_again.extend(swept.in_use_again);
                    out.repaired.extend(swept.repaired);
                    out.unfit.extend(swept.unfit);
                    out.blocked.extend(swept.blocked);
                }
                // The server stopped answering (a connection lost, not established, timed
                // out): the instance's sweep did not finish, and says so (the scheduler's next
                // round does the rest). Found by tests/faults.rs on PostgreSQL 17: a sweep cut
                // while aging access roles reported itself complete.
                Err(error) if lost_connection(&error) => return Err(error),
                // One database that cannot be swept (dropped or renamed since its access roles
                // were made, refused by the server) never stops the others: its roles are named.
                Err(error) => {
                    let reason = format!(
                        "sweeping the access roles of database {database:?}: {}",
                        crate::error_chain(&error)
                    );
                    tracing::warn!(instance = %target.name, %database, %reason,
                        "access roles of one database not swept");
                    out.blocked.extend(
                        roles
                            .into_iter()
                            .map(|name| pg_grants::RefusedRole::new(name, reason.clone())),
                    );
                }
            }
        }
        Ok(out)
    }

    /// [`Session::sweep_access_roles`] in `database` of `target`, on a pooled connection.
    async fn sweep_access_roles_in(
        &self,
        target: &Target,
        database: &str,
        now: OffsetDateTime,
    ) -> Result<pg_grants::AccessSweep, AccessError> {
        let other = self.pooled(target, database).await?;
        Ok(Session::new(other.client(), self.inner.grants.clone())
            .await?
            .sweep_access_roles(now)
            .await?)
    }

    /// One user of a sweep, its lock held: read again (a grant may have come in since the
    /// list was read), then done as `what` says, if still due.
    async fn sweep_role(
        &self,
        target: &Target,
        session: &Session<'_>,
        listed: &ManagedRole,
        what: Todo,
        now: OffsetDateTime,
    ) -> Result<Swept, AccessError> {
        let current = match session.managed_role(&listed.name).await {
            Ok(current) => current,
            // Another replica (or a revoke) was first.
            Err(GrantsError::RoleNotFound { .. }) if what != Todo::EndGrants => {
                // Reported as a revocation that found nothing to drop here.
                let connector = self.database_connector(target);
                return Ok(Swept::User(
                    session.revoke_role(&listed.name, &connector).await?,
                ));
            }
            Err(GrantsError::RoleNotFound { .. }) => return Ok(Swept::Nothing),
            Err(e) => return Err(e.into()),
        };
        match (what, current.record.state(now)) {
            (Todo::Delete, UserState::Disabled { since })
                if now >= since + self.cleanup_period() =>
            {
                Ok(Swept::User(
                    session
                        .revoke_role(&current.name, &self.database_connector(target))
                        .await?,
                ))
            }
            // A grant came in since the list was read: the user is active again, and its
            // login (which this sweep may have disabled a moment before) is restored.
            (Todo::EndUser | Todo::Delete, UserState::Active { .. }) => {
                if !current.can_login {
                    session.enable_login(&current.name, now).await?;
                }
                Ok(Swept::Nothing)
            }
            (Todo::Delete, _) => Ok(Swept::Nothing),
            (Todo::EndUser | Todo::EndGrants, _) => {
                let expired = |g: &GrantRecord| g.is_expired(now);
                match self
                    .end_grants(
                        target,
                        session,
                        current,
                        &expired,
                        UserEnd::BySettings(now),
                        now,
                    )
                    .await?
                {
                    Ended::Nothing => Ok(Swept::Nothing),
                    Ended::Grants { ended, .. } => Ok(Swept::Grants(ended)),
                    Ended::User(report) => Ok(Swept::User(report)),
                }
            }
        }
    }

    /// As [`AccessManager::sweep`]; once `stop` is cancelled, each instance finishes the
    /// revocation in flight and starts no other (the rest waits for the next sweep). The
    /// service's sweep job runs this with its shutdown token.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sweep_until(
        &self,
        stop: Option<&tokio_util::sync::CancellationToken>,
    ) -> Result<FleetReport<SweepReport>, AccessError> {
        let resolution = self.targets().await?;
        let now = self.now();
        Ok(self
            .fan_out(resolution, None, |target, _| async move {
                // One sweep of an instance at a time across replicas and integrations (in the
                // lock database); the others skip it this round. The lock goes with the
                // connection, also when this process dies.
                let locks = self.lock_session(&target).await?;
                // A lock held only by sessions without CREATEROLE is squatted: the sweep runs
                // anyway and the report names them (a failure of the instance's run).
                let mut lock_squatters = match locks.job_lock(&target.name, SWEEP_JOB).await? {
                    JobLock::Taken => Vec::new(),
                    JobLock::Squatted(squatters) => squatters,
                    JobLock::Busy => {
                        // Whoever holds the lock (another replica, or a role that only looks
                        // like one, or a prepared transaction nobody can end), no expired user
                        // keeps its login meanwhile: disabling a login never waits for a lock
                        // (each user's is tried; one a connector holds is an operation on it in
                        // flight, which decides, and one only a squatter holds is ignored).
                        self.disable_expired_logins(&target, &locks, now).await;
                        return Ok(SweepReport {
                            skipped: true,
                            swept: Vec::new(),
                            failed: Vec::new(),
                            active: None,
                            ended_grants: Vec::new(),
                            retained: None,
                            lock_squatters: Vec::new(),
                            refused: Vec::new(),
                            access_roles: pg_grants::AccessSweep::default(),
                            unchanged: Vec::new(),
                        });
                    }
                };
                let home = self.inner.integration.database().as_str();
                let connection = self.connect(&target, home).await?;
                let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
                // The intents a process that died left on this instance, resolved from what
                // the database says now (under the job lock and each role's lock).
                self.recover_sweep_intents(&target, &locks, &session).await;
                // Before PostgreSQL 16 a user marked the 0.1.0 way may SET ROLE to the marker:
                // re-mark every such user first (each on its own; failures are logged).
                match session.migrate_marks().await {
                    Ok(moved) if !moved.is_empty() => {
                        tracing::info!(instance = %target.name, roles = moved.len(),
                            "re-marked roles marked the 0.1.0 way");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(instance = %target.name, error = %crate::error_chain(&error),
                            "could not list roles to re-mark");
                    }
                }
                let cleanup = self.cleanup_period();
                let mut todo: Vec<(ManagedRole, Todo)> = Vec::new();
                let (mut active, mut retained) = (0, 0);
                let marked = session.marked_roles().await?;
                for role in marked.managed {
                    match role.record.state(now) {
                        UserState::Disabled { since } if now >= since + cleanup => {
                            todo.push((role, Todo::Delete));
                        }
                        UserState::Disabled { .. } => retained += 1,
                        UserState::Active { .. } => {
                            active += 1;
                            if role.record.grants.iter().any(|g| g.is_expired(now)) {
                                todo.push((role, Todo::EndGrants));
                            }
                        }
                        _ => todo.push((role, Todo::EndUser)),
                    }
                }
                // First, quickly, no expired user logs in any more (IAM users do not check
                // VALID UNTIL); then each is revoked on its own: one that cannot be revoked is
                // reported and the sweep goes on with the next.
                // Each under its lock, read again (see `disable_login_if`): a sweep stopped
                // before it reaches a user leaves no active one disabled.
                let mut disabled: BTreeMap<String, Result<u64, GrantsError>> = BTreeMap::new();
                for (role, _) in todo
                    .iter()
                    .filter(|(r, t)| *t == Todo::EndUser && r.can_login)
                {
                    match self
                        .disable_login_if(&target, &locks, &session, &role.name, &|r| {
                            r.can_login && r.record.is_expired(now)
                        })
                        .await
                    {
                        Ok(None) => {}
                        result => {
                            disabled.insert(role.name.to_string(), result.map(Option::unwrap_or_default));
                        }
                    }
                }
                let mut swept = Vec::new();
                let mut failed = Vec::new();
                let mut ended_grants = Vec::new();
                let mut unchanged = Vec::new();
                for (role, what) in todo {
                    if stop.is_some_and(tokio_util::sync::CancellationToken::is_cancelled) {
                        break;
                    }
                    let disabled = disabled.remove(role.name.as_str());
                    let ended_before = disabled.as_ref().and_then(|d| d.as_ref().ok()).copied();
                    let role_squatters = locks.lock_role(&role.name).await?;
                    // Squatted: the lock was never taken here, nothing to release.
                    let held = role_squatters.is_empty();
                    for squatter in role_squatters {
                        if !lock_squatters.contains(&squatter) {
                            lock_squatters.push(squatter);
                        }
                    }
                    // The intent, on disk before the change (see `audit`): a process killed
                    // before the outcome leaves it for the next sweep to resolve.
                    let latest = role.record.latest_grant();
                    let intent = self.audit().intent(
                        AuditAction::Sweep,
                        &target.name,
                        match what {
                            Todo::EndUser => AuditChange::RevokeUser,
                            Todo::EndGrants => AuditChange::EndGrants,
                            Todo::Delete => AuditChange::DeleteUser,
                        },
                        role.name.as_str(),
                        latest
                            .filter(|_| what != Todo::EndGrants)
                            .map(|g| g.request_id.as_str()),
                        Some(role.record.expires_at()),
                    );
                    crate::death::point("sweep:before-change").await;
                    let result = self.sweep_role(&target, &session, &role, what, now).await;
                    if matches!(result, Ok(Swept::Grants(_) | Swept::User(_))) {
                        crate::death::point("sweep:after-change").await;
                    }
                    // The outcome is written before the role's lock is released: recovery
                    // (which takes it) never finds an intent whose process is still at work.
                    match result {
                        Ok(Swept::Nothing) => {
                            self.audit().no_change(&intent);
                            unchanged.push(crate::report::UnchangedRole {
                                user: role.name.to_string(),
                                request_id: intent.request_id.clone().unwrap_or_default(),
                            });
                        }
                        Ok(Swept::Grants(ended)) => {
                            for grant in ended {
                                let ended = EndedGrant {
                                    user: role.name.to_string(),
                                    request_id: grant.request_id,
                                    expired_at: grant.expires_at,
                                };
                                self.audit().grant_ended(Some(&intent), &target.name, &ended);
                                ended_grants.push(ended);
                            }
                        }
                        Ok(Swept::User(mut report)) => {
                            report.sessions_terminated += ended_before.unwrap_or(0);
                            // The revocation's own locks, squatted in the home database.
                            for squatter in &report.lock_squatters {
                                if !lock_squatters.contains(squatter) {
                                    lock_squatters.push(squatter.clone());
                                }
                            }
                            let latest = role.record.latest_grant();
                            let role = SweptRole {
                                user: role.name.to_string(),
                                expired_at: role.record.expires_at(),
                                request_id: latest.map(|g| g.request_id.clone()).unwrap_or_default(),
                                dropped_here: report.dropped || report.retained,
                                retained: report.retained,
                                cleanup: what == Todo::Delete,
                                report,
                            };
                            // As each role goes: a replica that dies mid-sweep has recorded
                            // its part.
                            self.audit().swept(Some(&intent), &target.name, &role);
                            swept.push(role);
                        }
                        Err(error) => {
                            self.audit().sweep_failed(Some(&intent), &target.name, &role, &error);
                            tracing::error!(instance = %target.name, user = %role.name,
                                error = %crate::error_chain(&error), "an expired user could not be revoked");
                            // Whether it can still log in, as the server says now.
                            let login_disabled = match session.managed_role(&role.name).await {
                                Ok(now) => !now.can_login,
                                Err(_) => !role.can_login || ended_before.is_some(),
                            };
                            let disable_login = match disabled {
                                Some(Err(disable)) => Some(Box::new(disable)),
                                _ => None,
                            };
                            let latest = role.record.latest_grant();
                            failed.push(SweptFailure {
                                user: role.name.to_string(),
                                request_id: latest.map(|g| g.request_id.clone()).unwrap_or_default(),
                                expired_at: role.record.expires_at(),
                                login_disabled,
                                error: AccessError::SweepFailed {
                                    revoke: Box::new(error),
                                    disable_login,
                                },
                            });
                        }
                    }
                    // The lock also ends with the connection; a failure to release it changes
                    // nothing.
                    if held {
                        let _ = locks.unlock_role(&role.name).await;
                    }
                }
                // Last, under the job lock: access roles left without members age, and go
                // after their grace period.
                let mut refused = marked.refused;
                let access_roles = if session.uses_access_roles() {
                    let swept = self.sweep_access_roles(&target, &session, now).await?;
                    refused.extend(swept.unfit.iter().cloned());
                    refused.extend(swept.blocked.iter().cloned());
                    swept
                } else {
                    pg_grants::AccessSweep::default()
                };
                drop(locks); // releases the job lock
                Ok(SweepReport {
                    skipped: false,
                    swept,
                    failed,
                    active: Some(active),
                    ended_grants,
                    retained: Some(retained),
                    lock_squatters,
                    refused,
                    access_roles,
                    unchanged,
                })
            })
            .await)
    }
}

/// Whether `error` is the server not serving this instance's writes now (a connection lost
/// mid-way or not made: refused, timed out, the pool backing off or closed; the server
/// starting, stopping or full, SQLSTATE classes 08 and 57 and 53300; read-only after a failover,
/// 25006, which the failover retry acts on), rather than its answer refusing something.
fn lost_connection(error: &AccessError) -> bool {
    use pg_auth::AuthError;
    match error {
        AccessError::Grants(grants) => grants.server_unavailable(),
        AccessError::Auth(auth) => match auth {
            AuthError::Connect { .. }
            | AuthError::Timeout { .. }
            | AuthError::Backoff { .. }
            | AuthError::Query { .. }
            | AuthError::Pool { .. }
            | AuthError::ReadOnlyServer { .. } => true,
            AuthError::Rejected { source, .. } => source
                .code()
                .is_some_and(|c| pg_grants::error::unavailable_sqlstate(c.code())),
            _ => false,
        },
        AccessError::Timeout { .. } => true,
        _ => crate::error::is_read_only(error),
    }
}
