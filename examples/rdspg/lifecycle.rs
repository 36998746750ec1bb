//! `rdspg revoke|inspect|extend`: one user across the integration's instances.

use std::process::ExitCode;

use integration_model::{AccessDuration, Identifier};
use rds_pg_access::ExtendRequest;
use rds_pg_access::document::{
    ExtendDocument, InspectDocument, RevokeDocument, RevokeRequestDocument, UsersDocument,
};

use crate::access::{fleet_exit, manager, parse, print_doc};
use crate::cli::{ConfigArgs, ExtendArgs, InspectArgs, RevokeArgs};
use crate::config::load_integration;
use crate::output::{Failure, Output, runtime};

pub(crate) fn run_revoke(args: &RevokeArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let user: Identifier = parse("--user", &args.user)?;
    if let Some(request_id) = &args.request {
        let request_id = request_id_arg(request_id)?;
        let report = runtime()?.block_on(async {
            let manager = manager(integration, output).await?;
            manager
                .revoke_request(&user, request_id)
                .await
                .map_err(|e| Failure::job_error(&e))
        })?;
        print_doc(
            &RevokeRequestDocument::new(&user, request_id, &report),
            output,
        )?;
        return Ok(fleet_exit(&report));
    }
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
    let (report, status) = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        let status = manager
            .user_status(&user)
            .await
            .map_err(|e| Failure::job_error(&e))?;
        let report = manager
            .inspect(&user, database.as_ref())
            .await
            .map_err(|e| Failure::job_error(&e))?;
        Ok::<_, Failure>((report, status))
    })?;
    print_doc(
        &InspectDocument::new(&user, &report).with_status(&status),
        output,
    )?;
    let exit = fleet_exit(&report);
    if !status.all_ok() {
        let _ = fleet_exit(&status);
        return Ok(ExitCode::from(1));
    }
    Ok(exit)
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
    if let Some(request_id) = &args.request {
        request = request.request(request_id_arg(request_id)?);
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

pub(crate) fn run_users(args: &ConfigArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager.users().await.map_err(|e| Failure::job_error(&e))
    })?;
    print_doc(&UsersDocument::new(&report), output)?;
    Ok(fleet_exit(&report))
}

/// A `--request` value, checked as a grant's request id is
/// ([`integration_model::RequestId`]).
fn request_id_arg(text: &str) -> Result<&str, Failure> {
    parse::<integration_model::RequestId>("--request", text)?;
    Ok(text)
}
