//! [`AccessManager::grant`] (all or nothing across instances) and [`AccessManager::plan`].

use std::collections::BTreeMap;
use std::time::Duration;

use std::collections::BTreeSet;

use futures_util::StreamExt;
use integration_model::{AccessRequest, AuthType, InstanceId};
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{CreateOutcome, GrantsError, ManagedRecord, RoleOnInstance, Session};
use time::OffsetDateTime;

use crate::error::AccessError;
use crate::report::{DatabasePlan, FleetReport, GrantOutcome, PasswordKept};
use crate::target::Target;

use super::AccessManager;
use super::users::{UserEnd, wanted_on};

/// How long a failed grant's undo may spend disabling the role's login, before (and apart
/// from) removing it.
pub(super) const UNDO_DISABLE_BUDGET: Duration = Duration::from_secs(30);

/// What a grant found on one instance.
#[derive(Debug)]
pub(super) enum Found {
    /// This request created the role (or may have: its COMMIT's answer was lost), and with
    /// it the marker role when `marker` (the instance's first managed user).
    Created { marker: bool },
    /// The user existed: its record before this grant, the grant's expiry there (a re-run
    /// keeps the one it has), and whether the password is kept (`None`: it gets the request's
    /// new password).
    Existing {
        before: ManagedRecord,
        expires_at: OffsetDateTime,
        kept: Option<PasswordKept>,
    },
}

/// Whether a grant to an existing user keeps its password (`Some(why)`) or gives it the
/// request's new one (`None`). Never changed while another request's grant is active (the
/// user is using it); kept while younger than `credentials_rotation_days`, except for a re-run
/// of a request the user holds (whose answer, with the password, may have been lost).
pub(super) fn password_decision(
    before: &ManagedRecord,
    request_id: &str,
    now: OffsetDateTime,
    period: Option<integration_model::RotationPeriod>,
) -> Option<PasswordKept> {
    let in_use = before.revoked_at.is_none()
        && before
            .active_grants(now)
            .any(|g| g.request_id != request_id);
    if in_use {
        return Some(PasswordKept::InUse);
    }
    let (Some(period), Some(set_at)) = (period, before.password_set_at) else {
        return None;
    };
    let rotates_on = set_at + period.as_duration();
    (now < rotates_on && before.grant(request_id).is_none())
        .then_some(PasswordKept::NotDue { set_at, rotates_on })
}

/// The request's id, or the one derived from it.
pub(super) fn request_id_of(request: &AccessRequest) -> String {
    request
        .request_id()
        .map_or_else(|| derived_request_id(request), |id| id.to_string())
}

/// A request id for a request that brought none: the same request (grantee, level, duration,
/// resources) gives the same id, so running it again completes it instead of conflicting.
/// FNV-1a 64 over a canonical text: stable across Rust versions and platforms.
pub(super) fn derived_request_id(request: &AccessRequest) -> String {
    let mut resources: Vec<String> = request
        .resources()
        .iter()
        .map(ToString::to_string)
        .collect();
    resources.sort();
    let canonical = format!(
        "{}\n{}\n{}\n{}",
        request.grantee(),
        request.level(),
        request.duration(),
        resources.join("\n")
    );
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in canonical.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("auto-{hash:016x}")
}

impl AccessManager {
    /// Grants `request`: first checks it against the integration's access flows (refused
    /// before any SQL runs when none allows it); then, on every instance its resources name,
    /// creates the managed user, or adds the request's grant to the user of that name (see
    /// below), and applies its privileges database by database, each in one transaction.
    ///
    /// **One user per requester, any number of grants.** A user holds one grant per request
    /// id, each with its level, resources and expiry ([`pg_grants::GrantRecord`]); its
    /// privileges are the union of its active grants, and `VALID UNTIL` follows the latest
    /// expiry. A user revoked and kept (`user_cleanup_days`) is enabled again, with its own
    /// objects. Running the same request again completes what is missing (the grant keeps the
    /// expiry it has); the same request id for other access is refused
    /// ([`GrantsError::RequestConflict`]), and so is a re-run of a request that has ended.
    ///
    /// **Passwords** (password auth): a new user gets a new password, the same on every
    /// instance. An existing user keeps its password while another request's grant is active
    /// (never changed under its feet) and while it is younger than `credentials_rotation_days`;
    /// [`GrantOutcome::password_kept`] then says so and when it rotates, and no password is
    /// handed out (the library does not store it). Otherwise it gets a new one.
    ///
    /// All or nothing: when any instance fails, the users this request created are removed
    /// again (left `NOLOGIN` and reported in [`GrantOutcome::undone`] if removal fails), a user
    /// that existed loses the grant this request added (its other grants, privileges and
    /// password stay), and the outcome carries no password. The per-instance error says what
    /// to fix (e.g. the owner membership SQL).
    ///
    /// # Errors
    /// Before any change: a resource naming an instance the integration does not select,
    /// discovery failing as a whole, a reason too long for the role's record. Per-instance
    /// failures are in the result.
    pub async fn grant(&self, request: &AccessRequest) -> Result<GrantOutcome, AccessError> {
        self.allowed_by_flows(request)?;
        let now = self.now();
        let expires_at = now + request.duration().as_duration();
        let request_id = request_id_of(request);
        let password = match self.inner.integration.auth() {
            AuthType::Password => Some(Password::generate()),
            _ => None,
        };
        let resolution = self.targets().await?;
        let by_instance = self.group_resources(request.resources(), &resolution)?;
        let mut targets: BTreeMap<InstanceId, Target> = resolution
            .targets
            .iter()
            .filter(|t| by_instance.contains_key(&t.name))
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let role = Ident::from(request.grantee());
        let mut record = self.record_of(request, request_id.as_str(), expires_at)?;
        if password.is_some() {
            record = record.with_password_set_at(now);
        }
        let level = request.level();
        // What each instance found: the role created by this request, or the user that
        // existed (with its record before). Filled as it happens, so that an instance that
        // times out after changing the role is still undone.
        let found = std::sync::Mutex::new(BTreeMap::<InstanceId, Found>::new());
        let failovers_before = self.failovers();
        // One instance: a new user's login is enabled at the end of its work, in the same
        // session (no second session, no second read of its marks).
        let single = targets.len() == 1;
        let mut instances = self
            .fan_out(resolution, Some(&by_instance), |target, _| {
                let role = role.clone();
                let record = record.clone();
                let password = password.clone();
                let found = &found;
                async move {
                    self.grant_on(&target, &role, record, password, now, (found, single))
                        .await
                }
            })
            .await;
        let found = found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // After a failover the instances' writers are where discovery points now: the steps
        // below (passwords, logins, undo) and the answer's endpoints go there.
        if self.failovers() != failovers_before
            && let Ok(fresh) = self.targets().await
        {
            for target in fresh.targets {
                if let Some(slot) = targets.get_mut(&target.name) {
                    *slot = target;
                }
            }
        }
        let endpoints = targets
            .iter()
            .map(|(name, t)| (name.clone(), t.connect_to.clone()))
            .collect();
        // One password for the request: handed out when any instance needs a new one (a new
        // user, or one whose password is due); then every instance gets it, except where it
        // is in use by another active grant, which fails the request (two passwords for one
        // user cannot be handed out). Set only once every instance is granted: a failed
        // request leaves the earlier passwords in place.
        let needs_new = found.values().any(|f| {
            matches!(
                f,
                Found::Created { .. } | Found::Existing { kept: None, .. }
            )
        });
        let mut password_kept = None;
        if let Some(password) = &password
            && instances.all_ok()
        {
            if needs_new {
                // As many instances at once as the fan-out (`concurrency`): a serial loop here
                // took 28 s for 218 instances after a 6 s fan-out (BENCHMARKS.md, fleet_scale).
                let (role, targets) = (&role, &targets);
                // Owned pairs: a stream over a closure that borrows them made `grant`'s future
                // not `Send` (rustc cannot prove the closure general over their lifetimes), so
                // callers could not `tokio::spawn` a grant (tests/send_futures.rs).
                let existing: Vec<(InstanceId, Option<PasswordKept>)> = found
                    .iter()
                    .filter_map(|(name, f)| match f {
                        Found::Existing { kept, .. } => Some((name.clone(), kept.clone())),
                        Found::Created { .. } => None,
                    })
                    .collect();
                let results: Vec<(InstanceId, Result<(), AccessError>)> =
                    futures_util::stream::iter(existing)
                        .map(|(name, kept)| async move {
                            let result = match (&kept, targets.get(&name)) {
                                (Some(PasswordKept::InUse), _) => Err(AccessError::PasswordInUse {
                                    instance: name.clone(),
                                    user: role.to_string(),
                                }),
                                (_, Some(target)) => {
                                    self.set_password_on(target, role, password, now).await
                                }
                                (_, None) => Ok(()),
                            };
                            (name, result)
                        })
                        .buffer_unordered(self.inner.options.concurrency.max(1))
                        .collect()
                        .await;
                for (name, result) in results {
                    if let Err(e) = result {
                        instances.results.insert(name, Err(e));
                    }
                }
            } else {
                // Every instance keeps it: in use wins over not due; of those, the earliest.
                password_kept = found
                    .values()
                    .filter_map(|f| match f {
                        Found::Existing { kept, .. } => kept.clone(),
                        Found::Created { .. } => None,
                    })
                    .min_by_key(|k| match k {
                        PasswordKept::InUse => None,
                        PasswordKept::NotDue { rotates_on, .. } => Some(*rotates_on),
                    });
            }
        }
        // Logins last: a user this request created was created NOLOGIN and can log in only
        // once every instance is granted (and has its password). A failure before this point,
        // even one that keeps the undo from reaching the server (a restart, a failover),
        // leaves no login behind.
        if instances.all_ok() {
            let role = &role;
            // Owned targets: a stream over a closure borrowing them made `grant`'s future not
            // `Send` (tests/send_futures.rs).
            let created: Vec<Target> = found
                .iter()
                .filter(|(_, f)| !single && matches!(f, Found::Created { .. }))
                .filter_map(|(name, _)| targets.get(name).cloned())
                .collect();
            let results: Vec<(InstanceId, Result<(), AccessError>)> =
                futures_util::stream::iter(created)
                    .map(|target| async move {
                        let enable = |target: Target, _| async move {
                            self.enable_login_on(&target, role, now).await
                        };
                        (
                            target.name.clone(),
                            self.with_failover(target.clone(), Vec::new(), &enable)
                                .await,
                        )
                    })
                    .buffer_unordered(self.inner.options.concurrency.max(1))
                    .collect()
                    .await;
            for (name, result) in results {
                if let Err(e) = result {
                    instances.results.insert(name, Err(e));
                }
            }
        }
        let mut undone = BTreeMap::new();
        if !instances.all_ok() {
            let failed_on = instances
                .failures()
                .map(|(name, _)| name.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            // Per instance: `Some(marker)` for a user this request created (and the marker
            // with it), `None` for one that existed.
            let changed: Vec<(&Target, Option<bool>)> = found
                .iter()
                .filter_map(|(name, f)| {
                    let target = targets.get(name)?;
                    match f {
                        Found::Created { marker } => Some((target, Some(*marker))),
                        // A re-run of a request the user held added nothing to undo.
                        Found::Existing { before, .. } => before
                            .grant(&request_id)
                            .is_none()
                            .then_some((target, None)),
                    }
                })
                .collect();
            // Bounded like the fan-out; `buffered` keeps the order of `changed`. The futures
            // are built first (they start when polled): a stream mapping borrowed pairs made
            // `grant`'s future not `Send`, as above.
            let undos: Vec<_> = changed
                .iter()
                .map(|(target, created)| {
                    self.undo_grant(target, &role, &record, &request_id, *created)
                })
                .collect();
            let results: Vec<Result<_, AccessError>> = futures_util::stream::iter(undos)
                .buffered(self.inner.options.concurrency.max(1))
                .collect()
                .await;
            for ((target, _), result) in changed.into_iter().zip(results) {
                if instances
                    .results
                    .get(&target.name)
                    .is_some_and(Result::is_ok)
                {
                    instances.results.insert(
                        target.name.clone(),
                        Err(AccessError::GrantUndone {
                            instance: target.name.clone(),
                            failed_on: failed_on.clone(),
                        }),
                    );
                }
                if let Err(e) = &result {
                    tracing::error!(instance = %target.name, user = %role, error = %crate::error_chain(e),
                        "a failed grant could not be undone");
                }
                undone.insert(target.name.clone(), result);
            }
        }
        let complete = instances.all_ok();
        // The grant's expiry as the records hold it: a re-run keeps its own.
        let expires_at = found
            .values()
            .map(|f| match f {
                Found::Existing { expires_at, .. } => *expires_at,
                Found::Created { .. } => expires_at,
            })
            .min()
            .unwrap_or(expires_at);
        self.audit()
            .grant(request, &request_id, expires_at, &instances, &undone);
        Ok(GrantOutcome {
            user: request.grantee().clone(),
            password: password
                .filter(|_| complete && needs_new)
                .map(|p| p.expose().clone()),
            password_kept: password_kept.filter(|_| complete),
            expires_at,
            level,
            request_id,
            endpoints,
            instances,
            undone,
        })
    }

    /// Undoes what a failed grant did on `target`: the grant of `request_id` ends (its
    /// privileges go, the user's other grants stay); a user it `created` that holds no other
    /// grant is removed (as a revoke does), its login disabled first, on its own time budget
    /// and before any lock (whose public key anybody may hold), so that whatever happens next,
    /// nobody logs in with it. A user that existed and holds no other active grant is revoked
    /// as the integration's settings say (it had none before either). `created` is
    /// `Some(marker)` for a user this request created (or may have: a COMMIT whose answer was
    /// lost), `marker` when it created the instance's marker role with it: once the user is
    /// gone, a marker nobody holds goes too, so that the instance is as it was. So do the
    /// access roles of the request's grants (`record`) that nobody holds and the grantor role
    /// when it is left administering none (16+): the request may have created them.
    pub(super) async fn undo_grant(
        &self,
        target: &Target,
        role: &Ident,
        record: &ManagedRecord,
        request_id: &str,
        created: Option<bool>,
    ) -> Result<(), AccessError> {
        let marker = created == Some(true);
        let created = created.is_some();
        let home = self.inner.integration.database().as_str();
        if created {
            let disable = async {
                let connection = self.connect(target, home).await?;
                let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
                // Only a user holding nothing but this request's grant loses its login, as
                // read again under its lock: another request's grant may have come in since
                // this one failed (see `disable_login_if`).
                let only_ours = |r: &pg_grants::ManagedRole| {
                    r.can_login && r.record.grants.iter().all(|g| g.request_id == request_id)
                };
                if only_ours(&session.managed_role(role).await?) {
                    let locks = self.lock_session(target).await?;
                    self.disable_login_if(target, &locks, &session, role, &only_ours)
                        .await?;
                }
                Ok::<_, AccessError>(())
            };
            let budget = self.inner.options.instance_timeout.min(UNDO_DISABLE_BUDGET);
            match tokio::time::timeout(budget, disable).await {
                // Gone already (or never created): nothing to undo but the service roles.
                Ok(Err(AccessError::Grants(GrantsError::RoleNotFound { .. }))) => {
                    return self.drop_service_roles(target, role, record, marker).await;
                }
                Ok(Err(e)) => {
                    tracing::error!(instance = %target.name, user = %role, error = %crate::error_chain(&e),
                        "could not disable the login of a failed grant's role; removing it anyway");
                }
                Err(_) => {
                    tracing::error!(instance = %target.name, user = %role,
                        "disabling the login of a failed grant's role timed out; removing it anyway");
                }
                Ok(Ok(())) => {}
            }
        }
        let end = if created {
            UserEnd::Drop
        } else {
            UserEnd::BySettings(self.now())
        };
        let ours = |g: &pg_grants::GrantRecord| g.request_id == request_id;
        let undo = self.end_grants_on(target, role, &ours, end);
        let timeout = self.inner.options.instance_timeout;
        match tokio::time::timeout(timeout, undo).await {
            Ok(result) => result.map(|_| ())?,
            Err(_) => {
                return Err(AccessError::Timeout {
                    instance: target.name.clone(),
                    seconds: timeout.as_secs(),
                });
            }
        }
        self.drop_service_roles(target, role, record, marker).await
    }

    /// The undo's last steps, within the instance's time budget: the access roles and the
    /// grantor role nobody holds ([`AccessManager::drop_unheld_access_roles`]), then the
    /// marker when the request created it. One failing does not keep the other; the first
    /// error is returned.
    async fn drop_service_roles(
        &self,
        target: &Target,
        role: &Ident,
        record: &ManagedRecord,
        marker: bool,
    ) -> Result<(), AccessError> {
        let timeout = self.inner.options.instance_timeout;
        let steps = async {
            let access = self.drop_unheld_access_roles(target, role, record).await;
            let marker = self.drop_unused_marker(target, marker).await;
            access.and(marker)
        };
        tokio::time::timeout(timeout, steps)
            .await
            .unwrap_or_else(|_| {
                Err(AccessError::Timeout {
                    instance: target.name.clone(),
                    seconds: timeout.as_secs(),
                })
            })
    }

    /// The undo's last step on 16+: in each database of the failed request's grants
    /// (`record`), the access roles of those grants that nobody holds (not idle-marked: the
    /// request's first use of the scope created them, or a revoke emptied them just now,
    /// which only brings the sweep's drop forward); then, when any went, the grantor role if
    /// it administers none.
    async fn drop_unheld_access_roles(
        &self,
        target: &Target,
        role: &Ident,
        record: &ManagedRecord,
    ) -> Result<(), AccessError> {
        let mut dropped = false;
        for (database, grants) in wanted_on(role, record, &target.name, None)? {
            if grants.is_empty() {
                continue;
            }
            let connection = self.connect(target, database.as_str()).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            if !session.uses_access_roles() {
                return Ok(());
            }
            let gone = session.drop_unheld_access_roles(&grants).await?;
            if !gone.is_empty() {
                tracing::info!(instance = %target.name, %database, user = %role, roles = ?gone,
                    "a failed grant's access roles dropped (nobody holds them)");
                dropped = true;
            }
        }
        if dropped {
            let home = self.inner.integration.database().as_str();
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            if session.drop_unused_grantor().await? {
                tracing::info!(instance = %target.name, user = %role,
                    "a failed grant's grantor role dropped (it administers no access role)");
            }
        }
        Ok(())
    }

    /// When `marker` (the failed grant created it), drops the marker role if no user holds it.
    async fn drop_unused_marker(&self, target: &Target, marker: bool) -> Result<(), AccessError> {
        if !marker {
            return Ok(());
        }
        let home = self.inner.integration.database().as_str();
        let connection = self.connect(target, home).await?;
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        session.drop_unused_marker().await?;
        Ok(())
    }

    pub(super) async fn set_password_on(
        &self,
        target: &Target,
        role: &Ident,
        password: &Password,
        at: OffsetDateTime,
    ) -> Result<(), AccessError> {
        let home = self.locked_home(target, role).await?;
        let session = Session::new(home.client(), self.inner.grants.clone()).await?;
        Ok(session.set_password_at(role, password, at).await?)
    }

    /// Enables the login of `role`, created `NOLOGIN` by this grant, on `target`.
    async fn enable_login_on(
        &self,
        target: &Target,
        role: &Ident,
        now: OffsetDateTime,
    ) -> Result<(), AccessError> {
        let _role_lock = self.role_lock(target, role).await?;
        let connection = self
            .pooled(target, self.inner.integration.database().as_str())
            .await?;
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        session.enable_login(role, now).await?;
        Ok(())
    }

    /// The record a grant of `request` writes (and a plan compares with): its level,
    /// resources, expiry, approver, requester and reason. One builder for both, so that a plan
    /// refuses exactly what the grant refuses (a request id of another requester, a reason too
    /// long).
    fn record_of(
        &self,
        request: &AccessRequest,
        request_id: &str,
        expires_at: OffsetDateTime,
    ) -> Result<ManagedRecord, AccessError> {
        let mut record = ManagedRecord::new(
            request_id,
            request.level(),
            expires_at,
            self.inner.integration.connector_user().as_str(),
        )
        .with_resources(request.resources().iter().map(ToString::to_string));
        if let Some(approver) = request.approved_by() {
            record = record.with_approver(approver);
        }
        if let Some(requester) = request.requested_by() {
            record = record.with_requester(requester);
        }
        if let Some(reason) = request.reason() {
            record = record.with_reason(reason)?;
        }
        Ok(record)
    }

    /// Checks `request` against the integration's access flows (none configured: allowed).
    ///
    /// # Errors
    /// [`AccessError::NotAllowed`] naming, for each flow, the rule the request fails.
    pub fn allowed_by_flows(&self, request: &AccessRequest) -> Result<(), AccessError> {
        integration_model::check_flows(self.inner.integration.access_flows(), request)
            .map(|_| ())
            .map_err(AccessError::NotAllowed)
    }

    /// The SQL a grant would run, per instance and database, without changing anything: for a
    /// user that exists, what gives it the union of its active grants and this request's (a
    /// user that does not exist yet is planned as if empty). A grant the real one would refuse
    /// (a role not managed by this library, a request id held for other access) is refused
    /// here too.
    ///
    /// # Errors
    /// As [`AccessManager::grant`].
    pub async fn plan(
        &self,
        request: &AccessRequest,
    ) -> Result<FleetReport<Vec<DatabasePlan>>, AccessError> {
        self.allowed_by_flows(request)?;
        let resolution = self.targets().await?;
        let by_instance = self.group_resources(request.resources(), &resolution)?;
        let role = Ident::from(request.grantee());
        let now = self.now();
        let request_id = request_id_of(request);
        let wanted = self.record_of(
            request,
            request_id.as_str(),
            now + request.duration().as_duration(),
        )?;
        let wanted = &wanted;
        Ok(self
            .fan_out(resolution, Some(&by_instance), |target, _| {
                let role = role.clone();
                async move {
                    // The marks are checked as the real grant checks them: an unmanaged role,
                    // or a request id held for other access, is refused; a missing one is new.
                    let home = self.pooled(&target, self.inner.integration.database().as_str());
                    let home = home.await?;
                    let session = Session::new(home.client(), self.inner.grants.clone()).await?;
                    let (record, touched) = match session.managed_role(&role).await {
                        Ok(existing) => {
                            let touched = wanted_on(&role, &existing.record, &target.name, None)?;
                            let grant = wanted.grants.iter().last().cloned();
                            let mut merged = existing.record;
                            if let Some(grant) = grant {
                                merged = merged.with_grant(role.as_str(), grant)?;
                            }
                            (merged, touched.into_keys().collect())
                        }
                        Err(GrantsError::RoleNotFound { .. }) => (wanted.clone(), BTreeSet::new()),
                        Err(e) => return Err(e.into()),
                    };
                    drop(session);
                    drop(home);
                    let mut by_db = wanted_on(&role, &record, &target.name, Some(now))?;
                    for database in touched {
                        by_db.entry(database).or_default();
                    }
                    let mut plans = Vec::new();
                    for (database, grants) in by_db {
                        let connection = self.pooled(&target, database.as_str()).await?;
                        let session =
                            Session::new(connection.client(), self.inner.grants.clone()).await?;
                        let plan = session.plan(&role, &grants).await?;
                        plans.push(DatabasePlan {
                            database: database.to_string(),
                            sql: plan.statements().iter().map(ToString::to_string).collect(),
                        });
                    }
                    Ok(plans)
                }
            })
            .await)
    }

    /// Creates the user on `target` or adds the request's grant to it, then applies the union
    /// of its active grants in every database they name (and those its ended grants named).
    pub(super) async fn grant_on(
        &self,
        target: &Target,
        role: &Ident,
        record: ManagedRecord,
        password: Option<Password>,
        now: OffsetDateTime,
        // What each instance found so far, and whether a new user's login is enabled here
        // (a grant on one instance) rather than after every instance is granted.
        (found, enable_login_here): (&std::sync::Mutex<BTreeMap<InstanceId, Found>>, bool),
    ) -> Result<Vec<DatabasePlan>, AccessError> {
        // No other grant, extension or revocation of this role on this instance interleaves,
        // whatever the home database of the integration running it.
        let locked = self.locked_home(target, role).await?;
        // One session per database, the role's marks read once (by `create_or_add`).
        let session = Session::new(locked.client(), self.inner.grants.clone()).await?;
        let request_id = record
            .grants
            .last()
            .map(|g| g.request_id.clone())
            .unwrap_or_default();
        let is_password = password.is_some();
        let auth = match password {
            Some(p) => LoginAuth::Password(p),
            None => LoginAuth::Iam,
        };
        let existing = match session.managed_role(role).await {
            Ok(existing) => Some(existing),
            Err(GrantsError::RoleNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        // A new user on an instance without the marker creates it too; should that fail with
        // the outcome unknown, the undo removes the marker again (when no user holds it).
        let marker_before = match existing {
            None => session.marker_exists().await?,
            Some(_) => true,
        };
        let record_before = existing.as_ref().map(|e| e.record.clone());
        let created = session
            .create_or_add_to(
                &NewRole::new(role.clone(), auth, record).login_later(),
                existing,
                now,
            )
            .await;
        let RoleOnInstance {
            outcome,
            role: mut managed,
            marker_created,
            ..
        } = match created {
            Ok(created) => created,
            Err(e) => {
                // The outcome unknown (a `COMMIT` sent, its answer lost): the role may have
                // been created, or the grant added, so the failed request undoes it as if it
                // had been (the undo reads the role and removes only this request's grant;
                // a user holding another active grant is kept).
                if e.applied() != pg_grants::Applied::No {
                    let maybe = match record_before {
                        None => Found::Created {
                            marker: !marker_before,
                        },
                        Some(before) => Found::Existing {
                            expires_at: now,
                            kept: None,
                            before,
                        },
                    };
                    found
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(target.name.clone(), maybe);
                }
                return Err(e.into());
            }
        };
        let mut touched = BTreeSet::new();
        let this = match outcome {
            CreateOutcome::AlreadyExists(before) => {
                touched = wanted_on(role, &before, &target.name, None)?
                    .into_keys()
                    .collect();
                let period = self.inner.integration.credentials_rotation();
                Found::Existing {
                    expires_at: managed
                        .record
                        .grant(&request_id)
                        .map_or(now, |g| g.expires_at),
                    kept: is_password
                        .then(|| password_decision(&before, &request_id, now, period))
                        .flatten(),
                    before,
                }
            }
            _ => Found::Created {
                marker: marker_created,
            },
        };
        let created;
        {
            let mut found = found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A rerun after a failover finds the role an earlier attempt created: it stays
            // "created by this request" (to be removed if the request fails).
            let created_before = matches!(found.get(&target.name), Some(Found::Created { .. }));
            created = created_before || matches!(this, Found::Created { .. });
            if !created_before {
                found.insert(target.name.clone(), this);
            }
        }
        let plans = self
            .apply_record(target, &session, &mut managed, &touched, now)
            .await?;
        if enable_login_here && created {
            session.enable_created_login(&mut managed).await?;
        }
        Ok(plans)
    }
}
