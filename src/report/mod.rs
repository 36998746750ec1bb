//! Results per instance.

use std::collections::BTreeMap;

use integration_model::{Identifier, InstanceId};
use pg_auth::SecretString;
use time::OffsetDateTime;

use crate::error::AccessError;

pub(crate) mod rotation;

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
///
/// A grant is all or nothing: unless every instance succeeded ([`GrantOutcome::is_complete`]),
/// there is no password, and the roles this request created were removed again (see
/// [`GrantOutcome::undone`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct GrantOutcome {
    /// The database user.
    pub user: Identifier,
    /// Its password (password auth); the same on every instance. `None` with IAM auth (the
    /// user logs in with an IAM token for its own name), and always `None` when the grant
    /// failed anywhere: a failed grant hands out no credential.
    pub password: Option<SecretString>,
    /// When access ends, as the role's `VALID UNTIL` and its record say. A role found for the
    /// same request keeps the expiry it has (moving it is [`extend`]'s job); with several
    /// instances, the earliest.
    ///
    /// [`extend`]: crate::AccessManager::extend
    pub expires_at: OffsetDateTime,
    /// The access level the role has (as its record says).
    pub level: integration_model::AccessLevel,
    /// The request id recorded in the role's marker.
    pub request_id: String,
    /// Where the user connects on each instance of the request.
    pub endpoints: BTreeMap<InstanceId, integration_model::Endpoint>,
    /// Per instance: the SQL applied in each database.
    pub instances: FleetReport<Vec<DatabasePlan>>,
    /// When the grant failed somewhere: for each instance where this request had created the
    /// role, whether removing it again worked (`Err`: it could not be removed; its login was
    /// disabled when that still worked, the error says what is left). Empty after a complete
    /// grant.
    pub undone: BTreeMap<InstanceId, Result<(), AccessError>>,
}

impl GrantOutcome {
    /// Whether every instance of the request succeeded (only then is there a credential).
    pub fn is_complete(&self) -> bool {
        self.instances.all_ok()
    }
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
#[derive(Debug)]
#[non_exhaustive]
pub struct SweepReport {
    /// Another replica was sweeping this instance; nothing was done here this round.
    pub skipped: bool,
    /// The expired roles revoked.
    pub swept: Vec<SweptRole>,
    /// The expired roles that could not be revoked this round, each with why; the sweep went
    /// on with the others. Their logins were disabled first where that worked.
    pub failed: Vec<SweptFailure>,
    /// Managed roles whose access had not ended at the sweep's time; `None` when skipped.
    pub active: Option<usize>,
    /// Sessions without `CREATEROLE` (never a connector: a grantee or any other login) that
    /// held the sweep's job lock or a per-role lock: the sweep ran without those locks.
    /// Not clean: the scheduler reports the instance's run as failed, naming them.
    pub lock_squatters: Vec<pg_grants::LockHolder>,
}

impl SweepReport {
    /// Whether every expired role found was revoked (nothing failed) and no lock was
    /// squatted.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.lock_squatters.is_empty()
    }
}

/// An expired role that [`AccessManager::sweep`](crate::AccessManager::sweep) could not revoke
/// on one instance (the next sweep tries again).
#[derive(Debug)]
#[non_exhaustive]
pub struct SweptFailure {
    /// The database user.
    pub user: String,
    /// The request it was created for.
    pub request_id: String,
    /// When its access ended.
    pub expired_at: OffsetDateTime,
    /// Whether it can no longer log in (its login was disabled, by this sweep or before).
    pub login_disabled: bool,
    /// Why the revocation failed (and, when it did, why disabling the login failed).
    pub error: AccessError,
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
