//! Find AWS RDS and Aurora PostgreSQL instances by identifier or by tag.
//!
//! The rest of `rds-pg-access` needs, for each instance an integration names, its endpoint,
//! engine, status, `DbiResourceId` (IAM `rds-db:connect` ARNs use it), whether IAM database
//! authentication is on, its CA certificate and, for Aurora, its cluster's writer and reader
//! endpoints. This crate finds them behind one trait:
//!
//! - [`InstanceDirectory`] (module [`directory`]): look one instance up by identifier, list
//!   the PostgreSQL instances whose tags match every filter, or
//!   [`resolve`](InstanceDirectory::resolve) an integration's `InstanceSelector`. Async,
//!   object-safe, `Send + Sync`.
//! - [`AwsDirectory`] (module [`aws`]): the RDS API through `aws-sdk-rds`, with credentials,
//!   region and retries from the standard AWS chain ([`AwsOptions`]); follows pagination to the
//!   end in few calls (tags come with `DescribeDBInstances`), gives Aurora instances their
//!   cluster's endpoints, and accepts an Aurora cluster identifier where an instance is asked.
//! - [`StaticDirectory`] (module [`static_directory`]): fixed host and port from settings, for
//!   local PostgreSQL and PostgreSQL outside RDS; no AWS at all.
//! - [`DbInstance`] (module [`instance`]): the result, `Serialize` to the snake_case JSON that
//!   `rdspg discover --output json` prints, with checks for the integration
//!   ([`DbInstance::ensure_usable`]: takes connections per
//!   [`InstanceStatus::accepts_connections`], IAM auth on when the integration uses IAM).
//! - [`DiscoveryError`] (module [`error`]): typed errors that name the instance, region, tags or
//!   IAM action, and say what to do.
//!
//! ```
//! use integration_model::{Endpoint, TagFilters};
//! use rds_discovery::{DiscoveryError, InstanceDirectory, StaticDirectory};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint: Endpoint = "127.0.0.1:5432".parse()?;
//! let directory: Arc<dyn InstanceDirectory> =
//!     Arc::new(StaticDirectory::new().with_endpoint("local-pg".parse()?, endpoint));
//!
//! let db = directory.instance(&"local-pg".parse()?).await?;
//! assert_eq!(db.host.as_ref().map(|h| h.as_str()), Some("127.0.0.1"));
//! assert_eq!(db.port, Some(5432));
//! assert!(db.is_static() && db.dbi_resource_id.is_none());
//!
//! // Static endpoints have no tags to select by.
//! let prod = TagFilters::new(["env=prod".parse()?])?;
//! let err = directory.instances_by_tags(&prod).await.unwrap_err();
//! assert!(matches!(err, DiscoveryError::StaticHasNoTags { .. }));
//! # Ok(()) }
//! ```

pub mod aws;
pub mod directory;
pub mod error;
pub mod instance;
pub mod static_directory;

mod model;

pub use aws::{AwsDirectory, AwsOptions};
pub use directory::InstanceDirectory;
pub use error::DiscoveryError;
pub use instance::{Cluster, DbInstance, Engine, InstanceStatus};
pub use static_directory::StaticDirectory;

#[cfg(test)]
mod tests {
    /// Directories are shared across tasks, and errors cross task and thread boundaries.
    #[test]
    fn public_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<crate::AwsDirectory>();
        send_sync::<crate::StaticDirectory>();
        send_sync::<crate::DiscoveryError>();
        send_sync::<crate::DbInstance>();
        send_sync::<std::sync::Arc<dyn crate::InstanceDirectory>>();
    }
}
