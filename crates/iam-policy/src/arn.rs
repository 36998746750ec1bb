//! Amazon Resource Names: the general form and the two RDS forms IAM database auth uses.
//!
//! * [`Arn`] — `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`
//!   ([AWS reference](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html)).
//! * [`RdsResourceArn`] — `arn:PARTITION:rds:REGION:ACCOUNT:db:INSTANCE_ID` or `…:cluster:CLUSTER_ID`
//!   ([RDS ARNs](https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.ARN.Constructing.html)).
//! * [`DbUserArn`] — `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DB_USER`, where
//!   `RESOURCE_ID` is the instance's `DbiResourceId` (`db-…`), the Aurora cluster's resource id
//!   (`cluster-…`), an RDS Proxy id (`prx-…`) or `*`
//!   ([IAM database access policy](https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html)).
//!
//! All three parse with [`FromStr`] and format with [`Display`](fmt::Display); formatting a
//! parsed ARN gives back the same text.
//!
//! ```
//! use iam_policy::arn::{DbUserArn, Partition, ResourceId};
//!
//! let arn: DbUserArn = "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-ABCDEFGHIJKL01234567890ABC/alice"
//!     .parse()?;
//! assert_eq!(arn.partition(), Partition::AwsCn);
//! assert_eq!(arn.region(), "cn-north-1");
//! assert!(matches!(arn.resource_id(), ResourceId::Instance(_)));
//! assert_eq!(arn.db_user(), "alice");
//! assert_eq!(Partition::for_region("cn-north-1"), Partition::AwsCn);
//! # Ok::<(), iam_policy::arn::ArnError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// An AWS partition (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, `aws-iso-e`,
/// `aws-iso-f`, `aws-eusc`).
///
/// The same type as [`integration_model::Partition`]: the partition of a region is decided by
/// one table, [`Partition::for_region`], for settings and ARNs alike.
pub use integration_model::Partition;

/// Parses the partition part of an ARN.
fn parse_partition(text: &str) -> Result<Partition, ArnError> {
    text.parse().map_err(|_| ArnError::UnknownPartition {
        value: text.to_owned(),
    })
}

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

/// A general ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
///
/// Region and account may be empty (global services such as IAM or S3); wildcards `*`/`?` are
/// accepted in every part but the partition, as in policy `Resource` elements.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    partition: Partition,
    service: String,
    region: String,
    account: String,
    resource: String,
}

impl Arn {
    /// Builds an ARN from its parts, validating each.
    ///
    /// # Errors
    /// [`ArnError::InvalidService`], [`ArnError::InvalidRegion`], [`ArnError::InvalidAccount`]
    /// or [`ArnError::InvalidResource`], naming the bad part.
    pub fn new(
        partition: Partition,
        service: impl Into<String>,
        region: impl Into<String>,
        account: impl Into<String>,
        resource: impl Into<String>,
    ) -> Result<Self, ArnError> {
        let arn = Arn {
            partition,
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        };
        check_service(&arn.service)?;
        if !arn
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b))
        {
            return Err(ArnError::InvalidRegion { value: arn.region });
        }
        if arn.account != "aws"
            && !arn
                .account
                .bytes()
                .all(|b| b.is_ascii_digit() || b"*?".contains(&b))
        {
            return Err(ArnError::InvalidAccount { value: arn.account });
        }
        if arn.resource.is_empty() || arn.resource.chars().any(char::is_control) {
            return Err(ArnError::InvalidResource {
                value: arn.resource,
            });
        }
        Ok(arn)
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The service, e.g. `rds-db`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The region (may be empty or `*`).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id (may be empty, `*` or `aws`).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The resource part, everything after the fifth `:`.
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

impl FromStr for Arn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_arn(s)?;
        let partition = parse_partition(parts.partition)?;
        Arn::new(
            partition,
            parts.service,
            parts.region,
            parts.account,
            parts.resource,
        )
    }
}

/// The six parts of an ARN as written, before any validation beyond the shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArnParts<'a> {
    pub(crate) partition: &'a str,
    pub(crate) service: &'a str,
    pub(crate) region: &'a str,
    pub(crate) account: &'a str,
    pub(crate) resource: &'a str,
}

/// Splits `arn:P:S:R:A:RESOURCE` (the resource may contain `:`).
pub(crate) fn split_arn(s: &str) -> Result<ArnParts<'_>, ArnError> {
    let malformed = || ArnError::Malformed {
        value: s.to_owned(),
    };
    let mut it = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return Err(malformed());
    };
    Ok(ArnParts {
        partition,
        service,
        region,
        account,
        resource,
    })
}

fn check_service(service: &str) -> Result<(), ArnError> {
    let ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ArnError::InvalidService {
            value: service.to_owned(),
        })
    }
}

/// True for `*` or a region name such as `us-east-1`, `us-gov-west-1`, `cn-north-1`
/// (two letters, one or more lowercase words, a number, joined by `-`).
pub(crate) fn is_region_or_wildcard(region: &str) -> bool {
    region == "*" || is_region(region)
}

/// True for a region name such as `eu-central-2` (any two-letter prefix, so that regions AWS
/// opens later pass), or any region integration-model knows (`eusc-de-east-1`).
pub(crate) fn is_region(region: &str) -> bool {
    region.parse::<integration_model::Region>().is_ok() || is_region_shape(region)
}

fn is_region_shape(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.len() <= 2
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// True for `*` or a 12-digit account id.
pub(crate) fn is_account_or_wildcard(account: &str) -> bool {
    account == "*" || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
}

fn check_region(region: &str, partition: Partition) -> Result<(), ArnError> {
    if !is_region_or_wildcard(region) {
        return Err(ArnError::InvalidRegion {
            value: region.to_owned(),
        });
    }
    if region != "*" && Partition::for_region(region) != partition {
        return Err(ArnError::PartitionMismatch {
            region: region.to_owned(),
            expected: Partition::for_region(region),
            partition,
        });
    }
    Ok(())
}

fn check_account(account: &str) -> Result<(), ArnError> {
    if is_account_or_wildcard(account) {
        Ok(())
    } else {
        Err(ArnError::InvalidAccount {
            value: account.to_owned(),
        })
    }
}

/// The kind of RDS resource an [`RdsResourceArn`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RdsResourceKind {
    /// `db:INSTANCE_ID`: a DB instance.
    Db,
    /// `cluster:CLUSTER_ID`: an Aurora (or Multi-AZ) DB cluster.
    Cluster,
}

impl RdsResourceKind {
    /// The resource type as written in the ARN.
    pub fn as_str(self) -> &'static str {
        match self {
            RdsResourceKind::Db => "db",
            RdsResourceKind::Cluster => "cluster",
        }
    }
}

/// An RDS instance or cluster ARN: `arn:PARTITION:rds:REGION:ACCOUNT:db:ID` or `…:cluster:ID`.
///
/// Region, account and identifier may each be `*` (as in the setup guide's
/// `arn:aws:rds:*:*:db:*`).
///
/// ```
/// use iam_policy::arn::{Partition, RdsResourceArn, RdsResourceKind};
///
/// let arn = RdsResourceArn::new(Partition::Aws, "us-east-1", "123456789012", RdsResourceKind::Db, "orders-prod")?;
/// assert_eq!(arn.to_string(), "arn:aws:rds:us-east-1:123456789012:db:orders-prod");
/// assert_eq!(arn.to_string().parse::<RdsResourceArn>()?, arn);
/// # Ok::<(), iam_policy::arn::ArnError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RdsResourceArn {
    partition: Partition,
    region: String,
    account: String,
    kind: RdsResourceKind,
    id: String,
}

impl RdsResourceArn {
    /// Builds the ARN, validating every part.
    ///
    /// # Errors
    /// [`ArnError::InvalidRegion`], [`ArnError::PartitionMismatch`],
    /// [`ArnError::InvalidAccount`] or [`ArnError::InvalidRdsIdentifier`].
    pub fn new(
        partition: Partition,
        region: impl Into<String>,
        account: impl Into<String>,
        kind: RdsResourceKind,
        id: impl Into<String>,
    ) -> Result<Self, ArnError> {
        let arn = RdsResourceArn {
            partition,
            region: region.into(),
            account: account.into(),
            kind,
            id: id.into(),
        };
        check_region(&arn.region, partition)?;
        check_account(&arn.account)?;
        if arn.id != "*" && !is_rds_identifier(&arn.id) {
            return Err(ArnError::InvalidRdsIdentifier { value: arn.id });
        }
        Ok(arn)
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The region or `*`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id or `*`.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// `db` or `cluster`.
    pub fn kind(&self) -> RdsResourceKind {
        self.kind
    }

    /// The instance or cluster identifier (not the `DbiResourceId`), or `*`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// RDS identifier rules: 1-63 letters, digits or hyphens; first a letter; no `--`; no trailing
/// hyphen ([CreateDBInstance](https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)).
pub(crate) fn is_rds_identifier(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.contains("--")
        && !id.ends_with('-')
}

impl fmt::Display for RdsResourceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:rds:{}:{}:{}:{}",
            self.partition,
            self.region,
            self.account,
            self.kind.as_str(),
            self.id
        )
    }
}

impl FromStr for RdsResourceArn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_arn(s)?;
        let partition = parse_partition(parts.partition)?;
        if parts.service != "rds" {
            check_service(parts.service)?;
            return Err(ArnError::WrongService {
                expected: "rds",
                found: parts.service.to_owned(),
            });
        }
        let (kind, id) = match parts.resource.split_once(':') {
            Some(("db", id)) => (RdsResourceKind::Db, id),
            Some(("cluster", id)) => (RdsResourceKind::Cluster, id),
            Some((other, _)) => {
                return Err(ArnError::UnsupportedRdsResourceType {
                    value: other.to_owned(),
                });
            }
            None => {
                return Err(ArnError::UnsupportedRdsResourceType {
                    value: parts.resource.to_owned(),
                });
            }
        };
        RdsResourceArn::new(partition, parts.region, parts.account, kind, id)
    }
}

impl From<&RdsResourceArn> for Arn {
    fn from(arn: &RdsResourceArn) -> Self {
        Arn {
            partition: arn.partition,
            service: "rds".to_owned(),
            region: arn.region.clone(),
            account: arn.account.clone(),
            resource: format!("{}:{}", arn.kind.as_str(), arn.id),
        }
    }
}

/// The resource id part of an `rds-db` ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceId {
    /// `*`: every instance, cluster and proxy.
    Any,
    /// `db-…`: a DB instance's `DbiResourceId` (e.g. `db-ABCDEFGHIJKL01234567890ABC`).
    Instance(String),
    /// `cluster-…`: an Aurora cluster's resource id.
    Cluster(String),
    /// `prx-…`: an RDS Proxy id.
    Proxy(String),
}

impl ResourceId {
    /// The resource id as written.
    pub fn as_str(&self) -> &str {
        match self {
            ResourceId::Any => "*",
            ResourceId::Instance(s) | ResourceId::Cluster(s) | ResourceId::Proxy(s) => s,
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceId {
    type Err = ArnError;

    /// Accepts `*`, `db-` + uppercase letters/digits (how AWS issues `DbiResourceId`s),
    /// `cluster-` + uppercase letters/digits, and `prx-` + letters/digits (real proxy ids are
    /// lowercase hex, AWS's documentation writes them in uppercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = |rest: &str| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        };
        let alnum =
            |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric());
        let parsed = if s == "*" {
            Some(ResourceId::Any)
        } else if let Some(rest) = s.strip_prefix("db-") {
            upper(rest).then(|| ResourceId::Instance(s.to_owned()))
        } else if let Some(rest) = s.strip_prefix("cluster-") {
            upper(rest).then(|| ResourceId::Cluster(s.to_owned()))
        } else if let Some(rest) = s.strip_prefix("prx-") {
            alnum(rest).then(|| ResourceId::Proxy(s.to_owned()))
        } else {
            None
        };
        parsed.ok_or_else(|| ArnError::InvalidResourceId {
            value: s.to_owned(),
        })
    }
}

/// Checks a database user name as it may appear in a `dbuser` ARN: 1-63 bytes (PostgreSQL's
/// `NAMEDATALEN - 1`), no `/`, no NUL, no control characters. `*` and policy variables pass.
pub(crate) fn check_db_user(user: &str) -> Result<(), ArnError> {
    let ok = !user.is_empty()
        && user.len() <= 63
        && !user.contains('/')
        && !user.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ArnError::InvalidDbUser {
            value: user.to_owned(),
        })
    }
}

/// An IAM database authentication ARN:
/// `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DB_USER`.
///
/// Region and account may be `*`; the resource id is a [`ResourceId`]; the database user may be
/// `*`, a name, or contain a policy variable such as `${SAML:sub}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DbUserArn {
    partition: Partition,
    region: String,
    account: String,
    resource_id: ResourceId,
    db_user: String,
}

impl DbUserArn {
    /// Builds the ARN, validating every part.
    ///
    /// # Errors
    /// [`ArnError::InvalidRegion`], [`ArnError::PartitionMismatch`],
    /// [`ArnError::InvalidAccount`] or [`ArnError::InvalidDbUser`].
    pub fn new(
        partition: Partition,
        region: impl Into<String>,
        account: impl Into<String>,
        resource_id: ResourceId,
        db_user: impl Into<String>,
    ) -> Result<Self, ArnError> {
        let arn = DbUserArn {
            partition,
            region: region.into(),
            account: account.into(),
            resource_id,
            db_user: db_user.into(),
        };
        check_region(&arn.region, partition)?;
        check_account(&arn.account)?;
        check_db_user(&arn.db_user)?;
        Ok(arn)
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The region or `*`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id or `*`.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The resource id.
    pub fn resource_id(&self) -> &ResourceId {
        &self.resource_id
    }

    /// The database user (may be `*` or contain a policy variable).
    pub fn db_user(&self) -> &str {
        &self.db_user
    }
}

impl fmt::Display for DbUserArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:rds-db:{}:{}:dbuser:{}/{}",
            self.partition, self.region, self.account, self.resource_id, self.db_user
        )
    }
}

impl FromStr for DbUserArn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split_arn(s)?;
        let partition = parse_partition(parts.partition)?;
        if parts.service != "rds-db" {
            check_service(parts.service)?;
            return Err(ArnError::WrongService {
                expected: "rds-db",
                found: parts.service.to_owned(),
            });
        }
        let (resource_id, db_user) = parse_dbuser_resource(parts.resource)?;
        DbUserArn::new(partition, parts.region, parts.account, resource_id, db_user)
    }
}

/// Parses `dbuser:RESOURCE_ID/DB_USER`.
pub(crate) fn parse_dbuser_resource(resource: &str) -> Result<(ResourceId, &str), ArnError> {
    let not_dbuser = || ArnError::NotDbUser {
        value: resource.to_owned(),
    };
    let rest = resource.strip_prefix("dbuser:").ok_or_else(not_dbuser)?;
    let (id, user) = rest.split_once('/').ok_or_else(not_dbuser)?;
    let id: ResourceId = id.parse()?;
    check_db_user(user)?;
    Ok((id, user))
}

impl From<&DbUserArn> for Arn {
    fn from(arn: &DbUserArn) -> Self {
        Arn {
            partition: arn.partition,
            service: "rds-db".to_owned(),
            region: arn.region.clone(),
            account: arn.account.clone(),
            resource: format!("dbuser:{}/{}", arn.resource_id, arn.db_user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_region() {
        assert_eq!(Partition::for_region("cn-northwest-1"), Partition::AwsCn);
        assert_eq!(Partition::for_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(Partition::for_region("eu-west-3"), Partition::Aws);
        assert_eq!(Partition::for_region("us-iso-east-1"), Partition::AwsIso);
        assert_eq!(
            parse_partition("aws-moon"),
            Err(ArnError::UnknownPartition {
                value: "aws-moon".into()
            })
        );
    }

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-4",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us--1",
            "useast-1",
            "us-east-123",
            "*",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_region_or_wildcard("*"));
    }

    #[test]
    fn rds_identifier_rules() {
        assert!(is_rds_identifier("orders-prod-1"));
        assert!(!is_rds_identifier("1orders"));
        assert!(!is_rds_identifier("orders--prod"));
        assert!(!is_rds_identifier("orders-"));
        assert!(!is_rds_identifier(&"a".repeat(64)));
    }

    #[test]
    fn resource_ids() {
        assert_eq!("*".parse::<ResourceId>(), Ok(ResourceId::Any));
        assert!(matches!("db-ABC123".parse(), Ok(ResourceId::Instance(_))));
        assert!(matches!(
            "cluster-ABC123".parse(),
            Ok(ResourceId::Cluster(_))
        ));
        assert!(matches!("prx-0123abcd".parse(), Ok(ResourceId::Proxy(_))));
        for bad in [
            "db-",
            "db-abc",
            "orders-prod",
            "prx-",
            "prx-a_b",
            "cluster-",
            "db-*",
        ] {
            assert!(
                matches!(
                    bad.parse::<ResourceId>(),
                    Err(ArnError::InvalidResourceId { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn db_user_arn_errors_name_the_part() {
        let cases = [
            (
                "arn:aws:rds-db:*:*:dbuser:orders-prod/alice",
                "InvalidResourceId",
            ),
            (
                "arn:aws:rds-db:us-east-1:12345:dbuser:*/alice",
                "InvalidAccount",
            ),
            ("arn:aws:rds-db:useast1:*:dbuser:*/alice", "InvalidRegion"),
            (
                "arn:aws:rds-db:cn-north-1:*:dbuser:*/alice",
                "PartitionMismatch",
            ),
            ("arn:aws:rds:*:*:dbuser:*/alice", "WrongService"),
            ("arn:aws:rds-db:*:*:db:*/alice", "NotDbUser"),
            ("arn:aws:rds-db:*:*:dbuser:*", "NotDbUser"),
            ("arn:aws:rds-db:*:*:dbuser:*/", "InvalidDbUser"),
            ("arn:aws-moon:rds-db:*:*:dbuser:*/a", "UnknownPartition"),
            ("arn:aws:rds-db:*:*", "Malformed"),
        ];
        for (input, variant) in cases {
            let err = input.parse::<DbUserArn>().unwrap_err();
            assert!(format!("{err:?}").starts_with(variant), "{input}: {err:?}");
        }
    }

    #[test]
    fn long_db_user_rejected() {
        let user = "u".repeat(64);
        let arn = format!("arn:aws:rds-db:*:*:dbuser:*/{user}");
        assert!(matches!(
            arn.parse::<DbUserArn>(),
            Err(ArnError::InvalidDbUser { .. })
        ));
        let ok = format!("arn:aws:rds-db:*:*:dbuser:*/{}", "u".repeat(63));
        assert_eq!(ok.parse::<DbUserArn>().unwrap().to_string(), ok);
    }

    #[test]
    fn general_arn_round_trip() {
        for s in [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:s3:::bucket/key:with:colons",
            "arn:aws-us-gov:rds:us-gov-west-1:123456789012:db:x",
            "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}",
        ] {
            let arn: Arn = s.parse().unwrap();
            assert_eq!(arn.to_string(), s);
        }
    }
}
