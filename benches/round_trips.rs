//! Round trips of a grant in one database (issue 19's goal: at most 3 for a grant that changes
//! something, 1 for one that changes nothing), measured over a relay that delays each direction
//! by half the round-trip time, at 1 ms and 10 ms RTT, on each PostgreSQL version given.
//!
//! For each version and RTT, `USERS` managed users are granted read-only on a schema of 100
//! tables with `Session::apply_to` (the call a grant makes per database once the user's marks
//! are read), then granted the same again (nothing to change), then the grant ends (applied with
//! nothing). On 16+ the first user's grant also creates the schema's access role and gives it its
//! privileges; the others only join it. Printed per operation: the median elapsed time divided
//! by the RTT (round trips, pipelined requests counting once), and the client's flushes the relay
//! counted (requests sent without waiting in between may count apart). Last, per version, the
//! slope between the two RTTs: (elapsed at 10 ms − elapsed at 1 ms) / 9 ms, the round trips
//! waited for, whatever the server's and the client's own work.
//!
//! Run: `cargo bench --bench round_trips` (PostgreSQL 15 and 17 by default;
//! `RDSPG_BENCH_VERSIONS=15,17,18`, `RDSPG_BENCH_USERS=9`). Without `--bench` (as `cargo test
//! --benches` runs it) it does one version, one RTT and two users: a smoke test.

#[path = "common/relay.rs"]
mod relay;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pg_grants::password::Password;
use pg_grants::quote::Ident;
use pg_grants::role::{LoginAuth, NewRole};
use pg_grants::{AccessLevel, Grant, ManagedRecord, Scope, Session, Settings, drive_connection};
use pg_testkit::{TestCluster, rds};
use relay::DelayRelay;
use tokio_postgres::{Client, NoTls};

const TABLES: usize = 100;

fn env_list(name: &str, default: &str) -> Vec<u32> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split([',', ' '])
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

async fn connect(cluster: &TestCluster, port: u16) -> Client {
    let creds = cluster.connector();
    let mut config = tokio_postgres::Config::new();
    config
        .host(cluster.host())
        .port(port)
        .user(&creds.user)
        .password(&creds.password)
        .dbname(rds::APP_DB);
    let (client, connection) = config.connect(NoTls).await.expect("connecting");
    drop(drive_connection(connection));
    client
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Op {
    round_trips: Vec<f64>,
    flushes: Vec<f64>,
}

impl Op {
    /// The median elapsed time, in seconds.
    fn seconds(&self, rtt_ms: u64) -> f64 {
        median(self.round_trips.clone()) * rtt_ms as f64 / 1000.0
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>5.2} round trips   {:>4} flushes",
            median(self.round_trips.clone()),
            median(self.flushes.clone())
        )
    }
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let versions = if measuring {
        env_list("RDSPG_BENCH_VERSIONS", "15,17")
    } else {
        vec![15]
    };
    let rtts_ms: &[u64] = if measuring { &[1, 10] } else { &[1] };
    let users = if measuring {
        env_list("RDSPG_BENCH_USERS", "7")
            .first()
            .copied()
            .unwrap_or(7)
            .max(2)
    } else {
        2
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("== round_trips: one database, read-only on a schema of {TABLES} tables ==");
    for v in versions {
        let cluster = TestCluster::builder()
            .version(v)
            .rds_emulation(true)
            .start()
            .unwrap_or_else(|e| panic!("starting PostgreSQL {v}: {e}"));
        let upstream: SocketAddr = format!("{}:{}", cluster.host(), cluster.port())
            .parse()
            .expect("the cluster listens on an IP address");
        let mut per_rtt: Vec<(u64, [f64; 4])> = Vec::new();
        for &rtt in rtts_ms {
            let schema = format!("scope_{rtt}ms");
            let tables: String = (0..TABLES)
                .map(|i| format!("CREATE TABLE {schema}.t{i:03} (id int PRIMARY KEY, v text);\n"))
                .collect();
            // The connector owns them: the grant needs no owner membership.
            cluster
                .sql(
                    rds::APP_DB,
                    &format!("CREATE SCHEMA {schema} AUTHORIZATION {};", rds::CONNECTOR),
                )
                .expect("creating the schema");
            cluster
                .sql_as(cluster.connector(), rds::APP_DB, &tables)
                .expect("creating the tables as the connector");
            let relay = DelayRelay::start(upstream, Duration::from_micros(rtt * 500));
            let (first, change, noop, end) = rt.block_on(async {
                let direct = connect(&cluster, cluster.port()).await;
                let slow = connect(&cluster, relay.addr.port()).await;
                let setup = Session::new(&direct, Settings::default())
                    .await
                    .expect("session");
                let session = Session::new(&slow, Settings::default())
                    .await
                    .expect("session");
                let grants = [Grant::new(
                    Scope::Schema(Ident::new(schema.as_str()).expect("name")),
                    AccessLevel::ReadOnly,
                )];
                // The floor: one request, one answer.
                for (what, typed) in [
                    ("simple query SELECT 1", false),
                    ("typed query SELECT 1", true),
                ] {
                    let mut op = Op::default();
                    for _ in 0..users {
                        let flushes = relay.client_chunks();
                        let started = Instant::now();
                        if typed {
                            slow.query_typed("SELECT 1", &[]).await.expect("select");
                        } else {
                            slow.simple_query("SELECT 1").await.expect("select");
                        }
                        op.round_trips
                            .push(started.elapsed().as_secs_f64() / (rtt as f64 / 1000.0));
                        op.flushes.push((relay.client_chunks() - flushes) as f64);
                    }
                    println!("  [{v}, {rtt} ms] {}", op.line(what));
                }
                let (mut first, mut change, mut noop, mut end) =
                    (Op::default(), Op::default(), Op::default(), Op::default());
                for i in 0..users {
                    let name = Ident::new(format!("rt_{rtt}_{i}")).expect("name");
                    let record = ManagedRecord::new(
                        format!("req-{rtt}-{i}"),
                        AccessLevel::ReadOnly,
                        time::OffsetDateTime::now_utc() + time::Duration::days(1),
                        setup.connector().as_str(),
                    );
                    setup
                        .create_role(&NewRole::new(
                            name.clone(),
                            LoginAuth::Password(Password::generate()),
                            record,
                        ))
                        .await
                        .expect("creating the user");
                    let mut role = session.managed_role(&name).await.expect("its marks");
                    for (op, wanted) in [
                        (if i == 0 { &mut first } else { &mut change }, &grants[..]),
                        (&mut noop, &grants[..]),
                        (&mut end, &[][..]),
                    ] {
                        let flushes = relay.client_chunks();
                        let started = Instant::now();
                        session.apply_to(&mut role, wanted).await.expect("applying");
                        let took = started.elapsed().as_secs_f64();
                        op.round_trips.push(took / (rtt as f64 / 1000.0));
                        op.flushes.push((relay.client_chunks() - flushes) as f64);
                    }
                }
                (first, change, noop, end)
            });
            println!("PostgreSQL {v}, RTT {rtt} ms ({users} users):");
            let ops = [
                ("first grant (makes the access role)", first),
                ("grant (changes something)", change),
                ("same grant again (no change)", noop),
                ("grant ends (applied with nothing)", end),
            ];
            for (name, op) in &ops {
                println!("  {}", op.line(name));
            }
            per_rtt.push((rtt, ops.map(|(_, op)| op.seconds(rtt))));
        }
        // Elapsed = round trips × RTT + what does not depend on the link (server and client
        // work): the slope between the two RTTs is the number of round trips waited for.
        if let [(r1, a), (r2, b)] = per_rtt.as_slice() {
            println!(
                "PostgreSQL {v}: round trips waited for, (elapsed at {r2} ms − at {r1} ms) / {} ms:",
                r2 - r1
            );
            let names = [
                "first grant (makes the access role)",
                "grant (changes something)",
                "same grant again (no change)",
                "grant ends (applied with nothing)",
            ];
            for ((name, x), y) in names.iter().zip(a).zip(b) {
                println!(
                    "  {name:<36} {:>5.2}",
                    (y - x) / ((r2 - r1) as f64 / 1000.0)
                );
            }
        }
    }
}
