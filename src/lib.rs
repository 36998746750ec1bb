//! `rds-pg-access`: just-in-time access to AWS RDS PostgreSQL, as a library.
//!
//! This package is the facade: [`AccessManager`] wires the workspace's crates for one
//! integration (discovery → credentials → TLS → connections → grants) over every instance the
//! integration selects, with a result per instance ([`FleetReport`]). The seams are traits:
//! [`rds_discovery::InstanceDirectory`] (where instances are found), [`ConnectorCredentials`]
//! (which credential logs the connector in), and the crates are re-exported so that one
//! dependency brings them all.
//!
//! To run the connector as a service (every integration's sweep, sync and rotation on their
//! intervals, `/healthz`, `/metrics`), use the crate `rds-pg-access-service`, which builds on
//! this one; [`audit`] records every grant, extend, revoke, swept user and rotation
//! ([`AccessManager::with_audit`]).
//!
//! | module | crate | what it owns |
//! |---|---|---|
//! | [`integration_model`] | `integration-model` | settings, names, SSL modes, resource paths, access requests (no I/O) |
//! | [`iam_policy`] | `iam-policy` | IAM policy documents, ARNs, policy builders, evaluator, linter (no I/O) |
//! | [`rds_discovery`] | `rds-discovery` | `InstanceDirectory`: RDS and Aurora PostgreSQL instances by ID or tag, or a static endpoint |
//! | [`pg_auth`] | `pg-auth` | `CredentialSource` (password, Secrets Manager, IAM token), libpq-exact TLS, connect, pool |
//! | [`pg_grants`] | `pg-grants` | quoting, time-bound roles, privileges: inspect → plan → apply, revoke, inventory |
//!
//! Each report has a document ([`document`]): its stable JSON shape and text form, exactly
//! what `rdspg` prints. The map of the workspace, the path of a grant and where to make the
//! usual changes: `ARCHITECTURE.md`.
//!
//! ```
//! use rds_pg_access::iam_policy::{ConnectorPolicy, lint};
//! use rds_pg_access::integration_model::Settings;
//!
//! let settings = Settings::from_toml_str(r#"
//!     name = "orders-prod"
//!     region = "eu-west-1"
//!     auth = "iam"
//!     [instance]
//!     id = "orders-db"
//! "#)?;
//! let orders = settings.get("orders-prod").expect("the file names it");
//!
//! // The connector's policy, narrowed to the integration's region.
//! let policy = ConnectorPolicy::builder()
//!     .db_user(orders.connector_user().as_str())
//!     .region(orders.region().as_str())
//!     .build()?;
//! assert!(policy.to_json().contains("arn:aws:rds-db:eu-west-1:*:dbuser:*/apono_connector"));
//! assert!(lint(&policy).iter().all(|f| f.severity < rds_pg_access::iam_policy::Severity::Warning));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Compiles the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod audit;
mod credentials;
pub mod death;
pub mod document;
mod error;
mod files;
mod manager;
mod report;
pub mod rotate;
mod target;

pub use credentials::{ConnectorCredentials, IntegrationCredentials, MAX_CACHED_TARGETS};
pub use error::{AccessError, error_chain};
pub use files::{MAX_SETTINGS_FILE_SIZE, SettingsFileError, load_settings, read_text_file};
pub use manager::{AccessManager, ExtendRequest, ManagerOptions};
pub use manager::{CheckItem, CheckReport};
pub use pg_grants::Applied;
pub use report::{
    DatabasePlan, EndedGrant, FleetObserver, FleetReport, GrantOutcome, GrantRevocation,
    InstanceOutcome, IntegrationPolicies, InventoryCounts, InventoryEntry, PasswordKept,
    SweepReport, SweptFailure, SweptRole, UnchangedRole, UserStatus,
};
pub use rotate::{
    AcceptedStage, InstanceRotation, RotateError, RotateOutcome, Rotation, RotationReport,
    RotationStatus,
};
pub use target::{LOCAL_TARGET, Resolution, Target, default_instance, resolve_targets};
/// The stop signal [`AccessManager::sweep_until`] takes (re-exported so that callers need no
/// `tokio-util` dependency of their own).
pub use tokio_util::sync::CancellationToken;

pub use iam_policy;
pub use integration_model;
pub use pg_auth;
pub use pg_grants;
pub use rds_discovery;
