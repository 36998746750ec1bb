//! Results per instance.

use std::collections::BTreeMap;

use integration_model::{Identifier, InstanceId};
use pg_auth::SecretString;
use time::OffsetDateTime;

use crate::error::AccessError;

/// What one instance did: its result, or why it failed (unreachable, refused, timed out), with
/// the reason and its fix in the error's message.
pub type InstanceOutcome<T> = Result<T, AccessError>;

/// The result of one operation over a fleet: one entry per instance, sorted by instance name.
/// A failure on one instance never hides or undoes the others.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetReport<T> {
    /// Per instance.
    pub results: BTreeMap<InstanceId, InstanceOutcome<T>>,
}

impl<T> FleetReport<T> {
    /// Whether every instance succeeded (and there was at least one).
    pub fn all_ok(&self) -> bool {
        !self.results.is_empty() && self.results.values().all(Result::is_ok)
    }

    /// The instances that failed, with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (&InstanceId, &AccessError)> {
        self.results
            .iter()
            .filter_map(|(name, outcome)| outcome.as_ref().err().map(|e| (name, e)))
    }
}

/// Hears about each instance of a fleet operation as soon as it finishes (see
/// [`AccessManager::with_observer`](crate::AccessManager::with_observer)). Called from the
/// operation's task: keep it quick (print, count, send on a channel).
pub trait FleetObserver: Send + Sync + std::fmt::Debug {
    /// `instance` finished, successfully or with `Err(error)`.
    fn instance_finished(&self, instance: &InstanceId, outcome: Result<(), &AccessError>);
}

/// The SQL run (or to run) in one database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabasePlan {
    /// The database.
    pub database: String,
    /// The statements, in order; empty when nothing needed to change. Passwords appear only
    /// as `[redacted]`.
    pub sql: Vec<String>,
}

/// What [`AccessManager::grant`](crate::AccessManager::grant) did, and the credentials to hand
/// over.
#[derive(Debug)]
#[non_exhaustive]
pub struct GrantOutcome {
    /// The database user.
    pub user: Identifier,
    /// Its password (password auth); the same on every instance. `None` with IAM auth: the
    /// user logs in with an IAM token for its own name.
    pub password: Option<SecretString>,
    /// When access ends (the role's `VALID UNTIL` and its marker).
    pub expires_at: OffsetDateTime,
    /// The request id recorded in the role's marker.
    pub request_id: String,
    /// Where the user connects on each instance of the request.
    pub endpoints: BTreeMap<InstanceId, integration_model::Endpoint>,
    /// Per instance: the SQL applied in each database.
    pub instances: FleetReport<Vec<DatabasePlan>>,
}

/// One item of an inventory, as [`AccessManager::inventory`](crate::AccessManager::inventory)
/// hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InventoryEntry {
    /// A database (sent before its schemas and tables).
    Database(pg_grants::inventory::DatabaseInfo),
    /// A schema of the database.
    Schema(pg_grants::inventory::SchemaInfo),
    /// A table, view, sequence, ... of the database.
    Table(pg_grants::inventory::TableInfo),
    /// A kind of item this version does not know yet, as text.
    Other(String),
}

/// How many items one instance sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InventoryCounts {
    /// Databases.
    pub databases: u64,
    /// Schemas.
    pub schemas: u64,
    /// Tables, views, sequences and other relations.
    pub tables: u64,
}

/// The IAM policies an integration needs (see
/// [`AccessManager::policies`](crate::AccessManager::policies)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntegrationPolicies {
    /// For the connector's IAM role: `rds-db:connect` as the connector user.
    pub connector: iam_policy::PolicyDocument,
    /// For end users (a permission set): `rds-db:connect` as `${SAML:sub}` and
    /// `rds:DescribeDBInstances`, with the `saml:sub_type = persistent` condition.
    pub end_user: iam_policy::PolicyDocument,
    /// The resource ids the ARNs were narrowed to (empty: wildcards).
    pub resource_ids: Vec<String>,
}

/// What a sweep did on one instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SweepReport {
    /// Another replica was sweeping this instance; nothing was done here this round.
    pub skipped: bool,
    /// The expired roles revoked.
    pub swept: Vec<SweptRole>,
    /// Managed roles whose access had not ended at the sweep's time; `None` when skipped.
    pub active: Option<usize>,
}

/// A managed role that [`AccessManager::sweep`](crate::AccessManager::sweep) revoked on one
/// instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SweptRole {
    /// The database user.
    pub user: String,
    /// When its access ended.
    pub expired_at: OffsetDateTime,
    /// The request it was created for.
    pub request_id: String,
    /// False when another replica dropped it first (nothing left to do here).
    pub dropped_here: bool,
    /// What the revocation did.
    pub report: pg_grants::RevokeReport,
}
