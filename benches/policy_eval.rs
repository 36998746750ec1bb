//! IAM policy evaluation: `iam_policy::evaluate` on the setup guide's end-user policy (a
//! `${SAML:sub}` variable and wildcards) and on a 50-statement policy, each against two references
//! measured in the same run: a floor (plain string equality of the request's action and resource
//! with every statement's, i.e. the least any evaluator must do) and parsing the same policy JSON
//! (what a caller pays once per policy).
//!
//! Then the wildcard matcher through a `StringLike` condition: two hostile patterns (the
//! `a*a*…*b` family that makes naive backtracking exponential, and `*aaa…ab`, the worst case of the
//! two-pointer algorithm) against a well-behaved pattern of the same length, on a value of `n`
//! characters for three sizes of `n`.
//!
//! Run: `cargo bench --bench policy_eval`.

mod common;

use std::hint::black_box;
use std::time::SystemTime;

use rds_pg_access::iam_policy::{Outcome, PolicyDocument, RequestContext, evaluate};

/// The end-user policy of the setup guide, verbatim (step 3 of "Prerequisites").
const GUIDE_END_USER_POLICY: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "rds-db:connect"
            ],
            "Resource": [
                "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"
            ]
        },
        {
            "Effect": "Allow",
            "Action": [
                "rds:DescribeDBInstances"
            ],
            "Resource": [
                "arn:aws:rds:*:*:db:*"
            ]
        }
    ]
}"#;

const ACCOUNT: &str = "123456789012";
const STATEMENTS: usize = 50;
/// Sizes of the value matched by the wildcard patterns.
const GLOB_SIZES: [usize; 3] = [64, 512, 4096];

fn db_user_arn(resource_id: &str, user: &str) -> String {
    format!("arn:aws:rds-db:eu-west-1:{ACCOUNT}:dbuser:{resource_id}/{user}")
}

/// 50 statements, each allowing `rds-db:connect` as one user of one instance (literal ARNs, so that
/// the string-equality floor computes the same answer).
fn fifty_statement_policy() -> (String, Vec<(String, String)>) {
    let pairs: Vec<(String, String)> = (0..STATEMENTS)
        .map(|i| {
            (
                "rds-db:connect".to_owned(),
                db_user_arn(&format!("db-BENCHRESOURCE{i:04}"), &format!("user{i}")),
            )
        })
        .collect();
    let statements: Vec<serde_json::Value> = pairs
        .iter()
        .enumerate()
        .map(|(i, (action, resource))| {
            serde_json::json!({
                "Sid": format!("Connect{i}"),
                "Effect": "Allow",
                "Action": action,
                "Resource": resource,
            })
        })
        .collect();
    let json = serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    (json, pairs)
}

/// The floor: is `(action, resource)` one of `pairs`, by plain string equality?
fn floor(pairs: &[(String, String)], action: &str, resource: &str) -> bool {
    pairs.iter().any(|(a, r)| a == action && r == resource)
}

/// A policy allowing everything whose `aws:username` is `StringLike` `pattern`.
fn string_like_policy(pattern: &str) -> PolicyDocument {
    let json = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": "*",
            "Condition": { "StringLike": { "aws:username": pattern } }
        }]
    })
    .to_string();
    PolicyDocument::from_json(&json).expect("the glob policy parses")
}

fn parse(json: &str) -> PolicyDocument {
    PolicyDocument::from_json(json).expect("the policy parses")
}

fn outcome(policy: &PolicyDocument, request: &RequestContext) -> Outcome {
    evaluate(std::slice::from_ref(policy), request)
        .expect("the policy evaluates")
        .outcome
}

fn main() {
    let started = SystemTime::now();
    let mut c = common::criterion();

    // --- The setup guide's end-user policy: alice connecting as alice. ---
    let guide = parse(GUIDE_END_USER_POLICY);
    let alice_arn = db_user_arn("db-ABCDEFGHIJKL01234567890ABC", "alice");
    let alice =
        RequestContext::new("rds-db:connect", alice_arn.as_str()).with_value("SAML:sub", "alice");
    assert_eq!(outcome(&guide, &alice), Outcome::Allow);
    // The floor sees the statements with the variable already substituted, as literal strings.
    let guide_pairs = vec![
        ("rds-db:connect".to_owned(), alice_arn.clone()),
        (
            "rds:DescribeDBInstances".to_owned(),
            format!("arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders-db"),
        ),
    ];
    assert!(floor(&guide_pairs, "rds-db:connect", &alice_arn));

    let mut group = c.benchmark_group("policy_guide");
    group.bench_function("evaluate", |b| {
        b.iter(|| evaluate(black_box(std::slice::from_ref(&guide)), black_box(&alice)))
    });
    group.bench_function("floor_string_eq", |b| {
        b.iter(|| {
            floor(
                black_box(&guide_pairs),
                black_box("rds-db:connect"),
                black_box(&alice_arn),
            )
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| parse(black_box(GUIDE_END_USER_POLICY)))
    });
    group.finish();

    // --- 50 statements; the request matches only the last one, so every side scans them all. ---
    let (fifty_json, fifty_pairs) = fifty_statement_policy();
    let fifty = parse(&fifty_json);
    let (last_action, last_resource) = fifty_pairs.last().expect("50 statements").clone();
    let last = RequestContext::new(last_action.as_str(), last_resource.as_str());
    let decision = evaluate(std::slice::from_ref(&fifty), &last).expect("evaluates");
    assert_eq!(decision.outcome, Outcome::Allow);
    assert_eq!(decision.deciding.len(), 1, "only the last statement allows");
    assert!(floor(&fifty_pairs, &last_action, &last_resource));

    let mut group = c.benchmark_group("policy_50_statements");
    group.bench_function("evaluate", |b| {
        b.iter(|| evaluate(black_box(std::slice::from_ref(&fifty)), black_box(&last)))
    });
    group.bench_function("floor_string_eq", |b| {
        b.iter(|| {
            floor(
                black_box(&fifty_pairs),
                black_box(&last_action),
                black_box(&last_resource),
            )
        })
    });
    group.bench_function("parse", |b| b.iter(|| parse(black_box(&fifty_json))));
    group.finish();

    // --- Wildcards: hostile vs well-behaved patterns of the same length m = n/2. ---
    let mut group = c.benchmark_group("glob");
    for n in GLOB_SIZES {
        let m = n / 2;
        let value = "a".repeat(n);
        // Matches: m-1 literals, then `*` takes the rest.
        let well = format!("{}*", "a".repeat(m - 1));
        // `a*a*…a*b`: exponential for a backtracking matcher; no match.
        let alternating = format!("{}b", "a*".repeat((m - 1) / 2));
        let alternating = format!("{alternating}{}", "a".repeat(m - alternating.len()));
        // `*aaa…ab`: the two-pointer matcher retries the run after every text position; no match.
        let star_run = format!("*{}b", "a".repeat(m - 2));
        for (name, pattern, expected) in [
            ("well", &well, Outcome::Allow),
            ("alternating", &alternating, Outcome::ImplicitDeny),
            ("star_run", &star_run, Outcome::ImplicitDeny),
        ] {
            assert_eq!(
                pattern.chars().count(),
                m,
                "{name}: same length for every pattern"
            );
            let policy = string_like_policy(pattern);
            let request = RequestContext::new(
                "rds-db:connect",
                db_user_arn("db-ABCDEFGHIJKL01234567890ABC", "alice"),
            )
            .with_value("aws:username", value.as_str());
            assert_eq!(outcome(&policy, &request), expected, "{name} n={n}");
            group.bench_function(format!("{name}_n{n}"), |b| {
                b.iter(|| {
                    evaluate(
                        black_box(std::slice::from_ref(&policy)),
                        black_box(&request),
                    )
                })
            });
        }
    }
    group.finish();
    c.final_summary();

    if common::measuring() {
        println!("\n== policy_eval: interleaved pairs (median of per-round ratios) ==");
        let guide_eval =
            || common::per_call(1000, || evaluate(std::slice::from_ref(&guide), &alice));
        let guide_parse = || common::per_call(1000, || parse(GUIDE_END_USER_POLICY));
        let guide_floor = || {
            common::per_call(100_000, || {
                floor(
                    black_box(&guide_pairs),
                    black_box("rds-db:connect"),
                    black_box(&alice_arn),
                )
            })
        };
        let fifty_eval = || common::per_call(40, || evaluate(std::slice::from_ref(&fifty), &last));
        let fifty_parse = || common::per_call(40, || parse(&fifty_json));
        let fifty_floor = || {
            common::per_call(10_000, || {
                floor(
                    black_box(&fifty_pairs),
                    black_box(&last_action),
                    black_box(&last_resource),
                )
            })
        };
        common::print_paired(
            "policy_guide: evaluate / floor_string_eq",
            31,
            guide_eval,
            guide_floor,
        );
        common::print_paired(
            "policy_guide: evaluate / parse",
            31,
            guide_eval,
            guide_parse,
        );
        common::print_paired(
            "policy_50_statements: evaluate / floor_string_eq",
            31,
            fifty_eval,
            fifty_floor,
        );
        common::print_paired(
            "policy_50_statements: evaluate / parse",
            31,
            fifty_eval,
            fifty_parse,
        );
    }

    common::print_ratios(
        "policy_eval",
        started,
        &[
            common::ratio(
                "policy_guide/evaluate",
                "policy_guide/floor_string_eq",
                "guide policy: full IAM semantics (variables, wildcards, ARN segments) vs string equality",
            ),
            common::ratio(
                "policy_guide/evaluate",
                "policy_guide/parse",
                "guide policy: one evaluation vs parsing the document once",
            ),
            common::ratio(
                "policy_50_statements/evaluate",
                "policy_50_statements/floor_string_eq",
                "50 statements: evaluation vs string equality over the same 50 (action, resource) pairs",
            ),
            common::ratio(
                "policy_50_statements/evaluate",
                "policy_50_statements/parse",
                "50 statements: one evaluation vs parsing the document once",
            ),
            common::ratio(
                "policy_50_statements/evaluate",
                "policy_guide/evaluate",
                "50 statements vs the guide's 2: growth with statement count",
            ),
            common::ratio(
                "glob/alternating_n64",
                "glob/well_n64",
                "n=64: `a*a*…b` (no match) vs a well-behaved pattern of the same length",
            ),
            common::ratio("glob/alternating_n512", "glob/well_n512", "n=512: same"),
            common::ratio(
                "glob/alternating_n4096",
                "glob/well_n4096",
                "n=4096: same (a constant ratio means linear time)",
            ),
            common::ratio(
                "glob/star_run_n64",
                "glob/well_n64",
                "n=64: `*aaa…ab` (no match), the two-pointer worst case, vs well-behaved",
            ),
            common::ratio("glob/star_run_n512", "glob/well_n512", "n=512: same"),
            common::ratio(
                "glob/star_run_n4096",
                "glob/well_n4096",
                "n=4096: same (grows with n: O(pattern × value), bounded, not exponential)",
            ),
            common::ratio(
                "glob/alternating_n4096",
                "glob/alternating_n512",
                "`a*a*…b`: value 8x longer (8 would be linear)",
            ),
            common::ratio(
                "glob/star_run_n4096",
                "glob/star_run_n512",
                "`*aaa…ab`: value 8x longer (64 would be quadratic)",
            ),
        ],
    );
}
