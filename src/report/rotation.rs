//! What a rotation of the connector's password reports: [`RotateOutcome`], its per-instance
//! results and [`RotateError`] (see [`crate::rotate`] for the steps).

use integration_model::InstanceId;
use time::OffsetDateTime;

use crate::error::AccessError;
use crate::report::FleetReport;

/// Why a rotation could not go on. Per-instance failures are in the
/// [`RotationReport`]; these concern the rotation as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotateError {
    /// Discovery, AWS configuration or a Secrets Manager call failed (see the source; the
    /// secret is left in a state that logs in, and running the rotation again resumes).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The integration has no password of its own to rotate.
    #[error("nothing to rotate: {reason}")]
    NothingToRotate {
        /// Why (IAM authentication, a password from an environment variable).
        reason: &'static str,
    },
    /// Another replica holds the rotation lock of an instance; nothing was changed.
    #[error(
        "instance {instance}: another process is rotating the connector's password (it holds \
         the \"rotate\" job lock); nothing was changed, run again later"
    )]
    Busy {
        /// The instance whose lock is held.
        instance: InstanceId,
    },
    /// A step needs every instance, and these failed (in an earlier step or at the lock).
    #[error(
        "instances {instances} failed (see the report); the secret's AWSCURRENT is unchanged \
         and logs in where they have the old password; run the rotation again once they are \
         reachable"
    )]
    InstancesFailed {
        /// The failed instances, comma-separated.
        instances: String,
    },
    /// A step was called before the one it follows.
    #[error("rotation step {step} needs {needs} first")]
    OutOfOrder {
        /// The step called.
        step: &'static str,
        /// The step it needs.
        needs: &'static str,
    },
    /// The secret's stages changed under this rotation (someone else wrote to the secret).
    #[error(
        "secret {secret_id}: {what} changed since this rotation began; nothing more was \
         changed, run the rotation again"
    )]
    SecretChanged {
        /// The secret.
        secret_id: String,
        /// What changed.
        what: String,
    },
}

/// Which password an instance accepted when the rotation locked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptedStage {
    /// The `AWSCURRENT` password.
    Current,
    /// The `AWSPENDING` password of a rotation left unfinished.
    Pending,
}

/// What a rotation did on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceRotation {
    /// The password the instance accepted when it was locked.
    pub accepted_at_start: AcceptedStage,
    /// This run set the new password here (false: it already had it, or step 2 did not run).
    pub password_set: bool,
    /// A new login with the `AWSPENDING` password succeeded here.
    pub login_tested: bool,
    /// Sessions without `CREATEROLE` (a grantee, any other login) that held the `rotate`
    /// job lock's public key: the rotation ran without the lock (nothing legitimate held
    /// it); they are logged as a warning too.
    pub lock_squatters: Vec<pg_grants::LockHolder>,
}

/// When the connector's password was last rotated and when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationStatus {
    /// The secret (name or ARN, as configured).
    pub secret_id: String,
    /// The `AWSCURRENT` version.
    pub current_version: String,
    /// The `AWSPENDING` version of a rotation left unfinished, if any (the next run finishes
    /// it, due or not).
    pub pending_version: Option<String>,
    /// When the current password was set: the `AWSCURRENT` version's creation date, else the
    /// secret's `LastRotatedDate`, `LastChangedDate` or creation date.
    pub last_rotated: Option<OffsetDateTime>,
    /// `last_rotated` plus `connector_rotation_days`; `None` without a rotation period.
    pub due_at: Option<OffsetDateTime>,
}

impl RotationStatus {
    /// Whether a rotation should run at `now`: one is unfinished, or the period has passed.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        self.pending_version.is_some() || self.due_at.is_some_and(|due| now >= due)
    }
}

/// What one rotation did, per instance.
#[derive(Debug)]
#[non_exhaustive]
pub struct RotationReport {
    /// The secret.
    pub secret_id: String,
    /// The new password's version (`AWSPENDING`, then `AWSCURRENT` when finished); `None`
    /// when step 1 did not run.
    pub version_id: Option<String>,
    /// An `AWSPENDING` version of an earlier run was reused.
    pub resumed: bool,
    /// `AWSCURRENT` now holds the new password.
    pub finished: bool,
    /// Per instance.
    pub instances: FleetReport<InstanceRotation>,
}

/// What [`AccessManager::rotate`](crate::AccessManager::rotate) did.
#[derive(Debug)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// Nothing to rotate (IAM authentication has no password).
    NothingToRotate {
        /// Why.
        reason: &'static str,
    },
    /// Not due yet, and no rotation is unfinished.
    NotDue {
        /// When the current password was set.
        last_rotated: Option<OffsetDateTime>,
        /// When the rotation is due; `None` when the integration has no
        /// `connector_rotation_days` (only a forced rotation runs).
        due_at: Option<OffsetDateTime>,
    },
    /// Another process is rotating (it holds the lock of this instance); nothing changed.
    Busy {
        /// The instance whose lock is held.
        instance: InstanceId,
    },
    /// Rotated: every instance has the new password, and it is `AWSCURRENT`.
    Rotated(RotationReport),
    /// Some instances failed (see the report): `AWSCURRENT` is unchanged; instances that
    /// already have the new password log in with `AWSPENDING`. Running again finishes the job.
    Incomplete(RotationReport),
}
