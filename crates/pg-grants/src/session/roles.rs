//! Managed roles: their marks, their lifecycle (create, expiry, login, password) and the
//! connector's right to administer them.

use time::OffsetDateTime;

use crate::error::{GrantsError, col};
use crate::marker::ManagedRecord;
use crate::password::Password;
use crate::quote::Ident;
use crate::role::{self, NewRole};
use crate::sql;

use super::{CreateOutcome, ManagedRole, Session};

/// One row of [`sql::MANAGED_ROLES`].
struct Marks {
    name: String,
    can_login: bool,
    comment: Option<String>,
    /// The marker is a member of it.
    marked: bool,
    /// It is a member of the marker (0.1.0).
    legacy_mark: bool,
    /// 16+: why its marks are not the connector's (empty: they are, or before 16).
    untrusted: Vec<String>,
}

impl Marks {
    fn read(row: &tokio_postgres::Row) -> Result<Self, GrantsError> {
        let action = "reading a role's marks";
        Ok(Self {
            name: col(row, 0, action)?,
            can_login: col(row, 1, action)?,
            comment: col(row, 2, action)?,
            marked: col(row, 3, action)?,
            legacy_mark: col(row, 4, action)?,
            untrusted: col::<Option<Vec<String>>>(row, 5, action)?.unwrap_or_default(),
        })
    }
}

impl Session<'_> {
    /// Looks `name` up and checks its marks (see [`marker`](crate::marker#who-counts-as-managed)).
    ///
    /// # Errors
    /// [`GrantsError::RoleNotFound`], [`GrantsError::NotManaged`] (on 16+ also for a role
    /// whose marks another role could have placed, the reason named), [`GrantsError::InvalidRecord`].
    pub async fn managed_role(&self, name: &Ident) -> Result<ManagedRole, GrantsError> {
        // 16+: membership grantors are trusted (see sql::MANAGED_ROLES).
        let strict = self.rules.membership_options();
        let (marker, connector) = (self.settings.names.marker.as_str(), self.connector.as_str());
        let row = self
            .client
            .query_typed_opt(
                sql::MANAGED_ROLES,
                &sql::typed(
                    &[&marker, &strict, &connector, &Some(name.as_str())],
                    sql::MANAGED_ROLES_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db(format!("looking up role {name}"), e))?;
        let Some(row) = row else {
            return Err(GrantsError::RoleNotFound {
                role: name.to_string(),
            });
        };
        let marks = Marks::read(&row)?;
        let not_managed = |reason: String| GrantsError::NotManaged {
            role: name.to_string(),
            marker: self.settings.names.marker.to_string(),
            reason,
        };
        if !marks.marked && !marks.legacy_mark {
            return Err(not_managed(format!(
                "{} is not a member of it",
                self.settings.names.marker
            )));
        }
        if !marks.untrusted.is_empty() {
            return Err(not_managed(marks.untrusted.join("; ")));
        }
        let comment = marks
            .comment
            .ok_or_else(|| not_managed("it has no record in its comment".to_owned()))?;
        let record =
            ManagedRecord::from_comment(&comment).map_err(|reason| GrantsError::InvalidRecord {
                role: name.to_string(),
                reason,
            })?;
        Ok(ManagedRole {
            name: name.clone(),
            record,
            can_login: marks.can_login,
            legacy_mark: marks.legacy_mark,
        })
    }

    /// Every role carrying the marker membership (either way, see [`ManagedRole::legacy_mark`])
    /// with a readable record and marks this library can trust, in one query. The others are
    /// skipped and logged; [`Session::marked_roles`] also returns them.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn managed_roles(&self) -> Result<Vec<ManagedRole>, GrantsError> {
        Ok(self.marked_roles().await?.managed)
    }

    /// Every role carrying the marker membership, in one query: the managed users, and the
    /// roles whose comment claims a user's record but that are refused as such
    /// ([`RefusedRole`]: marks not granted by the connector on 16+, or an unreadable record),
    /// which nothing here alters. Members of the marker without such a comment (on 16+ the
    /// connector, the marker's creator) are no users and are left out. A sweep reports the refused ones, so that
    /// a user it cannot take for its own is seen rather than silently left with its access.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn marked_roles(&self) -> Result<MarkedRoles, GrantsError> {
        let strict = self.rules.membership_options();
        let (marker, connector) = (self.settings.names.marker.as_str(), self.connector.as_str());
        let rows = self
            .client
            .query_typed(
                sql::MANAGED_ROLES,
                &sql::typed(
                    &[&marker, &strict, &connector, &None::<&str>],
                    sql::MANAGED_ROLES_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db("listing managed roles", e))?;
        let mut out = MarkedRoles::default();
        for row in rows {
            let marks = Marks::read(&row)?;
            // A member of the marker without a user's record is no user (on 16+ the connector
            // itself, the marker's creator, is one): not ours to report.
            let claims_a_record = marks.comment.as_deref().is_some_and(|c| {
                crate::marker::USER_RECORD_PREFIXES
                    .iter()
                    .any(|p| c.starts_with(p))
            });
            if !claims_a_record
                && marks
                    .comment
                    .as_deref()
                    .map(ManagedRecord::from_comment)
                    .is_none_or(|r| r.is_err())
            {
                tracing::debug!(role = %marks.name, "marked role without a user's record; skipped");
                continue;
            }
            if !marks.untrusted.is_empty() {
                tracing::warn!(role = %marks.name, reasons = ?marks.untrusted,
                    "marked role not taken for a managed user: its marks are not the connector's; skipped");
                out.refused.push(RefusedRole {
                    name: marks.name.clone(),
                    reason: format!(
                        "its marks are not the connector's: {}",
                        marks.untrusted.join("; ")
                    ),
                });
                continue;
            }
            let parsed = marks.comment.as_deref().map(ManagedRecord::from_comment);
            match (Ident::new(marks.name.clone()), parsed) {
                (Ok(name), Some(Ok(record))) => out.managed.push(ManagedRole {
                    name,
                    record,
                    can_login: marks.can_login,
                    legacy_mark: !marks.marked,
                }),
                (_, parsed) => {
                    tracing::warn!(role = %marks.name, "marked role without a readable record; skipped");
                    let reason = match parsed {
                        Some(Err(reason)) => format!("its record is unreadable: {reason}"),
                        None => "it has no record".to_owned(),
                        Some(Ok(_)) => "its name is not a valid identifier".to_owned(),
                    };
                    out.refused.push(RefusedRole {
                        name: marks.name.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Turns the 0.1.0 mark of the managed role `name` around (see [`marker`](crate::marker));
    /// nothing happens when it already carries the current mark. Returns whether it migrated.
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn migrate_mark(&self, name: &Ident) -> Result<bool, GrantsError> {
        let role = self.managed_role(name).await?;
        self.migrate_legacy_mark(&role).await
    }

    /// Turns the 0.1.0 mark of every managed role that still carries it around (see
    /// [`marker`](crate::marker)), each on its own: one that cannot be re-marked is logged and
    /// skipped, and the others still are. Returns the roles re-marked. Meant for a sweep, so that
    /// before PostgreSQL 16 no managed user keeps the right to `SET ROLE` to the marker until its
    /// next change.
    ///
    /// # Errors
    /// [`GrantsError::Database`] when the roles cannot be listed.
    pub async fn migrate_marks(&self) -> Result<Vec<Ident>, GrantsError> {
        let mut migrated = Vec::new();
        for role in self.managed_roles().await? {
            if !role.legacy_mark {
                continue;
            }
            match self.migrate_legacy_mark(&role).await {
                Ok(_) => migrated.push(role.name),
                Err(e) => {
                    tracing::warn!(role = %role.name, error = %e, "could not turn a 0.1.0 mark around");
                }
            }
        }
        Ok(migrated)
    }

    /// As [`Session::migrate_mark`] for a role already looked up.
    pub(crate) async fn migrate_legacy_mark(
        &self,
        role: &ManagedRole,
    ) -> Result<bool, GrantsError> {
        if !role.legacy_mark {
            return Ok(false);
        }
        self.ensure_can_administer(&role.name, "re-mark").await?;
        self.ensure_marker().await?;
        let stmts = role::migrate_mark(&role.name, &self.settings.names, &self.rules);
        self.run_locked(
            &format!("turning the mark of {} around", role.name),
            &role.name,
            &stmts,
        )
        .await?;
        tracing::info!(role = %role.name, "0.1.0 marker membership replaced by the current mark");
        Ok(true)
    }

    /// Managed roles whose access ended at `now`.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn expired_roles(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<ManagedRole>, GrantsError> {
        let mut all = self.managed_roles().await?;
        all.retain(|r| r.record.is_expired(now));
        Ok(all)
    }

    pub(super) async fn can_grant(&self, role: &Ident) -> Result<Option<bool>, GrantsError> {
        self.role_check(role, &self.rules.can_grant_role_expr("$1::pg_catalog.text"))
            .await
    }

    /// Runs the boolean SQL expression `expr` (of `$1`, the role's name) when `role` exists.
    async fn role_check(&self, role: &Ident, expr: &str) -> Result<Option<bool>, GrantsError> {
        let sql = sql::role_check(expr);
        let row = self
            .client
            .query_typed_one(&sql, &sql::typed(&[&role.as_str()], sql::NAME_PARAM))
            .await
            .map_err(|e| {
                GrantsError::db(
                    format!("checking whether the connector may grant {role}"),
                    e,
                )
            })?;
        col(&row, 0, "checking role grant rights")
    }

    pub(super) fn cannot_grant(&self, role: &Ident) -> GrantsError {
        GrantsError::CannotGrantRole {
            role: role.to_string(),
            connector: self.connector.to_string(),
            fix_sql: self.rules.allow_granting_role_sql(role, &self.connector),
        }
    }

    /// Fails with [`GrantsError::CannotAdministerRole`] unless the connector may alter and drop
    /// the managed `role` on this server version (16+: `ADMIN OPTION` on it; before: `CREATEROLE`).
    /// Checked before any change, so a refused operation leaves the role as it was.
    pub(crate) async fn ensure_can_administer(
        &self,
        role: &Ident,
        action: &'static str,
    ) -> Result<(), GrantsError> {
        let expr = self.rules.can_administer_role_expr("$1::pg_catalog.text");
        match self.role_check(role, &expr).await? {
            Some(false) => Err(GrantsError::CannotAdministerRole {
                role: role.to_string(),
                connector: self.connector.to_string(),
                action,
                needs: self.rules.administer_role_requirement().to_owned(),
                fix_sql: self.rules.allow_granting_role_sql(role, &self.connector),
            }),
            // A role that vanished in between is reported by the statements themselves.
            Some(true) | None => Ok(()),
        }
    }

    /// Creates `new` with its marks (creating the marker role when missing). Creating again for
    /// the same request is a no-op.
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] when an unmanaged role has that name;
    /// [`GrantsError::CannotGrantRole`] when the connector may not grant `rds_iam` or the marker
    /// (with the fix SQL for this server version); [`GrantsError::Database`].
    pub async fn create_role(&self, new: &NewRole) -> Result<CreateOutcome, GrantsError> {
        self.create_or_complete(new)
            .await
            .map(|found| found.outcome)
    }

    /// Moves the expiry of every grant of the managed user that has not ended (and
    /// `VALID UNTIL`) to `expires_at`; [`Session::write_record`] changes one grant.
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::InvalidRecord`] for a user revoked and kept (it holds no grant to move);
    /// [`GrantsError::Database`].
    pub async fn set_expiry(
        &self,
        name: &Ident,
        expires_at: OffsetDateTime,
    ) -> Result<ManagedRecord, GrantsError> {
        let current = self.managed_role(name).await?;
        self.ensure_can_administer(name, "change the expiry of")
            .await?;
        self.migrate_legacy_mark(&current).await?;
        if current.record.grants.is_empty() {
            return Err(GrantsError::InvalidRecord {
                role: name.to_string(),
                reason: "it was revoked and holds no grant whose expiry could move".to_owned(),
            });
        }
        // Everything else the record holds (approver, reason) stays.
        let utc = expires_at.to_offset(time::UtcOffset::UTC);
        let utc = utc.replace_nanosecond(0).unwrap_or(utc);
        let mut record = current.record;
        // Only grants still running: one that ended stays ended (its privileges may be gone).
        let now = OffsetDateTime::now_utc();
        for grant in record.grants.iter_mut().filter(|g| !g.is_expired(now)) {
            grant.expires_at = utc;
        }
        let stmts = role::set_expiry(name, &record)?;
        self.run_locked(&format!("changing the expiry of {name}"), name, &stmts)
            .await?;
        Ok(record)
    }

    /// Stops new logins of the managed `role` (`ALTER ROLE … NOLOGIN`, committed at once,
    /// under no advisory lock, so that no session of anybody can delay it) and ends its open
    /// sessions (and with them every lock they held); returns how many sessions were ended. The first step of a
    /// revocation, on its own: a sweep runs it for every expired role before the slower
    /// revocations, so a role whose revocation fails later still cannot log in.
    ///
    /// # Errors
    /// As [`Session::managed_role`] (an unmanaged role is never altered);
    /// [`GrantsError::CannotAdministerRole`] (nothing changes); [`GrantsError::Database`].
    pub async fn disable_login(&self, role: &Ident) -> Result<u64, GrantsError> {
        self.managed_role(role).await?;
        self.ensure_can_administer(role, "disable the login of")
            .await?;
        self.stop_logins(role).await
    }

    /// Enables the login of `role`, which this session created `NOLOGIN`
    /// ([`NewRole::login_later`](crate::role::NewRole::login_later)), as
    /// [`Session::create_or_add`] returned it: its marks were checked then, so they are not
    /// read again. Does nothing when it can log in already.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn enable_created_login(&self, role: &mut ManagedRole) -> Result<(), GrantsError> {
        if role.can_login {
            return Ok(());
        }
        let stmts = role::reenable(&role.name, &role.record, None)?;
        self.run_locked(
            &format!("enabling the login of {}", role.name),
            &role.name,
            &stmts,
        )
        .await?;
        role.can_login = true;
        Ok(())
    }

    /// Lets the managed user `role` log in again when its record holds a grant active at `now` and
    /// it was not revoked (a sweep that found it expired disabled its login just as a grant
    /// came in); returns whether it changed anything. A user without active grants, or revoked
    /// and kept, is left as it is.
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn enable_login(
        &self,
        role: &Ident,
        now: OffsetDateTime,
    ) -> Result<bool, GrantsError> {
        let current = self.managed_role(role).await?;
        if current.can_login || current.record.is_retained() || current.record.is_expired(now) {
            return Ok(false);
        }
        self.ensure_can_administer(role, "enable the login of")
            .await?;
        let stmts = role::reenable(role, &current.record, None)?;
        self.run_locked(&format!("enabling the login of {role}"), role, &stmts)
            .await?;
        Ok(true)
    }

    /// `ALTER ROLE … NOLOGIN`, then the end of the role's sessions; returns how many ended. The
    /// caller has checked the marks and the connector's right to administer the role.
    ///
    /// No advisory lock here: their keys are public and any login may hold them (a grantee
    /// squatting `rdspg:<itself>` once kept its login this way). `ALTER ROLE` is one statement,
    /// committed at once; a concurrent change of the role's row is retried.
    pub(crate) async fn stop_logins(&self, role: &Ident) -> Result<u64, GrantsError> {
        let action = format!("disabling logins of {role}");
        let stmt = role::disable_login(role);
        self.with_retries(&action, |_| async {
            Ok(self.client.batch_execute(stmt.sql()).await?)
        })
        .await?;
        // Ends the role's sessions everywhere, with every lock they hold.
        let ended = self
            .client
            .query_typed(
                role::TERMINATE_SESSIONS_SQL,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(format!("terminating the sessions of {role}"), e))?;
        Ok(ended.len() as u64)
    }

    /// Gives a managed role a new random password and returns it.
    ///
    /// # Errors
    /// As [`Session::managed_role`], and [`GrantsError::Database`].
    pub async fn rotate_password(&self, name: &Ident) -> Result<Password, GrantsError> {
        let password = Password::generate();
        self.set_password(name, &password).await?;
        Ok(password)
    }

    /// Sets a managed role's password to `password` (sent as a SCRAM verifier), e.g. the one
    /// password of a request that spans several instances, and records the time in its record
    /// ([`ManagedRecord::password_set_at`]).
    ///
    /// # Errors
    /// As [`Session::managed_role`]; [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::Database`].
    pub async fn set_password(&self, name: &Ident, password: &Password) -> Result<(), GrantsError> {
        self.set_password_at(name, password, OffsetDateTime::now_utc())
            .await
    }

    /// As [`Session::set_password`], recording `at` as the time it was set (the caller's
    /// clock, which also judges the password's age).
    ///
    /// # Errors
    /// As [`Session::set_password`].
    pub async fn set_password_at(
        &self,
        name: &Ident,
        password: &Password,
        at: OffsetDateTime,
    ) -> Result<(), GrantsError> {
        let current = self.managed_role(name).await?;
        self.ensure_can_administer(name, "set the password of")
            .await?;
        self.migrate_legacy_mark(&current).await?;
        let record = current.record.with_password_set_at(at);
        let mut stmts = vec![role::set_password(name, password)?];
        stmts.push(role::comment(name, &record)?);
        self.run_locked(&format!("setting the password of {name}"), name, &stmts)
            .await
            .map(|_| ())
    }

    /// Sets the connector's own password (the session's `current_user`) to `password`, sent
    /// as its SCRAM verifier (see [`role::set_own_password`]). Sessions already open stay
    /// open; new logins need the new password. Used to rotate the connector's password.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn set_own_password(&self, password: &Password) -> Result<(), GrantsError> {
        let stmt = role::set_own_password(password)?;
        let connector = self.connector.clone();
        self.run_locked(
            &format!("setting the own password of {connector}"),
            &connector,
            &[stmt],
        )
        .await
        .map(|_| ())
    }
}

/// What [`Session::marked_roles`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MarkedRoles {
    /// The managed users.
    pub managed: Vec<ManagedRole>,
    /// The roles carrying the marker membership that are not taken for managed users.
    pub refused: Vec<RefusedRole>,
}

/// A role carrying the marker membership (or an access role's comment) that the library
/// refuses to manage (never altered), or an access role the sweep had to leave as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RefusedRole {
    /// The role's name.
    pub name: String,
    /// Why it is refused.
    pub reason: String,
}

impl RefusedRole {
    /// `name`, refused or left alone for `reason`.
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}
