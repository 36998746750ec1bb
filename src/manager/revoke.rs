//! [`AccessManager::revoke`]: a user's access ends everywhere.

use integration_model::Identifier;
use pg_grants::quote::Ident;
use pg_grants::{GrantsError, LockHolder, RevokeReport, Session};

use crate::error::AccessError;
use crate::report::FleetReport;
use crate::target::Target;

use super::AccessManager;
use super::locks::{LockSession, names};

impl AccessManager {
    /// Revokes the managed role `user` everywhere the integration reaches: no new logins, its
    /// sessions ended, its objects reassigned (never dropped), its privileges removed in every
    /// database, the role dropped. Roles the library did not create are refused, unchanged.
    /// One revocation of a role per instance runs at a time, also across integrations with
    /// different home databases: each holds the role's lock in the instance's `lock_database`.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn revoke(
        &self,
        user: &Identifier,
    ) -> Result<FleetReport<RevokeReport>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let report = self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let connection = self
                        .connect(&target, self.inner.integration.database().as_str())
                        .await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    // First, before any lock (whose public key anybody may hold): no login,
                    // no session left, whatever happens next.
                    let ended = match session.disable_login(&role).await {
                        Ok(ended) => ended,
                        // Nothing to revoke here (the revocation reports it so).
                        Err(GrantsError::RoleNotFound { .. }) => 0,
                        Err(e) => return Err(e.into()),
                    };
                    // One operation on this role at a time, whatever the home database.
                    let role_lock = self.role_lock(&target, &role).await?;
                    if !role_lock.squatters.is_empty() {
                        tracing::warn!(instance = %target.name, user = %role,
                            squatters = %names(&role_lock.squatters),
                            "revoking without the per-role lock, which sessions without CREATEROLE hold");
                    }
                    let connector = self.database_connector(&target);
                    let mut report = session.revoke_role(&role, &connector).await?;
                    report.sessions_terminated += ended;
                    Ok(report)
                }
            })
            .await;
        self.audit().revoke(user, &report);
        Ok(report)
    }

    /// Revokes `role` on `target` through `session` while holding its per-role lock on
    /// `locks` (a sweep's lock session, which also holds the sweep's job lock).
    pub(super) async fn revoke_role_locked(
        &self,
        locks: &LockSession,
        session: &Session<'_>,
        role: &Ident,
        target: &Target,
        squatters: &mut Vec<LockHolder>,
    ) -> Result<RevokeReport, GrantsError> {
        // The login was disabled first (see the sweep); a squatted lock is gone without.
        for squatter in locks.lock_role(role).await? {
            if !squatters.contains(&squatter) {
                squatters.push(squatter);
            }
        }
        let result = session
            .revoke_role(role, &self.database_connector(target))
            .await;
        // The lock also ends with the connection; a failure to release it changes nothing.
        let _ = locks.unlock_role(role).await;
        result
    }
}
