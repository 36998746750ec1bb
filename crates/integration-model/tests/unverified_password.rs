//! `allow_unverified_password`: off by default, a boolean, refused where it could never apply;
//! `verifies_server` says when a cleartext password (every IAM token) may be sent.

use integration_model::Settings;

const BASE: &str = r#"
name = "orders-lab"
region = "us-east-1"
auth = "iam"
[instance]
id = "orders-db"
"#;

fn parse(extra: &str) -> Result<Settings, integration_model::ModelError> {
    Settings::from_toml_str(&format!("{extra}\n{BASE}"))
}

#[test]
fn off_by_default_and_verification_needs_a_bundle_and_a_tls_only_mode() {
    let settings = parse("").expect("defaults");
    let integration = &settings.integrations()[0];
    assert!(!integration.allow_unverified_password());
    // Default ssl_mode "require" without a CA bundle verifies nothing.
    assert!(!integration.verifies_server());

    let rows = [
        (
            "ssl_mode = \"verify-full\"\nssl_root_cert = \"/b.pem\"",
            true,
        ),
        ("ssl_mode = \"verify-ca\"\nssl_root_cert = \"/b.pem\"", true),
        ("ssl_mode = \"require\"\nssl_root_cert = \"/b.pem\"", true),
        // prefer/allow fall back to plaintext: never verified.
        ("ssl_mode = \"prefer\"\nssl_root_cert = \"/b.pem\"", false),
        ("ssl_mode = \"allow\"\nssl_root_cert = \"/b.pem\"", false),
        ("ssl_mode = \"require\"", false),
    ];
    for (extra, verifies) in rows {
        let settings = parse(extra).expect(extra);
        assert_eq!(
            settings.integrations()[0].verifies_server(),
            verifies,
            "{extra}"
        );
    }
}

#[test]
fn the_opt_out_is_a_boolean_and_refused_where_it_cannot_apply() {
    let settings = parse("allow_unverified_password = true").expect("lab setting");
    assert!(settings.integrations()[0].allow_unverified_password());

    let error = parse("allow_unverified_password = \"yes\"").expect_err("not a boolean");
    assert_eq!(error.key(), Some("allow_unverified_password"), "{error}");
    assert!(error.to_string().contains("true or false"), "{error}");

    let error = parse(
        "allow_unverified_password = true\nssl_mode = \"verify-full\"\nssl_root_cert = \"/b.pem\"",
    )
    .expect_err("no effect");
    assert_eq!(error.key(), Some("allow_unverified_password"), "{error}");
    assert!(error.to_string().contains("has no effect"), "{error}");
}
