//! `rdspg policy …`: print, lint and evaluate IAM policies.

use std::process::ExitCode;

use iam_policy::eval::{Outcome, RequestContext, evaluate};
use iam_policy::lint::{Severity, lint};
use iam_policy::{ConnectorPolicy, EndUserPolicy, PolicyDocument};
use serde_json::json;

use crate::cli::{EvalArgs, LintArgs, PolicyArgs, PolicyCommand, PolicyScopeArgs, UserPolicyArgs};
use crate::output::{Failure, Output, print_json};

pub(crate) fn run(args: &PolicyArgs, output: Output) -> Result<ExitCode, Failure> {
    match (&args.command, &args.config) {
        (Some(PolicyCommand::Connector(args)), _) => print_policy(&connector_policy(args)?),
        (Some(PolicyCommand::User(args)), _) => print_policy(&user_policy(args)?),
        (Some(PolicyCommand::Lint(args)), _) => run_lint(args, output),
        (Some(PolicyCommand::Eval(args)), _) => run_eval(args, output),
        (None, Some(config)) => {
            run_integration_policies(config, args.integration.as_deref(), output)
        }
        (None, None) => Err(Failure::usage(
            "policy: give --config FILE, or one of: connector, user, lint, eval (see --help)",
        )),
    }
}

/// The integration's two policies with the ARNs discovery gives.
fn run_integration_policies(
    config: &std::path::Path,
    integration: Option<&str>,
    output: Output,
) -> Result<ExitCode, Failure> {
    let integration = crate::config::load_integration(&crate::cli::ConfigArgs {
        config: config.to_path_buf(),
        integration: integration.map(str::to_owned),
    })?;
    let policies = crate::output::runtime()?.block_on(async {
        let manager = rds_pg_access::AccessManager::from_integration(integration)
            .await
            .map_err(|e| Failure::job_error(&e))?;
        manager.policies().await.map_err(|e| Failure::job_error(&e))
    })?;
    match output {
        Output::Json => print_json(&json!({
            "connector": policies.connector.to_value(),
            "end_user": policies.end_user.to_value(),
            "resource_ids": policies.resource_ids,
        }))?,
        Output::Text => {
            println!("# Connector role policy (attach to the connector's IAM role)");
            println!("{}", policies.connector.to_json_pretty());
            println!("# End-user policy (attach to the permission set or role of the users)");
            println!("{}", policies.end_user.to_json_pretty());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connector_policy(args: &PolicyScopeArgs) -> Result<PolicyDocument, Failure> {
    let mut builder = ConnectorPolicy::builder();
    if let Some(user) = &args.db_user {
        builder = builder.db_user(user);
    }
    if let Some(region) = &args.region {
        builder = builder.region(region);
    }
    if let Some(account) = &args.account {
        builder = builder.account(account);
    }
    for id in &args.resource_ids {
        builder = builder.resource_id(id);
    }
    builder.build().map_err(Failure::usage)
}

fn user_policy(args: &UserPolicyArgs) -> Result<PolicyDocument, Failure> {
    let scope = &args.scope;
    let mut builder = EndUserPolicy::builder().require_persistent_sub(args.require_persistent_sub);
    if let Some(user) = &scope.db_user {
        builder = builder.db_user(user);
    }
    if let Some(region) = &scope.region {
        builder = builder.region(region);
    }
    if let Some(account) = &scope.account {
        builder = builder.account(account);
    }
    for id in &scope.resource_ids {
        builder = builder.resource_id(id);
    }
    builder.build().map_err(Failure::usage)
}

/// A policy is printed as its JSON in both output formats: it is a JSON document already.
fn print_policy(policy: &PolicyDocument) -> Result<ExitCode, Failure> {
    println!("{}", policy.to_json_pretty());
    Ok(ExitCode::SUCCESS)
}

fn read_policy(path: &std::path::Path) -> Result<(String, PolicyDocument), Failure> {
    let text = crate::config::read_bounded(path)?;
    let policy = PolicyDocument::from_json(&text).map_err(|e| {
        Failure::usage(format!(
            "{}: {}",
            path.display(),
            rds_pg_access::error_chain(&e)
        ))
    })?;
    Ok((text, policy))
}

fn run_lint(args: &LintArgs, output: Output) -> Result<ExitCode, Failure> {
    let (_, policy) = read_policy(&args.file)?;
    let findings = lint(&policy);
    match output {
        Output::Json => print_json(&findings)?,
        Output::Text if findings.is_empty() => println!("no findings"),
        Output::Text => {
            for finding in &findings {
                println!("{finding}");
            }
        }
    }
    let failing = findings
        .iter()
        .any(|f| matches!(f.severity, Severity::Error | Severity::Warning));
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_eval(args: &EvalArgs, output: Output) -> Result<ExitCode, Failure> {
    let (_, policy) = read_policy(&args.file)?;
    let mut request = RequestContext::new(&args.action, &args.resource);
    for var in &args.vars {
        let (key, value) = var.split_once('=').ok_or_else(|| {
            Failure::usage(format!(
                "--var {var:?}: expected KEY=VALUE, e.g. SAML:sub=alice"
            ))
        })?;
        if key.is_empty() {
            return Err(Failure::usage(format!("--var {var:?}: the key is empty")));
        }
        request.insert(key, value.to_owned());
    }
    let decision = evaluate(std::slice::from_ref(&policy), &request)
        .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?;
    let allowed = decision.outcome == Outcome::Allow;
    match output {
        Output::Text => println!("{decision}"),
        Output::Json => print_json(&json!({
            "allowed": allowed,
            "outcome": decision.outcome.to_string(),
            "decision": decision.to_string(),
            "deciding": decision.deciding.iter().map(|s| json!({
                "policy": s.policy,
                "statement": s.statement,
                "sid": s.sid,
            })).collect::<Vec<_>>(),
        }))?,
    }
    Ok(if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
