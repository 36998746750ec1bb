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

mod dbuser;
mod error;
mod rds;

use std::fmt;
use std::str::FromStr;

pub(crate) use dbuser::check_db_user;
pub use dbuser::{DbUserArn, ResourceId};
pub use error::ArnError;
pub use rds::{RdsResourceArn, RdsResourceKind};

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
