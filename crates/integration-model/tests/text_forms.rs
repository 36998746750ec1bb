//! Every enum and newtype: `Display` gives back the canonical text `FromStr` read, and serde
//! (JSON) round-trips through that text.

use std::fmt::Display;
use std::str::FromStr;

use integration_model::{
    AccessDuration, AccessLevel, AuthType, AwsEndpointUrl, AwsProfile, Endpoint, EnvVarName, Host,
    Identifier, InstanceId, IntegrationName, ModelError, Partition, Region, RequestId,
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
