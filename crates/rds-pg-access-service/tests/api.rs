//! The access API over a real listener, driven by a plain HTTP/1.1 client (and once by `curl`
//! from outside the process), against a pg-testkit cluster with the RDS permission model: grant,
//! log in as the user, extend, inspect, revoke; refused scope, refused self-approval, a replayed
//! request id, bad input that changes nothing, a client that disconnects mid-grant.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pg_testkit::{Credentials, TestCluster};
use rds_pg_access::AccessManager;
use rds_pg_access::audit::{AppendFileSink, AuditRecord};
use rds_pg_access::integration_model::Settings;
use rds_pg_access::pg_auth::{SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access_service::api::{Api, Callers, token_sha256_hex};
use rds_pg_access_service::scheduler::{CancellationToken, Scheduler};
use serde_json::Value;

const PORTAL: &str = "portal-token-0123456789abcdef";
const LEAD: &str = "lead-token-0123456789abcdef";
const BOT: &str = "bot-token-0123456789abcdef";
const PLATFORM: &str = "platform-token-0123456789abcdef";
const STRANGER: &str = "stranger-token-0123456789abcdef";
const ROOT: &str = "root-token-0123456789abcdef";
const NARROW_LEAD: &str = "narrow-lead-token-0123456789abcdef";

fn callers() -> Callers {
    let entry = |name: &str, token: &str, integrations: &str, actions: &str, flows: &str| {
        format!(
            "[[caller]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\nintegrations = {integrations}\n\
             actions = {actions}\n{flows}\n",
            token_sha256_hex(token)
        )
    };
    let text = [
        entry(
            "portal",
            PORTAL,
            "[\"orders\"]",
            "[\"grant\", \"extend\", \"revoke\", \"inspect\", \"inventory\", \"check\"]",
            "",
        ),
        entry("lead", LEAD, "[\"orders\"]", "[\"approve\"]", ""),
        entry(
            "bot",
            BOT,
            "[\"orders\"]",
            "[\"grant\", \"inspect\", \"extend\", \"revoke\"]",
            "flows = [\"analysts\"]",
        ),
        entry(
            "platform",
            PLATFORM,
            "[\"*\"]",
            "[\"grant\", \"approve\"]",
            "",
        ),
        entry(
            "stranger",
            STRANGER,
            "[\"billing\"]",
            "[\"grant\", \"inspect\", \"revoke\"]",
            "",
        ),
        entry("root", ROOT, "[\"*\"]", "[\"grant\", \"inspect\"]", ""),
        // Known by its client certificate only (mutual TLS).
        "[[caller]]\nname = \"certbot\"\nclient_certificate = \"bot.clients.test\"\n\
         integrations = [\"orders\"]\nactions = [\"check\", \"inspect\"]\n"
            .to_owned(),
        // Named by the common name of the same certificate, which has SANs: never matched.
        "[[caller]]\nname = \"cn-only\"\nclient_certificate = \"bot\"\n\
         integrations = [\"orders\"]\nactions = [\"grant\", \"check\"]\n"
            .to_owned(),
        entry(
            "narrow-lead",
            NARROW_LEAD,
            "[\"orders\"]",
            "[\"approve\"]",
            "flows = [\"analysts\"]",
        ),
    ]
    .concat();
    Callers::from_toml_str(&text).expect("callers")
}

struct Fixture {
    cluster: TestCluster,
    addr: SocketAddr,
    audit: PathBuf,
    api: Arc<Api>,
    runtime: tokio::runtime::Runtime,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn fixture() -> Fixture {
    fixture_with(None)
}

/// As [`fixture`], with the API built by `configure`.
fn fixture_configured(configure: impl FnOnce(Api) -> Api) -> Fixture {
    fixture_full(None, configure)
}

/// As [`fixture`], the API over TLS with `tls` when given.
fn fixture_with(tls: Option<rds_pg_access_service::tls::TlsSettings>) -> Fixture {
    fixture_full(tls, |api| api)
}

fn fixture_full(
    tls: Option<rds_pg_access_service::tls::TlsSettings>,
    configure: impl FnOnce(Api) -> Api,
) -> Fixture {
    let cluster = TestCluster::start().unwrap_or_else(|e| {
        panic!("PostgreSQL is required (install it, or run .ci/install-postgres-versions): {e}")
    });
    // The setup guide's owner fix: the connector may grant on the owner's objects.
    cluster
        .sql("appdb", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let text = format!(
        "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n\
         [[access_flow]]\nname = \"analysts\"\nrequesters = [\"*\"]\n\
         resources = [\"local/appdb/**\"]\nlevels = [\"read-only\"]\nmax_duration = \"8h\"\n\
         [[access_flow]]\nname = \"writers\"\nrequesters = [\"*\"]\n\
         resources = [\"local/appdb/**\"]\nlevels = [\"read-write\"]\nmax_duration = \"2h\"\n\
         approval = true\n\
         [secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
        cluster.port()
    );
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let sink = Arc::new(AppendFileSink::open(&audit).expect("audit file"));
    let credentials = rds_pg_access::IntegrationCredentials::shared(Arc::new(StaticPassword::new(
        "apono_connector",
        SecretString::from(cluster.connector().password.clone()),
    )));
    let manager = AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
    .with_audit(sink.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let shutdown = CancellationToken::new();
    let scheduler = Scheduler::builder()
        .integration(manager.clone())
        .build()
        .expect("scheduler");
    let api = Arc::new(configure(
        Api::new(callers()).audit(sink).integration(manager),
    ));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    match tls {
        None => {
            runtime.spawn(rds_pg_access_service::http::serve_with_api(
                listener,
                scheduler.state(),
                Some(Arc::clone(&api)),
                shutdown.clone(),
            ));
        }
        Some(settings) => {
            let tls =
                Arc::new(rds_pg_access_service::tls::ApiTls::new(settings).expect("TLS settings"));
            runtime.spawn(Arc::clone(&tls).watch(shutdown.clone()));
            runtime.spawn(rds_pg_access_service::http::serve_tls(
                listener,
                scheduler.state(),
                Arc::clone(&api),
                tls,
                shutdown.clone(),
            ));
        }
    }
    Fixture {
        cluster,
        addr,
        audit,
        api,
        runtime,
        shutdown,
        _dir: dir,
    }
}

/// An answer: status, headers (lowercase names), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Checks that this is a problem document of `status` naming `field`.
    fn problem(&self, status: u16, field: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.headers.get("content-type").map(String::as_str),
            Some("application/problem+json"),
            "{self:?}"
        );
        let doc = self.json();
        assert_eq!(doc["status"], status, "{doc}");
        assert!(
            doc["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:rdspg:problem:")),
            "{doc}"
        );
        assert!(
            doc["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{doc}"
        );
        assert_eq!(doc["field"].as_str(), field, "{doc}");
        doc
    }
}

/// One HTTP/1.1 request over a new connection; `raw_body` is sent as is.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = text.split_once("\r\n").expect("chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn post_json(addr: SocketAddr, path: &str, token: &str, body: &Value) -> Reply {
    let auth = bearer(token);
    call(
        addr,
        "POST",
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

fn get(addr: SocketAddr, path: &str, token: &str) -> Reply {
    let auth = bearer(token);
    call(addr, "GET", path, &[("Authorization", &auth)], b"")
}

fn grant_body(user: &str, level: &str, duration: &str, request_id: &str) -> Value {
    serde_json::json!({
        "user": user,
        "level": level,
        "resources": ["appdb/sales"],
        "duration": duration,
        "reason": "ticket work",
        "request_id": request_id,
    })
}

const GRANTS: &str = "/v1/integrations/orders/grants";

fn sql_as(cluster: &TestCluster, user: &str, password: &str, sql: &str) -> Result<String, String> {
    let creds = Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    };
    cluster
        .sql_as(&creds, "appdb", sql)
        .map_err(|e| e.to_string())
}

/// Grants through the API as the caller of `token`, which must answer 201: the password.
fn granted_password(addr: SocketAddr, token: &str, body: &Value) -> String {
    let granted = post_json(addr, GRANTS, token, body);
    assert_eq!(granted.status, 201, "{granted:?}");
    granted.json()["password"]
        .as_str()
        .expect("a password")
        .to_owned()
}

/// `user` logs in with `password` and reads the sample orders.
fn assert_reads_orders(cluster: &TestCluster, user: &str, password: &str) {
    assert_eq!(
        sql_as(cluster, user, password, "SELECT count(*) FROM sales.orders").as_deref(),
        Ok("3")
    );
}

fn audit_records(path: &PathBuf) -> Vec<AuditRecord> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit record"))
        .collect()
}

/// Roles, memberships and the ACLs of appdb's schemas and tables: what a refused call must
/// leave as it was.
fn catalog(cluster: &TestCluster) -> String {
    cluster
        .sql(
            "appdb",
            "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles; \
             SELECT count(*) FROM pg_auth_members; \
             SELECT string_agg(nspname || coalesce(nspacl::text, ''), ',' ORDER BY nspname) FROM pg_namespace; \
             SELECT string_agg(relname || coalesce(relacl::text, ''), ',' ORDER BY relname) FROM pg_class \
             WHERE relnamespace = 'sales'::regnamespace",
        )
        .expect("catalog")
}

#[test]
fn grant_log_in_inspect_extend_and_revoke_through_the_api() {
    let f = fixture();
    let granted = post_json(
        f.addr,
        GRANTS,
        PORTAL,
        &grant_body("alice", "read-only", "1h", "REQ-1"),
    );
    assert_eq!(granted.status, 201, "{granted:?}");
    assert_eq!(
        granted.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    let doc = granted.json();
    assert_eq!(doc["user"], "alice");
    assert_eq!(doc["request_id"], "REQ-1");
    let password = doc["password"].as_str().expect("a password").to_owned();
    assert_reads_orders(&f.cluster, "alice", &password);
    assert!(sql_as(&f.cluster, "alice", &password, "DELETE FROM sales.orders").is_err());

    let inspected = get(f.addr, "/v1/integrations/orders/users/alice", PORTAL);
    assert_eq!(inspected.status, 200, "{inspected:?}");
    let text = inspected.body.clone();
    assert!(text.contains("REQ-1") && text.contains("orders"), "{text}");

    let extended = post_json(
        f.addr,
        "/v1/integrations/orders/users/alice/extend",
        PORTAL,
        &serde_json::json!({"duration": "3h", "request_id": "REQ-1"}),
    );
    assert_eq!(extended.status, 200, "{extended:?}");
    let until = f
        .cluster
        .sql("appdb", "SELECT rolvaliduntil > now() + interval '2 hours' FROM pg_roles WHERE rolname = 'alice'")
        .expect("valid until");
    assert_eq!(until, "t");

    let auth = bearer(PORTAL);
    let revoked = call(
        f.addr,
        "DELETE",
        "/v1/integrations/orders/users/alice",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert!(sql_as(&f.cluster, "alice", &password, "SELECT 1").is_err());
    // After the revocation the user is not one the API describes.
    get(f.addr, "/v1/integrations/orders/users/alice", PORTAL).problem(404, Some("user"));

    // Every call is a record naming the caller; the changes name it as their actor.
    let records = audit_records(&f.audit);
    let calls: Vec<_> = records
        .iter()
        .filter(|r| r.call.is_some())
        .map(|r| {
            let call = r.call.as_ref().expect("call");
            (
                r.actor.clone().unwrap_or_default(),
                call.method.clone(),
                call.status,
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("portal".to_owned(), "POST".to_owned(), 201),
            ("portal".to_owned(), "GET".to_owned(), 200),
            ("portal".to_owned(), "POST".to_owned(), 200),
            ("portal".to_owned(), "DELETE".to_owned(), 200),
            ("portal".to_owned(), "GET".to_owned(), 404),
        ]
    );
    for action in ["grant", "extend", "revoke"] {
        let changes: Vec<_> = records
            .iter()
            .filter(|r| r.call.is_none())
            .filter(|r| serde_json::to_value(r.action).ok() == Some(Value::from(action)))
            .collect();
        assert!(!changes.is_empty(), "no {action} record");
        assert!(
            changes.iter().all(|r| r.actor.as_deref() == Some("portal")),
            "{changes:?}"
        );
    }
    let text = std::fs::read_to_string(&f.audit).expect("audit");
    assert!(!text.contains(&password), "the audit holds the password");
    assert!(!text.contains(PORTAL), "the audit holds a token");
}

#[test]
fn callers_stay_in_their_scope_and_never_approve_themselves() {
    let f = fixture();
    let before = catalog(&f.cluster);
    // Another integration's caller.
    post_json(
        f.addr,
        GRANTS,
        STRANGER,
        &grant_body("eve", "read-only", "1h", "S-1"),
    )
    .problem(403, Some("integration"));
    // An action the caller lacks.
    get(f.addr, "/v1/integrations/orders/inventory", BOT).problem(403, None);
    // A level outside the caller's flows.
    post_json(
        f.addr,
        GRANTS,
        BOT,
        &grant_body("bob", "read-write", "1h", "B-1"),
    )
    .problem(403, None);
    // An approval flow without an approver.
    post_json(
        f.addr,
        GRANTS,
        PORTAL,
        &grant_body("carl", "read-write", "1h", "P-1"),
    )
    .problem(403, None);
    // The requester names an approver without the approve action.
    let mut body = grant_body("carl", "read-write", "1h", "P-1");
    body["approver"] = Value::from("lead");
    post_json(f.addr, GRANTS, PORTAL, &body).problem(403, Some("approver"));
    // Its own token as the approval.
    let auth = bearer(PORTAL);
    let own = call(
        f.addr,
        "POST",
        GRANTS,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Rdspg-Approval", &auth),
        ],
        grant_body("carl", "read-write", "1h", "P-1")
            .to_string()
            .as_bytes(),
    );
    own.problem(403, Some("Rdspg-Approval"));
    // A platform that attests approvals cannot name itself, nor the grantee.
    let mut body = grant_body("dave", "read-write", "1h", "F-1");
    body["approver"] = Value::from("platform");
    post_json(f.addr, GRANTS, PLATFORM, &body).problem(403, Some("approver"));
    body["approver"] = Value::from("dave");
    post_json(f.addr, GRANTS, PLATFORM, &body).problem(403, None);
    assert_eq!(
        catalog(&f.cluster),
        before,
        "a refused call changed the catalog"
    );

    // An approving caller whose own flows do not cover the request.
    let narrow = bearer(NARROW_LEAD);
    call(
        f.addr,
        "POST",
        GRANTS,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Rdspg-Approval", &narrow),
        ],
        grant_body("carl", "read-write", "1h", "P-1")
            .to_string()
            .as_bytes(),
    )
    .problem(403, Some("Rdspg-Approval"));
    assert_eq!(
        catalog(&f.cluster),
        before,
        "a refused call changed the catalog"
    );
    // Another caller's token as the approval: granted, and the approver recorded is that
    // caller.
    let lead = bearer(LEAD);
    let approved = call(
        f.addr,
        "POST",
        GRANTS,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Rdspg-Approval", &lead),
        ],
        grant_body("carl", "read-write", "1h", "P-1")
            .to_string()
            .as_bytes(),
    );
    assert_eq!(approved.status, 201, "{approved:?}");
    let grants: Vec<AuditRecord> = audit_records(&f.audit)
        .into_iter()
        .filter(|r| r.call.is_none() && r.user.as_deref() == Some("carl"))
        .collect();
    assert!(
        grants.iter().all(|r| r.approver.as_deref() == Some("lead")),
        "{grants:?}"
    );
    // The platform attesting a human approver.
    let mut body = grant_body("dave", "read-write", "1h", "F-1");
    body["approver"] = Value::from("carol@corp.io");
    let attested = post_json(f.addr, GRANTS, PLATFORM, &body);
    assert_eq!(attested.status, 201, "{attested:?}");

    // A caller limited to the analysts flow cannot inspect, extend or revoke a writer.
    get(f.addr, "/v1/integrations/orders/users/carl", BOT).problem(403, None);
    post_json(
        f.addr,
        "/v1/integrations/orders/users/carl/extend",
        BOT,
        &serde_json::json!({"duration": "1h"}),
    )
    .problem(403, None);
    let bot = bearer(BOT);
    call(
        f.addr,
        "DELETE",
        "/v1/integrations/orders/users/carl",
        &[("Authorization", &bot)],
        b"",
    )
    .problem(403, None);
    assert!(
        f.cluster
            .sql(
                "appdb",
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'carl'"
            )
            .expect("carl")
            == "t"
    );
    // ...and extends within its flows only: 3h is more than writers allow.
    post_json(
        f.addr,
        "/v1/integrations/orders/users/carl/extend",
        PORTAL,
        &serde_json::json!({"duration": "3h"}),
    )
    .problem(403, None);
}

#[test]
fn a_replayed_request_id_gives_a_working_credential_and_a_reused_one_is_refused() {
    let f = fixture();
    let first_password = granted_password(
        f.addr,
        PORTAL,
        &grant_body("alice", "read-only", "1h", "REQ-7"),
    );
    // The answer was lost: the same call again.
    let password = granted_password(
        f.addr,
        PORTAL,
        &grant_body("alice", "read-only", "1h", "REQ-7"),
    );
    assert_reads_orders(&f.cluster, "alice", &password);
    assert_ne!(password, first_password);
    let roles = f
        .cluster
        .sql(
            "appdb",
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'alice%'",
        )
        .expect("roles");
    assert_eq!(roles, "1");
    let before = catalog(&f.cluster);
    // Another caller replaying the id (it could read it from an inspection) gets nothing,
    // and the user's password stays.
    post_json(
        f.addr,
        GRANTS,
        PLATFORM,
        &grant_body("alice", "read-only", "1h", "REQ-7"),
    )
    .problem(409, Some("request_id"));
    assert_eq!(catalog(&f.cluster), before);
    assert_eq!(
        sql_as(&f.cluster, "alice", &password, "SELECT 1").as_deref(),
        Ok("1")
    );
    // A plan of the request says what the grant would: its requester may repeat it, no
    // one else.
    let manager = f
        .api
        .managers()
        .next()
        .expect("the integration's manager")
        .clone();
    let plan_as = |requester: &str| {
        let request = rds_pg_access::integration_model::AccessRequest::builder(
            "alice".parse().expect("user"),
            "read-only".parse().expect("level"),
            "1h".parse().expect("duration"),
        )
        .resource(manager.resource_path("appdb/sales").expect("path"))
        .request_id("REQ-7".parse().expect("id"))
        .requested_by(requester)
        .build()
        .expect("request");
        f.runtime.block_on(manager.plan(&request)).expect("plan")
    };
    assert!(plan_as("portal").all_ok());
    assert!(plan_as("platform").failures().any(|(_, e)| matches!(
        e,
        rds_pg_access::AccessError::Grants(
            rds_pg_access::pg_grants::GrantsError::RequestOfAnother { .. }
        )
    )));
    // The same id for something else.
    let mut other_resources = grant_body("alice", "read-only", "1h", "REQ-7");
    other_resources["resources"] = serde_json::json!(["appdb/inventory"]);
    post_json(f.addr, GRANTS, PORTAL, &other_resources).problem(409, Some("request_id"));
    post_json(
        f.addr,
        GRANTS,
        PORTAL,
        &grant_body("bob", "read-only", "1h", "REQ-7"),
    )
    .problem(409, Some("request_id"));
    assert_eq!(catalog(&f.cluster), before);
    assert_eq!(
        sql_as(&f.cluster, "alice", &password, "SELECT 1").as_deref(),
        Ok("1")
    );
}

/// A malformed call: method, path, headers, body, the status it gets, the field it names.
type BadCall<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    String,
    u16,
    Option<&'a str>,
);

#[test]
fn bad_input_gets_a_problem_naming_it_and_changes_nothing() {
    let f = fixture();
    let before = catalog(&f.cluster);
    let auth = bearer(PORTAL);
    let json = ("Content-Type", "application/json");
    let good = grant_body("alice", "read-only", "1h", "REQ-1").to_string();
    let long_user = grant_body(&"a".repeat(64), "read-only", "1h", "REQ-1").to_string();
    let huge = format!("{{\"user\": \"{}\"}}", "a".repeat(70_000));
    let with = |key: &str, value: Value| {
        let mut body = grant_body("alice", "read-only", "1h", "REQ-1");
        body[key] = value;
        body.to_string()
    };
    let without = |key: &str| {
        let mut body = grant_body("alice", "read-only", "1h", "REQ-1");
        body.as_object_mut().expect("object").remove(key);
        body.to_string()
    };
    // (method, path, headers, body, status, field)
    // A malformed grant by the portal: body, status, field.
    let grant = |body: String, status: u16, field: Option<&'static str>| -> BadCall<'_> {
        (
            "POST",
            GRANTS,
            vec![("Authorization", auth.as_str()), json],
            body,
            status,
            field,
        )
    };
    let cases: Vec<BadCall<'_>> = vec![
        (
            "POST",
            GRANTS,
            vec![json],
            good.clone(),
            401,
            Some("Authorization"),
        ),
        (
            "POST",
            GRANTS,
            vec![("Authorization", "Bearer nope"), json],
            good.clone(),
            401,
            Some("Authorization"),
        ),
        (
            "POST",
            GRANTS,
            vec![("Authorization", "Basic cG9ydGFsOng="), json],
            good.clone(),
            401,
            Some("Authorization"),
        ),
        (
            "POST",
            GRANTS,
            vec![("Authorization", &auth)],
            good.clone(),
            415,
            Some("Content-Type"),
        ),
        (
            "POST",
            GRANTS,
            vec![("Authorization", &auth), ("Content-Type", "text/plain")],
            good.clone(),
            415,
            Some("Content-Type"),
        ),
        grant(huge, 413, None),
        grant("{".to_owned(), 400, None),
        grant("[1]".to_owned(), 400, None),
        grant("\u{0}".to_owned(), 400, None),
        grant("{\"user\":\"a\",\"user\":\"b\"}".to_owned(), 400, None),
        grant(with("colour", Value::from(1)), 400, Some("colour")),
        grant(with("user", Value::from(5)), 400, Some("user")),
        grant(long_user, 400, Some("user")),
        grant(with("user", Value::from("postgres")), 409, Some("user")),
        grant(with("level", Value::from("god")), 400, Some("level")),
        grant(
            with("duration", Value::from("forever")),
            400,
            Some("duration"),
        ),
        grant(
            with("resources", Value::from("appdb")),
            400,
            Some("resources"),
        ),
        grant(
            with(
                "resources",
                serde_json::json!(["elsewhere/appdb/sales/orders/x"]),
            ),
            400,
            Some("resources[0]"),
        ),
        grant(
            with("resources", serde_json::json!(["appdb", "appdb"])),
            400,
            Some("resources[1]"),
        ),
        grant(
            with("reason", Value::from("x".repeat(2000))),
            400,
            Some("reason"),
        ),
        grant(
            with("request_id", Value::from("bad\nid")),
            400,
            Some("request_id"),
        ),
        grant(without("request_id"), 400, Some("request_id")),
        grant(without("user"), 400, Some("user")),
        (
            "GET",
            GRANTS,
            vec![("Authorization", &auth)],
            String::new(),
            405,
            None,
        ),
        (
            "GET",
            "/v1/integrations/orders/nothing",
            vec![("Authorization", &auth)],
            String::new(),
            404,
            None,
        ),
        (
            "GET",
            "/v1/integrations/orders/users/%FF",
            vec![("Authorization", &auth)],
            String::new(),
            400,
            Some("user"),
        ),
        (
            "GET",
            "/v1/integrations/orders/users/alice?database=a&x=1",
            vec![("Authorization", &auth)],
            String::new(),
            400,
            Some("x"),
        ),
        (
            "DELETE",
            "/v1/integrations/orders/users/postgres",
            vec![("Authorization", &auth)],
            String::new(),
            404,
            Some("user"),
        ),
        (
            "DELETE",
            "/v1/integrations/orders/users/nobody_here",
            vec![("Authorization", &auth)],
            String::new(),
            404,
            Some("user"),
        ),
        grant(
            with("user", Value::from("rdspg_managed")),
            400,
            Some("user"),
        ),
    ];
    let root = bearer(ROOT);
    for (method, path, headers, body, status, field) in cases {
        let reply = call(f.addr, method, path, &headers, body.as_bytes());
        let shown = format!(
            "{method} {path} {}",
            body.chars().take(80).collect::<String>()
        );
        assert_eq!(reply.status, status, "{shown}: {reply:?}");
        reply.problem(status, field);
    }
    // An integration that is not served, asked by a caller of every integration.
    post_json(
        f.addr,
        "/v1/integrations/billing/grants",
        ROOT,
        &serde_json::from_str(&good).expect("json"),
    )
    .problem(404, Some("integration"));
    let _ = root;
    assert_eq!(
        catalog(&f.cluster),
        before,
        "a refused call changed the catalog"
    );
    // The connector's own role is never described.
    get(
        f.addr,
        "/v1/integrations/orders/users/apono_connector",
        PORTAL,
    )
    .problem(404, Some("user"));
    // Nor another tenant's role, whoever asks and however: the same 404 as no role at all.
    let bot = bearer(BOT);
    get(f.addr, "/v1/integrations/orders/users/postgres", BOT).problem(404, Some("user"));
    call(
        f.addr,
        "DELETE",
        "/v1/integrations/orders/users/postgres",
        &[("Authorization", &bot)],
        b"",
    )
    .problem(404, Some("user"));
    post_json(
        f.addr,
        "/v1/integrations/orders/users/postgres/extend",
        PORTAL,
        &serde_json::json!({"duration": "1h"}),
    )
    .problem(404, Some("user"));
    // ...and nothing ran against it: no extension was attempted (none is recorded).
    assert!(
        !audit_records(&f.audit).iter().any(|r| {
            r.call.is_none()
                && r.user.as_deref() == Some("postgres")
                && serde_json::to_value(r.action).ok() == Some(Value::from("extend"))
        }),
        "an extension ran against a role the connector did not make"
    );
    assert_eq!(
        catalog(&f.cluster),
        before,
        "a refused call changed the catalog"
    );
}

#[test]
fn a_client_that_disconnects_mid_grant_leaves_no_half_grant_and_the_retry_works() {
    let f = fixture();
    let body = grant_body("alice", "read-only", "1h", "REQ-9").to_string();
    {
        let mut stream = TcpStream::connect(f.addr).expect("connect");
        write!(
            stream,
            "POST {GRANTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PORTAL}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        // Gone before the answer.
    }
    // Whatever the grant had done when the client left, it finishes.
    f.runtime.block_on(f.api.finish());
    let state = f
        .cluster
        .sql(
            "appdb",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'alice'",
        )
        .expect("alice");
    assert!(state == "t" || state.is_empty(), "half a grant: {state:?}");
    let password = granted_password(
        f.addr,
        PORTAL,
        &grant_body("alice", "read-only", "1h", "REQ-9"),
    );
    assert_reads_orders(&f.cluster, "alice", &password);
}

#[test]
fn concurrent_grants_for_one_user_serialise_and_all_hold() {
    let f = fixture();
    let addr = f.addr;
    let replies: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    post_json(
                        addr,
                        GRANTS,
                        PORTAL,
                        &grant_body("alice", "read-only", "1h", &format!("C-{i}")),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for reply in &replies {
        assert_eq!(reply.status, 201, "{reply:?}");
    }
    let passwords: Vec<String> = replies
        .iter()
        .filter_map(|r| r.json()["password"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        passwords.len(),
        1,
        "one password handed out, the others kept it: {replies:?}"
    );
    let inspected = get(addr, "/v1/integrations/orders/users/alice", PORTAL);
    assert_eq!(inspected.status, 200, "{inspected:?}");
    for i in 0..4 {
        assert!(
            inspected.body.contains(&format!("C-{i}")),
            "{}",
            inspected.body
        );
    }
    assert_eq!(
        sql_as(&f.cluster, "alice", &passwords[0], "SELECT 1").as_deref(),
        Ok("1")
    );
}

#[test]
fn inventory_streams_ndjson_and_check_reports() {
    let f = fixture();
    let inventory = get(f.addr, "/v1/integrations/orders/inventory", PORTAL);
    assert_eq!(inventory.status, 200, "{inventory:?}");
    assert_eq!(
        inventory.headers.get("content-type").map(String::as_str),
        Some("application/x-ndjson")
    );
    let lines: Vec<Value> = inventory
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "table" && l["schema"] == "sales" && l["table"] == "orders"),
        "{lines:?}"
    );
    let end = lines.last().expect("an end line");
    assert_eq!(end["type"], "end", "{end}");
    assert_eq!(end["complete"], true, "{end}");
    assert_eq!(
        end["items"]["local"].as_u64(),
        Some(lines.len() as u64 - 1),
        "{end}"
    );
    let check = get(f.addr, "/v1/integrations/orders/check", PORTAL);
    assert_eq!(check.status, 200, "{check:?}");
    assert!(
        check
            .json()
            .as_array()
            .is_some_and(|items| !items.is_empty()),
        "{check:?}"
    );
}

#[test]
fn inventories_beyond_the_limit_are_refused_as_busy() {
    let f = fixture_configured(|api| api.inventory_limits(0, Duration::from_secs(1)));
    let reply = get(f.addr, "/v1/integrations/orders/inventory", PORTAL);
    reply.problem(503, None);
    assert_eq!(
        reply.headers.get("retry-after").map(String::as_str),
        Some("10")
    );
    assert_eq!(reply.json()["type"], "urn:rdspg:problem:busy");
}

#[test]
fn curl_from_outside_the_process_grants_and_inspects() {
    let f = fixture();
    let url = format!("http://{}{GRANTS}", f.addr);
    let body = grant_body("alice", "read-only", "1h", "CURL-1").to_string();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {PORTAL}"))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(&body)
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("curl is required (apt-get install curl): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let (doc, code) = text.rsplit_once('\n').expect("body and status");
    assert_eq!(code, "201", "{text}");
    let doc: Value = serde_json::from_str(doc).expect("JSON");
    let password = doc["password"].as_str().expect("password");
    assert_reads_orders(&f.cluster, "alice", password);
}

#[test]
fn the_api_off_loopback_needs_tls() {
    use rds_pg_access_service::tls::TlsSettings;
    use rds_pg_access_service::{ApiConfig, ServiceConfig, ServiceError};
    let with_tls = ServiceConfig::new("127.0.0.1:9187".parse().expect("addr")).api(
        ApiConfig::new(Callers::new())
            .listen("0.0.0.0:9443".parse().expect("addr"))
            .tls(TlsSettings::new("cert.pem", "key.pem")),
    );
    assert!(with_tls.validate().is_ok());
    let shared_listener = ServiceConfig::new("127.0.0.1:9187".parse().expect("addr"))
        .api(ApiConfig::new(Callers::new()).tls(TlsSettings::new("cert.pem", "key.pem")));
    assert!(matches!(
        shared_listener.validate(),
        Err(ServiceError::ApiTlsNeedsListener)
    ));
    let config = ServiceConfig::new("127.0.0.1:9187".parse().expect("addr"))
        .api(ApiConfig::new(Callers::new()).listen("0.0.0.0:9443".parse().expect("addr")));
    let error = config.validate().expect_err("off loopback without TLS");
    assert!(matches!(error, ServiceError::ApiNeedsTls(_)), "{error}");
    assert!(error.to_string().contains("0.0.0.0:9443"), "{error}");
    let config = ServiceConfig::new("127.0.0.1:9187".parse().expect("addr"))
        .api(ApiConfig::new(Callers::new()).listen("[::1]:9443".parse().expect("addr")));
    assert!(config.validate().is_ok());
}

/// `chromium` on the PATH, or the test fails with the install command.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = std::process::Command::new("which").arg(name).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("a headless browser is required: apt-get install -y chromium (.ci/run installs it)")
}

#[test]
fn the_status_page_shows_an_api_grant_in_a_headless_browser() {
    let f = fixture();
    let granted = post_json(
        f.addr,
        GRANTS,
        PORTAL,
        &grant_body("alice", "read-only", "1h", "REQ-S1"),
    );
    assert_eq!(granted.status, 201, "{granted:?}");
    // A grantee whose name is markup: shown as text, never as markup.
    let hostile = "mallory<img src=x onerror=alert(1)>";
    let granted = post_json(
        f.addr,
        GRANTS,
        PORTAL,
        &grant_body(hostile, "read-only", "1h", "REQ-S2"),
    );
    assert_eq!(granted.status, 201, "{granted:?}");

    let page = call(f.addr, "GET", "/", &[], b"");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.headers.get("content-type").map(String::as_str),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        page.headers
            .get("content-security-policy")
            .map(String::as_str),
        Some("default-src 'none'; style-src 'unsafe-inline'")
    );
    assert!(
        page.body.contains("alice") && page.body.contains("REQ-S1"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("mallory&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<img"), "{}", page.body);

    let browser = chromium();
    let url = format!("http://{}/", f.addr);
    let dom = std::process::Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(dom_text.contains("<td>alice</td>"), "{dom_text}");
    assert!(dom_text.contains("REQ-S1 read-only until"), "{dom_text}");
    assert!(!dom_text.contains("<img"), "{dom_text}");

    let shot = std::env::var_os("RDSPG_STATUS_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| f._dir.path().join("status.png"));
    let out = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (1280, 900));
    // A page of tables and text compresses to tens of kilobytes; a blank or error page to a
    // few.
    assert!(
        png.len() > 20_000,
        "a {}-byte screenshot is not a rendered page",
        png.len()
    );
}

/// Checks `value` against `schema` (the subset of JSON Schema 2020-12 the document uses:
/// `$ref`, `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`,
/// `oneOf`, `anyOf`, `allOf`), collecting what does not match.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        let target = &doc["components"]["schemas"][name];
        assert!(
            target.is_object() || target.is_boolean(),
            "no schema {name}"
        );
        validate(doc, target, value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = names.iter().any(|t| match *t {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            errors.push(format!("{at}: {value} is not of type {types}"));
            return;
        }
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{at}: {value} is not {constant}"));
    }
    for (key, combine) in [("oneOf", 1usize), ("anyOf", 0), ("allOf", usize::MAX)] {
        if let Some(options) = schema[key].as_array() {
            let fitting = options
                .iter()
                .filter(|option| {
                    let mut inner = Vec::new();
                    validate(doc, option, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            let ok = match combine {
                1 => fitting == 1,
                0 => fitting >= 1,
                _ => fitting == options.len(),
            };
            if !ok {
                errors.push(format!(
                    "{at}: {key} matched {fitting} of {}",
                    options.len()
                ));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        if let Some(required) = schema["required"].as_array() {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: missing {name}"));
                }
            }
        }
        for (key, item) in object {
            let place = format!("{at}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => validate(doc, sub, item, &place, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{place}: not in the schema")),
                    Some(sub @ Value::Object(_)) => validate(doc, sub, item, &place, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn conforms(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(doc, schema, value, what, &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not match the OpenAPI document: {errors:#?}\n{value}"
    );
}

#[test]
fn the_openapi_document_describes_what_the_api_answers() {
    let f = fixture();
    // Public, and valid JSON of OpenAPI 3.1.
    let reply = call(f.addr, "GET", "/v1/openapi.json", &[], b"");
    assert_eq!(reply.status, 200, "{reply:?}");
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = &doc["paths"];
    let op = |path: &str, method: &str| paths[path][method].clone();
    for (path, method) in [
        ("/v1/integrations/{integration}/grants", "post"),
        ("/v1/integrations/{integration}/users/{user}", "get"),
        ("/v1/integrations/{integration}/users/{user}", "delete"),
        ("/v1/integrations/{integration}/users/{user}/extend", "post"),
        ("/v1/integrations/{integration}/inventory", "get"),
        ("/v1/integrations/{integration}/check", "get"),
    ] {
        assert!(
            op(path, method).is_object(),
            "{method} {path} is not described"
        );
    }
    let response = |path: &str, method: &str, status: &str| {
        let content = &op(path, method)["responses"][status]["content"];
        let (_, media) = content
            .as_object()
            .and_then(|c| c.iter().next())
            .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
        media["schema"].clone()
    };
    let problem = response("/v1/integrations/{integration}/grants", "post", "default");
    let user_path = "/v1/integrations/{integration}/users/{user}";

    // The request schema is the one the parser reads: a body it describes is taken.
    let grant_schema = &doc["components"]["schemas"]["GrantRequest"];
    let body = grant_body("alice", "read-only", "1h", "OA-1");
    conforms(&doc, grant_schema, &body, "the grant body");
    let granted = post_json(f.addr, GRANTS, PORTAL, &body);
    assert_eq!(granted.status, 201, "{granted:?}");
    conforms(
        &doc,
        &response("/v1/integrations/{integration}/grants", "post", "201"),
        &granted.json(),
        "the grant",
    );
    let inspected = get(f.addr, "/v1/integrations/orders/users/alice", PORTAL);
    conforms(
        &doc,
        &response(user_path, "get", "200"),
        &inspected.json(),
        "the inspection",
    );
    let extended = post_json(
        f.addr,
        "/v1/integrations/orders/users/alice/extend",
        PORTAL,
        &serde_json::json!({"duration": "2h"}),
    );
    conforms(
        &doc,
        &response(
            "/v1/integrations/{integration}/users/{user}/extend",
            "post",
            "200",
        ),
        &extended.json(),
        "the extension",
    );
    let check = get(f.addr, "/v1/integrations/orders/check", PORTAL);
    conforms(
        &doc,
        &response("/v1/integrations/{integration}/check", "get", "200"),
        &check.json(),
        "the check",
    );
    let inventory = get(f.addr, "/v1/integrations/orders/inventory", PORTAL);
    let line_schema = response("/v1/integrations/{integration}/inventory", "get", "200");
    for (i, line) in inventory.body.lines().enumerate() {
        let line: Value = serde_json::from_str(line).expect("JSON line");
        conforms(&doc, &line_schema, &line, &format!("inventory line {i}"));
    }
    let refused = post_json(f.addr, GRANTS, PORTAL, &serde_json::json!({"user": 5}));
    conforms(&doc, &problem, &refused.json(), "a problem");
    let auth = bearer(PORTAL);
    let revoked = call(
        f.addr,
        "DELETE",
        "/v1/integrations/orders/users/alice",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(revoked.status, 200, "{revoked:?}");
    conforms(
        &doc,
        &response(user_path, "delete", "200"),
        &revoked.json(),
        "the revocation",
    );
}

/// Test certificates: `ca`, a server certificate it signs (`localhost`, 127.0.0.1) and a
/// client certificate `bot.clients.test` it signs, in `dir` as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &std::path::Path, tag: &str) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let write = |name: &str, text: String| {
        let path = dir.join(format!("{tag}-{name}"));
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("api test CA {tag}"));
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server SANs");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let client_key = KeyPair::generate().expect("client key");
    let mut client =
        CertificateParams::new(vec!["bot.clients.test".to_owned()]).expect("client SANs");
    client.distinguished_name.push(DnType::CommonName, "bot");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client
        .signed_by(&client_key, &issuer)
        .expect("client certificate");
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// `curl` over TLS to `path`: (HTTP status, body), or `Err(curl's error)` when no HTTP answer
/// came (a refused handshake, an unverified server).
fn curl_tls(
    addr: SocketAddr,
    path: &str,
    ca: &std::path::Path,
    args: &[&str],
) -> Result<(u16, String), String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", addr.port()))
        .arg("--cacert")
        .arg(ca)
        .args(args)
        .arg(format!("https://localhost:{}{path}", addr.port()))
        .output()
        .unwrap_or_else(|e| panic!("curl is required (apt-get install curl): {e}"));
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    Ok((code.parse().expect("status"), body.to_owned()))
}

#[test]
fn over_tls_callers_use_tokens_or_client_certificates() {
    let dir = tempfile::tempdir().expect("dir");
    let good = pki(dir.path(), "good");
    let rogue = pki(dir.path(), "rogue");
    let f = fixture_with(Some(
        rds_pg_access_service::tls::TlsSettings::new(&good.server_cert, &good.server_key)
            .client_ca(&good.ca),
    ));
    let check = "/v1/integrations/orders/check";
    let auth = format!("Authorization: Bearer {PORTAL}");
    // A bearer token over TLS.
    let (status, body) = curl_tls(f.addr, check, &good.ca, &["-H", &auth]).expect("TLS call");
    assert_eq!(status, 200, "{body}");
    // Plain HTTP to the TLS listener gets no answer.
    assert_eq!(call_plain_status(f.addr), None);
    // The network-facing listener serves the API and the status page, not health or metrics.
    for path in ["/healthz", "/metrics"] {
        let (status, _) = curl_tls(f.addr, path, &good.ca, &[]).expect("TLS call");
        assert_eq!(status, 404, "{path}");
    }
    // A client certificate of a caller, without a token.
    let cert = good.client_cert.to_str().expect("path");
    let key = good.client_key.to_str().expect("path");
    let (status, body) =
        curl_tls(f.addr, check, &good.ca, &["--cert", cert, "--key", key]).expect("mTLS call");
    assert_eq!(status, 200, "{body}");
    // ...as the caller its SAN names: the certificate's common name ("bot", another caller's
    // certificate name) is not one of its names when it has SANs, so this is not ambiguous.
    // And that caller may not grant.
    let (status, body) = curl_tls(
        f.addr,
        GRANTS,
        &good.ca,
        &[
            "--cert",
            cert,
            "--key",
            key,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &grant_body("alice", "read-only", "1h", "TLS-1").to_string(),
        ],
    )
    .expect("mTLS call");
    assert_eq!(status, 403, "{body}");
    // Neither token nor certificate.
    let (status, _) = curl_tls(f.addr, check, &good.ca, &[]).expect("TLS call");
    assert_eq!(status, 401);
    // A token and a certificate of two different callers.
    let (status, _) = curl_tls(
        f.addr,
        check,
        &good.ca,
        &["--cert", cert, "--key", key, "-H", &auth],
    )
    .expect("TLS call");
    assert_eq!(status, 401);
    // A certificate no configured CA signed: the handshake is refused.
    let refused = curl_tls(
        f.addr,
        check,
        &good.ca,
        &[
            "--cert",
            rogue.client_cert.to_str().expect("path"),
            "--key",
            rogue.client_key.to_str().expect("path"),
        ],
    );
    assert!(refused.is_err(), "{refused:?}");
    // The audit names the certificate's caller.
    let records = audit_records(&f.audit);
    assert!(
        records
            .iter()
            .any(|r| r.actor.as_deref() == Some("certbot") && r.call.is_some()),
        "{records:?}"
    );
}

/// The status of a plain HTTP request to `addr`, or `None` when no HTTP answer comes.
fn call_plain_status(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .ok()?;
    write!(
        stream,
        "GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn the_tls_certificate_reloads_when_its_files_change_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let first = pki(dir.path(), "first");
    let second = pki(dir.path(), "second");
    let cert = dir.path().join("live.pem");
    let key = dir.path().join("live.key");
    std::fs::copy(&first.server_cert, &cert).expect("copy");
    std::fs::copy(&first.server_key, &key).expect("copy");
    let f = fixture_with(Some(
        rds_pg_access_service::tls::TlsSettings::new(&cert, &key).poll(Duration::from_millis(100)),
    ));
    let openapi = "/v1/openapi.json";
    assert_eq!(
        curl_tls(f.addr, openapi, &first.ca, &[]).map(|r| r.0),
        Ok(200)
    );
    assert!(curl_tls(f.addr, openapi, &second.ca, &[]).is_err());
    // Renewed in place (as cert-manager or certbot do).
    std::fs::copy(&second.server_cert, &cert).expect("copy");
    std::fs::copy(&second.server_key, &key).expect("copy");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while curl_tls(f.addr, openapi, &second.ca, &[]).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(curl_tls(f.addr, openapi, &first.ca, &[]).is_err());
    // A key that does not match: the certificate in use stays.
    std::fs::copy(&first.server_key, &key).expect("copy");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        curl_tls(f.addr, openapi, &second.ca, &[]).map(|r| r.0),
        Ok(200)
    );
}
