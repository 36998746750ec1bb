//! `rdspg rotate`: rotates the connector's password (Secrets Manager's four steps across every
//! instance) when it is due, or with `--force`; finishes a rotation an earlier run left.

use std::process::ExitCode;

use rds_pg_access::{AcceptedStage, AccessManager, RotateOutcome, RotationReport};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::cli::RotateArgs;
use crate::config::load_integration;
use crate::output::{Failure, Output, print_json, runtime};

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
    let (json, lines, ok) = match &outcome {
        RotateOutcome::NothingToRotate { reason } => (
            json!({"status": "nothing-to-rotate", "reason": reason}),
            vec![format!("nothing to rotate: {reason}")],
            true,
        ),
        RotateOutcome::NotDue {
            last_rotated,
            due_at,
        } => {
            let last = last_rotated.map(rfc3339);
            let due = due_at.map(rfc3339);
            let line = match &due {
                Some(due) => format!("not due: the password is rotated again at {due} (--force to rotate now)"),
                None => "not due: the integration has no credentials_rotation_days (--force to rotate now)".to_owned(),
            };
            (
                json!({"status": "not-due", "last_rotated": last, "due_at": due}),
                vec![line],
                true,
            )
        }
        RotateOutcome::Busy { instance } => (
            json!({"status": "busy", "instance": instance.to_string()}),
            vec![format!(
                "skipped: another connector is rotating (it holds the lock of {instance})"
            )],
            false,
        ),
        RotateOutcome::Rotated(report) => report_output("rotated", report),
        RotateOutcome::Incomplete(report) => report_output("incomplete", report),
        _ => (
            json!({"status": "unknown"}),
            vec!["unknown outcome".to_owned()],
            false,
        ),
    };
    match output {
        Output::Json => print_json(&json)?,
        Output::Text => lines.iter().for_each(|l| println!("{l}")),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn report_output(status: &str, report: &RotationReport) -> (Value, Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut instances = serde_json::Map::new();
    for (instance, outcome) in &report.instances.results {
        match outcome {
            Ok(r) => {
                let had = match r.accepted_at_start {
                    AcceptedStage::Current => "AWSCURRENT",
                    AcceptedStage::Pending => "AWSPENDING",
                    _ => "unknown",
                };
                lines.push(format!(
                    "{instance}: {}, login with the new password {}",
                    if r.password_set {
                        "password set"
                    } else {
                        "already had the new password"
                    },
                    if r.login_tested { "ok" } else { "not tested" }
                ));
                instances.insert(
                    instance.to_string(),
                    json!({"had": had, "password_set": r.password_set, "login_tested": r.login_tested}),
                );
            }
            Err(e) => {
                let message = Failure::job_error(e).message().to_owned();
                lines.push(format!("{instance}: failed: {message}"));
                instances.insert(instance.to_string(), json!({"error": message}));
            }
        }
    }
    let version = report.version_id.clone().unwrap_or_default();
    lines.push(if report.finished {
        format!(
            "secret {}: AWSCURRENT is now version {version}{}",
            report.secret_id,
            if report.resumed { " (an earlier run finished)" } else { "" }
        )
    } else {
        format!(
            "secret {}: AWSCURRENT unchanged (the new password is AWSPENDING {version}); run again to finish",
            report.secret_id
        )
    });
    (
        json!({
            "status": status,
            "secret": report.secret_id,
            "version_id": report.version_id,
            "resumed": report.resumed,
            "finished": report.finished,
            "instances": instances,
        }),
        lines,
        report.finished,
    )
}
