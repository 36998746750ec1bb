//! [`StaticDirectory`]: instances given by settings (host and port), for local PostgreSQL and
//! PostgreSQL outside RDS, behind the same [`InstanceDirectory`] trait.

use crate::directory::InstanceDirectory;
use crate::error::DiscoveryError;
use crate::instance::DbInstance;
use crate::model::{Endpoint, InstanceId, TagFilters};
use std::collections::BTreeMap;

/// A directory of fixed endpoints, each under a name; no AWS call is ever made.
///
/// Looking a name up returns a [`DbInstance`] with its host and port and every AWS-only field
/// `None` (unknown). Selecting by tags fails with [`DiscoveryError::StaticHasNoTags`]: static
/// endpoints have no tags.
///
/// ```
/// use rds_discovery::{InstanceDirectory, StaticDirectory};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let directory = StaticDirectory::new()
///     .with_endpoint("local".parse()?, "localhost:5432".parse()?)
///     .with_endpoint("warehouse".parse()?, "10.0.0.7:6432".parse()?);
/// let db = directory.instance(&"warehouse".parse()?).await?;
/// assert_eq!(db.port, Some(6432));
/// assert!(db.is_static() && db.arn.is_none() && db.status.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    endpoints: BTreeMap<InstanceId, Endpoint>,
}

impl StaticDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the endpoint known under `name`.
    #[must_use]
    pub fn with_endpoint(mut self, name: InstanceId, endpoint: Endpoint) -> Self {
        self.endpoints.insert(name, endpoint);
        self
    }

    /// Adds (or replaces) the endpoint known under `name`.
    pub fn insert(&mut self, name: InstanceId, endpoint: Endpoint) {
        self.endpoints.insert(name, endpoint);
    }

    /// The names of the configured endpoints, sorted.
    pub fn names(&self) -> impl Iterator<Item = &InstanceId> {
        self.endpoints.keys()
    }
}

#[async_trait::async_trait]
impl InstanceDirectory for StaticDirectory {
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        match self.endpoints.get(id) {
            Some(endpoint) => Ok(DbInstance::from_static(id.clone(), endpoint)),
            None => Err(DiscoveryError::UnknownStaticEndpoint {
                name: id.clone(),
                known: self.endpoints.keys().cloned().collect(),
            }),
        }
    }

    async fn instances_by_tags(
        &self,
        filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        Err(DiscoveryError::StaticHasNoTags {
            filters: filters.clone(),
        })
    }
}
