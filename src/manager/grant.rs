//! [`AccessManager::grant`] (all or nothing across instances) and [`AccessManager::plan`].

use std::collections::BTreeMap;
use std::time::Duration;

use integration_model::{AccessRequest, AuthType, InstanceId, ResourceRef};
use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{CreateOutcome, GrantsError, ManagedRecord, RoleOnInstance, Scope, Session};

use crate::error::AccessError;
use crate::report::{DatabasePlan, FleetReport, GrantOutcome};
use crate::target::Target;

use super::AccessManager;

/// How long a failed grant's undo may spend disabling the role's login, before (and apart
/// from) removing it.
pub(super) const UNDO_DISABLE_BUDGET: Duration = Duration::from_secs(30);

/// Resources of one instance grouped by database, each with its scopes.
pub(super) fn by_database(resources: &[ResourceRef]) -> BTreeMap<Ident, Vec<Scope>> {
    let mut out: BTreeMap<Ident, Vec<Scope>> = BTreeMap::new();
    for resource in resources {
        let (database, scope) = Scope::from_resource(resource);
        let scopes = out.entry(database).or_default();
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    out
}

pub(super) fn grants_for(
    scopes: &[Scope],
    level: integration_model::AccessLevel,
) -> Vec<pg_grants::Grant> {
    scopes
        .iter()
        .map(|scope| pg_grants::Grant::new(scope.clone(), level))
        .collect()
}

/// What a grant found on one instance.
#[derive(Debug)]
pub(super) enum Found {
    /// This request created the role.
    Created,
    /// The role existed for this request, with this record.
    Existing(ManagedRecord),
}

/// Fails with [`GrantsError::RoleInUse`] unless the managed `role`'s record carries
/// `request_id` (a failed grant undoes only its own role).
pub(super) async fn still_ours(
    session: &Session<'_>,
    role: &Ident,
    request_id: &str,
) -> Result<(), AccessError> {
    let existing = session.managed_role(role).await?;
    if existing.record.request_id == request_id {
        Ok(())
    } else {
        Err(GrantsError::RoleInUse {
            role: role.to_string(),
            request_id: existing.record.request_id,
        }
        .into())
    }
}

/// The request's id, or the one derived from it.
pub(super) fn request_id_of(request: &AccessRequest) -> String {
    request
        .request_id()
        .map_or_else(|| derived_request_id(request), |id| id.to_string())
}

/// Refuses an existing managed role of another request, or of this request at another level
/// (as `create_role` and the grant refuse them).
pub(super) fn check_same_request(
    role: &Ident,
    existing: &ManagedRecord,
    request_id: &str,
    level: integration_model::AccessLevel,
) -> Result<(), AccessError> {
    if existing.request_id != request_id {
        return Err(GrantsError::RoleInUse {
            role: role.to_string(),
            request_id: existing.request_id.clone(),
        }
        .into());
    }
    if existing.level != level {
        return Err(AccessError::RequestChanged {
            user: role.to_string(),
            request_id: request_id.to_owned(),
            recorded: existing.level,
            requested: level,
        });
    }
    Ok(())
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
    /// creates (or finds, for the same request id) the managed role with one expiry and, for
    /// password auth, one new password valid on all of them; then applies the level's
    /// privileges database by database, each in one transaction. Running the same request
    /// again completes what is missing and changes nothing that is already right (a
    /// password-auth re-run issues a fresh password; the role keeps the expiry it has).
    ///
    /// All or nothing: when any instance fails, the roles this request created are removed
    /// again on every instance (left `NOLOGIN` and reported in [`GrantOutcome::undone`] if
    /// removal fails), a role that existed before for the same request keeps its privileges,
    /// expiry and password, and the outcome carries no password. The per-instance error says
    /// what to fix (e.g. the owner membership SQL).
    ///
    /// # Errors
    /// Before any change: a resource naming an instance the integration does not select,
    /// discovery failing as a whole, a reason too long for the role's record. Per-instance
    /// failures are in the result.
    pub async fn grant(&self, request: &AccessRequest) -> Result<GrantOutcome, AccessError> {
        self.allowed_by_flows(request)?;
        let expires_at = self.now() + request.duration().as_duration();
        let request_id = request_id_of(request);
        let password = match self.inner.integration.auth() {
            AuthType::Password => Some(Password::generate()),
            _ => None,
        };
        let resolution = self.targets().await?;
        let by_instance = self.group_resources(request.resources(), &resolution)?;
        let targets: BTreeMap<InstanceId, Target> = resolution
            .targets
            .iter()
            .filter(|t| by_instance.contains_key(&t.name))
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let endpoints = targets
            .iter()
            .map(|(name, t)| (name.clone(), t.connect_to.clone()))
            .collect();
        let role = Ident::from(request.grantee());
        let mut record = ManagedRecord::new(
            request_id.as_str(),
            request.level(),
            expires_at,
            self.inner.integration.connector_user().as_str(),
        )
        .with_resources(request.resources().iter().map(ToString::to_string));
        if let Some(approver) = request.approved_by() {
            record = record.with_approver(approver);
        }
        if let Some(reason) = request.reason() {
            record = record.with_reason(reason)?;
        }
        let level = request.level();
        // What each instance found: the role created by this request, or one that existed
        // for it before (with its record). Filled as it happens, so that an instance that
        // times out after creating the role is still undone.
        let found = std::sync::Mutex::new(BTreeMap::<InstanceId, Found>::new());
        let mut instances = self
            .fan_out(resolution, Some(&by_instance), |target, resources| {
                let role = role.clone();
                let record = record.clone();
                let password = password.clone();
                let found = &found;
                async move {
                    self.grant_on(&target, &role, record, password, &resources, level, found)
                        .await
                }
            })
            .await;
        let found = found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A re-run's fresh password is set only once every instance is granted: a failed
        // request leaves the earlier password in place.
        if let Some(password) = &password
            && instances.all_ok()
        {
            for (name, _) in found
                .iter()
                .filter(|(_, f)| matches!(f, Found::Existing(_)))
            {
                if let Some(target) = targets.get(name)
                    && let Err(e) = self.set_password_on(target, &role, password).await
                {
                    instances.results.insert(name.clone(), Err(e));
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
            let created: Vec<&Target> = found
                .iter()
                .filter(|(_, f)| matches!(f, Found::Created))
                .filter_map(|(name, _)| targets.get(name))
                .collect();
            let results = futures_util::future::join_all(
                created
                    .iter()
                    .map(|target| self.undo_created(target, &role, &request_id)),
            )
            .await;
            for (target, result) in created.into_iter().zip(results) {
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
                        "a failed grant's role could not be removed again");
                }
                undone.insert(target.name.clone(), result);
            }
        }
        let complete = instances.all_ok();
        // The expiry the role really has: a role found for this request keeps its own.
        let expires_at = found
            .values()
            .map(|f| match f {
                Found::Existing(existing) => existing.expires_at,
                Found::Created => record.expires_at,
            })
            .min()
            .unwrap_or(record.expires_at);
        self.audit()
            .grant(request, &request_id, expires_at, &instances, &undone);
        Ok(GrantOutcome {
            user: request.grantee().clone(),
            password: password.filter(|_| complete).map(|p| p.expose().clone()),
            expires_at,
            level,
            request_id,
            endpoints,
            instances,
            undone,
        })
    }

    /// Removes the role a failed grant created on `target` (as a revoke does). First, on its
    /// own time budget and before any lock (whose public key anybody may hold), its login is
    /// disabled and its sessions ended, so that whatever happens next, nobody logs in with
    /// it. A role whose record no longer carries `request_id` (another request's) is left
    /// alone.
    pub(super) async fn undo_created(
        &self,
        target: &Target,
        role: &Ident,
        request_id: &str,
    ) -> Result<(), AccessError> {
        let home = self.inner.integration.database().as_str();
        let disable = async {
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            still_ours(&session, role, request_id).await?;
            session.disable_login(role).await?;
            Ok::<_, AccessError>(())
        };
        let budget = self.inner.options.instance_timeout.min(UNDO_DISABLE_BUDGET);
        let disabled = match tokio::time::timeout(budget, disable).await {
            Ok(result) => result,
            Err(_) => Err(AccessError::Timeout {
                instance: target.name.clone(),
                seconds: budget.as_secs(),
            }),
        };
        match &disabled {
            // Gone already: nothing to undo.
            Err(AccessError::Grants(GrantsError::RoleNotFound { .. })) => return Ok(()),
            // Another request's role now: never undone here.
            Err(AccessError::Grants(GrantsError::RoleInUse { .. })) => return disabled,
            Err(e) => {
                tracing::error!(instance = %target.name, user = %role, error = %crate::error_chain(e),
                    "could not disable the login of a failed grant's role; removing it anyway");
            }
            Ok(()) => {}
        }
        let undo = async {
            let _role_lock = self.role_lock(target, role).await?;
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            // Under the lock, again: still this request's role.
            match still_ours(&session, role, request_id).await {
                Err(AccessError::Grants(GrantsError::RoleNotFound { .. })) => return Ok(()),
                other => other?,
            }
            match session
                .revoke_role(role, &self.database_connector(target))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    // The first attempt failed: at least the login, once more.
                    if disabled.is_err()
                        && let Err(disable) = session.disable_login(role).await
                    {
                        tracing::error!(instance = %target.name, user = %role,
                            error = %crate::error_chain(&disable), "could not disable the login either");
                    }
                    Err(AccessError::from(e))
                }
            }
        };
        let timeout = self.inner.options.instance_timeout;
        match tokio::time::timeout(timeout, undo).await {
            Ok(result) => result,
            Err(_) => Err(AccessError::Timeout {
                instance: target.name.clone(),
                seconds: timeout.as_secs(),
            }),
        }
    }

    pub(super) async fn set_password_on(
        &self,
        target: &Target,
        role: &Ident,
        password: &Password,
    ) -> Result<(), AccessError> {
        let connection = self
            .pooled(target, self.inner.integration.database().as_str())
            .await?;
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        Ok(session.set_password(role, password).await?)
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

    /// The SQL a grant would run, per instance and database, without changing anything (roles
    /// that do not exist yet are planned as if empty). A role the real grant would refuse (not
    /// managed by this library, or managed for another request) is refused here too.
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
        let level = request.level();
        let request_id = request_id_of(request);
        let request_id = &request_id;
        Ok(self
            .fan_out(resolution, Some(&by_instance), |target, resources| {
                let role = role.clone();
                async move {
                    // The marks are checked as the real grant checks them: an unmanaged role,
                    // or one of another request or level, is refused; a missing one is new.
                    let home = self.pooled(&target, self.inner.integration.database().as_str());
                    let home = home.await?;
                    let session = Session::new(home.client(), self.inner.grants.clone()).await?;
                    match session.managed_role(&role).await {
                        Ok(existing) => {
                            check_same_request(&role, &existing.record, request_id, level)?
                        }
                        Err(GrantsError::RoleNotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                    drop(session);
                    drop(home);
                    let mut plans = Vec::new();
                    for (database, scopes) in by_database(&resources) {
                        let connection = self.pooled(&target, database.as_str()).await?;
                        let session =
                            Session::new(connection.client(), self.inner.grants.clone()).await?;
                        let grants = grants_for(&scopes, level);
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

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn grant_on(
        &self,
        target: &Target,
        role: &Ident,
        record: ManagedRecord,
        password: Option<Password>,
        resources: &[ResourceRef],
        level: integration_model::AccessLevel,
        found: &std::sync::Mutex<BTreeMap<InstanceId, Found>>,
    ) -> Result<Vec<DatabasePlan>, AccessError> {
        // No other grant, extension or revocation of this role on this instance interleaves,
        // whatever the home database of the integration running it.
        let _role_lock = self.role_lock(target, role).await?;
        let home = self.inner.integration.database().as_str();
        let connection = self.pooled(target, home).await?;
        // One session per database, the role's marks read once (by `create_or_complete`).
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        let request_id = record.request_id.clone();
        let auth = match password {
            Some(p) => LoginAuth::Password(p),
            None => LoginAuth::Iam,
        };
        let RoleOnInstance {
            outcome,
            role: mut managed,
            ..
        } = session
            .create_or_complete(&NewRole::new(role.clone(), auth, record))
            .await?;
        let this = match outcome {
            CreateOutcome::AlreadyExists(existing) => {
                check_same_request(role, &existing, &request_id, level)?;
                Found::Existing(existing)
            }
            _ => Found::Created,
        };
        found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(target.name.clone(), this);
        let mut applied = Vec::new();
        for (database, scopes) in by_database(resources) {
            let grants = grants_for(&scopes, level);
            let report = if database.as_str() == home {
                session.apply_to(&mut managed, &grants).await?
            } else {
                let other = self.pooled(target, database.as_str()).await?;
                Session::new(other.client(), self.inner.grants.clone())
                    .await?
                    .apply_to(&mut managed, &grants)
                    .await?
            };
            applied.push(DatabasePlan {
                database: database.to_string(),
                sql: report
                    .plan
                    .statements()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        Ok(applied)
    }
}
