//! A hostile network: whoever answers at the server's address may ask for the password in a
//! form that reveals it (cleartext, the form RDS IAM tokens take; MD5). pg-auth never answers
//! such a request unless the server's identity was verified (TLS with a checked chain).
//!
//! - A fake server (a man in the middle speaking just enough of the protocol, with TLS and a
//!   certificate the client cannot check) asks for a cleartext or MD5 password and records
//!   every byte it receives: nothing of the secret arrives, the error names the fix. The same
//!   fake server does receive the password when the lab opt-out is set, so it can see one.
//! - Real PostgreSQL with `password` and `md5` in pg_hba.conf: refused over unverified TLS,
//!   accepted with verify-full and the right CA; SCRAM over unverified TLS still works.
//! - CA bundle files are read with a size bound and only when they are regular files.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use pg_auth::{AuthError, ConnectOptions, RootCertificates, SecretString, SslMode, StaticPassword};
use pg_testkit::{TLS_VERSIONS, TestCluster, for_each_version};

/// What the fake server asks for.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Cleartext,
    Md5,
}

/// How the fake server answers an SSLRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FakeTls {
    /// 'S' and a TLS handshake with a certificate the client has no root for.
    Yes,
    /// 'N' (or no SSLRequest at all): the protocol goes on in the clear.
    No,
}

const SECRET: &str = "iam-token-or-password-7f3a9c";

fn read_message(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; len.saturating_sub(4)];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Speaks the startup of the protocol: answers the SSLRequest, reads the StartupMessage,
/// sends the authentication request, then records everything the client sends until it
/// closes the connection (or 20 s pass).
fn serve(
    mut socket: TcpStream,
    tls: FakeTls,
    ask: Ask,
    identity: Option<native_tls::Identity>,
) -> Vec<u8> {
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let first = read_message(&mut socket).expect("first message");
    let mut stream: Box<dyn ReadWrite> = if first == [4, 210, 22, 47] {
        // SSLRequest (80877103).
        if tls == FakeTls::Yes {
            socket.write_all(b"S").expect("S");
            let acceptor =
                native_tls::TlsAcceptor::new(identity.expect("identity")).expect("acceptor");
            let mut tls = acceptor.accept(socket).expect("handshake");
            read_message(&mut tls).expect("startup");
            Box::new(tls)
        } else {
            socket.write_all(b"N").expect("N");
            read_message(&mut socket).expect("startup");
            Box::new(socket)
        }
    } else {
        Box::new(socket)
    };
    let request: Vec<u8> = match ask {
        Ask::Cleartext => vec![b'R', 0, 0, 0, 8, 0, 0, 0, 3],
        Ask::Md5 => vec![b'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4],
    };
    stream.write_all(&request).expect("auth request");
    stream.flush().expect("flush");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                // A PasswordMessage is all a client sends next; stop once it is complete.
                if received.len() >= 5 {
                    let len =
                        u32::from_be_bytes([received[1], received[2], received[3], received[4]])
                            as usize;
                    if received.len() > len {
                        break;
                    }
                }
            }
        }
    }
    received
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A fake server on 127.0.0.1 for one connection; the handle yields what the client sent
/// after the authentication request.
fn fake_server(tls: FakeTls, ask: Ask, cluster: &TestCluster) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let identity = (tls == FakeTls::Yes).then(|| {
        let cert = cluster.server_cert_path().expect("TLS cluster");
        let key = cert.with_file_name("server.key");
        native_tls::Identity::from_pkcs8(
            &std::fs::read(cert).expect("cert"),
            &std::fs::read(key).expect("key"),
        )
        .expect("identity")
    });
    let handle = std::thread::spawn(move || {
        let (socket, _) = listener.accept().expect("accept");
        serve(socket, tls, ask, identity)
    });
    (port, handle)
}

fn source() -> StaticPassword {
    StaticPassword::new("apono_connector", SecretString::from(SECRET.to_owned()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn tls_cluster() -> TestCluster {
    TestCluster::builder()
        .version(TLS_VERSIONS[0])
        .ssl(true)
        .config_line("log_connections = on")
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL with TLS is required: {e}"))
}

/// Every SSL mode that does not verify the server, against a man in the middle asking for
/// the password in cleartext or MD5: the connection fails with the typed error and the fake
/// server receives nothing at all after its request (not a PasswordMessage, not the secret).
#[tokio::test]
async fn an_unverified_server_asking_for_a_revealing_password_gets_nothing() {
    let cluster = tls_cluster();
    let cells = [
        (SslMode::Require, FakeTls::Yes, Ask::Cleartext),
        (SslMode::Require, FakeTls::Yes, Ask::Md5),
        (SslMode::Prefer, FakeTls::Yes, Ask::Cleartext),
        (SslMode::Prefer, FakeTls::No, Ask::Cleartext),
        (SslMode::Allow, FakeTls::No, Ask::Md5),
        (SslMode::Disable, FakeTls::No, Ask::Cleartext),
        (SslMode::Disable, FakeTls::No, Ask::Md5),
    ];
    for (mode, tls, ask) in cells {
        let (port, server) = fake_server(tls, ask, &cluster);
        let options = ConnectOptions::builder("127.0.0.1")
            .port(port)
            .ssl_mode(mode)
            .build()
            .expect("options");
        let result = pg_auth::connect(&options, &source()).await;
        let received = server.join().expect("fake server");
        let cell = format!("{mode}/{tls:?}/{ask:?}");
        assert!(
            !contains(&received, SECRET.as_bytes()),
            "{cell}: the secret reached the fake server"
        );
        assert!(
            received.is_empty(),
            "{cell}: the client answered the request ({} bytes)",
            received.len()
        );
        let error = result.expect_err(&cell);
        let text = error.to_string();
        assert!(
            matches!(error, AuthError::UnverifiedServer { .. }),
            "{cell}: {error:?}"
        );
        assert!(text.contains(&format!("sslmode={mode}")), "{cell}: {text}");
        assert!(text.contains("verify-full"), "{cell}: {text}");
        assert!(
            text.contains("https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"),
            "{cell}: {text}"
        );
        assert!(!text.contains(SECRET), "{cell}: {text}");
    }
}

/// The control: with the documented lab opt-out, the same fake server does receive the
/// password (so the test above would see one if it were sent).
#[tokio::test]
async fn the_lab_opt_out_sends_the_password_and_the_fake_server_sees_it() {
    let cluster = tls_cluster();
    for (mode, tls) in [
        (SslMode::Require, FakeTls::Yes),
        (SslMode::Disable, FakeTls::No),
    ] {
        let (port, server) = fake_server(tls, Ask::Cleartext, &cluster);
        let options = ConnectOptions::builder("127.0.0.1")
            .port(port)
            .ssl_mode(mode)
            .allow_unverified_password(true)
            .build()
            .expect("options");
        let result = pg_auth::connect(&options, &source()).await;
        let received = server.join().expect("fake server");
        assert_eq!(received.first(), Some(&b'p'), "{mode}: a PasswordMessage");
        assert!(contains(&received, SECRET.as_bytes()), "{mode}");
        assert!(result.is_err(), "{mode}: the fake server never says OK");
    }
}

/// Replaces the host lines of pg_hba.conf with `method` and reloads.
fn hba_method(cluster: &TestCluster, method: &str) {
    let path = cluster.data_dir().join("pg_hba.conf");
    let hba = std::fs::read_to_string(&path).expect("read hba");
    let rewritten: String = hba
        .lines()
        .map(|line| {
            if line.starts_with("host") {
                format!("{}\n", line.replace("scram-sha-256", method))
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&path, rewritten).expect("write hba");
    cluster
        .sql("postgres", "SELECT pg_catalog.pg_reload_conf()")
        .expect("reload");
}

fn real_options(cluster: &TestCluster, mode: SslMode, ca: Option<&Path>) -> ConnectOptions {
    let mut builder = ConnectOptions::builder("localhost")
        .port(cluster.port())
        .ssl_mode(mode);
    if let Some(ca) = ca {
        builder = builder.root_certificates(RootCertificates::from_pem_file(ca).expect("CA"));
    }
    builder.build().expect("options")
}

/// Real PostgreSQL asking for `password` (cleartext) and then `md5`: over TLS without a root
/// certificate pg-auth refuses (and the server never sees an authentication attempt: no
/// "connection authorized" and no "authentication failed" for the connector); with
/// verify-full and the cluster's CA it logs in. SCRAM over the same unverified TLS works.
#[test]
fn real_server_cleartext_and_md5_only_over_verified_tls() {
    for_each_version(TLS_VERSIONS, |version| {
        let cluster = TestCluster::builder()
            .version(version)
            .ssl(true)
            .config_line("log_connections = on")
            .start()
            .unwrap_or_else(|e| panic!("PostgreSQL {version} with TLS is required: {e}"));
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(cleartext_and_md5_only_over_verified_tls(&cluster));
    });
}

async fn cleartext_and_md5_only_over_verified_tls(cluster: &TestCluster) {
    let connector = cluster.connector().clone();
    let source = StaticPassword::new(
        &connector.user,
        SecretString::from(connector.password.clone()),
    );
    let ca = cluster.ca_cert_path().expect("CA").to_path_buf();

    // SCRAM (the testkit default) over TLS without a root certificate: allowed.
    let report = pg_auth::ping(&real_options(cluster, SslMode::Require, None), &source)
        .await
        .expect("SCRAM over unverified TLS");
    assert!(report.tls);

    for method in ["password", "md5"] {
        if method == "md5" {
            // An MD5-stored password makes the server ask for MD5 (a SCRAM one would make
            // `md5` in pg_hba.conf fall back to SCRAM).
            cluster
                .sql(
                    "postgres",
                    &format!(
                        "SET password_encryption = 'md5';\n\
                         ALTER ROLE {} PASSWORD '{}';",
                        connector.user, connector.password
                    ),
                )
                .expect("md5 password");
        }
        hba_method(cluster, method);
        let log_before = cluster.server_log().expect("log").len();
        for mode in [SslMode::Require, SslMode::Prefer] {
            let error = pg_auth::connect(&real_options(cluster, mode, None), &source)
                .await
                .expect_err(&format!("{method}/{mode}: refused"));
            assert!(
                matches!(error, AuthError::UnverifiedServer { tls: true, .. }),
                "{method}/{mode}: {error:?}"
            );
        }
        let log = cluster.server_log().expect("log");
        let new = &log[log_before..];
        assert!(
            !new.contains(&format!(
                "authentication failed for user \"{}\"",
                connector.user
            )),
            "{method}: {new}"
        );
        assert!(!new.contains("connection authorized"), "{method}: {new}");

        for mode in [SslMode::VerifyFull, SslMode::Require] {
            // With the right root certificate, require verifies the chain as verify-ca does.
            let report = pg_auth::ping(&real_options(cluster, mode, Some(&ca)), &source)
                .await
                .unwrap_or_else(|e| panic!("{method}/{mode} with the CA: {e}"));
            assert!(report.tls, "{method}/{mode}");
            assert_eq!(report.user, connector.user);
        }
        let log = cluster.server_log().expect("log");
        assert!(
            log[log_before..].contains("connection authorized"),
            "{method}: the verified logins reached the server"
        );
    }
}

/// `ssl_root_cert` is read with a bound: a device that never ends, a FIFO and a file larger
/// than the limit are refused with the path and the reason; a real bundle below it loads.
#[test]
fn ca_bundle_reads_are_bounded() {
    let cluster = tls_cluster();
    let ca = std::fs::read_to_string(cluster.ca_cert_path().expect("CA")).expect("CA");
    let dir = tempfile::tempdir().expect("tempdir");

    let error = RootCertificates::from_pem_file("/dev/zero").expect_err("/dev/zero");
    let text = error.to_string();
    assert!(
        text.contains("/dev/zero") && text.contains("not a regular file"),
        "{text}"
    );

    let fifo = dir.path().join("bundle.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let text = RootCertificates::from_pem_file(&fifo)
        .expect_err("FIFO")
        .to_string();
    assert!(
        text.contains("bundle.fifo") && text.contains("not a regular file"),
        "{text}"
    );

    // 2 MiB of valid certificates: it would parse, but it is above the bound.
    let big = dir.path().join("big.pem");
    let copies = (2 * 1024 * 1024) / ca.len() + 1;
    std::fs::write(&big, ca.repeat(copies)).expect("write");
    let error = RootCertificates::from_pem_file(&big).expect_err("2 MiB bundle");
    let text = error.to_string();
    assert!(matches!(error, AuthError::RootCert { .. }), "{error:?}");
    assert!(
        text.contains("big.pem") && text.contains(&pg_auth::MAX_ROOT_CERT_FILE_SIZE.to_string()),
        "{text}"
    );

    // A bundle of the size of RDS's global bundle (~170 KB) loads.
    let rds_sized = dir.path().join("rds-sized.pem");
    let copies = (170 * 1024) / ca.len() + 1;
    std::fs::write(&rds_sized, ca.repeat(copies)).expect("write");
    let roots = RootCertificates::from_pem_file(&rds_sized).expect("170 KB bundle");
    assert_eq!(roots.len(), copies);
}
