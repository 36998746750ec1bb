//! `rdspg grant|revoke|inspect|inventory`: the access lifecycle through `AccessManager`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;

use integration_model::{
    AccessDuration, AccessLevel, AccessRequest, Identifier, InstanceId, Integration, RequestId,
    ResourcePath, ResourceRef,
};
use pg_auth::ExposeSecret;
use rds_pg_access::{AccessManager, FleetReport, InventoryEntry};
use serde_json::{Value, json};

use crate::cli::{ConfigArgs, ExtendArgs, GrantArgs, InspectArgs, UserArgs};
use crate::config::load_integration;
use crate::output::{Failure, Output, print_json, runtime};

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

async fn manager(integration: Integration, output: Output) -> Result<AccessManager, Failure> {
    let manager = AccessManager::from_integration(integration)
        .await
        .map_err(|e| Failure::job_error(&e))?;
    Ok(match Progress::on_terminal(output) {
        Some(progress) => manager.with_observer(Arc::new(progress)),
        None => manager,
    })
}

/// A spinner on stderr counting instances as they finish, on a terminal in text mode only
/// (quiet with `--output json` or when not a terminal). Cleared when the manager is dropped.
#[derive(Debug)]
struct Progress {
    bar: indicatif::ProgressBar,
    done: std::sync::atomic::AtomicUsize,
}

impl Progress {
    fn on_terminal(output: Output) -> Option<Self> {
        use std::io::IsTerminal;
        if output != Output::Text || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("working on the integration's instances");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(Self {
            bar,
            done: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl rds_pg_access::FleetObserver for Progress {
    fn instance_finished(
        &self,
        instance: &InstanceId,
        outcome: Result<(), &rds_pg_access::AccessError>,
    ) {
        let n = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let state = if outcome.is_ok() { "done" } else { "failed" };
        self.bar
            .set_message(format!("{n} instance(s) finished; {instance} {state}"));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
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
        let instance: InstanceId = match (&args.instance, integration.single_instance()) {
            (Some(instance), _) => parse("--instance", instance)?,
            (None, Some(only)) => only.clone(),
            (None, None) if integration.instance().is_none() => {
                parse("--instance", rds_pg_access::LOCAL_TARGET)?
            }
            (None, None) => {
                return Err(Failure::usage(
                    "the integration selects instances by tag: name one with --instance, or use \
                     --resource INSTANCE/DATABASE[/SCHEMA[/TABLE]]",
                ));
            }
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

/// Exit 0 when every instance succeeded, 1 otherwise; failures printed one line each on stderr.
fn fleet_exit<T>(report: &FleetReport<T>) -> ExitCode {
    let mut failed = false;
    for (instance, error) in report.failures() {
        failed = true;
        eprintln!("rdspg: {instance}: {}", Failure::job_error(error).message());
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The instances that succeeded, each rendered by `render`, as a JSON object keyed by instance.
fn ok_json<T>(report: &FleetReport<T>, render: impl Fn(&T) -> Value) -> Value {
    Value::Object(
        report
            .results
            .iter()
            .filter_map(|(instance, outcome)| {
                outcome
                    .as_ref()
                    .ok()
                    .map(|r| (instance.to_string(), render(r)))
            })
            .collect(),
    )
}

fn errors_json<T>(report: &FleetReport<T>) -> Value {
    Value::Object(
        report
            .failures()
            .map(|(instance, error)| {
                (
                    instance.to_string(),
                    json!(Failure::job_error(error).message()),
                )
            })
            .collect(),
    )
}

/// `postgresql://` userinfo escaping (RFC 3986: unreserved characters stay).
fn uri_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(crate) fn run_grant(args: &GrantArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let rt = runtime()?;
    let manager = rt.block_on(manager(integration.clone(), output))?;
    let request = request(args, &integration, &manager)?;
    if args.dry_run {
        let report = rt
            .block_on(manager.plan(&request))
            .map_err(|e| Failure::job_error(&e))?;
        drop(manager);
        match output {
            Output::Text => {
                for (instance, outcome) in &report.results {
                    let Ok(plans) = outcome else { continue };
                    for plan in plans {
                        println!("-- {instance}/{}", plan.database);
                        for sql in &plan.sql {
                            println!("{sql};");
                        }
                    }
                }
            }
            Output::Json => {
                let plans = ok_json(&report, |plans| {
                    Value::Object(
                        plans
                            .iter()
                            .map(|p| (p.database.clone(), json!(p.sql)))
                            .collect(),
                    )
                });
                print_json(&json!({ "plans": plans, "errors": errors_json(&report) }))?;
            }
        }
        return Ok(fleet_exit(&report));
    }

    let ssl_mode = integration.ssl_mode();
    let granted = rt
        .block_on(manager.grant(&request))
        .map_err(|e| Failure::job_error(&e))?;
    drop(manager); // clears the progress display before the credentials are printed
    let database = request
        .resources()
        .first()
        .map(|r| r.resource().database_name().to_string())
        .unwrap_or_default();
    let password = granted
        .password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    // None unless every instance succeeded: a failed grant prints no credential.
    let password = password.filter(|_| granted.is_complete());
    let expires_at = granted
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::job(format!("cannot format the expiry: {e}")))?;
    let instances: Vec<Value> = granted
        .endpoints
        .iter()
        .map(|(instance, endpoint)| {
            let userinfo = match &password {
                Some(p) => format!("{}:{}", uri_escape(granted.user.as_str()), uri_escape(p)),
                None => uri_escape(granted.user.as_str()),
            };
            let host = match endpoint.host().ip() {
                Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                _ => endpoint.host().as_str().to_owned(),
            };
            json!({
                "instance": instance.to_string(),
                "host": endpoint.host().as_str(),
                "port": endpoint.port(),
                "uri": format!(
                    "postgresql://{userinfo}@{host}:{}/{}?sslmode={ssl_mode}",
                    endpoint.port(),
                    uri_escape(&database)
                ),
                "ok": granted.instances.results.get(instance).is_some_and(Result::is_ok),
            })
        })
        .collect();
    let first = instances.first().cloned().unwrap_or(Value::Null);
    match output {
        Output::Json => {
            let mut doc = json!({
                "user": granted.user.as_str(),
                "host": first["host"],
                "port": first["port"],
                "database": database,
                "sslmode": ssl_mode.to_string(),
                "expires_at": expires_at,
                "level": granted.level.to_string(),
                "uri": first["uri"],
                "request_id": granted.request_id,
                "instances": instances,
                "errors": errors_json(&granted.instances),
                "undone": undone_json(&granted),
            });
            if let Some(p) = &password {
                doc["password"] = json!(p);
            }
            print_json(&doc)?;
        }
        Output::Text => {
            println!("user:       {}", granted.user);
            if let Some(p) = &password {
                println!("password:   {p}");
            } else if !granted.is_complete() {
                println!("password:   none (the grant failed; nothing to hand over)");
            } else {
                println!(
                    "password:   none (IAM: log in with `rdspg token --user {}`)",
                    granted.user
                );
            }
            println!("database:   {database}");
            println!("sslmode:    {ssl_mode}");
            println!("expires at: {expires_at}");
            for (instance, result) in &granted.undone {
                match result {
                    Ok(()) => {
                        println!("{instance}: the role this request created was removed again")
                    }
                    Err(e) => println!(
                        "{instance}: the role this request created could NOT be removed: {}",
                        Failure::job_error(e).message()
                    ),
                }
            }
            for instance in &instances {
                println!(
                    "{}: {} {}",
                    instance["instance"].as_str().unwrap_or_default(),
                    if instance["ok"] == json!(true) {
                        "granted"
                    } else {
                        "FAILED"
                    },
                    instance["uri"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(fleet_exit(&granted.instances))
}

/// Per instance where a failed grant had created the role: whether it was removed again.
fn undone_json(granted: &rds_pg_access::GrantOutcome) -> Value {
    Value::Object(
        granted
            .undone
            .iter()
            .map(|(instance, result)| {
                let value = match result {
                    Ok(()) => json!({"removed": true}),
                    Err(e) => json!({"removed": false, "error": Failure::job_error(e).message()}),
                };
                (instance.to_string(), value)
            })
            .collect(),
    )
}

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
    match output {
        Output::Json => {
            let done = ok_json(&report, |r| {
                json!({
                    "dropped": r.dropped,
                    "sessions_terminated": r.sessions_terminated,
                    "databases": r.databases,
                    "holder": r.holder,
                    "moved": r.moved.iter().map(|o| json!({
                        "database": o.database,
                        "kind": o.kind,
                        "name": o.name,
                        "security_definer": o.security_definer,
                        "trigger_function": o.trigger_function,
                    })).collect::<Vec<_>>(),
                })
            });
            print_json(
                &json!({ "user": user.as_str(), "revoked": done, "errors": errors_json(&report) }),
            )?;
        }
        Output::Text => {
            for (instance, outcome) in &report.results {
                if let Ok(r) = outcome {
                    if r.dropped {
                        println!(
                            "{instance}: revoked {user} ({} session(s) ended, objects reassigned in: {})",
                            r.sessions_terminated,
                            if r.databases.is_empty() {
                                "none".to_owned()
                            } else {
                                r.databases.join(", ")
                            }
                        );
                        for o in r.moved.iter().filter(|o| o.security_definer) {
                            println!(
                                "{instance}: {} {} in {} was SECURITY DEFINER; it now belongs to {} and runs as SECURITY INVOKER: review it",
                                o.kind, o.name, o.database, r.holder
                            );
                        }
                    } else {
                        println!("{instance}: {user} does not exist (nothing to do)");
                    }
                }
            }
        }
    }
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
    let mut rows = Vec::new();
    for (instance, outcome) in &report.results {
        let Ok(inspections) = outcome else { continue };
        for inspection in inspections {
            for object in &inspection.objects {
                if object.role_has.is_empty() {
                    continue;
                }
                let privileges: Vec<String> =
                    object.role_has.iter().map(|p| p.to_string()).collect();
                rows.push(json!({
                    "instance": instance.to_string(),
                    "database": inspection.database,
                    "kind": object.object.kind().to_string(),
                    "object": object.object.to_string(),
                    "privileges": privileges,
                }));
            }
            for routine in &inspection.security_definer {
                rows.push(json!({
                    "instance": instance.to_string(),
                    "database": inspection.database,
                    "kind": format!("security definer {}", routine.kind),
                    "object": routine.name,
                    "privileges": [],
                }));
            }
            for membership in &inspection.memberships {
                rows.push(json!({
                    "instance": instance.to_string(),
                    "database": inspection.database,
                    "kind": "membership",
                    "object": membership,
                    "privileges": [],
                }));
            }
        }
    }
    match output {
        Output::Json => print_json(
            &json!({ "user": user.as_str(), "privileges": rows, "errors": errors_json(&report) }),
        )?,
        Output::Text => {
            if rows.is_empty() {
                println!("{user} holds no privileges");
            }
            for row in &rows {
                let privileges: Vec<&str> = row["privileges"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!(
                    "{}/{}  {} {}  {}",
                    row["instance"].as_str().unwrap_or_default(),
                    row["database"].as_str().unwrap_or_default(),
                    row["kind"].as_str().unwrap_or_default(),
                    row["object"].as_str().unwrap_or_default(),
                    privileges.join(", ")
                );
            }
        }
    }
    Ok(fleet_exit(&report))
}

/// Prints the inventory as it streams: a line (or a JSON object per line with `--output json`)
/// per database, schema and table.
pub(crate) fn run_inventory(
    args: &ConfigArgs,
    output: Output,
    sync: bool,
) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let stdout = Mutex::new(std::io::stdout());
    let print = |instance: &InstanceId, database: &str, entry: &InventoryEntry| {
        let line = match (output, entry) {
            (Output::Json, InventoryEntry::Database(d)) => json!({"instance": instance.to_string(), "type": "database", "database": database, "owner": d.owner}).to_string(),
            (Output::Json, InventoryEntry::Schema(s)) => json!({"instance": instance.to_string(), "type": "schema", "database": database, "schema": s.name.to_string(), "owner": s.owner}).to_string(),
            (Output::Json, InventoryEntry::Table(t)) => json!({"instance": instance.to_string(), "type": "table", "database": database, "schema": t.schema.to_string(), "table": t.name.to_string(), "kind": format!("{:?}", t.kind), "owner": t.owner, "partition": t.is_partition}).to_string(),
            (Output::Text, InventoryEntry::Database(d)) => format!("{instance}/{database}  database  owner {}", d.owner),
            (Output::Text, InventoryEntry::Schema(s)) => format!("{instance}/{database}/{}  schema  owner {}", s.name, s.owner),
            (Output::Text, InventoryEntry::Table(t)) => format!("{instance}/{database}/{}/{}  {:?}  owner {}", t.schema, t.name, t.kind, t.owner),
            (_, other) => format!("{instance}/{database}  {other:?}"),
        };
        if let Ok(mut out) = stdout.lock() {
            use std::io::Write;
            let _ = writeln!(out, "{line}");
        }
    };
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        let report = if sync {
            manager.sync(print).await
        } else {
            manager.inventory(print).await
        };
        report.map_err(|e| Failure::job_error(&e))
    })?;
    Ok(fleet_exit(&report))
}

pub(crate) fn run_check(args: &ConfigArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager.check().await.map_err(|e| Failure::job_error(&e))
    })?;
    print_check(&report, output)?;
    Ok(if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn print_check(
    report: &rds_pg_access::CheckReport,
    output: Output,
) -> Result<(), Failure> {
    match output {
        Output::Json => print_json(
            &report
                .items
                .iter()
                .map(|i| {
                    json!({
                        "instance": i.instance.as_ref().map(ToString::to_string),
                        "item": i.item,
                        "ok": i.ok,
                        "detail": i.detail,
                        "fix": i.fix,
                    })
                })
                .collect::<Vec<_>>(),
        ),
        Output::Text => {
            for i in &report.items {
                let place = i
                    .instance
                    .as_ref()
                    .map_or_else(String::new, |n| format!("{n}: "));
                println!(
                    "{} {place}{}: {}",
                    if i.ok { "ok     " } else { "PROBLEM" },
                    i.item,
                    i.detail
                );
                if let Some(fix) = &i.fix {
                    println!("        fix: {fix}");
                }
            }
            Ok(())
        }
    }
}

pub(crate) fn run_sweep(args: &ConfigArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(args)?;
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        manager.sweep().await.map_err(|e| Failure::job_error(&e))
    })?;
    match output {
        Output::Json => {
            let done = ok_json(&report, |r| {
                let users: Vec<Value> = r
                    .swept
                    .iter()
                    .map(|s| json!({"user": s.user, "request_id": s.request_id, "dropped": s.dropped_here}))
                    .collect();
                let failed: Vec<Value> = r
                    .failed
                    .iter()
                    .map(|f| json!({"user": f.user, "request_id": f.request_id, "login_disabled": f.login_disabled, "error": Failure::job_error(&f.error).message()}))
                    .collect();
                json!({"skipped": r.skipped, "revoked": users, "failed": failed})
            });
            print_json(&json!({ "instances": done, "errors": errors_json(&report) }))?;
        }
        Output::Text => {
            for (instance, outcome) in &report.results {
                let Ok(r) = outcome else { continue };
                if r.skipped {
                    println!("{instance}: skipped (another connector is sweeping it)");
                } else if r.swept.is_empty() {
                    println!("{instance}: nothing expired");
                }
                for s in &r.swept {
                    println!("{instance}: revoked {} (request {})", s.user, s.request_id);
                }
                for f in &r.failed {
                    println!(
                        "{instance}: NOT revoked {} (request {}; login {}): {}",
                        f.user,
                        f.request_id,
                        if f.login_disabled {
                            "disabled"
                        } else {
                            "STILL ENABLED"
                        },
                        Failure::job_error(&f.error).message()
                    );
                }
            }
        }
    }
    let unrevoked = report
        .results
        .values()
        .any(|r| r.as_ref().is_ok_and(|r| !r.is_clean()));
    let code = fleet_exit(&report);
    if unrevoked {
        eprintln!(
            "rdspg: some expired users could not be revoked (see \"failed\"); the next sweep tries again"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

pub(crate) fn run_extend(args: &ExtendArgs, output: Output) -> Result<ExitCode, Failure> {
    let integration = load_integration(&args.config)?;
    let user: Identifier = parse("--user", &args.user)?;
    let duration: AccessDuration = parse("--for", &args.duration)?;
    let now = time::OffsetDateTime::now_utc();
    let until = now + duration.as_duration();
    let report = runtime()?.block_on(async {
        let manager = manager(integration, output).await?;
        let mut request = rds_pg_access::ExtendRequest::new(user.clone(), until);
        if let Some(approver) = &args.approved_by {
            request = request.approved_by(approver);
        }
        manager
            .extend(&request)
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    let until_text = until
        .replace_nanosecond(0)
        .unwrap_or(until)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::job(format!("cannot format the expiry: {e}")))?;
    match output {
        Output::Json => {
            let done = ok_json(&report, |r| json!({"found": r.is_some()}));
            print_json(
                &json!({"user": user.as_str(), "expires_at": until_text, "instances": done, "errors": errors_json(&report)}),
            )?;
        }
        Output::Text => {
            for (instance, outcome) in &report.results {
                match outcome {
                    Ok(Some(_)) => println!("{instance}: {user} now expires at {until_text}"),
                    Ok(None) => println!("{instance}: {user} does not exist here"),
                    Err(_) => {}
                }
            }
        }
    }
    Ok(fleet_exit(&report))
}
