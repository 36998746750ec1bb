//! SecretsManagerSource against a real moto_server (pg_testkit::MotoServer).
#![cfg(feature = "aws")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pg_auth::{AuthError, CredentialSource, ExposeSecret, ManualClock, SecretsManagerSource};
use pg_testkit::MotoServer;

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("moto_server is required: {e}"))
}

/// Creates a secret and returns its ARN.
fn create_secret(moto: &MotoServer, name: &str, value: &str) -> String {
    let out = moto
        .boto3(&format!(
            "print(secrets.create_secret(Name={name:?}, SecretString={value:?})['ARN'])"
        ))
        .expect("boto3 create_secret on moto");
    out.trim().to_owned()
}

fn put_secret(moto: &MotoServer, name: &str, value: &str) {
    moto.boto3(&format!(
        "secrets.put_secret_value(SecretId={name:?}, SecretString={value:?})"
    ))
    .expect("boto3 put_secret_value on moto");
}

const RDS_JSON: &str = r#"{"username":"apono_connector","password":"pw-one","engine":"postgres","host":"db.abc.us-east-1.rds.amazonaws.com","port":5432,"dbname":"appdb"}"#;

#[tokio::test]
async fn rds_json_secret_by_name_and_by_arn() {
    let moto = moto();
    let config = moto.sdk_config();
    let arn = create_secret(&moto, "rds/conn", RDS_JSON);
    assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}");
    for id in ["rds/conn", arn.as_str()] {
        let source = SecretsManagerSource::new(&config, id).unwrap();
        let credential = source.credential().await.unwrap();
        assert_eq!(credential.user(), "apono_connector");
        assert_eq!(credential.secret().expose_secret(), "pw-one");
        assert_eq!(credential.expires_at(), None);
        let secret = source.secret().await.unwrap();
        assert_eq!(
            secret.host.as_deref(),
            Some("db.abc.us-east-1.rds.amazonaws.com")
        );
        assert_eq!(secret.port, Some(5432));
        assert_eq!(secret.dbname.as_deref(), Some("appdb"));
        assert_eq!(secret.engine.as_deref(), Some("postgres"));
        assert!(!format!("{source:?} {secret:?} {credential:?}").contains("pw-one"));
    }
}

#[tokio::test]
async fn plain_string_secret_uses_configured_user() {
    let moto = moto();
    let config = moto.sdk_config();
    create_secret(&moto, "plain", "just-a-password");
    let without_user = SecretsManagerSource::new(&config, "plain").unwrap();
    let err = without_user.credential().await.unwrap_err();
    assert!(matches!(err, AuthError::SecretFormat { .. }), "{err:?}");
    assert!(!err.to_string().contains("just-a-password"));
    let source = SecretsManagerSource::new(&config, "plain")
        .unwrap()
        .with_user("conn");
    let credential = source.credential().await.unwrap();
    assert_eq!(credential.user(), "conn");
    assert_eq!(credential.secret().expose_secret(), "just-a-password");
}

#[tokio::test]
async fn cached_for_ttl_then_reread_and_reread_after_auth_failure() {
    let moto = moto();
    let config = moto.sdk_config();
    create_secret(&moto, "rotating", RDS_JSON);
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000));
    let source = SecretsManagerSource::new(&config, "rotating")
        .unwrap()
        .with_ttl(Duration::from_secs(60))
        .with_clock(Arc::new(clock.clone()));
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-one"
    );

    put_secret(&moto, "rotating", &RDS_JSON.replace("pw-one", "pw-two"));
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-one",
        "still cached within the TTL"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-two"
    );

    put_secret(&moto, "rotating", &RDS_JSON.replace("pw-one", "pw-three"));
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-two"
    );
    assert!(source.on_auth_failure().await, "a re-read may help");
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-three"
    );
}

#[tokio::test]
async fn version_stage_and_missing_secret() {
    let moto = moto();
    let config = moto.sdk_config();
    create_secret(&moto, "staged", RDS_JSON);
    moto.boto3(&format!(
        "secrets.put_secret_value(SecretId='staged', SecretString={:?}, VersionStages=['AWSPENDING'])",
        RDS_JSON.replace("pw-one", "pending-pw")
    ))
    .unwrap();
    let pending = SecretsManagerSource::new(&config, "staged")
        .unwrap()
        .with_version_stage("AWSPENDING")
        .unwrap();
    assert_eq!(
        pending.credential().await.unwrap().secret().expose_secret(),
        "pending-pw"
    );
    let current = SecretsManagerSource::new(&config, "staged").unwrap();
    assert_eq!(
        current.credential().await.unwrap().secret().expose_secret(),
        "pw-one"
    );

    let missing = SecretsManagerSource::new(&config, "no-such-secret").unwrap();
    let err = missing.credential().await.unwrap_err();
    assert!(matches!(err, AuthError::SecretsManager { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-secret"), "{err}");
    assert!(SecretsManagerSource::new(&config, " ").is_err());
}

#[tokio::test]
async fn rotated_secret_is_picked_up_after_authentication_failure() {
    let moto = moto();
    let config = moto.sdk_config();
    let cluster =
        pg_testkit::TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is required: {e}"));
    let connector = cluster.connector();
    let json = |password: &str| {
        serde_json::json!({
            "username": connector.user, "password": password, "engine": "postgres",
            "host": cluster.host(), "port": cluster.port(), "dbname": "postgres"
        })
        .to_string()
    };
    create_secret(&moto, "rds/connector", &json(&connector.password));
    // A long TTL: only the authentication failure can make the source read again.
    let source = SecretsManagerSource::new(&config, "rds/connector")
        .unwrap()
        .with_ttl(Duration::from_secs(3600));
    let secret = source.secret().await.unwrap();
    let options = pg_auth::ConnectOptions::builder(secret.host.clone().unwrap())
        .port(secret.port.unwrap())
        .dbname(secret.dbname.clone().unwrap())
        .ssl_mode(pg_auth::SslMode::Disable)
        .build()
        .unwrap();
    let first = pg_auth::ping(&options, &source).await.unwrap();
    assert_eq!(first.user, connector.user);

    // Rotate in the database and in Secrets Manager.
    cluster
        .sql(
            "postgres",
            &format!("ALTER ROLE {} PASSWORD 'rotated-Secret-9'", connector.user),
        )
        .unwrap();
    put_secret(&moto, "rds/connector", &json("rotated-Secret-9"));

    let after = pg_auth::ping(&options, &source).await.unwrap();
    assert_eq!(after.user, connector.user);
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "rotated-Secret-9"
    );
}

/// Regression (found by tests/process_death.rs, `rotate:after-set`): a rotation's process died
/// with the `AWSPENDING` password set in the database and `AWSCURRENT` still the old one; the
/// restarted service's sweep and sync connected at once, both were refused with `AWSCURRENT`,
/// and the second rejection flipped the source's fallback back to `AWSCURRENT`, so that
/// connection failed again. What was rejected now decides: both go on with `AWSPENDING`.
#[tokio::test]
async fn two_connections_refused_with_awscurrent_at_once_both_fall_back_to_awspending() {
    let moto = moto();
    let config = moto.sdk_config();
    create_secret(&moto, "mid-rotation", RDS_JSON);
    moto.boto3(&format!(
        "secrets.put_secret_value(SecretId='mid-rotation', SecretString={:?}, VersionStages=['AWSPENDING'])",
        RDS_JSON.replace("pw-one", "pending-pw")
    ))
    .unwrap();
    let source = SecretsManagerSource::new(&config, "mid-rotation").unwrap();
    // Both connections take AWSCURRENT before either is refused.
    let first = source.credential().await.unwrap();
    let second = source.credential().await.unwrap();
    assert_eq!(first.secret().expose_secret(), "pw-one");
    assert!(source.on_rejected(&first).await);
    assert!(source.on_rejected(&second).await);
    let retry = source.credential().await.unwrap();
    assert_eq!(retry.secret().expose_secret(), "pending-pw");
    // AWSPENDING refused too (the rotation was undone): back to a fresh AWSCURRENT.
    assert!(source.on_rejected(&retry).await);
    assert_eq!(
        source.credential().await.unwrap().secret().expose_secret(),
        "pw-one"
    );
}
