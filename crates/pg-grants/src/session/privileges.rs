//! Privileges in one database: inspect the role's, plan the difference to the wanted ones,
//! apply it in one checked transaction.

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
    async fn inspect_privileges(
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

    /// Plans the SQL that gives `role` exactly `grants` in this database.
    ///
    /// # Errors
    /// As [`Session::inspect`] and [`plan::plan`].
    pub async fn plan(&self, role: &Ident, grants: &[Grant]) -> Result<Plan, GrantsError> {
        self.plan_with(role, grants, true).await
    }

    /// As [`Session::plan`]; without `defaults`, the role's default-privilege entries are left
    /// out (revocation leaves them to `DROP OWNED`, which needs no membership in their creators).
    async fn plan_with(
        &self,
        role: &Ident,
        grants: &[Grant],
        defaults: bool,
    ) -> Result<Plan, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        if !defaults {
            inspection.default_acls.clear();
        }
        plan::plan(
            &inspection,
            role,
            grants,
            &self.settings.policy,
            &self.rules,
            &self.connector,
        )
    }

    /// Gives the managed `role` exactly `grants` in this database: plans, then runs the plan in
    /// one transaction sent in one round trip, checks inside it that the catalogs now match, and
    /// commits. Nothing is sent when the plan is empty. Passing fewer grants than before revokes
    /// the rest.
    ///
    /// # Errors
    /// As [`Session::managed_role`] and [`Session::plan`]; [`GrantsError::NothingHappened`] when
    /// the server ignored part of the plan (rolled back).
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
        let action = format!("granting to {role} in database {}", self.database);
        let action = action.as_str();
        self.with_retries(action, |attempt| async move {
            let plan = self.plan_with(role, grants, defaults).await?;
            if plan.is_empty() {
                return Ok(ApplyReport {
                    plan,
                    attempts: attempt - 1,
                });
            }
            self.begin_with(action, role, &plan.statements()).await?;
            // Inside the transaction: the plan must now be empty.
            let after = match self.plan_with(role, grants, defaults).await {
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
