//! [`DiscoveryError`]: everything that can go wrong while finding instances.

use crate::instance::InstanceStatus;
use crate::model::{InstanceId, Region, TagFilters};
use std::fmt;

/// A boxed error from a lower layer (the AWS SDK, the credential chain), kept as the
/// [`source`](std::error::Error::source) of a [`DiscoveryError`] without exposing its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What to do when no AWS credentials are found; shown in [`DiscoveryError::CredentialsMissing`].
pub const CREDENTIALS_HINT: &str = "set AWS_PROFILE (a profile in ~/.aws/config), or \
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance, task or pod role is attached";

/// Why discovery failed. Every variant names the object involved and, where there is one, the fix.
///
/// AWS SDK errors are kept as [`source`](std::error::Error::source) (boxed), so that this type
/// does not change when the SDK does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Neither `DescribeDBInstances` nor `DescribeDBClusters` knows this identifier in this
    /// region.
    #[error(
        "RDS instance `{id}` not found in region {region} (no DB instance or DB cluster has this \
         identifier): check the identifier and the region of the integration"
    )]
    NotFound {
        /// The identifier looked up.
        id: InstanceId,
        /// The region searched.
        region: Region,
    },

    /// A [`StaticDirectory`](crate::StaticDirectory) has no endpoint of this name.
    #[error("no static endpoint named `{name}` (configured: {})", Names(known))]
    UnknownStaticEndpoint {
        /// The name looked up.
        name: InstanceId,
        /// The names the directory knows, sorted.
        known: Vec<InstanceId>,
    },

    /// The instance exists but does not run PostgreSQL.
    #[error(
        "RDS instance `{id}` runs engine `{engine}`, not PostgreSQL (`postgres` or \
         `aurora-postgresql`): this library only manages PostgreSQL"
    )]
    NotPostgres {
        /// The instance.
        id: InstanceId,
        /// The engine AWS reports, e.g. `mysql`.
        engine: String,
    },

    /// The instance is in a state in which it takes no connections (`stopped`, `creating`, ...).
    #[error(
        "RDS instance `{id}` is `{status}` and takes no connections: wait until it is available \
         (or start it), then retry"
    )]
    NotAvailable {
        /// The instance.
        id: InstanceId,
        /// Its status as AWS reports it, e.g. `stopped` or `modifying`.
        status: InstanceStatus,
    },

    /// The integration authenticates with IAM but the instance does not accept IAM tokens.
    #[error(
        "the integration uses IAM authentication but IAM database authentication is disabled on \
         RDS instance `{id}`: enable it ({}) or switch the integration to user/password \
         authentication",
        IamFix { id, cluster }
    )]
    IamAuthDisabled {
        /// The instance.
        id: InstanceId,
        /// Its DB cluster, where the setting lives for Aurora.
        cluster: Option<String>,
    },

    /// No PostgreSQL instance of the region carries the tags asked for.
    #[error(
        "no PostgreSQL instance in region {region} matches the tags [{filters}]: check the tag \
         keys and values (they are case-sensitive) and the region"
    )]
    NoMatch {
        /// The region searched.
        region: Region,
        /// The filters that matched nothing.
        filters: TagFilters,
    },

    /// Tag filters were given to a [`StaticDirectory`](crate::StaticDirectory).
    #[error(
        "static endpoints have no AWS tags, so the tags [{filters}] cannot select any: name \
         the endpoint instead, or use the AWS directory"
    )]
    StaticHasNoTags {
        /// The filters given.
        filters: TagFilters,
    },

    /// An instance belongs to a DB cluster that `DescribeDBClusters` does not return.
    #[error(
        "RDS instance `{instance}` belongs to DB cluster `{cluster}`, which \
         rds:DescribeDBClusters does not return in region {region} (deleted meanwhile?): retry"
    )]
    ClusterNotFound {
        /// The instance that names the cluster.
        instance: InstanceId,
        /// The cluster identifier it names.
        cluster: String,
        /// The region searched.
        region: Region,
    },

    /// The AWS credential chain found no usable credentials; what the chain reported is the
    /// [`source`](std::error::Error::source), when it reported something.
    #[error("AWS credentials not found ({reason}): {CREDENTIALS_HINT}")]
    CredentialsMissing {
        /// Where the credentials were looked for, e.g. the named profile (not the text of
        /// `source`).
        reason: String,
        /// What the credential chain reported, when it reported something.
        #[source]
        source: Option<BoxError>,
    },

    /// AWS refused the credentials themselves (unknown key, bad signature, expired token).
    #[error(
        "AWS rejected the credentials calling {action} ({code}: {message}): refresh or replace the \
         credentials"
    )]
    CredentialsRejected {
        /// The API action, e.g. `rds:DescribeDBInstances`.
        action: &'static str,
        /// The AWS error code, e.g. `ExpiredToken`.
        code: String,
        /// The AWS error message.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },

    /// The caller's IAM policy does not allow the API action.
    #[error(
        "access denied calling {action}: allow `{action}` in the IAM policy of the caller \
         (AWS said: {message})"
    )]
    AccessDenied {
        /// The IAM action to allow, e.g. `rds:DescribeDBInstances`.
        action: &'static str,
        /// The AWS error message (often names the principal).
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },

    /// AWS kept throttling the call and the SDK gave up after its retries.
    #[error(
        "{action} was throttled by AWS and still failed after {max_attempts} attempt(s): retry \
         later, raise the retry attempts, or ask for a higher API rate limit"
    )]
    Throttled {
        /// The API action.
        action: &'static str,
        /// The maximum number of attempts the retry policy allowed.
        max_attempts: u32,
        /// The last SDK error.
        #[source]
        source: BoxError,
    },

    /// A later page of a paginated listing failed: the list read so far is incomplete and is
    /// not returned, because a partial fleet would silently skip instances.
    #[error(
        "{action} failed on page {} after {items} item(s) had been read; the listing is \
         incomplete, so nothing is returned",
        pages + 1
    )]
    Incomplete {
        /// The API action.
        action: &'static str,
        /// Pages read successfully before the failure.
        pages: usize,
        /// Items read successfully before the failure.
        items: usize,
        /// Why the next page failed.
        #[source]
        source: Box<DiscoveryError>,
    },

    /// AWS returned the same pagination marker twice, so the listing cannot go on and would be
    /// cut short.
    #[error(
        "{action} returned the same pagination marker twice after {pages} page(s) and {items} \
         item(s); the listing is incomplete, so nothing is returned: retry"
    )]
    PaginationStalled {
        /// The API action.
        action: &'static str,
        /// Pages read.
        pages: usize,
        /// Items read.
        items: usize,
    },

    /// AWS answered with an error this crate does not classify, or could not be reached.
    #[error("{action} failed: {detail}")]
    Aws {
        /// The API action.
        action: &'static str,
        /// The AWS error code and message, or the transport problem.
        detail: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },

    /// AWS answered with data this crate cannot use (e.g. an instance without identifier).
    #[error("{action} returned unusable data: {detail}")]
    InvalidResponse {
        /// The API action.
        action: &'static str,
        /// What is wrong, naming the instance when known.
        detail: String,
    },

    /// The integration selects instances in a way this version of the crate does not know
    /// (`InstanceSelector` is `#[non_exhaustive]`).
    #[error(
        "instance selector {selector} is not supported by this version of rds-discovery: upgrade \
         rds-discovery to match integration-model"
    )]
    UnsupportedSelector {
        /// The selector, debug-formatted.
        selector: String,
    },

    /// An option given to build a directory is invalid.
    #[error("invalid discovery option `{field}`: {reason}")]
    InvalidOption {
        /// The option, e.g. `max_attempts`.
        field: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl DiscoveryError {
    /// Whether this error (or the page failure it wraps) is AWS throttling; such errors are worth
    /// retrying later.
    pub fn is_throttling(&self) -> bool {
        match self {
            Self::Throttled { .. } => true,
            Self::Incomplete { source, .. } => source.is_throttling(),
            _ => false,
        }
    }
}

/// The CLI command that enables IAM database authentication: on the cluster for cluster
/// members (Aurora manages it there), on the instance otherwise.
struct IamFix<'a> {
    id: &'a InstanceId,
    cluster: &'a Option<String>,
}

impl fmt::Display for IamFix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cluster {
            Some(cluster) => write!(
                f,
                "on its DB cluster: `aws rds modify-db-cluster --db-cluster-identifier {cluster} \
                 --enable-iam-database-authentication --apply-immediately`"
            ),
            None => write!(
                f,
                "`aws rds modify-db-instance --db-instance-identifier {} \
                 --enable-iam-database-authentication --apply-immediately`",
                self.id
            ),
        }
    }
}

/// Displays instance names as `a, b` (or `none`) for messages.
struct Names<'a>(&'a [InstanceId]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}")?;
        }
        Ok(())
    }
}
