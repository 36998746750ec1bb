//! [`ArnError`]: which part of an ARN is wrong.

use super::Partition;

/// Errors from parsing or building an ARN. Each names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArnError {
    /// The text does not start with `arn:` or has fewer than six `:`-separated parts.
    #[error("`{value}` is not an ARN: expected `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`")]
    Malformed {
        /// The text as given.
        value: String,
    },
    /// The partition is not one AWS has (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`,
    /// `aws-iso-e`, `aws-iso-f`, `aws-eusc`).
    #[error(
        "unknown partition `{value}`; use `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, \
         `aws-iso-e`, `aws-iso-f` or `aws-eusc`"
    )]
    UnknownPartition {
        /// The partition as written.
        value: String,
    },
    /// The service part is empty or has characters other than `a-z`, `0-9`, `-`.
    #[error("invalid service `{value}` in ARN; services are lowercase, e.g. `rds` or `rds-db`")]
    InvalidService {
        /// The service as written.
        value: String,
    },
    /// The ARN names another service than the one expected.
    #[error("ARN service is `{found}` but `{expected}` is required here")]
    WrongService {
        /// The service required.
        expected: &'static str,
        /// The service found.
        found: String,
    },
    /// The region is not a region name (e.g. `us-east-1`) or `*`.
    #[error("invalid region `{value}`; use a region name such as `us-east-1`, or `*`")]
    InvalidRegion {
        /// The region as written.
        value: String,
    },
    /// The region belongs to another partition than the ARN's.
    #[error("region `{region}` is in partition `{expected}`, not `{partition}`")]
    PartitionMismatch {
        /// The region.
        region: String,
        /// The region's partition.
        expected: Partition,
        /// The partition given.
        partition: Partition,
    },
    /// The account is not 12 digits or `*`.
    #[error("invalid account id `{value}`; use the 12-digit AWS account id or `*`")]
    InvalidAccount {
        /// The account as written.
        value: String,
    },
    /// The resource part is empty or has characters AWS does not allow.
    #[error("invalid resource `{value}` in ARN")]
    InvalidResource {
        /// The resource as written.
        value: String,
    },
    /// An RDS ARN's resource type is not `db` or `cluster`.
    #[error("unsupported RDS resource type `{value}`; expected `db:ID` or `cluster:ID`")]
    UnsupportedRdsResourceType {
        /// The resource type as written.
        value: String,
    },
    /// An RDS instance or cluster identifier breaks RDS's naming rules.
    #[error(
        "invalid RDS identifier `{value}`: use 1-63 letters, digits or hyphens, starting with a \
         letter, without `--` or a trailing hyphen (or `*`)"
    )]
    InvalidRdsIdentifier {
        /// The identifier as written.
        value: String,
    },
    /// An `rds-db` resource is not `dbuser:RESOURCE_ID/DB_USER`.
    #[error("`{value}` is not an rds-db resource: expected `dbuser:RESOURCE_ID/DB_USER`")]
    NotDbUser {
        /// The resource part as written.
        value: String,
    },
    /// The resource id is not `db-…`, `cluster-…`, `prx-…` or `*`.
    #[error(
        "invalid resource id `{value}`: use the DbiResourceId (`db-` + uppercase letters and \
         digits), an Aurora cluster resource id (`cluster-…`), an RDS Proxy id (`prx-…`) or `*`; \
         the instance identifier does not work here"
    )]
    InvalidResourceId {
        /// The resource id as written.
        value: String,
    },
    /// The database user name is empty, longer than 63 bytes or contains `/` or NUL.
    #[error(
        "invalid database user `{value}`: a PostgreSQL role name of 1-63 bytes without `/` or \
         NUL (or `*`, or a policy variable such as `${{SAML:sub}}`)"
    )]
    InvalidDbUser {
        /// The user as written.
        value: String,
    },
}
