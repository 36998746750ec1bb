//! Secret hygiene: a full flow (grant, log in, extend, rotate the connector's secret, revoke,
//! a short `rdspg serve` with `/metrics` scraped, forced failures, an IAM token) through the
//! library and the `rdspg` binary, with tracing at TRACE (the library in this process,
//! `RUST_LOG=trace` for the binary) and the server's `log_statement = 'all'`. Every secret
//! value the run produced (passwords handed out, the connector's secret before and after
//! rotation, SCRAM verifiers read from `pg_authid` and their salt and keys, the secret string
//! stored in moto, an IAM token and its signature; each also URL-encoded and JSON-escaped) is
//! searched for in everything captured: logs, stdout and stderr, the server log, audit
//! records, metrics, `Debug` of the reports and errors. None may appear anywhere but where it
//! is handed out (a grant's password on that grant's own output, a token on `rdspg token`'s).
//!
//! `RDSPG_HYGIENE_REPORT=1` prints the counts (bytes and lines scanned, secrets checked).

mod common;

use common::{free_port, http_get, rdspg_path, wait_for};

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use pg_testkit::{MotoServer, TestCluster};
use rds_pg_access::audit::AppendFileSink;
use rds_pg_access::integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings};
use rds_pg_access::pg_auth::{AWSCURRENT, ExposeSecret, SecretsManagerRotation, StaticPassword};
use rds_pg_access::{AccessManager, ExtendRequest, IntegrationCredentials, error_chain};

const SECRET: &str = "rdspg/hygiene/connector";

/// Everything captured, by name.
#[derive(Default)]
struct Captures {
    texts: Vec<(String, String)>,
}

impl Captures {
    fn add(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.texts.push((name.into(), text.into()));
    }

    fn output(&mut self, name: &str, out: &Output, stdout_scanned: bool) {
        self.add(
            format!("{name} stderr"),
            String::from_utf8_lossy(&out.stderr),
        );
        if stdout_scanned {
            self.add(
                format!("{name} stdout"),
                String::from_utf8_lossy(&out.stdout),
            );
        }
    }
}

/// A secret and the forms it may take in text.
struct Secret {
    what: String,
    forms: Vec<String>,
}

fn secret(what: impl Into<String>, value: &str) -> Secret {
    let json = serde_json::to_string(value).expect("json");
    let mut forms = vec![
        value.to_owned(),
        json[1..json.len() - 1].to_owned(),
        url_encoded(value),
    ];
    forms.sort();
    forms.dedup();
    Secret {
        what: what.into(),
        forms,
    }
}

fn url_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The verifier of `role` (superuser read of `pg_authid`) and its salt, StoredKey and
/// ServerKey: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
fn verifier_secrets(cluster: &TestCluster, role: &str) -> Vec<Secret> {
    let verifier = cluster
        .sql(
            "postgres",
            &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"),
        )
        .expect("pg_authid")
        .trim()
        .to_owned();
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{role}: {verifier}");
    let mut out = vec![secret(format!("verifier of {role}"), &verifier)];
    let (_, rest) = verifier.split_once(':').expect("iterations");
    let (salt, keys) = rest.split_once('$').expect("salt");
    let (stored, server) = keys.split_once(':').expect("keys");
    for (part, value) in [("salt", salt), ("StoredKey", stored), ("ServerKey", server)] {
        out.push(secret(format!("{part} of {role}'s verifier"), value));
    }
    out
}

/// The tracing output of this process, at TRACE (with `log` records of tokio-postgres).
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rdspg(args: &[&str], envs: &[(&str, String)]) -> Output {
    Command::new(rdspg_path())
        .args(args)
        .env("RUST_LOG", "trace")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run rdspg")
}

fn password_of(outcome: &rds_pg_access::GrantOutcome) -> String {
    outcome
        .password
        .as_ref()
        .expect("a password")
        .expose_secret()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_a_full_flow_appears_in_any_log_output_audit_record_or_metric() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("this test's subscriber");

    let moto = MotoServer::start()
        .unwrap_or_else(|e| panic!("moto_server is required (pip install 'moto[server]'): {e}"));
    let cluster = TestCluster::builder()
        .log_statements(true)
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL is required (.ci/install-postgres-versions): {e}"));
    cluster
        .sql_as(
            cluster.master(),
            "appdb",
            "GRANT postgres TO apono_connector",
        )
        .expect("owner fix");
    let old_connector = cluster.connector().password.clone();
    let stored = serde_json::json!({
        "username": "apono_connector", "password": old_connector, "engine": "postgres"
    })
    .to_string();
    moto.boto3(&format!(
        "secrets.create_secret(Name={SECRET:?}, SecretString={stored:?})"
    ))
    .expect("create the secret");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("local.toml");
    let text = format!(
        "name = \"local\"\nregion = \"{}\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         connector_rotation_days = 30\n[secret]\nid = \"{SECRET}\"\n\
         [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n[aws]\nendpoint_url = \"{}\"\n",
        moto.region(),
        cluster.port(),
        moto.endpoint_url()
    );
    std::fs::write(&config, &text).expect("config");
    let config_arg = config.to_str().expect("utf-8").to_owned();
    let envs: Vec<(&str, String)> = moto.env_vars();
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let aws = moto.sdk_config();
    let audit_path = dir.path().join("audit.jsonl");
    let manager = AccessManager::from_integration_with_aws(integration.clone(), &aws)
        .expect("manager")
        .with_audit(Arc::new(AppendFileSink::open(&audit_path).expect("audit")));

    let mut captures = Captures::default();
    let mut secrets = vec![
        secret("the connector's first password", &old_connector),
        secret("the secret string stored in moto", &stored),
    ];
    let mut handed_out: Vec<(String, String)> = Vec::new(); // (capture name, password)

    // The library: grant, log in, extend, revoke.
    let request = AccessRequest::builder(
        "hy_lib".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .reason("incident 7")
    .build()
    .expect("request");
    let granted = manager.grant(&request).await.expect("grant");
    let p_lib = password_of(&granted);
    captures.add("Debug of GrantOutcome", format!("{granted:?}"));
    secrets.push(secret("hy_lib's password", &p_lib));
    secrets.extend(verifier_secrets(&cluster, "hy_lib"));
    secrets.extend(verifier_secrets(&cluster, "apono_connector"));
    cluster
        .sql_as(
            &common::as_user("hy_lib", &p_lib),
            "appdb",
            "SELECT count(*) FROM sales.orders",
        )
        .expect("the user logs in");
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    let extended = manager
        .extend(&ExtendRequest::new("hy_lib".parse().expect("user"), until))
        .await
        .expect("extend");
    captures.add("Debug of the extension", format!("{extended:?}"));

    // Rotation of the connector's secret (moto), then the new secret logs in.
    let rotated = manager.rotate(true).await.expect("rotate");
    captures.add("Debug of RotateOutcome", format!("{rotated:?}"));
    let current = SecretsManagerRotation::new(&aws, SECRET)
        .expect("id")
        .version(AWSCURRENT)
        .await
        .expect("current");
    let new_connector = current.secret.password.expose_secret().to_owned();
    assert_ne!(new_connector, old_connector, "rotated");
    captures.add(
        "Debug of the current secret version",
        format!("{current:?}"),
    );
    // The credential types themselves.
    let source = rds_pg_access::pg_auth::SecretsManagerSource::new(&aws, SECRET)
        .expect("source")
        .with_user("apono_connector");
    let credential = rds_pg_access::pg_auth::CredentialSource::credential(&source)
        .await
        .expect("credential");
    captures.add(
        "Debug of a Secrets Manager source, its credential and secret",
        format!(
            "{source:?} {credential:?} {:?}",
            source.secret().await.expect("secret")
        ),
    );
    captures.add(
        "Debug of StaticPassword",
        format!(
            "{:?}",
            StaticPassword::new("apono_connector", old_connector.clone().into())
        ),
    );
    secrets.push(secret("the connector's rotated password", &new_connector));
    secrets.extend(verifier_secrets(&cluster, "apono_connector"));

    // Forced failures: a wrong connector password, a grant on a table that does not exist,
    // a login with a wrong password.
    let wrong = "Wr0ng-connector-password-4f9d1c7e";
    secrets.push(secret("a wrong connector password", wrong));
    let wrong_manager = AccessManager::new(
        integration.clone(),
        Arc::new(rds_pg_access::rds_discovery::StaticDirectory::new()),
        Arc::new(IntegrationCredentials::shared(Arc::new(
            StaticPassword::new("apono_connector", wrong.to_owned().into()),
        ))),
    )
    .expect("manager");
    let refused = AccessRequest::builder(
        "hy_refused".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(manager.resource_path("appdb/sales").expect("path"))
    .build()
    .expect("request");
    match wrong_manager.grant(&refused).await {
        Ok(report) => captures.add("Debug of a refused grant", format!("{report:?}")),
        Err(e) => {
            captures.add("a refused grant's error", error_chain(&e));
            captures.add("Debug of a refused grant's error", format!("{e:?}"));
        }
    }
    let missing = AccessRequest::builder(
        "hy_missing".parse().expect("user"),
        AccessLevel::ReadOnly,
        "1h".parse::<AccessDuration>().expect("duration"),
    )
    .resource(
        manager
            .resource_path("appdb/sales/no_such_table")
            .expect("path"),
    )
    .build()
    .expect("request");
    match manager.grant(&missing).await {
        Ok(report) => captures.add("Debug of a grant on a missing table", format!("{report:?}")),
        Err(e) => {
            captures.add("error of a grant on a missing table", error_chain(&e));
            captures.add("Debug of that error", format!("{e:?}"));
        }
    }
    let bad_login = cluster.sql_as(&common::as_user("hy_lib", wrong), "appdb", "SELECT 1");
    captures.add("a refused login", format!("{bad_login:?}"));

    // The binary: grant (its password is on its own stdout, by design), log in, extend,
    // rotate, revoke, each with RUST_LOG=trace.
    let out = rdspg(
        &[
            "--output",
            "json",
            "grant",
            "--config",
            &config_arg,
            "--user",
            "hy_cli",
            "--level",
            "read-only",
            "--database",
            "appdb",
            "--schema",
            "sales",
            "--for",
            "1h",
        ],
        &envs,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("grant json");
    let p_cli = json["password"].as_str().expect("password").to_owned();
    captures.output("rdspg grant", &out, false);
    handed_out.push((
        "rdspg grant stdout".to_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ));
    secrets.push(secret("hy_cli's password", &p_cli));
    secrets.extend(verifier_secrets(&cluster, "hy_cli"));
    cluster
        .sql_as(&common::as_user("hy_cli", &p_cli), "appdb", "SELECT 1")
        .expect("the CLI's user logs in");
    for (name, args) in [
        (
            "rdspg extend",
            vec![
                "extend",
                "--config",
                &config_arg,
                "--user",
                "hy_cli",
                "--for",
                "2h",
            ],
        ),
        (
            "rdspg rotate",
            vec![
                "--output",
                "json",
                "rotate",
                "--config",
                &config_arg,
                "--force",
            ],
        ),
        (
            "rdspg inspect",
            vec!["inspect", "--config", &config_arg, "--user", "hy_cli"],
        ),
        (
            "rdspg revoke",
            vec!["revoke", "--config", &config_arg, "--user", "hy_cli"],
        ),
        ("rdspg check", vec!["check", "--config", &config_arg]),
    ] {
        let out = rdspg(&args, &envs);
        assert!(
            out.status.code().is_some(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        captures.output(name, &out, true);
    }
    let after_cli = SecretsManagerRotation::new(&aws, SECRET)
        .expect("id")
        .version(AWSCURRENT)
        .await
        .expect("current");
    let third_connector = after_cli.secret.password.expose_secret().to_owned();
    assert_ne!(third_connector, new_connector, "the CLI rotated");
    secrets.push(secret(
        "the connector's password after rdspg rotate",
        &third_connector,
    ));
    secrets.extend(verifier_secrets(&cluster, "apono_connector"));
    // A wrong password on the command line's environment.
    let wrong_config = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong_config,
        text.replace(
            &format!("[secret]\nid = \"{SECRET}\"\n"),
            "[secret]\nenv = \"HYGIENE_WRONG\"\n",
        ),
    )
    .expect("config");
    let mut wrong_envs = envs.clone();
    wrong_envs.push(("HYGIENE_WRONG", wrong.to_owned()));
    let out = rdspg(
        &[
            "grant",
            "--config",
            wrong_config.to_str().expect("utf-8"),
            "--user",
            "hy_w",
            "--level",
            "read-only",
            "--database",
            "appdb",
            "--schema",
            "sales",
            "--for",
            "1h",
        ],
        &wrong_envs,
    );
    assert_eq!(out.status.code(), Some(1));
    captures.output("rdspg grant with a wrong connector password", &out, true);

    // An IAM token: printed on `rdspg token`'s stdout only.
    let out = rdspg(
        &[
            "token",
            "--host",
            "orders.abc.us-east-1.rds.amazonaws.com",
            "--user",
            "hy_iam",
            "--region",
            "us-east-1",
        ],
        &envs,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let signature = token
        .split("X-Amz-Signature=")
        .nth(1)
        .expect("a signature")
        .split('&')
        .next()
        .expect("signature")
        .to_owned();
    captures.output("rdspg token", &out, false);
    secrets.push(secret("an IAM token", &token));
    secrets.push(secret("an IAM token's signature", &signature));

    // A short `rdspg serve` (RUST_LOG=trace): every job once, /metrics and /healthz scraped.
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let serve_audit = dir.path().join("serve-audit.jsonl");
    let mut serve = Command::new(rdspg_path())
        .args([
            "serve",
            "--config",
            &config_arg,
            "--listen",
            &addr.to_string(),
        ])
        .args([
            "--sweep-every",
            "1h",
            "--sync-every",
            "1h",
            "--rotate-every",
            "1h",
        ])
        .arg("--audit")
        .arg(&serve_audit)
        .env("RUST_LOG", "trace")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        // Files, not pipes: TRACE output would fill a pipe nobody reads meanwhile.
        .stdout(std::fs::File::create(dir.path().join("serve.out")).expect("out file"))
        .stderr(std::fs::File::create(dir.path().join("serve.err")).expect("err file"))
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let metrics = wait_for("every job to run once", 130, || {
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            let log = std::fs::read_to_string(dir.path().join("serve.out")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!("no clean run of every job: {tail:#?}");
        }
        let (_, body) = http_get(addr, "/metrics")?;
        ["sweep", "sync", "rotate"]
            .iter()
            .all(|job| {
                body.lines().any(|l| {
                    l.starts_with("rdspg_job_last_success_timestamp_seconds{")
                        && l.contains(&format!("job=\"{job}\""))
                })
            })
            .then_some(body)
    });
    captures.add("/metrics", metrics);
    captures.add(
        "/healthz",
        http_get(addr, "/healthz")
            .map(|(_, b)| b)
            .unwrap_or_default(),
    );
    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = wait_for("serve to exit", 60, || serve.try_wait().expect("poll"));
    assert_eq!(status.code(), Some(0));
    for name in ["serve.out", "serve.err"] {
        captures.add(
            format!("rdspg serve {name}"),
            std::fs::read_to_string(dir.path().join(name)).expect("serve output"),
        );
    }

    manager
        .revoke(&"hy_lib".parse().expect("user"))
        .await
        .expect("revoke");

    // Everything captured.
    captures.add(
        "this process's tracing at TRACE",
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned(),
    );
    captures.add("server log", cluster.server_log().expect("server log"));
    for path in [&audit_path, &serve_audit] {
        captures.add(
            format!("audit {}", path.display()),
            std::fs::read_to_string(path).unwrap_or_default(),
        );
    }
    let mut leaks = Vec::new();
    for (name, text) in &captures.texts {
        for s in &secrets {
            for form in s.forms.iter().filter(|f| f.len() >= 8) {
                if text.contains(form.as_str()) {
                    let at = text.find(form.as_str()).unwrap_or(0);
                    let line = text[..at].lines().count();
                    leaks.push(format!("{} in {name} (line {line})", s.what));
                }
            }
        }
    }
    // Where a password is handed out, nothing else is.
    for (name, text) in &handed_out {
        for s in secrets.iter().filter(|s| !s.what.starts_with("hy_cli")) {
            for form in s.forms.iter().filter(|f| f.len() >= 8) {
                if text.contains(form.as_str()) {
                    leaks.push(format!("{} in {name}", s.what));
                }
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    let bytes: usize = captures.texts.iter().map(|(_, t)| t.len()).sum();
    let lines: usize = captures.texts.iter().map(|(_, t)| t.lines().count()).sum();
    // A real run, not an empty one.
    assert!(bytes > 100_000, "{bytes} bytes captured");
    if std::env::var_os("RDSPG_HYGIENE_REPORT").is_some() {
        println!(
            "scanned {} captures, {bytes} bytes, {lines} lines, for {} secrets ({} forms)",
            captures.texts.len(),
            secrets.len(),
            secrets.iter().map(|s| s.forms.len()).sum::<usize>()
        );
        for (name, text) in &captures.texts {
            println!("  {name}: {} bytes", text.len());
        }
    }
}
