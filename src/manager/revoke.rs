//! [`AccessManager::revoke`]: a user's access ends everywhere.

use integration_model::Identifier;
use pg_grants::quote::Ident;
use pg_grants::{GrantRecord, GrantsError, RevokeReport, Session};

use crate::error::AccessError;
use crate::report::{FleetReport, GrantRevocation};

use super::AccessManager;
use super::locks::names;
use super::users::{Ended, UserEnd};

impl AccessManager {
    /// Revokes the managed role `user` everywhere the integration reaches, every grant it
    /// holds: no new logins, its sessions ended, its privileges and memberships removed in
    /// every database; then, with `user_cleanup_days = 0` (the default), its objects
    /// reassigned to its holder (never dropped) and the role dropped; above 0, the role kept
    /// with what it owns, powerless (see [`pg_grants::revoke`]), until a sweep deletes it
    /// that many days later (a grant meanwhile enables it again). Roles the library did not
    /// create are refused, unchanged.
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
                    let mut report = match session.managed_role(&role).await {
                        Ok(current) => {
                            let end = UserEnd::BySettings(self.now());
                            self.end_user(&target, &session, &current, end).await?
                        }
                        // Reported by the revocation as nothing dropped here.
                        Err(GrantsError::RoleNotFound { .. }) => {
                            let connector = self.database_connector(&target);
                            session.revoke_role(&role, &connector).await?
                        }
                        Err(e) => return Err(e.into()),
                    };
                    report.sessions_terminated += ended;
                    Ok(report)
                }
            })
            .await;
        self.audit().revoke(user, &report);
        Ok(report)
    }

    /// Ends the grant of `request_id` that `user` holds, everywhere the integration reaches:
    /// its privileges go, except those another active grant of the user still covers (the
    /// union of the remaining grants is applied with the plan/diff), and `VALID UNTIL` follows
    /// the latest remaining expiry. When it was the user's last grant, the user is revoked as
    /// [`AccessManager::revoke`] does. An instance where the user does not hold it reports
    /// [`GrantRevocation::NotHeld`] and changes nothing.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn revoke_request(
        &self,
        user: &Identifier,
        request_id: &str,
    ) -> Result<FleetReport<GrantRevocation>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let report = self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let end = UserEnd::BySettings(self.now());
                    let ours = |g: &GrantRecord| g.request_id == request_id;
                    Ok(
                        match self.end_grants_on(&target, &role, &ours, end).await? {
                            Ended::Nothing => GrantRevocation::NotHeld,
                            Ended::Grants { plans, .. } => GrantRevocation::Ended { plans },
                            Ended::User(report) => GrantRevocation::UserRevoked(report),
                        },
                    )
                }
            })
            .await;
        self.audit().revoke_request(user, request_id, &report);
        Ok(report)
    }
}
