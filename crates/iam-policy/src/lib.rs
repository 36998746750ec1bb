//! AWS IAM policy documents for RDS PostgreSQL access: model, ARNs, builders, evaluator and
//! linter. Pure functions, no I/O, no AWS SDK.
//!
//! * [`document`] — the policy JSON grammar ([`PolicyDocument`], [`Statement`], [`OneOrMany`],
//!   conditions), read strictly and written back in the same shape.
//! * [`arn`] — [`Arn`], [`Partition`], RDS instance/cluster ARNs ([`RdsResourceArn`]) and IAM
//!   database-auth ARNs ([`DbUserArn`], `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/USER`).
//! * [`builder`] — the setup guide's two policies, [`ConnectorPolicy`] (`rds-db:connect` as the
//!   connector's database user) and [`EndUserPolicy`] (`rds-db:connect` as `${SAML:sub}` plus
//!   `rds:DescribeDBInstances`), narrowed to a region, account and `DbiResourceId` when known.
//! * [`eval`] — answers "do these policies allow this action on this resource in this request
//!   context?" as IAM does.
//! * [`lint`](mod@lint) — findings with stable codes (`RDSPG-L001`…), a [`Severity`] and a JSON pointer.
//!
//! # Example
//!
//! Build the connector policy for an instance that discovery found, then lint it:
//!
//! ```
//! use iam_policy::{ConnectorPolicy, PolicyDocument, Severity, lint};
//!
//! let policy = ConnectorPolicy::builder()
//!     .db_user("apono_connector")
//!     .region("us-east-1")
//!     .account("123456789012")
//!     .resource_id("db-ABCDEFGHIJKL01234567890ABC") // the instance's DbiResourceId
//!     .build()?;
//! assert_eq!(
//!     policy.to_value(),
//!     serde_json::json!({
//!         "Version": "2012-10-17",
//!         "Statement": [{
//!             "Effect": "Allow",
//!             "Action": "rds-db:connect",
//!             "Resource": "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL01234567890ABC/apono_connector"
//!         }]
//!     })
//! );
//! // Narrowed: not even advice.
//! assert!(lint(&policy).is_empty());
//!
//! // With the defaults it is the setup guide's document, which draws advice only.
//! let guide = ConnectorPolicy::builder().build()?;
//! let findings = lint(&guide);
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].code, "RDSPG-L001");
//! assert_eq!(findings[0].severity, Severity::Advice);
//! assert_eq!(PolicyDocument::from_json(&guide.to_json_pretty())?, guide);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arn;
pub mod builder;
pub mod document;
pub mod eval;
pub mod lint;
mod variables;

pub use arn::{Arn, ArnError, DbUserArn, Partition, RdsResourceArn, RdsResourceKind, ResourceId};
pub use builder::{BuildError, ConnectorPolicy, EndUserPolicy};
pub use document::{
    ConditionBlock, ConditionValue, Effect, OneOrMany, PolicyDocument, PolicyError, PolicyVersion,
    Principal, Statement,
};
pub use eval::{Decision, EvalError, Outcome, RequestContext, evaluate};
pub use lint::{Finding, Severity, lint, lint_json};

/// The README's example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
