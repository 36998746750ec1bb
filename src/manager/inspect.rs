//! [`AccessManager::inspect`]: what a user holds.

use integration_model::Identifier;
use pg_grants::plan::Inspection;
use pg_grants::quote::Ident;
use pg_grants::{GrantsError, Session};

use crate::error::AccessError;
use crate::report::{FleetReport, UserStatus};

use super::AccessManager;

impl AccessManager {
    /// The privileges the role `user` holds now, per instance and database (all databases the
    /// connector can reach, or only `database`). One catalog query per database.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn inspect(
        &self,
        user: &Identifier,
        database: Option<&Identifier>,
    ) -> Result<FleetReport<Vec<Inspection>>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let only_database = database.map(Ident::from);
        Ok(self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                let only_database = only_database.clone();
                async move {
                    let databases = match only_database {
                        Some(db) => vec![db],
                        None => self.databases(&target).await?,
                    };
                    let mut inspections = Vec::new();
                    for database in databases {
                        let connection = self.pooled(&target, database.as_str()).await?;
                        let session =
                            Session::new(connection.client(), self.inner.grants.clone()).await?;
                        inspections.push(session.inspect(&role, &[]).await?);
                    }
                    Ok(inspections)
                }
            })
            .await)
    }

    /// Where the managed user `user` stands on every instance: its grants, whether it is
    /// active, expired (the next sweep revokes it) or revoked and kept (disabled since, and
    /// deleted on, as `user_cleanup_days` says). `None` where it does not exist; an error where
    /// a role of that name is not managed.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn user_status(
        &self,
        user: &Identifier,
    ) -> Result<FleetReport<Option<UserStatus>>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let now = self.now();
        Ok(self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let home = self.inner.integration.database().as_str();
                    let connection = self.pooled(&target, home).await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    match session.managed_role(&role).await {
                        Ok(managed) => Ok(Some(self.user_status_of(&managed, now))),
                        Err(GrantsError::RoleNotFound { .. }) => Ok(None),
                        Err(e) => Err(e.into()),
                    }
                }
            })
            .await)
    }

    /// Every managed user on every instance with where it stands (see
    /// [`AccessManager::user_status`]), in name order: active ones, expired ones the next sweep
    /// revokes, and those revoked and kept until their cleanup.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn users(&self) -> Result<FleetReport<Vec<UserStatus>>, AccessError> {
        let resolution = self.targets().await?;
        let now = self.now();
        Ok(self
            .fan_out(resolution, None, |target, _| async move {
                let home = self.inner.integration.database().as_str();
                let connection = self.pooled(&target, home).await?;
                let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
                let mut users: Vec<UserStatus> = session
                    .managed_roles()
                    .await?
                    .iter()
                    .map(|r| self.user_status_of(r, now))
                    .collect();
                users.sort_by(|a, b| a.user.cmp(&b.user));
                Ok(users)
            })
            .await)
    }

    fn user_status_of(
        &self,
        role: &pg_grants::ManagedRole,
        now: time::OffsetDateTime,
    ) -> UserStatus {
        let cleanup = self.cleanup_period();
        UserStatus {
            user: role.name.to_string(),
            state: role.record.state(now),
            can_login: role.can_login,
            grants: role.record.grants.clone(),
            password_set_at: role.record.password_set_at,
            deletes_on: role.record.deletes_on(cleanup),
        }
    }
}
