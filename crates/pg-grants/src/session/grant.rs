//! One entry point for a grant: create the role or complete the one of the same request
//! ([`Session::create_or_complete`], which reads the role's marks once), then give it its
//! privileges in each database ([`Session::apply_to`], which reads them no more).
//!
//! A grant on one instance opens one [`Session`] per database it touches and reads the role's
//! marks once: the role is the server's (roles are shared by every database of a cluster), so
//! what the first database's session found holds for the others, while the caller holds the
//! role's operation lock.

use crate::error::GrantsError;
use crate::privilege::Grant;
use crate::role::{self, LoginAuth, NewRole};

use super::{ApplyReport, CreateOutcome, ManagedRole, Session};

/// What [`Session::create_or_complete`] found or did, and the managed role to pass to
/// [`Session::apply_to`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RoleOnInstance {
    /// Created now, or found for the same request (with its record, which the caller compares
    /// with the request, e.g. its level).
    pub outcome: CreateOutcome,
    /// The role, its marks checked.
    pub role: ManagedRole,
}

impl Session<'_> {
    /// Creates `new` with its marks (creating the marker role when missing), or finds the
    /// managed role of the same request (`new.record.request_id`); reads the role's marks once.
    /// The returned [`RoleOnInstance::role`] is what [`Session::apply_to`] takes, in this
    /// session and in the sessions of the instance's other databases.
    ///
    /// # Errors
    /// [`GrantsError::RoleInUse`] when a managed role of that name belongs to another request;
    /// [`GrantsError::NotManaged`] when an unmanaged role has that name;
    /// [`GrantsError::CannotGrantRole`] when the connector may not grant `rds_iam` or the marker
    /// (with the fix SQL for this server version); [`GrantsError::Database`].
    pub async fn create_or_complete(&self, new: &NewRole) -> Result<RoleOnInstance, GrantsError> {
        match self.managed_role(&new.name).await {
            Ok(existing) if existing.record.request_id == new.record.request_id => {
                return Ok(RoleOnInstance {
                    outcome: CreateOutcome::AlreadyExists(existing.record.clone()),
                    role: existing,
                });
            }
            Ok(existing) => {
                return Err(GrantsError::RoleInUse {
                    role: new.name.to_string(),
                    request_id: existing.record.request_id,
                });
            }
            Err(GrantsError::RoleNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if matches!(new.auth, LoginAuth::Iam)
            && self.can_grant(&self.settings.names.iam).await? != Some(true)
        {
            return Err(self.cannot_grant(&self.settings.names.iam));
        }
        self.ensure_marker().await?;
        let stmts = role::create_role(new, &self.settings.names, &self.rules)?;
        match self
            .run_locked(&format!("creating role {}", new.name), &new.name, &stmts)
            .await
        {
            Ok(_) => Ok(RoleOnInstance {
                outcome: CreateOutcome::Created,
                role: ManagedRole {
                    name: new.name.clone(),
                    record: new.record.clone(),
                    can_login: true,
                    legacy_mark: false,
                },
            }),
            // Another replica created it between the check and the lock.
            Err(e) if e.sqlstate() == Some("42710") => match self.managed_role(&new.name).await {
                Ok(r) if r.record.request_id == new.record.request_id => Ok(RoleOnInstance {
                    outcome: CreateOutcome::AlreadyExists(r.record.clone()),
                    role: r,
                }),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Gives `role` (as [`Session::create_or_complete`] or [`Session::managed_role`] found it,
    /// on this server) exactly `grants` in this session's database, as [`Session::apply`]
    /// does, without reading its marks again. A role still carrying the 0.1.0 mark is re-marked
    /// first, once: `role` then records the current mark.
    ///
    /// # Errors
    /// As [`Session::apply`].
    pub async fn apply_to(
        &self,
        role: &mut ManagedRole,
        grants: &[Grant],
    ) -> Result<ApplyReport, GrantsError> {
        if self.migrate_legacy_mark(role).await? {
            role.legacy_mark = false;
        }
        self.apply_with(&role.name, grants, true).await
    }
}
