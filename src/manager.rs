//! [`AccessManager`]: one integration, every instance it selects.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use integration_model::{
    AccessRequest, AuthType, Identifier, InstanceId, Integration, ResourcePath, ResourceRef,
    ResourceType,
};
use pg_auth::{
    Clock, ConnectOptions, Connection, Pool, PoolObject, PoolOptions, RootCertificates, SdkConfig,
    SystemClock,
};
use pg_grants::inventory::InventoryItem;
use pg_grants::password::Password;
use pg_grants::plan::Inspection;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{
    CreateOutcome, GrantsError, LockHolder, ManagedRecord, RevokeReport, Scope, Session,
    Settings as GrantsSettings,
};
use rds_discovery::{AwsDirectory, AwsOptions, InstanceDirectory, StaticDirectory};
use time::OffsetDateTime;

use crate::credentials::{ConnectorCredentials, IntegrationCredentials};
use crate::error::AccessError;
use crate::report::{
    DatabasePlan, FleetObserver, FleetReport, GrantOutcome, InstanceOutcome, IntegrationPolicies,
    InventoryCounts, InventoryEntry, SweepReport, SweptFailure, SweptRole,
};
use crate::target::{Resolution, Target, resolve_targets};

/// The job-lock name of sweeps.
const SWEEP_JOB: &str = "sweep";

/// How long a failed grant's undo may spend disabling the role's login, before (and apart
/// from) removing it.
const UNDO_DISABLE_BUDGET: Duration = Duration::from_secs(30);

/// The namespace of per-role operation locks, taken in the lock database.
const ROLE_LOCK: &str = "rdspg-role";

/// An extension of a managed role's access (see [`AccessManager::extend`]).
///
/// ```
/// use rds_pg_access::ExtendRequest;
/// let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
/// let request = ExtendRequest::new("alice".parse()?, until).approved_by("carol");
/// assert_eq!(request.approved_by.as_deref(), Some("carol"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtendRequest {
    /// The managed database user.
    pub user: Identifier,
    /// The new expiry.
    pub until: OffsetDateTime,
    /// Who approved the extension, when an access flow needs an approver.
    pub approved_by: Option<String>,
}

impl ExtendRequest {
    /// Extends `user` until `until`, without an approver.
    pub fn new(user: Identifier, until: OffsetDateTime) -> Self {
        Self {
            user,
            until,
            approved_by: None,
        }
    }

    /// Extends `user` for `duration` counted from `now` (whole seconds, as a role's
    /// `VALID UNTIL` keeps them), without an approver.
    ///
    /// ```
    /// use rds_pg_access::ExtendRequest;
    /// let now = time::macros::datetime!(2026-12-06 10:00:00.75 UTC);
    /// let request = ExtendRequest::lasting("alice".parse()?, "2h".parse()?, now);
    /// assert_eq!(request.until, time::macros::datetime!(2026-12-06 12:00:00 UTC));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lasting(
        user: Identifier,
        duration: integration_model::AccessDuration,
        now: OffsetDateTime,
    ) -> Self {
        let until = now + duration.as_duration();
        Self::new(user, until.replace_nanosecond(0).unwrap_or(until))
    }

    /// Names the approver (checked as a grant's approver is).
    #[must_use]
    pub fn approved_by(mut self, approver: impl Into<String>) -> Self {
        self.approved_by = Some(approver.into());
        self
    }
}

/// How an [`AccessManager`] fans out over instances.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// Instances worked on at once (default 8).
    pub concurrency: usize,
    /// How long one instance may take for one operation before it is reported as timed out
    /// and the others go on (default 120 s).
    pub instance_timeout: Duration,
    /// Connect timeout per connection (default 10 s).
    pub connect_timeout: Duration,
    /// Connections kept per instance and database for grants, plans and inspections
    /// (default 4). Jobs that hold session-level locks (sweep, rotate, revoke) use dedicated
    /// connections, so that a lock always ends with its connection; inventories and syncs use
    /// dedicated short-lived ones too, so that a slow consumer never holds these.
    pub pool_size: usize,
    /// A pool unused this long is closed by [`AccessManager::close_idle_pools`] as the
    /// scheduler calls it (default 5 minutes).
    pub pool_idle: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            instance_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            pool_size: 4,
            pool_idle: Duration::from_secs(300),
        }
    }
}

impl ManagerOptions {
    /// Sets how many instances are worked on at once (at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets the per-instance timeout.
    #[must_use]
    pub fn instance_timeout(mut self, timeout: Duration) -> Self {
        self.instance_timeout = timeout;
        self
    }

    /// Sets the connections kept per instance and database (at least 1).
    #[must_use]
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// Sets how long an unused pool stays open.
    #[must_use]
    pub fn pool_idle(mut self, idle: Duration) -> Self {
        self.pool_idle = idle;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// Acts for one integration: discovery → credentials → TLS → connections → grants, over every
/// instance the integration selects (discovered afresh for each operation), with bounded
/// concurrency and a result per instance. It keeps no state of its own: what it manages is
/// marked in the databases, so any replica, after any restart, finds it.
///
/// ```no_run
/// use rds_pg_access::AccessManager;
/// use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = Settings::from_toml_str(r#"
///     name = "local"
///     region = "us-east-1"
///     auth = "password"
///     ssl_mode = "disable"
///     [secret]
///     env = "CONNECTOR_PASSWORD"
///     [endpoint]
///     host = "127.0.0.1"
///     port = 5432
/// "#)?;
/// let integration = settings.get("local").expect("named").clone();
/// let manager = AccessManager::from_integration(integration).await?;
/// let request = AccessRequest::builder(
///         "alice".parse()?, AccessLevel::ReadOnly, "2h".parse::<AccessDuration>()?)
///     .resource(manager.integration().resource_path("appdb/sales")?)
///     .build()?;
/// let granted = manager.grant(&request).await?;
/// for (instance, outcome) in &granted.instances.results {
///     println!("{instance}: {}", if outcome.is_ok() { "ok" } else { "failed" });
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AccessManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    integration: Integration,
    directory: Arc<dyn InstanceDirectory>,
    credentials: Arc<dyn ConnectorCredentials>,
    roots: Option<RootCertificates>,
    grants: GrantsSettings,
    options: ManagerOptions,
    clock: Arc<dyn Clock>,
    /// The AWS configuration the manager was built with (Secrets Manager calls of `rotate`).
    aws: Option<SdkConfig>,
    audit: Option<Arc<dyn crate::audit::AuditSink>>,
    observer: Option<Arc<dyn FleetObserver>>,
    /// One pool per instance and database, created when first needed, closed when idle.
    pools: std::sync::Mutex<HashMap<(InstanceId, String), PoolEntry>>,
}

struct PoolEntry {
    pool: Pool,
    /// Where the pool connects; a pool is replaced when discovery moves the instance.
    connect_to: integration_model::Endpoint,
    last_used: Instant,
}

impl std::fmt::Debug for PoolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolEntry")
            .field("connect_to", &self.connect_to)
            .field("last_used", &self.last_used)
            .finish_non_exhaustive()
    }
}

/// A connection of the connector from an instance's pool, returned to it when dropped. Work
/// that takes session-level locks uses a dedicated [`Connection`] instead, which closes (and
/// releases every such lock) when dropped, also when the work is cancelled.
pub(crate) struct Pooled(PoolObject);

impl Pooled {
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        &self.0
    }
}

/// A dedicated connection to an instance's lock database
/// ([`Integration::lock_database`]), for session-level advisory locks.
///
/// PostgreSQL advisory locks belong to one database, so locks taken in each integration's
/// home database would not exclude each other when two integrations of one instance have
/// different `database`s. Every job lock (`sweep`, `sync:<integration>`, `rotate`) and every
/// per-role operation lock is taken here instead, one database per instance. The connection
/// is never pooled: its locks end when it is dropped, also when the work is cancelled or the
/// process dies (the server ends the session).
pub(crate) struct LockSession {
    connection: Connection,
    grants: GrantsSettings,
}

impl LockSession {
    /// The connection (to run statements that must hold this session's locks).
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        self.connection.client()
    }

    /// Takes job lock `job` (see [`Session::try_job_lock`]), or says who holds it: another
    /// session, from any integration or replica, or a squatter. The key is public and any login role may
    /// take it: a lock held by a session without `CREATEROLE` is squatted
    /// ([`JobLock::Squatted`], logged as a warning), and the job runs anyway (nothing
    /// legitimate holds it); one held by connectors only is [`JobLock::Busy`].
    pub(crate) async fn job_lock(
        &self,
        instance: &InstanceId,
        job: &str,
    ) -> Result<JobLock, AccessError> {
        let session = Session::new(self.connection.client(), self.grants.clone()).await?;
        if session.try_job_lock(job).await? {
            return Ok(JobLock::Taken);
        }
        let squatters: Vec<LockHolder> = session
            .job_lock_holders(job)
            .await?
            .into_iter()
            .filter(LockHolder::is_squatter)
            .collect();
        if squatters.is_empty() {
            return Ok(JobLock::Busy);
        }
        tracing::warn!(%instance, job, squatters = %names(&squatters),
            "a session without CREATEROLE holds the job lock: squatted, running the job anyway");
        Ok(JobLock::Squatted(squatters))
    }

    /// Takes the per-role operation lock of `role` (waiting while a connector holds it;
    /// released by [`LockSession::unlock_role`] or with the connection). When a session
    /// without `CREATEROLE` holds it (any login may take the public key), it is squatted: the
    /// operation goes on without it, and the squatters are returned (empty: the lock is
    /// held here). Callers disable the role's login before, so that nothing here can keep
    /// it alive.
    pub(crate) async fn lock_role(&self, role: &Ident) -> Result<Vec<LockHolder>, GrantsError> {
        let taken = self.role_advisory("pg_try_advisory_lock", role).await?;
        if taken == Some(true) {
            return Ok(Vec::new());
        }
        let squatters = self.role_lock_squatters(role).await?;
        if !squatters.is_empty() {
            return Ok(squatters);
        }
        match self.role_advisory("pg_advisory_lock", role).await {
            Ok(_) => Ok(Vec::new()),
            // A squatter may have taken it between the check and the wait.
            Err(e) if e.sqlstate() == Some("55P03") => {
                let squatters = self.role_lock_squatters(role).await?;
                if squatters.is_empty() {
                    Err(e)
                } else {
                    Ok(squatters)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn role_lock_squatters(&self, role: &Ident) -> Result<Vec<LockHolder>, GrantsError> {
        let session = Session::new(self.connection.client(), self.grants.clone()).await?;
        let squatters: Vec<LockHolder> = session
            .advisory_lock_holders(&format!("{ROLE_LOCK}:{}", role.as_str()))
            .await?
            .into_iter()
            .filter(LockHolder::is_squatter)
            .collect();
        if !squatters.is_empty() {
            tracing::warn!(user = %role, squatters = %names(&squatters),
                "a session without CREATEROLE holds the per-role lock: squatted, going on without it");
        }
        Ok(squatters)
    }

    /// Releases the per-role operation lock of `role`.
    pub(crate) async fn unlock_role(&self, role: &Ident) -> Result<(), GrantsError> {
        self.role_advisory("pg_advisory_unlock", role)
            .await
            .map(|_| ())
    }

    /// Calls `function` on the role's key; its boolean result, if it has one.
    async fn role_advisory(
        &self,
        function: &str,
        role: &Ident,
    ) -> Result<Option<bool>, GrantsError> {
        // `function` is one of the constants above, never input; the key is a parameter.
        let sql = format!(
            "SELECT pg_catalog.{function}(pg_catalog.hashtextextended($1, 0))::pg_catalog.text"
        );
        let key = format!("{ROLE_LOCK}:{}", role.as_str());
        match self.connection.client().query_one(&sql, &[&key]).await {
            Ok(row) => Ok(row
                .try_get::<_, Option<String>>(0)
                .ok()
                .flatten()
                .map(|t| t == "true")),
            Err(source) => Err(GrantsError::Database {
                action: format!("taking the per-role lock of {role} in the lock database"),
                code: source.code().map(|c| c.code().to_owned()),
                message: source
                    .as_db_error()
                    .map_or_else(|| source.to_string(), |db| db.message().to_owned()),
                source,
            }),
        }
    }
}

/// The outcome of [`LockSession::job_lock`].
#[derive(Debug)]
pub(crate) enum JobLock {
    /// This session holds it.
    Taken,
    /// A connector (another replica or integration) holds it: skip this round.
    Busy,
    /// Only sessions without `CREATEROLE` hold it besides: run the job anyway, and report.
    Squatted(Vec<LockHolder>),
}

/// `a (pid 1), b (pid 2)`.
pub(crate) fn names(holders: &[LockHolder]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The per-role operation lock of one role on one instance, held until dropped (see
/// [`AccessManager::role_lock`]).
pub(crate) struct RoleLock {
    _session: LockSession,
    /// Sessions without `CREATEROLE` that held the lock: the operation went on without it.
    pub(crate) squatters: Vec<LockHolder>,
}

impl AccessManager {
    /// Wires the integration as its settings say: a static directory for `[endpoint]` without
    /// an instance, AWS discovery otherwise; credentials from `[secret]` or IAM tokens; the CA
    /// bundle from `ssl_root_cert`.
    ///
    /// # Errors
    /// An unreadable CA bundle, an invalid AWS option, or a secret reference that cannot be
    /// used.
    pub async fn from_integration(integration: Integration) -> Result<Self, AccessError> {
        let needs_aws = integration.instance().is_some()
            || integration.auth() == AuthType::Iam
            || matches!(
                integration.secret(),
                Some(integration_model::SecretRef::SecretsManager(_))
            );
        let (directory, aws): (Arc<dyn InstanceDirectory>, _) = if needs_aws {
            let options = AwsOptions::from_integration(&integration);
            let aws = options
                .load_sdk_config()
                .await
                .map_err(AccessError::AwsConfig)?;
            let directory: Arc<dyn InstanceDirectory> = if integration.instance().is_some() {
                Arc::new(AwsDirectory::from_options(&options).await?)
            } else {
                Arc::new(StaticDirectory::new())
            };
            (directory, Some(aws))
        } else {
            (Arc::new(StaticDirectory::new()), None)
        };
        let credentials = IntegrationCredentials::from_integration(&integration, aws.as_ref())?;
        Ok(Self::new(integration, directory, Arc::new(credentials))?
            .map_inner(|inner| inner.aws = aws))
    }

    /// As [`AccessManager::from_integration`], with an AWS configuration the caller loaded
    /// (shared with its other AWS clients, or built in tests): discovery, Secrets Manager and
    /// IAM tokens all use it, and the integration's `[aws]` keys are not read.
    ///
    /// # Errors
    /// As [`AccessManager::from_integration`]; a configuration without region or credentials.
    pub fn from_integration_with_aws(
        integration: Integration,
        aws: &SdkConfig,
    ) -> Result<Self, AccessError> {
        let directory: Arc<dyn InstanceDirectory> = if integration.instance().is_some() {
            Arc::new(AwsDirectory::from_sdk_config(aws)?)
        } else {
            Arc::new(StaticDirectory::new())
        };
        let credentials = IntegrationCredentials::from_integration(&integration, Some(aws))?;
        Ok(Self::new(integration, directory, Arc::new(credentials))?
            .map_inner(|inner| inner.aws = Some(aws.clone())))
    }

    /// Wires the integration with the given seams: where instances are found and which
    /// credentials log the connector in (e.g. a static directory and a test password).
    ///
    /// # Errors
    /// An unreadable CA bundle (`ssl_root_cert`).
    pub fn new(
        integration: Integration,
        directory: Arc<dyn InstanceDirectory>,
        credentials: Arc<dyn ConnectorCredentials>,
    ) -> Result<Self, AccessError> {
        let roots = integration
            .ssl_root_cert()
            .map(RootCertificates::from_pem_file)
            .transpose()?;
        // Revoked users' objects go to per-user holders named with the prefix `holder_role`.
        let grants = GrantsSettings::default().reassign_to(integration.holder_role().into());
        Ok(Self {
            inner: Arc::new(Inner {
                integration,
                directory,
                credentials,
                roots,
                grants,
                options: ManagerOptions::default(),
                clock: Arc::new(SystemClock),
                aws: None,
                audit: None,
                observer: None,
                pools: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Uses these fan-out options.
    #[must_use]
    pub fn with_options(self, options: ManagerOptions) -> Self {
        self.map_inner(|inner| inner.options = options)
    }

    /// Tells `observer` about each instance of a fleet operation as soon as it finishes, so
    /// that results stream (a progress display, an early alert) instead of arriving all at
    /// the end; the operation's [`FleetReport`] still holds every result.
    #[must_use]
    pub fn with_observer(self, observer: Arc<dyn FleetObserver>) -> Self {
        self.map_inner(|inner| inner.observer = Some(observer))
    }

    /// Uses `clock` for expiries and sweep decisions (tests move time forward without
    /// sleeping).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.map_inner(|inner| inner.clock = clock)
    }

    /// Uses these `pg-grants` settings (level table, marker role, holder role), replacing those
    /// built from the integration (its `holder_role`).
    #[must_use]
    pub fn with_grants_settings(self, settings: GrantsSettings) -> Self {
        self.map_inner(|inner| inner.grants = settings)
    }

    /// Writes an audit record to `sink` for every grant, extend, revoke and swept role, per
    /// instance (see [`audit`](crate::audit)).
    #[must_use]
    pub fn with_audit(self, sink: Arc<dyn crate::audit::AuditSink>) -> Self {
        self.map_inner(|inner| inner.audit = Some(sink))
    }

    /// The audit records of an operation finishing now.
    pub(crate) fn audit(&self) -> crate::audit::Emitter<'_> {
        let integration = &self.inner.integration;
        crate::audit::Emitter::new(
            self.inner.audit.as_deref(),
            integration.name().as_str(),
            integration.connector_user().as_str(),
            self.now(),
        )
    }

    fn map_inner(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                integration: shared.integration.clone(),
                directory: Arc::clone(&shared.directory),
                credentials: Arc::clone(&shared.credentials),
                roots: shared.roots.clone(),
                grants: shared.grants.clone(),
                options: shared.options.clone(),
                clock: Arc::clone(&shared.clock),
                aws: shared.aws.clone(),
                audit: shared.audit.clone(),
                observer: shared.observer.clone(),
                pools: std::sync::Mutex::new(HashMap::new()),
            },
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The fan-out options in use.
    pub fn options(&self) -> &ManagerOptions {
        &self.inner.options
    }

    /// The `pg-grants` settings in use.
    pub fn grants_settings(&self) -> &GrantsSettings {
        &self.inner.grants
    }

    /// The manager's clock, second precision, UTC.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::from(self.inner.clock.now());
        now.replace_nanosecond(0).unwrap_or(now)
    }

    /// The AWS configuration the manager was built with, if any.
    pub(crate) fn aws_config(&self) -> Option<&SdkConfig> {
        self.inner.aws.as_ref()
    }

    /// The integration this manager acts for.
    pub fn integration(&self) -> &Integration {
        &self.inner.integration
    }

    /// Reads a resource path as this integration's resources are written: the full form
    /// `INSTANCE/DATABASE[/SCHEMA[/TABLE]]`, or without the instance when the integration has
    /// one instance (its `instance.id`, or a fixed `[endpoint]`, whose target is
    /// [`LOCAL_TARGET`](crate::LOCAL_TARGET)).
    ///
    /// # Errors
    /// [`AccessError::Model`] naming the bad part.
    pub fn resource_path(&self, text: &str) -> Result<ResourcePath, AccessError> {
        let integration = &self.inner.integration;
        if integration.instance().is_none() {
            let local = crate::target::local_name();
            return Ok(ResourcePath::parse_in(text, Some(&local))?);
        }
        Ok(integration.resource_path(text)?)
    }

    /// The integration's targets now (discovery runs afresh).
    ///
    /// # Errors
    /// Discovery errors that concern the whole selection.
    pub async fn targets(&self) -> Result<Resolution, AccessError> {
        let resolution =
            resolve_targets(&self.inner.integration, self.inner.directory.as_ref()).await?;
        // Credential sources of instances discovery no longer returns go (bounded cache).
        let current: Vec<InstanceId> = (resolution.targets.iter().map(|t| t.name.clone()))
            .chain(resolution.unusable.iter().map(|(name, _)| name.clone()))
            .collect();
        self.inner.credentials.retain_targets(&current);
        Ok(resolution)
    }

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
                    tracing::error!(instance = %target.name, user = %role, error = %e,
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
    async fn undo_created(
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
                tracing::error!(instance = %target.name, user = %role, error = %e,
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
                            error = %disable, "could not disable the login either");
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

    async fn set_password_on(
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

    /// Revokes the managed role `user` everywhere the integration reaches: no new logins, its
    /// sessions ended, its objects reassigned (never dropped), its privileges removed in every
    /// database, the role dropped. Roles the library did not create are refused, unchanged.
    /// One revocation of a role per instance runs at a time, also across integrations with
    /// different home databases: each holds the role's lock in the instance's `lock_database`.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn revoke(
        &self,
        user: &Identifier,
    ) -> Result<FleetReport<RevokeReport>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let report = self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let connection = self
                        .connect(&target, self.inner.integration.database().as_str())
                        .await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    // First, before any lock (whose public key anybody may hold): no login,
                    // no session left, whatever happens next.
                    let ended = match session.disable_login(&role).await {
                        Ok(ended) => ended,
                        // Nothing to revoke here (the revocation reports it so).
                        Err(GrantsError::RoleNotFound { .. }) => 0,
                        Err(e) => return Err(e.into()),
                    };
                    // One operation on this role at a time, whatever the home database.
                    let role_lock = self.role_lock(&target, &role).await?;
                    if !role_lock.squatters.is_empty() {
                        tracing::warn!(instance = %target.name, user = %role,
                            squatters = %names(&role_lock.squatters),
                            "revoking without the per-role lock, which sessions without CREATEROLE hold");
                    }
                    let connector = self.database_connector(&target);
                    let mut report = session.revoke_role(&role, &connector).await?;
                    report.sessions_terminated += ended;
                    Ok(report)
                }
            })
            .await;
        self.audit().revoke(user, &report);
        Ok(report)
    }

    /// Revokes every managed role whose expiry has passed, on every instance, found from the
    /// marks in the databases themselves (no local state): it works after any restart, and for
    /// IAM users, whom `VALID UNTIL` does not stop. Each role is revoked as
    /// [`AccessManager::revoke`] does. Replicas sweeping at once do not conflict: one sweep
    /// of an instance runs at a time (a session-level advisory lock on that instance, in its
    /// `lock_database`, whatever the integration's home database; the others report it as
    /// skipped), and a role another replica already dropped counts as
    /// done.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sweep(&self) -> Result<FleetReport<SweepReport>, AccessError> {
        self.sweep_until(None).await
    }

    /// Disables the login of every expired managed role on `target` that can still log in,
    /// each on its own, taking no lock (see [`Session::disable_login`]); failures are logged
    /// (the sweep that holds the instance's job lock reports them).
    async fn disable_expired_logins(&self, target: &Target, now: OffsetDateTime) {
        let home = self.inner.integration.database().as_str();
        let result = async {
            let connection = self.connect(target, home).await?;
            let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
            for role in session.managed_roles().await? {
                if role.can_login
                    && role.record.is_expired(now)
                    && let Err(error) = session.disable_login(&role.name).await
                {
                    tracing::error!(instance = %target.name, user = %role.name, %error,
                        "could not disable the login of an expired user");
                }
            }
            Ok::<(), AccessError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::error!(instance = %target.name, %error,
                "could not disable the logins of expired users");
        }
    }

    /// As [`AccessManager::sweep`]; once `stop` is cancelled, each instance finishes the
    /// revocation in flight and starts no other (the rest waits for the next sweep). The
    /// service's sweep job runs this with its shutdown token.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sweep_until(
        &self,
        stop: Option<&tokio_util::sync::CancellationToken>,
    ) -> Result<FleetReport<SweepReport>, AccessError> {
        let resolution = self.targets().await?;
        let now = self.now();
        Ok(self
            .fan_out(resolution, None, |target, _| async move {
                // One sweep of an instance at a time across replicas and integrations (in the
                // lock database); the others skip it this round. The lock goes with the
                // connection, also when this process dies.
                let locks = self.lock_session(&target).await?;
                // A lock held only by sessions without CREATEROLE is squatted: the sweep runs
                // anyway and the report names them (a failure of the instance's run).
                let mut lock_squatters = match locks.job_lock(&target.name, SWEEP_JOB).await? {
                    JobLock::Taken => Vec::new(),
                    JobLock::Squatted(squatters) => squatters,
                    JobLock::Busy => {
                        // Whoever holds the lock (another replica, or a role that only looks
                        // like one, or a prepared transaction nobody can end), no expired user
                        // keeps its login meanwhile: disabling a login takes no lock.
                        self.disable_expired_logins(&target, now).await;
                        return Ok(SweepReport {
                            skipped: true,
                            swept: Vec::new(),
                            failed: Vec::new(),
                            active: None,
                            lock_squatters: Vec::new(),
                        });
                    }
                };
                let home = self.inner.integration.database().as_str();
                let connection = self.connect(&target, home).await?;
                let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
                // Before PostgreSQL 16 a user marked the 0.1.0 way may SET ROLE to the marker:
                // re-mark every such user first (each on its own; failures are logged).
                match session.migrate_marks().await {
                    Ok(moved) if !moved.is_empty() => {
                        tracing::info!(instance = %target.name, roles = moved.len(),
                            "re-marked roles marked the 0.1.0 way");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(instance = %target.name, %error,
                            "could not list roles to re-mark");
                    }
                }
                let (expired, active): (Vec<_>, Vec<_>) = session
                    .managed_roles()
                    .await?
                    .into_iter()
                    .partition(|r| r.record.is_expired(now));
                // First, quickly, no expired role logs in any more (IAM users do not check
                // VALID UNTIL); then each is revoked on its own: one that cannot be revoked is
                // reported and the sweep goes on with the next.
                let mut disabled: BTreeMap<String, Result<u64, GrantsError>> = BTreeMap::new();
                for role in expired.iter().filter(|r| r.can_login) {
                    let result = session.disable_login(&role.name).await;
                    disabled.insert(role.name.to_string(), result);
                }
                let mut swept = Vec::new();
                let mut failed = Vec::new();
                for role in expired {
                    if stop.is_some_and(tokio_util::sync::CancellationToken::is_cancelled) {
                        break;
                    }
                    let disabled = disabled.remove(role.name.as_str());
                    let ended_before = disabled.as_ref().and_then(|d| d.as_ref().ok()).copied();
                    match self
                        .revoke_role_locked(
                            &locks,
                            &session,
                            &role.name,
                            &target,
                            &mut lock_squatters,
                        )
                        .await
                    {
                        Ok(mut report) => {
                            report.sessions_terminated += ended_before.unwrap_or(0);
                            let role = SweptRole {
                                user: role.name.to_string(),
                                expired_at: role.record.expires_at,
                                request_id: role.record.request_id.clone(),
                                dropped_here: report.dropped,
                                report,
                            };
                            // As each role goes: a replica that dies mid-sweep has recorded
                            // its part.
                            self.audit().swept(&target.name, &role);
                            swept.push(role);
                        }
                        Err(error) => {
                            self.audit().sweep_failed(&target.name, &role, &error);
                            tracing::error!(instance = %target.name, user = %role.name,
                                %error, "an expired user could not be revoked");
                            // Whether it can still log in, as the server says now.
                            let login_disabled = match session.managed_role(&role.name).await {
                                Ok(now) => !now.can_login,
                                Err(_) => !role.can_login || ended_before.is_some(),
                            };
                            let error = match disabled {
                                Some(Err(disable)) => AccessError::SweepFailed {
                                    revoke: Box::new(error),
                                    disable_login: Some(Box::new(disable)),
                                },
                                _ => AccessError::SweepFailed {
                                    revoke: Box::new(error),
                                    disable_login: None,
                                },
                            };
                            failed.push(SweptFailure {
                                user: role.name.to_string(),
                                request_id: role.record.request_id.clone(),
                                expired_at: role.record.expires_at,
                                login_disabled,
                                error,
                            });
                        }
                    }
                }
                drop(locks); // releases the job lock
                Ok(SweepReport {
                    skipped: false,
                    swept,
                    failed,
                    active: Some(active.len()),
                    lock_squatters,
                })
            })
            .await)
    }

    /// Connections to the other databases of `target`, for a revocation.
    fn database_connector(&self, target: &Target) -> impl pg_grants::DatabaseConnector + '_ {
        let target = target.clone();
        move |database: String| {
            let target = target.clone();
            async move {
                self.connect(&target, &database)
                    .await
                    .map(Connection::into_client)
                    .map_err(|e| GrantsError::Connect {
                        database,
                        source: Box::new(e),
                    })
            }
        }
    }

    /// Opens a [`LockSession`] on `target`'s lock database with the connector's credential.
    pub(crate) async fn lock_session(&self, target: &Target) -> Result<LockSession, AccessError> {
        let source = self.inner.credentials.source_for(target)?;
        self.lock_session_with(target, source.as_ref()).await
    }

    /// As [`AccessManager::lock_session`], logging in with `source` (a rotation logs in with a
    /// chosen stage of the secret). A password the server refuses comes back unchanged, as
    /// [`AccessError::Auth`]; any other failure is [`AccessError::LockDatabase`], naming the
    /// setting.
    pub(crate) async fn lock_session_with(
        &self,
        target: &Target,
        source: &dyn pg_auth::CredentialSource,
    ) -> Result<LockSession, AccessError> {
        let database = self.inner.integration.lock_database().as_str();
        match self.connect_with(target, database, source).await {
            Ok(connection) => Ok(LockSession {
                connection,
                grants: self.inner.grants.clone(),
            }),
            Err(AccessError::Auth(e)) if e.is_authentication_failure() => Err(AccessError::Auth(e)),
            Err(e) => Err(AccessError::LockDatabase {
                instance: target.name.clone(),
                database: database.to_owned(),
                source: Box::new(e),
            }),
        }
    }

    /// Takes the per-role operation lock of `role` on `target` (waiting while another holds
    /// it) in the instance's lock database, on a dedicated connection; held until the guard
    /// is dropped. Revocations (also those of sweeps and of a failed grant's undo), grants and
    /// extensions take it, so that no two operations on one role interleave whatever the home
    /// database of the integration that runs them.
    pub(crate) async fn role_lock(
        &self,
        target: &Target,
        role: &Ident,
    ) -> Result<RoleLock, AccessError> {
        let session = self.lock_session(target).await?;
        let squatters = session.lock_role(role).await?;
        Ok(RoleLock {
            _session: session,
            squatters,
        })
    }

    /// Revokes `role` on `target` through `session` while holding its per-role lock on
    /// `locks` (a sweep's lock session, which also holds the sweep's job lock).
    async fn revoke_role_locked(
        &self,
        locks: &LockSession,
        session: &Session<'_>,
        role: &Ident,
        target: &Target,
        squatters: &mut Vec<LockHolder>,
    ) -> Result<RevokeReport, GrantsError> {
        // The login was disabled first (see the sweep); a squatted lock is gone without.
        for squatter in locks.lock_role(role).await? {
            if !squatters.contains(&squatter) {
                squatters.push(squatter);
            }
        }
        let result = session
            .revoke_role(role, &self.database_connector(target))
            .await;
        // The lock also ends with the connection; a failure to release it changes nothing.
        let _ = locks.unlock_role(role).await;
        result
    }

    /// Changes the expiry of the managed role `request.user` on every instance where it
    /// exists, to `request.until`. Checked on each instance before anything changes there:
    /// the role must still log in (a role whose revocation started is refused,
    /// [`AccessError::RevocationStarted`]), and the extension must pass the integration's
    /// access flows as a grant of the role's level and resources (from its record) for the
    /// time from now until `until` would, with the approver the request names
    /// ([`AccessError::ExtendNotAllowed`]). With flows configured, a role whose record names
    /// no resources (made before they were recorded) is refused.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn extend(
        &self,
        request: &ExtendRequest,
    ) -> Result<FleetReport<Option<ManagedRecord>>, AccessError> {
        let resolution = self.targets().await?;
        let user = &request.user;
        let until = request.until;
        let role = Ident::from(user);
        let now = self.now();
        let report = self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                async move {
                    let _role_lock = self.role_lock(&target, &role).await?;
                    let connection = self
                        .connect(&target, self.inner.integration.database().as_str())
                        .await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    let current = match session.managed_role(&role).await {
                        Ok(current) => current,
                        Err(GrantsError::RoleNotFound { .. }) => return Ok(None),
                        Err(e) => return Err(e.into()),
                    };
                    if !current.can_login {
                        return Err(AccessError::RevocationStarted {
                            instance: target.name.clone(),
                            user: role.to_string(),
                        });
                    }
                    self.extension_allowed(&target, request, &current.record, now)?;
                    Ok(Some(session.set_expiry(&role, until).await?))
                }
            })
            .await;
        self.audit()
            .extend(user, until, request.approved_by.as_deref(), &report);
        Ok(report)
    }

    /// Checks an extension against the access flows as a grant of the role's recorded level
    /// and resources, for the time from `now` to the new expiry.
    fn extension_allowed(
        &self,
        target: &Target,
        request: &ExtendRequest,
        record: &ManagedRecord,
        now: OffsetDateTime,
    ) -> Result<(), AccessError> {
        let flows = self.inner.integration.access_flows();
        if flows.is_empty() {
            return Ok(());
        }
        let refuse = |reason: String| AccessError::ExtendNotAllowed {
            instance: target.name.clone(),
            user: request.user.to_string(),
            reason,
        };
        let seconds = (request.until - now).whole_seconds();
        let duration = u64::try_from(seconds)
            .ok()
            .and_then(|s| integration_model::AccessDuration::from_secs(s).ok())
            .ok_or_else(|| {
                refuse(format!(
                    "the new expiry is {seconds} s from now, outside what any access can last"
                ))
            })?;
        let resources = record
            .resources
            .iter()
            .map(|r| r.parse::<ResourcePath>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refuse(format!("its record holds an unreadable resource: {e}")))?;
        if resources.is_empty() {
            return Err(refuse(
                "its record names no resources to check against the access flows; \
                 grant anew instead"
                    .to_owned(),
            ));
        }
        let mut as_grant = AccessRequest::builder(request.user.clone(), record.level, duration)
            .resources(resources);
        if let Some(approver) = &request.approved_by {
            as_grant = as_grant.approved_by(approver);
        }
        let as_grant = as_grant.build()?;
        integration_model::check_flows(flows, &as_grant)
            .map(|_| ())
            .map_err(|refusal| refuse(refusal.to_string()))
    }

    /// The privileges the role `user` holds now, per instance and database (all databases the
    /// connector can reach, or only `database`). One catalog query per database.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn inspect(
        &self,
        user: &Identifier,
        database: Option<&Identifier>,
    ) -> Result<FleetReport<Vec<Inspection>>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let only_database = database.map(Ident::from);
        Ok(self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                let only_database = only_database.clone();
                async move {
                    let databases = match only_database {
                        Some(db) => vec![db],
                        None => self.databases(&target).await?,
                    };
                    let mut inspections = Vec::new();
                    for database in databases {
                        let connection = self.pooled(&target, database.as_str()).await?;
                        let session =
                            Session::new(connection.client(), self.inner.grants.clone()).await?;
                        inspections.push(session.inspect(&role, &[]).await?);
                    }
                    Ok(inspections)
                }
            })
            .await)
    }

    /// The inventory of every instance: databases, and in each the schemas and tables (with
    /// kind and owner), one query per database, streamed: every item is handed to `sink` as it
    /// arrives (from several instances at once, so `sink` must be `Sync`), never collected.
    /// The result counts what each instance sent.
    ///
    /// Connections: per instance one dedicated connection at a time (to the database being
    /// read, closed before the next), never one of the pools that grants use, so a slow `sink`
    /// slows only the inventory. A `sink` that blocks should do so off the async workers
    /// (e.g. `tokio::task::block_in_place`).
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn inventory<S>(&self, sink: S) -> Result<FleetReport<InventoryCounts>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        Ok(unlocked(self.inventory_locked(sink, None).await?))
    }

    /// As [`AccessManager::inventory`]; with `job`, each instance first takes that job lock
    /// (in the lock database, held by a dedicated connection until the instance is done) and
    /// is `None` when another replica holds it.
    ///
    /// Connections: never the grant pools. Per instance at most two at a time, each dedicated
    /// and short-lived: the lock session (with `job`) and one connection to the database being
    /// read, opened for that database and closed before the next; rows are read as the sink
    /// takes them. So a slow sink holds one extra connection per instance (times
    /// `concurrency` instances), and grants, plans and inspections keep their pools.
    pub(crate) async fn inventory_locked<S>(
        &self,
        sink: S,
        job: Option<&str>,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let resolution = self.targets().await?;
        let sink = &sink;
        Ok(self
            .fan_out(resolution, None, |target, _| async move {
                let mut counts = InventoryCounts::default();
                let locks = match job {
                    Some(job) => {
                        let locks = self.lock_session(&target).await?;
                        // A lock squatted by a session without CREATEROLE is logged (see
                        // `job_lock`) and the sync runs anyway.
                        if matches!(locks.job_lock(&target.name, job).await?, JobLock::Busy) {
                            return Ok(None);
                        }
                        Some(locks)
                    }
                    None => None,
                };
                let home = self.inner.integration.database().as_str();
                let databases = {
                    let connection = self.connect(&target, home).await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    session.databases().await?
                };
                for info in databases {
                    counts.databases += 1;
                    let name = info.name.to_string();
                    sink(&target.name, &name, &InventoryEntry::Database(info));
                    // Dedicated and closed at the end of this iteration: a slow sink must not
                    // hold a connection of the pools that grants use.
                    let connection = self.connect(&target, &name).await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    let mut items = std::pin::pin!(session.inventory().await?);
                    while let Some(item) = items.next().await {
                        let entry = match item? {
                            InventoryItem::Schema(schema) => {
                                counts.schemas += 1;
                                InventoryEntry::Schema(schema)
                            }
                            InventoryItem::Table(table) => {
                                counts.tables += 1;
                                InventoryEntry::Table(table)
                            }
                            other => InventoryEntry::Other(format!("{other:?}")),
                        };
                        sink(&target.name, &name, &entry);
                    }
                }
                drop(locks); // releases the job lock
                Ok(Some(counts))
            })
            .await)
    }

    /// The integration's inventory limited to the resource types it syncs
    /// (`resource_types`): databases, schemas and/or tables, streamed to `sink` as
    /// [`AccessManager::inventory`] does.
    ///
    /// # Errors
    /// As [`AccessManager::inventory`].
    pub async fn sync<S>(&self, sink: S) -> Result<FleetReport<InventoryCounts>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        Ok(unlocked(self.sync_locked(sink, None).await?))
    }

    /// As [`AccessManager::sync`], as the service's sync job runs it: each instance under the
    /// job lock `sync:<integration>` (in its lock database), so that replicas do not sync one
    /// instance at once; an instance whose lock another replica holds is `None` (skipped).
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sync_as_job<S>(
        &self,
        sink: S,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let job = format!("sync:{}", self.inner.integration.name());
        self.sync_locked(sink, Some(&job)).await
    }

    /// As [`AccessManager::sync`], with a job lock per instance as
    /// [`AccessManager::inventory_locked`] takes it.
    pub(crate) async fn sync_locked<S>(
        &self,
        sink: S,
        job: Option<&str>,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let types = self.inner.integration.resource_types();
        self.inventory_locked(
            move |instance, database, entry| {
                let wanted = match entry {
                    InventoryEntry::Database(_) => types.contains(ResourceType::Database),
                    InventoryEntry::Schema(_) => types.contains(ResourceType::Schema),
                    InventoryEntry::Table(_) => types.contains(ResourceType::Table),
                    InventoryEntry::Other(_) => false,
                };
                if wanted {
                    sink(instance, database, entry);
                }
            },
            job,
        )
        .await
    }

    /// The IAM policies this integration needs, with real ARNs where discovery knows them:
    /// the connector's `rds-db:connect` policy narrowed to the region, account and resource ids
    /// (the `DbiResourceId` of each instance, the cluster resource id for Aurora), and the
    /// end users' policy narrowed the same way. Without discovery (a fixed endpoint) they keep
    /// the setup guide's wildcards, narrowed to the region.
    ///
    /// # Errors
    /// Discovery failing as a whole; [`AccessError::Policy`] if a discovered id is not valid
    /// in an ARN.
    pub async fn policies(&self) -> Result<IntegrationPolicies, AccessError> {
        let resolution = self.targets().await?;
        let integration = &self.inner.integration;
        let mut accounts = std::collections::BTreeSet::new();
        let mut resource_ids = std::collections::BTreeSet::new();
        for target in &resolution.targets {
            if let Some(instance) = &target.instance {
                if let Some(account) = &instance.account {
                    accounts.insert(account.clone());
                }
                if let Some(id) = instance.iam_resource_id() {
                    resource_ids.insert(id.to_owned());
                }
            }
        }
        // One account narrows the ARN; several (unusual in one region) keep the wildcard.
        let account = (accounts.len() == 1)
            .then(|| accounts.into_iter().next())
            .flatten();
        let mut connector = iam_policy::ConnectorPolicy::builder()
            .db_user(integration.connector_user().as_str())
            .region(integration.region().as_str());
        let mut end_user = iam_policy::EndUserPolicy::builder()
            .region(integration.region().as_str())
            .require_persistent_sub(true);
        if let Some(account) = &account {
            connector = connector.account(account);
            end_user = end_user.account(account);
        }
        for id in &resource_ids {
            connector = connector.resource_id(id);
            end_user = end_user.resource_id(id);
        }
        Ok(IntegrationPolicies {
            connector: connector.build().map_err(AccessError::Policy)?,
            end_user: end_user.build().map_err(AccessError::Policy)?,
            resource_ids: resource_ids.into_iter().collect(),
        })
    }

    /// The databases of `target` the connector may connect to.
    pub(crate) async fn databases(&self, target: &Target) -> Result<Vec<Ident>, AccessError> {
        let home = self.inner.integration.database().as_str();
        let connection = self.pooled(target, home).await?;
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        Ok(session
            .databases()
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect())
    }

    /// Runs `work` on every target (or, with `only`, on the targets it names, each with its
    /// resources), at most `concurrency` at once, each under the per-instance timeout.
    /// Selected instances that cannot be used, and instances `only` names that discovery did
    /// not return usable, are reported as failures; nothing is silently left out.
    pub(crate) async fn fan_out<'a, T, F, Fut>(
        &'a self,
        resolution: Resolution,
        only: Option<&BTreeMap<InstanceId, Vec<ResourceRef>>>,
        work: F,
    ) -> FleetReport<T>
    where
        F: Fn(Target, Vec<ResourceRef>) -> Fut + 'a,
        Fut: Future<Output = Result<T, AccessError>> + 'a,
    {
        let mut results: BTreeMap<InstanceId, InstanceOutcome<T>> = BTreeMap::new();
        let observer = self.inner.observer.as_deref();
        for (name, error) in resolution.unusable {
            if only.is_none_or(|o| o.contains_key(&name)) {
                if let Some(observer) = observer {
                    observer.instance_finished(&name, Err(&error));
                }
                results.insert(name, Err(error));
            }
        }
        let jobs: Vec<(Target, Vec<ResourceRef>)> = resolution
            .targets
            .into_iter()
            .filter_map(|t| match only {
                None => Some((t, Vec::new())),
                Some(o) => o.get(&t.name).cloned().map(|r| (t, r)),
            })
            .collect();
        let timeout = self.inner.options.instance_timeout;
        let work = &work;
        let mut done = stream::iter(jobs)
            .map(|(target, resources)| async move {
                let name = target.name.clone();
                let outcome = match tokio::time::timeout(timeout, work(target, resources)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AccessError::Timeout {
                        instance: name.clone(),
                        seconds: timeout.as_secs(),
                    }),
                };
                (name, outcome)
            })
            .buffer_unordered(self.inner.options.concurrency.max(1));
        while let Some((name, outcome)) = done.next().await {
            if let Err(error) = &outcome {
                tracing::warn!(instance = %name, %error, "instance failed");
            }
            if let Some(observer) = observer {
                observer.instance_finished(&name, outcome.as_ref().map(|_| ()));
            }
            results.insert(name, outcome);
        }
        FleetReport { results }
    }

    /// Splits resources by instance; refuses a resource whose instance the integration does not
    /// select (before anything changes).
    fn group_resources(
        &self,
        resources: &[ResourcePath],
        resolution: &Resolution,
    ) -> Result<BTreeMap<InstanceId, Vec<ResourceRef>>, AccessError> {
        let mut by_instance: BTreeMap<InstanceId, Vec<ResourceRef>> = BTreeMap::new();
        for path in resources {
            let known = resolution
                .targets
                .iter()
                .any(|t| &t.name == path.instance())
                || resolution
                    .unusable
                    .iter()
                    .any(|(n, _)| n == path.instance());
            if !known {
                let selected = resolution
                    .targets
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(AccessError::UnknownInstance {
                    resource: path.to_string(),
                    instance: path.instance().clone(),
                    integration: self.inner.integration.name().to_string(),
                    selected,
                });
            }
            by_instance
                .entry(path.instance().clone())
                .or_default()
                .push(path.resource().clone());
        }
        Ok(by_instance)
    }

    #[allow(clippy::too_many_arguments)]
    async fn grant_on(
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
        let session = Session::new(connection.client(), self.inner.grants.clone()).await?;
        let request_id = record.request_id.clone();
        let auth = match password {
            Some(p) => LoginAuth::Password(p),
            None => LoginAuth::Iam,
        };
        let outcome = session
            .create_role(&NewRole::new(role.clone(), auth, record))
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
        drop(session);
        let mut applied = Vec::new();
        for (database, scopes) in by_database(resources) {
            let other;
            let on = if database.as_str() == home {
                &connection
            } else {
                other = self.pooled(target, database.as_str()).await?;
                &other
            };
            let session = Session::new(on.client(), self.inner.grants.clone()).await?;
            let report = session.apply(role, &grants_for(&scopes, level)).await?;
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

    /// A connection of the connector to `database` on `target` from that pair's pool,
    /// created when first needed; every new physical connection asks the credential source.
    pub(crate) async fn pooled(
        &self,
        target: &Target,
        database: &str,
    ) -> Result<Pooled, AccessError> {
        let key = (target.name.clone(), database.to_owned());
        let existing = {
            let mut pools = self.lock_pools();
            match pools.get_mut(&key) {
                Some(entry) if entry.connect_to == target.connect_to => {
                    entry.last_used = Instant::now();
                    Some(entry.pool.clone())
                }
                _ => None,
            }
        };
        let pool = match existing {
            Some(pool) => pool,
            None => {
                let options = self.connect_options(target, database)?;
                let source = self.inner.credentials.source_for(target)?;
                let pool_options = PoolOptions::builder()
                    .max_size(self.inner.options.pool_size.max(1))
                    .build()?;
                let pool = Pool::new(options, source, pool_options)?;
                self.lock_pools().insert(
                    key,
                    PoolEntry {
                        pool: pool.clone(),
                        connect_to: target.connect_to.clone(),
                        last_used: Instant::now(),
                    },
                );
                pool
            }
        };
        Ok(Pooled(pool.get().await?))
    }

    /// Closes the pools not used for `idle` (a long-running connector calls this every
    /// round; the scheduler does) and returns how many it closed. Connections in use finish
    /// their work first.
    pub fn close_idle_pools(&self, idle: Duration) -> usize {
        let mut pools = self.lock_pools();
        let before = pools.len();
        pools.retain(|_, entry| {
            let keep = entry.last_used.elapsed() < idle;
            if !keep {
                entry.pool.close();
            }
            keep
        });
        before - pools.len()
    }

    /// How many instance-and-database pools are open.
    pub fn open_pools(&self) -> usize {
        self.lock_pools().len()
    }

    fn lock_pools(&self) -> std::sync::MutexGuard<'_, HashMap<(InstanceId, String), PoolEntry>> {
        self.inner
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connects the connector to `database` on `target`.
    pub(crate) async fn connect(
        &self,
        target: &Target,
        database: &str,
    ) -> Result<Connection, AccessError> {
        let source = self.inner.credentials.source_for(target)?;
        self.connect_with(target, database, source.as_ref()).await
    }

    /// Connects to `database` on `target` with the credential of `source` (e.g. one stage of
    /// the connector's secret while rotating it).
    pub(crate) async fn connect_with(
        &self,
        target: &Target,
        database: &str,
        source: &dyn pg_auth::CredentialSource,
    ) -> Result<Connection, AccessError> {
        let options = self.connect_options(target, database)?;
        Ok(pg_auth::connect(&options, source).await?)
    }

    fn connect_options(
        &self,
        target: &Target,
        database: &str,
    ) -> Result<ConnectOptions, AccessError> {
        let mut options = ConnectOptions::builder(target.connect_to.host().as_str())
            .port(target.connect_to.port())
            .dbname(database)
            .ssl_mode(self.inner.integration.ssl_mode())
            .connect_timeout(self.inner.options.connect_timeout)
            .allow_unverified_password(self.inner.integration.allow_unverified_password())
            .application_name("rds-pg-access");
        if let Some(roots) = &self.inner.roots {
            options = options.root_certificates(roots.clone());
        }
        Ok(options.build()?)
    }
}

/// A report of runs without a job lock (never skipped): every count is there.
fn unlocked(report: FleetReport<Option<InventoryCounts>>) -> FleetReport<InventoryCounts> {
    FleetReport {
        results: report
            .results
            .into_iter()
            .map(|(name, outcome)| (name, outcome.map(Option::unwrap_or_default)))
            .collect(),
    }
}

/// Resources of one instance grouped by database, each with its scopes.
fn by_database(resources: &[ResourceRef]) -> BTreeMap<Ident, Vec<Scope>> {
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

fn grants_for(scopes: &[Scope], level: integration_model::AccessLevel) -> Vec<pg_grants::Grant> {
    scopes
        .iter()
        .map(|scope| pg_grants::Grant::new(scope.clone(), level))
        .collect()
}

/// What a grant found on one instance.
#[derive(Debug)]
enum Found {
    /// This request created the role.
    Created,
    /// The role existed for this request, with this record.
    Existing(ManagedRecord),
}

/// Fails with [`GrantsError::RoleInUse`] unless the managed `role`'s record carries
/// `request_id` (a failed grant undoes only its own role).
async fn still_ours(
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
fn request_id_of(request: &AccessRequest) -> String {
    request
        .request_id()
        .map_or_else(|| derived_request_id(request), |id| id.to_string())
}

/// Refuses an existing managed role of another request, or of this request at another level
/// (as `create_role` and the grant refuse them).
fn check_same_request(
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
fn derived_request_id(request: &AccessRequest) -> String {
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
