//! The connector service under hostile or careless settings (issue 14, item 6): an absurd
//! `--sweep-every` must not make `/healthz` panic.

mod common;

use common::{rdspg_path, wait_for};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` over plain HTTP/1.1: (status, body), or `None` while nothing answers.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
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

/// Kills the child when the test ends, whatever happens.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_huge_sweep_interval_keeps_healthz_answering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("huge.toml");
    // Nothing listens on the endpoint: the runs fail, which /healthz only reports after two
    // intervals; what matters here is that /healthz answers at all.
    let text = format!(
        "name = \"huge\"\nregion = \"us-east-1\"\nauth = \"password\"\nssl_mode = \"disable\"\n\
         [secret]\nenv = \"RDSPG_CONNECTOR_PASSWORD\"\n[endpoint]\nhost = \"127.0.0.1\"\n\
         port = {}\n",
        free_port()
    );
    std::fs::write(&config, text).expect("write config");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let serve = Command::new(rdspg_path())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &addr.to_string()])
        .args([
            "--sweep-every",
            "18446744073709551615s",
            "--sync-every",
            "213503982334601d",
            "--rotate-every",
            "1h",
        ])
        .env("RDSPG_CONNECTOR_PASSWORD", "unused")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rdspg serve");
    let _reap = Reap(serve);
    // Twice: the first answer may come before the first round has finished.
    for round in 0..2 {
        let (status, body) = wait_for("an answer from /healthz", 30, || http_get(addr, "/healthz"));
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, body) = http_get(addr, "/metrics").expect("metrics answers");
    assert_eq!(status, 200, "{body}");
}
