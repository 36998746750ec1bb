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

/// Hears about each instance of a fleet operation as soon as it starts and finishes (see
/// [`AccessManager::with_observer`](crate::AccessManager::with_observer)). Called from the
/// operation's task: keep it quick (print, count, send on a channel).
pub trait FleetObserver: Send + Sync + std::fmt::Debug {
    /// The work on `instance` begins (it got one of the fan-out's `concurrency` slots); called
    /// once before [`FleetObserver::instance_finished`] for each instance worked on, not for
    /// those reported unusable without any work. Does nothing unless implemented.
    fn instance_started(&self, instance: &InstanceId) {
        let _ = instance;
    }

    /// `instance` finished, successfully or with `Err(error)`.
    fn instance_finished(&self, instance: &InstanceId, outcome: Result<(), &AccessError>);

    /// The work on `instance` met a read-only server (a failover) and runs again, for the
    /// `attempt`-th time, after discovery has run afresh; `error` is what the last attempt
    /// met. Does nothing unless implemented.
    fn instance_failover(&self, instance: &InstanceId, attempt: u32, error: &AccessError) {
        let _ = (instance, attempt, error);
    }
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
    /// Why no password was handed out to a user that has one (password auth, complete grants
    /// only): it is in use by another active grant, or younger than
    /// `credentials_rotation_days`. The user logs in with the password it has.
    pub password_kept: Option<PasswordKept>,
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

/// Why a grant kept the password of an existing user instead of handing out a new one (see
/// [`AccessManager::grant`](crate::AccessManager::grant)).
///
/// As JSON: `{"reason": "in-use"}` or `{"reason": "not-due", "set_at": "…", "rotates_on": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum PasswordKept {
    /// Another request's grant of the user is active: its password is never changed under it
    /// (the next request after its access ends gets a new one when it is due).
    InUse,
    /// The password is younger than `credentials_rotation_days`.
    NotDue {
        /// When it was set.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "schemars", schemars(with = "String"))]
        set_at: OffsetDateTime,
        /// From when a request gets a new one.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "schemars", schemars(with = "String"))]
        rotates_on: OffsetDateTime,
    },
}

impl std::fmt::Display for PasswordKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InUse => f.write_str(
                "unchanged: the user holds other active access with its current password",
            ),
            Self::NotDue { set_at, rotates_on } => write!(
                f,
                "unchanged: set {}, the next request from {} gets a new one",
                crate::document::rfc3339(*set_at),
                crate::document::rfc3339(*rotates_on)
            ),
        }
    }
}

impl GrantOutcome {
    /// Whether every instance of the request succeeded (only then is there a credential).
    pub fn is_complete(&self) -> bool {
        self.instances.all_ok()
    }

    /// What a grant that is not complete left on the instances (`None` when it is complete):
    /// [`Applied::No`](pg_grants::Applied::No) when every instance is as it was (nothing
    /// changed there, or what the request changed was undone, [`GrantOutcome::undone`]);
    /// [`Applied::Unknown`](pg_grants::Applied::Unknown) when an instance failed with its
    /// outcome unknown and nothing was undone there (a re-run completing an earlier one) or its
    /// undo failed; otherwise [`Applied::Partly`](pg_grants::Applied::Partly). A failed grant
    /// hands out no password whatever this says; running it again completes it.
    ///
    /// ```no_run
    /// # async fn demo(manager: rds_pg_access::AccessManager,
    /// #     request: rds_pg_access::integration_model::AccessRequest) -> Result<(), rds_pg_access::AccessError> {
    /// use rds_pg_access::Applied;
    /// let outcome = manager.grant(&request).await?;
    /// match outcome.applied() {
    ///     None => println!("granted"),
    ///     Some(Applied::No) => println!("nothing changed: fix the error and grant again"),
    ///     Some(_) => println!("grant again to complete it"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn applied(&self) -> Option<pg_grants::Applied> {
        use pg_grants::Applied;
        if self.is_complete() {
            return None;
        }
        let mut all = Applied::No;
        for (instance, error) in self.instances.failures() {
            let here = match self.undone.get(instance) {
                Some(Ok(())) => Applied::No,
                Some(Err(_)) => Applied::Unknown,
                None => error.applied(),
            };
            all = match (all, here) {
                (Applied::Unknown, _) | (_, Applied::Unknown) => Applied::Unknown,
                (Applied::No, Applied::No) => Applied::No,
                _ => Applied::Partly,
            };
        }
        Some(all)
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
    /// Grants that ended while their user kept other active grants: their privileges were
    /// removed (those no remaining grant covers), the user stays.
    pub ended_grants: Vec<EndedGrant>,
    /// Users revoked and kept (`user_cleanup_days`) whose cleanup is still ahead; `None` when
    /// skipped.
    pub retained: Option<usize>,
    /// Sessions (or prepared transactions) without `CREATEROLE` (never a connector: a grantee
    /// or any other login) that held the sweep's job lock, a per-role lock, or a revocation's
    /// own locks ([`pg_grants::RevokeReport::lock_squatters`]): the sweep ran without those
    /// locks.
    /// Not clean: the scheduler reports the instance's run as failed, naming them.
    pub lock_squatters: Vec<pg_grants::LockHolder>,
    /// Roles carrying the marker membership that the library refuses to manage (marks not
    /// granted by the connector on PostgreSQL 16+, or an unreadable record): never altered,
    /// so never revoked either. Not clean: whoever forged or broke them should be looked at.
    pub refused: Vec<pg_grants::RefusedRole>,
    /// PostgreSQL 16+: the access roles (see [`pg_grants::access`]) found without members
    /// (marked idle), used again, or dropped after their grace period, over every database
    /// that has one. Unfit ones, and those the sweep had to leave as they are
    /// ([`pg_grants::AccessSweep::blocked`]: something depends on them that the connector cannot
    /// remove, or their database could not be swept), are also in [`SweepReport::refused`].
    pub access_roles: pg_grants::AccessSweep,
    /// Expired users the sweep found, then, read again under their lock, had nothing left to
    /// do for (another replica or a request handled them meanwhile): the audit has a
    /// `no_change` record for each.
    pub unchanged: Vec<UnchangedRole>,
}

/// A user a sweep found expired and, under its lock, no longer due ([`SweepReport::unchanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnchangedRole {
    /// The user.
    pub user: String,
    /// The request its audit record names (the latest grant the sweep saw; empty when the sweep
    /// was ending some of its grants, not the user).
    pub request_id: String,
}

impl SweepReport {
    /// Whether every expired role found was revoked (nothing failed), no lock was squatted
    /// and no marked role was refused.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.lock_squatters.is_empty() && self.refused.is_empty()
    }
}

/// What [`AccessManager::revoke_request`](crate::AccessManager::revoke_request) did on one
/// instance.
#[derive(Debug)]
#[non_exhaustive]
pub enum GrantRevocation {
    /// The user holds no grant of that request here (or does not exist): nothing changed.
    NotHeld,
    /// The grant ended; the user keeps its other grants and what they cover.
    Ended {
        /// The SQL applied per database (what no other grant still covers, revoked).
        plans: Vec<DatabasePlan>,
    },
    /// It was the user's last grant: the user was revoked.
    UserRevoked(pg_grants::RevokeReport),
}

/// Where a managed user stands on one instance ([`AccessManager::user_status`],
/// [`AccessManager::users`]).
///
/// [`AccessManager::user_status`]: crate::AccessManager::user_status
/// [`AccessManager::users`]: crate::AccessManager::users
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct UserStatus {
    /// The database user.
    pub user: String,
    /// Active (until), expired (since; the next sweep revokes it) or disabled (revoked and
    /// kept, since).
    #[serde(flatten)]
    pub state: pg_grants::UserState,
    /// Whether it may log in now.
    pub can_login: bool,
    /// The grants it holds (empty once revoked).
    pub grants: Vec<pg_grants::GrantRecord>,
    /// When the library last set its password (password users).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<String>"))]
    pub password_set_at: Option<OffsetDateTime>,
    /// For a user revoked and kept: when a sweep deletes it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<String>"))]
    pub deletes_on: Option<OffsetDateTime>,
}

impl std::fmt::Display for UserStatus {
    /// `alice: active until 2026-…; 2 grants (req-1 read-only until …, …)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::document::rfc3339;
        match self.state {
            pg_grants::UserState::Active { until } => {
                write!(f, "{}: active until {}", self.user, rfc3339(until))?;
            }
            pg_grants::UserState::Expired { since } => write!(
                f,
                "{}: expired since {} (the next sweep revokes it)",
                self.user,
                rfc3339(since)
            )?,
            pg_grants::UserState::Disabled { since } => {
                write!(f, "{}: disabled since {}", self.user, rfc3339(since))?;
                if let Some(on) = self.deletes_on {
                    write!(f, ", deleted on {}", rfc3339(on))?;
                }
            }
            _ => write!(f, "{}: in an unknown state", self.user)?,
        }
        for grant in &self.grants {
            write!(
                f,
                "; request {} {} until {}",
                grant.request_id,
                grant.level,
                rfc3339(grant.expires_at)
            )?;
            if !grant.resources.is_empty() {
                write!(f, " on {}", grant.resources.join(", "))?;
            }
        }
        Ok(())
    }
}

/// A grant that ended while its user kept others (see [`SweepReport::ended_grants`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndedGrant {
    /// The database user.
    pub user: String,
    /// The grant's request.
    pub request_id: String,
    /// When it ended.
    pub expired_at: OffsetDateTime,
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
    /// Revoked and kept (`user_cleanup_days` above 0), not dropped.
    pub retained: bool,
    /// Dropped because its cleanup period had passed (it was revoked and kept before).
    pub cleanup: bool,
    /// What the revocation did.
    pub report: pg_grants::RevokeReport,
}
