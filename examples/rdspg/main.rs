//! `rdspg`: the command-line face of the rds-pg-access crates.
//!
//! It stays thin: it parses arguments, calls the crates and prints. Exit codes: 0 on success,
//! 1 when the job ran and failed (a denied evaluation, a lint finding of severity error or
//! warning, ...), 2 on bad usage or bad settings, always with one clear line on stderr.

mod access;
mod cli;
mod config;
mod connect;
mod discover;
mod fleet;
mod grant;
mod lifecycle;
mod output;
mod policy;
mod quickstart;
mod rotate;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Policy(args) => policy::run(args, cli.output),
        Command::Validate(args) => config::run_validate(args, cli.output),
        Command::Token(args) => connect::run_token(args, cli.output),
        Command::Ping(args) => connect::run_ping(args, cli.output),
        Command::Discover(args) => discover::run(args, cli.output),
        Command::Grant(args) => grant::run(args, cli.output),
        Command::Revoke(args) => lifecycle::run_revoke(args, cli.output),
        Command::Inspect(args) => lifecycle::run_inspect(args, cli.output),
        Command::Users(args) => lifecycle::run_users(args, cli.output),
        Command::Inventory(args) => fleet::run_inventory(args, cli.output, false),
        Command::Sync(args) => fleet::run_inventory(args, cli.output, true),
        Command::Check(args) => fleet::run_check(args, cli.output),
        Command::Sweep(args) => fleet::run_sweep(args, cli.output),
        Command::Rotate(args) => rotate::run(args, cli.output),
        Command::Extend(args) => lifecycle::run_extend(args, cli.output),
        Command::Serve(args) => serve::run(args),
        Command::Quickstart(args) => quickstart::run(args, cli.output),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("rdspg: {}", failure.message());
            failure.exit_code()
        }
    }
}
