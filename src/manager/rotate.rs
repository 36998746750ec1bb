//! [`AccessManager::rotate`] and [`Rotation`]: the connector's password, rotated in Secrets
//! Manager's four steps across the fleet (see [`crate::rotate`]).

use std::collections::BTreeMap;
use std::fmt;

use integration_model::{AuthType, InstanceId, SecretRef};
use pg_auth::{
    AWSCURRENT, AWSPENDING, AuthError, SecretStages, SecretVersion, SecretsManagerRotation,
    StaticPassword,
};
use pg_grants::Session;
use pg_grants::password::Password;
use time::OffsetDateTime;

use super::{AccessManager, JobLock, LockSession};
use crate::error::AccessError;
use crate::report::FleetReport;
use crate::report::rotation::{
    AcceptedStage, InstanceRotation, RotateError, RotateOutcome, RotationReport, RotationStatus,
};
use crate::target::{Resolution, Target};

/// The job-lock name of rotations.
const ROTATE_JOB: &str = "rotate";

impl AccessManager {
    /// Rotates the connector's password when the integration's `connector_rotation_days`
    /// have passed since it was last set, or when `force`; finishes a rotation an earlier run
    /// left unfinished in any case. See [the module docs](crate::rotate) for the steps and the
    /// states a failure or crash can leave (each logs in; the next run finishes).
    ///
    /// # Errors
    /// [`RotateError`] for what concerns the whole rotation (a Secrets Manager call failed,
    /// the secret changed under it, an environment-variable password); per-instance
    /// failures give [`RotateOutcome::Incomplete`].
    pub async fn rotate(&self, force: bool) -> Result<RotateOutcome, RotateError> {
        let mut intents = BTreeMap::new();
        let outcome = self.rotate_unaudited(force, &mut intents).await;
        if matches!(
            outcome,
            Ok(RotateOutcome::Rotated(_) | RotateOutcome::Incomplete(_))
        ) {
            crate::death::point("rotate:after-finish").await;
        }
        match &outcome {
            Ok(outcome) => self.audit().rotate(outcome, &intents),
            // Every intent gets its outcome, also when the rotation failed as a whole.
            Err(error) => {
                for intent in intents.values() {
                    self.audit().failed(intent, error);
                }
            }
        }
        outcome
    }

    async fn rotate_unaudited(
        &self,
        force: bool,
        intents: &mut BTreeMap<InstanceId, crate::audit::AuditRecord>,
    ) -> Result<RotateOutcome, RotateError> {
        let status = match self.rotation_status().await {
            Err(RotateError::NothingToRotate { reason }) if self.is_iam() => {
                return Ok(RotateOutcome::NothingToRotate { reason });
            }
            other => other?,
        };
        // Not due: nothing to do, unless a process that died left rotation intents to resolve
        // (under the rotation locks, below).
        if !force && !status.is_due(self.now()) && !self.has_open_rotation_intents() {
            return Ok(RotateOutcome::NotDue {
                last_rotated: status.last_rotated,
                due_at: status.due_at,
            });
        }
        let mut rotation = self.rotation().await?;
        if rotation.busy.is_empty() && rotation.failures().next().is_none() {
            // Under every instance's rotation lock: no other process is rotating. Read the
            // stages again: a rotation that finished while these locks were being taken moved
            // the secret, and its work is not done twice.
            let stages = self
                .secret_rotation()?
                .describe()
                .await
                .map_err(AccessError::from)?;
            if stages.current() != Some(rotation.current.version_id.as_str())
                || stages.pending() != rotation.pending.as_ref().map(|p| p.version_id.as_str())
            {
                drop(rotation); // releases the locks
                rotation = self.rotation().await?;
            }
            self.recover_rotation_intents(&rotation.stages, &rotation.results);
            if !force && rotation.pending.is_none() && !rotation.status().is_due(self.now()) {
                let status = rotation.status();
                return Ok(RotateOutcome::NotDue {
                    last_rotated: status.last_rotated,
                    due_at: status.due_at,
                });
            }
        }
        match rotation.run(intents).await {
            Ok(()) => Ok(RotateOutcome::Rotated(rotation.finish().await?)),
            Err(RotateError::Busy { instance }) => Ok(RotateOutcome::Busy { instance }),
            Err(RotateError::InstancesFailed { .. }) => {
                Ok(RotateOutcome::Incomplete(rotation.into_report()))
            }
            Err(other) => Err(other),
        }
    }

    /// When the connector's password was last rotated and when it is due (reads the secret,
    /// changes nothing).
    ///
    /// # Errors
    /// [`RotateError::NothingToRotate`] with IAM authentication or a password from an
    /// environment variable; a Secrets Manager failure.
    pub async fn rotation_status(&self) -> Result<RotationStatus, RotateError> {
        let secrets = self.secret_rotation()?;
        let stages = secrets.describe().await.map_err(AccessError::from)?;
        let current = secrets
            .version(AWSCURRENT)
            .await
            .map_err(AccessError::from)?;
        Ok(self.status_of(&secrets, &stages, &current))
    }

    /// Starts a rotation step by step (what [`AccessManager::rotate`] runs, for callers that
    /// drive or observe the steps): reads the secret and locks every instance (step 0),
    /// changing nothing. Then call [`Rotation::begin`], [`Rotation::set_in_databases`],
    /// [`Rotation::test_logins`] and [`Rotation::finish`] in order. Stopping between any two
    /// (a crash) leaves a secret that logs in; the next rotation resumes.
    ///
    /// # Errors
    /// As [`AccessManager::rotation_status`]; discovery failing as a whole. Instances that
    /// cannot be locked are in [`Rotation::report`] and make [`Rotation::begin`] refuse.
    pub async fn rotation(&self) -> Result<Rotation, RotateError> {
        let secrets = self.secret_rotation()?;
        let stages = secrets.describe().await.map_err(AccessError::from)?;
        let current = secrets
            .version(AWSCURRENT)
            .await
            .map_err(AccessError::from)?;
        let pending = match stages.pending() {
            Some(id) => Some(secrets.version_by_id(id).await.map_err(AccessError::from)?),
            None => None,
        };
        let resolution = self.targets().await?;
        let current_ref = &current;
        let pending_ref = pending.as_ref();
        let locked = self
            .fan_out(resolution, None, |target, _| async move {
                self.lock_instance(&target, current_ref, pending_ref)
                    .await
                    .map(|lock| (target, lock))
            })
            .await;
        let mut slots = BTreeMap::new();
        let mut results = BTreeMap::new();
        let mut busy = Vec::new();
        for (name, outcome) in locked.results {
            match outcome {
                Ok((target, Some((connection, accepted, lock_squatters)))) => {
                    results.insert(
                        name.clone(),
                        Ok(InstanceRotation {
                            accepted_at_start: accepted,
                            password_set: false,
                            login_tested: false,
                            lock_squatters,
                        }),
                    );
                    slots.insert(name, Slot { target, connection });
                }
                Ok((_, None)) => busy.push(name),
                Err(error) => {
                    results.insert(name, Err(error));
                }
            }
        }
        Ok(Rotation {
            manager: self.clone(),
            resumed: pending.is_some(),
            secrets,
            stages,
            current,
            pending,
            busy,
            slots,
            results: FleetReport { results },
            tested: false,
        })
    }

    fn is_iam(&self) -> bool {
        self.integration().auth() == AuthType::Iam
    }

    fn secret_rotation(&self) -> Result<SecretsManagerRotation, RotateError> {
        let integration = self.integration();
        if integration.auth() == AuthType::Iam {
            return Err(RotateError::NothingToRotate {
                reason: "the integration uses IAM authentication (no password; IAM tokens \
                         last 15 minutes)",
            });
        }
        let id = match integration.secret() {
            Some(SecretRef::SecretsManager(id)) => id,
            _ => {
                return Err(RotateError::NothingToRotate {
                    reason: "the password comes from an environment variable; rotation needs \
                             a Secrets Manager secret ([secret] id)",
                });
            }
        };
        let aws = self.aws_config().ok_or_else(|| {
            AccessError::Auth(AuthError::InvalidConfig {
                field: "aws",
                reason: "rotating a Secrets Manager secret needs an AWS configuration: build \
                         the manager with from_integration or from_integration_with_aws"
                    .into(),
            })
        })?;
        Ok(SecretsManagerRotation::new(aws, id.as_str())
            .map_err(AccessError::from)?
            .with_user(integration.connector_user().as_str()))
    }

    fn status_of(
        &self,
        secrets: &SecretsManagerRotation,
        stages: &SecretStages,
        current: &SecretVersion,
    ) -> RotationStatus {
        let last_rotated = current
            .created
            .or(stages.last_rotated)
            .or(stages.last_changed)
            .or(stages.created)
            .map(OffsetDateTime::from);
        let due_at = self
            .integration()
            .connector_rotation()
            .zip(last_rotated)
            .map(|(period, last)| last + period.as_duration());
        RotationStatus {
            secret_id: secrets.secret_id().to_owned(),
            current_version: current.version_id.clone(),
            pending_version: stages.pending().map(ToOwned::to_owned),
            last_rotated,
            due_at,
        }
    }

    /// Logs in with the current (else the pending) password and takes the rotation lock:
    /// `None` when another connector session holds it; with the squatters when only
    /// sessions without `CREATEROLE` hold it (the rotation goes on without it).
    async fn lock_instance(
        &self,
        target: &Target,
        current: &SecretVersion,
        pending: Option<&SecretVersion>,
    ) -> Result<Option<(LockSession, AcceptedStage, Vec<pg_grants::LockHolder>)>, AccessError> {
        // In the lock database, so that rotations from integrations with different home
        // databases exclude each other (advisory locks are per database).
        let (connection, accepted) = match self.lock_session_with(target, &source_of(current)).await
        {
            Ok(connection) => {
                // The version both AWSCURRENT and AWSPENDING (a crash inside step 4).
                let same = pending.is_some_and(|p| p.version_id == current.version_id);
                let accepted = if same {
                    AcceptedStage::Pending
                } else {
                    AcceptedStage::Current
                };
                (connection, accepted)
            }
            // Not the current password: an earlier run may have set the pending one.
            Err(AccessError::Auth(e)) if e.is_authentication_failure() => {
                let Some(pending) = pending else {
                    return Err(AccessError::Auth(e));
                };
                let connection = self.lock_session_with(target, &source_of(pending)).await?;
                (connection, AcceptedStage::Pending)
            }
            Err(e) => return Err(e),
        };
        let squatters = match connection.job_lock(&target.name, ROTATE_JOB).await? {
            JobLock::Taken => Vec::new(),
            JobLock::Squatted(squatters) => squatters,
            JobLock::Busy => return Ok(None),
        };
        Ok(Some((connection, accepted, squatters)))
    }
}

fn source_of(version: &SecretVersion) -> StaticPassword {
    StaticPassword::new(
        version.secret.username.clone(),
        version.secret.password.clone(),
    )
}

/// One locked instance: its target and the connection holding the `rotate` job lock.
struct Slot {
    target: Target,
    connection: LockSession,
}

/// A rotation in progress, step by step (see [the module docs](crate::rotate)). It holds a
/// connection per instance with the `rotate` job lock; dropping it (or a crash) releases the
/// locks and leaves the secret and the instances in a state that logs in.
pub struct Rotation {
    manager: AccessManager,
    secrets: SecretsManagerRotation,
    stages: SecretStages,
    current: SecretVersion,
    pending: Option<SecretVersion>,
    resumed: bool,
    busy: Vec<InstanceId>,
    slots: BTreeMap<InstanceId, Slot>,
    results: FleetReport<InstanceRotation>,
    tested: bool,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("secret_id", &self.secrets.secret_id())
            .field("current", &self.current.version_id)
            .field("pending", &self.pending.as_ref().map(|p| &p.version_id))
            .field("resumed", &self.resumed)
            .field("busy", &self.busy)
            .field("locked", &self.slots.keys().collect::<Vec<_>>())
            .field("tested", &self.tested)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    /// The secret's stages when the rotation started.
    pub fn stages(&self) -> &SecretStages {
        &self.stages
    }

    /// When the password was last rotated and when it is due.
    pub fn status(&self) -> RotationStatus {
        self.manager
            .status_of(&self.secrets, &self.stages, &self.current)
    }

    /// Whether an `AWSPENDING` version of an earlier run is being finished.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// Instances another process holds the rotation lock of.
    pub fn busy(&self) -> &[InstanceId] {
        &self.busy
    }

    /// Per instance, so far (an instance that failed a step stays failed in this rotation).
    pub fn report(&self) -> &FleetReport<InstanceRotation> {
        &self.results
    }

    fn failures(&self) -> impl Iterator<Item = (&InstanceId, &AccessError)> {
        self.results.failures()
    }

    fn ensure_all_ok(&self) -> Result<(), RotateError> {
        if let Some(instance) = self.busy.first() {
            return Err(RotateError::Busy {
                instance: instance.clone(),
            });
        }
        let failed: Vec<String> = self.failures().map(|(n, _)| n.to_string()).collect();
        if failed.is_empty() && !self.results.results.is_empty() {
            return Ok(());
        }
        Err(RotateError::InstancesFailed {
            instances: if failed.is_empty() {
                "(none selected)".to_owned()
            } else {
                failed.join(", ")
            },
        })
    }

    /// Step 1: a new `AWSPENDING` version with a new random password (the rest of the JSON
    /// copied), or the `AWSPENDING` version an earlier run left (never a second one). Returns
    /// its version id. Refuses, changing nothing, unless every instance is locked.
    ///
    /// # Errors
    /// [`RotateError::Busy`], [`RotateError::InstancesFailed`]; a Secrets Manager failure
    /// (nothing changed).
    pub async fn begin(&mut self) -> Result<&str, RotateError> {
        self.ensure_all_ok()?;
        if self.pending.is_none() {
            let password = Password::generate();
            let version_id = self
                .secrets
                .put_pending(&self.current, password.expose())
                .await
                .map_err(AccessError::from)?;
            let pending = self
                .secrets
                .version_by_id(&version_id)
                .await
                .map_err(AccessError::from)?;
            self.pending = Some(pending);
        }
        Ok(self.pending.as_ref().map_or("", |p| p.version_id.as_str()))
    }

    /// Step 2: sets the `AWSPENDING` password (its SCRAM verifier) on every instance that
    /// does not have it yet, through the locked connection. An instance that fails is
    /// reported and keeps the old password (which `AWSCURRENT` still holds).
    ///
    /// # Errors
    /// [`RotateError::OutOfOrder`] before [`Rotation::begin`].
    pub async fn set_in_databases(
        &mut self,
    ) -> Result<&FleetReport<InstanceRotation>, RotateError> {
        let pending = self.pending.as_ref().ok_or(RotateError::OutOfOrder {
            step: "set_in_databases",
            needs: "begin",
        })?;
        let password = Password::from_secret(pending.secret.password.clone());
        let todo: Vec<InstanceId> = self
            .results
            .results
            .iter()
            .filter(|(_, r)| {
                r.as_ref()
                    .is_ok_and(|r| r.accepted_at_start == AcceptedStage::Current && !r.password_set)
            })
            .map(|(n, _)| n.clone())
            .collect();
        let slots = &self.slots;
        let manager = &self.manager;
        let password = &password;
        let outcome = manager
            .fan_out(self.resolution_of(&todo), None, |target, _| async move {
                let slot = slots.get(&target.name).ok_or_else(|| not_locked(&target))?;
                let session =
                    Session::new(slot.connection.client(), manager.grants_settings().clone())
                        .await?;
                session.set_own_password(password).await?;
                Ok(())
            })
            .await;
        for (name, result) in outcome.results {
            match result {
                Ok(()) => {
                    if let Some(Ok(r)) = self.results.results.get_mut(&name) {
                        r.password_set = true;
                    }
                }
                Err(e) => {
                    self.slots.remove(&name);
                    self.results.results.insert(name, Err(e));
                }
            }
        }
        self.tested = false;
        Ok(&self.results)
    }

    /// Step 3: reads `AWSPENDING` back from Secrets Manager and logs in with it on every
    /// instance, each on a new connection.
    ///
    /// # Errors
    /// [`RotateError::OutOfOrder`] before [`Rotation::begin`]; [`RotateError::SecretChanged`]
    /// when `AWSPENDING` is no longer this rotation's version; a Secrets Manager failure.
    pub async fn test_logins(&mut self) -> Result<&FleetReport<InstanceRotation>, RotateError> {
        let ours =
            self.pending
                .as_ref()
                .map(|p| p.version_id.clone())
                .ok_or(RotateError::OutOfOrder {
                    step: "test_logins",
                    needs: "begin",
                })?;
        let stored = self
            .secrets
            .version(AWSPENDING)
            .await
            .map_err(AccessError::from)?;
        if stored.version_id != ours {
            return Err(self.changed(format!(
                "AWSPENDING moved from version {ours} to {}",
                stored.version_id
            )));
        }
        let source = source_of(&stored);
        let source = &source;
        let home = self.manager.integration().database().as_str();
        let manager = &self.manager;
        let names: Vec<InstanceId> = self
            .results
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(n, _)| n.clone())
            .collect();
        let outcome = manager
            .fan_out(self.resolution_of(&names), None, |target, _| async move {
                let connection = manager.connect_with(&target, home, source).await?;
                Session::new(connection.client(), manager.grants_settings().clone()).await?;
                Ok(())
            })
            .await;
        for (name, result) in outcome.results {
            match result {
                Ok(()) => {
                    if let Some(Ok(r)) = self.results.results.get_mut(&name) {
                        r.login_tested = true;
                    }
                }
                Err(e) => {
                    self.slots.remove(&name);
                    self.results.results.insert(name, Err(e));
                }
            }
        }
        self.tested = self.ensure_all_ok().is_ok()
            && self
                .results
                .results
                .values()
                .all(|r| r.as_ref().is_ok_and(|r| r.login_tested));
        Ok(&self.results)
    }

    /// Step 4: moves `AWSCURRENT` to the new version and removes `AWSPENDING`; only after
    /// [`Rotation::test_logins`] succeeded on every instance, and only if the secret's stages
    /// are still those this rotation saw. Releases the locks.
    ///
    /// # Errors
    /// [`RotateError::OutOfOrder`] unless every login test passed;
    /// [`RotateError::SecretChanged`]; a Secrets Manager failure (the new password logs in
    /// through `AWSPENDING`, or through `AWSCURRENT` if only the removal of `AWSPENDING`
    /// failed; a new run finishes).
    pub async fn finish(self) -> Result<RotationReport, RotateError> {
        if !self.tested {
            self.ensure_all_ok()?;
            return Err(RotateError::OutOfOrder {
                step: "finish",
                needs: "test_logins passing on every instance",
            });
        }
        let Some(pending) = self.pending.as_ref() else {
            return Err(RotateError::OutOfOrder {
                step: "finish",
                needs: "begin",
            });
        };
        let new = pending.version_id.clone();
        let stages = self.secrets.describe().await.map_err(AccessError::from)?;
        if stages.pending() != Some(new.as_str()) {
            return Err(self.changed(format!(
                "AWSPENDING is on {:?}, not on this rotation's version {new}",
                stages.pending()
            )));
        }
        match stages.current() {
            Some(current) if current == new => {}
            Some(current) if current == self.current.version_id => {
                self.secrets
                    .promote(&new, current)
                    .await
                    .map_err(AccessError::from)?;
                crate::death::point("rotate:after-promote").await;
            }
            other => {
                return Err(self.changed(format!(
                    "AWSCURRENT is on {other:?}, expected {}",
                    self.current.version_id
                )));
            }
        }
        self.secrets
            .clear_pending(&new)
            .await
            .map_err(AccessError::from)?;
        self.release_locks().await;
        let mut report = self.into_report();
        report.finished = true;
        tracing::info!(secret_id = %report.secret_id, version_id = %new, "connector password rotated");
        Ok(report)
    }

    /// Runs steps 1 to 3, writing an intent record per locked instance between steps 1 and 2
    /// (the version is known, no password is set yet).
    async fn run(
        &mut self,
        intents: &mut BTreeMap<InstanceId, crate::audit::AuditRecord>,
    ) -> Result<(), RotateError> {
        self.begin().await?;
        let version = self.pending.as_ref().map(|p| p.version_id.clone());
        let audit = self.manager.audit();
        let connector = self.manager.integration().connector_user().to_string();
        for name in self.slots.keys() {
            intents.insert(
                name.clone(),
                audit.intent(
                    crate::audit::AuditAction::Rotate,
                    name,
                    crate::audit::AuditChange::SetPassword,
                    &connector,
                    version.as_deref(),
                    None,
                ),
            );
        }
        crate::death::point("rotate:before-change").await;
        self.set_in_databases().await?;
        crate::death::point("rotate:after-set").await;
        self.test_logins().await?;
        self.ensure_all_ok()
    }

    fn changed(&self, what: String) -> RotateError {
        RotateError::SecretChanged {
            secret_id: self.secrets.secret_id().to_owned(),
            what,
        }
    }

    fn resolution_of(&self, names: &[InstanceId]) -> Resolution {
        Resolution {
            targets: names
                .iter()
                .filter_map(|n| self.slots.get(n).map(|s| s.target.clone()))
                .collect(),
            unusable: Vec::new(),
        }
    }

    async fn release_locks(&self) {
        for slot in self.slots.values() {
            // The lock also ends with the connection, dropped right after: a failure here
            // changes nothing.
            if let Ok(session) = Session::new(
                slot.connection.client(),
                self.manager.grants_settings().clone(),
            )
            .await
            {
                let _ = session.release_job_lock(ROTATE_JOB).await;
            }
        }
    }

    fn into_report(self) -> RotationReport {
        RotationReport {
            secret_id: self.secrets.secret_id().to_owned(),
            version_id: self.pending.as_ref().map(|p| p.version_id.clone()),
            resumed: self.resumed,
            finished: false,
            instances: self.results,
        }
    }
}

fn not_locked(target: &Target) -> AccessError {
    AccessError::Auth(AuthError::InvalidConfig {
        field: "instance",
        reason: format!("{} is not locked for this rotation", target.name),
    })
}
