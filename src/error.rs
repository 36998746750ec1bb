//! The facade's error type.

pub use integration_model::error_chain;
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
    #[error("building the IAM policy")]
    Policy(#[source] iam_policy::BuildError),
    /// The connector could not connect to the instance's lock database
    /// ([`Integration::lock_database`](integration_model::Integration::lock_database)), where
    /// it takes its job and per-role advisory locks. Nothing was changed on the instance,
    /// except by a revocation, which disables the role's login before it takes the lock
    /// (see [`AccessError::applied`]).
    #[error(
        "instance {instance}: cannot connect to the lock database {database:?} (setting \
         `lock_database`), where the connector takes its job and per-role locks; give the \
         connector CONNECT on it, or set `lock_database` to a database it can connect to \
         (the same for every integration of this instance)"
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
    /// A grant succeeded on this instance but was undone (its role removed again) because
    /// the same request failed on other instances: a grant is all or nothing.
    #[error(
        "instance {instance}: granted, then undone because the request failed on {failed_on} \
         (fix that and grant again)"
    )]
    GrantUndone {
        /// The instance.
        instance: InstanceId,
        /// The instances where the request failed, comma-separated.
        failed_on: String,
    },
    /// A grant that needs a new password for the user (a new instance, or one where its
    /// password is due) while the user holds other active access with its current password on
    /// this instance: one request cannot hand out two passwords (nothing was changed).
    #[error(
        "instance {instance}: {user:?} holds other active access here with its current password, \
         which is never changed under it, while the request needs a new one elsewhere: request \
         this instance apart, or wait until its other access ends"
    )]
    PasswordInUse {
        /// The instance.
        instance: InstanceId,
        /// The database user.
        user: String,
    },
    /// The user holds no grant of that request id (nothing was changed).
    #[error("instance {instance}: {user:?} holds no active grant of request {request_id:?}")]
    GrantNotHeld {
        /// The instance.
        instance: InstanceId,
        /// The database user.
        user: String,
        /// The request id asked for.
        request_id: String,
    },
    /// The role cannot log in any more: its revocation has started (a sweep or a revoke
    /// disabled its login). Extending it would not give access back; nothing was changed.
    #[error(
        "instance {instance}: role {user:?} can no longer log in (its revocation started); \
         it cannot be extended: finish the revocation (`revoke`) and grant anew"
    )]
    RevocationStarted {
        /// The instance.
        instance: InstanceId,
        /// The database user.
        user: String,
    },
    /// An extension that no access flow allows for the role as its record describes it
    /// (nothing was changed).
    #[error("instance {instance}: extending {user:?} is not allowed: {reason}")]
    ExtendNotAllowed {
        /// The instance.
        instance: InstanceId,
        /// The database user.
        user: String,
        /// Why: each flow with the rule the extension fails, or why it cannot be checked.
        reason: String,
    },
    /// An expired role a sweep could not revoke (the sweep went on with the others).
    #[error(
        "revoking the expired role failed{}",
        disable_login.as_ref().map(|e| format!(
            " (and its login could not be disabled either: {})",
            error_chain(e.as_ref())
        )).unwrap_or_default()
    )]
    SweepFailed {
        /// Why the revocation failed.
        #[source]
        revoke: Box<AccessError>,
        /// Why disabling its login failed, when it did.
        disable_login: Option<Box<GrantsError>>,
    },
    /// The AWS configuration could not be loaded.
    #[error("loading the AWS configuration")]
    AwsConfig(#[source] DiscoveryError),
}

impl AccessError {
    /// What the failed operation had done on the instance when it failed (see
    /// [`Applied`](pg_grants::Applied)): [`Applied::No`](pg_grants::Applied::No) for refusals
    /// before any change (settings, flows, discovery, a grant undone, the documented "nothing
    /// was changed" errors); [`Applied::Partly`](pg_grants::Applied::Partly)
    /// for a revocation that stopped part way; [`Applied::Unknown`](pg_grants::Applied::Unknown) when a
    /// connection was lost, a statement failed or the instance timed out in the middle of the
    /// operation. Whatever it says, running the operation again is safe and completes it.
    ///
    /// ```
    /// use rds_pg_access::{AccessError, Applied};
    /// use rds_pg_access::integration_model::InstanceId;
    /// let instance: InstanceId = "db-1".parse()?;
    /// let timeout = AccessError::Timeout { instance, seconds: 120 };
    /// assert_eq!(timeout.applied(), Applied::Unknown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn applied(&self) -> pg_grants::Applied {
        use pg_grants::Applied;
        match self {
            Self::Grants(e) => e.applied(),
            // A connection failing part way through an operation: earlier steps on other
            // connections may have committed.
            Self::Auth(_) | Self::Timeout { .. } => Applied::Unknown,
            // A revocation disables the login first, before any lock (found by
            // tests/faults.rs: revoke cut while connecting to the lock database).
            Self::LockDatabase { .. } => Applied::Unknown,
            // Whether the sweep disabled its login first is `SweptFailure::login_disabled`.
            Self::SweepFailed { revoke, .. } => revoke.applied(),
            Self::Model(_)
            | Self::Discovery(_)
            | Self::NotAllowed(_)
            | Self::UnknownInstance { .. }
            | Self::NoEndpoint { .. }
            | Self::InvalidAwsName { .. }
            | Self::Policy(_)
            | Self::GrantUndone { .. }
            | Self::PasswordInUse { .. }
            | Self::GrantNotHeld { .. }
            | Self::RevocationStarted { .. }
            | Self::ExtendNotAllowed { .. }
            | Self::AwsConfig(_) => Applied::No,
        }
    }
}

/// Whether `error` says the server was read-only (a standby or reader where the writer was
/// expected): [`AuthError::ReadOnlyServer`] or SQLSTATE 25006 anywhere in its chain, also
/// behind this crate's transparent variants (whose `source` skips the wrapped error itself).
pub(crate) fn is_read_only(error: &AccessError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if pg_auth::is_read_only_failure(e) {
            return true;
        }
        let inner = e.downcast_ref::<AccessError>().or_else(|| {
            e.downcast_ref::<Box<AccessError>>()
                .map(std::convert::AsRef::as_ref)
        });
        match inner {
            Some(AccessError::Auth(auth)) if auth.is_read_only_server() => return true,
            Some(AccessError::Grants(grants)) if pg_auth::is_read_only_failure(grants) => {
                return true;
            }
            _ => {}
        }
        current = e.source();
    }
    false
}
