//! Hostile-input fuzzing (issue 15, RELIABILITY.md): the settings loader, the IAM policy parser,
//! linter and evaluator, ARNs, resource paths and access-flow patterns, durations and intervals,
//! and the Secrets Manager secret parser get generated hostile input (deep nesting, numbers past
//! every integer type, NUL and control characters, bidi and astral characters, very long text,
//! wildcards and policy variables, unknown and duplicate keys, damaged valid documents). Every
//! target checks: no panic, no case longer than the hang limit, bounded peak memory, and its own
//! properties (what parses prints back to itself; errors are typed, one line, bounded, and never
//! hold a secret).
//!
//! cargo-fuzz needs a nightly toolchain and libFuzzer's runtime from crates.io plus a `fuzz/`
//! workspace of its own; the issue allows proptest instead, which runs on the stable toolchain
//! inside `cargo test` (a short run: 300 cases per target) and as the dedicated long run
//! `scripts/fuzz` (`RDSPG_FUZZ_CASES=100000` per target, each under `/usr/bin/time -v`).
//!
//! Environment: `RDSPG_FUZZ_CASES` (cases per target, default 300), `RDSPG_FUZZ_CASE_SECS`
//! (hang limit per case, default 20), `RDSPG_FUZZ_MAX_RSS_MIB` (peak memory limit, default
//! 1024), `PROPTEST_RNG_SEED` (a fixed seed, to repeat a run).

mod hostile;
mod support;

use std::error::Error as _;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use rds_pg_access::iam_policy::eval::{RequestContext, evaluate};
use rds_pg_access::iam_policy::{
    Arn, DbUserArn, PolicyDocument, RdsResourceArn, ResourceId, lint, lint_json,
};
use rds_pg_access::integration_model::{
    AccessDuration, CleanupPeriod, InstanceId, Interval, Pattern, ResourcePath, ResourceRef,
    RotationPeriod, Settings, error_chain,
};
use rds_pg_access::pg_auth::{AuthError, ExposeSecret, RdsSecret};

use hostile::{Val, damage, damaged, document, json, long_text, text, toml};
use support::fuzz;

/// Every message: one line, bounded (a long value is quoted by its ends).
fn check_message(target: &str, message: &str, limit: usize) -> Result<(), TestCaseError> {
    prop_assert!(!message.contains('\n'), "{target}: two lines: {message:?}");
    prop_assert!(
        message.len() <= limit,
        "{target}: a {}-byte message: {:?}",
        message.len(),
        &message[..message.floor_char_boundary(300)]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Settings (the config loader).

const SETTINGS_KEYS: &[&str] = &[
    "name",
    "region",
    "auth",
    "connector_user",
    "holder_role",
    "database",
    "lock_database",
    "ssl_mode",
    "ssl_root_cert",
    "allow_unverified_password",
    "connector_rotation_days",
    "credentials_rotation_days",
    "user_cleanup_days",
    "resource_types",
    "endpoint_overrides",
    "instance",
    "secret",
    "endpoint",
    "aws",
    "access_flow",
    "integration",
    "id",
    "tags",
    "tag_keys",
    "env",
    "host",
    "port",
    "endpoint_url",
    "profile",
    "requesters",
    "resources",
    "levels",
    "max_duration",
    "approval",
    "iam",
    "password",
    "require",
    "verify-full",
    "disable",
    "database",
    "schema",
    "table",
    "read-only",
    "read-write",
    "admin",
    "orders-prod",
    "us-east-1",
    "orders-db",
    "ORDERS_PW",
    "8h",
    "**",
    "*@corp.io",
];

/// Valid settings files, to damage.
const SETTINGS_SAMPLES: &[&str] = &[
    "name = \"orders-prod\"\nregion = \"us-east-1\"\nauth = \"iam\"\n[instance]\nid = \"orders-db\"\n",
    "name = \"orders\"\nregion = \"eu-west-3\"\nauth = \"password\"\nconnector_user = \"apono_connector\"\n\
     holder_role = \"rdspg_holder\"\ndatabase = \"appdb\"\nlock_database = \"postgres\"\n\
     ssl_mode = \"verify-full\"\nssl_root_cert = \"/etc/ssl/rds.pem\"\nconnector_rotation_days = 90\n\
     credentials_rotation_days = 30\nuser_cleanup_days = 7\nresource_types = [\"database\", \"schema\", \"table\"]\n\
     [instance]\nid = \"orders-db\"\n[secret]\nid = \"arn:aws:secretsmanager:eu-west-3:123456789012:secret:rds/orders-AbCdEf\"\n\
     [endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n[aws]\nendpoint_url = \"http://127.0.0.1:5055\"\nprofile = \"ops\"\n",
    "name = \"fleet\"\nregion = \"cn-north-1\"\nauth = \"iam\"\nendpoint_overrides = { db1 = \"[::1]:5432\" }\n\
     [instance]\ntags = { team = \"orders\", env = \"prod\" }\ntag_keys = [\"backup\"]\n",
    "[[integration]]\nname = \"a\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"a-db\" }\n\
     [[integration]]\nname = \"b\"\nregion = \"us-gov-west-1\"\nauth = \"password\"\nsecret = { env = \"B_PW\" }\n\
     endpoint = { host = \"db.example.com\", port = 6432 }\n",
    "name = \"flows\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"orders-db\" }\n\
     [[access_flow]]\nname = \"analysts\"\nrequesters = [\"*@corp.io\"]\nresources = [\"orders-db/appdb/sales/**\"]\n\
     levels = [\"read-only\"]\nmax_duration = \"8h\"\napproval = true\n",
];

/// What a settings text gives: parsed settings print back to the same settings (JSON, the
/// serializer's form); an error is typed, names a key (or a syntax position) and is one bounded
/// line.
fn check_settings(text: &str, json_format: bool) -> Result<(), TestCaseError> {
    let parsed = if json_format {
        Settings::from_json_str(text)
    } else {
        Settings::from_toml_str(text)
    };
    match parsed {
        Ok(settings) => {
            let written = serde_json::to_string(&settings).expect("settings serialize");
            let again = Settings::from_json_str(&written)
                .map_err(|e| TestCaseError::fail(format!("{written}: {}", error_chain(&e))))?;
            prop_assert_eq!(again, settings);
        }
        Err(err) => {
            // The parser's own message (the source) may quote a line of the file; the error
            // itself is bounded whatever the input.
            check_message("settings", &err.to_string(), 4096)?;
            let _ = error_chain(&err);
            let _ = err.source();
        }
    }
    Ok(())
}

#[test]
fn fuzz_settings_toml() {
    let strategy = prop_oneof![
        3 => document(SETTINGS_KEYS).prop_map(|d| toml(&d)),
        3 => (select(SETTINGS_SAMPLES), prop::collection::vec(damage(), 1..4))
            .prop_map(|(s, d)| damaged(s, &d)),
        1 => text(),
    ];
    fuzz("settings_toml", strategy, |text| {
        check_settings(text, false)
    });
}

#[test]
fn fuzz_settings_json() {
    let samples: Vec<String> = SETTINGS_SAMPLES
        .iter()
        .map(|s| {
            let settings = Settings::from_toml_str(s).expect("sample settings");
            serde_json::to_string(&settings).expect("serialize")
        })
        .collect();
    let strategy = prop_oneof![
        3 => document(SETTINGS_KEYS).prop_map(|d| json(&d)),
        3 => (select(samples), prop::collection::vec(damage(), 1..4))
            .prop_map(|(s, d)| damaged(&s, &d)),
        1 => text(),
    ];
    fuzz("settings_json", strategy, |text| check_settings(text, true));
}

// ---------------------------------------------------------------------------------------------
// IAM policies: parser, linter, evaluator.

const POLICY_KEYS: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Allow",
    "Deny",
    "2012-10-17",
    "2008-10-17",
    "*",
    "rds-db:connect",
    "rds:DescribeDBInstances",
    "rds-db:*",
    "rds*:*",
    "AWS",
    "StringEquals",
    "StringLike",
    "StringNotLike",
    "StringEqualsIgnoreCase",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "StringLikeIfExists",
    "NumericLessThan",
    "NumericEquals",
    "DateGreaterThan",
    "DateLessThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnLike",
    "ArnNotEquals",
    "Null",
    "aws:SourceIp",
    "aws:username",
    "saml:sub",
    "SAML:sub",
    "saml:sub_type",
    "aws:CurrentTime",
    "aws:SecureTransport",
    "aws:TagKeys",
    "aws:PrincipalTag/team",
    "persistent",
    "203.0.113.0/24",
    "::/0",
    "0.0.0.0/0",
    "1.2.3.4/33",
    "2026-01-31T12:00:00Z",
    "1700000000",
    "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}",
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/alice",
    "arn:aws:rds:*:*:db:*",
    "arn:aws:rds-db:us-east-1:*",
    "arn:*",
];

const POLICY_SAMPLES: &[&str] = &[
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowConnect","Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}","Condition":{"StringEquals":{"saml:sub_type":"persistent"}}},{"Effect":"Allow","Action":["rds:DescribeDBInstances"],"Resource":["arn:aws:rds:*:*:db:*"]}]}"#,
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"rds-db:*","NotResource":"arn:aws:rds-db:us-east-1:*","Condition":{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"},"Bool":{"aws:SecureTransport":true},"ForAnyValue:StringLike":{"aws:TagKeys":["team*","env?"]},"ArnLike":{"aws:SourceArn":"arn:aws:*:*:*:*"},"Null":{"aws:username":"false"}}}}"#,
    r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
];

/// A request with hostile strings, sometimes over the evaluator's limits.
fn request() -> impl Strategy<Value = (String, String, Vec<(String, String)>)> {
    let value = prop_oneof![4 => text(), 1 => select(POLICY_KEYS).prop_map(str::to_owned)];
    (
        prop_oneof![3 => select(POLICY_KEYS).prop_map(str::to_owned), 1 => text()],
        prop_oneof![3 => select(POLICY_KEYS).prop_map(str::to_owned), 2 => text()],
        prop::collection::vec((select(POLICY_KEYS).prop_map(str::to_owned), value), 0..6),
    )
}

fn request_context(action: &str, resource: &str, vars: &[(String, String)]) -> RequestContext {
    let mut request = RequestContext::new(action, resource);
    for (key, value) in vars {
        request.insert(key, value.clone());
    }
    request
}

/// A parsed policy prints back to itself, lints, and evaluates (or fails with a typed error)
/// the same way twice; an error message is one line.
fn check_policy(
    text: &str,
    action: &str,
    resource: &str,
    vars: &[(String, String)],
) -> Result<(), TestCaseError> {
    match PolicyDocument::from_json(text) {
        Ok(policy) => {
            let again = PolicyDocument::from_json(&policy.to_json())
                .map_err(|e| TestCaseError::fail(format!("round trip: {}", error_chain(&e))))?;
            prop_assert_eq!(&again, &policy);
            let findings = lint(&policy);
            for finding in &findings {
                let _ = finding.to_string();
            }
            prop_assert_eq!(lint_json(text).map(|f| f.len()).ok(), Some(findings.len()));
            let request = request_context(action, resource, vars);
            let first = evaluate(std::slice::from_ref(&policy), &request);
            let second = evaluate(std::slice::from_ref(&policy), &request);
            prop_assert_eq!(&first, &second);
            match first {
                Ok(decision) => {
                    let _ = decision.to_string();
                }
                Err(err) => check_message("policy eval", &err.to_string(), 4096)?,
            }
        }
        Err(err) => {
            let _ = error_chain(&err);
            prop_assert!(lint_json(text).is_err());
        }
    }
    Ok(())
}

#[test]
fn fuzz_policy_parse_and_lint() {
    let strategy = (
        prop_oneof![
            3 => document(POLICY_KEYS).prop_map(|d| json(&d)),
            3 => (select(POLICY_SAMPLES), prop::collection::vec(damage(), 1..4))
                .prop_map(|(s, d)| damaged(s, &d)),
            1 => text(),
        ],
        request(),
    );
    fuzz(
        "policy_parse",
        strategy,
        |(text, (action, resource, vars))| check_policy(text, action, resource, vars),
    );
}

/// A wildcard pattern: stars, question marks and letters, sometimes long.
fn pattern_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[ab*?]{0,40}",
        2 => "(a\\*){1,60}b",
        1 => (1usize..2000).prop_map(|n| format!("*{}b", "a".repeat(n))),
        1 => (1usize..400).prop_map(|n| "*a".repeat(n)),
        1 => "[ab]{0,8}\\$\\{[a-z:]{1,8}\\}[ab*]{0,8}",
        1 => long_text(),
    ]
    .boxed()
}

/// A statement made of wildcard patterns, evaluated against long strings of the same letters:
/// the matcher stays polynomial (the hang limit catches anything else), and a policy that
/// allows `*` and denies nothing allows every request it can evaluate.
#[test]
fn fuzz_policy_eval_wildcards() {
    let strategy = (
        prop::collection::vec(pattern_text(), 1..4),
        prop::collection::vec(pattern_text(), 1..4),
        prop::collection::vec(pattern_text(), 0..3),
        "[ab]{0,64}|a{1,2048}|a{2040,2060}",
        "[ab]{0,64}|a{1,2048}",
        prop_oneof![Just(String::new()), "[ab*]{0,16}", long_text()],
        any::<bool>(),
    );
    fuzz(
        "policy_eval",
        strategy,
        |(actions, resources, likes, action_text, resource_text, var, versioned)| {
            let mut statement = rds_pg_access::iam_policy::Statement::allow();
            for a in actions {
                statement = statement.with_action(format!("svc:{a}"));
            }
            for r in resources {
                statement = statement.with_resource(format!("arn:aws:svc:::{r}"));
            }
            for l in likes {
                statement = statement.with_condition("StringLike", "k:v", l.as_str());
            }
            let mut policy = PolicyDocument::new(vec![statement]);
            if *versioned {
                policy = policy
                    .with_version(Some(rds_pg_access::iam_policy::PolicyVersion::V2012_10_17));
            }
            let request = RequestContext::new(
                format!("svc:{action_text}"),
                format!("arn:aws:svc:::{resource_text}"),
            )
            .with_value("k:v", action_text.as_str())
            .with_value("a", var.as_str());
            let decision = evaluate(std::slice::from_ref(&policy), &request);
            if let Err(err) = &decision {
                check_message("policy eval", &err.to_string(), 4096)?;
            }
            let everything = PolicyDocument::new(vec![
                rds_pg_access::iam_policy::Statement::allow()
                    .with_action("*")
                    .with_resource("*"),
            ]);
            if let Ok(decision) = evaluate(&[everything], &request) {
                prop_assert!(decision.is_allowed());
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// ARNs.

fn arn_text() -> BoxedStrategy<String> {
    let segment = prop_oneof![
        3 => select(vec![
            "aws", "aws-cn", "aws-us-gov", "aws-iso", "rds", "rds-db", "secretsmanager", "us-east-1",
            "cn-north-1", "", "*", "123456789012", "12345678901", "db:orders", "cluster:orders",
            "dbuser:db-ABCDEFGHIJKL/alice", "dbuser:db-ABC/", "dbuser:/alice", "db-ABCDEFGHIJKLMNOPQRSTUVWXY1",
            "prx-0123456789abcdef0", "cluster-ABC", "secret:rds/x-AbCdEf",
        ])
        .prop_map(str::to_owned),
        2 => text(),
    ];
    prop_oneof![
        3 => prop::collection::vec(segment, 0..8).prop_map(|parts| {
            let mut all = vec!["arn".to_owned()];
            all.extend(parts);
            all.join(":")
        }),
        1 => text(),
    ]
    .boxed()
}

#[test]
fn fuzz_arns() {
    fuzz("arn", arn_text(), |text| {
        if let Ok(arn) = text.parse::<Arn>() {
            prop_assert_eq!(arn.to_string().parse::<Arn>().ok(), Some(arn.clone()));
        }
        match text.parse::<DbUserArn>() {
            Ok(arn) => prop_assert_eq!(arn.to_string().parse::<DbUserArn>().ok(), Some(arn)),
            Err(err) => {
                let _ = error_chain(&err);
            }
        }
        if let Ok(arn) = text.parse::<RdsResourceArn>() {
            prop_assert_eq!(arn.to_string().parse::<RdsResourceArn>().ok(), Some(arn));
        }
        let id = text.rsplit(':').next().unwrap_or_default();
        if let Ok(parsed) = id.parse::<ResourceId>() {
            prop_assert_eq!(parsed.to_string(), id);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Resource paths and access-flow patterns.

fn path_text() -> BoxedStrategy<String> {
    let segment = prop_oneof![
        3 => select(vec![
            "orders-db", "appdb", "sales", "orders", "\"a/b\"", "\"\"", "\"x\"\"y\"", "\"", "*", "**",
            "9db", "a--b", "pg_catalog", "public",
        ])
        .prop_map(str::to_owned),
        2 => text(),
    ];
    prop_oneof![
        4 => prop::collection::vec(segment, 0..6).prop_map(|s| s.join("/")),
        1 => text(),
    ]
    .boxed()
}

#[test]
fn fuzz_resource_paths_and_flow_patterns() {
    let orders: InstanceId = "orders-db".parse().expect("instance id");
    let strategy = (path_text(), path_text());
    fuzz("resource_path", strategy, |(text, other)| {
        for parsed in [
            text.parse::<ResourcePath>(),
            ResourcePath::parse_in(text, Some(&orders)),
        ] {
            match parsed {
                Ok(path) => {
                    let again = path.to_string().parse::<ResourcePath>();
                    prop_assert_eq!(again.ok(), Some(path));
                }
                Err(err) => check_message("resource path", &err.to_string(), 4096)?,
            }
        }
        if let Ok(resource) = text.parse::<ResourceRef>() {
            prop_assert_eq!(
                resource.to_string().parse::<ResourceRef>().ok(),
                Some(resource)
            );
        }
        match text.parse::<Pattern>() {
            Ok(pattern) => {
                let _ = pattern.matches(other);
                prop_assert!(pattern.matches(text) || text.contains('*'));
            }
            Err(err) => check_message("flow pattern", &err.to_string(), 4096)?,
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Durations and intervals.

fn duration_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::collection::vec(("[0-9]{0,25}", select(vec!["d", "h", "m", "s", "", "x", "D", " ", "ms", "µs"])), 0..6)
            .prop_map(|parts| parts.into_iter().map(|(n, u)| format!("{n}{u}")).collect()),
        1 => text(),
        1 => "[0-9]{1,4}",
    ]
    .boxed()
}

#[test]
fn fuzz_durations() {
    fuzz("duration", duration_text(), |text| {
        match text.parse::<AccessDuration>() {
            Ok(d) => {
                prop_assert!((AccessDuration::MIN..=AccessDuration::MAX).contains(&d));
                prop_assert_eq!(d.to_string().parse::<AccessDuration>().ok(), Some(d));
            }
            Err(err) => check_message("duration", &err.to_string(), 4096)?,
        }
        match text.parse::<Interval>() {
            Ok(i) => {
                prop_assert!(i.as_secs() >= 1);
                prop_assert_eq!(i.to_string().parse::<Interval>().ok(), Some(i));
            }
            Err(err) => check_message("interval", &err.to_string(), 4096)?,
        }
        if let Ok(p) = text.parse::<RotationPeriod>() {
            prop_assert!((1..=365).contains(&p.days()));
            prop_assert_eq!(p.to_string().parse::<RotationPeriod>().ok(), Some(p));
        }
        if let Ok(p) = text.parse::<CleanupPeriod>() {
            prop_assert!(p.days() <= 3650);
            prop_assert_eq!(p.to_string().parse::<CleanupPeriod>().ok(), Some(p));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager secret strings.

const SECRET_KEYS: &[&str] = &[
    "username",
    "password",
    "host",
    "port",
    "dbname",
    "engine",
    "dbInstanceIdentifier",
    "postgres",
    "apono_connector",
    "5432",
    "0",
    "65536",
];

/// A password that shows up in any message that leaks it.
const PASSWORD: &str = "Tr0ub4dor&3-leak-marker";

#[test]
fn fuzz_secret_json() {
    let with_password = document(SECRET_KEYS).prop_map(|doc| {
        let Val::Table(mut entries) = doc else {
            return doc;
        };
        entries.push(("password".to_owned(), Val::Str(PASSWORD.to_owned())));
        Val::Table(entries)
    });
    let strategy = (
        prop_oneof![
            3 => with_password.prop_map(|d| json(&d)),
            2 => document(SECRET_KEYS).prop_map(|d| json(&d)),
            1 => (Just(format!(r#"{{"username":"c","password":"{PASSWORD}","port":5432}}"#)),
                prop::collection::vec(damage(), 1..4))
                .prop_map(|(s, d)| damaged(&s, &d)),
            1 => text(),
        ],
        prop::option::of(select(vec!["apono_connector", "", "a\0b"])),
    );
    fuzz("secret_json", strategy, |(text, fallback)| {
        match RdsSecret::parse("rds/orders", text, *fallback) {
            Ok(secret) => {
                let password = secret.password.expose_secret();
                prop_assert!(!password.is_empty() && !password.contains('\0'));
                prop_assert!(!secret.username.is_empty() && !secret.username.contains('\0'));
                prop_assert!(secret.port != Some(0));
                if password == PASSWORD {
                    let debug = format!("{secret:?}");
                    prop_assert!(
                        !debug.contains(PASSWORD),
                        "Debug shows the password: {debug}"
                    );
                }
            }
            Err(err) => {
                prop_assert!(matches!(err, AuthError::SecretFormat { .. }), "{err}");
                let message = error_chain(&err);
                prop_assert!(!message.contains(PASSWORD), "leaks the password: {message}");
                prop_assert!(!message.contains("leak-marker"), "{message}");
                check_message("secret", &message, 1024)?;
            }
        }
        Ok(())
    });
}
