//! RDS instance and cluster ARNs: `arn:PARTITION:rds:REGION:ACCOUNT:db:ID` / `…:cluster:ID`.

use std::fmt;
use std::str::FromStr;

use super::{
    Arn, ArnError, Partition, check_account, check_region, check_service, parse_partition,
    split_arn,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_identifier_rules() {
        assert!(is_rds_identifier("orders-prod-1"));
        assert!(!is_rds_identifier("1orders"));
        assert!(!is_rds_identifier("orders--prod"));
        assert!(!is_rds_identifier("orders-"));
        assert!(!is_rds_identifier(&"a".repeat(64)));
    }
}
