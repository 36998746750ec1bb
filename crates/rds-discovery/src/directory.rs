//! The [`InstanceDirectory`] trait: the one seam through which the rest of the library finds
//! PostgreSQL instances.

use crate::error::DiscoveryError;
use crate::instance::DbInstance;
use crate::model::{InstanceId, InstanceSelector, TagFilters};

/// Finds PostgreSQL instances (engines `postgres` and `aurora-postgresql`).
///
/// Object-safe and `Send + Sync`: hold it as `Arc<dyn InstanceDirectory>` and share it across
/// tasks. Implementations: [`AwsDirectory`](crate::AwsDirectory) (RDS API) and
/// [`StaticDirectory`](crate::StaticDirectory) (host and port from settings); tests and other
/// platforms may bring their own.
#[async_trait::async_trait]
pub trait InstanceDirectory: Send + Sync + std::fmt::Debug {
    /// The instance with this identifier.
    ///
    /// # Errors
    /// [`DiscoveryError::NotFound`] (or [`DiscoveryError::UnknownStaticEndpoint`]) when there is
    /// none, [`DiscoveryError::NotPostgres`] when it runs another engine, and the AWS errors
    /// (credentials, access denied naming the action, throttling).
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError>;

    /// Every PostgreSQL instance whose tags match all `filters` (`key=value`, or `key` alone for
    /// "tag present"; keys and values are case-sensitive), sorted by identifier. Instances of
    /// other engines are never returned.
    ///
    /// # Errors
    /// [`DiscoveryError::NoMatch`] naming the filters when nothing matches (never an empty list),
    /// [`DiscoveryError::StaticHasNoTags`] for static directories, and the AWS errors;
    /// a listing cut short is an error ([`DiscoveryError::Incomplete`],
    /// [`DiscoveryError::PaginationStalled`]), never a shorter list.
    async fn instances_by_tags(
        &self,
        filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError>;

    /// The instances an integration's selector names: the one instance for
    /// [`InstanceSelector::Id`], the tag matches for [`InstanceSelector::Tags`].
    ///
    /// # Errors
    /// As [`instance`](Self::instance) and [`instances_by_tags`](Self::instances_by_tags).
    async fn resolve(
        &self,
        selector: &InstanceSelector,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        match selector {
            InstanceSelector::Id(id) => Ok(vec![self.instance(id).await?]),
            InstanceSelector::Tags(filters) => self.instances_by_tags(filters).await,
            other => Err(DiscoveryError::UnsupportedSelector {
                selector: format!("{other:?}"),
            }),
        }
    }
}
