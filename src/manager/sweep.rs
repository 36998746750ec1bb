//! [`AccessManager::sweep`]: every expired managed user revoked, logins first.

use std::collections::BTreeMap;

use pg_grants::{GrantsError, Session};
use time::OffsetDateTime;

use crate::error::AccessError;
use crate::report::{FleetReport, SweepReport, SweptFailure, SweptRole};
use crate::target::Target;

use super::AccessManager;
use super::locks::JobLock;

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
    /// each on its own, taking no lock (see [`Session::disable_login`]); failures are logged
    /// (the sweep that holds the instance's job lock reports them).
    pub(super) async fn disable_expired_logins(&self, target: &Target, now: OffsetDateTime) {
        let home = self.inner.integration.database().as_str();
        let result = async {
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            for role in session.managed_roles().await? {
                if role.can_login
                    && role.record.is_expired(now)
                    && let Err(error) = session.disable_login(&role.name).await
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
                        // keeps its login meanwhile: disabling a login takes no lock.
                        self.disable_expired_logins(&target, now).await;
                        return Ok(SweepReport {
                            skipped: true,
                            swept: Vec::new(),
                            failed: Vec::new(),
                            active: None,
                            lock_squatters: Vec::new(),
                        });
                    }
                };
                let home = self.inner.integration.database().as_str();
                let connection = self.connect(&target, home).await?;
                let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
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
                let (expired, active): (Vec<_>, Vec<_>) = session
                    .managed_roles()
                    .await?
                    .into_iter()
                    .partition(|r| r.record.is_expired(now));
                // First, quickly, no expired role logs in any more (IAM users do not check
                // VALID UNTIL); then each is revoked on its own: one that cannot be revoked is
                // reported and the sweep goes on with the next.
                let mut disabled: BTreeMap<String, Result<u64, GrantsError>> = BTreeMap::new();
                for role in expired.iter().filter(|r| r.can_login) {
                    let result = session.disable_login(&role.name).await;
                    disabled.insert(role.name.to_string(), result);
                }
                let mut swept = Vec::new();
                let mut failed = Vec::new();
                for role in expired {
                    if stop.is_some_and(tokio_util::sync::CancellationToken::is_cancelled) {
                        break;
                    }
                    let disabled = disabled.remove(role.name.as_str());
                    let ended_before = disabled.as_ref().and_then(|d| d.as_ref().ok()).copied();
                    match self
                        .revoke_role_locked(
                            &locks,
                            &session,
                            &role.name,
                            &target,
                            &mut lock_squatters,
                        )
                        .await
                    {
                        Ok(mut report) => {
                            report.sessions_terminated += ended_before.unwrap_or(0);
                            let role = SweptRole {
                                user: role.name.to_string(),
                                expired_at: role.record.expires_at,
                                request_id: role.record.request_id.clone(),
                                dropped_here: report.dropped,
                                report,
                            };
                            // As each role goes: a replica that dies mid-sweep has recorded
                            // its part.
                            self.audit().swept(&target.name, &role);
                            swept.push(role);
                        }
                        Err(error) => {
                            self.audit().sweep_failed(&target.name, &role, &error);
                            tracing::error!(instance = %target.name, user = %role.name,
                                error = %crate::error_chain(&error), "an expired user could not be revoked");
                            // Whether it can still log in, as the server says now.
                            let login_disabled = match session.managed_role(&role.name).await {
                                Ok(now) => !now.can_login,
                                Err(_) => !role.can_login || ended_before.is_some(),
                            };
                            let error = match disabled {
                                Some(Err(disable)) => AccessError::SweepFailed {
                                    revoke: Box::new(error),
                                    disable_login: Some(Box::new(disable)),
                                },
                                _ => AccessError::SweepFailed {
                                    revoke: Box::new(error),
                                    disable_login: None,
                                },
                            };
                            failed.push(SweptFailure {
                                user: role.name.to_string(),
                                request_id: role.record.request_id.clone(),
                                expired_at: role.record.expires_at,
                                login_disabled,
                                error,
                            });
                        }
                    }
                }
                drop(locks); // releases the job lock
                Ok(SweepReport {
                    skipped: false,
                    swept,
                    failed,
                    active: Some(active.len()),
                    lock_squatters,
                })
            })
            .await)
    }
}
