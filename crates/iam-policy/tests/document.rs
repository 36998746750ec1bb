//! The policy document model through the public API: round-trips of many policy shapes, the
//! setup guide's documents, and the grammar errors.

use iam_policy::{
    ConditionValue, Effect, OneOrMany, PolicyDocument, PolicyError, PolicyVersion, Principal,
    Statement,
};
use serde_json::{Value, json};

/// Parses `value`, checks that writing it back (pretty and compact, and through serde) gives the
/// same JSON value, and returns the document.
fn round_trip(value: &Value) -> PolicyDocument {
    let text = value.to_string();
    let doc = PolicyDocument::from_json(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let pretty: Value = serde_json::from_str(&doc.to_json_pretty()).expect("pretty output is JSON");
    assert_eq!(&pretty, value, "pretty round trip of {text}");
    let compact: Value = serde_json::from_str(&doc.to_json()).expect("compact output is JSON");
    assert_eq!(&compact, value, "compact round trip of {text}");
    assert_eq!(&doc.to_value(), value, "to_value of {text}");
    let via_serde: PolicyDocument = serde_json::from_str(&text).expect("serde parses it");
    assert_eq!(via_serde, doc, "serde Deserialize of {text}");
    assert_eq!(
        serde_json::to_value(&doc).expect("serde writes it"),
        *value,
        "serde Serialize of {text}"
    );
    assert_eq!(
        PolicyDocument::from_json(&doc.to_json_pretty()).expect("output parses"),
        doc
    );
    doc
}

#[test]
fn round_trips_keep_every_shape() {
    // (policy, source of the shape)
    let cases = [
        (
            json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
            "IAM grammar: Statement as a single object",
        ),
        (
            json!({"Version": "2012-10-17", "Id": "policy-1", "Statement": [{"Sid": "A1", "Effect": "Deny", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]}]}),
            "IAM grammar: Id, Sid, arrays",
        ),
        (
            json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}),
            "S3 bucket policy with Principal \"*\" and the old version",
        ),
        (
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:root", "999999999999"], "Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            "trust policy: Principal map, no Version, no Resource",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/admin"}, "NotAction": "iam:*", "NotResource": ["arn:aws:iam::123456789012:role/x"]}]}),
            "NotPrincipal, NotAction, NotResource",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds-db:connect", "Resource": "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}",
            "Condition": {
                "StringEquals": {"saml:sub_type": "persistent", "aws:PrincipalTag/team": ["a", "b"]},
                "Bool": {"aws:SecureTransport": true, "aws:MultiFactorAuthPresent": "true"},
                "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
                "NumericGreaterThanEquals": {"s3:max-keys": [1.5, -2, 10]},
                "ForAnyValue:StringLike": {"aws:TagKeys": ["env*"]},
                "IpAddressIfExists": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
                "Null": {"aws:TokenIssueTime": false}
            }}]}),
            "conditions with strings, bools, numbers, arrays and set operators",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": []}),
            "empty statement array (the linter's job)",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [], "Resource": []}]}),
            "empty arrays (the linter's job)",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["rds-db:connect"], "Resource": ["arn:aws:rds-db:*:*:dbuser:*/a"]}]}),
            "one-element arrays stay arrays",
        ),
        (
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow", "Action": "x:y", "Condition": {}}]}),
            "empty Sid and empty Condition",
        ),
    ];
    for (value, source) in &cases {
        let doc = round_trip(value);
        assert!(doc.statements().count() == doc.statement.len(), "{source}");
    }
}

#[test]
fn shapes_are_preserved_in_the_model() {
    let doc = round_trip(&json!({
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "a:b", "Resource": ["r"],
            "Condition": {"Bool": {"aws:SecureTransport": true}, "NumericEquals": {"k": 42}}}
    }));
    assert_eq!(doc.version, Some(PolicyVersion::V2012_10_17));
    assert!(matches!(doc.statement, OneOrMany::One(_)));
    let st = doc.statements().next().unwrap();
    assert_eq!(st.action, Some(OneOrMany::One("a:b".to_owned())));
    assert_eq!(st.resource, Some(OneOrMany::Many(vec!["r".to_owned()])));
    let cond = st.condition.as_ref().unwrap();
    assert_eq!(
        cond["Bool"]["aws:SecureTransport"],
        OneOrMany::One(ConditionValue::Bool(true))
    );
    let OneOrMany::One(ConditionValue::Number(n)) = &cond["NumericEquals"]["k"] else {
        panic!("number expected");
    };
    assert_eq!(n.as_u64(), Some(42));
    let pointers: Vec<String> = doc.statements_with_pointers().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/Statement"]);
}

#[test]
fn principal_any_differs_from_aws_star() {
    let any =
        round_trip(&json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "a:b"}}));
    let aws_star = round_trip(
        &json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "a:b"}}),
    );
    let p1 = any.statements().next().unwrap().principal.clone();
    let p2 = aws_star.statements().next().unwrap().principal.clone();
    assert_eq!(p1, Some(Principal::Any));
    assert!(matches!(p2, Some(Principal::Map(_))));
    assert_ne!(p1, p2);
}

#[test]
fn guide_documents_round_trip() {
    for file in ["guide-connector-policy.json", "guide-end-user-policy.json"] {
        let text =
            std::fs::read_to_string(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        let doc = PolicyDocument::from_json(&text).unwrap();
        let again: Value = serde_json::from_str(&doc.to_json_pretty()).unwrap();
        assert_eq!(again, original, "{file}");
    }
}

#[test]
fn constructed_documents_serialise_as_aws_json() {
    let doc = PolicyDocument::new(vec![
        Statement::deny()
            .with_sid("NoPlaintext")
            .with_action("rds-db:connect")
            .with_resource("*")
            .with_condition("Bool", "aws:SecureTransport", false),
        Statement::allow()
            .with_not_action(["iam:*"])
            .with_not_resource(vec!["arn:aws:iam::*:*".to_owned()])
            .with_principal(Principal::Any),
    ])
    .with_id("x");
    let value: Value = serde_json::from_str(&doc.to_json()).unwrap();
    assert_eq!(
        value,
        json!({"Version": "2012-10-17", "Id": "x", "Statement": [
            {"Sid": "NoPlaintext", "Effect": "Deny", "Action": "rds-db:connect", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": false}}},
            {"Effect": "Allow", "Principal": "*", "NotAction": ["iam:*"], "NotResource": ["arn:aws:iam::*:*"]}
        ]})
    );
    assert_eq!(
        doc.statements().nth(1).map(|s| s.effect),
        Some(Effect::Allow)
    );
    let no_version = doc.with_version(None);
    assert!(!no_version.to_json().contains("Version"));
}

#[test]
fn grammar_errors_are_typed_and_name_the_place() {
    // (policy text, expected error, the rule it encodes)
    type Check = fn(&PolicyError) -> bool;
    let cases: &[(&str, Check, &str)] = &[
        (
            "{",
            |e| matches!(e, PolicyError::Json { .. }),
            "malformed JSON",
        ),
        (
            r#"[]"#,
            |e| matches!(e, PolicyError::WrongType { pointer, .. } if pointer.is_empty()),
            "document is an object",
        ),
        (
            r#"{"Version":"2012-10-17"}"#,
            |e| {
                matches!(
                    e,
                    PolicyError::MissingField {
                        field: "Statement",
                        ..
                    }
                )
            },
            "Statement is required",
        ),
        (
            r#"{"Version":"2012-10-18","Statement":[]}"#,
            |e| matches!(e, PolicyError::UnsupportedVersion { value } if value == "2012-10-18"),
            "two versions exist",
        ),
        (
            r#"{"Version":20121017,"Statement":[]}"#,
            |e| matches!(e, PolicyError::WrongType { pointer, .. } if pointer == "/Version"),
            "Version is a string",
        ),
        (
            r#"{"version":"2012-10-17","Statement":[]}"#,
            |e| matches!(e, PolicyError::UnknownKey { key, .. } if key == "version"),
            "keys are case-sensitive",
        ),
        (
            r#"{"Statement":"x"}"#,
            |e| matches!(e, PolicyError::WrongType { pointer, .. } if pointer == "/Statement"),
            "Statement is object or array",
        ),
        (
            r#"{"Statement":[{"Action":"a:b"}]}"#,
            |e| matches!(e, PolicyError::MissingField { field: "Effect", pointer } if pointer == "/Statement/0"),
            "Effect is required",
        ),
        (
            r#"{"Statement":[{"Effect":"allow","Action":"a:b"}]}"#,
            |e| matches!(e, PolicyError::InvalidEffect { pointer, .. } if pointer == "/Statement/0/Effect"),
            "Effect is Allow or Deny",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            |e| matches!(e, PolicyError::MissingAction { .. }),
            "Action or NotAction is required",
        ),
        (
            r#"{"Statement":[{"Sid":"S","Effect":"Allow","Action":"a:b","NotAction":"c:d"}]}"#,
            |e| matches!(e, PolicyError::ConflictingElements { first: "Action", second: "NotAction", sid: Some(s), .. } if s == "S"),
            "Action xor NotAction",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"x"}]}"#,
            |e| {
                matches!(
                    e,
                    PolicyError::ConflictingElements {
                        first: "Resource",
                        ..
                    }
                )
            },
            "Resource xor NotResource",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Principal":"*","NotPrincipal":"*"}]}"#,
            |e| {
                matches!(
                    e,
                    PolicyError::ConflictingElements {
                        first: "Principal",
                        ..
                    }
                )
            },
            "Principal xor NotPrincipal",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":["a:b",1]}]}"#,
            |e| matches!(e, PolicyError::WrongType { pointer, .. } if pointer == "/Statement/0/Action/1"),
            "actions are strings",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Principal":"arn:aws:iam::1:root"}]}"#,
            |e| matches!(e, PolicyError::InvalidPrincipal { .. }),
            "a string principal must be *",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringEquals":{"aws:PrincipalTag/x":null}}}]}"#,
            |e| matches!(e, PolicyError::WrongType { pointer, .. } if pointer == "/Statement/0/Condition/StringEquals/aws:PrincipalTag~1x"),
            "condition values are scalars",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringEquals":"x"}}]}"#,
            |e| matches!(e, PolicyError::WrongType { .. }),
            "operator maps keys",
        ),
        (
            r#"{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"a:b"}]}"#,
            |e| matches!(e, PolicyError::Json { .. }),
            "duplicate keys are rejected",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Extra":1}]}"#,
            |e| matches!(e, PolicyError::UnknownKey { pointer, .. } if pointer == "/Statement/0"),
            "unknown statement key",
        ),
    ];
    for (text, check, rule) in cases {
        match PolicyDocument::from_json(text) {
            Err(e) => {
                assert!(check(&e), "{rule}: {text} gave {e:?}");
                assert!(!e.to_string().is_empty());
            }
            Ok(doc) => panic!("{rule}: {text} parsed as {doc:?}"),
        }
    }
}

#[test]
fn errors_say_what_to_do() {
    let err = PolicyDocument::from_json(
        r#"{"Statement":[{"Sid":"Conn","Effect":"Allow","Action":"a:b","NotAction":"c:d"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "statement `/Statement/0` (Sid \"Conn\") has both `Action` and `NotAction`; keep only one"
    );
}
