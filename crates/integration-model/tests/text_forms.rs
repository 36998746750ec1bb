//! Every enum and newtype: `Display` gives back the canonical text `FromStr` read, and serde
//! (JSON) round-trips through that text.

use std::fmt::Display;
use std::str::FromStr;

use integration_model::{
    AccessDuration, AccessLevel, AuthType, AwsEndpointUrl, AwsProfile, Endpoint, EnvVarName, Host,
    Identifier, InstanceId, IntegrationName, Interval, ModelError, Partition, Region, RequestId,
    ResourcePath, ResourceRef, ResourceType, ResourceTypes, RotationPeriod, SecretId, SecretRef,
    SslMode, TagFilter, TagKey, TagValue,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<T>(texts: &[&str])
where
    T: FromStr<Err = ModelError>
        + Display
        + Serialize
        + DeserializeOwned
        + PartialEq
        + std::fmt::Debug,
{
    for text in texts {
        let value: T = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(value.to_string(), *text, "Display of {text:?}");
        let json = serde_json::to_string(&value).expect("every value serialises");
        assert_eq!(
            serde_json::from_str::<T>(&json).expect("serialised form reads back"),
            value,
            "serde of {text:?} via {json}"
        );
    }
}

#[test]
fn keyword_enums() {
    check::<AuthType>(&["iam", "password"]);
    check::<SslMode>(&[
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ]);
    check::<ResourceType>(&["database", "schema", "table"]);
    check::<AccessLevel>(&["read-only", "read-write", "admin"]);
    check::<Partition>(&[
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    ]);
    for (all, n) in [
        (AuthType::ALL.len(), 2),
        (SslMode::ALL.len(), 6),
        (ResourceType::ALL.len(), 3),
        (AccessLevel::ALL.len(), 3),
    ] {
        assert_eq!(all, n);
    }
}

#[test]
fn newtypes() {
    check::<IntegrationName>(&["orders-prod", "A_1"]);
    check::<InstanceId>(&["orders-db", "aurora-cluster-1"]);
    check::<Identifier>(&["postgres", "Order Lines", "my/db", "ünïcödé"]);
    check::<Region>(&["us-east-1", "eu-west-3", "us-gov-west-1", "cn-north-1"]);
    check::<TagKey>(&["team", "aws:cloudformation:stack-name"]);
    check::<TagValue>(&["orders", "", "a b"]);
    check::<TagFilter>(&["team=orders", "backup", "\"a=b\"=c", "k="]);
    check::<SecretId>(&[
        "rds/orders",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf",
    ]);
    check::<EnvVarName>(&["ORDERS_PW"]);
    check::<SecretRef>(&["env:ORDERS_PW", "rds/orders"]);
    check::<Host>(&["127.0.0.1", "::1", "db.example.com"]);
    check::<Endpoint>(&["127.0.0.1:5432", "[::1]:5432", "db.example.com:6432"]);
    check::<AwsEndpointUrl>(&[
        "http://127.0.0.1:5055",
        "https://rds.us-east-1.amazonaws.com/",
    ]);
    check::<AwsProfile>(&["ops"]);
    check::<RotationPeriod>(&["1", "30", "365"]);
    check::<ResourceTypes>(&["database,schema,table", "table"]);
    check::<ResourceRef>(&[
        "app",
        "app/public",
        "app/public/orders",
        "\"my/db\"/\"a\"\"b\"",
    ]);
    check::<ResourcePath>(&[
        "orders-db/app",
        "orders-db/app/public/orders",
        "db/\"x/y\"/s/\"t\"\"\"",
    ]);
    check::<AccessDuration>(&["1m", "30m", "2h", "7d", "1h30m", "1d2h3m4s", "365d"]);
    check::<RequestId>(&["JIRA-4711", "req 42"]);
}

#[test]
fn rotation_period_serde_is_a_number() {
    let period: RotationPeriod = "30".parse().unwrap();
    assert_eq!(serde_json::to_string(&period).unwrap(), "30");
    assert!(serde_json::from_str::<RotationPeriod>("0").is_err());
}

#[test]
fn star_is_not_a_tag_wildcard() {
    let err = "team=*".parse::<TagFilter>().unwrap_err().to_string();
    assert!(err.contains("instance.tag_keys"), "{err}");
}

#[test]
fn intervals() {
    check::<Interval>(&["1s", "1m", "15m", "1h30m", "2d", "213503982334601d7h15s"]);
}

/// The values a report carries serialise as their text forms, and the composite ones in a
/// documented shape: `InstanceSelector` as `{"id": …}` / `{"tags": [...]}`, `TagFilters` as an
/// array of `KEY=VALUE` / `KEY`, `AwsSettings` as its `[aws]` table.
#[test]
fn report_values_serialise_as_documented() {
    use integration_model::Settings;
    let settings = Settings::from_toml_str(
        "[[integration]]\nname = \"a\"\nregion = \"us-east-1\"\nauth = \"iam\"\n\
         [integration.instance]\nid = \"orders-db\"\n\
         [integration.aws]\nprofile = \"ops\"\n\
         [[integration]]\nname = \"b\"\nregion = \"us-east-1\"\nauth = \"iam\"\n\
         [integration.instance]\ntags = { team = \"orders\", env = \"\" }\ntag_keys = [\"backup\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let [by_id, by_tags] = settings.integrations() else {
        panic!("two integrations")
    };
    assert_eq!(
        json(by_id.instance()),
        serde_json::json!({"id": "orders-db"})
    );
    assert_eq!(
        json(by_tags.instance()),
        serde_json::json!({"tags": ["backup", "env=", "team=orders"]})
    );
    assert_eq!(json(by_id.aws()), serde_json::json!({"profile": "ops"}));
    assert_eq!(json(by_tags.aws()), serde_json::json!({}));
    let request_values = (
        "app"
            .parse::<Identifier>()
            .unwrap_or_else(|e| panic!("{e}")),
        "orders-db"
            .parse::<InstanceId>()
            .unwrap_or_else(|e| panic!("{e}")),
        AccessLevel::ReadOnly,
        "orders-db/app/public"
            .parse::<ResourcePath>()
            .unwrap_or_else(|e| panic!("{e}")),
        "us-east-1"
            .parse::<Region>()
            .unwrap_or_else(|e| panic!("{e}")),
        SslMode::VerifyFull,
        AuthType::Iam,
        "1h30m"
            .parse::<AccessDuration>()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(
        json(&request_values),
        serde_json::json!([
            "app",
            "orders-db",
            "read-only",
            "orders-db/app/public",
            "us-east-1",
            "verify-full",
            "iam",
            "1h30m"
        ])
    );
}

fn json(value: impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| panic!("{e}"))
}
