//! Ending a role's access database by database, for both revocation paths.

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::session::Session;
use crate::sql;

use super::{DatabaseConnector, ForeignTrigger, OwnedObject};

impl Session<'_> {
    /// The databases `query` (of `$1`, the role) lists, the current one first when missing.
    pub(super) async fn role_databases(
        &self,
        role: &Ident,
        query: &str,
    ) -> Result<Vec<String>, GrantsError> {
        let rows = self
            .client()
            .query_typed(query, &sql::typed(&[&role.as_str()], sql::NAME_PARAM))
            .await
            .map_err(|e| GrantsError::db(format!("finding the databases of {role}"), e))?;
        let mut dbs: Vec<String> = rows
            .iter()
            .map(|r| col(r, 0, "finding databases"))
            .collect::<Result<_, _>>()?;
        if !dbs.iter().any(|d| d == self.database()) {
            dbs.insert(0, self.database().to_owned());
        }
        Ok(dbs)
    }

    /// Ends `role`'s access in each of `dbs` (the current one in this session, the others in a
    /// session of their own), each on its own: a database that fails does not stop the others.
    /// Fails with [`GrantsError::TriggersNotDisabled`] naming every trigger the connector could
    /// not disable, else with [`GrantsError::RevokeIncomplete`] naming every database left.
    pub(super) async fn end_in_databases(
        &self,
        role: &Ident,
        dbs: Vec<String>,
        databases: &dyn DatabaseConnector,
        ending: Ending<'_>,
    ) -> Result<Ended, GrantsError> {
        let mut ended = Ended::default();
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut blocked: Vec<ForeignTrigger> = Vec::new();
        for db in dbs {
            let result = if db == self.database() {
                self.end_in_database(role, ending, &db).await
            } else {
                match databases.connect(&db).await {
                    Ok(client) => match Session::new(&client, self.settings().clone()).await {
                        Ok(other) => other.end_in_database(role, ending, &db).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(done) => {
                    ended.objects.extend(done.moved);
                    ended.disabled_triggers.extend(done.disabled_triggers);
                    ended.databases.push(db);
                }
                Err(GrantsError::TriggersNotDisabled { triggers, .. }) => {
                    tracing::warn!(%role, database = %db, triggers = triggers.len(),
                        "revocation stopped: triggers the connector cannot disable");
                    blocked.extend(triggers);
                }
                Err(GrantsError::RevokeIncomplete { reason, .. }) => {
                    tracing::warn!(%role, database = %db, %reason, "revocation step incomplete");
                    failed.push((db, reason));
                }
                Err(e) => {
                    tracing::warn!(%role, database = %db, error = %e, "revocation step failed");
                    failed.push((db, e.to_string()));
                }
            }
        }
        if !blocked.is_empty() {
            return Err(GrantsError::TriggersNotDisabled {
                role: role.to_string(),
                triggers: blocked,
            });
        }
        if let Some((_, reason)) = failed.first() {
            return Err(GrantsError::RevokeIncomplete {
                role: role.to_string(),
                remaining: failed.iter().map(|(d, _)| d.clone()).collect(),
                reason: reason.clone(),
            });
        }
        Ok(ended)
    }

    /// One database of [`Session::end_in_databases`], in this session.
    async fn end_in_database(
        &self,
        role: &Ident,
        ending: Ending<'_>,
        db: &str,
    ) -> Result<Cleaned, GrantsError> {
        match ending {
            Ending::Reassign { holder } => {
                let action = format!("reassigning and dropping what {role} owns in {db}");
                self.clean_database(role, holder, &action).await
            }
            Ending::Retain => {
                let action = format!(
                    "revoking the privileges of {role} in {db} and neutralising what it owns"
                );
                self.retire_database(role, &action).await
            }
        }
    }
}

/// How [`Session::end_in_databases`] ends a role's access in each database.
#[derive(Clone, Copy)]
pub(super) enum Ending<'a> {
    /// Revocation: its objects go to `holder`, its privileges are dropped.
    Reassign { holder: &'a Ident },
    /// Retention: its privileges are revoked, its objects stay its own, neutralised.
    Retain,
}

/// What [`Session::end_in_databases`] did.
#[derive(Default)]
pub(super) struct Ended {
    /// The databases done.
    pub(super) databases: Vec<String>,
    /// The objects moved (revocation) or kept (retention).
    pub(super) objects: Vec<OwnedObject>,
    pub(super) disabled_triggers: Vec<ForeignTrigger>,
}

/// What cleaning one database did.
#[derive(Default)]
pub(super) struct Cleaned {
    pub(super) moved: Vec<OwnedObject>,
    pub(super) disabled_triggers: Vec<ForeignTrigger>,
}
