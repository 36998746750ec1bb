//! The linter through the public API: one data-driven row per finding code (positive and
//! negative, from `tests/data/lint-cases.json`), the setup guide's documents, and pointers.

use iam_policy::lint::{Finding, RULES, Severity, lint, lint_json};
use iam_policy::{PolicyDocument, PolicyError};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    code: String,
    source: String,
    positive: Value,
    pointer: String,
    negative: Value,
}

fn data(file: &str) -> String {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn lint_value(value: &Value) -> Vec<Finding> {
    lint_json(&value.to_string()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// Every pointer must resolve in the original document.
fn assert_pointers_resolve(value: &Value, findings: &[Finding]) {
    for f in findings {
        assert!(
            value.pointer(&f.pointer).is_some(),
            "pointer {} of {} does not resolve in {value}",
            f.pointer,
            f.code
        );
    }
}

#[test]
fn every_code_fires_on_its_positive_and_not_on_its_negative() {
    let cases: Cases = serde_json::from_str(&data("lint-cases.json")).unwrap();
    for case in &cases.cases {
        let rule = RULES
            .iter()
            .find(|r| r.code == case.code)
            .unwrap_or_else(|| panic!("unknown code {}", case.code));
        let found = lint_value(&case.positive);
        assert_pointers_resolve(&case.positive, &found);
        let hit = found
            .iter()
            .find(|f| f.code == case.code)
            .unwrap_or_else(|| panic!("{} ({}) not found: {found:#?}", case.code, case.source));
        assert_eq!(hit.pointer, case.pointer, "{} ({})", case.code, case.source);
        assert_eq!(hit.severity, rule.severity, "{}", case.code);
        assert!(!hit.message.is_empty());
        let clean = lint_value(&case.negative);
        assert_pointers_resolve(&case.negative, &clean);
        assert!(
            clean.iter().all(|f| f.code != case.code),
            "{} ({}) negative still fires: {clean:#?}",
            case.code,
            case.source
        );
    }
    for rule in RULES {
        assert!(
            cases.cases.iter().any(|c| c.code == rule.code),
            "no test row for {}",
            rule.code
        );
    }
}

#[test]
fn severities_follow_the_brief() {
    let severity = |code: &str| RULES.iter().find(|r| r.code == code).map(|r| r.severity);
    assert_eq!(severity("RDSPG-L001"), Some(Severity::Advice)); // wildcard scope
    assert_eq!(severity("RDSPG-L003"), Some(Severity::Error)); // malformed dbuser ARN
    assert_eq!(severity("RDSPG-L005"), Some(Severity::Error)); // variables are literal
    assert_eq!(severity("RDSPG-L007"), Some(Severity::Warning)); // Allow + NotAction
    assert_eq!(severity("RDSPG-L008"), Some(Severity::Error)); // unknown partition
    assert_eq!(severity("RDSPG-L012"), Some(Severity::Advice)); // SAML:sub not persistent
}

#[test]
fn setup_guide_documents_draw_advice_only() {
    let connector = lint_json(&data("guide-connector-policy.json")).unwrap();
    let codes: Vec<_> = connector
        .iter()
        .map(|f| (f.code, f.pointer.as_str()))
        .collect();
    assert_eq!(codes, [("RDSPG-L001", "/Statement/0/Resource")]);

    let end_user = lint_json(&data("guide-end-user-policy.json")).unwrap();
    let codes: Vec<_> = end_user
        .iter()
        .map(|f| (f.code, f.pointer.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("RDSPG-L001", "/Statement/0/Resource/0"),
            ("RDSPG-L012", "/Statement/0/Resource/0")
        ]
    );
    assert!(
        connector
            .iter()
            .chain(&end_user)
            .all(|f| f.severity == Severity::Advice)
    );
}

#[test]
fn findings_are_in_document_order_and_display_well() {
    let text = r#"{"Statement":[
        {"Sid":"a b","Effect":"Allow","NotAction":"iam:*","Resource":"arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"},
        {"Sid":"a b","Effect":"Allow","Action":"rds:connect","Resource":"*"}]}"#;
    let value: Value = serde_json::from_str(text).unwrap();
    let findings = lint_json(text).unwrap();
    assert_pointers_resolve(&value, &findings);
    let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        [
            "RDSPG-L005", // no Version: ${SAML:sub} is literal text
            "RDSPG-L009", // Sid "a b"
            "RDSPG-L007", // Allow + NotAction
            "RDSPG-L001", // wildcard region, account, resource id
            "RDSPG-L012", // ${SAML:sub} without persistent
            "RDSPG-L009", // Sid "a b" again
            "RDSPG-L010", // ...and duplicated
            "RDSPG-L004", // rds:connect (no L002: rds:connect does not grant rds-db:connect)
        ]
    );
    assert_eq!(
        serde_json::to_value(&findings[2]).unwrap(),
        serde_json::json!({
            "code": "RDSPG-L007",
            "severity": "warning",
            "pointer": "/Statement/0/NotAction",
            "message": findings[2].message,
        })
    );
    let shown = findings[0].to_string();
    assert!(
        shown.starts_with("RDSPG-L005 error at /Statement/0/Resource: "),
        "{shown}"
    );
}

#[test]
fn unparseable_text_is_a_typed_error() {
    assert!(matches!(lint_json("{"), Err(PolicyError::Json { .. })));
    assert!(matches!(
        lint_json(r#"{"Statement":[{"Effect":"Allow"}]}"#),
        Err(PolicyError::MissingAction { .. })
    ));
}

#[test]
fn deny_statements_are_not_over_broad() {
    let doc = PolicyDocument::from_json(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"rds-db:connect",
            "Resource":["*","arn:aws:rds-db:*:*:dbuser:*/*"]}]}"#,
    )
    .unwrap();
    assert_eq!(lint(&doc), []);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Strings near the interesting shapes: ARNs with variables, wildcards and odd ids.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_owned()),
            "arn:(aws|aws-cn|aws-us-gov|x|\\*)?:(rds|rds-db|s3)?:[a-z0-9*-]{0,12}:[0-9*]{0,13}:(dbuser:|db:|cluster:)?[A-Za-z0-9*$/{}:?-]{0,24}",
            "(rds|rds-db|RDS-DB|\\*)?:?[A-Za-z*?]{0,12}",
            "[${}*?a-zA-Z:/ '-]{0,20}",
        ]
    }

    proptest! {
        /// Any parsable policy built from these fragments lints without panicking, and every
        /// finding's pointer resolves in the original document.
        #[test]
        fn lint_never_panics_and_pointers_resolve(
            version in prop_oneof![Just(None), Just(Some("2012-10-17")), Just(Some("2008-10-17"))],
            statements in proptest::collection::vec(
                (
                    any::<bool>(),
                    proptest::option::of("[A-Za-z0-9 -]{0,6}"),
                    proptest::collection::vec(fragment(), 0..3),
                    proptest::collection::vec(fragment(), 0..3),
                    any::<bool>(),
                    any::<bool>(),
                    proptest::option::of(fragment()),
                ),
                0..4,
            ),
            single in any::<bool>(),
        ) {
            let sts: Vec<Value> = statements
                .iter()
                .map(|(allow, sid, actions, resources, not_action, one, cond)| {
                    let mut st = serde_json::Map::new();
                    st.insert("Effect".into(), json!(if *allow { "Allow" } else { "Deny" }));
                    if let Some(sid) = sid {
                        st.insert("Sid".into(), json!(sid));
                    }
                    let actions = match (one, actions.first()) {
                        (true, Some(a)) => json!(a),
                        _ => json!(actions),
                    };
                    st.insert((if *not_action { "NotAction" } else { "Action" }).into(), actions);
                    st.insert("Resource".into(), json!(resources));
                    if let Some(c) = cond {
                        st.insert("Condition".into(), json!({"StringLike": {"saml:sub_type": c, "a/b~c": [c, true, 3]}}));
                    }
                    Value::Object(st)
                })
                .collect();
            let statement = match (single, sts.first()) {
                (true, Some(first)) => first.clone(),
                _ => Value::Array(sts.clone()),
            };
            let mut doc = serde_json::Map::new();
            if let Some(v) = version {
                doc.insert("Version".into(), json!(v));
            }
            doc.insert("Statement".into(), statement);
            let value = Value::Object(doc);
            let findings = lint_json(&value.to_string()).expect("generated policies parse");
            for f in &findings {
                prop_assert!(value.pointer(&f.pointer).is_some(), "{} -> {}", f.code, f.pointer);
                prop_assert!(RULES.iter().any(|r| r.code == f.code && r.severity == f.severity));
            }
        }

        /// Arbitrary text never panics the parser or the linter.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = lint_json(&text);
        }
    }
}
