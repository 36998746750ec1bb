//! libpq conformance: for every server setup × client variant × SSL mode, `psql` (libpq) and
//! pg-auth connect to the same server and must agree on the outcome: connects or not, and
//! encrypted or not (both read `pg_stat_ssl.ssl` of their own session). No cell is skipped.
//!
//! Rules under test: <https://www.postgresql.org/docs/current/libpq-ssl.html> (table
//! "SSL Mode Descriptions", and "If a root CA file exists, the behavior of sslmode=require
//! will be the same as that of verify-ca"), libpq's fe-connect.c retry logic for allow/prefer,
//! and fe-secure-common.c host name checks (DNS SANs, IP SANs for IP literals).

use std::path::{Path, PathBuf};
use std::process::Command;

use pg_auth::{ConnectOptions, RootCertificates, SecretString, SslMode, StaticPassword};
use pg_testkit::{HbaPreset, TLS_VERSIONS, TestCluster};

const QUERY: &str =
    "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refused,
    Plain,
    Encrypted,
}

#[derive(Debug, Clone, Copy)]
enum Ca {
    Right,
    Wrong,
    Absent,
}

#[derive(Debug, Clone, Copy)]
enum HostForm {
    Name,
    Ip,
}

struct Setup {
    name: &'static str,
    ssl: bool,
    hba: HbaPreset,
    sans: &'static [&'static str],
}

/// Server setups: TLS on/off, hba host/hostssl/hostnossl, SANs matching or not.
const SETUPS: &[Setup] = &[
    Setup {
        name: "tls off, host",
        ssl: false,
        hba: HbaPreset::HostBoth,
        sans: &["localhost", "127.0.0.1"],
    },
    Setup {
        name: "tls off, hostnossl",
        ssl: false,
        hba: HbaPreset::HostNoSslOnly,
        sans: &["localhost", "127.0.0.1"],
    },
    Setup {
        name: "tls on, host, SANs match",
        ssl: true,
        hba: HbaPreset::HostBoth,
        sans: &["localhost", "127.0.0.1", "::1"],
    },
    Setup {
        name: "tls on, hostssl, SANs match",
        ssl: true,
        hba: HbaPreset::HostSslOnly,
        sans: &["localhost", "127.0.0.1", "::1"],
    },
    Setup {
        name: "tls on, hostnossl, SANs match",
        ssl: true,
        hba: HbaPreset::HostNoSslOnly,
        sans: &["localhost", "127.0.0.1", "::1"],
    },
    Setup {
        name: "tls on, hostssl, SANs do not match",
        ssl: true,
        hba: HbaPreset::HostSslOnly,
        sans: &["db.example.com", "10.9.8.7"],
    },
    Setup {
        name: "tls on, host, DNS SAN only (no IP SAN)",
        ssl: true,
        hba: HbaPreset::HostBoth,
        sans: &["localhost"],
    },
];

const MODES: [SslMode; 6] = [
    SslMode::Disable,
    SslMode::Allow,
    SslMode::Prefer,
    SslMode::Require,
    SslMode::VerifyCa,
    SslMode::VerifyFull,
];

fn start(setup: &Setup, version: u32) -> TestCluster {
    TestCluster::builder()
        .version(version)
        .ssl(setup.ssl)
        .hba(setup.hba)
        .server_cert_sans(setup.sans.iter().copied())
        .rds_emulation(true)
        .start()
        .unwrap_or_else(|e| panic!("cannot start cluster {:?}: {e}", setup.name))
}

fn psql_outcome(
    cluster: &TestCluster,
    host: &str,
    mode: SslMode,
    root: &Path,
    home: &Path,
) -> (Outcome, String) {
    let creds = cluster.connector();
    let output = Command::new(cluster.bin_dir().join("psql"))
        .args(["-X", "-A", "-t", "-w", "-c", QUERY])
        .env_clear()
        .env("HOME", home)
        .env("PGHOST", host)
        .env("PGPORT", cluster.port().to_string())
        .env("PGUSER", &creds.user)
        .env("PGPASSWORD", &creds.password)
        .env("PGDATABASE", "postgres")
        .env("PGSSLMODE", mode.as_str())
        .env("PGSSLROOTCERT", root)
        .env("PGSSLCERT", home.join("none.crt"))
        .env("PGSSLKEY", home.join("none.key"))
        .env("PGGSSENCMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !output.status.success() {
        return (Outcome::Refused, stderr);
    }
    match stdout.as_str() {
        "t" => (Outcome::Encrypted, stderr),
        "f" => (Outcome::Plain, stderr),
        other => panic!("unexpected psql output {other:?} ({stderr})"),
    }
}

async fn pg_auth_outcome(
    cluster: &TestCluster,
    host: &str,
    mode: SslMode,
    roots: Option<&RootCertificates>,
) -> (Outcome, String) {
    let creds = cluster.connector();
    let mut builder = ConnectOptions::builder(host)
        .port(cluster.port())
        .dbname("postgres")
        .ssl_mode(mode);
    if let Some(roots) = roots {
        builder = builder.root_certificates(roots.clone());
    }
    let options = match builder.build() {
        Ok(o) => o,
        Err(e) => return (Outcome::Refused, e.to_string()),
    };
    let source = StaticPassword::new(&creds.user, SecretString::from(creds.password.clone()));
    match pg_auth::ping(&options, &source).await {
        Ok(report) if report.tls => (Outcome::Encrypted, String::new()),
        Ok(_) => (Outcome::Plain, String::new()),
        Err(e) => (Outcome::Refused, e.to_string()),
    }
}

async fn run_matrix(version: u32) -> (usize, Vec<String>) {
    let home = tempfile::tempdir().expect("temp HOME for psql");
    let absent = home.path().join("no-such-root.crt");
    let clusters: Vec<(&Setup, TestCluster)> =
        SETUPS.iter().map(|s| (s, start(s, version))).collect();
    // A TLS cluster's CA files serve as "right"/"wrong" bundles for TLS-off servers too.
    let tls_ca = clusters
        .iter()
        .find_map(|(_, c)| c.ca_cert_path().map(Path::to_path_buf))
        .expect("a TLS cluster has a CA");
    let tls_other = clusters
        .iter()
        .find_map(|(_, c)| c.other_ca_cert_path().map(Path::to_path_buf))
        .expect("a TLS cluster has an unrelated CA");
    let mut cells = 0;
    let mut mismatches = Vec::new();
    let mut tally = [0usize; 3];
    for (setup, cluster) in &clusters {
        let right: PathBuf = cluster
            .ca_cert_path()
            .map_or_else(|| tls_ca.clone(), Path::to_path_buf);
        let wrong: PathBuf = cluster
            .other_ca_cert_path()
            .map_or_else(|| tls_other.clone(), Path::to_path_buf);
        for ca in [Ca::Right, Ca::Wrong, Ca::Absent] {
            let root_path = match ca {
                Ca::Right => right.clone(),
                Ca::Wrong => wrong.clone(),
                Ca::Absent => absent.clone(),
            };
            let roots = match ca {
                Ca::Absent => None,
                _ => Some(RootCertificates::from_pem_file(&root_path).expect("CA PEM parses")),
            };
            for host_form in [HostForm::Name, HostForm::Ip] {
                let host = match host_form {
                    HostForm::Name => "localhost",
                    HostForm::Ip => "127.0.0.1",
                };
                for mode in MODES {
                    cells += 1;
                    let (libpq, libpq_msg) =
                        psql_outcome(cluster, host, mode, &root_path, home.path());
                    let (ours, our_msg) =
                        pg_auth_outcome(cluster, host, mode, roots.as_ref()).await;
                    tally[outcome_index(ours)] += 1;
                    println!(
                        "PG{version} [{}] ca={ca:?} host={host_form:?} sslmode={}: {ours:?}",
                        setup.name,
                        mode.as_str()
                    );
                    if libpq != ours {
                        mismatches.push(format!(
                            "PG{version} [{}] ca={ca:?} host={host_form:?} sslmode={}: libpq {libpq:?} ({libpq_msg}) vs pg-auth {ours:?} ({our_msg})",
                            setup.name,
                            mode.as_str()
                        ));
                    }
                    // Anchors from the libpq docs, so that agreeing on a wrong answer cannot pass.
                    if mode == SslMode::Disable {
                        assert_ne!(ours, Outcome::Encrypted, "disable never encrypts");
                    }
                    if matches!(
                        mode,
                        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
                    ) {
                        assert_ne!(
                            ours,
                            Outcome::Plain,
                            "{} never falls back to plaintext",
                            mode.as_str()
                        );
                    }
                    if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull)
                        && !matches!(ca, Ca::Right)
                    {
                        assert_eq!(
                            ours,
                            Outcome::Refused,
                            "{} needs the right CA",
                            mode.as_str()
                        );
                    }
                }
            }
        }
    }
    // The matrix exercises every outcome, so agreement is not agreement on one answer.
    assert!(
        tally.iter().all(|&n| n > 0),
        "outcomes refused/plain/encrypted: {tally:?}"
    );
    (cells, mismatches)
}

fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Refused => 0,
        Outcome::Plain => 1,
        Outcome::Encrypted => 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_pg_auth_agree_on_every_cell() {
    // Every PostgreSQL version with TLS, each with its own psql/libpq (RDSPG_TEST_VERSIONS may
    // narrow them; the default runs all).
    let selection = pg_testkit::selected_versions(TLS_VERSIONS).expect("RDSPG_TEST_VERSIONS");
    if let Some(notice) = selection.notice() {
        eprintln!("{notice}");
    }
    let mut cells = 0;
    let mut mismatches = Vec::new();
    for &version in &selection.run {
        let (n, m) = run_matrix(version).await;
        cells += n;
        mismatches.extend(m);
    }
    assert_eq!(
        cells,
        selection.run.len() * SETUPS.len() * 3 * 2 * MODES.len(),
        "no cell skipped"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells disagree:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
