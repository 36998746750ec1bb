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

use super::{ApplyReport, Attempt, Session, lock_stmt};

/// What [`Session::access_role_problems`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRoleCheck {
    /// What makes the role unfit (empty: nothing).
    pub problems: Vec<String>,
    /// When the sweep found it without members, if it did and nobody was granted it since.
    pub idle_since: Option<OffsetDateTime>,
    /// Its members other than the connector.
    pub members: i64,
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
            .query_opt(sql::ACCESS_ROLE_CHECK, &[&role.name.as_str()])
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
        if is_connector {
            problems.push("it is the connector itself".to_owned());
        }
        if !administered {
            // A role whose creator was dropped after making it (a tenant's role made through a
            // role it then dropped) has no member at all, and passes every other check.
            problems.push(
                "the connector does not administer it as its creator (no ADMIN OPTION granted \
                 at its creation): the connector did not create it"
                    .to_owned(),
            );
        }
        if !attributes.is_empty() {
            problems.push(format!("it has {}", attributes.join(", ")));
        }
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
        }))
    }

    /// Makes the access role of `grant` in this database ready for a new member: creates it
    /// when missing (under its advisory lock: two replicas create it once), refuses it unless
    /// it is fit ([`Session::access_role_problems`]), clears its idle mark, and gives it exactly
    /// the grant's privileges (the plan/apply of [`Session::apply`], which repairs any drift).
    /// Returns the role and the plan applied to it (empty when it had them).
    ///
    /// # Errors
    /// [`GrantsError::UnsafeServiceRole`] for an unfit role (nothing changes); as
    /// [`Session::apply`].
    pub async fn ensure_access_role(
        &self,
        grant: &Grant,
    ) -> Result<(AccessRole, ApplyReport), GrantsError> {
        let role = self.access_role_of(grant)?;
        let action = format!("creating the access role {}", role.name);
        let check = match self.access_role_problems(&role).await? {
            Some(check) => check,
            None => {
                // What the server would refuse (an object missing, an owner the connector may
                // not act for) fails here, before the role exists.
                self.plan_with(&role.name, std::slice::from_ref(grant), None, true)
                    .await?;
                let stmts = create_access_role(&role)?;
                match self.run_locked(&action, &role.name, &stmts).await {
                    Ok(_) => {}
                    // Another replica created it between the check and the lock.
                    Err(e) if e.sqlstate() == Some("42710") => {}
                    Err(e) => return Err(e),
                }
                self.access_role_problems(&role).await?.ok_or_else(|| {
                    GrantsError::RoleNotFound {
                        role: role.name.to_string(),
                    }
                })?
            }
        };
        if !check.problems.is_empty() {
            return Err(unfit(&role, check.problems));
        }
        if check.idle_since.is_some() {
            let stmt = comment_stmt(&role, None)?;
            self.run_locked(
                &format!("marking the access role {} in use", role.name),
                &role.name,
                &[stmt],
            )
            .await?;
        }
        let report = self
            .apply_plan(&role.name, std::slice::from_ref(grant), true)
            .await?;
        Ok((role, report))
    }

    /// Gives `user` `grants` in this database through access roles (16+), in two steps:
    ///
    /// 1. Ending access never waits for granting it: the user's memberships in this database's
    ///    access roles that `grants` no longer want are revoked first, in their own
    ///    transaction. Nothing about the wanted grants (an access role somebody spoiled, an
    ///    object missing, a direct privilege the connector cannot revoke) can keep a grant
    ///    that ended; a request that fails after this step leaves the user with less than it
    ///    had, never more (only a list of grants no database could hold,
    ///    [`GrantsError::InvalidGrant`], is refused before it).
    /// 2. Everything else in one transaction, under the user's and every access role's lock,
    ///    after checking first what can be checked without changing anything (each access
    ///    role fit or absent, each plan possible): missing access roles created, idle marks
    ///    cleared, each access role given exactly its grant's privileges (repairing drift),
    ///    the user's direct privileges taken to none and its memberships to exactly those;
    ///    checked inside the transaction, committed. A failure there changes nothing: no
    ///    access role is left created or changed by a grant that failed, and an idle mark is
    ///    never cleared apart from the membership that uses the role (the sweep, under the
    ///    same lock, drops only a role without members).
    pub(crate) async fn apply_through_access_roles(
        &self,
        user: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<ApplyReport, GrantsError> {
        // A request no database could hold changes nothing.
        crate::plan::check_grants(grants)?;
        let mut pairs: Vec<(&Grant, AccessRole)> = Vec::new();
        for grant in grants {
            let role = self.access_role_of(grant)?;
            if !pairs.iter().any(|(_, r)| *r == role) {
                pairs.push((grant, role));
            }
        }
        let wanted: Vec<AccessRole> = pairs.iter().map(|(_, r)| r.clone()).collect();
        let (ended, ending_attempts) = self.end_memberships(user, &wanted).await?;

        // What the checks or the server would refuse fails here, before anything changes.
        let mut idle = false;
        let mut access_changes = false;
        for (grant, role) in &pairs {
            match self.access_role_problems(role).await? {
                Some(check) if !check.problems.is_empty() => {
                    return Err(unfit(role, check.problems));
                }
                Some(check) => idle |= check.idle_since.is_some(),
                None => access_changes = true,
            }
            // The role may not exist yet: then this is everything it would be given.
            let p = self
                .plan_with(&role.name, std::slice::from_ref(*grant), None, true)
                .await?;
            access_changes |= !p.is_empty();
        }
        let plan = self.plan_with(user, &[], Some(&wanted), defaults).await?;
        if !idle && !access_changes && plan.is_empty() {
            let mut plan = plan;
            plan.memberships.splice(0..0, ended);
            return Ok(ApplyReport {
                plan,
                attempts: ending_attempts,
            });
        }

        let action = format!("granting to {user} in database {}", self.database);
        let action = action.as_str();
        let (pairs, wanted) = (&pairs, &wanted);
        let mut report = self
            .with_retries(action, |attempt| async move {
                // Always in the same order (by name): two grants of the same roles never wait
                // on each other crosswise.
                let mut names: Vec<&Ident> = pairs.iter().map(|(_, role)| &role.name).collect();
                names.sort();
                let mut locks = Vec::new();
                for name in names {
                    locks.push(Statement::new(lock_stmt(name)?));
                }
                self.begin_with(action, user, &locks).await?;
                let (plan, access) = match self
                    .grant_in_transaction(user, pairs, wanted, defaults, action)
                    .await
                {
                    Ok(done) => done,
                    Err(e) => {
                        self.rollback().await;
                        return Err(e);
                    }
                };
                self.commit(action).await?;
                let mut plan = plan;
                plan.access = access;
                Ok(ApplyReport {
                    plan,
                    attempts: attempt,
                })
            })
            .await?;
        report.plan.memberships.splice(0..0, ended);
        report.attempts += ending_attempts;
        Ok(report)
    }

    /// Revokes, in one transaction, the memberships of `user` in this database's access roles
    /// (those the connector granted) that are not in `wanted`; returns them and the
    /// transactions tried (0: none to revoke).
    async fn end_memberships(
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
            let gone: Vec<MembershipChange> = crate::plan::plan_memberships(&inspection, wanted)
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

    /// Step 2 of [`Session::apply_through_access_roles`], inside its open transaction (which
    /// holds the locks): returns the user's plan and the access roles' plans that changed
    /// something, after checking that nothing is left to do.
    async fn grant_in_transaction(
        &self,
        user: &Ident,
        pairs: &[(&Grant, AccessRole)],
        wanted: &[AccessRole],
        defaults: bool,
        action: &str,
    ) -> Result<(Plan, Vec<Plan>), Attempt> {
        let mut access = Vec::new();
        for (grant, role) in pairs {
            let mut stmts = Vec::new();
            match self.access_role_problems(role).await? {
                None => stmts.extend(create_access_role(role)?),
                Some(check) if !check.problems.is_empty() => {
                    return Err(unfit(role, check.problems).into());
                }
                Some(check) if check.idle_since.is_some() => stmts.push(comment_stmt(role, None)?),
                Some(_) => {}
            }
            self.execute_in_transaction(&stmts).await?;
            let plan = self
                .plan_with(&role.name, std::slice::from_ref(*grant), None, true)
                .await?;
            if !plan.is_empty() {
                self.execute_in_transaction(&plan.statements()).await?;
                access.push(plan);
            }
        }
        let plan = self.plan_with(user, &[], Some(wanted), defaults).await?;
        self.execute_in_transaction(&plan.statements()).await?;

        // Inside the transaction: every access role fit and in use, nothing left to do.
        let mut left = Vec::new();
        for (grant, role) in pairs {
            let check = self.access_role_problems(role).await?.ok_or_else(|| {
                GrantsError::RoleNotFound {
                    role: role.name.to_string(),
                }
            })?;
            if !check.problems.is_empty() {
                return Err(unfit(role, check.problems).into());
            }
            let after = self
                .plan_with(&role.name, std::slice::from_ref(*grant), None, true)
                .await?;
            if !after.is_empty() {
                left.push(after.to_string());
            }
        }
        let after = self.plan_with(user, &[], Some(wanted), defaults).await?;
        if !after.is_empty() {
            left.push(after.to_string());
        }
        if !left.is_empty() {
            return Err(GrantsError::NothingHappened {
                action: action.to_owned(),
                message: format!(
                    "after the plan the catalogs still differ by: {}",
                    left.concat().trim_end()
                ),
            }
            .into());
        }
        Ok((plan, access))
    }

    /// Runs `stmts` in the open transaction, in one round trip.
    async fn execute_in_transaction(&self, stmts: &[Statement]) -> Result<(), Attempt> {
        if stmts.is_empty() {
            return Ok(());
        }
        let batch: Vec<&str> = stmts.iter().map(Statement::sql).collect();
        self.client.batch_execute(&batch.join("\n")).await?;
        Ok(())
    }

    /// Every access role of the server (any database), with its idle mark and member count.
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn access_roles(&self) -> Result<Vec<AccessRoleState>, GrantsError> {
        let action = "listing the access roles";
        let rows = self
            .client
            .query(sql::ACCESS_ROLES, &[&AccessKey::COMMENT_PREFIX])
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
            // still age and go. A failure without a server answer (the connection) ends it.
            if let Err(e) = self.sweep_access_role(&state, now, &mut out).await {
                if matches!(e, GrantsError::Database { code: None, .. }) {
                    return Err(e);
                }
                let reason = match &e {
                    GrantsError::Database { message, .. } => format!("{e}: {message}"),
                    other => other.to_string(),
                };
                tracing::warn!(database = %self.database, role = %state.role.name, %reason,
                    "access role left as it is");
                out.blocked.push(super::RefusedRole {
                    name: state.role.name.to_string(),
                    reason,
                });
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
                out.unfit.push(super::RefusedRole {
                    name: role.name.to_string(),
                    reason: check.problems.join("; "),
                });
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
                match self.drop_access_role(role).await {
                    Ok(true) => out.dropped.push(role.name.clone()),
                    Ok(false) => {}
                    Err(GrantsError::UnsafeServiceRole { problems, .. }) => {
                        out.unfit.push(super::RefusedRole {
                            name: role.name.to_string(),
                            reason: problems.join("; "),
                        });
                    }
                    Err(e) => return Err(e),
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
                    .apply_plan(&role.name, &[role.key.grant()?], true)
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

    /// Drops the idle access role `role` of this database: under its lock, re-checked to be fit
    /// and still without members (`false`, nothing done, when it gained one); its privileges
    /// revoked and the role dropped in one transaction.
    async fn drop_access_role(&self, role: &AccessRole) -> Result<bool, GrantsError> {
        let action = format!("dropping the access role {}", role.name);
        let check = self.access_role_problems(role).await?;
        let Some(check) = check else {
            return Ok(false);
        };
        if !check.problems.is_empty() {
            return Err(unfit(role, check.problems));
        }
        let literal = Literal::new(role.name.as_str())?;
        let name = role.name.quoted();
        let stmts = [
            // Under the lock, in the same transaction: fails (and rolls back) when a member
            // came since the check.
            Statement::new(format!(
                "DO $rdspg$ BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m \
                 JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.roleid \
                 WHERE r.rolname OPERATOR(pg_catalog.=) {lit} \
                 AND m.member OPERATOR(pg_catalog.<>) (SELECT oid FROM pg_catalog.pg_roles \
                 WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)) \
                 THEN RAISE EXCEPTION USING ERRCODE = 'RDSPG', MESSAGE = 'the access role has a member again'; \
                 END IF; END $rdspg$;",
                lit = literal.quoted()
            )),
            // The connector takes the role's privileges (it holds ADMIN, not INHERIT), so that
            // `DROP OWNED` may revoke everything granted to it here and on shared objects, and
            // remove default privileges a member set *for* it; it owns nothing (checked above).
            Statement::new(format!(
                "GRANT {name} TO CURRENT_USER WITH INHERIT TRUE, SET FALSE;"
            )),
            Statement::new(format!("DROP OWNED BY {name};")),
            Statement::new(format!("DROP ROLE {name};")),
        ];
        match self.run_locked(&action, &role.name, &stmts).await {
            Ok(_) => Ok(true),
            Err(e) if e.sqlstate() == Some("RDSPG") => Ok(false),
            Err(e) => Err(e),
        }
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

/// `CREATE ROLE … NOLOGIN …` with no rights, and its comment.
fn create_access_role(role: &AccessRole) -> Result<Vec<Statement>, GrantsError> {
    Ok(vec![
        Statement::new(format!(
            "CREATE ROLE {} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;",
            role.name.quoted()
        )),
        comment_stmt(role, None)?,
    ])
}
