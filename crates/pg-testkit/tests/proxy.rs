//! The fault proxy ([`FaultProxy`]) between real clients (this version's `psql`, and
//! tokio-postgres for the extended protocol the library speaks) and a real cluster: round trips
//! are counted as documented, and each fault does what it says, as the server's own tables show.

use std::process::Output;
use std::time::Duration;

use pg_testkit::{Action, At, Fault, FaultProxy, RequestKind, TestCluster, rds};

fn cluster() -> TestCluster {
    TestCluster::start().unwrap_or_else(|e| panic!("a PostgreSQL 15 server is required: {e}"))
}

/// `psql` as the connector through `proxy`, one `-c` (one simple `Query`) per statement.
fn psql(cluster: &TestCluster, proxy: &FaultProxy, sslmode: &str, statements: &[&str]) -> Output {
    let creds = cluster.connector();
    let mut cmd = cluster.psql_command();
    cmd.env("PGPASSWORD", &creds.password)
        .args(["-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!(
            "host=127.0.0.1 port={} user={} dbname={} sslmode={sslmode} connect_timeout=10",
            proxy.port(),
            creds.user,
            rds::APP_DB
        ));
    for s in statements {
        cmd.args(["-c", s]);
    }
    cmd.output().expect("psql runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn rows(cluster: &TestCluster) -> String {
    cluster
        .sql(rds::APP_DB, "SELECT count(*) FROM public.fault_t")
        .expect("count")
}

/// A table the connector may insert into, empty.
fn table(cluster: &TestCluster) {
    cluster
        .sql(
            rds::APP_DB,
            "DROP TABLE IF EXISTS public.fault_t; CREATE TABLE public.fault_t (a int); \
             GRANT INSERT, SELECT ON public.fault_t TO apono_connector",
        )
        .expect("table");
}

const INSERT: &str = "INSERT INTO public.fault_t VALUES (1)";

#[test]
fn a_clean_run_is_traced_round_trip_by_round_trip() {
    let cluster = cluster();
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    proxy.reset();
    let out = psql(&cluster, &proxy, "disable", &["SELECT 1", INSERT]);
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = proxy.trace();
    let kinds: Vec<RequestKind> = trace.iter().map(|r| r.kind).collect();
    // SCRAM: the startup packet, the SASL initial response, the SASL response; then the two
    // queries.
    assert_eq!(
        kinds,
        [
            RequestKind::Startup,
            RequestKind::Auth,
            RequestKind::Auth,
            RequestKind::Query,
            RequestKind::Query
        ],
        "{trace:?}"
    );
    assert_eq!(trace[4].statement.as_deref(), Some(INSERT));
    assert!(trace.iter().all(|r| r.connection == 1));
    assert_eq!(
        trace.iter().map(|r| r.index).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(rows(&cluster), "1");
    // The same run with TLS negotiation refused by nobody: an SSLRequest first (this cluster
    // has no TLS, so it answers N and the startup goes on in the clear).
    proxy.reset();
    let out = psql(&cluster, &proxy, "prefer", &["SELECT 1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxy.trace()[0].kind, RequestKind::SslRequest);
    assert_eq!(proxy.round_trips(), 5);
}

#[test]
fn a_cut_request_never_reaches_the_server_and_a_lost_answer_did() {
    let cluster = cluster();
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");

    proxy.reset();
    proxy.arm(Fault::new(At::RoundTrip(4), Action::Cut));
    let out = psql(&cluster, &proxy, "disable", &[INSERT]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("closed the connection"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rows(&cluster), "0", "cut before the request: nothing ran");
    let fired = proxy.fired();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].round_trip.as_ref().map(|r| r.kind),
        Some(RequestKind::Query)
    );

    proxy.reset();
    proxy.arm(Fault::new(At::RoundTrip(4), Action::LoseAnswer));
    let out = psql(&cluster, &proxy, "disable", &[INSERT]);
    assert!(!out.status.success(), "the client never hears");
    assert_eq!(
        rows(&cluster),
        "1",
        "the answer was lost, the insert happened"
    );

    // Reset: an RST (libpq words it as a closed connection too).
    proxy.reset();
    proxy.arm(Fault::new(At::RoundTrip(4), Action::Reset));
    let out = psql(&cluster, &proxy, "disable", &[INSERT]);
    assert!(!out.status.success());
    assert_eq!(rows(&cluster), "1");

    // Per connection: the second connection's fourth round trip.
    proxy.reset();
    proxy.arm(Fault::new(
        At::ConnectionRoundTrip {
            connection: 2,
            round_trip: 4,
        },
        Action::Cut,
    ));
    assert!(
        psql(&cluster, &proxy, "disable", &[INSERT])
            .status
            .success()
    );
    assert!(
        !psql(&cluster, &proxy, "disable", &[INSERT])
            .status
            .success()
    );
    assert_eq!(rows(&cluster), "2");
    assert_eq!(proxy.connections(), 2);
}

/// A raw client sends an SSLRequest: with a reset at that round trip (or at the connection
/// itself) it reads ECONNRESET, with a cut it reads the end of the stream.
#[test]
fn a_reset_is_an_rst_and_a_cut_is_a_fin() {
    use std::io::{Read, Write};
    let cluster = cluster();
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    let ssl_request = [0u8, 0, 0, 8, 4, 210, 22, 47];
    let read = |fault: Fault| {
        proxy.reset();
        proxy.arm(fault);
        let mut stream = std::net::TcpStream::connect(proxy.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        // A socket reports a reset once: to the write when it races the reset (as a reset, or
        // as a broken pipe, which a write meets only after a reset), else to the read.
        if let Err(e) = stream.write_all(&ssl_request) {
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe => {
                    std::io::Error::from(std::io::ErrorKind::ConnectionReset)
                }
                _ => e,
            });
        }
        let mut byte = [0u8; 1];
        stream.read(&mut byte)
    };
    for at in [At::RoundTrip(1), At::Connection(1)] {
        let err = read(Fault::new(at, Action::Reset)).expect_err("reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{at:?}");
    }
    assert_eq!(
        read(Fault::new(At::RoundTrip(1), Action::Cut)).expect("FIN"),
        0
    );
    // The server's answer lost: also the end of the stream, after the server answered.
    assert_eq!(
        read(Fault::new(At::RoundTrip(1), Action::LoseAnswer)).expect("FIN"),
        0
    );
    // No fault: the server's one-byte answer (N: this cluster has no TLS).
    proxy.reset();
    let mut stream = std::net::TcpStream::connect(proxy.addr()).expect("connect");
    stream.write_all(&ssl_request).expect("write");
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).expect("answer");
    assert_eq!(&byte, b"N");
}

#[test]
fn every_setup_round_trip_cut_fails_the_login_and_changes_nothing() {
    let cluster = cluster();
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    proxy.reset();
    assert!(psql(&cluster, &proxy, "prefer", &[INSERT]).status.success());
    let setup: Vec<usize> = proxy
        .trace()
        .iter()
        .filter(|r| r.kind.is_setup())
        .map(|r| r.index)
        .collect();
    assert_eq!(setup.len(), 4, "SSLRequest, startup, two SASL messages");
    for k in setup {
        for action in [
            Action::Cut,
            Action::LoseAnswer,
            Action::CutAfterSend,
            Action::Reset,
        ] {
            proxy.reset();
            proxy.arm(Fault::new(At::RoundTrip(k), action));
            let out = psql(&cluster, &proxy, "prefer", &[INSERT]);
            assert!(
                !out.status.success(),
                "round trip {k}, {action:?}: the login must fail"
            );
            assert_eq!(proxy.fired().len(), 1);
            assert_eq!(rows(&cluster), "1", "round trip {k}, {action:?}");
        }
    }
    // A connection cut as it is accepted, and refused connections.
    proxy.reset();
    proxy.arm(Fault::new(At::Connection(1), Action::Reset));
    assert!(
        !psql(&cluster, &proxy, "disable", &[INSERT])
            .status
            .success()
    );
    proxy.refuse_connections(true);
    assert!(
        !psql(&cluster, &proxy, "disable", &[INSERT])
            .status
            .success()
    );
    assert_eq!(proxy.refused(), 1);
    proxy.refuse_connections(false);
    assert!(
        psql(&cluster, &proxy, "disable", &[INSERT])
            .status
            .success()
    );
    assert_eq!(rows(&cluster), "2");
}

#[test]
fn a_stall_holds_the_request_then_forwards_it() {
    let cluster = cluster();
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    proxy.reset();
    proxy.arm(Fault::new(
        At::RoundTrip(4),
        Action::Stall(Duration::from_millis(300)),
    ));
    let out = psql(&cluster, &proxy, "disable", &[INSERT]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxy.fired().len(), 1);
    assert_eq!(rows(&cluster), "1");
    // While a stalled request is held, the server has not seen it.
    proxy.reset();
    proxy.arm(Fault::new(
        At::RoundTrip(4),
        Action::Stall(Duration::from_secs(30)),
    ));
    let child = {
        let creds = cluster.connector();
        let mut cmd = cluster.psql_command();
        cmd.env("PGPASSWORD", &creds.password)
            .args(["-A", "-t", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user={} dbname={} sslmode=disable",
                proxy.port(),
                creds.user,
                rds::APP_DB
            ))
            .args(["-c", INSERT])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn().expect("psql")
    };
    let mut child = child;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while proxy.fired().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stall never fired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rows(&cluster), "1", "held, not forwarded");
    proxy.cut_all();
    let status = child.wait().expect("psql ends");
    assert!(!status.success());
    assert_eq!(rows(&cluster), "1");
}

#[test]
fn extended_protocol_flights_are_one_round_trip_each() {
    let cluster = cluster();
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let creds = cluster.connector().clone();
    let config = format!(
        "host=127.0.0.1 port={} user={} password={} dbname={} sslmode=disable",
        proxy.port(),
        creds.user,
        creds.password,
        rds::APP_DB
    );
    // Connect, then one execute: a prepare (Parse/Describe/Sync) and a run
    // (Bind/Execute/Sync), two round trips after the three of the login; then the dropped
    // statement's Close/Sync.
    let run = |fault: Option<Fault>| {
        proxy.reset();
        if let Some(f) = fault {
            proxy.arm(f);
        }
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
            let task = tokio::spawn(connection);
            let result = client.execute(INSERT, &[]).await;
            drop(client);
            let _ = task.await;
            result
        })
    };
    run(None).expect("clean");
    let trace = proxy.trace();
    assert_eq!(
        trace.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [
            RequestKind::Startup,
            RequestKind::Auth,
            RequestKind::Auth,
            RequestKind::Sync,
            RequestKind::Sync,
            RequestKind::Sync
        ]
    );
    assert_eq!(trace[3].statement.as_deref(), Some(INSERT));
    assert_eq!(rows(&cluster), "1");
    // Cut before the run's flight: the server has the prepared statement, not the insert.
    run(Some(Fault::new(At::RoundTrip(5), Action::Cut))).expect_err("cut");
    assert_eq!(rows(&cluster), "1");
    // Cut at the run's Execute message itself (the flight's second message), before it is
    // sent: nothing of the flight reaches the server.
    let execute = 3 + 3 + 2; // startup, 2 auth; Parse, Describe, Sync; Bind, Execute
    run(Some(Fault::new(At::ClientMessage(execute), Action::Cut))).expect_err("cut");
    assert_eq!(rows(&cluster), "1");
    // The answer of the run lost: the insert committed.
    run(Some(Fault::new(At::RoundTrip(5), Action::LoseAnswer))).expect_err("lost");
    assert_eq!(rows(&cluster), "2");
}

#[test]
fn tls_connections_are_cut_at_every_client_record() {
    let cluster = TestCluster::builder()
        .ssl(true)
        .start()
        .unwrap_or_else(|e| panic!("PostgreSQL 15 with TLS is required: {e}"));
    table(&cluster);
    let proxy = FaultProxy::for_cluster(&cluster).expect("proxy");
    proxy.reset();
    let out = psql(&cluster, &proxy, "require", &[INSERT]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Only the SSLRequest is a round trip the proxy can see; the rest are TLS records.
    assert_eq!(
        proxy.trace().iter().map(|r| r.kind).collect::<Vec<_>>(),
        [RequestKind::SslRequest]
    );
    let messages = proxy.client_messages();
    assert!(
        messages > 3,
        "SSLRequest, handshake records, data: {messages}"
    );
    // How libpq and OpenSSL split the rest into records varies from run to run; the first
    // three are fixed: the SSLRequest, the ClientHello and the client's Finished.
    let mut inserted = 1;
    let mut failed_after_handshake = 0;
    for k in 1..=messages {
        for action in [Action::Cut, Action::Reset, Action::CutAfterSend] {
            proxy.reset();
            proxy.arm(Fault::new(At::ClientMessage(k), action));
            let out = psql(&cluster, &proxy, "require", &[INSERT]);
            let now: i32 = rows(&cluster).parse().expect("count");
            assert!(
                now == inserted || now == inserted + 1,
                "record {k}, {action:?}: {now}"
            );
            if k <= 3 {
                assert!(!out.status.success(), "record {k} (handshake), {action:?}");
                assert_eq!(now, inserted, "record {k} (handshake), {action:?}");
            }
            if out.status.success() {
                assert_eq!(now, inserted + 1, "record {k}, {action:?}: success, no row");
            } else if k > 3 {
                failed_after_handshake += 1;
            }
            inserted = now;
        }
    }
    assert!(
        failed_after_handshake > 0,
        "the encrypted startup and query were cut too"
    );
    assert!(
        psql(&cluster, &proxy, "require", &[INSERT])
            .status
            .success()
    );
}
