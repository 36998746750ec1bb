//! Hot-standby replicas of a [`TestCluster`], and their promotion: a read-only server that
//! answers `pg_is_in_recovery() = true` and refuses writes with SQLSTATE 25006, as an Aurora
//! reader or an RDS read replica does, and the failover that makes it the writer.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    ClusterBuilder, TestCluster, append, conf_str, make_dir, run, set_mode, start_timeout,
};
use crate::TestkitError;
use crate::psql::clean_pg_env;

impl TestCluster {
    /// Starts a hot standby of this cluster on another free port: `pg_basebackup -R` (run as
    /// the server's OS user, over the primary's private socket), then the server, which
    /// streams the primary's WAL and accepts read-only sessions. Same roles and passwords as
    /// the primary (they are replicated); no TLS (`ssl = off`), whatever the primary has.
    ///
    /// Dropping the standby stops it and deletes its directory; the primary is not touched.
    ///
    /// ```
    /// let primary = pg_testkit::TestCluster::start()?;
    /// let standby = primary.start_standby()?;
    /// assert!(standby.is_in_recovery()?);
    /// assert!(!primary.is_in_recovery()?);
    /// # Ok::<(), pg_testkit::TestkitError>(())
    /// ```
    ///
    /// # Errors
    /// When the base backup fails (with its output) or the standby does not start.
    pub fn start_standby(&self) -> Result<TestCluster, TestkitError> {
        let parent = self
            .dir
            .path()
            .parent()
            .map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
        let dir = tempfile::Builder::new()
            .prefix(&format!("pg-testkit-{}-standby-", self.options.version))
            .tempdir_in(&parent)
            .map_err(|e| {
                TestkitError::io(format!("creating a temp dir in {}", parent.display()), e)
            })?;
        let root = dir.path().to_path_buf();
        set_mode(&root, 0o700)?;
        self.user.chown(&root)?;
        let data_dir = root.join("data");
        let socket_dir = root.join("sock");
        let log_path = root.join("server.log");
        make_dir(&socket_dir, self.user)?;
        std::fs::File::create(&log_path)
            .map_err(|e| TestkitError::io(format!("creating {}", log_path.display()), e))?;
        self.user.chown(&log_path)?;

        let mut cmd = Command::new(self.bins.program("pg_basebackup"));
        clean_pg_env(&mut cmd);
        cmd.arg("-D")
            .arg(&data_dir)
            .args(["-R", "-X", "stream", "-c", "fast", "-h"])
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(&self.superuser.user)
            .stdin(Stdio::null());
        self.user.apply(&mut cmd);
        run(
            cmd,
            "pg_basebackup",
            "copying the primary for a hot standby",
        )?;
        // Later lines win: the standby's own socket directory, no TLS (the primary's key
        // files stay with the primary).
        append(
            &data_dir.join("postgresql.conf"),
            &format!(
                "\n# pg-testkit standby\nunix_socket_directories = {}\nssl = off\nhot_standby = on\n",
                conf_str(&socket_dir)
            ),
        )?;

        let options = ClusterBuilder {
            ssl: false,
            ..self.options.clone()
        };
        let mut standby = TestCluster {
            options,
            bins: self.bins.clone(),
            user: self.user,
            port: 0,
            data_dir,
            socket_dir,
            log_path,
            tls: None,
            superuser: self.superuser.clone(),
            master: self.master.clone(),
            connector: self.connector.clone(),
            app_owner: self.app_owner.clone(),
            child: None,
            dir,
        };
        standby.start_on_free_port()?;
        Ok(standby)
    }

    /// `pg_ctl promote`: a standby becomes a writer (a failover). Waits until it accepts
    /// writes.
    ///
    /// # Errors
    /// When `pg_ctl promote` fails (e.g. this server is not a standby).
    pub fn promote(&self) -> Result<(), TestkitError> {
        let mut cmd = Command::new(self.bins.program("pg_ctl"));
        cmd.arg("promote")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "30"])
            .stdin(Stdio::null());
        self.user.apply(&mut cmd);
        run(cmd, "pg_ctl promote", "promoting a standby").map(drop)
    }

    /// `pg_is_in_recovery()`: whether this server is a standby.
    ///
    /// # Errors
    /// When the query fails.
    pub fn is_in_recovery(&self) -> Result<bool, TestkitError> {
        Ok(self.sql("postgres", "SELECT pg_catalog.pg_is_in_recovery()")? == "t")
    }

    /// Waits until `standby` has replayed everything this primary has written so far.
    ///
    /// # Errors
    /// When a query fails, or the standby has not caught up within the start timeout.
    pub fn wait_for_standby(&self, standby: &TestCluster) -> Result<(), TestkitError> {
        let lsn = self.sql("postgres", "SELECT pg_catalog.pg_current_wal_lsn()")?;
        let check = format!(
            "SELECT pg_catalog.pg_last_wal_replay_lsn() OPERATOR(pg_catalog.>=) '{}'::pg_catalog.pg_lsn",
            lsn.replace('\'', "")
        );
        let deadline = Instant::now() + start_timeout();
        loop {
            if standby.sql("postgres", &check)? == "t" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::StartFailed {
                    version: standby.options.version,
                    port: standby.port,
                    reason: format!("the standby has not replayed the primary's WAL up to {lsn}"),
                    log_tail: super::log_tail(&standby.server_log().unwrap_or_default()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
