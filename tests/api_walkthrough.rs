//! The README's curl walk-through of the access API, run as written against
//! `rdspg quickstart --serve` (a real process, a real listener, `curl` from outside), then
//! Ctrl-C: the quickstart stops its server and exits 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{free_port, rdspg_path};

/// The shell block between the README's `api-walkthrough` markers.
fn readme_walkthrough() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- api-walkthrough:start -->")
        .expect("the README marks its walk-through");
    let end = readme[start..]
        .find("<!-- api-walkthrough:end -->")
        .expect("the walk-through's end marker")
        + start;
    let block = &readme[start..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(body, _)| body)
        .expect("a sh block between the markers");
    body.to_owned()
}

#[test]
fn the_readme_curl_walk_through_works_against_quickstart_serve() {
    let port = free_port();
    let mut child = Command::new(rdspg_path())
        .args(["quickstart", "--serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rdspg quickstart --serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The export lines come after the walk-through's steps, RDSPG_TOKEN last.
    let mut exports = Vec::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while !exports
        .iter()
        .any(|(n, _): &(String, String)| n == "RDSPG_TOKEN")
    {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("no export lines from quickstart --serve; it printed: {seen:#?}")
            });
        if let Some(export) = line.strip_prefix("export ") {
            let (name, value) = export.split_once('=').expect("NAME=value");
            exports.push((name.to_owned(), value.to_owned()));
        }
        seen.push(line);
    }
    assert!(exports.iter().any(|(n, _)| n == "RDSPG_TOKEN"), "{seen:#?}");
    let script = readme_walkthrough();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .envs(exports.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walk-through failed: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Four JSON documents: the grant (with a password), the user, the extension, the
    // revocation.
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not four JSON documents ({e}): {text}"));
    assert_eq!(docs.len(), 4, "{text}");
    assert_eq!(docs[0]["user"], "alice", "{text}");
    assert!(
        docs[0]["password"].as_str().is_some_and(|p| p.len() >= 16),
        "{text}"
    );
    assert_eq!(docs[0]["request_id"], "TICKET-1", "{text}");
    assert!(docs[1].to_string().contains("TICKET-1"), "{text}");

    // Ctrl-C: the service stops, then the quickstart stops its server and exits 0.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    let status = child.wait().expect("wait");
    let rest: Vec<String> = rx.iter().collect();
    let _ = reader.join();
    assert!(status.success(), "{status}: {rest:#?}");
    assert!(
        rest.iter().any(|l| l.starts_with("ok   stop the server")),
        "{rest:#?}"
    );
}
