//! [`AccessManager`]: one integration, every instance it selects.
//!
//! This module wires the manager (construction, options, accessors); each operation has its
//! own file: [`grant`](AccessManager::grant) and [`plan`](AccessManager::plan) in `grant`,
//! `revoke`, `sweep`, `extend`, `inspect`, `inventory` (inventory and sync), `policies`,
//! `check`, `rotate`; the fleet fan-out in `fleet`; connections and pools in `connections`;
//! the lock database's sessions and advisory locks in `locks`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use integration_model::{AuthType, InstanceId, Integration, ResourcePath};
use pg_auth::{Clock, RootCertificates, SdkConfig, SystemClock};
use pg_grants::Settings as GrantsSettings;
use rds_discovery::{AwsDirectory, AwsOptions, InstanceDirectory, StaticDirectory};
use time::OffsetDateTime;

use crate::credentials::{ConnectorCredentials, IntegrationCredentials};
use crate::error::AccessError;
use crate::report::FleetObserver;

mod check;
mod connections;
mod extend;
mod fleet;
mod grant;
mod inspect;
mod inventory;
mod locks;
mod policies;
mod recover;
mod revoke;
mod rotate;
mod sweep;
mod users;

pub use check::{CheckItem, CheckReport};
use connections::PoolEntry;
pub use extend::ExtendRequest;
pub(crate) use locks::{JobLock, LockSession};
pub use rotate::Rotation;

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
    /// How many times an instance's work is run again after it met a read-only server (a
    /// standby or reader where the writer was expected: an Aurora failover, a promoted
    /// replica), each time after discovery runs afresh (default 2). The work that failed
    /// changed nothing on that server (PostgreSQL refuses writes there, SQLSTATE 25006, or the
    /// connection was refused before any statement); every operation completes on a rerun.
    pub failover_retries: u32,
    /// The wait before the first such retry, doubled for each next one (default 2 s: Aurora
    /// moves its cluster endpoint to the new writer within seconds).
    pub failover_delay: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            instance_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            pool_size: 4,
            pool_idle: Duration::from_secs(300),
            failover_retries: 2,
            failover_delay: Duration::from_secs(2),
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

    /// Sets how many times an instance's work is retried after meeting a read-only server,
    /// and the wait before the first retry (doubled for each next one).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rds_pg_access::ManagerOptions;
    /// let options = ManagerOptions::default().failover(3, Duration::from_secs(1));
    /// assert_eq!((options.failover_retries, options.failover_delay), (3, Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn failover(mut self, retries: u32, delay: Duration) -> Self {
        self.failover_retries = retries;
        self.failover_delay = delay;
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
    /// Failover retries so far (see [`AccessManager::failovers`]).
    failovers: std::sync::atomic::AtomicU64,
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
                Arc::new(AwsDirectory::from_loaded(&options, &aws))
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
                failovers: std::sync::atomic::AtomicU64::new(0),
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
    /// the end; the operation's [`FleetReport`](crate::FleetReport) still holds every result.
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
                failovers: std::sync::atomic::AtomicU64::new(0),
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
}
