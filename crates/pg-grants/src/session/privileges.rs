//! Privileges in one database: inspect the role's, plan the difference to the wanted ones,
//! apply it in one checked transaction.

use crate::access::AccessRole;
use crate::error::GrantsError;
use crate::plan::{self, Inspection, Plan};
use crate::privilege::Grant;
use crate::quote::Ident;

use super::{ApplyReport, Session};

impl Session<'_> {
    // ----- privileges -----

    /// Reads the role's privileges in this database (one catalog query), covering the objects of
    /// `grants` and every object the role holds privileges on, and the `SECURITY DEFINER`
    /// functions and procedures it owns ([`Inspection::security_definer`], a second query).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn inspect(&self, role: &Ident, grants: &[Grant]) -> Result<Inspection, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        inspection.security_definer = self.owned_security_definers(role).await?;
        Ok(inspection)
    }

    /// [`Session::inspect`] without [`Inspection::security_definer`] (what planning reads).
    pub(super) async fn inspect_privileges(
        &self,
        role: &Ident,
        grants: &[Grant],
    ) -> Result<Inspection, GrantsError> {
        let p = plan::scope_params(grants);
        let rows = self
            .client
            .query(
                &plan::inspect_sql(),
                &[
                    &role.as_str(),
                    &p.whole_db,
                    &p.schemas,
                    &p.table_schemas,
                    &p.table_names,
                ],
            )
            .await
            .map_err(|e| GrantsError::db(format!("inspecting the privileges of {role}"), e))?;
        Inspection::from_rows(self.database.clone(), &rows)
    }

    /// Plans the SQL that gives `role` exactly `grants` in this database. On PostgreSQL 16+
    /// (see [`access`](crate::access)) that is no direct privilege and exactly the
    /// memberships in this database's access roles the grants want (the access roles
    /// themselves are planned when applied).
    ///
    /// # Errors
    /// As [`Session::inspect`] and [`plan::plan`].
    pub async fn plan(&self, role: &Ident, grants: &[Grant]) -> Result<Plan, GrantsError> {
        if self.uses_access_roles() {
            let mut access = Vec::new();
            let mut plans = Vec::new();
            for grant in grants {
                let a = self.access_role_of(grant)?;
                // The role may not exist yet: then this is everything it would be given.
                let p = self
                    .plan_with(&a.name, std::slice::from_ref(grant), None, true)
                    .await?;
                if !p.is_empty() {
                    plans.push(p);
                }
                access.push(a);
            }
            let mut plan = self.plan_with(role, &[], Some(&access), true).await?;
            plan.access = plans;
            Ok(plan)
        } else {
            self.plan_with(role, grants, None, true).await
        }
    }

    /// As [`Session::plan`] with direct `grants`; with `memberships`, also the changes taking
    /// the role's memberships in this database's access roles to exactly those. Without
    /// `defaults`, the role's default-privilege entries are left out (revocation leaves them to
    /// `DROP OWNED`, which needs no membership in their creators).
    pub(crate) async fn plan_with(
        &self,
        role: &Ident,
        grants: &[Grant],
        memberships: Option<&[AccessRole]>,
        defaults: bool,
    ) -> Result<Plan, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        if !defaults {
            inspection.default_acls.clear();
        }
        let mut plan = plan::plan(
            &inspection,
            role,
            grants,
            &self.settings.policy,
            &self.rules,
            &self.connector,
        )?;
        if let Some(wanted) = memberships {
            plan.memberships = plan::plan_memberships(&inspection, wanted);
        }
        Ok(plan)
    }

    /// Gives the managed `role` exactly `grants` in this database: plans, then runs the plan in
    /// one transaction sent in one round trip, checks inside it that the catalogs now match, and
    /// commits. Nothing is sent when the plan is empty. Passing fewer grants than before revokes
    /// the rest. On PostgreSQL 16+ the privileges go to the grants' access roles (created when
    /// missing, see [`access`](crate::access)) and `role` gets memberships in them; the
    /// memberships `grants` no longer want are revoked first, on their own, so that a failure
    /// giving the others never keeps a grant that ended (such a failure leaves `role` with
    /// less than it had, never more).
    ///
    /// # Errors
    /// As [`Session::managed_role`] and [`Session::plan`]; [`GrantsError::NothingHappened`] when
    /// the server ignored part of the plan (rolled back); [`GrantsError::UnsafeServiceRole`]
    /// for an access role the library did not make as it makes them.
    pub async fn apply(&self, role: &Ident, grants: &[Grant]) -> Result<ApplyReport, GrantsError> {
        let current = self.managed_role(role).await?;
        self.migrate_legacy_mark(&current).await?;
        self.apply_with(role, grants, true).await
    }

    /// As [`Session::apply`] for a role whose marks the caller has checked; `defaults` as in
    /// [`Session::plan_with`].
    pub(crate) async fn apply_with(
        &self,
        role: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<ApplyReport, GrantsError> {
        if self.uses_access_roles() {
            self.apply_through_access_roles(role, grants, defaults)
                .await
        } else {
            self.apply_plan(role, grants, defaults).await
        }
    }

    /// Applies the plan of [`Session::plan_with`] for direct `grants` (no memberships): plans,
    /// runs the plan in one transaction, checks inside it that the catalogs now match, commits.
    pub(crate) async fn apply_plan(
        &self,
        role: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<ApplyReport, GrantsError> {
        let action = format!("granting to {role} in database {}", self.database);
        let action = action.as_str();
        self.with_retries(action, |attempt| async move {
            let plan = self.plan_with(role, grants, None, defaults).await?;
            if plan.is_empty() {
                return Ok(ApplyReport {
                    plan,
                    attempts: attempt - 1,
                });
            }
            let stmts = plan.statements();
            self.begin_with(action, role, &stmts).await?;
            // Inside the transaction: the plan must now be empty.
            let after = match self.plan_with(role, grants, None, defaults).await {
                Ok(p) => p,
                Err(e) => {
                    self.rollback().await;
                    return Err(e.into());
                }
            };
            if !after.is_empty() {
                self.rollback().await;
                return Err(GrantsError::NothingHappened {
                    action: action.to_owned(),
                    message: format!(
                        "after the plan the catalogs still differ by: {}",
                        after.to_string().trim_end()
                    ),
                }
                .into());
            }
            self.commit(action).await?;
            Ok(ApplyReport {
                plan,
                attempts: attempt,
            })
        })
        .await
    }
}
