//! Secrets never appear in Debug, Display, errors or tracing output.
#![cfg(feature = "aws")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, future};
use pg_auth::{
    ConnectOptions, CredentialSource, EnvPassword, ExposeSecret, IamTokenSource, ManualClock, Pool,
    PoolOptions, RootCertificates, SecretsManagerSource, SslMode, StaticPassword, TokenRequest,
};
use pg_testkit::{MotoServer, TLS_VERSIONS, TestCluster};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[derive(Debug)]
struct FixedProvider;

impl ProvideCredentials for FixedProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Ok(Credentials::new(
            "AKIDREDACTIONTEST",
            "aws-secret-key-should-never-show",
            Some("session-token-should-never-show".into()),
            None,
            "fixed",
        )))
    }
}

const PG_WRONG: &str = "wrong-password-should-never-show";
const SM_SECRET: &str = "secrets-manager-password-should-never-show";
const ENV_SECRET: &str = env!("CARGO_PKG_DESCRIPTION");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_debug_display_errors_or_traces() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cluster = TestCluster::builder()
        .version(TLS_VERSIONS[0])
        .ssl(true)
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL with TLS is required: {e}"));
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("moto_server is required: {e}"));
    let connector = cluster.connector().clone();
    let options = ConnectOptions::builder(cluster.host())
        .port(cluster.port())
        .ssl_mode(SslMode::VerifyFull)
        .root_certificates(
            RootCertificates::from_pem_file(cluster.ca_cert_path().unwrap()).unwrap(),
        )
        .build()
        .unwrap();

    let mut rendered = Vec::new();
    let mut secrets = vec![
        connector.password.clone(),
        PG_WRONG.to_owned(),
        SM_SECRET.to_owned(),
        ENV_SECRET.to_owned(),
        "aws-secret-key-should-never-show".to_owned(),
        "session-token-should-never-show".to_owned(),
    ];

    // Static password: right and wrong.
    let good = StaticPassword::new(&connector.user, connector.password.clone().into());
    rendered.push(format!("{good:?}"));
    let conn = pg_auth::connect(&options, &good).await.unwrap();
    rendered.push(format!("{conn:?} {options:?}"));
    let bad = StaticPassword::new(&connector.user, PG_WRONG.into());
    let err = pg_auth::connect(&options, &bad).await.unwrap_err();
    rendered.push(format!(
        "{err} {err:?} {:?}",
        std::error::Error::source(&err)
    ));
    let credential = bad.credential().await.unwrap();
    rendered.push(format!("{credential:?}"));

    // Pool.
    let pool = Pool::new(
        options.clone(),
        Arc::new(good.clone()),
        PoolOptions::default(),
    )
    .unwrap();
    let pooled = pool.get().await.unwrap();
    rendered.push(format!("{pool:?} {:?}", &*pooled));
    drop(pooled);

    // Environment variable: `set_var` is unsafe in edition 2024 (and unsafe code is forbidden
    // here), so read one that cargo sets for every test run and treat its value as the secret.
    let env = EnvPassword::new(&connector.user, "CARGO_PKG_DESCRIPTION");
    let cred = env.credential().await.unwrap();
    assert_eq!(cred.secret().expose_secret(), ENV_SECRET);
    let missing = EnvPassword::new(&connector.user, "PG_AUTH_SURELY_UNSET_VARIABLE");
    let err = missing.credential().await.unwrap_err();
    assert!(err.to_string().contains("PG_AUTH_SURELY_UNSET_VARIABLE"));
    rendered.push(format!("{env:?} {cred:?}"));

    // IAM token.
    let iam = IamTokenSource::new(
        TokenRequest::new(
            "db.x.eu-west-1.rds.amazonaws.com",
            5432,
            "bob+ops@corp.io",
            "eu-west-1",
        )
        .unwrap(),
        FixedProvider,
    )
    .with_clock(Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
    )));
    let token = iam.credential().await.unwrap();
    let signature = token
        .secret()
        .expose_secret()
        .rsplit("X-Amz-Signature=")
        .next()
        .unwrap()
        .to_owned();
    secrets.push(token.secret().expose_secret().to_owned());
    secrets.push(signature);
    rendered.push(format!("{iam:?} {token:?}"));

    // Secrets Manager.
    moto.boto3(&format!(
        "secrets.create_secret(Name='redaction', SecretString='{{\"username\":\"u\",\"password\":\"{SM_SECRET}\"}}')"
    ))
    .unwrap();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(moto.region().to_owned()))
        .endpoint_url(moto.endpoint_url())
        .credentials_provider(Credentials::new(
            moto.access_key_id(),
            moto.secret_access_key(),
            None,
            None,
            "moto",
        ))
        .load()
        .await;
    let sm = SecretsManagerSource::new(&config, "redaction").unwrap();
    let secret = sm.secret().await.unwrap();
    assert_eq!(secret.password.expose_secret(), SM_SECRET);
    rendered.push(format!(
        "{sm:?} {secret:?} {:?}",
        sm.credential().await.unwrap()
    ));

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("pg.connect"), "the capture works: {logs}");
    assert!(
        logs.contains("aws.secretsmanager.get_secret_value"),
        "the capture works"
    );
    let everything = format!("{}\n{logs}", rendered.join("\n"));
    assert!(everything.contains("[redacted]"));
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret leaked: {secret:?}"
        );
    }
}
