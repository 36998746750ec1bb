//! `rdspg grant|inspect|inventory|revoke` end to end against a real PostgreSQL with the RDS
//! permission model, through a config with a static `[endpoint]` and a password from an
//! environment variable: no AWS at all.

mod common;

use common::rdspg_path;

use std::path::PathBuf;
use std::process::{Command, Output};

use pg_testkit::TestCluster;
use serde_json::{Value, json};

struct Env {
    cluster: TestCluster,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn start() -> Env {
        Env::start_with("")
    }

    /// A cluster and a config; `extra` is appended to the config (e.g. access flows).
    fn start_with(extra: &str) -> Env {
        let cluster = TestCluster::start().expect("start a cluster with the RDS emulation");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("local.toml");
        std::fs::write(
            &config,
            format!(
                "name = \"local\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
                 ssl_mode = \"disable\"\n[secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n\
                 [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n{extra}",
                cluster.port()
            ),
        )
        .expect("write config");
        Env {
            cluster,
            _dir: dir,
            config,
        }
    }

    fn rdspg(&self, args: &[&str]) -> Output {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--config", self.config.to_str().expect("utf-8 path")]);
        Command::new(rdspg_path())
            .args(&full)
            .env(
                "RDSPG_CONNECTOR_PASSWORD",
                &self.cluster.connector().password,
            )
            .output()
            .expect("run rdspg")
    }

    /// Runs SQL as `user` with `password` in appdb; Err carries psql's stderr.
    fn sql_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let creds = pg_testkit::Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        self.cluster
            .sql_as(&creds, "appdb", sql)
            .map_err(|e| e.to_string())
    }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn grant_login_inspect_inventory_revoke() {
    let env = Env::start();
    let grant = [
        "grant",
        "--user",
        "alice",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
    ];

    // On RDS the connector is not a member of the master user who owns `sales`: the grant is
    // refused before anything changes, naming the owner and the SQL that fixes it.
    let out = env.rdspg(&grant);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("postgres"), "names the owner: {err}");
    assert!(err.contains("GRANT"), "gives the fix SQL: {err}");

    // The administrator runs the fix the error gives (on 15: membership in the owner).
    env.cluster
        .sql("appdb", "GRANT postgres TO apono_connector")
        .expect("apply the fix as an administrator");

    // --dry-run prints the SQL and changes nothing.
    let mut dry = grant.to_vec();
    dry.push("--dry-run");
    let out = env.rdspg(&dry);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let plans = json_of(&out);
    let sql = plans["plans"]["local"]["appdb"]
        .as_array()
        .expect("SQL list");
    assert!(
        sql.iter().any(|s| s
            .as_str()
            .is_some_and(|s| s.contains("SELECT") && s.contains("sales"))),
        "{plans}"
    );

    // The real grant: credentials to hand over.
    let out = env.rdspg(&grant);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let creds = json_of(&out);
    assert_eq!(creds["user"], json!("alice"));
    assert_eq!(creds["host"], json!("127.0.0.1"));
    assert_eq!(creds["port"], json!(env.cluster.port()));
    assert_eq!(creds["database"], json!("appdb"));
    assert_eq!(creds["sslmode"], json!("disable"));
    let password = creds["password"].as_str().expect("password").to_owned();
    assert!(password.len() >= 32, "{password}");
    let uri = creds["uri"].as_str().expect("uri");
    assert_eq!(
        uri,
        format!(
            "postgresql://alice:{password}@127.0.0.1:{}/appdb?sslmode=disable",
            env.cluster.port()
        )
    );
    let expires = time::OffsetDateTime::parse(
        creds["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339 expiry");
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(
        (expires - in_an_hour).abs() < time::Duration::minutes(5),
        "{expires}"
    );

    // Alice reads sales, cannot write, cannot read another schema.
    let rows = env
        .sql_as("alice", &password, "SELECT count(*) FROM sales.orders")
        .expect("alice reads sales.orders");
    assert!(rows.trim().parse::<u64>().expect("a count") > 0);
    let write = env.sql_as("alice", &password, "DELETE FROM sales.orders");
    assert!(write.is_err_and(|e| e.contains("permission denied")));
    let other = env.sql_as("alice", &password, "SELECT * FROM inventory.items");
    assert!(other.is_err_and(|e| e.contains("permission denied")));

    // The plaintext password never reached the server's statement log.
    let log = env.cluster.server_log().expect("server log");
    assert!(
        !log.contains(&password),
        "the password is in the server log"
    );

    // Inspect shows SELECT on sales.orders.
    let out = env.rdspg(&["inspect", "--user", "alice", "--database", "appdb"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let privileges = json_of(&out)["privileges"].clone();
    assert!(
        privileges
            .as_array()
            .expect("rows")
            .iter()
            .any(
                |r| r["object"].as_str().is_some_and(|o| o.contains("orders"))
                    && r["privileges"]
                        .as_array()
                        .is_some_and(|p| p.contains(&json!("SELECT")))
            ),
        "{privileges}"
    );

    // Running the same grant again changes nothing in the privileges (a fresh password).
    let out = env.rdspg(&grant);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let again = json_of(&out);
    assert_eq!(again["instances"][0]["ok"], json!(true));
    let new_password = again["password"].as_str().expect("password").to_owned();
    env.sql_as("alice", &new_password, "SELECT 1")
        .expect("the new password works");

    // Inventory: JSON lines, streamed.
    let out = env.rdspg(&["inventory"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == json!("database") && l["database"] == json!("appdb"))
    );
    assert!(lines.iter().any(|l| l["type"] == json!("table")
        && l["schema"] == json!("sales")
        && l["table"] == json!("orders")));
    assert!(!lines.iter().any(|l| l["database"] == json!("template1")));

    // Sync: the same stream limited to the integration's resource types (all three here).
    let out = env.rdspg(&["sync"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        lines.len()
    );

    // The policies of an integration without discovery: the guide's, narrowed to its region.
    let out = env.rdspg(&["policy"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let policies = json_of(&out);
    assert_eq!(
        policies["connector"]["Statement"][0]["Resource"],
        json!("arn:aws:rds-db:us-east-1:*:dbuser:*/apono_connector")
    );

    // Alice creates nothing here (read-only), but revocation ends her session and access.
    let out = env.rdspg(&["revoke", "--user", "alice"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(json_of(&out)["revoked"]["local"]["dropped"], json!(true));
    let login = env.sql_as("alice", &new_password, "SELECT 1");
    assert!(login.is_err(), "alice can still log in");

    // Revoking a role the library did not create is refused and changes nothing.
    let out = env.rdspg(&["revoke", "--user", "postgres"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("postgres"), "{}", stderr(&out));
    let master = env.cluster.master().clone();
    env.sql_as(&master.user, &master.password, "SELECT 1")
        .expect("the master user still logs in");
}

#[test]
fn access_flows_gate_grants_and_the_approver_is_recorded() {
    let env = Env::start_with(
        "[[access_flow]]\nname = \"analysts\"\nrequesters = [\"ana*\"]\n\
         resources = [\"local/appdb/sales/**\"]\nlevels = [\"read-only\"]\n\
         max_duration = \"8h\"\napproval = true\n",
    );
    env.cluster
        .sql("appdb", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let base = [
        "grant",
        "--user",
        "ana",
        "--level",
        "read-only",
        "--database",
        "appdb",
        "--schema",
        "sales",
        "--for",
        "1h",
    ];
    let roles = || {
        env.cluster
            .sql(
                "postgres",
                "SELECT count(*) FROM pg_roles WHERE rolname = 'ana'",
            )
            .expect("roles")
    };

    // Refused before any SQL runs, naming the rule.
    let out = env.rdspg(&base);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("flow \"analysts\": needs an approver"),
        "{}",
        stderr(&out)
    );
    let mut wrong_level = base.to_vec();
    wrong_level[4] = "admin";
    wrong_level.extend(["--approved-by", "carol"]);
    let out = env.rdspg(&wrong_level);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("level admin is not one of read-only"),
        "{}",
        stderr(&out)
    );
    assert_eq!(roles().trim(), "0", "a refused request changed nothing");

    // Approved: granted, and the approver is in the role's marker.
    let mut approved = base.to_vec();
    approved.extend(["--approved-by", "carol"]);
    let out = env.rdspg(&approved);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let comment = env
        .cluster
        .sql(
            "postgres",
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'ana'",
        )
        .expect("comment");
    let record: Value = serde_json::from_str(comment.trim()).expect("JSON marker");
    assert_eq!(record["grants"][0]["approved_by"], json!("carol"));
    assert_eq!(record["grants"][0]["level"], json!("read-only"));
}

/// Issue 17 through `rdspg`: a second request for the same user adds a grant (the password
/// unchanged and said so), `rdspg users` and `inspect` show both grants, `revoke --request`
/// ends one and keeps the other's privileges, `extend --request` names the grant, and with
/// `user_cleanup_days` the last revoke keeps the user, disabled.
#[test]
fn a_requester_holds_two_grants_and_loses_them_one_at_a_time() {
    let env = Env::start();
    let text = std::fs::read_to_string(&env.config).expect("config");
    std::fs::write(&env.config, format!("user_cleanup_days = 3\n{text}")).expect("config");
    // The owner fixes `rdspg check` prints: the master owns sales, app_owner inventory.
    env.cluster
        .sql("appdb", "GRANT postgres, app_owner TO apono_connector")
        .expect("owner fixes");
    let grant = |id: &str, level: &str, resource: &str| {
        env.rdspg(&[
            "grant",
            "--user",
            "gus",
            "--level",
            level,
            "--resource",
            resource,
            "--for",
            "1h",
            "--request-id",
            id,
        ])
    };
    let first = grant("req-1", "read-only", "appdb/inventory");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let password = json_of(&first)["password"]
        .as_str()
        .expect("password")
        .to_owned();
    let second = grant("req-2", "read-write", "appdb/sales/customers");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let doc = json_of(&second);
    assert!(doc.get("password").is_none(), "{doc}");
    assert_eq!(doc["password_kept"], json!({"reason": "in-use"}), "{doc}");
    env.sql_as(
        "gus",
        &password,
        "SELECT count(*) FROM inventory.items; INSERT INTO sales.customers VALUES (77, 'g')",
    )
    .expect("the union of both grants");

    let users = env.rdspg(&["users"]);
    assert!(
        users.status.success(),
        "{}",
        String::from_utf8_lossy(&users.stderr)
    );
    let users = json_of(&users);
    let gus = &users["users"]["local"][0];
    assert_eq!(gus["user"], "gus", "{users}");
    assert_eq!(gus["state"], "active", "{users}");
    assert_eq!(gus["grants"].as_array().map(Vec::len), Some(2), "{users}");

    let bad = env.rdspg(&["revoke", "--user", "gus", "--request", "bad\nid"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let ended = env.rdspg(&["revoke", "--user", "gus", "--request", "req-2"]);
    assert!(
        ended.status.success(),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    assert_eq!(json_of(&ended)["outcome"]["local"], "ended");
    env.sql_as("gus", &password, "SELECT count(*) FROM inventory.items")
        .expect("req-1 stays");
    assert!(
        env.sql_as(
            "gus",
            &password,
            "INSERT INTO sales.customers VALUES (78, 'h')"
        )
        .is_err(),
        "req-2's write is gone"
    );
    let extended = env.rdspg(&[
        "extend",
        "--user",
        "gus",
        "--for",
        "2h",
        "--request",
        "req-2",
    ]);
    assert_eq!(
        extended.status.code(),
        Some(1),
        "an ended grant cannot be extended"
    );

    let revoked = env.rdspg(&["revoke", "--user", "gus"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let doc = json_of(&revoked);
    assert_eq!(doc["revoked"]["local"]["retained"], true, "{doc}");
    assert!(
        env.sql_as("gus", &password, "SELECT 1").is_err(),
        "kept, disabled"
    );
    let inspect = env.rdspg(&["inspect", "--user", "gus"]);
    let doc = json_of(&inspect);
    assert_eq!(doc["status"]["local"]["state"], "disabled", "{doc}");
    assert!(doc["status"]["local"]["deletes_on"].is_string(), "{doc}");
}
