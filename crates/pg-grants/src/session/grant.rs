//! One entry point for a grant: create the role, or add the request's grant to the managed
//! user of that name ([`Session::create_or_add`], which reads the role's marks once), then give
//! it its privileges in each database ([`Session::apply_to`], which reads them no more).
//!
//! A grant on one instance opens one [`Session`] per database it touches and reads the role's
//! marks once: the role is the server's (roles are shared by every database of a cluster), so
//! what the first database's session found holds for the others, while the caller holds the
//! role's operation lock.
//!
//! A user holds any number of grants at once (each request its own, see
//! [`ManagedRecord::grants`]); its privileges in a database are the union of its active
//! grants' there, which the caller applies with [`Session::apply_to`] (it knows which grants
//! cover which database).

use time::OffsetDateTime;

use crate::error::{GrantsError, col};
use crate::marker::{ManagedRecord, ServiceRole};
use crate::privilege::Grant;
use crate::role::{self, LoginAuth, NewRole};
use crate::sql;

use super::{ApplyReport, CreateOutcome, ManagedRole, Session};

/// What [`Session::create_or_add`] found or did, and the managed role to pass to
/// [`Session::apply_to`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RoleOnInstance {
    /// Created now, or found (with its record as it was, from which the caller learns the
    /// grants it held before, e.g. to remove the privileges of those that ended).
    pub outcome: CreateOutcome,
    /// The role, its marks checked, with its record as it is now.
    pub role: ManagedRole,
    /// The marker role was created with it (the instance's first managed user).
    pub marker_created: bool,
}

impl Session<'_> {
    /// [`Session::create_or_add`] at the current time.
    ///
    /// # Errors
    /// As [`Session::create_or_add`].
    pub async fn create_or_complete(&self, new: &NewRole) -> Result<RoleOnInstance, GrantsError> {
        self.create_or_add(new, OffsetDateTime::now_utc()).await
    }

    /// Creates `new` with its marks (creating the marker role when missing); or, when a managed
    /// user of that name exists, adds the newest grant of `new.record` to its record (a re-run
    /// of a request it holds keeps that grant's expiry), keeps the grants that ended (the sweep drops them once their privileges are gone),
    /// moves `VALID UNTIL` to the latest expiry and, for a user revoked and kept (or whose login
    /// a sweep disabled), enables its login again (with `rds_iam` again for IAM users). Its
    /// password is left as it is ([`Session::set_password_at`] changes it), its objects are
    /// still its own. Reads the role's marks once. The returned [`RoleOnInstance::role`] is
    /// what [`Session::apply_to`] takes, in this session and in those of the instance's other
    /// databases.
    ///
    /// # Errors
    /// [`GrantsError::RequestConflict`] when the user holds the request id for other access;
    /// [`GrantsError::RequestExpired`] for a re-run of a request whose grant has ended;
    /// [`GrantsError::TooManyGrants`]; [`GrantsError::NotManaged`] when an unmanaged role has
    /// that name; [`GrantsError::CannotGrantRole`] when the connector may not grant `rds_iam`
    /// or the marker (with the fix SQL for this server version);
    /// [`GrantsError::CannotAdministerRole`]; [`GrantsError::Database`].
    pub async fn create_or_add(
        &self,
        new: &NewRole,
        now: OffsetDateTime,
    ) -> Result<RoleOnInstance, GrantsError> {
        if new.record.grants.is_empty() {
            return Err(GrantsError::InvalidRecord {
                role: new.name.to_string(),
                reason: "a grant's record holds no grant".to_owned(),
            });
        }
        let existing = match self.managed_role(&new.name).await {
            Ok(existing) => Some(existing),
            Err(GrantsError::RoleNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        self.create_or_add_to(new, existing, now).await
    }

    /// [`Session::create_or_add`] for a caller that read the role first
    /// ([`Session::managed_role`]: `Some` for the managed user of that name, `None` when no role
    /// has it), so that it knows what was there should this call fail with its outcome
    /// unknown ([`GrantsError::applied`]): a lost `COMMIT` may have created the role, or added
    /// the grant, and the caller then undoes it. The caller holds the role's operation lock
    /// from that read on.
    ///
    /// # Errors
    /// As [`Session::create_or_add`].
    pub async fn create_or_add_to(
        &self,
        new: &NewRole,
        existing: Option<ManagedRole>,
        now: OffsetDateTime,
    ) -> Result<RoleOnInstance, GrantsError> {
        if new.record.grants.is_empty() {
            return Err(GrantsError::InvalidRecord {
                role: new.name.to_string(),
                reason: "a grant's record holds no grant".to_owned(),
            });
        }
        if let Some(existing) = existing {
            return self.add_grant(existing, new, now).await;
        }
        if let Some(service) = self.settings.reserved(&new.name) {
            return Err(GrantsError::ReservedRoleName {
                role: new.name.to_string(),
                service,
            });
        }
        if matches!(new.auth, LoginAuth::Iam)
            && self.can_grant(&self.settings.names.iam).await? != Some(true)
        {
            return Err(self.cannot_grant(&self.settings.names.iam));
        }
        let stmts = role::create_role(new, &self.settings.names, &self.rules)?;
        let action = format!("creating role {}", new.name);
        let marker = &self.settings.names.marker;
        // The instance's first user: the marker is created in the user's own transaction, so
        // that a failure before its COMMIT leaves neither, and a caller undoing a failed grant
        // (whose COMMIT may have been lost) finds both to remove (`drop_unused_marker`).
        let mut marker_created = false;
        let mut created = Err(None);
        let marker_found = self
            .service_role_problems(marker, ServiceRole::Marker, None)
            .await?;
        if marker_found.is_none() {
            let mut both = role::create_service_role(marker, ServiceRole::Marker)?;
            both.extend(stmts.iter().cloned());
            created = match self.run_locked(&action, &new.name, &both).await {
                Ok(n) => {
                    marker_created = true;
                    Ok(n)
                }
                // Another replica created the marker (or the user) meanwhile: as before,
                // the marker on its own first.
                Err(e) if e.sqlstate() == Some("42710") => {
                    self.rollback().await;
                    Err(None)
                }
                Err(e) => Err(Some(e)),
            };
        }
        let created = match created {
            Err(None) => {
                match marker_found {
                    // Found fit just now: only whether the connector may grant it is left to
                    // ask (the full check again would be one more round trip for nothing).
                    Some(problems) if problems.is_empty() => match self.can_grant(marker).await? {
                        Some(true) => {}
                        _ => return Err(self.cannot_grant(marker)),
                    },
                    _ => self.ensure_marker().await?,
                }
                self.run_locked(&action, &new.name, &stmts).await
            }
            Err(Some(e)) => Err(e),
            Ok(n) => Ok(n),
        };
        match created {
            Ok(_) => Ok(RoleOnInstance {
                outcome: CreateOutcome::Created,
                role: ManagedRole {
                    name: new.name.clone(),
                    record: new.record.clone(),
                    can_login: !new.login_later,
                    legacy_mark: false,
                },
                marker_created,
            }),
            // Another replica created it between the check and the lock.
            Err(e) if e.sqlstate() == Some("42710") => match self.managed_role(&new.name).await {
                Ok(existing) => self.add_grant(existing, new, now).await,
                Err(_) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The existing-user half of [`Session::create_or_add`].
    async fn add_grant(
        &self,
        existing: ManagedRole,
        new: &NewRole,
        now: OffsetDateTime,
    ) -> Result<RoleOnInstance, GrantsError> {
        let name = &existing.name;
        // Checked non-empty by the caller.
        let Some(grant) = new.record.grants.last().cloned() else {
            return Err(GrantsError::InvalidRecord {
                role: name.to_string(),
                reason: "a grant's record holds no grant".to_owned(),
            });
        };
        let request_id = grant.request_id.clone();
        // The grants that ended stay in the record: it is the only account of where their
        // privileges are, which the caller removes ([`Session::apply_to`] over every database
        // the record names) and only then the sweep drops them from it. Dropping them here,
        // before that, let a request failing in between leave their privileges in place,
        // recorded nowhere.
        let merged = existing.record.clone().with_grant(name.as_str(), grant)?;
        if merged
            .grant(&request_id)
            .is_none_or(|held| held.is_expired(now))
        {
            let expired_at = existing
                .record
                .grant(&request_id)
                .map_or(now, |g| g.expires_at);
            return Err(GrantsError::RequestExpired {
                role: name.to_string(),
                request_id,
                expired_at,
            });
        }
        if merged == existing.record && existing.can_login {
            return Ok(RoleOnInstance {
                outcome: CreateOutcome::AlreadyExists(existing.record.clone()),
                role: existing,
                marker_created: false,
            });
        }
        self.ensure_can_administer(name, "grant access to").await?;
        let stmts = if existing.can_login {
            role::set_expiry(name, &merged)?
        } else {
            let iam = match new.auth {
                LoginAuth::Iam => {
                    let iam = &self.settings.names.iam;
                    let member: bool = self
                        .client
                        .query_typed_one(
                            sql::IS_DIRECT_MEMBER,
                            &sql::typed(
                                &[&name.as_str(), &iam.as_str()],
                                sql::IS_DIRECT_MEMBER_PARAMS,
                            ),
                        )
                        .await
                        .map_err(|e| {
                            GrantsError::db(format!("checking {name}'s membership in {iam}"), e)
                        })
                        .and_then(|r| col(&r, 0, "checking a membership"))?;
                    if member {
                        None
                    } else if self.can_grant(iam).await? == Some(true) {
                        Some(iam)
                    } else {
                        return Err(self.cannot_grant(iam));
                    }
                }
                LoginAuth::Password(_) => None,
            };
            role::reenable(name, &merged, iam)?
        };
        self.run_locked(
            &format!("granting request {request_id} to {name}"),
            name,
            &stmts,
        )
        .await?;
        let previous = existing.record.clone();
        Ok(RoleOnInstance {
            outcome: CreateOutcome::AlreadyExists(previous),
            role: ManagedRole {
                record: merged,
                can_login: true,
                ..existing
            },
            marker_created: false,
        })
    }

    /// Gives `role` (as [`Session::create_or_add`] or [`Session::managed_role`] found it,
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

    /// Writes `record` to the managed user `role` (its comment, and `VALID UNTIL` at its latest
    /// expiry), e.g. after one of its grants ended or was revoked. The caller removes the
    /// privileges no remaining grant covers ([`Session::apply_to`]).
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::InvalidRecord`] for a record without grants that is not revoked;
    /// [`GrantsError::Database`].
    pub async fn write_record(
        &self,
        role: &crate::quote::Ident,
        record: &ManagedRecord,
    ) -> Result<(), GrantsError> {
        if record.grants.is_empty() && record.revoked_at.is_none() {
            return Err(GrantsError::InvalidRecord {
                role: role.to_string(),
                reason: "a record without grants must say when the user was revoked".to_owned(),
            });
        }
        let current = self.managed_role(role).await?;
        self.ensure_can_administer(role, "change the record of")
            .await?;
        self.migrate_legacy_mark(&current).await?;
        let stmts = role::set_expiry(role, record)?;
        self.run_locked(&format!("writing the record of {role}"), role, &stmts)
            .await
            .map(|_| ())
    }
}
