//! Connections and pools: one pool per instance and database, created when first needed and
//! closed when idle; every connection through `pg_auth::connect` with the integration's TLS
//! policy.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use integration_model::InstanceId;
use pg_auth::{ConnectOptions, Connection, Pool, PoolObject, PoolOptions};
use pg_grants::quote::Ident;
use pg_grants::{GrantsError, Session};

use crate::error::AccessError;
use crate::target::Target;

use super::AccessManager;

pub(super) struct PoolEntry {
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

impl AccessManager {
    /// Connections to the other databases of `target`, for a revocation.
    pub(super) fn database_connector(
        &self,
        target: &Target,
    ) -> impl pg_grants::DatabaseConnector + '_ {
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

    /// Closes and forgets every pool of `instance` (after a failover its connections may
    /// point at a server that is no longer the writer); connections in use are closed when
    /// they are returned.
    pub(super) fn drop_pools_of(&self, instance: &InstanceId) {
        self.lock_pools().retain(|(name, _), entry| {
            let keep = name != instance;
            if !keep {
                entry.pool.close();
            }
            keep
        });
    }

    /// How many instance-and-database pools are open.
    pub fn open_pools(&self) -> usize {
        self.lock_pools().len()
    }

    pub(super) fn lock_pools(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(InstanceId, String), PoolEntry>> {
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

    pub(super) fn connect_options(
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
