//! Regression tests for the defects hostile-input fuzzing found (RELIABILITY.md, "Hostile
//! input"): each names what went wrong before.

use std::time::{Duration, Instant};

use integration_model::{AccessDuration, Settings};

/// A 1 MiB settings file of distinct keys took a minute to read: every key was compared with
/// every earlier key of its table. It now reads in linear time (and fails on the first unknown
/// key).
#[test]
fn a_megabyte_of_distinct_keys_reads_quickly() {
    let json = format!(
        "{{{}}}",
        (0..95_000)
            .map(|i| format!("\"k{i}\":0"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let toml: String = (0..95_000).map(|i| format!("k{i} = 0\n")).collect();
    for (format, result) in [
        ("JSON", timed(|| Settings::from_json_str(&json))),
        ("TOML", timed(|| Settings::from_toml_str(&toml))),
    ] {
        let (result, took) = result;
        let err = result.expect_err("unknown keys");
        assert!(
            err.to_string().starts_with("k0: unknown key"),
            "{format}: {err}"
        );
        assert!(took < Duration::from_secs(10), "{format}: {took:?}");
    }
    // A duplicate among them is still found.
    let duplicate = format!("{},\"k7\":1}}", json.trim_end_matches('}'));
    let err = Settings::from_json_str(&duplicate).expect_err("duplicate");
    assert!(
        integration_model::error_chain(&err).contains("duplicate key \"k7\""),
        "{err}"
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

/// A 1 MiB value was echoed whole in its error (one 1 MB line on stderr). Messages now quote a
/// long value by its first 96 and last 16 characters and its length.
#[test]
fn long_values_are_quoted_by_their_ends() {
    let huge = "a".repeat(1 << 20);
    let settings = format!("name = \"{huge}\"\nregion = \"us-east-1\"\nauth = \"iam\"\n");
    let err = Settings::from_toml_str(&settings).expect_err("name too long");
    let message = err.to_string();
    assert!(message.starts_with("name: \"aaaa"), "{message}");
    assert!(message.contains("(1048576 bytes)"), "{message}");
    assert!(message.len() < 400, "{} bytes", message.len());

    let unknown_key = format!("\"{huge}\" = 1\n");
    let message = Settings::from_toml_str(&unknown_key)
        .expect_err("unknown key")
        .to_string();
    assert!(message.contains("unknown key"), "{message}");
    assert!(message.len() < 1000, "{} bytes", message.len());

    let wrong_type = format!("name = [\"{huge}\"]\nregion = 1\n");
    let message = Settings::from_toml_str(&wrong_type)
        .expect_err("wrong type")
        .to_string();
    assert!(message.len() < 1000, "{} bytes", message.len());

    let duration = format!("1h{huge}");
    let message = duration
        .parse::<AccessDuration>()
        .expect_err("bad duration")
        .to_string();
    assert!(message.contains("where a number belongs"), "{message}");
    assert!(message.len() < 600, "{} bytes", message.len());

    // Short values are still quoted whole.
    let message = "9orders"
        .parse::<integration_model::InstanceId>()
        .expect_err("bad id")
        .to_string();
    assert!(message.contains("\"9orders\""), "{message}");
}

/// An access-flow pattern with a newline gave a two-line message: the value was printed bare.
#[test]
fn flow_pattern_errors_quote_the_pattern() {
    let err = "db/\n**"
        .parse::<integration_model::Pattern>()
        .expect_err("control character");
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains("\"db/\\n**\""), "{message}");
}

/// Found by the resource_path fuzz target (100,000 cases): a quoted segment followed by text
/// was echoed whole in the reason, after the bounded value (a 4 KB message for a 4 KB path).
#[test]
fn resource_path_segment_errors_are_bounded() {
    let segment = "a".repeat(100_000);
    for text in [format!("\"/{segment}\"x/b"), format!("db/{segment}\"x")] {
        let err = text
            .parse::<integration_model::ResourcePath>()
            .expect_err("bad quoting");
        let message = err.to_string();
        assert!(
            message.len() < 1000,
            "{} bytes: {message:.300}",
            message.len()
        );
        assert!(message.contains("bytes)"), "{message:.300}");
    }
}
