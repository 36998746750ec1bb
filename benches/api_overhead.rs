//! What the access API adds to the library (issue 16): a grant, an inspection and a
//! revocation through `POST grants`, `GET users/{user}` and `DELETE users/{user}` over a real
//! loopback listener (raw HTTP/1.1, a new connection per call, as a portal's client would),
//! against the same operation called on the `AccessManager` directly, in interleaved pairs
//! (`common::print_paired`): each round grants a new user both ways, inspects and revokes both.
//! The API's own extra work is known in round trips: a grant scans the managed users once per
//! instance (the request id's other-user check), a revocation reads the user's status first
//! (only managed users are revoked), an inspection reads the status and then inspects (as
//! `rdspg inspect` does).
//!
//! Run: `cargo bench --bench api_overhead` (PostgreSQL 15, `RDSPG_BENCH_ROUNDS`, default 30).
//! Without `--bench` (as `cargo test --benches` runs it) it does two rounds: a smoke test.

#[allow(dead_code)] // the criterion helpers are for the other benches
mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_testkit::TestCluster;
use rds_pg_access::integration_model::{AccessRequest, Settings};
use rds_pg_access::pg_auth::{SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessManager, IntegrationCredentials};
use rds_pg_access_service::api::{Action, Api, Caller, Callers};
use rds_pg_access_service::scheduler::{CancellationToken, Scheduler};

const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

/// One HTTP/1.1 call on a new connection: the status.
fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\n"
    );
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body.as_bytes()).expect("send body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn main() {
    let rounds: usize = if common::measuring() {
        std::env::var("RDSPG_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(30)
    } else {
        2
    };
    let cluster = TestCluster::start().unwrap_or_else(|e| {
        panic!("PostgreSQL 15 is required (apt-get install -y postgresql-15): {e}")
    });
    cluster
        .sql("appdb", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let text = format!(
        "name = \"bench\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         database = \"appdb\"\n[secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\n\
         port = {}\n",
        cluster.port()
    );
    let integration = Settings::from_toml_str(&text)
        .expect("settings")
        .integrations()[0]
        .clone();
    let credentials = IntegrationCredentials::shared(Arc::new(StaticPassword::new(
        "apono_connector",
        SecretString::from(cluster.connector().password.clone()),
    )));
    let manager = AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let callers = Callers::new()
        .with(
            Caller::for_token("bench", TOKEN)
                .integration("*")
                .actions(Action::ALL),
        )
        .expect("callers");
    let api = Arc::new(Api::new(callers).integration(manager.clone()));
    let scheduler = Scheduler::builder()
        .integration(manager.clone())
        .build()
        .expect("scheduler");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    runtime.spawn(rds_pg_access_service::http::serve_with_api(
        listener,
        scheduler.state(),
        Some(api),
        shutdown.clone(),
    ));

    let request = |user: &str, id: &str| {
        AccessRequest::builder(
            user.parse().expect("user"),
            "read-only".parse().expect("level"),
            "1h".parse().expect("duration"),
        )
        .resource(manager.resource_path("appdb/sales").expect("path"))
        .request_id(id.parse().expect("id"))
        .build()
        .expect("request")
    };
    let body = |user: &str, id: &str| {
        serde_json::json!({
            "user": user, "level": "read-only", "resources": ["appdb/sales"],
            "duration": "1h", "request_id": id,
        })
        .to_string()
    };
    println!("api_overhead: PostgreSQL 15, one instance, {rounds} rounds; API / library:");
    // Each side counts its own calls: print_paired calls each once per round, in either order.
    let (a, b) = (Cell::new(0), Cell::new(0));
    let next = |c: &Cell<usize>| {
        c.set(c.get() + 1);
        c.get()
    };
    common::print_paired(
        "grant of a new user (POST grants / AccessManager::grant)",
        rounds,
        || {
            let user = format!("api_{}", next(&a));
            let status = Cell::new(0);
            let t = timed(|| {
                status.set(call(
                    addr,
                    "POST",
                    "/v1/integrations/bench/grants",
                    &body(&user, &user),
                ))
            });
            assert_eq!(status.get(), 201);
            t
        },
        || {
            let user = format!("lib_{}", next(&b));
            let request = request(&user, &user);
            timed(|| {
                let outcome = runtime.block_on(manager.grant(&request)).expect("grant");
                assert!(outcome.is_complete());
            })
        },
    );
    let (a, b) = (Cell::new(0), Cell::new(0));
    common::print_paired(
        "inspection (GET users/{user} / user_status + inspect)",
        rounds,
        || {
            let path = format!("/v1/integrations/bench/users/api_{}", next(&a));
            timed(|| assert_eq!(call(addr, "GET", &path, ""), 200))
        },
        || {
            let user = format!("lib_{}", next(&b)).parse().expect("user");
            timed(|| {
                runtime.block_on(async {
                    manager.user_status(&user).await.expect("status");
                    manager.inspect(&user, None).await.expect("inspect");
                });
            })
        },
    );
    let (a, b) = (Cell::new(0), Cell::new(0));
    common::print_paired(
        "revocation (DELETE users/{user} / AccessManager::revoke)",
        rounds,
        || {
            let path = format!("/v1/integrations/bench/users/api_{}", next(&a));
            timed(|| assert_eq!(call(addr, "DELETE", &path, ""), 200))
        },
        || {
            let user = format!("lib_{}", next(&b)).parse().expect("user");
            timed(|| {
                runtime.block_on(manager.revoke(&user)).expect("revoke");
            })
        },
    );
    shutdown.cancel();
}
