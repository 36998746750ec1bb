//! Access roles on PostgreSQL 16+ (see [`access`](crate::access)): create and check them, give
//! them their privileges, give users memberships, and drop those left without members.

use time::OffsetDateTime;

use crate::access::{ACCESS_ROLE_GRACE, AccessKey, AccessRole};
use crate::error::{GrantsError, col};
use crate::plan::{MembershipChange, Plan};
use crate::privilege::Grant;
use crate::quote::{Ident, Literal};
use crate::sql;
use crate::statement::Statement;

use super::{Session, lock_stmt};

/// What [`Session::access_role_problems`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRoleCheck {
    /// What makes the role unfit (empty: nothing).
    pub problems: Vec<String>,
    /// When the sweep found it without members, if it did and nobody was granted it since.
    pub idle_since: Option<OffsetDateTime>,
    /// Its members other than the connector and the grantor role.
    pub members: i64,
    /// Whether the grantor role administers it (`ADMIN OPTION`, without `INHERIT` and `SET`,
    /// granted by the connector), as it must to grant memberships in it (see
    /// [`access`](crate::access#the-grantor-role)).
    pub grantor_admin: bool,
}

/// What [`Session::grantor_problems`] found about the grantor role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrantorCheck {
    /// `None` when no role has the grantor role's name; otherwise what makes it unfit
    /// (empty: nothing).
    pub problems: Option<Vec<String>>,
    /// Whether the connector may `SET ROLE` to it.
    pub can_set: bool,
    /// Whether the connector administers it as its creator (the library made it): only then
    /// is it ever acted as, even to revoke.
    pub administered: bool,
}

/// An access role of the server, as [`Session::access_roles`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AccessRoleState {
    /// The role and its key.
    pub role: AccessRole,
    /// When the sweep found it without members ([`Session::sweep_access_roles`]).
    #[serde(with = "time::serde::rfc3339::option")]
    pub idle_since: Option<OffsetDateTime>,
    /// Its members other than the connector.
    pub members: i64,
}

/// What [`Session::sweep_access_roles`] did to this database's access roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AccessSweep {
    /// Found without members now: marked idle.
    pub marked_idle: Vec<Ident>,
    /// Idle for [`ACCESS_ROLE_GRACE`]: their privileges revoked and dropped.
    pub dropped: Vec<Ident>,
    /// Used again since they were marked idle: the mark removed.
    pub in_use_again: Vec<Ident>,
    /// In use, and found without exactly their grant's privileges (a member ran `DROP OWNED
    /// BY` the role, say, which removes the default privileges following new tables):
    /// given them again.
    pub repaired: Vec<Ident>,
    /// Roles with an access role's comment that are not what the library makes (see
    /// [`Session::access_role_problems`]): never altered, never dropped.
    pub unfit: Vec<super::RefusedRole>,
    /// Access roles the server refused to change (to drop, mostly: default privileges for
    /// the role or a policy naming it in another database, a privilege somebody else granted
    /// it), with the server's reason: left as they are, the sweep went on.
    pub blocked: Vec<super::RefusedRole>,
}

/// An access role as [`Session::plan_all`] found it: its check (`None`: it does not exist yet)
/// and the plan giving it its grant.
#[derive(Debug)]
pub(crate) struct AccessPlanned {
    pub(crate) role: AccessRole,
    pub(crate) check: Option<AccessRoleCheck>,
    pub(crate) plan: Plan,
}

/// What [`Session::plan_all`] found: the planned role's plan and its access roles', and (when
/// memberships are planned, 16+) the grantor role's check.
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) user: Plan,
    pub(crate) access: Vec<AccessPlanned>,
    pub(crate) grantor: Option<(Ident, GrantorCheck)>,
}

impl Planned {
    /// The first unfit access role's error, if any.
    fn unfit(&self) -> Option<GrantsError> {
        self.access.iter().find_map(|a| match &a.check {
            Some(c) if !c.problems.is_empty() => Some(unfit(&a.role, c.problems.clone())),
            _ => None,
        })
    }

    /// Whether the transaction gives the grantor role something or acts as it: a membership
    /// granted, or an access role it does not administer yet.
    fn gives_through_grantor(&self) -> bool {
        self.user
            .memberships
            .iter()
            .any(|m| m.grant && m.grantor.is_some())
            || self
                .access
                .iter()
                .any(|a| a.check.as_ref().is_none_or(|c| !c.grantor_admin))
    }

    /// The statements making the grantor role usable (created, or the connector's `SET`
    /// given back), none when nothing acts as it or it is ready; its name when they take its
    /// lock.
    ///
    /// # Errors
    /// [`GrantsError::UnsafeServiceRole`] when something is to be granted through an unfit
    /// grantor role (memberships to revoke still are: revoking as it gives nobody anything).
    fn grantor_statements(&self) -> Result<(Vec<Statement>, Option<&Ident>), GrantsError> {
        let Some((name, check)) = &self.grantor else {
            return Ok((Vec::new(), None));
        };
        let gives = self.gives_through_grantor();
        let acts = gives || self.user.memberships.iter().any(|m| m.grantor.is_some());
        if !acts {
            return Ok((Vec::new(), None));
        }
        match &check.problems {
            None => Ok((create_grantor_role(name)?, Some(name))),
            Some(problems) if !problems.is_empty() && gives => {
                Err(GrantsError::UnsafeServiceRole {
                    role: name.to_string(),
                    purpose: crate::marker::ServiceRole::Grantor.as_str(),
                    problems: problems.clone(),
                })
            }
            Some(_) if !check.can_set => Ok((vec![grantor_set_stmt(name)], Some(name))),
            Some(_) => Ok((Vec::new(), None)),
        }
    }

    /// The transaction's statements after `BEGIN` and `role`'s lock (none: nothing to do): the
    /// locks of the access roles it creates, changes or joins (in name order, after the role's:
    /// the sweep takes one access role's lock alone, so no two transactions wait on each other
    /// in a cycle), access roles created or marked in use, their privileges, then the role's.
    ///
    /// # Errors
    /// [`GrantsError::UnsafeServiceRole`] for an unfit access role (before anything is sent).
    pub(crate) fn statements(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        if let Some(e) = self.unfit() {
            return Err(e);
        }
        let mut locks: std::collections::BTreeSet<&Ident> = std::collections::BTreeSet::new();
        let (mut body, grantor_lock) = self.grantor_statements()?;
        locks.extend(grantor_lock);
        let grantor = self.grantor.as_ref().map(|(g, _)| g);
        for a in &self.access {
            let before = body.len();
            match &a.check {
                None => {
                    body.extend(create_access_role(&a.role, grantor)?);
                    // The grantor role's lock whenever it is given an access role: the undo of
                    // a failed grant drops a grantor role that administers none under that lock
                    // (`Session::drop_unused_grantor`), so never while one is being given it.
                    locks.extend(grantor);
                }
                Some(c) => {
                    if c.idle_since.is_some() {
                        body.push(comment_stmt(&a.role, None)?);
                    }
                    if !c.grantor_admin
                        && let Some(g) = grantor
                    {
                        body.push(grantor_admin_stmt(&a.role, g));
                        locks.insert(g);
                    }
                }
            }
            body.extend(a.plan.statements());
            if body.len() > before {
                locks.insert(&a.role.name);
            }
        }
        for m in self.user.memberships.iter().filter(|m| m.grant) {
            locks.insert(&m.access_role.name);
        }
        body.extend(self.user.statements());
        if body.is_empty() {
            return Ok(body);
        }
        let mut out = Vec::with_capacity(locks.len() + body.len());
        for name in locks.into_iter().filter(|n| *n != role) {
            out.push(Statement::new(lock_stmt(name)?));
        }
        out.extend(body);
        Ok(out)
    }

    /// Whether nothing is left to do: every access role exists, fit and in use, and every plan
    /// is empty.
    pub(crate) fn is_settled(&self) -> bool {
        self.user.is_empty() && self.access.iter().all(|a| self.access_settled(a))
    }

    /// Whether `a` exists, fit, in use, administered by the grantor role (when there is one)
    /// and holds exactly its grant.
    fn access_settled(&self, a: &AccessPlanned) -> bool {
        a.plan.is_empty()
            && a.check.as_ref().is_some_and(|c| {
                c.problems.is_empty()
                    && c.idle_since.is_none()
                    && (c.grantor_admin || self.grantor.is_none())
            })
    }

    /// The (empty) plan of the access role `role` when these plans found it settled.
    pub(crate) fn settled_access(&self, role: &AccessRole) -> Option<&Plan> {
        self.access
            .iter()
            .find(|a| a.role == *role && self.access_settled(a))
            .map(|a| &a.plan)
    }

    /// What is left to do, as text.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        for a in &self.access {
            match &a.check {
                None => out.push_str(&format!("access role {} missing\n", a.role.name)),
                Some(c) => {
                    if c.idle_since.is_some() {
                        out.push_str(&format!("access role {} still idle\n", a.role.name));
                    }
                    if !c.grantor_admin
                        && let Some((g, _)) = &self.grantor
                    {
                        out.push_str(&format!(
                            "grantor role {g} does not administer access role {}\n",
                            a.role.name
                        ));
                    }
                }
            }
        }
        out.push_str(&self.to_plan().to_string());
        out
    }

    fn to_plan(&self) -> Plan {
        let mut plan = self.user.clone();
        plan.access = self
            .access
            .iter()
            .filter(|a| !a.plan.is_empty())
            .map(|a| a.plan.clone())
            .collect();
        plan
    }

    /// The role's plan, with the access roles' that change something ([`Plan::access`]).
    ///
    /// # Errors
    /// [`GrantsError::UnsafeServiceRole`] for an unfit access role.
    pub(crate) fn into_plan(self) -> Result<Plan, GrantsError> {
        if let Some(e) = self.unfit() {
            return Err(e);
        }
        Ok(self.to_plan())
    }
}

impl Session<'_> {
    /// Whether grants on this server go through access roles: PostgreSQL 16 and later, the
    /// first version that can forbid a member to `SET ROLE` (see [`access`](crate::access)).
    pub fn uses_access_roles(&self) -> bool {
        self.rules.membership_options()
    }

    /// The access role of `grant` in this session's database, by name and key.
    ///
    /// # Errors
    /// [`GrantsError::Quote`] when the configured prefix leaves no room for the digits.
    pub fn access_role_of(&self, grant: &Grant) -> Result<AccessRole, GrantsError> {
        let key = AccessKey::new(&self.database, grant);
        let name = key.role_name(&self.settings.access_prefix)?;
        Ok(AccessRole { name, key })
    }

    /// What makes `role` unfit to be the access role of its key (see
    /// [`access`](crate::access#what-an-access-role-is)), or `None` when no role has its name.
    /// PostgreSQL 16+ only.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn access_role_problems(
        &self,
        role: &AccessRole,
    ) -> Result<Option<AccessRoleCheck>, GrantsError> {
        let action = format!("checking the access role {}", role.name);
        let Some(row) = self
            .client
            .query_typed_opt(
                sql::ACCESS_ROLE_CHECK,
                &[
                    (&role.name.as_str(), tokio_postgres::types::Type::NAME),
                    (
                        &self.settings.names.grantor.as_str(),
                        tokio_postgres::types::Type::NAME,
                    ),
                ],
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?
        else {
            return Ok(None);
        };
        let comment: Option<String> = col(&row, 0, &action)?;
        let attributes: Vec<String> = col(&row, 1, &action)?;
        let is_connector: bool = col(&row, 2, &action)?;
        let member_of: Vec<String> = col(&row, 3, &action)?;
        let foreign_members: Vec<String> = col(&row, 4, &action)?;
        let owns: bool = col(&row, 5, &action)?;
        let elsewhere: bool = col(&row, 6, &action)?;
        let members: i64 = col(&row, 7, &action)?;
        let administered: bool = col(&row, 8, &action)?;
        let grantor_admin: bool = col(&row, 9, &action)?;
        let mut problems = Vec::new();
        let parsed = comment.as_deref().and_then(AccessKey::from_comment);
        let idle_since = match parsed {
            Some((key, idle)) if key == role.key => idle,
            _ => {
                problems.push(format!(
                    "it is not this library's access role for {} (its comment is not {}): the \
                     library never takes over a role it did not create",
                    describe(&role.key),
                    role.key.comment(None)
                ));
                None
            }
        };
        // A role whose creator was dropped after making it (a tenant's role made through a
        // role it then dropped) has no member at all, and passes every other check.
        created_role_problems(is_connector, administered, &attributes, &mut problems);
        if !member_of.is_empty() {
            problems.push(format!("it is a member of {}", member_of.join(", ")));
        }
        if !foreign_members.is_empty() {
            problems.push(format!(
                "memberships not granted by the connector as the library grants them (without \
                 ADMIN OPTION and SET): {}",
                foreign_members.join(", ")
            ));
        }
        if owns {
            problems.push(
                "it owns objects (pg_shdepend entries of type 'o'): somebody acted as it"
                    .to_owned(),
            );
        }
        if elsewhere {
            problems.push(format!(
                "it holds privileges in a database other than {} (pg_shdepend entries of type \
                 'a'), which its members would inherit",
                role.key.database
            ));
        }
        Ok(Some(AccessRoleCheck {
            problems,
            idle_since,
            members,
            grantor_admin,
        }))
    }

    /// What makes the grantor role ([`RoleNames::grantor`](crate::role::RoleNames)) unfit to
    /// grant memberships in the access roles (see [`access`](crate::access#the-grantor-role)),
    /// and whether the connector may act as it. Fit means: marked as this library's grantor,
    /// administered by the connector as its creator, no attribute granting anything, not the
    /// connector, no member but the connector (which may `SET ROLE` to it, never inherit
    /// from it), granted by the connector only `ADMIN OPTION`
    /// (neither `INHERIT` nor `SET`) on access roles, and owning nothing. What others granted
    /// it (roles, privileges) is not judged: nobody can use it (see `sql::GRANTOR_CHECK`), and
    /// any login could otherwise stop every grant.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub(crate) async fn grantor_problems(&self) -> Result<GrantorCheck, GrantsError> {
        let name = &self.settings.names.grantor;
        let action = format!("checking the grantor role {name}");
        let Some(row) = self
            .client
            .query_typed_opt(
                sql::GRANTOR_CHECK,
                &[
                    (&name.as_str(), tokio_postgres::types::Type::NAME),
                    (
                        &AccessKey::COMMENT_PREFIX,
                        tokio_postgres::types::Type::TEXT,
                    ),
                ],
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?
        else {
            return Ok(GrantorCheck {
                problems: None,
                can_set: false,
                administered: false,
            });
        };
        let comment: Option<String> = col(&row, 0, &action)?;
        let attributes: Vec<String> = col(&row, 1, &action)?;
        let is_connector: bool = col(&row, 2, &action)?;
        let administered: bool = col(&row, 3, &action)?;
        let can_set: bool = col(&row, 4, &action)?;
        let inherits: bool = col(&row, 5, &action)?;
        let members: Vec<String> = col(&row, 6, &action)?;
        let member_of: Vec<String> = col(&row, 7, &action)?;
        let holds: bool = col(&row, 8, &action)?;
        let kind = crate::marker::ServiceRole::Grantor;
        let mut problems = Vec::new();
        if !comment.as_deref().is_some_and(|c| kind.is_comment(c)) {
            problems.push(format!(
                "it is not this library's grantor role (its comment is not {}): the library \
                 never takes over a role it did not create",
                kind.comment()
            ));
        }
        created_role_problems(is_connector, administered, &attributes, &mut problems);
        if inherits {
            problems.push(
                "the connector inherits its privileges (a membership WITH INHERIT): what others \
                 grant it would be the connector's"
                    .to_owned(),
            );
        }
        if !members.is_empty() {
            problems.push(format!(
                "{} are members of it: they could act as it, and grant themselves any access \
                 role",
                members.join(", ")
            ));
        }
        if !member_of.is_empty() {
            problems.push(format!(
                "the connector granted it memberships other than ADMIN OPTION on access roles: {}",
                member_of.join(", ")
            ));
        }
        if holds {
            problems.push("it owns objects: somebody acted as it".to_owned());
        }
        Ok(GrantorCheck {
            problems: Some(problems),
            can_set,
            administered,
        })
    }

    /// The access roles of `grants` in this database, each with its grant, once each.
    ///
    /// # Errors
    /// As [`Session::access_role_of`].
    pub(crate) fn access_roles_of(
        &self,
        grants: &[Grant],
    ) -> Result<Vec<(AccessRole, Grant)>, GrantsError> {
        let mut out: Vec<(AccessRole, Grant)> = Vec::new();
        for grant in grants {
            let role = self.access_role_of(grant)?;
            if !out.iter().any(|(r, _)| r.name == role.name) {
                out.push((role, grant.clone()));
            }
        }
        Ok(out)
    }

    /// Revokes, in one transaction, the memberships of `user` in this database's access roles
    /// (those the connector granted) that are not in `wanted`; returns them and the
    /// transactions tried (0: none to revoke).
    pub(super) async fn end_memberships(
        &self,
        user: &Ident,
        wanted: &[AccessRole],
    ) -> Result<(Vec<MembershipChange>, u32), GrantsError> {
        let action = format!(
            "ending the memberships of {user} in database {}",
            self.database
        );
        let action = action.as_str();
        self.with_retries(action, |attempt| async move {
            let inspection = self.inspect_privileges(user, &[]).await?;
            let gone: Vec<MembershipChange> = crate::plan::plan_memberships(
                &inspection,
                wanted,
                Some(&self.settings.names.grantor),
            )
            .into_iter()
            .filter(|m| !m.grant)
            .collect();
            if gone.is_empty() {
                return Ok((gone, attempt - 1));
            }
            let stmts: Vec<Statement> = gone.iter().map(|m| m.statement(user)).collect();
            self.begin_with(action, user, &stmts).await?;
            self.commit(action).await?;
            Ok((gone, attempt))
        })
        .await
    }

    /// Every access role of the server (any database), with its idle mark and member count.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn access_roles(&self) -> Result<Vec<AccessRoleState>, GrantsError> {
        let action = "listing the access roles";
        let rows = self
            .client
            .query_typed(
                sql::ACCESS_ROLES,
                &sql::typed(
                    &[
                        &AccessKey::COMMENT_PREFIX,
                        &self.settings.names.grantor.as_str(),
                    ],
                    sql::ACCESS_ROLES_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db(action, e))?;
        let mut out = Vec::new();
        for row in &rows {
            let name: String = col(row, 0, action)?;
            let comment: Option<String> = col(row, 1, action)?;
            let members: i64 = col(row, 2, action)?;
            let Some((key, idle_since)) = comment.as_deref().and_then(AccessKey::from_comment)
            else {
                continue;
            };
            out.push(AccessRoleState {
                role: AccessRole {
                    name: Ident::new(name)?,
                    key,
                },
                idle_since,
                members,
            });
        }
        Ok(out)
    }

    /// Ages this database's access roles (16+; nothing before): marks those without members
    /// idle as of `now`, clears the mark of those used again and gives each role in use exactly
    /// its grant's privileges again ([`AccessSweep::repaired`]), and drops those idle since
    /// [`ACCESS_ROLE_GRACE`] before `now`, each under its advisory lock (which every grant of a
    /// membership takes), re-checked under it. Dropping revokes the role's privileges and
    /// default privileges and drops it, in one transaction; an unfit role is left alone and
    /// named ([`AccessSweep::unfit`]), and so is one the server refuses to change or drop
    /// ([`AccessSweep::blocked`]): neither stops the sweep.
    ///
    /// # Errors
    /// [`GrantsError::Database`] when listing the roles fails, or the server does not answer.
    pub async fn sweep_access_roles(
        &self,
        now: OffsetDateTime,
    ) -> Result<AccessSweep, GrantsError> {
        let mut out = AccessSweep::default();
        if !self.uses_access_roles() {
            return Ok(out);
        }
        for state in self.access_roles().await? {
            if state.role.key.database != self.database {
                continue;
            }
            // One role the server refuses to change (something else depends on it: default
            // privileges for it or a policy naming it in another database, a privilege a
            // tenant granted it) or that cannot be repaired (a member's own table in its
            // scope, its schema dropped) is named, never the end of the sweep: the others
            // still age and go. A server not serving writes ends it: no answer (the
            // connection), or one saying so for every statement alike (SQLSTATE classes 08 and
            // 57, 53300, and 25006: read-only after a failover).
            if let Err(e) = self.sweep_access_role(&state, now, &mut out).await {
                if e.server_unavailable() {
                    return Err(e);
                }
                let reason = match &e {
                    GrantsError::Database { message, .. } => format!("{e}: {message}"),
                    other => other.to_string(),
                };
                tracing::warn!(database = %self.database, role = %state.role.name, %reason,
                    "access role left as it is");
                out.blocked
                    .push(super::RefusedRole::new(state.role.name.as_str(), reason));
            }
        }
        Ok(out)
    }

    /// One access role of [`Session::sweep_access_roles`].
    async fn sweep_access_role(
        &self,
        state: &AccessRoleState,
        now: OffsetDateTime,
        out: &mut AccessSweep,
    ) -> Result<(), GrantsError> {
        let role = &state.role;
        // Never alter a role the library did not make as it makes them; report it.
        match self.access_role_problems(role).await? {
            Some(check) if check.problems.is_empty() => {}
            Some(check) => {
                out.unfit.push(super::RefusedRole::new(
                    role.name.as_str(),
                    check.problems.join("; "),
                ));
                return Ok(());
            }
            None => return Ok(()),
        }
        match (state.members, state.idle_since) {
            (0, None) => {
                self.run_locked(
                    &format!("marking the access role {} idle", role.name),
                    &role.name,
                    &[comment_stmt(role, Some(now))?],
                )
                .await?;
                out.marked_idle.push(role.name.clone());
            }
            (0, Some(since)) if since + ACCESS_ROLE_GRACE <= now => {
                if self.drop_access_role(role).await? {
                    out.dropped.push(role.name.clone());
                }
            }
            (0, Some(_)) => {}
            (_, idle_since) => {
                if idle_since.is_some() {
                    self.run_locked(
                        &format!("marking the access role {} in use", role.name),
                        &role.name,
                        &[comment_stmt(role, None)?],
                    )
                    .await?;
                    out.in_use_again.push(role.name.clone());
                }
                // In use: exactly its grant's privileges again. Any member may undo part of
                // them (`DROP OWNED BY` the access role needs only its privileges, and removes
                // the default privileges that follow new tables), for every member: repaired
                // here, not only at the next grant that uses the role.
                // Best effort: what cannot be planned now (an object in its scope owned by a
                // role the connector does not act for, its schema dropped) fails the next grant
                // that uses the role, which says why; it is no reason to stop or fail a sweep.
                match self
                    .apply_plan(&role.name, &[role.key.grant()?], &[], false, true)
                    .await
                {
                    Ok(report) if report.plan.is_empty() => {}
                    Ok(report) => {
                        tracing::warn!(database = %self.database, role = %role.name,
                            plan = %report.plan, "access role repaired");
                        out.repaired.push(role.name.clone());
                    }
                    Err(
                        e @ (GrantsError::OwnerMembershipMissing { .. }
                        | GrantsError::ObjectNotFound { .. }
                        | GrantsError::CannotFollowNewTables { .. }),
                    ) => {
                        tracing::info!(database = %self.database, role = %role.name, error = %e,
                            "access role not repaired");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Drops the access roles of `grants` in this database (16+; nothing before) that exist, are
    /// fit, have no member and are not marked idle: what the undo of a failed grant leaves when
    /// that grant created them (its first use of the scope) and its last `COMMIT`'s answer was
    /// lost, so that the instance is as it was. Each under its lock, re-checked under it (a
    /// grant joining it meanwhile keeps it); an idle-marked role existed before any grant now
    /// running and is left to the sweep's grace period. Returns those dropped.
    ///
    /// # Errors
    /// [`GrantsError::Database`]; [`GrantsError::Quote`] for a prefix leaving no room.
    pub async fn drop_unheld_access_roles(
        &self,
        grants: &[Grant],
    ) -> Result<Vec<Ident>, GrantsError> {
        let mut dropped = Vec::new();
        if !self.uses_access_roles() {
            return Ok(dropped);
        }
        let mut first_error = None;
        for (role, _) in self.access_roles_of(grants)? {
            let dropped_one = async {
                let unheld = self.access_role_problems(&role).await?.is_some_and(|c| {
                    c.problems.is_empty() && c.members == 0 && c.idle_since.is_none()
                });
                Ok::<_, GrantsError>(unheld && self.drop_access_role(&role).await?)
            };
            match dropped_one.await {
                Ok(true) => dropped.push(role.name),
                Ok(false) => {}
                // Something else depends on it (a privilege or policy a tenant gave it): it
                // stays, harmless without members; the sweep names it.
                Err(e) if e.sqlstate() == Some("2BP01") => {
                    tracing::warn!(database = %self.database, role = %role.name, error = %e,
                        "an access role nobody holds is kept: something depends on it");
                }
                // One role that fails does not keep the others.
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if dropped.is_empty() => Err(e),
            Some(e) => {
                tracing::warn!(database = %self.database, error = %e,
                    "an access role nobody holds could not be dropped");
                Ok(dropped)
            }
            None => Ok(dropped),
        }
    }

    /// Drops the idle access role `role` of this database, which the caller has just found fit
    /// ([`Session::access_role_problems`]): under its lock, checked to be still without members
    /// (`false`, nothing done, when it gained one), its privileges revoked and the role dropped
    /// in one transaction.
    async fn drop_access_role(&self, role: &AccessRole) -> Result<bool, GrantsError> {
        let action = format!("dropping the access role {}", role.name);
        let literal = Literal::new(role.name.as_str())?;
        let name = role.name.quoted();
        let stmts = [
            // The connector takes the role's privileges (it holds ADMIN, not INHERIT), so that
            // `DROP OWNED` may revoke everything granted to it here and on shared objects, and
            // remove default privileges a member set *for* it; it owns nothing (checked above).
            Statement::new(format!(
                "GRANT {name} TO CURRENT_USER WITH INHERIT TRUE, SET FALSE;"
            )),
            // Under the lock, in the same transaction, after the `GRANT` above (which takes
            // PostgreSQL's lock on the role, so that no membership can be added until the
            // transaction ends, and which waits for one being added): fails (and rolls back)
            // when a member came since the check. Before the `GRANT`, a membership granted by a
            // transaction still open (one that went on without the advisory lock, held by a
            // squatter) was not seen, and `DROP ROLE` removed it once it committed.
            Statement::new(format!(
                "DO $rdspg$ BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m \
                 JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.roleid \
                 WHERE r.rolname OPERATOR(pg_catalog.=) {lit} \
                 AND m.member OPERATOR(pg_catalog.<>) (SELECT oid FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER) \
                 AND m.member OPERATOR(pg_catalog.<>) COALESCE((SELECT oid FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) {grantor}), 0::pg_catalog.oid)) \
                 THEN RAISE EXCEPTION USING ERRCODE = 'RDSPG', MESSAGE = 'the access role has a member again'; \
                 END IF; END $rdspg$;",
                lit = literal.quoted(),
                grantor = Literal::new(self.settings.names.grantor.as_str())?.quoted()
            )),
            Statement::new(format!("DROP OWNED BY {name};")),
            Statement::new(format!("DROP ROLE {name};")),
        ];
        match self.run_locked(&action, &role.name, &stmts).await {
            Ok(_) => Ok(true),
            // A member came back, or the role is gone already.
            Err(e) if matches!(e.sqlstate(), Some("RDSPG" | "42704")) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// What the access-role and grantor-role checks share: the role is not the connector, the
/// connector administers it as its creator, and it has no attribute granting anything.
fn created_role_problems(
    is_connector: bool,
    administered: bool,
    attributes: &[String],
    problems: &mut Vec<String>,
) {
    if is_connector {
        problems.push("it is the connector itself".to_owned());
    }
    if !administered {
        problems.push(
            "the connector does not administer it as its creator (no ADMIN OPTION granted at \
             its creation): the connector did not create it"
                .to_owned(),
        );
    }
    if !attributes.is_empty() {
        problems.push(format!("it has {}", attributes.join(", ")));
    }
}

/// `schema sales (read-only) in appdb`.
fn describe(key: &AccessKey) -> String {
    let scope = match (&key.schema, &key.table) {
        (None, _) => "the database".to_owned(),
        (Some(s), None) => format!("schema {s}"),
        (Some(s), Some(t)) => format!("table {s}.{t}"),
    };
    format!("{scope} ({}) in {}", key.level, key.database)
}

fn unfit(role: &AccessRole, problems: Vec<String>) -> GrantsError {
    GrantsError::UnsafeServiceRole {
        role: role.name.to_string(),
        purpose: "access",
        problems,
    }
}

fn comment_stmt(
    role: &AccessRole,
    idle_since: Option<OffsetDateTime>,
) -> Result<Statement, GrantsError> {
    let lit = Literal::new(role.key.comment(idle_since))?;
    Ok(Statement::new(format!(
        "COMMENT ON ROLE {} IS {};",
        role.name.quoted(),
        lit.quoted()
    )))
}

/// `CREATE ROLE … NOLOGIN …` with no rights, its comment, and the grantor role's `ADMIN
/// OPTION` on it.
fn create_access_role(
    role: &AccessRole,
    grantor: Option<&Ident>,
) -> Result<Vec<Statement>, GrantsError> {
    let mut out = vec![
        Statement::new(format!(
            "CREATE ROLE {} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;",
            role.name.quoted()
        )),
        comment_stmt(role, None)?,
    ];
    out.extend(grantor.map(|g| grantor_admin_stmt(role, g)));
    Ok(out)
}

/// The grantor role's `ADMIN OPTION` on `role`: it may grant and revoke memberships in it,
/// and neither holds its privileges nor may act as it.
fn grantor_admin_stmt(role: &AccessRole, grantor: &Ident) -> Statement {
    Statement::new(format!(
        "GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;",
        role.name.quoted(),
        grantor.quoted()
    ))
}

/// The connector's `SET` on the grantor role (without `INHERIT`: it never holds what the
/// grantor role holds, the `ADMIN OPTION` on access roles).
fn grantor_set_stmt(grantor: &Ident) -> Statement {
    Statement::new(format!(
        "GRANT {} TO CURRENT_USER WITH SET TRUE, INHERIT FALSE;",
        grantor.quoted()
    ))
}

/// The grantor role: `NOLOGIN` with no rights, its comment, and the connector's `SET` on it.
fn create_grantor_role(grantor: &Ident) -> Result<Vec<Statement>, GrantsError> {
    let mut out = crate::role::create_service_role(grantor, crate::marker::ServiceRole::Grantor)?;
    out.push(grantor_set_stmt(grantor));
    Ok(out)
}
