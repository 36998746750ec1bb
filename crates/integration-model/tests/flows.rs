//! Access flows: settings, round-trips, and the decision for requests.

use integration_model::{AccessDuration, AccessLevel, AccessRequest, Settings, check_flows};

const SETTINGS: &str = r#"
name = "orders"
region = "us-east-1"
auth = "iam"
[instance]
id = "orders-db"

[[access_flow]]
name = "analysts"
requesters = ["*@corp.io"]
resources = ["orders-db/appdb/sales/**"]
levels = ["read-only"]
max_duration = "8h"

[[access_flow]]
name = "oncall"
requesters = ["oncall-*"]
resources = ["orders-db/**"]
levels = ["read-only", "read-write", "admin"]
max_duration = "2h"
approval = true
"#;

fn request(user: &str, level: AccessLevel, duration: &str, resources: &[&str]) -> AccessRequest {
    let mut builder = AccessRequest::builder(
        user.parse().expect("user"),
        level,
        duration.parse::<AccessDuration>().expect("duration"),
    );
    for r in resources {
        builder = builder.resource(r.parse().expect("resource"));
    }
    builder.build().expect("request")
}

#[test]
fn flows_load_and_round_trip() {
    let settings = Settings::from_toml_str(SETTINGS).expect("settings");
    let orders = settings.get("orders").expect("orders");
    let flows = orders.access_flows();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].name, "analysts");
    assert!(!flows[0].approval);
    assert!(flows[1].approval);
    assert_eq!(flows[1].max_duration.to_string(), "2h");

    let json = serde_json::to_string(&settings).expect("serialize");
    let again = Settings::from_json_str(&json).expect("read back");
    assert_eq!(again, settings);
}

#[test]
fn flow_errors_name_the_key() {
    // (replace, with, expected message start)
    let cases = [
        (
            "max_duration = \"8h\"",
            "max_duration = \"8x\"",
            "access_flow[0].max_duration",
        ),
        (
            "levels = [\"read-only\"]",
            "levels = [\"read-only\", \"root\"]",
            "access_flow[0].levels[1]",
        ),
        (
            "requesters = [\"*@corp.io\"]",
            "requesters = []",
            "access_flow[0].requesters",
        ),
        (
            "approval = true",
            "approval = \"yes\"",
            "access_flow[1].approval",
        ),
        (
            "approval = true",
            "approve = true",
            "access_flow[1].approve",
        ),
        (
            "name = \"oncall\"",
            "name = \"analysts\"",
            "access_flow[1].name",
        ),
        (
            "name = \"oncall\"",
            "name = \"on call\"",
            "access_flow[1].name",
        ),
    ];
    for (from, to, key) in cases {
        let text = SETTINGS.replacen(from, to, 1);
        let err = Settings::from_toml_str(&text).expect_err(to).to_string();
        assert!(err.starts_with(key), "{to}: {err}");
    }
}

#[test]
fn requests_are_checked_against_the_flows() {
    let settings = Settings::from_toml_str(SETTINGS).expect("settings");
    let flows = settings.get("orders").expect("orders").access_flows();

    let ok = request(
        "ana@corp.io",
        AccessLevel::ReadOnly,
        "4h",
        &["orders-db/appdb/sales"],
    );
    assert_eq!(
        check_flows(flows, &ok)
            .expect("allowed")
            .map(|f| f.name.as_str()),
        Some("analysts")
    );
    let table = request(
        "ana@corp.io",
        AccessLevel::ReadOnly,
        "4h",
        &["orders-db/appdb/sales/orders"],
    );
    assert!(check_flows(flows, &table).is_ok());

    // Each rule, named in the refusal.
    let refused = |r: &AccessRequest| check_flows(flows, r).expect_err("refused").to_string();
    let err = refused(&request(
        "ana@corp.io",
        AccessLevel::ReadWrite,
        "4h",
        &["orders-db/appdb/sales"],
    ));
    assert!(
        err.contains("flow \"analysts\": level read-write is not one of read-only"),
        "{err}"
    );
    let err = refused(&request(
        "ana@corp.io",
        AccessLevel::ReadOnly,
        "9h",
        &["orders-db/appdb/sales"],
    ));
    assert!(err.contains("duration 9h is longer than 8h"), "{err}");
    let err = refused(&request(
        "ana@corp.io",
        AccessLevel::ReadOnly,
        "1h",
        &["orders-db/appdb/hr"],
    ));
    assert!(
        err.contains("resource \"orders-db/appdb/hr\" matches none of"),
        "{err}"
    );
    let err = refused(&request(
        "eve@evil.io",
        AccessLevel::ReadOnly,
        "1h",
        &["orders-db/appdb/sales"],
    ));
    assert!(err.contains("requester \"eve@evil.io\""), "{err}");

    // Approval: needed, not by oneself.
    let oncall = request("oncall-bob", AccessLevel::Admin, "1h", &["orders-db/appdb"]);
    assert!(refused(&oncall).contains("flow \"oncall\": needs an approver"));
    let own = AccessRequest::builder(
        "oncall-bob".parse().expect("u"),
        AccessLevel::Admin,
        "1h".parse().expect("d"),
    )
    .resource("orders-db/appdb".parse().expect("r"))
    .approved_by("oncall-bob")
    .build()
    .expect("request");
    assert!(refused(&own).contains("cannot approve their own request"));
    let approved = AccessRequest::builder(
        "oncall-bob".parse().expect("u"),
        AccessLevel::Admin,
        "1h".parse().expect("d"),
    )
    .resource("orders-db/appdb".parse().expect("r"))
    .approved_by("carol@corp.io")
    .build()
    .expect("request");
    assert_eq!(
        check_flows(flows, &approved)
            .expect("allowed")
            .map(|f| f.name.as_str()),
        Some("oncall")
    );

    // No flows: the caller decides.
    assert!(check_flows(&[], &ok).expect("no flows").is_none());
}

#[test]
fn approver_text_is_checked() {
    let bad = AccessRequest::builder(
        "bob".parse().expect("u"),
        AccessLevel::Admin,
        "1h".parse().expect("d"),
    )
    .resource("db/app".parse().expect("r"))
    .approved_by("carol\u{202E}")
    .build()
    .expect_err("invisible character");
    assert!(bad.to_string().starts_with("approved_by"), "{bad}");
}
