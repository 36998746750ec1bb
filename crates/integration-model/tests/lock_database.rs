//! `lock_database`: where the connector takes its advisory locks (issue 14).

use integration_model::{DEFAULT_LOCK_DATABASE, Settings};

const BASE: &str = "name = \"orders\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
                    database = \"appdb\"\n[secret]\nenv = \"PW\"\n\
                    [endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n";

#[test]
fn defaults_to_postgres_whatever_the_home_database() {
    let settings = Settings::from_toml_str(BASE).unwrap();
    let integration = &settings.integrations()[0];
    assert_eq!(integration.database().as_str(), "appdb");
    assert_eq!(integration.lock_database().as_str(), DEFAULT_LOCK_DATABASE);
    assert_eq!(DEFAULT_LOCK_DATABASE, "postgres");
}

#[test]
fn is_read_validated_and_written_back() {
    let text = format!("lock_database = \"locks\"\n{BASE}");
    let settings = Settings::from_toml_str(&text).unwrap();
    let integration = &settings.integrations()[0];
    assert_eq!(integration.lock_database().as_str(), "locks");
    let json = serde_json::to_value(integration).unwrap();
    assert_eq!(json["lock_database"], "locks");
    let back: integration_model::Integration = serde_json::from_value(json).unwrap();
    assert_eq!(&back, integration);

    for bad in [
        "\"\"",
        "\"a\\u0000b\"",
        &format!("\"{}\"", "x".repeat(64)),
        "5",
    ] {
        let text = format!("lock_database = {bad}\n{BASE}");
        let err = Settings::from_toml_str(&text).unwrap_err();
        assert!(err.to_string().contains("lock_database"), "{bad}: {err}");
    }
}
