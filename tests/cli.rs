//! The `rdspg` example binary, run as a user runs it: arguments in, stdout, stderr and exit code
//! out. `cargo test` builds the examples before it runs the tests.

mod common;

use common::rdspg_path;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn rdspg(args: &[&str]) -> Output {
    Command::new(rdspg_path())
        .args(args)
        .output()
        .expect("run rdspg")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A temporary file with the given name and content, removed on drop.
struct TempFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write temp file");
        TempFile { _dir: dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

// The two documents of the setup guide (`shared/reference/aws-rds-postgresql-setup-guide.txt`).
fn guide_connector_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Action": "rds-db:connect",
            "Resource": "arn:aws:rds-db:*:*:dbuser:*/apono_connector",
            "Effect": "Allow"
        }]
    })
}

fn guide_user_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["rds-db:connect"],
                "Resource": ["arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"]
            },
            {
                "Effect": "Allow",
                "Action": ["rds:DescribeDBInstances"],
                "Resource": ["arn:aws:rds:*:*:db:*"]
            }
        ]
    })
}

#[test]
fn policy_connector_defaults_to_the_setup_guide_document() {
    let out = rdspg(&["policy", "connector"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout_json(&out), guide_connector_policy());
}

#[test]
fn policy_user_defaults_to_the_setup_guide_document() {
    let out = rdspg(&["policy", "user"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout_json(&out), guide_user_policy());
}

#[test]
fn policy_connector_narrows_to_region_account_and_resource_id() {
    let out = rdspg(&[
        "policy",
        "connector",
        "--region",
        "cn-north-1",
        "--account",
        "123456789012",
        "--resource-id",
        "db-ABCDEFGHIJKLMNOPQRSTUVWXY1",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let doc = stdout_json(&out);
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!(
            "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY1/apono_connector"
        )
    );
}

#[test]
fn policy_connector_rejects_a_bad_account_with_exit_2() {
    let out = rdspg(&["policy", "connector", "--account", "12345"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("rdspg: "), "{err}");
    assert!(err.contains("account"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn policy_lint_passes_the_guide_documents_and_fails_a_broad_policy() {
    let guide = TempFile::new("guide.json", &guide_user_policy().to_string());
    let out = rdspg(&["policy", "lint", guide.path()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let broad = TempFile::new(
        "broad.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}}"#,
    );
    let out = rdspg(&["--output", "json", "policy", "lint", broad.path()]);
    assert_eq!(out.status.code(), Some(1));
    let findings = stdout_json(&out);
    let findings = findings.as_array().expect("array of findings");
    assert!(
        findings
            .iter()
            .any(|f| f["pointer"] == json!("/Statement/Resource")
                && matches!(f["severity"].as_str(), Some("error" | "warning"))),
        "{findings:?}"
    );
}

#[test]
fn policy_eval_allows_the_saml_user_and_denies_another_name() {
    let policy = TempFile::new("user.json", &guide_user_policy().to_string());
    let arn =
        |user: &str| format!("arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/{user}");

    let alice = arn("alice");
    let out = rdspg(&[
        "policy",
        "eval",
        policy.path(),
        "--action",
        "rds-db:connect",
        "--resource",
        &alice,
        "--var",
        "SAML:sub=alice",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("allowed"), "{text}");
    assert!(text.contains("statement 0"), "{text}");

    let bob = arn("bob");
    let out = rdspg(&[
        "--output",
        "json",
        "policy",
        "eval",
        policy.path(),
        "--action",
        "rds-db:connect",
        "--resource",
        &bob,
        "--var",
        "SAML:sub=alice",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["allowed"], json!(false));
}

#[test]
fn policy_eval_rejects_a_malformed_var_with_exit_2() {
    let policy = TempFile::new("user.json", &guide_user_policy().to_string());
    let out = rdspg(&[
        "policy",
        "eval",
        policy.path(),
        "--action",
        "rds-db:connect",
        "--resource",
        "*",
        "--var",
        "no-equals-sign",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("KEY=VALUE"), "{}", stderr(&out));
}

#[test]
fn unknown_subcommand_is_bad_usage() {
    let out = rdspg(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

const FULL_EXAMPLE: &str = r#"
name = "orders-prod"
region = "us-east-1"
auth = "password"
connector_user = "apono_connector"
database = "postgres"
ssl_mode = "verify-full"
ssl_root_cert = "/etc/ssl/rds-global-bundle.pem"
connector_rotation_days = 30
resource_types = ["database", "schema", "table"]
[instance]
id = "orders-db"
[secret]
id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf"
[endpoint]
host = "127.0.0.1"
port = 5432
[aws]
endpoint_url = "http://127.0.0.1:5055"
profile = "ops"
"#;

#[test]
fn validate_accepts_the_full_example() {
    let config = TempFile::new("orders.toml", FULL_EXAMPLE);
    let out = rdspg(&["validate", "--config", config.path()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("orders-prod"));
}

#[test]
fn validate_names_the_key_path_of_a_bad_value_in_one_line() {
    let config = TempFile::new(
        "bad.toml",
        &FULL_EXAMPLE.replace("\"orders-db\"", "\"9orders\""),
    );
    let out = rdspg(&["validate", "--config", config.path()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("instance.id"), "{err}");
    assert!(err.contains("9orders"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn validate_rejects_an_unknown_key() {
    let config = TempFile::new("typo.toml", &FULL_EXAMPLE.replace("ssl_mode", "sslmode"));
    let out = rdspg(&["validate", "--config", config.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sslmode"), "{}", stderr(&out));
}

fn rdspg_with_env(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(rdspg_path());
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run rdspg")
}

#[test]
fn ping_reports_tls_and_server_version_as_json() {
    let cluster = pg_testkit::TestCluster::builder()
        .ssl(true)
        .start()
        .expect("start a TLS cluster");
    let ca = cluster.ca_cert_path().expect("TLS cluster has a CA");
    let port = cluster.port().to_string();
    let connector = cluster.connector();
    let env = [("RDSPG_TEST_PASSWORD", connector.password.clone())];
    let base = [
        "--output",
        "json",
        "ping",
        "--host",
        "localhost",
        "--port",
        &port,
        "--user",
        &connector.user,
        "--password-env",
        "RDSPG_TEST_PASSWORD",
    ];

    let mut args = base.to_vec();
    args.extend([
        "--sslmode",
        "verify-full",
        "--sslrootcert",
        ca.to_str().expect("utf-8"),
    ]);
    let out = rdspg_with_env(&args, &env);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["tls"], json!(true));
    let expected = cluster
        .sql("postgres", "SHOW server_version")
        .expect("version");
    assert_eq!(report["server_version"], json!(expected.trim()));

    let mut args = base.to_vec();
    args.extend(["--sslmode", "disable"]);
    let out = rdspg_with_env(&args, &env);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout_json(&out)["tls"], json!(false));

    // The wrong CA: verification fails, exit 1 with one line naming the certificate problem.
    let other = cluster.other_ca_cert_path().expect("other CA");
    let mut args = base.to_vec();
    args.extend([
        "--sslmode",
        "verify-ca",
        "--sslrootcert",
        other.to_str().expect("utf-8"),
    ]);
    let out = rdspg_with_env(&args, &env);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(
        !err.contains(&connector.password),
        "the password leaked: {err}"
    );
}

#[test]
fn ping_with_a_wrong_password_exits_1_without_printing_it() {
    let cluster = pg_testkit::TestCluster::start().expect("start a cluster");
    let port = cluster.port().to_string();
    let wrong = "not-the-password-0123456789".to_owned();
    let out = rdspg_with_env(
        &[
            "ping",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "apono_connector",
            "--password-env",
            "RDSPG_TEST_PASSWORD",
            "--sslmode",
            "disable",
        ],
        &[("RDSPG_TEST_PASSWORD", wrong.clone())],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(&wrong), "{err}");
}

#[test]
fn token_prints_a_presigned_rds_db_connect_url() {
    let out = rdspg_with_env(
        &[
            "token",
            "--host",
            "orders.abc.eu-west-1.rds.amazonaws.com",
            "--user",
            "bob+ops@corp.io",
            "--region",
            "eu-west-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            ),
            ("AWS_CONFIG_FILE", "/nonexistent".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_owned()),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        token.starts_with(
            "orders.abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=bob%2Bops%40corp.io&"
        ),
        "{token}"
    );
    assert!(token.contains("X-Amz-Expires=900"), "{token}");
    assert!(
        token.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
        "{token}"
    );
    assert!(
        !token.contains("wJalrXUtnFEMI"),
        "the secret key leaked: {token}"
    );
}

#[test]
fn discover_lists_tagged_postgres_instances_from_moto() {
    let moto = pg_testkit::MotoServer::start().expect("start moto_server");
    moto.boto3(
        r#"
for name, engine, team in [("orders-a", "postgres", "orders"), ("orders-b", "postgres", "orders"),
                           ("billing", "postgres", "billing"), ("orders-mysql", "mysql", "orders")]:
    rds.create_db_instance(DBInstanceIdentifier=name, Engine=engine, DBInstanceClass="db.t3.micro",
                           MasterUsername="postgres", MasterUserPassword="password123",
                           AllocatedStorage=20, Tags=[{"Key": "team", "Value": team}],
                           EnableIAMDatabaseAuthentication=(name == "orders-a"))
"#,
    )
    .expect("create instances in moto");
    let env: Vec<(&str, String)> = moto.env_vars();
    let out = rdspg_with_env(
        &[
            "--output",
            "json",
            "discover",
            "--region",
            moto.region(),
            "--endpoint-url",
            moto.endpoint_url(),
            "--tag",
            "team=orders",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let instances = stdout_json(&out);
    let ids: Vec<&str> = instances
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["orders-a", "orders-b"]);
    let first = &instances[0];
    for key in [
        "id",
        "arn",
        "account",
        "region",
        "dbi_resource_id",
        "engine",
        "engine_version",
        "status",
        "host",
        "port",
        "iam_auth",
        "ca_certificate",
        "tags",
    ] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
    assert_eq!(first["iam_auth"], json!(true));
    assert_eq!(first["tags"], json!({"team": "orders"}));

    let out = rdspg_with_env(
        &[
            "discover",
            "--region",
            moto.region(),
            "--endpoint-url",
            moto.endpoint_url(),
            "--instance-id",
            "orders-mysql",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("orders-mysql"), "{}", stderr(&out));
}

/// The README's first command, on every server version the project is tested on: every step
/// did what it says (the command exits 0 only then).
#[test]
fn quickstart_walks_the_whole_flow_on_each_version() {
    for version in pg_testkit::ALL_VERSIONS {
        let version = version.to_string();
        let out = rdspg(&["--output", "json", "quickstart", "--pg-version", &version]);
        let report = stdout_json(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "PostgreSQL {version}: {report:#}\nstderr: {}",
            stderr(&out)
        );
        let steps = report["steps"].as_array().expect("steps");
        let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(
            names,
            [
                "find a PostgreSQL server",
                "start a throwaway PostgreSQL",
                "check",
                "apply the fix as the master user",
                "sync",
                "grant",
                "log in as the new user and read",
                "a write is refused",
                "revoke",
                "the login now fails",
                "stop the server",
            ],
            "PostgreSQL {version}"
        );
        assert!(steps.iter().all(|s| s["ok"] == json!(true)), "{report:#}");
        assert!(
            steps[0]["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("PostgreSQL {version}"))),
            "{report:#}"
        );
    }
}

#[test]
fn policy_files_are_read_bounded_and_special_files_refused() {
    // A device that never ends, and a file over the 1 MiB limit: refused with the path,
    // exit 2, nothing read into memory beyond the limit.
    let out = rdspg(&["policy", "lint", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/dev/zero"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );

    let big = TempFile::new("big.json", &" ".repeat(1024 * 1024 + 1));
    for command in [
        vec!["policy", "lint", big.path()],
        vec![
            "policy",
            "eval",
            big.path(),
            "--action",
            "rds-db:connect",
            "--resource",
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/alice",
        ],
    ] {
        let out = rdspg(&command);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("1 MiB"), "{}", stderr(&out));
    }
}
