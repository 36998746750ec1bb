//! `rdspg revoke|inspect|extend`: one user across the integration's instances.

use std::process::ExitCode;

use integration_model::{AccessDuration, Identifier};
use rds_pg_access::ExtendRequest;
use rds_pg_access::document::{ExtendDocument, InspectDocument, RevokeDocument};

use crate::access::{fleet_exit, manager, parse, print_doc};
use crate::cli::{ExtendArgs, InspectArgs, UserArgs};
use crate::config::load_integration;
use crate::output::{Failure, Output, runtime};

pub(crate) fn run_revoke(args: &UserArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let user: Identifier = parse("--user", &args.user)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager
            .revoke(&user)
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    print_doc(&RevokeDocument::new(&user, &report), output)?;
    Ok(fleet_exit(&report))
}

pub(crate) fn run_inspect(args: &InspectArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let user: Identifier = parse("--user", &args.user)?;
    let database = args
        .database
        .as_deref()
        .map(|d| parse::<Identifier>("--database", d))
        .transpose()?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager
            .inspect(&user, database.as_ref())
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    print_doc(&InspectDocument::new(&user, &report), output)?;
    Ok(fleet_exit(&report))
}

pub(crate) fn run_extend(args: &ExtendArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let user: Identifier = parse("--user", &args.user)?;
    let duration: AccessDuration = parse("--for", &args.duration)?;
    let mut request =
        ExtendRequest::lasting(user.clone(), duration, time::OffsetDateTime::now_utc());
    if let Some(approver) = &args.approved_by {
        request = request.approved_by(approver);
    }
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager
            .extend(&request)
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    print_doc(&ExtendDocument::new(&user, request.until, &report), output)?;
    Ok(fleet_exit(&report))
}
