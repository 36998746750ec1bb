//! What the user owns, and the statements both revocation paths run on it so that nothing of
//! it runs with rights other than its callers': triggers, rules, `MAINTAIN`, `EXECUTE`,
//! `SECURITY DEFINER` routines and views.

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::session::Session;
use crate::sql;
use crate::statement::Statement;

use super::{ForeignTrigger, OwnedObject};

/// One row of [`sql::OWNED_OBJECTS`].
pub(crate) struct OwnedRow {
    pub(crate) object: OwnedObject,
    pub(crate) is_schema: bool,
    pub(crate) holder_needs_create_in: Option<String>,
}

/// A grantee as SQL: `PUBLIC` for `''`, else the quoted role name.
fn grantee_sql(grantee: String) -> Result<String, GrantsError> {
    Ok(if grantee.is_empty() {
        "PUBLIC".to_owned()
    } else {
        Ident::new(grantee)?.quoted().to_string()
    })
}

impl Session<'_> {
    /// What `role` owns in this database; `holder` names the role whose `CREATE` rights are
    /// checked (any existing role when no reassignment follows).
    pub(crate) async fn owned_objects(
        &self,
        role: &Ident,
        holder: &Ident,
    ) -> Result<Vec<OwnedRow>, GrantsError> {
        let action = format!("listing the objects {role} owns in {}", self.database());
        let rows = self
            .client()
            .query_typed(
                sql::OWNED_OBJECTS,
                &sql::typed(
                    &[&role.as_str(), &holder.as_str()],
                    sql::OWNED_OBJECTS_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                Ok(OwnedRow {
                    object: OwnedObject {
                        database: self.database().to_owned(),
                        kind: col(row, 0, &action)?,
                        name: col(row, 1, &action)?,
                        security_definer: col(row, 2, &action)?,
                        trigger_function: col(row, 3, &action)?,
                    },
                    is_schema: col(row, 4, &action)?,
                    holder_needs_create_in: col(row, 5, &action)?,
                })
            })
            .collect()
    }

    /// The `SECURITY DEFINER` functions and procedures `role` owns in this database.
    pub(crate) async fn owned_security_definers(
        &self,
        role: &Ident,
    ) -> Result<Vec<OwnedObject>, GrantsError> {
        Ok(self
            .owned_objects(role, role)
            .await?
            .into_iter()
            .map(|r| r.object)
            .filter(|o| o.security_definer)
            .collect())
    }

    /// The triggers on relations `role` does not own that run its code (see [`ForeignTrigger`]),
    /// each with whether the connector may disable it (it has the owner's privileges and the
    /// relation is not a view).
    async fn foreign_triggers(
        &self,
        role: &Ident,
    ) -> Result<Vec<(ForeignTrigger, bool)>, GrantsError> {
        let action = format!(
            "listing the triggers running code of {role} in {}",
            self.database()
        );
        let rows = self
            .client()
            .query_typed(
                sql::FOREIGN_TRIGGERS,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                let relkind: String = col(row, 2, &action)?;
                let trigger = Ident::new(col::<String>(row, 3, &action)?)?;
                let acts_for_owner: bool = col(row, 6, &action)?;
                let view = relkind == "v";
                let name = format!("{}.{}", schema.quoted(), relation.quoted());
                let fix_sql = if view {
                    format!("DROP TRIGGER {} ON {name};", trigger.quoted())
                } else {
                    format!("ALTER TABLE {name} DISABLE TRIGGER {};", trigger.quoted())
                };
                Ok((
                    ForeignTrigger {
                        database: self.database().to_owned(),
                        table: format!("{}.{}", schema.as_str(), relation.as_str()),
                        view,
                        trigger: trigger.as_str().to_owned(),
                        function: col(row, 5, &action)?,
                        owner: col(row, 4, &action)?,
                        fix_sql,
                    },
                    acts_for_owner && !view,
                ))
            })
            .collect()
    }

    /// What takes out of use the parts of the role's relations that run with their owner's
    /// rights, soon the holder's: a rule's actions run so (tables: `ALTER TABLE … DISABLE RULE`,
    /// kept; views cannot disable a rule, and rules fire only on writes, so the write privileges
    /// the owner granted on them are revoked), and so do the index expressions and view queries
    /// that `MAINTAIN` (17+) lets others run (`ANALYZE`, `REFRESH MATERIALIZED VIEW`): the
    /// `MAINTAIN` the owner granted is revoked.
    async fn rule_statements(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!("listing the rules of {role} in {}", self.database());
        let rows = self
            .client()
            .query_typed(
                sql::ENABLED_RULES,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let mut out = Vec::new();
        if self.rules().has_maintain() {
            let rows = self
                .client()
                .query_typed(
                    sql::MAINTAIN_GRANTS,
                    &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
                )
                .await
                .map_err(|e| GrantsError::db(action.clone(), e))?;
            for row in &rows {
                let schema = Ident::new(col::<String>(row, 0, &action)?)?;
                let relation = Ident::new(col::<String>(row, 1, &action)?)?;
                for grantee in col::<Vec<String>>(row, 2, &action)? {
                    out.push(Statement::new(format!(
                        "REVOKE MAINTAIN ON {}.{} FROM {} CASCADE;",
                        schema.quoted(),
                        relation.quoted(),
                        grantee_sql(grantee)?
                    )));
                }
            }
        }
        let mut views_done: Vec<String> = Vec::new();
        for row in &rows {
            let schema = Ident::new(col::<String>(row, 0, &action)?)?;
            let relation = Ident::new(col::<String>(row, 1, &action)?)?;
            let relkind: String = col(row, 2, &action)?;
            let rule = Ident::new(col::<String>(row, 3, &action)?)?;
            let grantees: Vec<String> = col(row, 4, &action)?;
            let name = format!("{}.{}", schema.quoted(), relation.quoted());
            // Only tables can disable a rule (not views, nor foreign tables).
            if relkind != "r" && relkind != "p" {
                if views_done.contains(&name) {
                    continue;
                }
                for grantee in grantees {
                    out.push(Statement::new(format!(
                        "REVOKE INSERT, UPDATE, DELETE ON {name} FROM {} CASCADE;",
                        grantee_sql(grantee)?
                    )));
                }
                views_done.push(name);
            } else {
                out.push(Statement::new(format!(
                    "ALTER TABLE {name} DISABLE RULE {};",
                    rule.quoted()
                )));
            }
        }
        Ok(out)
    }

    /// `REVOKE EXECUTE ON ROUTINE … FROM … CASCADE` for every routine `role` owns here that a
    /// role other than its owner may execute (`PUBLIC` included, which holds `EXECUTE` by
    /// default): a function called from a row-level security policy, a column default, a
    /// `CHECK` constraint, a generated column, a domain check, an operator or a cast runs with
    /// the rights of whoever reads or writes, and PostgreSQL checks that caller's `EXECUTE` each
    /// time, so with these revoked such code runs for nobody but its owner (everyone else's
    /// statement fails). The connector revokes acting for the owner (the owner is the grantor
    /// of record); `CASCADE` takes along what grantees with the grant option passed on.
    async fn execute_revokes(&self, role: &Ident) -> Result<Vec<Statement>, GrantsError> {
        let action = format!("listing the routines of {role} in {}", self.database());
        let rows = self
            .client()
            .query_typed(
                sql::OWNED_ROUTINE_GRANTEES,
                &sql::typed(&[&role.as_str()], sql::NAME_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        let mut out = Vec::new();
        for row in &rows {
            let name: String = col(row, 0, &action)?;
            let grantees: Vec<String> = col(row, 1, &action)?;
            if grantees.is_empty() {
                continue;
            }
            let grantees = grantees
                .into_iter()
                .map(grantee_sql)
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Statement::new(format!(
                "REVOKE EXECUTE ON ROUTINE {name} FROM {} CASCADE;",
                grantees.join(", ")
            )));
        }
        Ok(out)
    }

    /// The statements that take out of use whatever of `role`'s would run with rights other
    /// than its callers', built once for both revocation paths (reassignment to the holder and
    /// retention, see the [module docs](crate::revoke#revocation-with-retention)), inside the open
    /// transaction: the triggers on relations it does not own (and on its own tables) that run
    /// its code, and every user trigger on its own tables, disabled (or
    /// [`GrantsError::TriggersNotDisabled`] when the connector cannot); its rules
    /// ([`Session::rule_statements`]); `EXECUTE` on its routines revoked from everyone but
    /// itself ([`Session::execute_revokes`]); `SECURITY INVOKER` for its `SECURITY DEFINER`
    /// routines; on 15+ `security_invoker` for its views. `owned` is what it owns here, as
    /// [`Session::owned_objects`] listed it.
    pub(super) async fn neutralising_statements(
        &self,
        role: &Ident,
        owned: &[OwnedRow],
    ) -> Result<Neutralised, GrantsError> {
        // Triggers on others' relations running the user's code: disabled here, before its
        // objects move (or stay), or the revocation stops (the user stays NOLOGIN).
        let (triggers, blocked): (Vec<_>, Vec<_>) = self
            .foreign_triggers(role)
            .await?
            .into_iter()
            .partition(|(_, can)| *can);
        if !blocked.is_empty() {
            return Err(GrantsError::TriggersNotDisabled {
                role: role.to_string(),
                triggers: blocked.into_iter().map(|(t, _)| t).collect(),
            });
        }
        let triggers: Vec<ForeignTrigger> = triggers.into_iter().map(|(t, _)| t).collect();
        let mut stmts: Vec<Statement> = triggers
            .iter()
            .map(|t| Statement::new(t.fix_sql.clone()))
            .collect();
        stmts.extend(self.rule_statements(role).await?);
        stmts.extend(self.execute_revokes(role).await?);
        for row in owned {
            let o = &row.object;
            if o.security_definer {
                stmts.push(Statement::new(format!(
                    "ALTER ROUTINE {} SECURITY INVOKER;",
                    o.name
                )));
            }
            if o.kind == "view" && self.rules().version().major() >= 15 {
                // A view reads its tables with its owner's rights (the holder owns the tables
                // every revoked user left): from now on it reads with its caller's.
                stmts.push(Statement::new(format!(
                    "ALTER VIEW {} SET (security_invoker = true);",
                    o.name
                )));
            }
        }
        Ok(Neutralised {
            statements: stmts,
            disabled_triggers: triggers,
        })
    }
}

/// What [`Session::neutralising_statements`] found: the statements, and the triggers they
/// disable.
pub(super) struct Neutralised {
    pub(super) statements: Vec<Statement>,
    pub(super) disabled_triggers: Vec<ForeignTrigger>,
}
