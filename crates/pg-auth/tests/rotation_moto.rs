//! SecretsManagerRotation against a real moto_server, and SecretsManagerSource's AWSPENDING
//! fallback against moto and a real cluster.
#![cfg(feature = "aws")]

use std::time::Duration;

use pg_auth::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, AuthError, ConnectOptions, ExposeSecret,
    SecretsManagerRotation, SecretsManagerSource, SslMode,
};
use pg_testkit::{MotoServer, TestCluster};

#[tokio::test]
async fn the_four_stage_moves_and_the_pending_fallback() {
    let moto = MotoServer::start()
        .unwrap_or_else(|e| panic!("moto_server is required (pip install 'moto[server]'): {e}"));
    let cluster = TestCluster::start().unwrap_or_else(|e| panic!("PostgreSQL is required: {e}"));
    let config = moto.sdk_config();
    let connector = cluster.connector();
    let json = serde_json::json!({
        "username": connector.user, "password": connector.password, "engine": "postgres",
        "host": cluster.host(), "port": cluster.port(), "dbname": "postgres"
    })
    .to_string();
    moto.boto3(&format!(
        "secrets.create_secret(Name='rds/conn', SecretString={json:?})"
    ))
    .expect("create the secret");

    let rotation = SecretsManagerRotation::new(&config, "rds/conn").expect("id");
    let stages = rotation.describe().await.expect("describe");
    assert!(stages.pending().is_none());
    let current = rotation.version(AWSCURRENT).await.expect("current");
    assert_eq!(stages.current(), Some(current.version_id.as_str()));
    assert!(
        current.created.is_some(),
        "GetSecretValue gives CreatedDate"
    );

    // Step 1: a pending version with only the password changed.
    let new_password = "N3w-rotated-password-0123456789";
    let id = rotation
        .put_pending(&current, &new_password.to_owned().into())
        .await
        .expect("put pending");
    let stages = rotation.describe().await.expect("describe");
    assert_eq!(stages.pending(), Some(id.as_str()));
    assert_eq!(stages.current(), Some(current.version_id.as_str()));
    let pending = rotation.version(AWSPENDING).await.expect("pending");
    assert_eq!(pending.version_id, id);
    assert_eq!(pending.secret.password.expose_secret(), new_password);
    assert_eq!(pending.secret.username, connector.user);
    assert_eq!(pending.secret.host.as_deref(), Some(cluster.host()));
    assert_eq!(pending.secret.port, Some(cluster.port()));

    // Step 2 done by hand: the database has the pending password.
    let options = ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(SslMode::Disable)
        .build()
        .expect("options");
    let source = SecretsManagerSource::new(&config, "rds/conn")
        .expect("source")
        .with_ttl(Duration::from_secs(3600));
    pg_auth::ping(&options, &source)
        .await
        .expect("AWSCURRENT logs in before");
    cluster
        .sql(
            "postgres",
            &format!("ALTER ROLE {} PASSWORD '{new_password}'", connector.user),
        )
        .expect("set the pending password");
    for round in 0..2 {
        let report = pg_auth::ping(&options, &source)
            .await
            .unwrap_or_else(|e| panic!("round {round}: AWSPENDING must log in: {e}"));
        assert_eq!(report.user, connector.user);
    }
    let strict = SecretsManagerSource::new(&config, "rds/conn")
        .expect("source")
        .without_pending_fallback();
    let err = pg_auth::ping(&options, &strict)
        .await
        .expect_err("without the fallback AWSCURRENT is rejected");
    assert!(err.is_authentication_failure(), "{err}");

    // Step 4: AWSCURRENT moves, the old version becomes AWSPREVIOUS, AWSPENDING goes.
    rotation
        .promote(&id, &current.version_id)
        .await
        .expect("promote");
    rotation.clear_pending(&id).await.expect("clear pending");
    let stages = rotation.describe().await.expect("describe");
    assert_eq!(stages.current(), Some(id.as_str()));
    assert_eq!(stages.pending(), None);
    assert_eq!(
        stages.version_with(AWSPREVIOUS),
        Some(current.version_id.as_str())
    );
    let after = SecretsManagerSource::new(&config, "rds/conn").expect("source");
    pg_auth::ping(&options, &after)
        .await
        .expect("the new AWSCURRENT logs in");
    pg_auth::ping(&options, &source)
        .await
        .expect("the long-lived source too");

    // Failures name the call and the secret, never a value.
    let missing = SecretsManagerRotation::new(&config, "no-such-secret").expect("id");
    let err = missing
        .put_pending(&current, &new_password.to_owned().into())
        .await
        .expect_err("no such secret");
    assert!(matches!(err, AuthError::SecretRotation { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("PutSecretValue") && text.contains("no-such-secret"),
        "{text}"
    );
    assert!(!text.contains(new_password));
    assert!(SecretsManagerRotation::new(&config, " ").is_err());
}
