//! Settings through the public API: the full example, both formats, every cross-field rule,
//! unknown keys, and round-trips.

use integration_model::error_chain;
use integration_model::{
    AccessDuration, AccessLevel, AccessRequest, AuthType, Endpoint, InstanceSelector, Integration,
    ModelError, Partition, ResourcePath, ResourceType, ResourceTypes, SecretRef, Settings, SslMode,
    TagFilter,
};

/// The example of the settings format, verbatim.
const FULL_TOML: &str = r#"
name = "orders-prod"
region = "us-east-1"
auth = "password"                  # or "iam"
connector_user = "apono_connector" # default
database = "postgres"              # default: the database the connector logs in to
ssl_mode = "verify-full"           # default "require"
ssl_root_cert = "/etc/ssl/rds-global-bundle.pem"
connector_rotation_days = 90       # the connector's own password
credentials_rotation_days = 30     # the generated users' passwords
user_cleanup_days = 14             # keep a revoked generated user 14 days
resource_types = ["database", "schema", "table"]
[instance]
id = "orders-db"                   # or: tags = { team = "orders", env = "prod" }
[secret]
id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf"  # or: env = "ORDERS_PW"
[endpoint]                         # optional: a fixed host and port, no discovery
host = "127.0.0.1"
port = 5432
[aws]                              # optional
endpoint_url = "http://127.0.0.1:5055"
profile = "ops"
"#;

const FULL_JSON: &str = r#"{
  "name": "orders-prod",
  "region": "us-east-1",
  "auth": "password",
  "connector_user": "apono_connector",
  "database": "postgres",
  "ssl_mode": "verify-full",
  "ssl_root_cert": "/etc/ssl/rds-global-bundle.pem",
  "connector_rotation_days": 90,
  "credentials_rotation_days": 30,
  "user_cleanup_days": 14,
  "resource_types": ["database", "schema", "table"],
  "instance": { "id": "orders-db" },
  "secret": { "id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf" },
  "endpoint": { "host": "127.0.0.1", "port": 5432 },
  "aws": { "endpoint_url": "http://127.0.0.1:5055", "profile": "ops" }
}"#;

/// A small valid integration to which each case adds or changes one thing.
const BASE: &str = "name = \"orders-prod\"\nregion = \"us-east-1\"\nauth = \"iam\"\n";

fn toml_err(text: &str) -> String {
    match Settings::from_toml_str(text) {
        Ok(settings) => panic!("accepted:\n{text}\n=> {settings:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn full_example_loads_with_every_value() {
    let settings = Settings::from_toml_str(FULL_TOML).unwrap();
    assert_eq!(settings.integrations().len(), 1);
    let i = settings.get("orders-prod").unwrap();
    assert_eq!(i.name().as_str(), "orders-prod");
    assert_eq!(i.region().as_str(), "us-east-1");
    assert_eq!(i.region().partition(), Partition::Aws);
    assert_eq!(i.auth(), AuthType::Password);
    assert_eq!(i.connector_user().as_str(), "apono_connector");
    assert_eq!(i.holder_role().as_str(), "rdspg_holder");
    assert_eq!(i.database().as_str(), "postgres");
    assert_eq!(i.ssl_mode(), SslMode::VerifyFull);
    assert_eq!(
        i.ssl_root_cert().unwrap().to_str(),
        Some("/etc/ssl/rds-global-bundle.pem")
    );
    assert_eq!(i.connector_rotation().unwrap().days(), 90);
    assert_eq!(i.credentials_rotation().unwrap().days(), 30);
    assert_eq!(i.user_cleanup().days(), 14);
    assert_eq!(i.resource_types(), ResourceTypes::all());
    assert_eq!(
        i.instance(),
        Some(&InstanceSelector::Id("orders-db".parse().unwrap()))
    );
    assert_eq!(i.single_instance().unwrap().as_str(), "orders-db");
    let Some(SecretRef::SecretsManager(secret)) = i.secret() else {
        panic!("{:?}", i.secret())
    };
    assert!(secret.is_arn());
    assert_eq!(i.endpoint().unwrap().to_string(), "127.0.0.1:5432");
    assert_eq!(
        i.aws().endpoint_url().unwrap().as_str(),
        "http://127.0.0.1:5055"
    );
    assert_eq!(i.aws().profile().unwrap().as_str(), "ops");
    assert!(i.endpoint_overrides().is_empty());
    assert!(settings.get("orders").is_none());
}

#[test]
fn toml_and_json_give_equal_values() {
    let from_toml = Settings::from_toml_str(FULL_TOML).unwrap();
    let from_json = Settings::from_json_str(FULL_JSON).unwrap();
    assert_eq!(from_toml, from_json);
}

#[test]
fn builder_gives_the_same_value_as_the_file() {
    let built = Integration::builder("orders-prod", "us-east-1".parse().unwrap())
        .auth(AuthType::Password)
        .ssl_mode(SslMode::VerifyFull)
        .ssl_root_cert("/etc/ssl/rds-global-bundle.pem")
        .connector_rotation("90".parse().unwrap())
        .credentials_rotation("30".parse().unwrap())
        .user_cleanup("14".parse().unwrap())
        .instance_id("orders-db".parse().unwrap())
        .secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf"
                .parse()
                .unwrap(),
        )
        .endpoint("127.0.0.1:5432".parse().unwrap())
        .aws_endpoint_url("http://127.0.0.1:5055".parse().unwrap())
        .aws_profile("ops".parse().unwrap())
        .build()
        .unwrap();
    let loaded = Settings::from_toml_str(FULL_TOML)
        .unwrap()
        .into_integrations();
    assert_eq!(loaded, vec![built]);
}

#[test]
fn defaults_apply() {
    let s = Settings::from_toml_str(&format!("{BASE}[instance]\nid = \"orders-db\"\n")).unwrap();
    let i = &s.integrations()[0];
    assert_eq!(i.connector_user().as_str(), "apono_connector");
    assert_eq!(i.database().as_str(), "postgres");
    assert_eq!(i.ssl_mode(), SslMode::Require);
    assert_eq!(i.resource_types(), ResourceTypes::all());
    assert!(i.credentials_rotation().is_none());
    assert!(i.connector_rotation().is_none());
    assert!(i.user_cleanup().drops_at_revocation());
    assert!(i.secret().is_none());
    assert!(i.aws().is_empty());
}

#[test]
fn serde_round_trips_in_both_formats() {
    let fleet = format!(
        "{BASE}resource_types = [\"table\", \"schema\"]\n\
         [endpoint_overrides]\n\"orders-a\" = \"[::1]:5432\"\norders-b = \"tunnel.local:15432\"\n\
         [instance]\ntags = {{ team = \"orders\", env = \"\" }}\ntag_keys = [\"backup\"]\n"
    );
    for text in [FULL_TOML, fleet.as_str()] {
        let settings = Settings::from_toml_str(text).unwrap();
        let toml_text = toml::to_string(&settings).unwrap();
        assert_eq!(
            Settings::from_toml_str(&toml_text).unwrap(),
            settings,
            "{toml_text}"
        );
        let json_text = serde_json::to_string_pretty(&settings).unwrap();
        assert_eq!(
            Settings::from_json_str(&json_text).unwrap(),
            settings,
            "{json_text}"
        );
        // The Deserialize impls apply the same checks as the loaders.
        assert_eq!(toml::from_str::<Settings>(&toml_text).unwrap(), settings);
        for integration in settings.integrations() {
            let one = serde_json::to_string(integration).unwrap();
            assert_eq!(
                &serde_json::from_str::<Integration>(&one).unwrap(),
                integration
            );
        }
    }
}

#[test]
fn deserialize_impl_reports_rule_errors() {
    let err = serde_json::from_str::<Integration>(
        r#"{"name":"x","region":"us-east-1","auth":"password","instance":{"id":"db"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("auth: \"password\" needs [secret]"),
        "{err}"
    );
}

#[test]
fn several_integrations() {
    let text = r#"
        [[integration]]
        name = "orders-prod"
        region = "us-east-1"
        auth = "password"
        instance = { id = "orders-db" }
        secret = { env = "ORDERS_PW" }

        [[integration]]
        name = "fleet-eu"
        region = "eu-west-3"
        auth = "iam"
        [integration.instance]
        tags = { team = "orders" }
        tag_keys = ["backup"]
        [integration.endpoint_overrides]
        orders-a = "10.0.0.5:5432"
    "#;
    let settings = Settings::from_toml_str(text).unwrap();
    let names: Vec<&str> = settings.iter().map(|i| i.name().as_str()).collect();
    assert_eq!(names, ["orders-prod", "fleet-eu"]);
    let fleet = settings.get("fleet-eu").unwrap();
    let filters: Vec<String> = fleet
        .tag_filters()
        .unwrap()
        .iter()
        .map(TagFilter::to_string)
        .collect();
    assert_eq!(filters, ["backup", "team=orders"]);
    assert!(fleet.single_instance().is_none());
    let a = "orders-a".parse().unwrap();
    assert_eq!(
        fleet.endpoint_override(&a).unwrap().to_string(),
        "10.0.0.5:5432"
    );
    assert_eq!(
        settings
            .get("orders-prod")
            .unwrap()
            .secret()
            .unwrap()
            .to_string(),
        "env:ORDERS_PW"
    );
}

#[test]
fn duplicate_integration_names_are_named() {
    let entry = "[[integration]]\nname = \"orders-prod\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"db\" }\n";
    assert_eq!(
        toml_err(&format!("{entry}{entry}")),
        "integration[1].name: duplicate \"orders-prod\""
    );
    let json = r#"{"integration": [
        {"name": "a", "region": "us-east-1", "auth": "iam", "instance": {"id": "db"}},
        {"name": "a", "region": "us-east-1", "auth": "iam", "instance": {"id": "db"}}]}"#;
    assert_eq!(
        Settings::from_json_str(json).unwrap_err().to_string(),
        "integration[1].name: duplicate \"a\""
    );
}

#[test]
fn entries_errors_carry_their_index() {
    let text = "[[integration]]\nname = \"a\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"db\" }\n\
                [[integration]]\nname = \"b\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"9db\" }\n";
    assert!(
        toml_err(text).starts_with("integration[1].instance.id: \"9db\" must start with a letter")
    );
    let text = "[[integration]]\nname = \"b\"\nregion = \"us-east-1\"\nauth = \"password\"\ninstance = { id = \"db\" }\n";
    assert!(toml_err(text).starts_with("integration[0].auth: \"password\" needs [secret]"));
}

#[test]
fn forms_cannot_be_mixed() {
    let text = "name = \"a\"\n[[integration]]\nname = \"b\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"db\" }\n";
    assert_eq!(
        toml_err(text),
        "name: cannot stand at the top level next to [[integration]] entries; move it into an entry"
    );
    assert!(
        toml_err("[integration]\nname = \"a\"\n")
            .starts_with("integration: expected an array of tables")
    );
    assert!(toml_err("integration = []\n").starts_with("integration: [] holds no integration"));
    assert_eq!(
        Settings::from_json_str(r#"{"integration": null}"#)
            .unwrap_err()
            .to_string(),
        "integration: expected an array of tables ([[integration]]), found null"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_path() {
    let cases = [
        (format!("{BASE}nmae = \"x\"\n[instance]\nid = \"db\"\n"), "nmae: unknown key; expected one of: name, region,"),
        (format!("{BASE}[instance]\ntgas = {{ a = \"b\" }}\n"), "instance.tgas: unknown key; expected one of: id, tags, tag_keys"),
        (format!("{BASE}[instance]\nid = \"db\"\n[endpoint]\nhots = \"x\"\nport = 1\n"), "endpoint.hots: unknown key; expected one of: host, port"),
        (format!("{BASE}[instance]\nid = \"db\"\n[aws]\nregoin = \"x\"\n"), "aws.regoin: unknown key; expected one of: endpoint_url, profile"),
        (
            "name = \"a\"\nregion = \"us-east-1\"\nauth = \"password\"\n[instance]\nid = \"db\"\n[secret]\narn = \"x\"\n".to_owned(),
            "secret.arn: unknown key; expected one of: id, env",
        ),
        (
            "[[integration]]\nname = \"a\"\nregion = \"us-east-1\"\nauth = \"iam\"\nsl_mode = \"require\"\ninstance = { id = \"db\" }\n".to_owned(),
            "integration[0].sl_mode: unknown key",
        ),
        ("colour = 1\n[[integration]]\nname = \"a\"\n".to_owned(), "colour: unknown key; expected one of: integration"),
    ];
    for (text, want) in cases {
        let got = toml_err(&text);
        assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
    }
    let json =
        r#"{"name":"a","region":"us-east-1","auth":"iam","instance":{"id":"db","extra":true}}"#;
    assert!(
        Settings::from_json_str(json)
            .unwrap_err()
            .to_string()
            .starts_with("instance.extra: unknown key")
    );
}

#[test]
fn cross_field_rules() {
    // (what the rule says, settings after BASE-like keys, expected message start)
    let cases: &[(&str, &str, &str)] = &[
        (
            "password auth needs a secret",
            "auth = \"password\"\n[instance]\nid = \"db\"\n",
            "auth: \"password\" needs [secret]",
        ),
        (
            "IAM auth takes no secret",
            "auth = \"iam\"\n[instance]\nid = \"db\"\n[secret]\nenv = \"PW\"\n",
            "secret: auth \"iam\" takes no secret",
        ),
        (
            "IAM auth needs TLS (RDS IAM database authentication requires SSL)",
            "auth = \"iam\"\nssl_mode = \"disable\"\n[instance]\nid = \"db\"\n",
            "ssl_mode: \"disable\" cannot carry auth \"iam\"",
        ),
        (
            "tags and instance id are exclusive",
            "auth = \"iam\"\n[instance]\nid = \"db\"\ntags = { team = \"orders\" }\n",
            "instance: id and tags are exclusive",
        ),
        (
            "tag_keys and instance id are exclusive too",
            "auth = \"iam\"\n[instance]\nid = \"db\"\ntag_keys = [\"team\"]\n",
            "instance: id and tags are exclusive",
        ),
        (
            "an instance or an endpoint is required",
            "auth = \"iam\"\n",
            "instance: missing; give instance.id, instance.tags (or instance.tag_keys), or a fixed [endpoint]",
        ),
        (
            "an empty [instance] selects nothing",
            "auth = \"iam\"\n[instance]\n",
            "instance: missing;",
        ),
        (
            "a fixed endpoint cannot serve a tag fleet",
            "auth = \"iam\"\n[instance]\ntags = { team = \"orders\" }\n[endpoint]\nhost = \"h\"\nport = 5432\n",
            "endpoint: a fixed endpoint cannot serve a fleet selected by tags",
        ),
        (
            "a CA bundle is pointless without TLS",
            "auth = \"password\"\nssl_mode = \"disable\"\nssl_root_cert = \"/ca.pem\"\n[instance]\nid = \"db\"\n[secret]\nenv = \"PW\"\n",
            "ssl_root_cert: ssl_mode \"disable\" never uses a CA bundle",
        ),
        (
            "secret id and env are exclusive",
            "auth = \"password\"\n[instance]\nid = \"db\"\n[secret]\nid = \"rds/x\"\nenv = \"PW\"\n",
            "secret: id and env are exclusive",
        ),
        (
            "an empty [secret] names nothing",
            "auth = \"password\"\n[instance]\nid = \"db\"\n[secret]\n",
            "secret: missing;",
        ),
        (
            "an override with a fixed endpoint",
            "auth = \"iam\"\nendpoint_overrides = { db = \"h:1\" }\n[instance]\nid = \"db\"\n[endpoint]\nhost = \"h\"\nport = 5432\n",
            "endpoint_overrides.db: cannot be used with a fixed [endpoint]",
        ),
        (
            "an override for an instance the integration does not select",
            "auth = \"iam\"\nendpoint_overrides = { other = \"h:1\" }\n[instance]\nid = \"db\"\n",
            "endpoint_overrides.other: names \"other\" but the integration selects only \"db\"",
        ),
        (
            "two overrides for one instance (identifiers are case-insensitive)",
            "auth = \"iam\"\nendpoint_overrides = { Orders-A = \"h:1\", orders-a = \"h:2\" }\n[instance]\ntags = { t = \"v\" }\n",
            "endpoint_overrides: duplicate \"orders-a\"",
        ),
        (
            "a tag key both by value and by presence",
            "auth = \"iam\"\n[instance]\ntags = { team = \"orders\" }\ntag_keys = [\"team\"]\n",
            "instance.tag_keys[0]: \"team\" is also in instance.tags",
        ),
        (
            "empty tag filters",
            "auth = \"iam\"\n[instance]\ntags = {}\n",
            "instance.tags: {} selects nothing",
        ),
        (
            "a reserved connector name",
            "auth = \"iam\"\nconnector_user = \"pg_monitor\"\n[instance]\nid = \"db\"\n",
            "connector_user: \"pg_monitor\" is reserved by PostgreSQL",
        ),
        (
            "a reserved holder name",
            "auth = \"iam\"\nholder_role = \"pg_read_all_data\"\n[instance]\nid = \"db\"\n",
            "holder_role: \"pg_read_all_data\" is reserved by PostgreSQL",
        ),
        (
            "the connector as holder: revoked users' objects would run with its rights",
            "auth = \"iam\"\nconnector_user = \"ops\"\nholder_role = \"ops\"\n[instance]\nid = \"db\"\n",
            "holder_role: cannot be the connector user",
        ),
        (
            "a holder prefix over 46 bytes: no room for `_` and 16 hex digits",
            "auth = \"iam\"\nholder_role = \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\"\n[instance]\nid = \"db\"\n",
            "holder_role: \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\" is 47 bytes long",
        ),
        (
            "a holder name over 63 bytes",
            "auth = \"iam\"\nholder_role = \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\"\n[instance]\nid = \"db\"\n",
            "holder_role: ",
        ),
    ];
    for (rule, rest, want) in cases {
        let text = format!("name = \"orders-prod\"\nregion = \"us-east-1\"\n{rest}");
        let got = toml_err(&text);
        assert!(got.starts_with(want), "{rule}: want {want:?}\n got {got:?}");
    }
}

#[test]
fn allowed_combinations() {
    let ok: &[(&str, &str)] = &[
        (
            "endpoint only: no discovery",
            "auth = \"password\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n[secret]\nenv = \"PW\"\n",
        ),
        (
            "instance and endpoint: discovery plus a tunnel",
            "auth = \"iam\"\n[instance]\nid = \"db\"\n[endpoint]\nhost = \"::1\"\nport = 6432\n",
        ),
        (
            "verify-ca accepts a CA bundle",
            "auth = \"iam\"\nssl_mode = \"verify-ca\"\nssl_root_cert = \"/ca.pem\"\n[instance]\nid = \"db\"\n",
        ),
        (
            "verify-full without a bundle uses the platform store",
            "auth = \"iam\"\nssl_mode = \"verify-full\"\n[instance]\nid = \"db\"\n",
        ),
        (
            "require with a bundle (libpq then verifies the chain)",
            "auth = \"iam\"\nssl_root_cert = \"/ca.pem\"\n[instance]\nid = \"db\"\n",
        ),
        (
            "password over disable (the user's choice)",
            "auth = \"password\"\nssl_mode = \"disable\"\n[instance]\nid = \"db\"\n[secret]\nid = \"rds/x\"\n",
        ),
        (
            "key-only tag filters",
            "auth = \"iam\"\n[instance]\ntag_keys = [\"team\"]\n",
        ),
        (
            "override of the selected instance",
            "auth = \"iam\"\nendpoint_overrides = { DB = \"h:1\" }\n[instance]\nid = \"db\"\n",
        ),
        (
            "JSON-style null counts as absent",
            "auth = \"iam\"\n[instance]\nid = \"db\"\n",
        ),
    ];
    for (what, rest) in ok {
        let text = format!("name = \"orders-prod\"\nregion = \"us-east-1\"\n{rest}");
        if let Err(err) = Settings::from_toml_str(&text) {
            panic!("{what}: {err}");
        }
    }
    let json = r#"{"name":"a","region":"us-east-1","auth":"iam","instance":{"id":"db"},"ssl_root_cert":null,"aws":null}"#;
    assert!(Settings::from_json_str(json).is_ok());
    // With both an instance and an endpoint, the instance still gives short resource paths.
    let text = format!("{BASE}[instance]\nid = \"db\"\n[endpoint]\nhost = \"::1\"\nport = 6432\n");
    let s = Settings::from_toml_str(&text).unwrap();
    let i = &s.integrations()[0];
    assert_eq!(i.endpoint().unwrap().to_string(), "[::1]:6432");
    assert_eq!(
        i.resource_path("app/public").unwrap().to_string(),
        "db/app/public"
    );
}

#[test]
fn value_errors_name_key_and_value() {
    let cases: &[(&str, &str)] = &[
        (
            "[instance]\nid = \"9orders\"\n",
            "instance.id: \"9orders\" must start with a letter",
        ),
        (
            "[instance]\nid = 5\n",
            "instance.id: expected text, found integer 5",
        ),
        (
            "ssl_mode = \"strict\"\n[instance]\nid = \"db\"\n",
            "ssl_mode: \"strict\" is not one of: disable allow prefer require verify-ca verify-full",
        ),
        (
            "credentials_rotation_days = 0\n[instance]\nid = \"db\"\n",
            "credentials_rotation_days: 0 is not a whole number of days in 1..=365",
        ),
        (
            "credentials_rotation_days = 400\n[instance]\nid = \"db\"\n",
            "credentials_rotation_days: 400 is not",
        ),
        (
            "credentials_rotation_days = 99999999999\n[instance]\nid = \"db\"\n",
            "credentials_rotation_days: 99999999999 is not",
        ),
        (
            "connector_rotation_days = 0\n[instance]\nid = \"db\"\n",
            "connector_rotation_days: 0 is not a whole number of days in 1..=365",
        ),
        (
            "connector_rotation_days = -3\n[instance]\nid = \"db\"\n",
            "connector_rotation_days: -3 is not",
        ),
        (
            "user_cleanup_days = 3651\n[instance]\nid = \"db\"\n",
            "user_cleanup_days: 3651 is not a whole number of days in 0..=3650",
        ),
        (
            "user_cleanup_days = -1\n[instance]\nid = \"db\"\n",
            "user_cleanup_days: -1 is not",
        ),
        (
            "user_cleanup_days = true\n[instance]\nid = \"db\"\n",
            "user_cleanup_days: expected an integer",
        ),
        (
            "credentials_rotation_days = \"30\"\n[instance]\nid = \"db\"\n",
            "credentials_rotation_days: expected an integer, found text \"30\"",
        ),
        (
            "resource_types = [\"database\", \"tables\"]\n[instance]\nid = \"db\"\n",
            "resource_types[1]: \"tables\" is not one of: database schema table",
        ),
        (
            "resource_types = []\n[instance]\nid = \"db\"\n",
            "resource_types: [] names no resource type",
        ),
        (
            "resource_types = [\"table\", \"table\"]\n[instance]\nid = \"db\"\n",
            "resource_types: duplicate \"table\"",
        ),
        (
            "database = \"\"\n[instance]\nid = \"db\"\n",
            "database: \"\" is empty",
        ),
        (
            "[instance]\nid = \"db\"\n[endpoint]\nhost = \"h\"\nport = 70000\n",
            "endpoint.port: 70000 is not a TCP port (1..=65535)",
        ),
        (
            "[instance]\nid = \"db\"\n[endpoint]\nhost = \"h\"\nport = \"5432\"\n",
            "endpoint.port: expected an integer, found text \"5432\"",
        ),
        (
            "[instance]\nid = \"db\"\n[endpoint]\nport = 5432\n",
            "endpoint.host: missing;",
        ),
        (
            "[instance]\nid = \"db\"\n[endpoint]\nhost = \"h\"\n",
            "endpoint.port: missing;",
        ),
        (
            "[instance]\nid = \"db\"\n[endpoint]\nhost = \"a b\"\nport = 1\n",
            "endpoint.host: \"a b\" contains ' '",
        ),
        (
            "[instance]\nid = \"db\"\n[aws]\nendpoint_url = \"127.0.0.1:5055\"\n",
            "aws.endpoint_url: \"127.0.0.1:5055\" must start with http:// or https://",
        ),
        (
            "[instance]\ntags = { \"a*\" = \"x\" }\n",
            "instance.tags: \"a*\" contains '*'",
        ),
        (
            "[instance]\ntags = { team = 1 }\n",
            "instance.tags.team: expected text, found integer 1",
        ),
        (
            "[instance]\ntag_keys = [\"\"]\n",
            "instance.tag_keys[0]: \"\" is empty",
        ),
        (
            "endpoint_overrides = { \"9x\" = \"h:1\" }\n[instance]\ntags = { t = \"v\" }\n",
            "endpoint_overrides: \"9x\" must start with a letter",
        ),
        (
            "endpoint_overrides = { x = \"::1:5432\" }\n[instance]\ntags = { t = \"v\" }\n",
            "endpoint_overrides.x: \"::1:5432\" has an IPv6 address without brackets",
        ),
        (
            "[instance]\nid = 1979-05-27\n",
            "instance.id: expected text, found date-time 1979-05-27",
        ),
        (
            "[instance]\nid = \"db\"\nregion = \"x\"\n",
            "instance.region: unknown key",
        ),
    ];
    for (rest, want) in cases {
        let text = format!("{BASE}{rest}");
        let got = toml_err(&text);
        assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
    }
    assert_eq!(
        toml_err("name = \"orders prod\"\nregion = \"us-east-1\"\n"),
        "name: \"orders prod\" contains ' '; use only ASCII letters, digits, '-' or '_'"
    );
    assert!(
        toml_err("name = \"a\"\nregion = \"us-esat-1\"\n")
            .starts_with("region: \"us-esat-1\" is not an AWS region")
    );
    assert!(toml_err("region = \"us-east-1\"\n").starts_with("name: missing;"));
    assert!(
        toml_err("name = \"a\"\nregion = \"us-east-1\"\n[instance]\nid = \"db\"\n")
            .starts_with("auth: missing;")
    );
    assert!(
        toml_err("name = \"a\"\nauth = \"IAM\"\nregion = \"us-east-1\"\n")
            .starts_with("auth: \"IAM\" is not one of: iam password")
    );
}

#[test]
fn syntax_errors_are_one_clean_line() {
    let err = Settings::from_toml_str("name = \"a\"\nregion = \n").unwrap_err();
    let ModelError::Syntax { format, line, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*format, *line), ("TOML", 2));
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    let err = error_chain(&Settings::from_json_str("{\"name\": }").unwrap_err());
    assert!(
        err.starts_with("JSON syntax error at line 1, column 10:"),
        "{err}"
    );
    let err = Settings::from_toml_str("name = \"a\"\nname = \"b\"\n").unwrap_err();
    assert!(matches!(err, ModelError::Syntax { line: 2, .. }), "{err}");
    assert!(
        Settings::from_json_str("[1]")
            .unwrap_err()
            .to_string()
            .starts_with("(document): expected a table")
    );
}

#[test]
fn builder_applies_the_same_rules() {
    let region = || "us-east-1".parse().unwrap();
    let err = Integration::builder("orders-prod", region())
        .auth(AuthType::Password)
        .instance_id("db".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("auth: \"password\" needs [secret]"),
        "{err}"
    );
    let err = Integration::builder("orders prod", region())
        .auth(AuthType::Iam)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("name"));
    let err = Integration::builder("a", region())
        .auth(AuthType::Iam)
        .instance_id("db".parse().unwrap())
        .tag("team=orders".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::Conflict { key, .. } if key == "instance"),
        "{err}"
    );
    let err = Integration::builder("a", region())
        .auth(AuthType::Iam)
        .tags(["team=orders".parse().unwrap(), "team".parse().unwrap()])
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "instance.tags: duplicate \"team\"");
    let err = Integration::builder("a", region())
        .instance_id("db".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, ModelError::MissingKey { .. }));
    let fleet = Integration::builder("a", region())
        .auth(AuthType::Iam)
        .tags(["team=orders".parse().unwrap(), "backup".parse().unwrap()])
        .endpoint_override("orders-a".parse().unwrap(), "[::1]:5432".parse().unwrap())
        .resource_types(ResourceTypes::new([ResourceType::Table]).unwrap())
        .build()
        .unwrap();
    assert!(fleet.resource_types().contains(ResourceType::Table));
    assert!(!fleet.resource_types().contains(ResourceType::Database));
    // Settings built in code refuse duplicate names too.
    let err = Settings::new([fleet.clone(), fleet])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "integration[1].name: duplicate \"a\"");
}

#[test]
fn resource_paths_follow_the_integration() {
    let single =
        Settings::from_toml_str(&format!("{BASE}[instance]\nid = \"orders-db\"\n")).unwrap();
    let single = &single.integrations()[0];
    assert_eq!(
        single.resource_path("app").unwrap().to_string(),
        "orders-db/app"
    );
    assert!(single.resource_path("orders-db/app/public/t").is_err());
    let fleet =
        Settings::from_toml_str(&format!("{BASE}[instance]\ntags = {{ t = \"v\" }}\n")).unwrap();
    let fleet = &fleet.integrations()[0];
    let p = fleet.resource_path("orders-a/app/public").unwrap();
    assert_eq!(p.instance().as_str(), "orders-a");
    assert!(fleet.resource_path("app").is_err());
}

#[test]
fn access_request_json_round_trip() {
    let request = AccessRequest::builder(
        "alice@corp".parse().unwrap(),
        AccessLevel::ReadOnly,
        "1h30m".parse().unwrap(),
    )
    .resources([
        "orders-db/app/public".parse::<ResourcePath>().unwrap(),
        "orders-db/\"my/db\"/s/\"t\"\"x\"".parse().unwrap(),
    ])
    .reason("incident 4711")
    .request_id("JIRA-4711".parse().unwrap())
    .build()
    .unwrap();
    let json = serde_json::to_string(&request).unwrap();
    assert!(json.contains(r#""duration":"1h30m""#), "{json}");
    assert!(json.contains(r#""level":"read-only""#), "{json}");
    assert_eq!(
        serde_json::from_str::<AccessRequest>(&json).unwrap(),
        request
    );
    let unknown =
        r#"{"grantee":"a","resources":["db/x"],"level":"admin","duration":"2h","ttl":"1h"}"#;
    assert!(
        serde_json::from_str::<AccessRequest>(unknown)
            .unwrap_err()
            .to_string()
            .contains("unknown field `ttl`")
    );
    let empty = r#"{"grantee":"a","resources":[],"level":"admin","duration":"2h"}"#;
    assert!(
        serde_json::from_str::<AccessRequest>(empty)
            .unwrap_err()
            .to_string()
            .starts_with("resources: missing")
    );
    let long = r#"{"grantee":"a","resources":["db/x"],"level":"admin","duration":"366d"}"#;
    assert!(
        serde_json::from_str::<AccessRequest>(long)
            .unwrap_err()
            .to_string()
            .contains("maximum, 365d")
    );
    assert_eq!(request.duration(), AccessDuration::from_secs(5400).unwrap());
}

#[test]
fn endpoint_values() {
    let e: Endpoint = "[2001:db8::1]:5432".parse().unwrap();
    assert_eq!(e.host().ip().unwrap().to_string(), "2001:db8::1");
    assert_eq!(e.to_string(), "[2001:db8::1]:5432");
}
