//! Privileges in one database: inspect the role's, plan the difference to the wanted ones,
//! apply it in one checked transaction.

use crate::access::AccessRole;
use crate::error::GrantsError;
use crate::plan::{self, Inspection, Plan};
use crate::privilege::Grant;
use crate::quote::Ident;

use tokio_postgres::types::Type;

use super::access::{AccessPlanned, Planned};
use super::{ApplyReport, Session};

impl Session<'_> {
    // ----- privileges -----

    /// Reads the role's privileges in this database (one catalog query), covering the objects of
    /// `grants` and every object the role holds privileges on, the `SECURITY DEFINER`
    /// functions and procedures it owns ([`Inspection::security_definer`], a second query) and,
    /// on 16+, what it holds through each access role of this database ([`Inspection::through`],
    /// one query each).
    ///
    /// # Errors
    /// [`GrantsError::Database`].
    pub async fn inspect(&self, role: &Ident, grants: &[Grant]) -> Result<Inspection, GrantsError> {
        let mut inspection = self.inspect_privileges(role, grants).await?;
        inspection.security_definer = self.owned_security_definers(role).await?;
        // On 16+: what it holds through the access roles of this database it is a member of.
        let here: Vec<crate::access::AccessRole> = inspection
            .access_memberships
            .iter()
            .filter(|a| a.key.database == self.database)
            .cloned()
            .collect();
        for access in here {
            let grant = access.key.grant()?;
            let held = self
                .inspect_privileges(&access.name, std::slice::from_ref(&grant))
                .await?;
            inspection.through.push(plan::HeldThrough {
                access_role: access,
                objects: held
                    .objects
                    .into_iter()
                    .filter(|o| !o.role_has.is_empty())
                    .collect(),
            });
        }
        Ok(inspection)
    }

    /// [`Session::inspect`] without [`Inspection::security_definer`] (what planning reads).
    pub(super) async fn inspect_privileges(
        &self,
        role: &Ident,
        grants: &[Grant],
    ) -> Result<Inspection, GrantsError> {
        let p = plan::scope_params(grants);
        // Typed parameters: parse, bind and execute go in one round trip (no separate prepare),
        // and several inspections issued at once share it (see `Session::plan_all`).
        let rows = self
            .client
            .query_typed(
                &plan::inspect_sql(),
                &[
                    (&role.as_str(), Type::NAME),
                    (&p.whole_db, Type::BOOL),
                    (&p.schemas, Type::NAME_ARRAY),
                    (&p.table_schemas, Type::NAME_ARRAY),
                    (&p.table_names, Type::TEXT_ARRAY),
                    (&self.settings.names.grantor.as_str(), Type::NAME),
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
        let planned = if self.uses_access_roles() {
            let access = self.access_roles_of(grants)?;
            self.plan_all(role, &[], &access, true, true).await?
        } else {
            self.plan_all(role, grants, &[], false, true).await?
        };
        planned.into_plan()
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
            plan.memberships =
                plan::plan_memberships(&inspection, wanted, Some(&self.settings.names.grantor));
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
            // A request no database could hold changes nothing (not even the ends below).
            plan::check_grants(grants)?;
            let access = self.access_roles_of(grants)?;
            self.apply_plan(role, &[], &access, true, defaults).await
        } else {
            self.apply_plan(role, grants, &[], false, defaults).await
        }
    }

    /// Plans `role` (direct `grants`; with `memberships`, exactly the access roles of `access`)
    /// and each access role of `access` (its check and its one grant), all issued at once, so
    /// that they share one round trip.
    pub(crate) async fn plan_all(
        &self,
        role: &Ident,
        grants: &[Grant],
        access: &[(AccessRole, Grant)],
        memberships: bool,
        defaults: bool,
    ) -> Result<Planned, GrantsError> {
        self.plan_all_after(role, grants, access, memberships, defaults, None)
            .await
    }

    /// As [`Session::plan_all`]; with `before` (the plans the transaction was built from), the
    /// privileges of an access role `before` found settled (existing, fit, in use, its plan
    /// empty) are not inspected again: only its check runs. The transaction changed none of
    /// them, so inspecting them again could only catch what an object's owner granted or revoked
    /// on it in the milliseconds since, which they may as well do right after the commit (a
    /// revoke leaves members with less; a grant is drift the next grant repairs). The planned
    /// role itself is always inspected again: under its lock, that is what makes the
    /// transaction's result exact.
    async fn plan_all_after(
        &self,
        role: &Ident,
        grants: &[Grant],
        access: &[(AccessRole, Grant)],
        memberships: bool,
        defaults: bool,
        before: Option<&Planned>,
    ) -> Result<Planned, GrantsError> {
        let roles: Vec<AccessRole> = access.iter().map(|(r, _)| r.clone()).collect();
        let wanted = memberships.then_some(roles.as_slice());
        let each = access.iter().map(|(r, g)| async move {
            let settled = before.and_then(|b| b.settled_access(r));
            let (check, plan) = match settled {
                Some(plan) => (self.access_role_problems(r).await?, plan.clone()),
                None => {
                    futures_util::future::try_join(
                        self.access_role_problems(r),
                        self.plan_with(&r.name, std::slice::from_ref(g), None, true),
                    )
                    .await?
                }
            };
            Ok::<_, GrantsError>(AccessPlanned {
                role: r.clone(),
                check,
                plan,
            })
        });
        // The grantor role grants and revokes memberships (16+): checked in the same round trip.
        let grantor = async {
            if memberships && self.uses_access_roles() {
                let check = self.grantor_problems().await?;
                Ok(Some((self.settings.names.grantor.clone(), check)))
            } else {
                Ok::<_, GrantsError>(None)
            }
        };
        let (user, access, grantor) = futures_util::future::try_join3(
            self.plan_with(role, grants, wanted, defaults),
            futures_util::future::try_join_all(each),
            grantor,
        )
        .await?;
        Ok(Planned {
            user,
            access,
            grantor,
        })
    }

    /// Applies what [`Session::plan_all`] plans, in at most three round trips: the plans (one,
    /// and all when nothing is to change); one transaction sent as one batch (`BEGIN`, the
    /// advisory locks of `role` and of each access role it creates, changes or joins, access
    /// roles created or marked in use, their privileges, then `role`'s changes) with the plans
    /// made again inside it, which must now be empty (a second); `COMMIT` (a third), or
    /// `ROLLBACK` when they are not. A failure anywhere leaves everything as it was.
    pub(crate) async fn apply_plan(
        &self,
        role: &Ident,
        grants: &[Grant],
        access: &[(AccessRole, Grant)],
        memberships: bool,
        defaults: bool,
    ) -> Result<ApplyReport, GrantsError> {
        let action = format!("granting to {role} in database {}", self.database);
        let action = action.as_str();
        let once = || {
            self.with_retries(action, |attempt| async move {
                let planned = self
                    .plan_all(role, grants, access, memberships, defaults)
                    .await?;
                let stmts = planned.statements(role)?;
                if stmts.is_empty() {
                    return Ok(ApplyReport {
                        plan: planned.into_plan()?,
                        attempts: attempt - 1,
                    });
                }
                // The checks go with the batch: the server runs them after it, in the
                // transaction, in the order sent (the batch's future sends on its first poll).
                let (sent, after) = futures_util::future::join(
                    self.begin_with(action, role, &stmts),
                    self.plan_all_after(
                        role,
                        grants,
                        access,
                        memberships,
                        defaults,
                        Some(&planned),
                    ),
                )
                .await;
                sent?;
                let after = match after {
                    Ok(after) => after,
                    Err(e) => {
                        self.rollback().await;
                        return Err(e.into());
                    }
                };
                if !after.is_settled() {
                    self.rollback().await;
                    return Err(GrantsError::NothingHappened {
                        action: action.to_owned(),
                        message: format!(
                            "after the plan the catalogs still differ by: {}",
                            after.describe().trim_end()
                        ),
                    }
                    .into());
                }
                self.commit(action).await?;
                Ok(ApplyReport {
                    plan: planned.into_plan()?,
                    attempts: attempt,
                })
            })
        };
        let result = match once().await {
            // Another replica created an access role between the plans and the batch (which
            // then waited for its lock): plan again, now that it exists. Or the sweep dropped an idle one meanwhile (42704 at its `COMMENT`, under the
            // lock): plan again, and make it anew.
            Err(e) if matches!(e.sqlstate(), Some("42710" | "42704")) && !access.is_empty() => {
                once().await
            }
            other => other,
        };
        // Ending access never waits for granting it: when anything above failed (an access
        // role unfit or one the server refuses to change, whoever made it so), the memberships
        // no longer wanted still go, on their own. The role is left with less than it had,
        // never more; the error is the one returned.
        if let Err(e) = &result
            && memberships
        {
            let wanted: Vec<AccessRole> = access.iter().map(|(r, _)| r.clone()).collect();
            if let Err(end) = self.end_memberships(role, &wanted).await {
                tracing::error!(database = %self.database, %role, error = %end, grant_error = %e,
                    "could not end the memberships no longer wanted after a failed grant");
            }
        }
        result
    }
}
