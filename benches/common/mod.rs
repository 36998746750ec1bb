//! Shared by the benches: short criterion settings and the ratio report printed after a run.
//!
//! Criterion writes each benchmark's estimates to `<criterion home>/<group>/<id>/new/estimates.json`.
//! After the run, [`print_ratios`] reads the median per-iteration time of both sides of each
//! [`Ratio`] from there and prints `numerator / denominator`; a side that this run did not measure
//! (filtered out on the command line, or left from an earlier run) is reported as not measured,
//! never as a stale number.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::Criterion;

/// Criterion with short settings, so that every bench binary finishes in about a minute on two
/// cores; command-line flags (`--sample-size`, `--measurement-time`, filters…) still override.
pub(crate) fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
        .configure_from_args()
}

/// One line of the ratio report: `numerator / denominator`, both `group/id` benchmark names.
pub(crate) struct Ratio {
    pub(crate) numerator: String,
    pub(crate) denominator: String,
    pub(crate) meaning: &'static str,
}

/// Shorthand constructor for a [`Ratio`].
pub(crate) fn ratio(
    numerator: impl Into<String>,
    denominator: impl Into<String>,
    meaning: &'static str,
) -> Ratio {
    Ratio {
        numerator: numerator.into(),
        denominator: denominator.into(),
        meaning,
    }
}

/// Where criterion keeps its results: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
/// the target directory this bench executable was built in (`<target>/release/deps/<bench>`).
fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// The median time per iteration, in nanoseconds, of benchmark `name` if this run measured it.
fn median_ns(name: &str, started: SystemTime) -> Option<f64> {
    let path = criterion_home()?
        .join(name)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("median")?.get("point_estimate")?.as_f64()
}

/// Human-readable duration from nanoseconds.
pub(crate) fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// A ratio with three significant digits or so: `0.026x`, `2.93x`, `41.7x`.
fn times(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.3}x")
    } else if ratio < 10.0 {
        format!("{ratio:.2}x")
    } else {
        format!("{ratio:.1}x")
    }
}

/// Prints each ratio of medians measured since `started` (see the module documentation).
pub(crate) fn print_ratios(title: &str, started: SystemTime, ratios: &[Ratio]) {
    let measured = |name: &str| median_ns(name, started).is_some();
    if !ratios
        .iter()
        .any(|r| measured(&r.numerator) && measured(&r.denominator))
    {
        // `cargo test --benches` runs each benchmark once without measuring it.
        println!("\n== {title}: no ratio measured in this run (test mode or filtered out) ==");
        return;
    }
    println!("\n== {title}: ratios of medians (numerator / denominator) ==");
    for r in ratios {
        match (
            median_ns(&r.numerator, started),
            median_ns(&r.denominator, started),
        ) {
            (Some(n), Some(d)) if d > 0.0 => println!(
                "{:>9}  {} ({}) / {} ({})\n           {}",
                times(n / d),
                r.numerator,
                human(n),
                r.denominator,
                human(d),
                r.meaning
            ),
            _ => println!(
                "      n/a  {} / {}: not measured in this run",
                r.numerator, r.denominator
            ),
        }
    }
}

/// Whether this is a measuring run (`cargo bench` passes `--bench`; `cargo test --benches` does
/// not, and then criterion only checks that each benchmark runs once).
pub(crate) fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// A peer comparison robust to a shared, busy machine: `rounds` rounds, each timing side `a`
/// and side `b` back to back (order alternating between rounds so that a drift in load cancels),
/// each closure returning the time of one call of its side (see [`per_call`]; untimed setup can
/// be left out). Prints the median of the per-round ratios `a / b`, their interquartile range and
/// the median time of each side.
pub(crate) fn print_paired(
    label: &str,
    rounds: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) {
    let mut ratios = Vec::with_capacity(rounds);
    let mut a_times = Vec::with_capacity(rounds);
    let mut b_times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a();
            (ta, b())
        } else {
            let tb = b();
            (a(), tb)
        };
        a_times.push(ta.as_secs_f64() * 1e9);
        b_times.push(tb.as_secs_f64() * 1e9);
        if !tb.is_zero() {
            ratios.push(ta.as_secs_f64() / tb.as_secs_f64());
        }
    }
    println!(
        "{:>9}  {label}  [IQR {}–{}; medians {} / {}; {} interleaved rounds]",
        times(quantile(&mut ratios, 0.5)),
        times(quantile(&mut ratios, 0.25)),
        times(quantile(&mut ratios, 0.75)),
        human(quantile(&mut a_times, 0.5)),
        human(quantile(&mut b_times, 0.5)),
        ratios.len(),
    );
}

/// The `q` quantile (nearest rank) of `values`, NaN when empty.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let last = values.len().saturating_sub(1);
    // Nearest rank; `last` is small, so the float round trip is exact.
    let index = (q * last as f64).round() as usize;
    values.get(index.min(last)).copied().unwrap_or(f64::NAN)
}

/// The mean time of one call of `f` over `calls` calls.
#[allow(
    dead_code,
    reason = "each bench compiles this module; apply_round_trips times its own runs"
)]
pub(crate) fn per_call<T>(calls: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = std::time::Instant::now();
    for _ in 0..calls {
        std::hint::black_box(f());
    }
    start.elapsed() / calls.max(1)
}
