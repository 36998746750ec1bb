//! Argument definitions (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Output;

/// Just-in-time access to AWS RDS PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "rdspg", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub(crate) output: Output,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// IAM policies: with --config, the integration's policies with real ARNs; or print the
    /// connector or end-user policy, lint a policy, evaluate a request.
    Policy(PolicyArgs),
    /// The integration's inventory of the resource types it syncs, one line each.
    Sync(ConfigArgs),
    /// Check the whole integration: instances, login, TLS, the connector's rights, owners.
    Check(ConfigArgs),
    /// Revoke every managed user whose access has expired, on every instance.
    Sweep(ConfigArgs),
    /// Rotate the connector's password (Secrets Manager's four steps on every instance) when
    /// connector_rotation_days have passed, or with --force; finishes an unfinished rotation.
    Rotate(RotateArgs),
    /// Move a managed user's expiry (longer or shorter) on every instance.
    Extend(ExtendArgs),
    /// Run every integration of the file continuously: sweep, sync and rotate on their
    /// intervals, with /healthz and /metrics over HTTP, until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Start a throwaway local PostgreSQL with the RDS permission model and TLS, and walk
    /// through check, sync, grant, login, a refused write, revoke, a refused login.
    Quickstart(QuickstartArgs),
    /// Read a settings file and report whether it is valid (exit 2 with the key path when not).
    Validate(ValidateArgs),
    /// Print an IAM database-authentication token (valid 15 minutes).
    Token(TokenArgs),
    /// Connect once and report whether TLS is in use and the server version.
    Ping(PingArgs),
    /// List the RDS and Aurora PostgreSQL instances matching an identifier or tags.
    Discover(DiscoverArgs),
    /// Create a time-bound database user with a level of access, and print its credentials.
    Grant(GrantArgs),
    /// End a managed user's access everywhere (or, with --request, one of its grants): the
    /// user is dropped, its objects reassigned, never dropped; or, with user_cleanup_days,
    /// kept disabled until its cleanup.
    Revoke(RevokeArgs),
    /// List the managed users with where they stand: active, expired, disabled (revoked and
    /// kept) and when they are deleted.
    Users(ConfigArgs),
    /// Show where a managed user stands (its grants) and the privileges it holds, per instance
    /// and database.
    Inspect(InspectArgs),
    /// List databases, schemas and tables (with kind and owner), one line each.
    Inventory(ConfigArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The settings file (TOML, or JSON when it ends in `.json`).
    #[arg(long)]
    pub(crate) config: PathBuf,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(group(clap::ArgGroup::new("policy_source").args(["config"])))]
pub(crate) struct PolicyArgs {
    /// Print the integration's connector and end-user policies, narrowed with discovery.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Which integration of the file (needed when it holds more than one).
    #[arg(long, requires = "config")]
    pub(crate) integration: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Option<PolicyCommand>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// The connector's `rds-db:connect` policy (the setup guide's document by default).
    Connector(PolicyScopeArgs),
    /// The end users' policy: `rds-db:connect` as `${SAML:sub}` plus `rds:DescribeDBInstances`.
    User(UserPolicyArgs),
    /// Lint a policy document; exit 1 when a finding has severity error or warning.
    Lint(LintArgs),
    /// Evaluate whether the policy allows an action on a resource; exit 1 when denied.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicyScopeArgs {
    /// Narrow to one region (also picks the partition: `cn-*` is aws-cn, `us-gov-*` aws-us-gov).
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Narrow to one 12-digit AWS account.
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// Narrow to instances by `DbiResourceId` (`db-…`), cluster (`cluster-…`) or proxy (`prx-…`); repeatable.
    #[arg(long = "resource-id")]
    pub(crate) resource_ids: Vec<String>,
    /// The database user (default: `apono_connector` for the connector, `${SAML:sub}` for users).
    #[arg(long)]
    pub(crate) db_user: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct UserPolicyArgs {
    #[command(flatten)]
    pub(crate) scope: PolicyScopeArgs,
    /// Add the `saml:sub_type = persistent` condition (recommended with `${SAML:sub}`).
    #[arg(long)]
    pub(crate) require_persistent_sub: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// The policy JSON file.
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The policy JSON file.
    pub(crate) file: PathBuf,
    /// The action, e.g. `rds-db:connect`.
    #[arg(long)]
    pub(crate) action: String,
    /// The resource ARN, e.g. `arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/alice`.
    #[arg(long)]
    pub(crate) resource: String,
    /// A request-context value `KEY=VALUE` (e.g. `SAML:sub=alice`); repeat a key for several values.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub(crate) vars: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The instance's endpoint host name (the token signs it).
    #[arg(long)]
    pub(crate) host: String,
    /// The instance's port.
    #[arg(long, default_value_t = 5432)]
    pub(crate) port: u16,
    /// The database user to log in as.
    #[arg(long)]
    pub(crate) user: String,
    /// The instance's AWS region.
    #[arg(long)]
    pub(crate) region: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("credential").required(true).args(["password_env", "iam"])))]
pub(crate) struct PingArgs {
    /// Server host name or IP address.
    #[arg(long)]
    pub(crate) host: String,
    /// Server port.
    #[arg(long, default_value_t = 5432)]
    pub(crate) port: u16,
    /// The user to log in as.
    #[arg(long)]
    pub(crate) user: String,
    /// The database to connect to.
    #[arg(long, default_value = "postgres")]
    pub(crate) database: String,
    /// libpq SSL mode: disable, allow, prefer, require, verify-ca, verify-full.
    #[arg(long, default_value = "prefer")]
    pub(crate) sslmode: String,
    /// PEM file of root certificates to verify the server with.
    #[arg(long)]
    pub(crate) sslrootcert: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,
    /// Log in with an IAM database-authentication token (AWS credentials from the standard chain).
    #[arg(long, requires = "region")]
    pub(crate) iam: bool,
    /// The AWS region, with --iam.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Give up connecting after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) connect_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct DiscoverArgs {
    /// The AWS region to look in.
    #[arg(long)]
    pub(crate) region: String,
    /// One RDS instance (or Aurora cluster) identifier.
    #[arg(long, conflicts_with = "tags", required_unless_present = "tags")]
    pub(crate) instance_id: Option<String>,
    /// A tag filter, `KEY=VALUE` or `KEY` (tag present); repeat to require several.
    #[arg(long = "tag", value_name = "K=V")]
    pub(crate) tags: Vec<String>,
    /// Send AWS API calls here instead of AWS (a local emulator).
    #[arg(long)]
    pub(crate) endpoint_url: Option<String>,
    /// The AWS shared-config profile to use.
    #[arg(long)]
    pub(crate) profile: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Rotate even if the rotation period has not passed.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The settings file (TOML, or JSON when it ends in `.json`).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Which integration of the file (needed when it holds more than one).
    #[arg(long)]
    pub(crate) integration: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct GrantArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The database user to create (or complete) for the requester.
    #[arg(long)]
    pub(crate) user: String,
    /// read-only, read-write or admin.
    #[arg(long)]
    pub(crate) level: String,
    /// The database (with --schema and --table to narrow it).
    #[arg(long, required_unless_present = "resources")]
    pub(crate) database: Option<String>,
    /// One schema of --database.
    #[arg(long, requires = "database")]
    pub(crate) schema: Option<String>,
    /// One table of --schema.
    #[arg(long, requires = "schema")]
    pub(crate) table: Option<String>,
    /// The instance of --database, when the integration selects several.
    #[arg(long, requires = "database")]
    pub(crate) instance: Option<String>,
    /// A resource `INSTANCE/DATABASE[/SCHEMA[/TABLE]]` (repeatable), instead of --database.
    #[arg(long = "resource", value_name = "PATH", conflicts_with = "database")]
    pub(crate) resources: Vec<String>,
    /// How long access lasts: `30m`, `2h`, `7d`, `1h30m`.
    #[arg(long = "for", value_name = "DURATION")]
    pub(crate) duration: String,
    /// The request id recorded with the user (default: derived from the request).
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// Why access is requested.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Who approved the request (needed by access flows with `approval = true`; recorded in
    /// the user's marker).
    #[arg(long)]
    pub(crate) approved_by: Option<String>,
    /// Print the SQL that would run, change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The managed database user.
    #[arg(long)]
    pub(crate) user: String,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The managed database user.
    #[arg(long)]
    pub(crate) user: String,
    /// End only this request's grant (the user keeps its other grants).
    #[arg(long)]
    pub(crate) request: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The database user.
    #[arg(long)]
    pub(crate) user: String,
    /// Only this database (default: every database).
    #[arg(long)]
    pub(crate) database: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct QuickstartArgs {
    /// PostgreSQL major version of the throwaway server (15, 17 or 18; 18 has no TLS here).
    #[arg(long, default_value_t = 15)]
    pub(crate) pg_version: u32,
    /// After the walk-through, keep the server up and serve the access API and the status
    /// page on `--listen`, printing a token for them, until Ctrl-C.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Loopback address of the access API with `--serve`.
    #[arg(
        long,
        default_value = "127.0.0.1:9187",
        requires = "serve",
        value_name = "ADDR"
    )]
    pub(crate) listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub(crate) struct ExtendArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// The managed database user.
    #[arg(long)]
    pub(crate) user: String,
    /// The new expiry counted from now: `30m`, `2h`, `7d`.
    #[arg(long = "for", value_name = "DURATION")]
    pub(crate) duration: String,
    /// Who approved the extension (needed by access flows with `approval = true`).
    #[arg(long)]
    pub(crate) approved_by: Option<String>,
    /// Extend only this request's grant (default: every active grant of the user).
    #[arg(long)]
    pub(crate) request: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The settings file (TOML, or JSON when it ends in `.json`); every integration in it runs.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Loopback address for `/healthz` and `/metrics`.
    #[arg(long, default_value = "127.0.0.1:9187")]
    pub(crate) listen: std::net::SocketAddr,
    /// How often to revoke expired users: `60s`, `5m`, `1h`.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub(crate) sweep_every: String,
    /// How often to run discovery and sync.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub(crate) sync_every: String,
    /// How often to check whether the connector's password is due for rotation.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub(crate) rotate_every: String,
    /// Where audit records go: `stdout` (JSON lines) or a file, appended to.
    #[arg(long, default_value = "stdout", value_name = "stdout|FILE")]
    pub(crate) audit: String,
    /// Serve the access API under `/v1/` for the callers of this TOML file (each with the
    /// SHA-256 of its bearer token, its integrations, actions and access flows).
    #[arg(long, value_name = "FILE")]
    pub(crate) api_callers: Option<PathBuf>,
    /// An address of its own for the access API (default: the `--listen` one); off loopback
    /// only with TLS.
    #[arg(long, requires = "api_callers", value_name = "ADDR")]
    pub(crate) api_listen: Option<std::net::SocketAddr>,
    /// The access API's TLS certificate chain (PEM), reloaded on SIGHUP and when it changes.
    #[arg(long, requires_all = ["api_listen", "api_tls_key"], value_name = "FILE")]
    pub(crate) api_tls_cert: Option<PathBuf>,
    /// The access API's TLS private key (PEM).
    #[arg(long, requires = "api_tls_cert", value_name = "FILE")]
    pub(crate) api_tls_key: Option<PathBuf>,
    /// CA certificates (PEM) of client certificates that identify callers (mutual TLS).
    #[arg(long, requires = "api_tls_cert", value_name = "FILE")]
    pub(crate) api_client_ca: Option<PathBuf>,
}
