//! Table-driven evaluation tests: `tests/data/eval/cases.json`, each case naming the AWS
//! documentation (or setup-guide section) it encodes.

use std::collections::BTreeSet;

use iam_policy::PolicyDocument;
use iam_policy::eval::{Decision, EvalError, Outcome, RequestContext, evaluate};
use serde_json::Value;

const CASES: &str = include_str!("data/eval/cases.json");

fn field<'a>(value: &'a Value, name: &str, at: &str) -> &'a Value {
    value
        .get(name)
        .unwrap_or_else(|| panic!("{at}: missing field {name:?}"))
}

fn text<'a>(value: &'a Value, name: &str, at: &str) -> &'a str {
    field(value, name, at)
        .as_str()
        .unwrap_or_else(|| panic!("{at}: field {name:?} is not a string"))
}

fn request(value: &Value, at: &str) -> RequestContext {
    let mut request = RequestContext::new(text(value, "action", at), text(value, "resource", at));
    if let Some(context) = value.get("context") {
        let context = context.as_object().expect("context is an object");
        for (key, values) in context {
            request = match values {
                Value::String(one) => request.with_value(key, one.as_str()),
                Value::Array(many) => request.with_values(
                    key,
                    many.iter()
                        .map(|v| v.as_str().expect("context values are strings")),
                ),
                other => panic!("{at}: context value {other} is neither a string nor an array"),
            };
        }
    }
    request
}

fn outcome(name: &str) -> Outcome {
    match name {
        "Allow" => Outcome::Allow,
        "ExplicitDeny" => Outcome::ExplicitDeny,
        "ImplicitDeny" => Outcome::ImplicitDeny,
        other => panic!("unknown outcome {other:?} in cases.json"),
    }
}

fn error_kind(error: &EvalError) -> &'static str {
    match error {
        EvalError::UnknownConditionOperator { .. } => "UnknownConditionOperator",
        EvalError::InvalidConditionValue { .. } => "InvalidConditionValue",
        EvalError::InvalidRequestValue { .. } => "InvalidRequestValue",
        EvalError::MissingAction { .. } => "MissingAction",
        EvalError::MissingResource { .. } => "MissingResource",
        EvalError::PrincipalInIdentityPolicy { .. } => "PrincipalInIdentityPolicy",
        _ => "other",
    }
}

fn pairs(value: Option<&Value>) -> Vec<Vec<Value>> {
    value
        .map(|list| {
            list.as_array()
                .expect("a list")
                .iter()
                .map(|item| item.as_array().expect("a tuple").clone())
                .collect()
        })
        .unwrap_or_default()
}

fn check_decision(decision: &Decision, expect: &Value, policies: &[PolicyDocument], at: &str) {
    assert_eq!(
        decision.outcome,
        outcome(text(expect, "outcome", at)),
        "{at}: outcome ({decision})"
    );
    let deciding: Vec<(usize, usize)> = decision
        .deciding
        .iter()
        .map(|s| (s.policy, s.statement))
        .collect();
    let expected: Vec<(usize, usize)> = pairs(expect.get("deciding"))
        .iter()
        .map(|pair| {
            let n = |i: usize| pair.get(i).and_then(Value::as_u64).expect("index") as usize;
            (n(0), n(1))
        })
        .collect();
    assert_eq!(deciding, expected, "{at}: deciding statements ({decision})");
    // The Sid reported is the statement's own.
    for statement in &decision.deciding {
        let sid = policies[statement.policy]
            .statements()
            .nth(statement.statement)
            .and_then(|s| s.sid.clone());
        assert_eq!(statement.sid, sid, "{at}: Sid of {statement}");
    }
    if let Some(expected) = expect.get("unresolved") {
        let got: BTreeSet<(usize, usize, String)> = decision
            .unresolved
            .iter()
            .map(|u| {
                (
                    u.statement.policy,
                    u.statement.statement,
                    u.variable.clone(),
                )
            })
            .collect();
        let expected: BTreeSet<(usize, usize, String)> = pairs(Some(expected))
            .iter()
            .map(|t| {
                (
                    t[0].as_u64().expect("policy") as usize,
                    t[1].as_u64().expect("statement") as usize,
                    t[2].as_str().expect("variable").to_owned(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{at}: unresolved variables");
    }
    if let Some(display) = expect.get("display") {
        assert_eq!(
            decision.to_string(),
            display.as_str().expect("display"),
            "{at}"
        );
    }
}

#[test]
fn aws_documented_cases() {
    let file: Value = serde_json::from_str(CASES).expect("cases.json is JSON");
    let cases = field(&file, "cases", "file").as_array().expect("cases");
    assert!(cases.len() >= 60, "the table lost cases: {}", cases.len());
    let mut checks = 0;
    for case in cases {
        let name = text(case, "name", "case");
        let source = text(case, "source", name);
        assert!(!source.is_empty(), "{name}: every case names its source");
        let policies: Vec<PolicyDocument> = field(case, "policies", name)
            .as_array()
            .expect("policies")
            .iter()
            .map(|policy| {
                PolicyDocument::from_value(policy)
                    .unwrap_or_else(|e| panic!("{name}: policy does not parse: {e}"))
            })
            .collect();
        for (index, check) in field(case, "checks", name)
            .as_array()
            .expect("checks")
            .iter()
            .enumerate()
        {
            let note = check.get("note").and_then(Value::as_str).unwrap_or("");
            let at = format!("{name} [check {index}: {note}] ({source})");
            let request = request(field(check, "request", &at), &at);
            let expect = field(check, "expect", &at);
            let result = evaluate(&policies, &request);
            match (expect.get("error"), result) {
                (None, Ok(decision)) => check_decision(&decision, expect, &policies, &at),
                (None, Err(error)) => panic!("{at}: unexpected error: {error}"),
                (Some(kind), Ok(decision)) => {
                    panic!("{at}: expected error {kind}, got decision: {decision}")
                }
                (Some(kind), Err(error)) => {
                    assert_eq!(
                        error_kind(&error),
                        kind.as_str().expect("kind"),
                        "{at}: {error}"
                    );
                    let message = error.to_string();
                    let needle = text(expect, "message_contains", &at);
                    assert!(
                        message.contains(needle),
                        "{at}: error message {message:?} lacks {needle:?}"
                    );
                }
            }
            checks += 1;
        }
    }
    assert!(checks >= 150, "the table lost checks: {checks}");
}

/// Display lines a CLI prints, for each outcome.
#[test]
fn display_lines() {
    let policy = PolicyDocument::from_json(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"AllowConnect","Effect":"Allow","Action":"rds-db:connect","Resource":"*"},
            {"Effect":"Deny","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*:*:dbuser:*/root"}]}"#,
    )
    .expect("valid policy");
    let policies = [policy];
    let arn = |user: &str| format!("arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/{user}");
    let allowed = evaluate(
        &policies,
        &RequestContext::new("rds-db:connect", arn("alice")),
    )
    .expect("evaluates");
    assert!(allowed.is_allowed());
    assert_eq!(allowed.outcome.to_string(), "allowed");
    assert_eq!(
        allowed.to_string(),
        r#"allowed by policy 0 statement 0 (Sid "AllowConnect")"#
    );
    let denied = evaluate(
        &policies,
        &RequestContext::new("rds-db:connect", arn("root")),
    )
    .expect("evaluates");
    assert!(!denied.is_allowed());
    assert_eq!(denied.outcome.to_string(), "explicitly denied");
    assert_eq!(
        denied.to_string(),
        "denied by policy 0 statement 1 (explicit deny)"
    );
    let implicit = evaluate(
        &policies,
        &RequestContext::new("rds:DescribeDBInstances", "*"),
    )
    .expect("evaluates");
    assert_eq!(implicit.outcome.to_string(), "implicitly denied");
}

/// Unresolved variables are reported with the statement they disabled.
#[test]
fn unresolved_variable_is_reported() {
    let policy = PolicyDocument::from_json(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"rds-db:connect",
            "Resource":"arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"}}"#,
    )
    .expect("valid policy");
    let request = RequestContext::new(
        "rds-db:connect",
        "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/alice",
    );
    let decision = evaluate(&[policy], &request).expect("evaluates");
    assert_eq!(decision.outcome, Outcome::ImplicitDeny);
    let lines: Vec<String> = decision
        .unresolved
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        ["policy 0 statement 0 skipped: ${SAML:sub} has no value in the request"]
    );
}

/// Policies built in code (not parsed) evaluate the same way.
#[test]
fn built_statements_evaluate() {
    use iam_policy::Statement;
    let policy = PolicyDocument::new(vec![
        Statement::allow()
            .with_sid("Connect")
            .with_action("rds-db:connect")
            .with_resource(["arn:aws:rds-db:*:*:dbuser:*/${aws:username}"])
            .with_condition("Bool", "aws:SecureTransport", true),
    ]);
    let request = RequestContext::new(
        "rds-db:connect",
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-B/carol",
    )
    .with_value("aws:username", "carol")
    .with_value("aws:SecureTransport", "true");
    let decision = evaluate(std::slice::from_ref(&policy), &request).expect("evaluates");
    assert!(decision.is_allowed(), "{decision}");
    let missing_action = PolicyDocument::new(vec![Statement::allow().with_resource("*")]);
    let error = evaluate(&[missing_action], &request).expect_err("no action");
    assert!(matches!(error, EvalError::MissingAction { .. }), "{error}");
}

/// The crate's own builders produce policies that the evaluator reads as the setup guide intends:
/// "may this principal connect as user U to instance I?"
#[test]
fn builder_policies_answer_the_connect_question() {
    use iam_policy::{ConnectorPolicy, EndUserPolicy};

    let connector = ConnectorPolicy::builder()
        .region("eu-west-1")
        .account("123456789012")
        .resource_id("db-ABCDEFGHIJKL01234567890ABC")
        .build()
        .expect("valid connector policy");
    let connect = |region: &str, id: &str, user: &str| {
        RequestContext::new(
            "rds-db:connect",
            format!("arn:aws:rds-db:{region}:123456789012:dbuser:{id}/{user}"),
        )
    };
    let id = "db-ABCDEFGHIJKL01234567890ABC";
    let policies = [connector];
    let decide =
        |request: &RequestContext| evaluate(&policies, request).expect("evaluates").outcome;
    assert_eq!(
        decide(&connect("eu-west-1", id, "apono_connector")),
        Outcome::Allow
    );
    assert_eq!(
        decide(&connect("eu-west-1", id, "alice")),
        Outcome::ImplicitDeny
    );
    assert_eq!(
        decide(&connect(
            "eu-west-1",
            "db-OTHERINSTANCE0000000000000",
            "apono_connector"
        )),
        Outcome::ImplicitDeny
    );
    assert_eq!(
        decide(&connect("us-east-1", id, "apono_connector")),
        Outcome::ImplicitDeny
    );

    let end_user = EndUserPolicy::builder()
        .require_persistent_sub(true)
        .build()
        .expect("valid end-user policy");
    let policies = [end_user];
    let saml = |user: &str, sub: &str, sub_type: &str| {
        connect("us-east-1", id, user)
            .with_value("SAML:sub", sub)
            .with_value("saml:sub_type", sub_type)
    };
    let decide =
        |request: &RequestContext| evaluate(&policies, request).expect("evaluates").outcome;
    assert_eq!(
        decide(&saml("alice", "alice", "persistent")),
        Outcome::Allow
    );
    assert_eq!(
        decide(&saml("bob", "alice", "persistent")),
        Outcome::ImplicitDeny
    );
    assert_eq!(
        decide(&saml("alice", "alice", "transient")),
        Outcome::ImplicitDeny
    );
    let describe = RequestContext::new(
        "rds:DescribeDBInstances",
        "arn:aws:rds:us-east-1:123456789012:db:prod",
    );
    assert_eq!(decide(&describe), Outcome::Allow);
}

/// Hostile wildcard patterns in actions, resources and `StringLike` conditions finish (the matcher
/// never backtracks exponentially): 60 stars against 2,000 characters (request strings are at
/// most `MAX_REQUEST_CHARS`, 2,048).
#[test]
fn hostile_patterns_finish() {
    let stars = format!("{}b", "a*".repeat(60));
    let long = "a".repeat(2_000);
    let policy = PolicyDocument::new(vec![
        iam_policy::Statement::allow()
            .with_action(format!("svc:{stars}"))
            .with_resource(format!("arn:aws:svc:::{stars}"))
            .with_condition("StringLike", "k:v", stars.as_str()),
    ]);
    let request = RequestContext::new(format!("svc:{long}"), format!("arn:aws:svc:::{long}"))
        .with_value("k:v", long.as_str());
    let decision = evaluate(std::slice::from_ref(&policy), &request).expect("evaluates");
    assert_eq!(decision.outcome, Outcome::ImplicitDeny);
    let matching = RequestContext::new(format!("svc:{long}b"), format!("arn:aws:svc:::{long}b"))
        .with_value("k:v", format!("{long}b"));
    let decision = evaluate(&[policy], &matching).expect("evaluates");
    assert_eq!(decision.outcome, Outcome::Allow);
}

/// Hostile-input fuzzing (RELIABILITY.md): a request string longer than an ARN can be made
/// matching take seconds per pattern (`*aaaa…b` against 100,000 characters), so the evaluator
/// refuses it, naming which string.
#[test]
fn request_strings_longer_than_an_arn_are_refused() {
    use iam_policy::eval::MAX_REQUEST_CHARS;
    let policy = PolicyDocument::new(vec![
        iam_policy::Statement::allow()
            .with_action("*")
            .with_resource("*"),
    ]);
    let long = "a".repeat(MAX_REQUEST_CHARS + 1);
    for (request, what) in [
        (RequestContext::new(long.as_str(), "*"), "action"),
        (RequestContext::new("s3:Get", long.as_str()), "resource"),
        (
            RequestContext::new("s3:Get", "*").with_value("SAML:sub", long.as_str()),
            "value of context key \"SAML:sub\"",
        ),
    ] {
        let err = evaluate(std::slice::from_ref(&policy), &request).unwrap_err();
        assert!(
            matches!(err, EvalError::RequestTooLong { chars, .. } if chars == MAX_REQUEST_CHARS + 1),
            "{err}"
        );
        assert!(err.to_string().contains(what), "{err}");
    }
    let fits = RequestContext::new("s3:Get", "a".repeat(MAX_REQUEST_CHARS));
    assert!(evaluate(&[policy], &fits).is_ok());
}

/// Hostile-input fuzzing (RELIABILITY.md): a policy naming a variable 200,000 times with a
/// 100,000-character value tried to allocate 6.5 GB; substitutions now have a budget per
/// evaluation and going over it is an error naming the statement.
#[test]
fn variable_substitution_has_a_budget() {
    use iam_policy::eval::{MAX_REQUEST_CHARS, MAX_SUBSTITUTED_CHARS};
    let many = "${v}".repeat(MAX_SUBSTITUTED_CHARS / MAX_REQUEST_CHARS + 1);
    let policy = PolicyDocument::from_json(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::{many}"}}]}}"#
    ))
    .expect("policy");
    let request = RequestContext::new("s3:Get", "arn:aws:s3:::x")
        .with_value("v", "x".repeat(MAX_REQUEST_CHARS));
    let err = evaluate(std::slice::from_ref(&policy), &request).unwrap_err();
    assert!(
        matches!(err, EvalError::SubstitutionTooLarge { ref statement, .. } if statement.statement == 0),
        "{err}"
    );
    // The same policy with a short value stays within the budget.
    let request = RequestContext::new("s3:Get", "arn:aws:s3:::x").with_value("v", "x");
    assert!(evaluate(&[policy], &request).is_ok());
}
