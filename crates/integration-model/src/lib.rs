//! Pure data for an AWS RDS PostgreSQL access integration: settings, names, SSL modes,
//! resources and access requests, validated once at the edge. No I/O: settings are parsed
//! from text the caller passes in ([`Settings::from_toml_str`], [`Settings::from_json_str`]).
//!
//! # Contents
//!
//! * Settings: [`Settings`] (one file, one or more integrations), [`Integration`] and its
//!   [`IntegrationBuilder`], [`InstanceSelector`], [`AwsSettings`].
//! * Names: [`IntegrationName`], [`InstanceId`], [`Identifier`] (every PostgreSQL name:
//!   database, schema, table, role), [`Region`] and [`Partition`], [`TagKey`], [`TagValue`],
//!   [`TagFilter`], [`TagFilters`].
//! * Connection: [`AuthType`], [`SecretRef`] ([`SecretId`], [`EnvVarName`]), [`SslMode`],
//!   [`Host`], [`Endpoint`], [`AwsEndpointUrl`], [`AwsProfile`], [`RotationPeriod`].
//! * Access: [`ResourceType`], [`ResourceTypes`], [`ResourceRef`], [`ResourcePath`],
//!   [`AccessLevel`], [`AccessDuration`], [`RequestId`], [`AccessRequest`].
//! * Errors: [`ModelError`]; its message starts with the key path and the bad value, e.g.
//!   `instance.id: "9orders" must start with a letter (...)`.
//!
//! Every newtype and enum has `FromStr` and `Display` that round-trip
//! (`x.to_string().parse() == Ok(x)`) and serde as its text form.
//!
//! # Settings file
//!
//! TOML (the `rdspg --config FILE` format) or JSON with the same keys. Unknown keys are
//! errors. One integration:
//!
//! ```toml
//! name = "orders-prod"
//! region = "us-east-1"
//! auth = "password"                  # or "iam"
//! connector_user = "apono_connector" # default
//! holder_role = "rdspg_holder"       # default: prefix of the per-user holders of revoked users' objects
//! database = "postgres"              # default: the database the connector logs in to
//! lock_database = "postgres"         # default: where job and per-role locks are taken
//! ssl_mode = "verify-full"           # default "require"
//! ssl_root_cert = "/etc/ssl/rds-global-bundle.pem"
//! connector_rotation_days = 90
//! credentials_rotation_days = 30
//! resource_types = ["database", "schema", "table"]
//! [instance]
//! id = "orders-db"                   # or: tags = { team = "orders", env = "prod" }
//! [secret]
//! id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf"  # or: env = "ORDERS_PW"
//! [endpoint]                         # optional: a fixed host and port, no discovery
//! host = "127.0.0.1"
//! port = 5432
//! [aws]                              # optional
//! endpoint_url = "http://127.0.0.1:5055"
//! profile = "ops"
//! ```
//!
//! Several integrations: the same keys in `[[integration]]` entries (JSON:
//! `{"integration": [{...}, {...}]}`); names must be unique; top-level keys and entries
//! cannot be mixed.
//!
//! | key | type | required / default | meaning and rule |
//! |---|---|---|---|
//! | `name` | string | required | Unique integration name: 1-64 ASCII letters, digits, `-`, `_`. |
//! | `region` | string | required | One AWS region (`us-east-1`, `eu-west-3`, `us-gov-west-1`, `cn-north-1`, ...). |
//! | `auth` | `"iam"` \| `"password"` | required | How the connector user logs in (the method it was created with). |
//! | `connector_user` | string | `"apono_connector"` | The connector's PostgreSQL role: 1-63 bytes, no NUL, not a reserved name (`pg_*`, `public`, ...). |
//! | `holder_role` | string | `"rdspg_holder"` | The **prefix** of the holder roles that receive revoked users' objects (nothing is dropped): each revoked user that owns something gets a holder of its own, `<prefix>_<16 hex digits>` (a stable hash of the user's OID and name), created by the library with no rights of its own, commented `{"rdspg":1,"kind":"holder","of":"<user>"}`, checked before every revocation and kept after the user is gone (it owns the data). No holder owns two users' objects, so nothing one user left reaches another's. 1-46 bytes, not a reserved name, not the connector. An existing role under a holder's name that is not that user's holder made by the library makes that revocation refuse. |
//! | `database` | string | `"postgres"` | The database the connector logs in to: 1-63 bytes, no NUL. |
//! | `lock_database` | string | `"postgres"` | The one database per instance where the connector takes its advisory locks (job locks, per-role locks), so that integrations with different `database`s exclude each other (PostgreSQL advisory locks are per database). The connector needs CONNECT on it; RDS creates `postgres` on every instance. Integrations sharing an instance must agree on it. 1-63 bytes, no NUL. |
//! | `ssl_mode` | string | `"require"` | libpq mode: `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`. |
//! | `ssl_root_cert` | string (path) | none | PEM CA bundle to verify the server with; not allowed with `disable`. With it, every TLS mode verifies the chain (libpq's rule); without it, `verify-ca` and `verify-full` refuse to connect, as libpq does when it finds no root certificate. For RDS use the global bundle (<https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem>); a regular file of at most 1 MiB. |
//! | `allow_unverified_password` | boolean | `false` | Lab setups only: answer a cleartext or MD5 password request (every IAM token is sent as a cleartext password) from a server whose identity was not verified. Refused where it cannot apply (`ssl_root_cert` with `require`/`verify-ca`/`verify-full`). |
//! | `connector_rotation_days` | integer | none (no rotation) | Rotate the connector's own password every N days, 1-365. |
//! | `credentials_rotation_days` | integer | none | Rotation period of generated users' passwords, 1-365 (applies to users kept between requests). |
//! | `user_cleanup_days` | integer | `0` | Days a revoked generated user is kept before it is dropped, 0-3650 (0: at revocation). |
//! | `resource_types` | array of strings | all three | What to sync: `"database"`, `"schema"`, `"table"`; at least one, no repeats. |
//! | `endpoint_overrides` | table of strings | none | Instance id → `"host:port"` (IPv6 as `"[::1]:5432"`), replacing the discovered endpoint (e.g. a tunnel per instance). Not with `[endpoint]`; with `instance.id`, only that instance. |
//! | `[instance]` `id` | string | one of `id`, `tags`/`tag_keys`, or `[endpoint]` | An RDS DB instance or Aurora DB cluster identifier: 1-63 letters, digits, hyphens, starting with a letter, no `--`, no trailing `-` (stored lower case). |
//! | `[instance]` `tags` | table of strings | | Select every instance whose tag KEY has exactly VALUE (all filters must match). Keys 1-128 characters, values 0-256. |
//! | `[instance]` `tag_keys` | array of strings | | Select instances that have these tag keys, with any value. A key cannot be in both `tags` and `tag_keys`. Exclusive with `id`. |
//! | `[secret]` `id` | string | required for `password` | Secrets Manager secret name or ARN holding the RDS JSON shape. |
//! | `[secret]` `env` | string | (instead of `id`) | An environment variable holding the password, for local use. `[secret]` is refused with `auth = "iam"`. |
//! | `[endpoint]` `host`, `port` | string, integer | none | A fixed address. Alone: no discovery. With `instance.id`: discovery still runs for ARNs and checks, and this says where to connect. Not with tags. |
//! | `[aws]` `endpoint_url` | string | none | `http(s)://host[:port][/path]` used instead of the AWS endpoints (tests, emulators). |
//! | `[aws]` `profile` | string | none | AWS shared-config profile. |
//! | `[[access_flow]]` | array of tables | none (the caller decides) | Who may request what: `name` (1-64 letters, digits, `-`, `_`; unique), `requesters` (grantee name patterns), `resources` (`INSTANCE/DATABASE[/SCHEMA[/TABLE]]` patterns), `levels`, `max_duration` (`8h`), `approval` (default `false`: when `true`, a request needs an approver other than the grantee, recorded in the user's marker). Patterns: `*` any run without `/`, `**` any run, a trailing `/**` also matches the path itself. A grant is refused before any SQL runs unless some flow allows it, and the refusal names each flow's failing rule. |
//!
//! Cross-field rules: `password` needs `[secret]`; `iam` takes no `[secret]` and refuses
//! `ssl_mode = "disable"` (RDS accepts IAM tokens only over TLS); `id` and tags are
//! exclusive; an instance selector or `[endpoint]` is required.
//!
//! Command-line text forms: tag filters `KEY=VALUE` or `KEY` ([`TagFilter`]), resources
//! `INSTANCE/DATABASE[/SCHEMA[/TABLE]]` ([`ResourcePath`], short form without the instance
//! through [`Integration::resource_path`]), durations `30m`, `2h`, `7d`, `1h30m`
//! ([`AccessDuration`]; service intervals such as `60s` or `15m` read the same way, [`Interval`]),
//! secrets `NAME`, `ARN` or `env:VAR` ([`SecretRef`]).
//!
//! ```
//! use integration_model::{AuthType, Settings};
//! let settings = Settings::from_toml_str(r#"
//!     name = "orders-prod"
//!     region = "us-east-1"
//!     auth = "password"
//!     [instance]
//!     id = "orders-db"
//!     [secret]
//!     env = "ORDERS_PW"
//! "#)?;
//! let orders = settings.get("orders-prod").expect("loaded");
//! assert_eq!(orders.auth(), AuthType::Password);
//! let table = orders.resource_path("app/public/orders")?;
//! assert_eq!(table.to_string(), "orders-db/app/public/orders");
//!
//! let err = Settings::from_toml_str("name = \"x\"\nregion = \"us-east-1\"\nauth = \"iam\"\n[instance]\nid = \"9orders\"\n")
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("instance.id: \"9orders\" must start with a letter"));
//! # Ok::<(), integration_model::ModelError>(())
//! ```

mod text;
mod units;

/// Compiles and runs the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod access;
mod auth;
mod aws;
mod duration;
mod endpoint;
mod error;
mod flow;
mod integration;
mod interval;
mod names;
mod node;
mod region;
mod resource;
mod segment;
mod settings;
mod ssl;
mod tag;

pub use access::{AccessLevel, AccessRequest, AccessRequestBuilder, RequestId};
pub use auth::{AuthType, EnvVarName, SecretId, SecretRef};
pub use aws::{AwsEndpointUrl, AwsProfile, AwsSettings};
pub use duration::{AccessDuration, CleanupPeriod, RotationPeriod};
pub use endpoint::{Endpoint, Host};
pub use error::{ModelError, error_chain, one_line};
pub use flow::{AccessFlow, FlowRefusal, FlowScope, Pattern, check_flows, check_flows_within};
pub use integration::{
    DEFAULT_CONNECTOR_USER, DEFAULT_DATABASE, DEFAULT_HOLDER_ROLE, DEFAULT_LOCK_DATABASE,
    InstanceSelector, Integration, IntegrationBuilder, MAX_HOLDER_PREFIX_BYTES,
};
pub use interval::Interval;
pub use names::{Identifier, InstanceId, IntegrationName};
pub use region::{Partition, Region};
pub use resource::{ResourcePath, ResourceRef, ResourceType, ResourceTypes};
pub use settings::Settings;
pub use ssl::SslMode;
pub use tag::{TagFilter, TagFilters, TagKey, TagValue};
