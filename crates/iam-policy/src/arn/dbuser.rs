//! IAM database-auth ARNs: `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DB_USER`.

use std::fmt;
use std::str::FromStr;

use super::{
    Arn, ArnError, Partition, check_account, check_region, check_service, parse_partition,
    split_arn,
};

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
}
