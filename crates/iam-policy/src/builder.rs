//! Builders for the two policies of the setup guide.
//!
//! * [`ConnectorPolicy`] — lets the connector's IAM role log in as its database user:
//!   `rds-db:connect` on `arn:aws:rds-db:*:*:dbuser:*/apono_connector` by default, narrowed to a
//!   partition, region, account and resource id(s) when they are known (discovery gives the
//!   instance's `DbiResourceId`).
//! * [`EndUserPolicy`] — lets federated end users log in as the database user named after their
//!   SAML subject: `rds-db:connect` on `dbuser:*/${SAML:sub}` plus `rds:DescribeDBInstances`
//!   on `arn:aws:rds:*:*:db:*`.
//!
//! With default arguments both produce the same JSON document as the setup guide.
//!
//! ```
//! use iam_policy::{ConnectorPolicy, EndUserPolicy};
//!
//! let narrowed = ConnectorPolicy::builder()
//!     .region("eu-west-1")
//!     .account("123456789012")
//!     .resource_id("db-ABCDEFGHIJKL01234567890ABC")
//!     .build()?;
//! assert!(narrowed.to_json().contains(
//!     "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKL01234567890ABC/apono_connector"
//! ));
//!
//! let end_user = EndUserPolicy::builder().require_persistent_sub(true).build()?;
//! assert!(end_user.to_json().contains("saml:sub_type"));
//! # Ok::<(), iam_policy::BuildError>(())
//! ```

use crate::arn::{ArnError, DbUserArn, Partition, RdsResourceArn, RdsResourceKind, ResourceId};
use crate::document::{OneOrMany, PolicyDocument, Statement};

/// The database user the setup guide creates for the connector.
pub const DEFAULT_CONNECTOR_USER: &str = "apono_connector";

/// The policy variable holding the SAML subject (the end user's database user name).
pub const SAML_SUB_VARIABLE: &str = "${SAML:sub}";

/// The IAM action that allows IAM database authentication.
pub const RDS_DB_CONNECT: &str = "rds-db:connect";

/// The IAM action that lists RDS instances.
pub const RDS_DESCRIBE_DB_INSTANCES: &str = "rds:DescribeDBInstances";

/// Errors from the policy builders, naming the builder field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A field's value is not valid in an ARN; the source, an [`ArnError`], names the value
    /// and what is accepted.
    #[error("invalid `{field}` for the {policy} policy")]
    InvalidField {
        /// The policy being built (`connector` or `end-user`).
        policy: &'static str,
        /// The builder field (`region`, `account`, `resource_id`, `db_user`, ...).
        field: &'static str,
        /// What is wrong.
        #[source]
        source: ArnError,
    },
    /// The connector's database user is a wildcard or a policy variable; it must name one role.
    #[error(
        "invalid `db_user` `{value}` for the connector policy: name one PostgreSQL role, \
         without `*`, `?` or `${{...}}`"
    )]
    WildcardConnectorUser {
        /// The user as given.
        value: String,
    },
}

fn field_error(policy: &'static str, field: &'static str) -> impl Fn(ArnError) -> BuildError {
    move |source| BuildError::InvalidField {
        policy,
        field,
        source,
    }
}

/// Where a policy applies: partition, region, account and resource ids (each `*` by default).
#[derive(Debug, Clone, Default)]
struct Scope {
    partition: Option<Partition>,
    region: Option<String>,
    account: Option<String>,
    resource_ids: Vec<String>,
}

impl Scope {
    fn region(&self) -> &str {
        self.region.as_deref().unwrap_or("*")
    }

    fn account(&self) -> &str {
        self.account.as_deref().unwrap_or("*")
    }

    /// The explicit partition, else the region's, else `aws`.
    fn partition(&self) -> Partition {
        self.partition
            .or_else(|| self.region.as_deref().map(Partition::for_region))
            .unwrap_or(Partition::Aws)
    }

    fn db_user_arns(&self, policy: &'static str, db_user: &str) -> Result<Vec<String>, BuildError> {
        let ids: Vec<ResourceId> = if self.resource_ids.is_empty() {
            vec![ResourceId::Any]
        } else {
            self.resource_ids
                .iter()
                .map(|id| id.parse().map_err(field_error(policy, "resource_id")))
                .collect::<Result<_, _>>()?
        };
        ids.into_iter()
            .map(|id| {
                DbUserArn::new(self.partition(), self.region(), self.account(), id, db_user)
                    .map(|arn| arn.to_string())
                    .map_err(|source| {
                        let field = match source {
                            ArnError::InvalidAccount { .. } => "account",
                            ArnError::InvalidDbUser { .. } => "db_user",
                            ArnError::PartitionMismatch { .. } => "partition",
                            _ => "region",
                        };
                        BuildError::InvalidField {
                            policy,
                            field,
                            source,
                        }
                    })
            })
            .collect()
    }
}

/// The connector's policy. Use [`ConnectorPolicy::builder`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConnectorPolicy;

impl ConnectorPolicy {
    /// A builder with the setup guide's defaults: user `apono_connector`, any region, account
    /// and instance.
    pub fn builder() -> ConnectorPolicyBuilder {
        ConnectorPolicyBuilder {
            db_user: DEFAULT_CONNECTOR_USER.to_owned(),
            scope: Scope::default(),
        }
    }
}

/// Builds the connector policy; see [`ConnectorPolicy::builder`].
///
/// With one resource id (or none) `Resource` is a string, as in the setup guide; with several
/// it is an array.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConnectorPolicyBuilder {
    db_user: String,
    scope: Scope,
}

impl ConnectorPolicyBuilder {
    /// The connector's database user (default `apono_connector`). A PostgreSQL role name of at
    /// most 63 bytes; no wildcard or variable.
    pub fn db_user(mut self, user: impl Into<String>) -> Self {
        self.db_user = user.into();
        self
    }

    /// The partition (default: the region's partition, or `aws` when no region is set).
    pub fn partition(mut self, partition: Partition) -> Self {
        self.scope.partition = Some(partition);
        self
    }

    /// The region, e.g. `us-east-1` (default `*`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.scope.region = Some(region.into());
        self
    }

    /// The 12-digit account id (default `*`).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.scope.account = Some(account.into());
        self
    }

    /// Adds a resource id: the instance's `DbiResourceId` (`db-…`), an Aurora cluster resource
    /// id (`cluster-…`) or an RDS Proxy id (`prx-…`). Default: `*` (every instance).
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.scope.resource_ids.push(id.into());
        self
    }

    /// Builds the policy document.
    ///
    /// # Errors
    /// [`BuildError`] naming the invalid field.
    pub fn build(self) -> Result<PolicyDocument, BuildError> {
        if self.db_user.contains(['*', '?']) || self.db_user.contains("${") {
            return Err(BuildError::WildcardConnectorUser {
                value: self.db_user,
            });
        }
        let arns = self.scope.db_user_arns("connector", &self.db_user)?;
        let resource = match <[String; 1]>::try_from(arns) {
            Ok([only]) => OneOrMany::One(only),
            Err(arns) => OneOrMany::Many(arns),
        };
        Ok(PolicyDocument::new(vec![
            Statement::allow()
                .with_action(RDS_DB_CONNECT)
                .with_resource(resource),
        ]))
    }
}

/// The end users' policy. Use [`EndUserPolicy::builder`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EndUserPolicy;

impl EndUserPolicy {
    /// A builder with the setup guide's defaults: user `${SAML:sub}`, any region, account and
    /// instance, no `saml:sub_type` condition.
    pub fn builder() -> EndUserPolicyBuilder {
        EndUserPolicyBuilder {
            db_user: SAML_SUB_VARIABLE.to_owned(),
            scope: Scope::default(),
            describe: Vec::new(),
            require_persistent_sub: false,
        }
    }
}

/// Builds the end-user policy; see [`EndUserPolicy::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EndUserPolicyBuilder {
    db_user: String,
    scope: Scope,
    describe: Vec<RdsResourceArn>,
    require_persistent_sub: bool,
}

impl EndUserPolicyBuilder {
    /// The database user pattern (default `${SAML:sub}`). May be a policy variable such as
    /// `${aws:username}`, a fixed role name, or contain wildcards.
    pub fn db_user(mut self, user: impl Into<String>) -> Self {
        self.db_user = user.into();
        self
    }

    /// The partition (default: the region's partition, or `aws` when no region is set).
    pub fn partition(mut self, partition: Partition) -> Self {
        self.scope.partition = Some(partition);
        self
    }

    /// The region, e.g. `us-east-1` (default `*`). Also narrows `rds:DescribeDBInstances` unless
    /// [`describe_resource`](Self::describe_resource) is used.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.scope.region = Some(region.into());
        self
    }

    /// The 12-digit account id (default `*`). Also narrows `rds:DescribeDBInstances` unless
    /// [`describe_resource`](Self::describe_resource) is used.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.scope.account = Some(account.into());
        self
    }

    /// Adds a resource id for `rds-db:connect` (`db-…`, `cluster-…`, `prx-…`; default `*`).
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.scope.resource_ids.push(id.into());
        self
    }

    /// Adds an explicit `rds:DescribeDBInstances` resource, replacing the default
    /// `arn:PARTITION:rds:REGION:ACCOUNT:db:*` (built from the partition, region and account).
    pub fn describe_resource(mut self, arn: RdsResourceArn) -> Self {
        self.describe.push(arn);
        self
    }

    /// Adds `"Condition": {"StringEquals": {"saml:sub_type": "persistent"}}` to the
    /// `rds-db:connect` statement (default off, as in the setup guide). With it, only a
    /// persistent SAML subject (a stable name id) can pick the database user, not a transient one.
    pub fn require_persistent_sub(mut self, on: bool) -> Self {
        self.require_persistent_sub = on;
        self
    }

    /// Builds the policy document.
    ///
    /// # Errors
    /// [`BuildError`] naming the invalid field.
    pub fn build(self) -> Result<PolicyDocument, BuildError> {
        let connect_arns = self.scope.db_user_arns("end-user", &self.db_user)?;
        let describe: Vec<String> = if self.describe.is_empty() {
            let arn = RdsResourceArn::new(
                self.scope.partition(),
                self.scope.region(),
                self.scope.account(),
                RdsResourceKind::Db,
                "*",
            )
            .map_err(field_error("end-user", "describe_resource"))?;
            vec![arn.to_string()]
        } else {
            self.describe.iter().map(ToString::to_string).collect()
        };
        let mut connect = Statement::allow()
            .with_action(vec![RDS_DB_CONNECT.to_owned()])
            .with_resource(connect_arns);
        if self.require_persistent_sub {
            connect = connect.with_condition("StringEquals", "saml:sub_type", "persistent");
        }
        let describe = Statement::allow()
            .with_action(vec![RDS_DESCRIBE_DB_INSTANCES.to_owned()])
            .with_resource(describe);
        Ok(PolicyDocument::new(vec![connect, describe]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_errors_name_fields() {
        let cases: [(ConnectorPolicyBuilder, &str); 6] = [
            (ConnectorPolicy::builder().region("us-east"), "region"),
            (ConnectorPolicy::builder().account("1234"), "account"),
            (
                ConnectorPolicy::builder().resource_id("orders-prod"),
                "resource_id",
            ),
            (
                ConnectorPolicy::builder().db_user("x".repeat(64)),
                "db_user",
            ),
            (
                ConnectorPolicy::builder()
                    .partition(Partition::AwsCn)
                    .region("us-east-1"),
                "partition",
            ),
            (ConnectorPolicy::builder().db_user(""), "db_user"),
        ];
        for (builder, field) in cases {
            match builder.build() {
                Err(BuildError::InvalidField { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(
            ConnectorPolicy::builder().db_user("*").build(),
            Err(BuildError::WildcardConnectorUser { .. })
        ));
    }

    #[test]
    fn region_picks_partition() {
        let doc = ConnectorPolicy::builder()
            .region("us-gov-west-1")
            .build()
            .unwrap();
        assert!(
            doc.to_json()
                .contains("arn:aws-us-gov:rds-db:us-gov-west-1:*:dbuser:*/apono_connector")
        );
    }

    #[test]
    fn several_resource_ids_make_an_array() {
        let doc = ConnectorPolicy::builder()
            .resource_id("db-AAA")
            .resource_id("prx-0abc")
            .build()
            .unwrap();
        let st = doc.statements().next().unwrap();
        let resources: Vec<&str> = st
            .resource
            .as_ref()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            resources,
            [
                "arn:aws:rds-db:*:*:dbuser:db-AAA/apono_connector",
                "arn:aws:rds-db:*:*:dbuser:prx-0abc/apono_connector"
            ]
        );
    }

    #[test]
    fn end_user_describe_follows_scope() {
        let doc = EndUserPolicy::builder()
            .region("eu-west-1")
            .account("123456789012")
            .build()
            .unwrap();
        let json = doc.to_json();
        assert!(
            json.contains("arn:aws:rds:eu-west-1:123456789012:db:*"),
            "{json}"
        );
        assert!(json.contains("arn:aws:rds-db:eu-west-1:123456789012:dbuser:*/${SAML:sub}"));
    }
}
