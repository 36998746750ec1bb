//! Revocation: [`Session::revoke_role`], whose objects go to the user's holder before the
//! role is dropped.

use crate::error::{GrantsError, col};
use crate::marker::{ServiceRole, holder_role_name};
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
    /// Revokes the managed `role` entirely: see the [module docs](crate::revoke).
    ///
    /// # Errors
    /// [`GrantsError::NotManaged`] and [`GrantsError::CannotAdministerRole`] (nothing changes);
    /// [`GrantsError::TriggersNotDisabled`] when the user left triggers on others' relations the
    /// connector cannot disable (the role stays `NOLOGIN`; run again after the owners' fix);
    /// [`GrantsError::RevokeIncomplete`] when a
    /// database could not be cleaned (the role stays `NOLOGIN`; run again);
    /// [`GrantsError::Database`].
    pub async fn revoke_role(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
    ) -> Result<RevokeReport, GrantsError> {
        // One revocation of a role at a time, across replicas: its steps span several
        // transactions and databases, so the per-transaction lock is not enough (a second
        // revoker would find the role half-revoked and fail at DROP ROLE). A session-level
        // lock on this connection, released whatever happens.
        let squatters = self.session_lock(REVOKE_LOCK, role).await?;
        let result = self.revoke_role_locked(role, databases).await;
        self.finish_locked(role, squatters, result).await
    }

    async fn revoke_role_locked(
        &self,
        role: &Ident,
        databases: &dyn DatabaseConnector,
    ) -> Result<RevokeReport, GrantsError> {
        match self.managed_role(role).await {
            Ok(_) => {}
            Err(GrantsError::RoleNotFound { .. }) => {
                return Ok(RevokeReport::nothing());
            }
            Err(e) => return Err(e),
        }
        // Before anything changes: on 16+ every step below needs ADMIN OPTION on the role.
        self.ensure_can_administer(role, "revoke").await?;
        // The user's own holder (see the module docs), named before anything changes.
        let oid: u32 = self
            .client()
            .query_typed_one(
                sql::ROLE_OID,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(format!("finding the OID of {role}"), e))
            .and_then(|r| col(&r, 0, "finding the role's OID"))?;
        let holder = holder_role_name(&self.settings().reassign_to, oid, role.as_str())?;

        // 1 and 2: stop logins (no lock a grantee could hold delays it), act for the role.
        let terminated = self.stop_logins(role).await?;
        self.act_for(role).await?;

        // 3: the user's own holder, checked before anything moves; on refusal the role stays
        // NOLOGIN. Created only when the user owns something, in any database (read now that
        // its sessions are gone).
        let owns_something: bool = self
            .client()
            .query_typed_one(
                sql::OWNS_SOMETHING,
                &sql::typed(&[&oid], sql::OWNS_SOMETHING_PARAMS),
            )
            .await
            .map_err(|e| GrantsError::db(format!("finding what {role} owns"), e))
            .and_then(|r| col(&r, 0, "finding what the role owns"))?;
        if owns_something {
            self.ensure_holder(&holder, role).await?;
        }

        // 4: every database holding its objects or privileges.
        let dbs = self.role_databases(role, sql::ROLE_DATABASES).await?;
        let ended = self
            .end_in_databases(role, dbs, databases, Ending::Reassign { holder: &holder })
            .await?;

        // 5.
        self.run_locked(
            &format!("dropping role {role}"),
            role,
            &[role::drop_role(role)],
        )
        .await
        .map_err(|e| GrantsError::RevokeIncomplete {
            role: role.to_string(),
            remaining: Vec::new(),
            reason: e.to_string(),
        })?;
        Ok(RevokeReport {
            databases: ended.databases,
            sessions_terminated: terminated,
            dropped: true,
            holder: holder.to_string(),
            moved: ended.objects,
            disabled_triggers: ended.disabled_triggers,
            ..RevokeReport::nothing()
        })
    }

    /// Revokes every privilege explicitly (verified, see [`Session::apply`]), then moves what the
    /// role owns to the holder and drops what is left (privileges). The explicit revoke comes
    /// first because `DROP OWNED` may pick a different grantor than the one that granted (seen
    /// on 15 when the connector both holds a grant option and is a member of the owner) and
    /// then silently leaves the privilege. Default-privilege entries naming the role are left to
    /// `DROP OWNED`, which removes them whoever their creator is.
    pub(super) async fn clean_database(
        &self,
        role: &Ident,
        holder: &Ident,
        action: &str,
    ) -> Result<Cleaned, GrantsError> {
        // Its marks, again in this database's session, before any change here.
        self.managed_role(role).await?;
        self.apply_with(role, &[], false).await?;
        self.with_retries(action, |_| async move {
            self.begin_with(action, role, &[]).await?;
            let moved = match self.reassign_in_transaction(role, holder).await {
                Ok(moved) => moved,
                Err(e) => {
                    self.rollback().await;
                    return Err(Attempt::Transient(e));
                }
            };
            self.commit(action).await.map_err(Attempt::Transient)?;
            Ok(moved)
        })
        .await
    }

    /// Inside the open transaction: lists what the role owns, checks the holder (when the role
    /// owns something here), and moves it.
    async fn reassign_in_transaction(
        &self,
        role: &Ident,
        holder: &Ident,
    ) -> Result<Cleaned, GrantsError> {
        if self.owned_objects(role, role).await?.is_empty() {
            // Nothing to move (the holder may not exist): only privileges are left to drop.
            self.client()
                .batch_execute(&format!("DROP OWNED BY {};", role.quoted()))
                .await
                .map_err(|e| {
                    GrantsError::db(
                        format!("dropping the privileges of {role} in {}", self.database()),
                        e,
                    )
                })?;
            return Ok(Cleaned::default());
        }
        let problems = self
            .service_role_problems(holder, ServiceRole::Holder, Some(role.as_str()))
            .await?
            .unwrap_or_else(|| {
                vec![
                    "it does not exist (the user came to own objects while it was being \
                     revoked); run the revocation again"
                        .to_owned(),
                ]
            });
        if !problems.is_empty() {
            return Err(GrantsError::UnsafeServiceRole {
                role: holder.to_string(),
                purpose: ServiceRole::Holder.as_str(),
                problems,
            });
        }
        let owned = self.owned_objects(role, holder).await?;
        let Neutralised {
            statements: mut stmts,
            disabled_triggers: triggers,
        } = self.neutralising_statements(role, &owned).await?;
        let mut temporary = Vec::new();
        for row in &owned {
            if row.is_schema {
                // Moved first, so that the holder may own what is in it.
                stmts.push(Statement::new(format!(
                    "ALTER SCHEMA {} OWNER TO {};",
                    row.object.name,
                    holder.quoted()
                )));
            }
            if let Some(schema) = &row.holder_needs_create_in {
                let schema = Ident::new(schema.clone())?;
                if !temporary.contains(&schema) {
                    temporary.push(schema);
                }
            }
        }
        for schema in &temporary {
            stmts.push(Statement::new(format!(
                "GRANT CREATE ON SCHEMA {} TO {};",
                schema.quoted(),
                holder.quoted()
            )));
        }
        let mut tail = role::reassign_and_drop_owned(role, holder).into_iter();
        stmts.extend(tail.next());
        for schema in &temporary {
            stmts.push(Statement::new(format!(
                "REVOKE CREATE ON SCHEMA {} FROM {};",
                schema.quoted(),
                holder.quoted()
            )));
        }
        stmts.extend(tail);
        let sql: Vec<&str> = stmts.iter().map(Statement::sql).collect();
        tracing::debug!(%role, %holder, database = %self.database(), objects = owned.len(), "reassigning to the holder");
        self.client()
            .batch_execute(&sql.join("\n"))
            .await
            .map_err(|e| {
                GrantsError::db(
                    format!(
                        "reassigning what {role} owns in {} to {holder}",
                        self.database()
                    ),
                    e,
                )
            })?;
        Ok(Cleaned {
            moved: owned.into_iter().map(|r| r.object).collect(),
            disabled_triggers: triggers,
        })
    }
}
