//! `check` reports a credential that could reach a server whose identity is not verified:
//! an IAM integration (tokens are always sent as cleartext passwords) without a verifying
//! mode, and a password integration with the lab opt-out; each with the fix (verify-full and
//! the RDS CA bundle). Against a man in the middle asking for a cleartext password, the login
//! item fails with the same fix and the fake server receives nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rds_pg_access::integration_model::{AuthType, Endpoint, Integration, SecretRef, SslMode};
use rds_pg_access::pg_auth::{CredentialSource, SecretString, StaticPassword};
use rds_pg_access::rds_discovery::StaticDirectory;
use rds_pg_access::{AccessError, AccessManager, CheckReport, ConnectorCredentials, Target};

const BUNDLE_URL: &str = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

/// The same password for every target (the test's stand-in for a token or a secret).
#[derive(Debug)]
struct Fixed(Arc<StaticPassword>);

impl ConnectorCredentials for Fixed {
    fn source_for(&self, _target: &Target) -> Result<Arc<dyn CredentialSource>, AccessError> {
        Ok(self.0.clone())
    }
}

fn integration(auth: AuthType, port: u16) -> rds_pg_access::integration_model::IntegrationBuilder {
    let mut b = Integration::builder("tls-check", "us-east-1".parse().expect("region"))
        .auth(auth)
        .endpoint(Endpoint::new("localhost".parse().expect("host"), port).expect("endpoint"));
    if auth == AuthType::Password {
        b = b.secret(SecretRef::Env(
            "UNUSED_IN_THIS_TEST".parse().expect("env name"),
        ));
    }
    b
}

async fn check(integration: Integration, user: &str, password: &str) -> CheckReport {
    let credentials = Fixed(Arc::new(StaticPassword::new(
        user,
        SecretString::from(password.to_owned()),
    )));
    AccessManager::new(
        integration,
        Arc::new(StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
    .check()
    .await
    .expect("check")
}

fn item<'a>(report: &'a CheckReport, name: &str) -> &'a rds_pg_access::CheckItem {
    report
        .items
        .iter()
        .find(|i| i.item == name)
        .unwrap_or_else(|| panic!("no {name} item in {report:#?}"))
}

#[tokio::test]
async fn check_reports_unverified_credential_paths_with_the_fix() {
    let cluster = pg_testkit::TestCluster::builder()
        .ssl(true)
        .start()
        .expect("PostgreSQL with TLS is required");
    let connector = cluster.connector().clone();
    let ca = cluster.ca_cert_path().expect("CA").to_path_buf();

    // A man in the middle that answers 'N' to the SSLRequest of `prefer` (which IAM
    // integrations accept) and asks for the password in cleartext.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mitm_port = listener.local_addr().expect("addr").port();
    let fake = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let read_message = |socket: &mut std::net::TcpStream| {
            let mut len = [0u8; 4];
            socket.read_exact(&mut len).expect("length");
            let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
            socket.read_exact(&mut body).expect("body");
            body
        };
        let first = read_message(&mut socket);
        if first == [4, 210, 22, 47] {
            socket.write_all(b"N").expect("N");
            read_message(&mut socket);
        }
        socket
            .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
            .expect("cleartext request");
        let mut received = Vec::new();
        let _ = socket.read_to_end(&mut received);
        received
    });
    let iam = integration(AuthType::Iam, mitm_port)
        .ssl_mode(SslMode::Prefer)
        .build()
        .expect("integration");
    let report = check(iam, "apono_connector", "signed-iam-token-value").await;
    let received = fake.join().expect("fake server");
    assert!(received.is_empty(), "the token reached the fake server");
    let tls = item(&report, "tls-verify");
    assert!(!tls.ok, "{tls:?}");
    assert!(tls.detail.contains("cleartext"), "{tls:?}");
    assert!(
        tls.fix
            .as_deref()
            .is_some_and(|f| f.contains("verify-full") && f.contains(BUNDLE_URL)),
        "{tls:?}"
    );
    let login = item(&report, "login");
    assert!(!login.ok, "{login:?}");
    assert!(
        login.fix.as_deref().is_some_and(|f| f.contains(BUNDLE_URL)),
        "{login:?}"
    );

    // IAM with verify-full and a CA bundle: verified (the login itself uses SCRAM here).
    let verified = integration(AuthType::Iam, cluster.port())
        .ssl_mode(SslMode::VerifyFull)
        .ssl_root_cert(&ca)
        .build()
        .expect("integration");
    let report = check(verified, &connector.user, &connector.password).await;
    assert!(item(&report, "tls-verify").ok, "{report:#?}");
    assert!(item(&report, "login").ok, "{report:#?}");

    // Password auth over unverified TLS: fine while only SCRAM is answered ...
    let scram_only = integration(AuthType::Password, cluster.port())
        .ssl_mode(SslMode::Require)
        .build()
        .expect("integration");
    let report = check(scram_only, &connector.user, &connector.password).await;
    let tls = item(&report, "tls-verify");
    assert!(tls.ok && tls.detail.contains("SCRAM"), "{tls:?}");
    assert!(item(&report, "login").ok, "{report:#?}");

    // ... and a problem with the lab opt-out.
    let opted_out = integration(AuthType::Password, cluster.port())
        .ssl_mode(SslMode::Require)
        .allow_unverified_password(true)
        .build()
        .expect("integration");
    let report = check(opted_out, &connector.user, &connector.password).await;
    let tls = item(&report, "tls-verify");
    assert!(!tls.ok, "{tls:?}");
    assert!(
        tls.fix
            .as_deref()
            .is_some_and(|f| f.contains("remove allow_unverified_password")),
        "{tls:?}"
    );
}
