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

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
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

/// clap's answer when the arguments do not parse: `--help` and `--version` as clap prints them
/// (exit 0); every other case is bad usage, printed as one line on stderr with exit 2 (clap's
/// own report spans several lines: the error, a tip, the usage, a pointer to `--help`).
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        kind => {
            let line = clap_one_line(kind, &error.render().to_string());
            eprintln!("rdspg: {}", output::bounded_line(&line));
            ExitCode::from(2)
        }
    }
}

/// clap's error report on one line: the error and its tips, without the usage block and the
/// pointer to `--help` (named once at the end instead).
fn clap_one_line(kind: clap::error::ErrorKind, rendered: &str) -> String {
    if kind == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let commands: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        return format!(
            "no command given; choose one of: {} (see rdspg --help)",
            commands.join(", ")
        );
    }
    let body: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .filter(|line| !line.starts_with("For more information"))
        .collect();
    let text = integration_model::one_line(&body.join("\n"));
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text} (see --help)")
}
