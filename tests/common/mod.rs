//! Helpers shared by the end-to-end tests (each test file uses the ones it needs).
#![allow(dead_code)]

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
