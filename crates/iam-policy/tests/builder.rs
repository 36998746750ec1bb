//! The policy builders: defaults equal the setup guide's documents; narrowed policies have the
//! ARNs discovery would give; none draws an error- or warning-level lint finding.

use iam_policy::arn::{Partition, RdsResourceArn, RdsResourceKind};
use iam_policy::{BuildError, ConnectorPolicy, EndUserPolicy, PolicyDocument, Severity, lint};
use integration_model::error_chain;
use serde_json::{Value, json};

fn guide(file: &str) -> Value {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("guide document is JSON")
}

fn json_of(doc: &PolicyDocument) -> Value {
    serde_json::from_str(&doc.to_json_pretty()).expect("builder output is JSON")
}

#[test]
fn connector_defaults_equal_the_setup_guide() {
    let doc = ConnectorPolicy::builder().build().unwrap();
    assert_eq!(json_of(&doc), guide("guide-connector-policy.json"));
}

#[test]
fn end_user_defaults_equal_the_setup_guide() {
    let doc = EndUserPolicy::builder().build().unwrap();
    assert_eq!(json_of(&doc), guide("guide-end-user-policy.json"));
}

#[test]
fn connector_narrowed_to_a_discovered_instance() {
    let doc = ConnectorPolicy::builder()
        .db_user("svc_connector")
        .partition(Partition::AwsCn)
        .region("cn-northwest-1")
        .account("123456789012")
        .resource_id("db-ABCDEFGHIJKL01234567890ABC")
        .build()
        .unwrap();
    assert_eq!(
        json_of(&doc),
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": "arn:aws-cn:rds-db:cn-northwest-1:123456789012:dbuser:db-ABCDEFGHIJKL01234567890ABC/svc_connector"
        }]})
    );
}

#[test]
fn end_user_narrowed_with_persistent_subject() {
    let describe = RdsResourceArn::new(
        Partition::Aws,
        "eu-west-1",
        "123456789012",
        RdsResourceKind::Db,
        "orders-prod",
    )
    .unwrap();
    let doc = EndUserPolicy::builder()
        .region("eu-west-1")
        .account("123456789012")
        .resource_id("db-AAAA")
        .resource_id("cluster-BBBB")
        .describe_resource(describe)
        .require_persistent_sub(true)
        .build()
        .unwrap();
    assert_eq!(
        json_of(&doc),
        json!({"Version": "2012-10-17", "Statement": [
            {
                "Effect": "Allow",
                "Action": ["rds-db:connect"],
                "Resource": [
                    "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-AAAA/${SAML:sub}",
                    "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-BBBB/${SAML:sub}"
                ],
                "Condition": {"StringEquals": {"saml:sub_type": "persistent"}}
            },
            {
                "Effect": "Allow",
                "Action": ["rds:DescribeDBInstances"],
                "Resource": ["arn:aws:rds:eu-west-1:123456789012:db:orders-prod"]
            }
        ]})
    );
}

#[test]
fn invalid_inputs_are_typed_errors() {
    let err = ConnectorPolicy::builder()
        .resource_id("orders-prod")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BuildError::InvalidField {
                field: "resource_id",
                policy: "connector",
                ..
            }
        ),
        "{err:?}"
    );
    let chain = error_chain(&err);
    assert!(chain.contains("orders-prod"), "{chain}");
    assert!(!err.to_string().contains("orders-prod"), "{err}");
    let err = EndUserPolicy::builder()
        .account("12345")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidField {
                field: "account",
                ..
            }
        ),
        "{err:?}"
    );
    let err = EndUserPolicy::builder()
        .region("moon-base-1")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidField {
                field: "region",
                ..
            }
        ),
        "{err:?}"
    );
    let err = ConnectorPolicy::builder()
        .db_user("a".repeat(64))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InvalidField {
                field: "db_user",
                ..
            }
        ),
        "{err:?}"
    );
    let err = ConnectorPolicy::builder()
        .db_user("${aws:username}")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::WildcardConnectorUser { .. }),
        "{err:?}"
    );
}

/// Every combination of the builders' options gives a policy without errors or warnings.
#[test]
fn generated_policies_draw_no_error_or_warning() {
    let mut docs = Vec::new();
    for region in [
        None,
        Some("us-east-1"),
        Some("us-gov-east-1"),
        Some("cn-north-1"),
    ] {
        for account in [None, Some("123456789012")] {
            for ids in [
                &[][..],
                &["db-ABCDEFGHIJKL01234567890ABC"][..],
                &["cluster-XYZ", "prx-0abc123"][..],
            ] {
                let mut connector = ConnectorPolicy::builder();
                let mut end_user =
                    EndUserPolicy::builder().require_persistent_sub(region.is_some());
                if let Some(r) = region {
                    connector = connector.region(r);
                    end_user = end_user.region(r);
                }
                if let Some(a) = account {
                    connector = connector.account(a);
                    end_user = end_user.account(a);
                }
                for id in ids {
                    connector = connector.resource_id(*id);
                    end_user = end_user.resource_id(*id);
                }
                docs.push(connector.build().unwrap());
                docs.push(end_user.build().unwrap());
            }
        }
    }
    docs.push(
        EndUserPolicy::builder()
            .db_user("${aws:username}")
            .build()
            .unwrap(),
    );
    assert_eq!(docs.len(), 4 * 2 * 3 * 2 + 1);
    for doc in &docs {
        let bad: Vec<_> = lint(doc)
            .into_iter()
            .filter(|f| f.severity >= Severity::Warning)
            .collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", doc.to_json_pretty());
    }
}
