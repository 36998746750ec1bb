//! The documents of [`AccessManager::plan`](crate::AccessManager::plan),
//! [`revoke`](crate::AccessManager::revoke), [`inspect`](crate::AccessManager::inspect) and
//! [`extend`](crate::AccessManager::extend).

use std::collections::BTreeMap;
use std::fmt;

use integration_model::Identifier;
use pg_grants::RevokeReport;
use pg_grants::plan::Inspection;
use serde::Serialize;
use time::OffsetDateTime;

use super::{errors_of, ok_of, rfc3339};
use crate::report::{DatabasePlan, FleetReport};

/// What a grant would run, per instance and database (`rdspg grant --dry-run`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PlanDocument {
    /// Per instance, per database: the statements, in order (passwords `[redacted]`).
    pub plans: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl PlanDocument {
    /// The document of a plan report.
    pub fn new(report: &FleetReport<Vec<DatabasePlan>>) -> Self {
        Self {
            plans: ok_of(report, |plans| {
                plans
                    .iter()
                    .map(|p| (p.database.clone(), p.sql.clone()))
                    .collect()
            }),
            errors: errors_of(report),
        }
    }
}

/// `-- instance/database` then each statement with its `;`.
impl fmt::Display for PlanDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, databases) in &self.plans {
            for (database, sql) in databases {
                writeln!(f, "-- {instance}/{database}")?;
                for statement in sql {
                    writeln!(f, "{statement};")?;
                }
            }
        }
        Ok(())
    }
}

/// An object a revoked user owned, now its holder role's.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MovedObject {
    /// Its database.
    pub database: String,
    /// Its kind (`table`, `function`, ...).
    pub kind: String,
    /// Its qualified name.
    pub name: String,
    /// It was `SECURITY DEFINER` (now `SECURITY INVOKER`).
    pub security_definer: bool,
    /// It is a trigger function.
    pub trigger_function: bool,
}

/// What a revocation did on one instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Revoked {
    /// The role was dropped here (`false`: it did not exist).
    pub dropped: bool,
    /// Its sessions ended.
    pub sessions_terminated: u64,
    /// The databases where its objects were reassigned.
    pub databases: Vec<String>,
    /// The role that holds its objects now.
    pub holder: String,
    /// The objects moved to the holder.
    pub moved: Vec<MovedObject>,
}

impl From<&RevokeReport> for Revoked {
    fn from(r: &RevokeReport) -> Self {
        Self {
            dropped: r.dropped,
            sessions_terminated: r.sessions_terminated,
            databases: r.databases.clone(),
            holder: r.holder.clone(),
            moved: r
                .moved
                .iter()
                .map(|o| MovedObject {
                    database: o.database.clone(),
                    kind: o.kind.to_string(),
                    name: o.name.clone(),
                    security_definer: o.security_definer,
                    trigger_function: o.trigger_function,
                })
                .collect(),
        }
    }
}

/// What [`AccessManager::revoke`](crate::AccessManager::revoke) did, per instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RevokeDocument {
    /// The database user.
    pub user: String,
    /// Per instance where the revocation ran.
    pub revoked: BTreeMap<String, Revoked>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl RevokeDocument {
    /// The document of revoking `user`.
    pub fn new(user: &Identifier, report: &FleetReport<RevokeReport>) -> Self {
        Self {
            user: user.to_string(),
            revoked: ok_of(report, |r| Revoked::from(r)),
            errors: errors_of(report),
        }
    }
}

/// A line per instance, and one per moved `SECURITY DEFINER` routine to review.
impl fmt::Display for RevokeDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = &self.user;
        for (instance, r) in &self.revoked {
            if !r.dropped {
                writeln!(f, "{instance}: {user} does not exist (nothing to do)")?;
                continue;
            }
            let databases = if r.databases.is_empty() {
                "none".to_owned()
            } else {
                r.databases.join(", ")
            };
            writeln!(
                f,
                "{instance}: revoked {user} ({} session(s) ended, objects reassigned in: {databases})",
                r.sessions_terminated
            )?;
            for o in r.moved.iter().filter(|o| o.security_definer) {
                writeln!(
                    f,
                    "{instance}: {} {} in {} was SECURITY DEFINER; it now belongs to {} and runs as SECURITY INVOKER: review it",
                    o.kind, o.name, o.database, r.holder
                )?;
            }
        }
        Ok(())
    }
}

/// One privilege-bearing row of an inspection.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PrivilegeRow {
    /// The instance.
    pub instance: String,
    /// The database.
    pub database: String,
    /// `table`, `schema`, ..., `security definer function`, `membership`.
    pub kind: String,
    /// The object (qualified name), or the role a membership is in.
    pub object: String,
    /// The privileges held (empty for routines and memberships).
    pub privileges: Vec<String>,
}

/// What [`AccessManager::inspect`](crate::AccessManager::inspect) found the user holds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InspectDocument {
    /// The database user.
    pub user: String,
    /// Every privilege, `SECURITY DEFINER` routine it owns and membership.
    pub privileges: Vec<PrivilegeRow>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl InspectDocument {
    /// The document of inspecting `user`.
    pub fn new(user: &Identifier, report: &FleetReport<Vec<Inspection>>) -> Self {
        let mut rows = Vec::new();
        for (instance, outcome) in &report.results {
            let Ok(inspections) = outcome else { continue };
            let row = |database: &str, kind: String, object: String, privileges| PrivilegeRow {
                instance: instance.to_string(),
                database: database.to_owned(),
                kind,
                object,
                privileges,
            };
            for inspection in inspections {
                let database = inspection.database.as_str();
                for object in inspection.objects.iter().filter(|o| !o.role_has.is_empty()) {
                    let privileges = object.role_has.iter().map(|p| p.to_string()).collect();
                    rows.push(row(
                        database,
                        object.object.kind().to_string(),
                        object.object.to_string(),
                        privileges,
                    ));
                }
                for routine in &inspection.security_definer {
                    rows.push(row(
                        database,
                        format!("security definer {}", routine.kind),
                        routine.name.clone(),
                        Vec::new(),
                    ));
                }
                for membership in &inspection.memberships {
                    rows.push(row(
                        database,
                        "membership".to_owned(),
                        membership.to_string(),
                        Vec::new(),
                    ));
                }
            }
        }
        Self {
            user: user.to_string(),
            privileges: rows,
            errors: errors_of(report),
        }
    }
}

/// `instance/database  kind object  privileges`, or that the user holds none.
impl fmt::Display for InspectDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.privileges.is_empty() {
            writeln!(f, "{} holds no privileges", self.user)?;
        }
        for row in &self.privileges {
            writeln!(
                f,
                "{}/{}  {} {}  {}",
                row.instance,
                row.database,
                row.kind,
                row.object,
                row.privileges.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Whether the extended user was found on an instance.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct Found {
    /// It exists there (and now expires at the new time).
    pub found: bool,
}

/// What [`AccessManager::extend`](crate::AccessManager::extend) did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ExtendDocument {
    /// The database user.
    pub user: String,
    /// The new expiry (RFC 3339, whole seconds).
    pub expires_at: String,
    /// Per instance where it ran.
    pub instances: BTreeMap<String, Found>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl ExtendDocument {
    /// The document of extending `user` until `until`.
    pub fn new<T>(
        user: &Identifier,
        until: OffsetDateTime,
        report: &FleetReport<Option<T>>,
    ) -> Self {
        Self {
            user: user.to_string(),
            expires_at: rfc3339(until),
            instances: ok_of(report, |r| Found { found: r.is_some() }),
            errors: errors_of(report),
        }
    }
}

/// A line per instance.
impl fmt::Display for ExtendDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, found) in &self.instances {
            if found.found {
                writeln!(
                    f,
                    "{instance}: {} now expires at {}",
                    self.user, self.expires_at
                )?;
            } else {
                writeln!(f, "{instance}: {} does not exist here", self.user)?;
            }
        }
        Ok(())
    }
}
