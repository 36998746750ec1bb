//! [`TestCluster`]: one throwaway PostgreSQL server.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestkitError;
use crate::binaries::{self, PgBinaries};
use crate::credentials::Credentials;
use crate::os_user::ServerUser;
use crate::psql::{self, clean_pg_env, conninfo_value, quote_ident, quote_literal};
use crate::rds;
use crate::template;
use crate::tls::{self, TlsFiles};
use crate::versions::TLS_VERSIONS;
use crate::watchdog::{self, StopSignal};

mod standby;

/// Major version used when the builder is not told otherwise.
pub const DEFAULT_VERSION: u32 = 15;
/// Environment variable: seconds to wait for a server to accept connections (default 10).
pub const START_TIMEOUT_ENV: &str = "RDSPG_TEST_START_TIMEOUT_SECS";
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 5;
const LOOPBACK: &str = "127.0.0.1";

/// Which TCP connections `pg_hba.conf` admits. Every preset authenticates with
/// `scram-sha-256` from `127.0.0.1/32` and `::1/128`.
///
/// Unix-socket connections (inside the cluster's private directory) admit the bootstrap
/// superuser by `trust` and every other role by `scram-sha-256`, whatever the preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HbaPreset {
    /// `host`: TLS and plain TCP both accepted.
    #[default]
    HostBoth,
    /// `hostssl`: only TLS connections (needs `ssl(true)`).
    HostSslOnly,
    /// `hostnossl`: only non-TLS connections.
    HostNoSslOnly,
}

impl HbaPreset {
    fn keyword(self) -> &'static str {
        match self {
            Self::HostBoth => "host",
            Self::HostSslOnly => "hostssl",
            Self::HostNoSslOnly => "hostnossl",
        }
    }
}

/// Options of a [`TestCluster`]; made by [`TestCluster::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ClusterBuilder {
    version: u32,
    ssl: bool,
    sans: Vec<String>,
    hba: HbaPreset,
    log_statements: bool,
    config_lines: Vec<String>,
    rds_emulation: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            version: DEFAULT_VERSION,
            ssl: false,
            sans: vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ],
            hba: HbaPreset::HostBoth,
            log_statements: false,
            config_lines: Vec::new(),
            rds_emulation: true,
        }
    }
}

impl ClusterBuilder {
    /// PostgreSQL major version (default 15). See the crate docs for where binaries are found.
    pub fn version(mut self, major: u32) -> Self {
        self.version = major;
        self
    }

    /// Turns TLS on (`ssl = on`) with a server certificate issued by a per-cluster test CA.
    /// Only the versions in [`TLS_VERSIONS`](crate::TLS_VERSIONS) have TLS; on others,
    /// [`start`](Self::start) fails with [`TestkitError::TlsUnsupported`].
    pub fn ssl(mut self, on: bool) -> Self {
        self.ssl = on;
        self
    }

    /// Subject alternative names of the server certificate (default `localhost`, `127.0.0.1`,
    /// `::1`). IP addresses become IP SANs, anything else DNS SANs. The first is also the CN.
    pub fn server_cert_sans(mut self, sans: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.sans = sans.into_iter().map(Into::into).collect();
        self
    }

    /// Which TCP connections are admitted (default [`HbaPreset::HostBoth`]).
    pub fn hba(mut self, preset: HbaPreset) -> Self {
        self.hba = preset;
        self
    }

    /// `log_statement = 'all'`: every statement appears in [`TestCluster::server_log`]. It takes
    /// effect after the kit's own setup, so the log holds no setup statement (and no password).
    /// It wins over a `log_statement` given with [`config_line`](Self::config_line).
    pub fn log_statements(mut self, on: bool) -> Self {
        self.log_statements = on;
        self
    }

    /// Appends a line to `postgresql.conf` (after the kit's own settings, so it wins).
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.config_lines.push(line.into());
        self
    }

    /// Creates the RDS permission model and sample objects (default on); see [`crate::rds`].
    pub fn rds_emulation(mut self, on: bool) -> Self {
        self.rds_emulation = on;
        self
    }

    /// Creates, starts and (optionally) populates the cluster.
    ///
    /// # Errors
    /// Missing binaries (with the install command), invalid options, or a server that does not
    /// start (with the tail of its log).
    pub fn start(self) -> Result<TestCluster, TestkitError> {
        TestCluster::create(self)
    }

    fn validate(&self) -> Result<(), TestkitError> {
        if self.ssl && self.sans.is_empty() {
            return Err(TestkitError::InvalidOption {
                option: "server_cert_sans",
                reason: "at least one name is needed for the server certificate".to_owned(),
            });
        }
        if self.hba == HbaPreset::HostSslOnly && !self.ssl {
            return Err(TestkitError::InvalidOption {
                option: "hba",
                reason: "HbaPreset::HostSslOnly admits only TLS connections; also set ssl(true)"
                    .to_owned(),
            });
        }
        if let Some(line) = self.config_lines.iter().find(|l| l.contains('\n')) {
            return Err(TestkitError::InvalidOption {
                option: "config_line",
                reason: format!("{line:?} contains a newline; pass one setting per call"),
            });
        }
        Ok(())
    }
}

/// Where a psql connection goes.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// The unix socket in the private directory.
    Socket,
    /// TCP to 127.0.0.1 (subject to the hba preset).
    Tcp,
}

/// A throwaway PostgreSQL server in a private temporary directory, listening on a free port of
/// 127.0.0.1. Dropping it (also while a test panics) stops the server and deletes the directory.
///
/// ```
/// let cluster = pg_testkit::TestCluster::start()?;
/// let n = cluster.sql("appdb", "SELECT count(*) FROM sales.orders")?;
/// assert_eq!(n, "3");
/// # Ok::<(), pg_testkit::TestkitError>(())
/// ```
#[derive(Debug)]
pub struct TestCluster {
    options: ClusterBuilder,
    bins: PgBinaries,
    user: ServerUser,
    port: u16,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    tls: Option<TlsFiles>,
    superuser: Credentials,
    master: Credentials,
    connector: Credentials,
    app_owner: Credentials,
    child: Option<Child>,
    // Last field: removed after `Drop::drop` has stopped the server.
    dir: TempDir,
}

impl TestCluster {
    /// A builder with the defaults: version 15, no TLS, [`HbaPreset::HostBoth`], RDS emulation on.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// Starts a cluster with the defaults (see [`TestCluster::builder`]).
    ///
    /// # Errors
    /// As [`ClusterBuilder::start`].
    pub fn start() -> Result<TestCluster, TestkitError> {
        Self::builder().start()
    }

    fn create(options: ClusterBuilder) -> Result<Self, TestkitError> {
        options.validate()?;
        let user = ServerUser::detect()?;
        let bins = binaries::locate(options.version, user)?;

        // As root, use /tmp (world-searchable) rather than $TMPDIR, whose parents the server
        // account might not be able to reach.
        let parent = match user {
            ServerUser::Current => std::env::temp_dir(),
            ServerUser::Switch { .. } => PathBuf::from("/tmp"),
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("pg-testkit-{}-", options.version))
            .tempdir_in(&parent)
            .map_err(|e| {
                TestkitError::io(format!("creating a temp dir in {}", parent.display()), e)
            })?;
        let root = dir.path().to_path_buf();
        set_mode(&root, 0o700)?;
        user.chown(&root)?;

        let data_dir = root.join("data");
        let socket_dir = root.join("sock");
        let log_path = root.join("server.log");
        make_dir(&socket_dir, user)?;
        File::create(&log_path)
            .map_err(|e| TestkitError::io(format!("creating {}", log_path.display()), e))?;
        user.chown(&log_path)?;

        let tls = if options.ssl {
            let tls_dir = root.join("tls");
            make_dir(&tls_dir, user)?;
            Some(tls::generate(&tls_dir, &options.sans, user)?)
        } else {
            None
        };

        let mut cluster = TestCluster {
            bins,
            user,
            port: 0,
            data_dir,
            socket_dir,
            log_path,
            tls,
            superuser: Credentials::random(rds::SUPERUSER),
            master: Credentials::random(rds::MASTER),
            connector: Credentials::random(rds::CONNECTOR),
            app_owner: Credentials::random(rds::APP_OWNER),
            child: None,
            dir,
            options,
        };
        template::init_data_dir(&cluster.bins, cluster.user, &cluster.data_dir)?;
        cluster.write_config()?;
        cluster.start_on_free_port()?;
        cluster.run_psql(
            Via::Socket,
            &cluster.superuser,
            "postgres",
            &format!(
                "ALTER ROLE {} PASSWORD {};",
                quote_ident(&cluster.superuser.user),
                quote_literal(&cluster.superuser.password)
            ),
        )?;
        if cluster.options.rds_emulation {
            rds::emulate(&cluster)?;
        }
        if cluster.options.log_statements {
            // Turned on only now, so that the setup's CREATE ROLE ... PASSWORD statements (which
            // PostgreSQL would log verbatim) never reach the log the tests read.
            cluster.enable_log_statements()?;
        }
        Ok(cluster)
    }

    fn enable_log_statements(&self) -> Result<(), TestkitError> {
        append(
            &self.data_dir.join("postgresql.conf"),
            "log_statement = 'all'\n",
        )?;
        self.sql("postgres", "SELECT pg_reload_conf()")?;
        // The postmaster applies the reload asynchronously; new sessions see it soon after.
        let deadline = Instant::now() + start_timeout();
        loop {
            if self.sql("postgres", "SHOW log_statement")? == "all" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::StartFailed {
                    version: self.options.version,
                    port: self.port,
                    reason: "log_statement = 'all' not in effect after a reload".to_owned(),
                    log_tail: log_tail(&self.server_log().unwrap_or_default()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn write_config(&self) -> Result<(), TestkitError> {
        let opts = &self.options;
        let mut conf = String::from("\n# pg-testkit\n");
        let _ = writeln!(conf, "listen_addresses = '{LOOPBACK}'");
        let _ = writeln!(
            conf,
            "unix_socket_directories = {}",
            conf_str(&self.socket_dir)
        );
        let _ = writeln!(
            conf,
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off"
        );
        let _ = writeln!(conf, "password_encryption = 'scram-sha-256'");
        let _ = writeln!(conf, "shared_buffers = 16MB\nmax_connections = 100");
        let _ = writeln!(conf, "logging_collector = off\nlog_destination = 'stderr'");
        let _ = writeln!(conf, "log_line_prefix = '%m [%p] %q%u@%d '");
        let _ = writeln!(conf, "log_timezone = 'UTC'\ntimezone = 'UTC'");
        if let Some(tls) = &self.tls {
            let _ = writeln!(conf, "ssl = on");
            let _ = writeln!(conf, "ssl_cert_file = {}", conf_str(&tls.server_cert));
            let _ = writeln!(conf, "ssl_key_file = {}", conf_str(&tls.server_key));
        } else {
            let _ = writeln!(conf, "ssl = off");
        }
        for line in &opts.config_lines {
            let _ = writeln!(conf, "{line}");
        }
        append(&self.data_dir.join("postgresql.conf"), &conf)?;

        let host = opts.hba.keyword();
        let hba = format!(
            "# pg-testkit: written at creation\n\
             # TYPE  DATABASE USER ADDRESS METHOD\n\
             local   all {su} trust\n\
             local   replication {su} trust\n\
             local   all all scram-sha-256\n\
             {host} all all 127.0.0.1/32 scram-sha-256\n\
             {host} all all ::1/128 scram-sha-256\n",
            su = rds::SUPERUSER
        );
        let hba_path = self.data_dir.join("pg_hba.conf");
        fs::write(&hba_path, hba)
            .map_err(|e| TestkitError::io(format!("writing {}", hba_path.display()), e))
    }

    /// Picks a free port and starts; retries with another port when a concurrent process took it.
    fn start_on_free_port(&mut self) -> Result<(), TestkitError> {
        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            self.port = free_port()?;
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(StartError::PortInUse(e)) => last_err = Some(e),
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| TestkitError::StartFailed {
            version: self.options.version,
            port: self.port,
            reason: "no free port".to_owned(),
            log_tail: String::new(),
        }))
    }

    fn start_server(&mut self) -> Result<(), StartError> {
        let log_start = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
        let log = OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .map_err(|e| TestkitError::io(format!("opening {}", self.log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| TestkitError::io("duplicating the log file handle", e))?;
        // Under a watchdog: the server gets a fast shutdown when this process ends, however.
        let mut cmd = watchdog::command(&self.bins.program("postgres"), StopSignal::Int);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .stdout(log)
            .stderr(log_err);
        self.user.apply(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            TestkitError::io(
                format!(
                    "starting {} (under /bin/sh)",
                    self.bins.program("postgres").display()
                ),
                e,
            )
        })?;
        self.child = Some(child);

        let deadline = Instant::now() + start_timeout();
        let pid_file = self.data_dir.join("postmaster.pid");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let new_log = read_from(&self.log_path, log_start);
                return Err(self.classify_start_failure(status.to_string(), &new_log));
            }
            // Line 8 of postmaster.pid is the postmaster status; "ready" once it accepts
            // connections (PostgreSQL 10+, src/include/utils/pidfile.h).
            if let Ok(text) = fs::read_to_string(&pid_file)
                && text.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let tail = log_tail(&read_from(&self.log_path, log_start));
                self.kill_child();
                return Err(StartError::Other(TestkitError::StartFailed {
                    version: self.options.version,
                    port: self.port,
                    reason: format!(
                        "not ready after {:?} (raise {START_TIMEOUT_ENV} on a slow machine)",
                        start_timeout()
                    ),
                    log_tail: tail,
                }));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn classify_start_failure(&self, status: String, log: &str) -> StartError {
        if log.contains("SSL is not supported by this build") {
            return StartError::Other(TestkitError::TlsUnsupported {
                version: self.options.version,
                bin_dir: self.bins.bin_dir.clone(),
                tls_versions: TLS_VERSIONS,
            });
        }
        let err = TestkitError::StartFailed {
            version: self.options.version,
            port: self.port,
            reason: format!("the server exited ({status})"),
            log_tail: log_tail(log),
        };
        if log.contains("Address already in use")
            || log.contains("could not create any TCP/IP sockets")
        {
            StartError::PortInUse(err)
        } else {
            StartError::Other(err)
        }
    }

    /// Closes the watchdog's pipe (which makes it send postgres SIGINT), then kills the watchdog.
    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Major version of the server.
    pub fn version(&self) -> u32 {
        self.options.version
    }

    /// Host to connect to over TCP: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        LOOPBACK
    }

    /// TCP port on [`host`](Self::host).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding this version's `initdb`, `postgres`, `pg_ctl` (and usually `psql`).
    pub fn bin_dir(&self) -> &Path {
        &self.bins.bin_dir
    }

    /// Directory of the server's unix socket (inside the cluster's private directory).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The cluster's private temporary directory (deleted on drop).
    pub fn root_dir(&self) -> &Path {
        self.dir.path()
    }

    /// PEM file of the CA that issued the server certificate (`None` without TLS).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// PEM file of an unrelated CA, for tests that must fail verification (`None` without TLS).
    pub fn other_ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.other_ca_cert.as_path())
    }

    /// PEM file of the server certificate (`None` without TLS).
    pub fn server_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.server_cert.as_path())
    }

    /// The bootstrap superuser, `rdsadmin` (like RDS's hidden one).
    pub fn superuser(&self) -> &Credentials {
        &self.superuser
    }

    /// The RDS-like master user `postgres`: not superuser, CREATEROLE CREATEDB, member of
    /// `rds_superuser` WITH ADMIN OPTION. The role exists only with RDS emulation on.
    pub fn master(&self) -> &Credentials {
        &self.master
    }

    /// `apono_connector`, created by the master exactly as the setup guide says, with a password.
    /// The role exists only with RDS emulation on.
    pub fn connector(&self) -> &Credentials {
        &self.connector
    }

    /// `app_owner`: owns the `inventory` schema; the connector is not a member.
    /// The role exists only with RDS emulation on.
    pub fn app_owner(&self) -> &Credentials {
        &self.app_owner
    }

    /// A libpq key=value connection string over TCP with `sslmode=disable`, password included.
    pub fn conn_string(&self, creds: &Credentials, database: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={} sslmode=disable",
            LOOPBACK,
            self.port,
            conninfo_value(&creds.user),
            conninfo_value(&creds.password),
            conninfo_value(database)
        )
    }

    /// Runs `sql` as the superuser (unix socket) with `psql -X -A -t -q -v ON_ERROR_STOP=1`,
    /// returning stdout without its trailing newline. Several statements may be given.
    ///
    /// # Errors
    /// [`TestkitError::CommandFailed`] with psql's message when a statement fails.
    pub fn sql(&self, database: &str, sql: &str) -> Result<String, TestkitError> {
        self.run_psql(Via::Socket, &self.superuser, database, sql)
    }

    /// Runs `sql` as `creds` over TCP with its password (so `pg_hba.conf` applies), with
    /// `sslmode=prefer` when TLS is on and `disable` otherwise. Same output as [`sql`](Self::sql).
    ///
    /// # Errors
    /// [`TestkitError::CommandFailed`] with psql's message (e.g. `permission denied`).
    pub fn sql_as(
        &self,
        creds: &Credentials,
        database: &str,
        sql: &str,
    ) -> Result<String, TestkitError> {
        self.run_psql(Via::Tcp, creds, database, sql)
    }

    /// Runs `sql` as `creds` over the unix socket (password auth), whatever the hba preset.
    pub(crate) fn sql_as_local(
        &self,
        creds: &Credentials,
        database: &str,
        sql: &str,
    ) -> Result<String, TestkitError> {
        self.run_psql(Via::Socket, creds, database, sql)
    }

    /// `psql` of this version with a clean environment (no `PG*` variables from the caller, no
    /// `~/.pgpass`, no `psqlrc`) and `PGHOST=127.0.0.1`, `PGPORT` set; no password.
    /// Add the connection string and arguments of the test.
    pub fn psql_command(&self) -> Command {
        let mut cmd = Command::new(&self.bins.psql);
        clean_pg_env(&mut cmd);
        cmd.env("PGHOST", LOOPBACK)
            .env("PGPORT", self.port.to_string())
            .arg("-X")
            .stdin(Stdio::null());
        cmd
    }

    /// Everything the server has logged so far (stderr of the postmaster).
    ///
    /// # Errors
    /// When the log file cannot be read.
    pub fn server_log(&self) -> Result<String, TestkitError> {
        let bytes = fs::read(&self.log_path)
            .map_err(|e| TestkitError::io(format!("reading {}", self.log_path.display()), e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server with a fast shutdown, keeping the data directory. Idempotent.
    ///
    /// # Errors
    /// When `pg_ctl stop` fails (the process is then killed).
    pub fn stop(&mut self) -> Result<(), TestkitError> {
        if self.child.is_none() {
            return Ok(());
        }
        let mut cmd = Command::new(self.bins.program("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30"])
            .stdin(Stdio::null());
        self.user.apply(&mut cmd);
        let result = run(cmd, "pg_ctl stop", "");
        if result.is_err() {
            self.kill_child();
        } else if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        result.map(drop)
    }

    /// Stops and starts the server again: same port, same data.
    ///
    /// # Errors
    /// As [`stop`](Self::stop), or when the server does not come back (e.g. the port was taken).
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop()?;
        self.start_server().map_err(StartError::into_inner)
    }

    /// Starts a server that [`stop`](Self::stop) stopped, on the same port with the same data
    /// (a server that is down for a while, then back). Does nothing when it runs.
    ///
    /// # Errors
    /// When the server does not come back (e.g. the port was taken meanwhile).
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        if self.is_running() {
            return Ok(());
        }
        self.child = None;
        self.start_server().map_err(StartError::into_inner)
    }

    fn run_psql(
        &self,
        via: Via,
        creds: &Credentials,
        database: &str,
        sql: &str,
    ) -> Result<String, TestkitError> {
        let target = match via {
            Via::Socket => psql::Target {
                host: self.socket_dir.to_string_lossy().into_owned(),
                port: self.port,
                sslmode: "disable",
                description: "unix socket",
            },
            Via::Tcp => psql::Target {
                host: LOOPBACK.to_owned(),
                port: self.port,
                sslmode: if self.tls.is_some() {
                    "prefer"
                } else {
                    "disable"
                },
                description: "TCP",
            },
        };
        psql::run(&self.bins.psql, &target, creds, database, sql)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if self.stop().is_err() {
            self.kill_child();
        }
    }
}

enum StartError {
    PortInUse(TestkitError),
    Other(TestkitError),
}

impl StartError {
    fn into_inner(self) -> TestkitError {
        match self {
            Self::PortInUse(e) | Self::Other(e) => e,
        }
    }
}

impl From<TestkitError> for StartError {
    fn from(e: TestkitError) -> Self {
        Self::Other(e)
    }
}

fn start_timeout() -> Duration {
    std::env::var(START_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(DEFAULT_START_TIMEOUT, Duration::from_secs)
}

/// A port the kernel just handed out on 127.0.0.1 (may be taken again before the server binds
/// it; the caller retries on "Address already in use").
fn free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind((LOOPBACK, 0))
        .map_err(|e| TestkitError::io("binding 127.0.0.1:0 to find a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| TestkitError::io("reading the free port", e))
}

fn run(mut cmd: Command, program: &str, context: &str) -> Result<String, TestkitError> {
    let output = cmd
        .output()
        .map_err(|e| TestkitError::io(format!("running {program}"), e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(TestkitError::CommandFailed {
            program: program.to_owned(),
            status: output.status.to_string(),
            context: context.to_owned(),
            stderr: stderr.trim_end().to_owned(),
        })
    }
}

fn make_dir(dir: &Path, user: ServerUser) -> Result<(), TestkitError> {
    fs::create_dir(dir).map_err(|e| TestkitError::io(format!("creating {}", dir.display()), e))?;
    set_mode(dir, 0o700)?;
    user.chown(dir)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), TestkitError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| TestkitError::io(format!("chmod {mode:o} {}", path.display()), e))
}

fn append(path: &Path, text: &str) -> Result<(), TestkitError> {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| TestkitError::io(format!("opening {}", path.display()), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(30);
    lines.get(start..).unwrap_or_default().join("\n")
}

/// A `postgresql.conf` string literal.
fn conf_str(path: &Path) -> String {
    format!(
        "'{}'",
        path.to_string_lossy()
            .replace('\\', "\\\\")
            .replace('\'', "''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strings_are_quoted() {
        assert_eq!(conf_str(Path::new("/tmp/o'k")), "'/tmp/o''k'");
    }

    #[test]
    fn invalid_options_are_rejected_before_anything_runs() {
        let err = TestCluster::builder()
            .hba(HbaPreset::HostSslOnly)
            .validate()
            .expect_err("hostssl without ssl");
        assert!(err.to_string().contains("ssl(true)"), "{err}");
        let err = TestCluster::builder()
            .ssl(true)
            .server_cert_sans(Vec::<String>::new())
            .validate()
            .expect_err("no SANs");
        assert!(err.to_string().contains("server_cert_sans"), "{err}");
        let err = TestCluster::builder()
            .config_line("a = 1\nb = 2")
            .validate()
            .expect_err("newline");
        assert!(err.to_string().contains("config_line"), "{err}");
    }

    #[test]
    fn log_tail_keeps_last_lines() {
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 70"));
        assert!(tail.ends_with("line 99"));
    }
}
