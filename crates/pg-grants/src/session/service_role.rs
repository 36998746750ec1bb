//! The service roles the library relies on having no rights: the marker (the mark of every
//! managed role) and each revoked user's holder.

use crate::error::{GrantsError, col};
use crate::marker::ServiceRole;
use crate::quote::{Ident, SET_STANDARD_STRINGS};
use crate::role;
use crate::sql;
use crate::statement::Statement;

use super::{Session, lock_stmt};

impl Session<'_> {
    pub(crate) async fn ensure_marker(&self) -> Result<(), GrantsError> {
        let marker = &self.settings.names.marker;
        self.ensure_service_role(marker, ServiceRole::Marker, None)
            .await?;
        match self.can_grant(marker).await? {
            Some(true) => Ok(()),
            _ => Err(self.cannot_grant(marker)),
        }
    }

    /// Whether the marker role exists (fit or not).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn marker_exists(&self) -> Result<bool, GrantsError> {
        let marker = &self.settings.names.marker;
        Ok(self
            .service_role_problems(marker, ServiceRole::Marker, None)
            .await?
            .is_some())
    }

    /// Drops the marker role when no role but the connector is its member and it is exactly
    /// the rightless role the library creates: what undoing a failed grant that created the
    /// instance's first managed user (and the marker with it) leaves to remove. Under the
    /// marker's advisory lock, in one transaction; returns whether it was dropped (a marker
    /// with members, one unfit, or none at all is left as it is).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn drop_unused_marker(&self) -> Result<bool, GrantsError> {
        let marker = &self.settings.names.marker;
        self.drop_unused(marker, "marker", async {
            Ok(self
                .service_role_problems(marker, ServiceRole::Marker, None)
                .await?
                .is_some_and(|problems| problems.is_empty()))
        })
        .await
    }

    /// Drops the grantor role (16+) when it administers no access role, has no member but the
    /// connector and is exactly the role the library creates: what undoing a failed grant that
    /// created the server's first access role (and the grantor role with it) leaves once that
    /// access role is gone ([`Session::drop_unheld_access_roles`]). Under the grantor role's
    /// advisory lock, which every transaction giving it an access role takes, in one
    /// transaction; returns whether it was dropped.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn drop_unused_grantor(&self) -> Result<bool, GrantsError> {
        let grantor = &self.settings.names.grantor;
        self.drop_unused(grantor, "grantor", async {
            let check = self.grantor_problems().await?;
            Ok(check.administered && check.problems.is_some_and(|p| p.is_empty()))
        })
        .await
    }

    /// Drops the service role `name` when `fit` (run under its lock) says it is exactly the
    /// role the library creates and no role but the connector is tied to it by a membership
    /// either way (`sql::OTHER_MEMBERS`): in one transaction under its advisory lock.
    async fn drop_unused(
        &self,
        name: &Ident,
        kind: &str,
        fit: impl Future<Output = Result<bool, GrantsError>>,
    ) -> Result<bool, GrantsError> {
        let action = format!("dropping the unused {kind} role {name}");
        let sql = format!("BEGIN;\n{SET_STANDARD_STRINGS}\n{}", lock_stmt(name)?);
        self.execute_locking(&sql, Some(name))
            .await
            .map_err(|e| GrantsError::db(action.as_str(), e))?;
        let result = async {
            if !fit.await? {
                return Ok(false);
            }
            let row = self
                .client
                .query_typed_one(
                    sql::OTHER_MEMBERS,
                    &sql::typed(&[&name.as_str()], sql::NAME_PARAM),
                )
                .await
                .map_err(|e| GrantsError::db(action.as_str(), e))?;
            let members: i64 = col(&row, 0, &action)?;
            if members > 0 {
                return Ok(false);
            }
            match self
                .client
                .batch_execute(&format!("DROP ROLE {};", name.quoted()))
                .await
            {
                Ok(()) => Ok(true),
                // Something depends on it (a privilege somebody granted it): it stays, as
                // rightless as before; not a failure of the caller's undo.
                Err(e) if e.code().map(|c| c.code()) == Some("2BP01") => {
                    tracing::warn!(role = %name, error = %e,
                        "an unused service role is kept: something depends on it");
                    Ok(false)
                }
                Err(e) => Err(GrantsError::db(action.as_str(), e)),
            }
        }
        .await;
        match result {
            Ok(true) => {
                self.commit(&action).await?;
                Ok(true)
            }
            Ok(false) => {
                self.rollback().await;
                Ok(false)
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// Creates the service role `name` of `kind` when it is missing (under an advisory lock, so
    /// that two replicas do not both create it), then fails unless it is exactly the rightless
    /// role the library relies on ([`Session::service_role_problems`]). A holder is the holder
    /// of user `holds_for`.
    pub(crate) async fn ensure_service_role(
        &self,
        name: &Ident,
        kind: ServiceRole,
        holds_for: Option<&str>,
    ) -> Result<(), GrantsError> {
        let mut found = self.service_role_problems(name, kind, holds_for).await?;
        if found.is_none() {
            let sql = format!("BEGIN;\n{SET_STANDARD_STRINGS}\n{}", lock_stmt(name)?);
            self.execute_locking(&sql, Some(name))
                .await
                .map_err(|e| GrantsError::db(format!("locking the {kind} role"), e))?;
            // Under the lock: another replica may have created it meanwhile.
            let result = match self.service_role_problems(name, kind, holds_for).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => {
                    let create = match holds_for {
                        Some(user) => role::create_holder_role(name, user)?,
                        None => role::create_service_role(name, kind)?,
                    };
                    let sql: Vec<&str> = create.iter().map(Statement::sql).collect();
                    self.client
                        .batch_execute(&sql.join("\n"))
                        .await
                        .map_err(|e| GrantsError::db(format!("creating {kind} role {name}"), e))
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => self.commit(&format!("creating the {kind} role")).await?,
                Err(e) => {
                    self.rollback().await;
                    return Err(e);
                }
            }
            // Checked again as it is now (made here or by another replica); a role found at
            // first was checked just now (one check, not two: each is a round trip).
            found = self.service_role_problems(name, kind, holds_for).await?;
        }
        match found {
            Some(problems) if problems.is_empty() => Ok(()),
            Some(problems) => Err(GrantsError::UnsafeServiceRole {
                role: name.to_string(),
                purpose: kind.as_str(),
                problems,
            }),
            None => Err(GrantsError::RoleNotFound {
                role: name.to_string(),
            }),
        }
    }

    /// What makes `name` unfit to be the service role `kind` (empty: nothing), or `None` when
    /// no such role exists. Fit means: no attribute granting anything (`NOLOGIN NOSUPERUSER
    /// NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS`), not the connector, no
    /// privilege on a shared object or an object of this database (except what a managed user
    /// granted it on its own table, schema or function), and
    ///
    /// * holder: marked as this library's holder (of user `holds_for` when given: its comment
    ///   names that user), a member of no role, and no member but the connector (which must act
    ///   as the holder to reassign objects to it);
    /// * marker: a member only of managed roles (that is the mark) without any attribute.
    pub(crate) async fn service_role_problems(
        &self,
        name: &Ident,
        kind: ServiceRole,
        holds_for: Option<&str>,
    ) -> Result<Option<Vec<String>>, GrantsError> {
        let action = format!("checking the {kind} role {name}");
        let row = self
            .client
            .query_typed_opt(
                sql::SERVICE_ROLE_CHECK,
                &sql::typed(
                    &[&name.as_str(), &(kind == ServiceRole::Holder)],
                    sql::SERVICE_ROLE_CHECK_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let comment: Option<String> = col(&row, 0, &action)?;
        let attributes: Vec<String> = col(&row, 1, &action)?;
        let is_connector: bool = col(&row, 2, &action)?;
        let member_of: Vec<String> = col(&row, 3, &action)?;
        let member_of_unmanaged: Vec<String> = col(&row, 4, &action)?;
        let members: Vec<String> = col(&row, 5, &action)?;
        let has_privileges: bool = col(&row, 6, &action)?;
        let mut problems = Vec::new();
        if kind == ServiceRole::Holder {
            let of = comment.as_deref().and_then(ServiceRole::holder_of);
            match (holds_for, of) {
                (None, _) if comment.as_deref().is_some_and(|c| kind.is_comment(c)) => {}
                (Some(user), Some(of)) if of == user => {}
                (Some(user), Some(of)) => problems.push(format!(
                    "it holds for {of}, not {user}: the library never gives one user's objects \
                     to another user's holder"
                )),
                (expected, _) => problems.push(format!(
                    "it is not this library's holder (its comment is not {}): the library never \
                     takes over a role it did not create",
                    expected.map_or_else(|| kind.comment(), ServiceRole::holder_comment)
                )),
            }
        }
        if is_connector {
            problems.push("it is the connector itself".to_owned());
        }
        if !attributes.is_empty() {
            problems.push(format!("it has {}", attributes.join(", ")));
        }
        // The marker's members matter less: acting as the marker gives nothing (it is a member
        // only of users, without INHERIT), and a member that is not a managed user was made
        // one by an administrator. 0.1.0-marked users are members.
        let (member_of, members) = match kind {
            ServiceRole::Holder => (member_of, members),
            _ => (member_of_unmanaged, Vec::new()),
        };
        let mut gifts = Vec::new();
        if !member_of.is_empty() {
            gifts.push(format!("it is a member of {}", member_of.join(", ")));
        }
        if !members.is_empty() {
            problems.push(format!("{} are members of it", members.join(", ")));
        }
        if has_privileges {
            gifts.push(
                "it holds privileges on objects of this database or shared objects that no \
                 managed user (or holder) owns (pg_shdepend entries of type 'a')"
                    .to_owned(),
            );
        }
        if kind == ServiceRole::Marker {
            // Gifts to the marker (privileges or default privileges an object's owner gave
            // it, a role its `CREATEROLE` tenant granted it) reach only whoever inherits from
            // it: 0.1.0-marked users, whom the giver could give the same directly, and never a
            // user marked now (the marker is a member of those, not the other way round), the
            // connector (it neither inherits from nor acts as the marker) or anything the
            // library runs. Refusing to work would let any login stop every user's creation;
            // they are logged instead.
            if !gifts.is_empty() {
                tracing::warn!(marker = %name, gifts = %gifts.join("; "),
                    "the marker role received privileges or memberships the library did not give it; \
                     they reach only users marked by version 0.1.0 (migrate their marks)");
            }
        } else {
            problems.extend(gifts);
        }
        Ok(Some(problems))
    }
}
