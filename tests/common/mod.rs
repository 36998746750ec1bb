//! Helpers shared by the end-to-end tests (each test file uses the ones it needs).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pg_testkit::TestCluster;

/// The `rdspg` example built by `cargo test`, next to the running test executable.
pub(crate) fn rdspg_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/rdspg
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join("rdspg");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo test --workspace` (which builds the examples) or \
         `cargo build --example rdspg` first",
        path.display()
    );
    path
}

/// Polls `check` every 50 ms until it gives a value; fails the test after `secs` seconds.
pub(crate) fn wait_for<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `role` exists on `cluster` (`role` is a test constant, not input).
pub(crate) fn role_exists(cluster: &TestCluster, role: &str) -> bool {
    cluster
        .sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
        )
        .expect("query roles")
        .trim()
        == "1"
}

/// A free loopback port (bound, then released for the server to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` over plain HTTP/1.1: (status, body), or `None` while nothing answers.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}
