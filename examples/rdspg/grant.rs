//! `rdspg grant`: builds the request from the flags, grants (or plans with `--dry-run`) and
//! prints the library's document.

use std::process::ExitCode;

use integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Identifier, InstanceId, Integration, RequestId,
    ResourcePath, ResourceRef,
};
use rds_pg_access::AccessManager;
use rds_pg_access::document::{GrantDocument, PlanDocument};

use crate::access::{fleet_exit, manager, parse, print_doc};
use crate::cli::GrantArgs;
use crate::config::load_integration;
use crate::output::{Failure, Output, print_json, runtime};

pub(crate) fn run(args: &GrantArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let rt = runtime()?;
    let manager = rt.block_on(manager(integration.clone(), output))?;
    let request = request(args, &integration, &manager)?;
    if args.dry_run {
        let report = rt
            .block_on(manager.plan(&request))
            .map_err(|e| Failure::job_error(&e))?;
        drop(manager);
        print_doc(&PlanDocument::new(&report), output)?;
        return Ok(fleet_exit(&report));
    }
    let granted = rt
        .block_on(manager.grant(&request))
        .map_err(|e| Failure::job_error(&e))?;
    drop(manager); // clears the progress display before the credentials are printed
    let doc = GrantDocument::new(&granted, &request, integration.ssl_mode());
    match output {
        Output::Json => print_json(&doc)?,
        Output::Text => print!("{}", doc.to_text()),
    }
    Ok(fleet_exit(&granted.instances))
}

fn request(
    args: &GrantArgs,
    integration: &Integration,
    manager: &AccessManager,
) -> Result<AccessRequest, Failure> {
    let user: Identifier = parse("--user", &args.user)?;
    let level: AccessLevel = parse("--level", &args.level)?;
    let duration: AccessDuration = parse("--for", &args.duration)?;
    let mut resources = Vec::new();
    for text in &args.resources {
        resources.push(
            manager
                .resource_path(text)
                .map_err(|e| Failure::usage(format!("--resource: {e}")))?,
        );
    }
    if let Some(database) = &args.database {
        let database: Identifier = parse("--database", database)?;
        let resource = match (&args.schema, &args.table) {
            (Some(schema), Some(table)) => ResourceRef::table(
                database,
                parse("--schema", schema)?,
                parse("--table", table)?,
            ),
            (Some(schema), None) => ResourceRef::schema(database, parse("--schema", schema)?),
            _ => ResourceRef::database(database),
        };
        let instance: InstanceId = match &args.instance {
            Some(instance) => parse("--instance", instance)?,
            None => rds_pg_access::default_instance(integration).ok_or_else(|| {
                Failure::usage(
                    "the integration selects instances by tag: name one with --instance, or \
                     use --resource INSTANCE/DATABASE[/SCHEMA[/TABLE]]",
                )
            })?,
        };
        resources.push(ResourcePath::new(instance, resource));
    }
    let mut builder = AccessRequest::builder(user, level, duration).resources(resources);
    if let Some(id) = &args.request_id {
        builder = builder.request_id(parse::<RequestId>("--request-id", id)?);
    }
    if let Some(reason) = &args.reason {
        builder = builder.reason(reason);
    }
    if let Some(approver) = &args.approved_by {
        builder = builder.approved_by(approver);
    }
    builder.build().map_err(|e| match e.key() {
        // Name the flag the user typed, not the request's field.
        Some("reason") => Failure::usage(format!("--reason: {e}")),
        Some("approved_by") => Failure::usage(format!("--approved-by: {e}")),
        _ => Failure::usage(e),
    })
}
