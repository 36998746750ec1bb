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
use crate::report::{DatabasePlan, FleetReport, GrantRevocation, UserStatus};

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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Revoked {
    /// The role was dropped here (`false`: it did not exist, or it was kept).
    pub dropped: bool,
    /// The role was revoked and kept (`user_cleanup_days`): it cannot log in, holds no
    /// privilege, and still owns its objects (see [`Revoked::kept`]).
    pub retained: bool,
    /// What a kept role still owns (nothing moved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<MovedObject>,
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
            retained: r.retained,
            kept: r
                .kept
                .iter()
                .map(|o| MovedObject {
                    database: o.database.clone(),
                    kind: o.kind.to_string(),
                    name: o.name.clone(),
                    security_definer: o.security_definer,
                    trigger_function: o.trigger_function,
                })
                .collect(),
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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
            if r.retained {
                writeln!(
                    f,
                    "{instance}: revoked {user} and kept it, disabled ({} session(s) ended; \
                     no login, no privileges; it still owns {} object(s) until its cleanup)",
                    r.sessions_terminated,
                    r.kept.len()
                )?;
                for o in r.kept.iter().filter(|o| o.security_definer) {
                    writeln!(
                        f,
                        "{instance}: {} {} in {} was SECURITY DEFINER; it now runs as SECURITY INVOKER: review it",
                        o.kind, o.name, o.database
                    )?;
                }
                continue;
            }
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
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
    /// The access role they are held through (PostgreSQL 16+, see `pg_grants::access`); absent
    /// for privileges held directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What [`AccessManager::inspect`](crate::AccessManager::inspect) found the user holds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct InspectDocument {
    /// The database user.
    pub user: String,
    /// Every privilege, `SECURITY DEFINER` routine it owns and membership.
    pub privileges: Vec<PrivilegeRow>,
    /// Per instance where it is a managed user: where it stands and its grants
    /// ([`AccessManager::user_status`](crate::AccessManager::user_status)); empty unless
    /// added with [`InspectDocument::with_status`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<String, UserStatus>,
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
                via: None,
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
                for held in &inspection.through {
                    for object in &held.objects {
                        let mut r = row(
                            database,
                            object.object.kind().to_string(),
                            object.object.to_string(),
                            object.role_has.iter().map(|p| p.to_string()).collect(),
                        );
                        r.via = Some(held.access_role.name.to_string());
                        rows.push(r);
                    }
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
            status: BTreeMap::new(),
            errors: errors_of(report),
        }
    }

    /// Adds where the user stands on each instance (its failures join [`InspectDocument::errors`]).
    #[must_use]
    pub fn with_status(mut self, report: &FleetReport<Option<UserStatus>>) -> Self {
        for (instance, result) in &report.results {
            match result {
                Ok(Some(status)) => {
                    self.status.insert(instance.to_string(), status.clone());
                }
                Ok(None) => {}
                Err(e) => {
                    self.errors
                        .entry(instance.to_string())
                        .or_insert_with(|| crate::error::error_chain(e));
                }
            }
        }
        self
    }
}

/// Every managed user per instance with where it stands (`rdspg users`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UsersDocument {
    /// Per instance, its managed users in name order.
    pub users: BTreeMap<String, Vec<UserStatus>>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl UsersDocument {
    /// The document of [`AccessManager::users`](crate::AccessManager::users).
    pub fn new(report: &FleetReport<Vec<UserStatus>>) -> Self {
        Self {
            users: ok_of(report, Clone::clone),
            errors: errors_of(report),
        }
    }
}

/// `instance: user: state; request … until …` per user.
impl fmt::Display for UsersDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, users) in &self.users {
            if users.is_empty() {
                writeln!(f, "{instance}: no managed users")?;
            }
            for user in users {
                writeln!(f, "{instance}: {user}")?;
            }
        }
        Ok(())
    }
}

/// What [`AccessManager::revoke_request`](crate::AccessManager::revoke_request) did, per
/// instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RevokeRequestDocument {
    /// The database user.
    pub user: String,
    /// The request whose grant ended.
    pub request_id: String,
    /// Per instance: `not-held`, `ended` (the user keeps its other grants) or `user-revoked`.
    pub outcome: BTreeMap<String, &'static str>,
    /// Per instance where it was the user's last grant: what revoking the user did.
    pub revoked: BTreeMap<String, Revoked>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
}

impl RevokeRequestDocument {
    /// The document of revoking `request_id` of `user`.
    pub fn new(user: &Identifier, request_id: &str, report: &FleetReport<GrantRevocation>) -> Self {
        let mut outcome = BTreeMap::new();
        let mut revoked = BTreeMap::new();
        for (instance, result) in &report.results {
            let Ok(result) = result else { continue };
            let what = match result {
                GrantRevocation::Ended { .. } => "ended",
                GrantRevocation::UserRevoked(r) => {
                    revoked.insert(instance.to_string(), Revoked::from(r));
                    "user-revoked"
                }
                _ => "not-held",
            };
            outcome.insert(instance.to_string(), what);
        }
        Self {
            user: user.to_string(),
            request_id: request_id.to_owned(),
            outcome,
            revoked,
            errors: errors_of(report),
        }
    }
}

/// A line per instance.
impl fmt::Display for RevokeRequestDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, what) in &self.outcome {
            let text = match *what {
                "ended" => "ended; its other grants stay",
                "user-revoked" => "ended; it was the last grant, so the user was revoked",
                _ => "not held here; nothing changed",
            };
            writeln!(
                f,
                "{instance}: request {} of {}: {text}",
                self.request_id, self.user
            )?;
        }
        Ok(())
    }
}

/// `instance/database  kind object  privileges`, or that the user holds none.
impl fmt::Display for InspectDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (instance, status) in &self.status {
            writeln!(f, "{instance}: {status}")?;
        }
        if self.privileges.is_empty() {
            writeln!(f, "{} holds no privileges", self.user)?;
        }
        for row in &self.privileges {
            write!(
                f,
                "{}/{}  {} {}  {}",
                row.instance,
                row.database,
                row.kind,
                row.object,
                row.privileges.join(", ")
            )?;
            match &row.via {
                Some(access_role) => writeln!(f, "  (through {access_role})")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Whether the extended user was found on an instance.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Found {
    /// It exists there (and now expires at the new time).
    pub found: bool,
}

/// What [`AccessManager::extend`](crate::AccessManager::extend) did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
