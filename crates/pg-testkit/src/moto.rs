//! [`MotoServer`]: a local `moto_server` (AWS API mock) for one test.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestkitError;
use crate::watchdog::{self, StopSignal};

const REGION: &str = "us-east-1";
const DUMMY_KEY: &str = "testing";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `moto_server` on a free 127.0.0.1 port, killed on drop.
///
/// ```
/// let moto = pg_testkit::MotoServer::start()?;
/// let out = moto.boto3("print(len(rds.describe_db_instances()['DBInstances']))")?;
/// assert_eq!(out.trim(), "0");
/// # Ok::<(), pg_testkit::TestkitError>(())
/// ```
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    endpoint: String,
    log_path: PathBuf,
    _dir: TempDir,
}

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` and waits until `/moto-api/` answers.
    ///
    /// # Errors
    /// [`TestkitError::MotoNotFound`] (with the install command) when `moto_server` is not on
    /// `PATH`; [`TestkitError::MotoStartFailed`] when it does not answer within 30 s.
    pub fn start() -> Result<MotoServer, TestkitError> {
        let program = find_on_path("moto_server").ok_or_else(|| TestkitError::MotoNotFound {
            program: "moto_server".to_owned(),
        })?;
        let dir = tempfile::Builder::new()
            .prefix("moto-testkit-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temp dir for moto_server", e))?;
        let log_path = dir.path().join("moto.log");
        let mut last_err = None;
        for _ in 0..3 {
            let port = TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| TestkitError::io("binding 127.0.0.1:0 to find a free port", e))?;
            let log = File::create(&log_path)
                .map_err(|e| TestkitError::io(format!("creating {}", log_path.display()), e))?;
            let log_err = log
                .try_clone()
                .map_err(|e| TestkitError::io("duplicating the log file handle", e))?;
            // Under a watchdog: moto_server gets SIGTERM when this process ends, however.
            let child = watchdog::command(&program, StopSignal::Term)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("AWS_ACCESS_KEY_ID", DUMMY_KEY)
                .env("AWS_SECRET_ACCESS_KEY", DUMMY_KEY)
                .env("AWS_DEFAULT_REGION", REGION)
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(|e| TestkitError::io(format!("starting {}", program.display()), e))?;
            let mut child = child;
            match wait_ready(&mut child, port, &log_path) {
                Ok(()) => {
                    return Ok(MotoServer {
                        child,
                        port,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        log_path,
                        _dir: dir,
                    });
                }
                Err(e) => {
                    watchdog::stop_and_wait(&mut child);
                    let in_use = fs::read_to_string(&log_path)
                        .is_ok_and(|l| l.contains("Address already in use"));
                    if !in_use {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| TestkitError::MotoStartFailed {
            port: 0,
            reason: "no free port".to_owned(),
            log_tail: String::new(),
        }))
    }

    /// What `moto_server` printed so far (its request log).
    ///
    /// # Errors
    /// When the log file cannot be read.
    pub fn output(&self) -> Result<String, TestkitError> {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| TestkitError::io(format!("reading {}", self.log_path.display()), e))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `us-east-1`.
    pub fn region(&self) -> &str {
        REGION
    }

    /// Dummy access key id (`testing`).
    pub fn access_key_id(&self) -> &str {
        DUMMY_KEY
    }

    /// Dummy secret access key (`testing`).
    pub fn secret_access_key(&self) -> &str {
        DUMMY_KEY
    }

    /// An AWS SDK configuration for this server: its region and endpoint, the dummy static
    /// credentials, the latest behavior version. Add timeouts or retries with
    /// [`SdkConfig::to_builder`](aws_config::SdkConfig::to_builder).
    ///
    /// ```
    /// let moto = pg_testkit::MotoServer::start()?;
    /// let config = moto.sdk_config();
    /// assert_eq!(config.region().map(|r| r.as_ref()), Some(moto.region()));
    /// assert_eq!(config.endpoint_url(), Some(moto.endpoint_url()));
    /// # Ok::<(), pg_testkit::TestkitError>(())
    /// ```
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials =
            aws_credential_types::Credentials::new(DUMMY_KEY, DUMMY_KEY, None, None, "moto");
        aws_config::SdkConfig::builder()
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.endpoint.clone())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    /// Environment variables pointing an AWS SDK at this server (credentials, region and
    /// `AWS_ENDPOINT_URL`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", DUMMY_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", DUMMY_KEY.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    /// Runs `python` with `python3 -c` after a prelude that imports `boto3` and `json` and defines
    /// `session`, `rds` and `secrets` (Secrets Manager) clients bound to this server. Returns
    /// stdout.
    ///
    /// # Errors
    /// [`TestkitError::MotoNotFound`] when `python3` is missing, [`TestkitError::CommandFailed`]
    /// with the traceback when the script fails.
    pub fn boto3(&self, python: &str) -> Result<String, TestkitError> {
        let python3 = find_on_path("python3").ok_or_else(|| TestkitError::MotoNotFound {
            program: "python3".to_owned(),
        })?;
        let prelude = format!(
            "import boto3, json\n\
             session = boto3.session.Session(aws_access_key_id={k:?}, aws_secret_access_key={k:?}, region_name={r:?})\n\
             rds = session.client('rds', endpoint_url={e:?})\n\
             secrets = session.client('secretsmanager', endpoint_url={e:?})\n",
            k = DUMMY_KEY,
            r = REGION,
            e = self.endpoint,
        );
        let mut cmd = Command::new(python3);
        for (k, v) in self.env_vars() {
            cmd.env(k, v);
        }
        let output = cmd
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .arg("-c")
            .arg(format!("{prelude}{python}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TestkitError::io("running python3", e))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned();
        if stderr.contains("No module named 'boto3'") {
            return Err(TestkitError::MotoNotFound {
                program: "python3 module boto3".to_owned(),
            });
        }
        Err(TestkitError::CommandFailed {
            program: "python3 (boto3)".to_owned(),
            status: output.status.to_string(),
            context: format!(", against {}", self.endpoint),
            stderr,
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        watchdog::stop_and_wait(&mut self.child);
    }
}

/// Waits until the server answers `GET /moto-api/` with 200, or fails with its output's tail.
fn wait_ready(child: &mut Child, port: u16, log_path: &Path) -> Result<(), TestkitError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(start_failed(
                port,
                log_path,
                format!("moto_server exited ({status})"),
            ));
        }
        if http_get_ok(port, "/moto-api/") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(start_failed(
                port,
                log_path,
                format!("no answer on /moto-api/ after {START_TIMEOUT:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_failed(port: u16, log_path: &Path, reason: String) -> TestkitError {
    let log = fs::read_to_string(log_path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let log_tail = lines
        .get(lines.len().saturating_sub(20)..)
        .unwrap_or_default()
        .join("\n");
    TestkitError::MotoStartFailed {
        port,
        reason,
        log_tail,
    }
}

/// True when `GET path` on 127.0.0.1:port answers with HTTP 200.
fn http_get_ok(port: u16, path: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(head.get_mut(read..).unwrap_or_default()) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(head.get(..read).unwrap_or_default()).into_owned();
    status_line.starts_with("HTTP/1.") && status_line.get(9..12) == Some("200")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
