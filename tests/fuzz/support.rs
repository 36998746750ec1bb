//! The fuzz driver: proptest's runner with a case count from the environment, a watchdog that
//! aborts the process when one case runs too long (a hang), and a report of cases, time, the
//! slowest case and the process's peak memory.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per target: `RDSPG_FUZZ_CASES`, or a short run for `cargo test`.
pub(crate) fn cases() -> u32 {
    std::env::var("RDSPG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// The longest one case may take before it counts as a hang: `RDSPG_FUZZ_CASE_SECS`, default
/// 20 s (a debug build on a busy two-core machine; cases take milliseconds).
fn case_limit() -> Duration {
    Duration::from_secs(
        std::env::var("RDSPG_FUZZ_CASE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    )
}

/// The most resident memory the test process may have reached, in MiB:
/// `RDSPG_FUZZ_MAX_RSS_MIB`, default 1024.
fn rss_limit_mib() -> u64 {
    std::env::var("RDSPG_FUZZ_MAX_RSS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// The process's peak resident set size (`VmHWM`), in KiB.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What is running now, for the watchdog.
type Running<T> = Arc<Mutex<Option<(Instant, T)>>>;

/// Runs `body` on `cases()` values of `strategy`. A panic or a failed `prop_assert!` fails the
/// test with the shrunk input; a case running longer than the limit aborts the process after
/// printing its input; the peak memory must stay under the limit. Prints one line:
/// `fuzz NAME: N cases in S s, slowest case MS ms, peak RSS M MiB`.
pub(crate) fn fuzz<S>(
    name: &str,
    strategy: S,
    body: impl Fn(&S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Clone + Debug + Send + 'static,
{
    let cases = cases();
    let limit = case_limit();
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        max_global_rejects: cases.saturating_mul(4),
        ..Config::default()
    };
    let running: Running<S::Value> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (running, done, name) = (Arc::clone(&running), Arc::clone(&done), name.to_owned());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let guard = running.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((started, value)) = guard.as_ref()
                    && started.elapsed() > limit
                {
                    let mut input = format!("{value:?}");
                    input.truncate(input.floor_char_boundary(8192));
                    eprintln!(
                        "fuzz {name}: a case ran longer than {limit:?} (a hang); input: {input}"
                    );
                    std::process::abort();
                }
            }
        })
    };
    let slowest = Mutex::new((Duration::ZERO, String::new()));
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        *running.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), value.clone()));
        let case_started = Instant::now();
        let outcome = body(&value);
        let took = case_started.elapsed();
        *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
        let mut slowest = slowest.lock().unwrap_or_else(PoisonError::into_inner);
        if took > slowest.0 {
            let mut input = format!("{value:?}");
            let bytes = input.len();
            input.truncate(input.floor_char_boundary(120));
            *slowest = (took, format!("{input}… ({bytes} bytes)"));
        }
        outcome
    });
    done.store(true, Ordering::Relaxed);
    watchdog.join().expect("watchdog thread");
    let elapsed = started.elapsed();
    let peak = peak_rss_kib().unwrap_or(0) / 1024;
    let (slowest, slowest_input) = slowest.into_inner().unwrap_or_else(PoisonError::into_inner);
    println!(
        "fuzz {name}: {cases} cases in {:.1} s, slowest case {} ms, peak RSS {peak} MiB",
        elapsed.as_secs_f64(),
        slowest.as_millis()
    );
    if std::env::var_os("RDSPG_FUZZ_VERBOSE").is_some() {
        println!("fuzz {name}: slowest input {slowest_input}");
    }
    if let Err(failure) = result {
        panic!("fuzz {name}: {failure}");
    }
    assert!(
        peak <= rss_limit_mib(),
        "fuzz {name}: peak RSS {peak} MiB is over {} MiB",
        rss_limit_mib()
    );
}
