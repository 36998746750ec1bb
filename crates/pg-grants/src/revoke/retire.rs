//! Revocation with retention: [`Session::retire_role`], which keeps the user, its objects
//! neutralised in place.

use crate::error::{GrantsError, col};
use crate::marker::ManagedRecord;
use crate::quote::Ident;
use crate::role;
use crate::session::{Attempt, Session};
use crate::sql;
use crate::statement::Statement;

use super::databases::{Cleaned, Ending};
use super::locks::REVOKE_LOCK;
use super::neutralise::Neutralised;
use super::{DatabaseConnector, RevokeReport};

impl Session<'_> {
    /// Revokes the managed `role` and keeps it: see
    /// [revocation with retention](crate::revoke#revocation-with-retention). The user can no longer log
    /// in, is a member of no role, holds no privilege on anything it does not own, and what it
    /// owns stays its own, neutralised; its record says it was revoked at `at` (whole seconds,
    /// also its `VALID UNTIL`), so that [`Session::create_or_add`] can give the same user back
    /// to its next request and [`Session::revoke_role`] removes it after `user_cleanup_days`.
    /// A missing role is no error (an empty report); retiring a retained user again checks
    /// everything again and keeps its record (its `revoked_at` does not move).
    ///
    /// ```no_run
    /// use pg_grants::quote::Ident;
    /// use pg_grants::{DatabaseConnector, Session};
    ///
    /// # async fn demo(s: &Session<'_>, others: &dyn DatabaseConnector) -> Result<(), pg_grants::GrantsError> {
    /// let report = s
    ///     .retire_role(&Ident::new("alice")?, others, time::OffsetDateTime::now_utc())
    ///     .await?;
    /// assert!(report.retained && !report.dropped);
    /// for object in &report.kept {
    ///     println!("alice still owns {} {} in {}", object.kind, object.name, object.database);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] and [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// then, the role staying `NOLOGIN` and its record untouched (running again finishes):
    /// [`GrantsError::MembershipsNotRemoved`] for memberships the connector cannot remove
    /// (16+: granted by a role whose privileges it lacks), with the SQL for their grantors
    /// (reported once every database is done: its privileges are revoked all the same);
    /// [`GrantsError::TriggersNotDisabled`] as for [`Session::revoke_role`];
    /// [`GrantsError::RevokeIncomplete`] when a database could not be reached or cleaned, or
    /// the role still holds a privilege on an object it does not own (named in the reason);
    /// [`GrantsError::Database`].
    pub async fn retire_role(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
        at: time::OffsetDateTime,
    ) -> Result<RevokeReport, GrantsError> {
        // The lock of revocations: a retirement and a revocation of one role never overlap.
        let squatters = self.session_lock(REVOKE_LOCK, role).await?;
        let result = self.retire_role_locked(role, databases, at).await;
        self.finish_locked(role, squatters, result).await
    }

    async fn retire_role_locked(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
        at: time::OffsetDateTime,
    ) -> Result<RevokeReport, GrantsError> {
        let current = match self.managed_role(role).await {
            Ok(current) => current,
            Err(GrantsError::RoleNotFound { .. }) => return Ok(RevokeReport::nothing()),
            Err(e) => return Err(e),
        };
        // Before anything changes: on 16+ every step below needs ADMIN OPTION on the role.
        self.ensure_can_administer(role, "retire").await?;

        // 1 and 2: stop logins (no lock a grantee could hold delays it), act for the role.
        let terminated = self.stop_logins(role).await?;
        self.act_for(role).await?;
        // A 0.1.0 mark is a membership in the marker, which step 3 would remove (and with it
        // the mark): turned around first.
        self.migrate_legacy_mark(&current).await?;

        // 3: every membership but the mark. Those left are reported after step 4, which runs
        // all the same: its objects must not run with its privileges meanwhile.
        let memberships = self.remove_memberships(role).await;

        // 4: every database holding its objects or privileges, or whose own ACL names it.
        let dbs = self
            .role_databases(role, sql::ROLE_DATABASES_AND_GRANTS)
            .await?;
        let ended = self
            .end_in_databases(role, dbs, databases, Ending::Retain)
            .await?;
        let memberships_removed = memberships?;

        // 5: only now the record says it is retained; a retained user keeps its record.
        if !current.record.is_retained() {
            self.record_retirement(role, &current.record, at)
                .await
                .map_err(|e| match e {
                    e @ GrantsError::RevokeIncomplete { .. } => e,
                    e => GrantsError::RevokeIncomplete {
                        role: role.to_string(),
                        remaining: Vec::new(),
                        reason: e.to_string(),
                    },
                })?;
        }
        Ok(RevokeReport {
            databases: ended.databases,
            sessions_terminated: terminated,
            disabled_triggers: ended.disabled_triggers,
            retained: true,
            kept: ended.objects,
            memberships_removed,
            ..RevokeReport::nothing()
        })
    }

    /// Writes `found.revoked(at)` (and `VALID UNTIL at`) in one locked transaction, after
    /// checking in it that the record is still `found` and the role still `NOLOGIN`: a grant
    /// added meanwhile ([`Session::create_or_add`] writes under the same lock) is never
    /// overwritten; the retirement then fails and, run again, retires the user as it is.
    async fn record_retirement(
        &self,
        role: &Ident,
        found: &ManagedRecord,
        at: time::OffsetDateTime,
    ) -> Result<(), GrantsError> {
        let stmts = role::set_expiry(role, &found.clone().revoked(at))?;
        let action = format!("recording that {role} was revoked and kept");
        let action = action.as_str();
        let stmts = stmts.as_slice();
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let now = match self.managed_role(role).await {
                Ok(now) => now,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            if now.record != *found || now.can_login {
                self.rollback().await;
                return Err(Attempt::Failed(GrantsError::RevokeIncomplete {
                    role: role.to_string(),
                    remaining: Vec::new(),
                    reason: "its record or login changed while it was being retired (a new \
                             grant?); its record was left as it is"
                        .to_owned(),
                }));
            }
            let sql: Vec<&str> = stmts.iter().map(Statement::sql).collect();
            if let Err(e) = self.client().batch_execute(&sql.join("\n")).await {
                self.rollback().await;
                return Err(Attempt::Sql(e));
            }
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(())
        })
        .await
    }

    /// Revokes every privilege of `role` in this database (verified, default-privilege entries
    /// naming it included), then, in one locked transaction, neutralises what it owns
    /// ([`Session::neutralising_statements`]) and checks that it holds no privilege on
    /// anything it does not own, here or on a shared object; else rolls back and fails with
    /// [`GrantsError::RevokeIncomplete`] naming them.
    pub(super) async fn retire_database(
        &self,
        role: &Ident,
        action: &str,
    ) -> Result<Cleaned, GrantsError> {
        // Its marks, again in this database's session, before any change here.
        self.managed_role(role).await?;
        self.apply_with(role, &[], true).await?;
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let kept = match self.neutralise_in_transaction(role).await {
                Ok(kept) => kept,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(kept)
        })
        .await
    }

    /// Inside the open transaction: lists what the role owns, neutralises it, and checks that
    /// no ACL entry names it on anything it does not own.
    async fn neutralise_in_transaction(&self, role: &Ident) -> Result<Cleaned, GrantsError> {
        let owned = self.owned_objects(role, role).await?;
        let Neutralised {
            mut statements,
            disabled_triggers,
        } = self.neutralising_statements(role, &owned).await?;
        statements.extend(self.column_revokes(role).await?);
        if !statements.is_empty() {
            let sql: Vec<&str> = statements.iter().map(Statement::sql).collect();
            tracing::debug!(%role, database = %self.database(), objects = owned.len(), "neutralising what a retained user owns");
            self.client()
                .batch_execute(&sql.join("\n"))
                .await
                .map_err(|e| {
                    GrantsError::db(
                        format!("neutralising what {role} owns in {}", self.database()),
                        e,
                    )
                })?;
        }
        let left = self.acl_leftovers(role).await?;
        if !left.is_empty() {
            return Err(GrantsError::RevokeIncomplete {
                role: role.to_string(),
                remaining: vec![self.database().to_owned()],
                reason: format!(
                    "in database {:?} it still holds privileges on {} (granted by roles the \
                     connector cannot act for: their owners or grantors revoke them)",
                    self.database(),
                    left.join(", ")
                ),
            });
        }
        Ok(Cleaned {
            moved: owned.into_iter().map(|r| r.object).collect(),
            disabled_triggers,
        })
    }

    /// `REVOKE ALL (column) ON relation FROM role` for each column privilege `role` holds on a
    /// relation it does not own ([`Session::apply`] plans tables, not columns). The connector
    /// revokes what it granted, or, acting for the relation's owner, what the owner granted;
    /// what another grantor gave stays, and the check that follows names it.
    async fn column_revokes(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!(
            "listing the column privileges of {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query_typed(
                sql::COLUMN_GRANTS,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                let column = Ident::new(col::<String>(row, 2, &action)?)?;
                Ok(Statement::new(format!(
                    "REVOKE ALL ({}) ON TABLE {}.{} FROM {};",
                    column.quoted(),
                    schema.quoted(),
                    relation.quoted(),
                    role.quoted()
                )))
            })
            .collect()
    }

    /// The objects `role` does not own on which an ACL entry names it, in this database and
    /// among shared objects ([`sql::ACL_LEFTOVERS`]), as `kind name` (`shared` for a shared one).
    async fn acl_leftovers(&self, role: &Ident) -> Result<Vec<String>, GrantsError> {
        let action = format!(
            "checking the privileges left to {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query_typed(
                sql::ACL_LEFTOVERS,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let kind: String = col(row, 0, &action)?;
                let name: Option<String> = col(row, 1, &action)?;
                let shared: bool = col(row, 2, &action)?;
                Ok(format!(
                    "{}{kind} {}",
                    if shared { "shared " } else { "" },
                    name.unwrap_or_default()
                ))
            })
            .collect()
    }
}
