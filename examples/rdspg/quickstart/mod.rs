//! `rdspg quickstart`: the whole flow on a throwaway local PostgreSQL with the RDS permission
//! model and TLS. It exits 0 only if every step did what it says.
//!
//! `server` finds (or fetches) PostgreSQL and starts the cluster; `setup` is the
//! administrator's part (check, the owner fix, sync); `access` is a requester's (grant, log
//! in, a refused write, revoke, the refused login); `steps` prints them.

mod access;
mod serve;
mod server;
mod setup;
mod steps;

use std::process::ExitCode;

use crate::cli::QuickstartArgs;
use crate::output::{Failure, Output, runtime};
use steps::Steps;

const USER: &str = "quickstart_user";
const DATABASE: &str = "appdb";
const SCHEMA: &str = "sales";
const TABLE: &str = "sales.orders";

pub(crate) fn run(args: &QuickstartArgs, output: Output) -> Result<ExitCode, Failure> {
    // Bad usage, not a failed step: refused before anything is looked for or fetched.
    if !pg_testkit::ALL_VERSIONS.contains(&args.pg_version) {
        let versions: Vec<String> = pg_testkit::ALL_VERSIONS
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(Failure::usage(format!(
            "--pg-version {}: choose one of {}",
            args.pg_version,
            versions.join(", ")
        )));
    }
    if args.serve {
        if output == Output::Json {
            return Err(Failure::usage(
                "--serve prints a walk-through for a terminal: leave out --output json",
            ));
        }
        if !args.listen.ip().is_loopback() {
            return Err(Failure::usage(format!(
                "--listen {}: give a loopback address (the API has no TLS here)",
                args.listen
            )));
        }
    }
    let mut steps = Steps::new(output);
    let failure = walk(args, &mut steps).err();
    steps.finish(failure)
}

fn walk(args: &QuickstartArgs, steps: &mut Steps) -> Result<(), Failure> {
    let rt = runtime()?;
    let mut demo = server::start(args.pg_version, steps)?;
    let manager = setup::manager(&demo)?;
    setup::prepare(&rt, &demo, &manager, steps)?;
    access::walk(&rt, &demo, &manager, steps)?;
    if args.serve {
        serve::run(&rt, &demo, &manager, args.listen, steps)?;
    }
    steps.run("stop the server", || {
        demo.cluster
            .stop()
            .map_err(|e| rds_pg_access::error_chain(&e))?;
        Ok(((), "stopped; its directory is removed on exit".to_owned()))
    })?;
    Ok(())
}
