//! `rdspg rotate`: rotates the connector's password in Secrets Manager when due (or with
//! `--force`), and prints the library's document.

use std::process::ExitCode;

use rds_pg_access::AccessManager;
use rds_pg_access::document::RotationDocument;

use crate::access::print_doc;
use crate::cli::RotateArgs;
use crate::config::load_integration;
use crate::output::{Failure, Output, runtime};

pub(crate) fn run(args: &RotateArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let outcome = runtime()?.block_on(async {
        let manager = AccessManager::from_integration(integration)
            .await
            .map_err(|e| Failure::job_error(&e))?;
        manager
            .rotate(args.force)
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    let doc = RotationDocument::new(&outcome);
    print_doc(&doc, output)?;
    Ok(if doc.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
