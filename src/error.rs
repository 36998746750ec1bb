//! The facade's error type.

use integration_model::{InstanceId, ModelError};
use pg_auth::AuthError;
use pg_grants::GrantsError;
use rds_discovery::DiscoveryError;

/// What went wrong while acting for an integration. Errors of the crates underneath are kept
/// whole (their messages name the object and the fix); the facade adds which instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// Settings or a request that do not validate.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Finding the integration's instances failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// Credentials, TLS or the connection failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A role or privilege operation failed (the message names the object and the fix SQL).
    #[error(transparent)]
    Grants(#[from] GrantsError),
    /// An instance did not finish within the per-instance timeout; the others went on.
    #[error("instance {instance}: no answer within {seconds} s (the other instances went on)")]
    Timeout {
        /// The instance.
        instance: InstanceId,
        /// The timeout.
        seconds: u64,
    },
    /// No access flow of the integration allows the request (nothing was changed).
    #[error(transparent)]
    NotAllowed(integration_model::FlowRefusal),
    /// A request names an instance the integration does not select.
    #[error(
        "{resource}: instance {instance} is not selected by integration {integration} \
         (it selects: {selected})"
    )]
    UnknownInstance {
        /// The resource as written.
        resource: String,
        /// Its instance.
        instance: InstanceId,
        /// The integration.
        integration: String,
        /// The instances the integration selects, comma-separated.
        selected: String,
    },
    /// Discovery returned an instance without an endpoint to connect to.
    #[error(
        "instance {instance} has no endpoint yet (status {status}); wait until it is available \
         or set endpoint_overrides"
    )]
    NoEndpoint {
        /// The instance.
        instance: InstanceId,
        /// Its status as discovery reported it.
        status: String,
    },
    /// A name from AWS that is not a valid identifier here.
    #[error("AWS returned {what} {value:?}, which is not a valid identifier: {reason}")]
    InvalidAwsName {
        /// What the name is (e.g. `cluster identifier`).
        what: &'static str,
        /// The name.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A policy could not be built from what discovery returned.
    #[error("building the IAM policy: {0}")]
    Policy(#[source] iam_policy::BuildError),
    /// The connector could not connect to the instance's lock database
    /// ([`Integration::lock_database`](integration_model::Integration::lock_database)), where
    /// it takes its job and per-role advisory locks; nothing was changed on the instance.
    #[error(
        "instance {instance}: cannot connect to the lock database {database:?} (setting \
         `lock_database`), where the connector takes its job and per-role locks: {source}. \
         Give the connector CONNECT on it, or set `lock_database` to a database it can \
         connect to (the same for every integration of this instance)"
    )]
    LockDatabase {
        /// The instance.
        instance: InstanceId,
        /// The lock database.
        database: String,
        /// Why the connection failed.
        #[source]
        source: Box<AccessError>,
    },
    /// The AWS configuration could not be loaded.
    #[error("loading the AWS configuration: {0}")]
    AwsConfig(#[source] DiscoveryError),
}
