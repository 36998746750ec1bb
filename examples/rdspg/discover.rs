//! `rdspg discover`.

use std::process::ExitCode;

use integration_model::{AwsEndpointUrl, AwsProfile, InstanceId, Region, TagFilter, TagFilters};
use rds_discovery::{AwsDirectory, AwsOptions, DbInstance, InstanceDirectory};

use crate::cli::DiscoverArgs;
use crate::output::{Failure, Output, print_json, runtime};

pub(crate) fn run(args: &DiscoverArgs, output: Output) -> Result<ExitCode, Failure> {
    let region: Region = args
        .region
        .parse()
        .map_err(|e| Failure::usage(format!("--region: {e}")))?;
    let mut options = AwsOptions::new(region);
    if let Some(url) = &args.endpoint_url {
        let url: AwsEndpointUrl = url
            .parse()
            .map_err(|e| Failure::usage(format!("--endpoint-url: {e}")))?;
        options = options.endpoint_url(url);
    }
    if let Some(profile) = &args.profile {
        let profile: AwsProfile = profile
            .parse()
            .map_err(|e| Failure::usage(format!("--profile: {e}")))?;
        options = options.profile(profile);
    }
    let instance_id = args
        .instance_id
        .as_deref()
        .map(|id| id.parse::<InstanceId>())
        .transpose()
        .map_err(|e| Failure::usage(format!("--instance-id: {e}")))?;
    let filters = args
        .tags
        .iter()
        .map(|t| t.parse::<TagFilter>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(format!("--tag: {e}")))?;
    // Checked before any AWS call (a key given twice is bad usage, not a failed discovery).
    let filters = match instance_id {
        Some(_) => None,
        None => Some(TagFilters::new(filters).map_err(|e| Failure::usage(format!("--tag: {e}")))?),
    };

    let instances: Vec<DbInstance> = runtime()?.block_on(async {
        let directory = AwsDirectory::from_options(&options)
            .await
            .map_err(|e| Failure::job_error(&e))?;
        match (instance_id, filters) {
            (Some(id), _) => Ok(vec![
                directory
                    .instance(&id)
                    .await
                    .map_err(|e| Failure::job_error(&e))?,
            ]),
            (None, Some(filters)) => directory
                .instances_by_tags(&filters)
                .await
                .map_err(|e| Failure::job_error(&e)),
            (None, None) => Err(Failure::usage("give --instance-id ID or --tag K=V")),
        }
    })?;

    match output {
        Output::Json => print_json(&instances)?,
        Output::Text => {
            for i in &instances {
                let endpoint = match (&i.host, i.port) {
                    (Some(host), Some(port)) => format!("{host}:{port}"),
                    _ => "-".to_owned(),
                };
                println!(
                    "{}  {} {}  {}  {}  iam_auth={}",
                    i.id,
                    i.engine
                        .as_ref()
                        .map_or("-".to_owned(), ToString::to_string),
                    i.engine_version.as_deref().unwrap_or("-"),
                    i.status
                        .as_ref()
                        .map_or("-".to_owned(), ToString::to_string),
                    endpoint,
                    i.iam_auth.map_or("-".to_owned(), |on| on.to_string()),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
