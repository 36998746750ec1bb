//! The status page at `/`: server-rendered HTML for operators, no script. Active grants per
//! integration and instance with their expiry (read live from the instances, when the access
//! API serves the integrations), the last run of each job and its outcome, failing instances.
//!
//! Who may read it: a client connecting from loopback (the listener is loopback-only unless
//! TLS is configured), or one sending the bearer token of a caller with the `status` action
//! (then it shows only that caller's integrations). A reverse proxy on the same host makes
//! every client look like loopback: put its own authentication in front, or send tokens.
//!
//! Every name on the page (users, instances, errors) can come from a tenant, so every text
//! goes through [`escape`], and the answer forbids scripts, frames and remote loads
//! (`Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'`) should a name
//! ever slip through.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use rds_pg_access::{AccessManager, UserStatus};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::Api;
use crate::scheduler::{InstanceRun, ServiceState};

/// The page's `Content-Security-Policy`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// How long the page waits for an integration's instances to list their users.
pub const USERS_TIMEOUT: Duration = Duration::from_secs(10);

/// `text` safe inside HTML text and attribute values.
///
/// ```
/// use rds_pg_access_service::status::escape;
/// assert_eq!(escape("<b onclick='x'>\"&"), "&lt;b onclick=&#39;x&#39;&gt;&quot;&amp;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#111;background:#fff}\
table{border-collapse:collapse;margin-bottom:2em}\
th,td{border:1px solid #999;padding:4px 10px;text-align:left;font-size:15px}\
th{background:#e8e8e8}.bad{color:#a00;font-weight:bold}.ok{color:#060}\
h1{font-size:24px}h2{font-size:19px;margin-top:1.5em}";

/// The users of an integration a reader may see.
pub type UserFilter<'a> = &'a (dyn Fn(&AccessManager, &UserStatus) -> bool + Sync);

/// The page at `now`, for the integrations `visible` accepts and the users `visible_user`
/// accepts.
pub async fn render(
    state: &ServiceState,
    api: Option<&Api>,
    now: SystemTime,
    visible: &(dyn Fn(&str) -> bool + Sync),
    visible_user: UserFilter<'_>,
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>rds-pg-access connector</title><style>{STYLE}</style></head><body>\
         <h1>rds-pg-access connector</h1><p>Now {}; running since {}.</p>",
        when(now),
        when(state.started_at())
    );
    grants_section(&mut html, state, api, visible, visible_user).await;
    jobs_section(&mut html, state, visible);
    failing_section(&mut html, state, now, visible);
    html.push_str("</body></html>\n");
    html
}

async fn grants_section(
    html: &mut String,
    state: &ServiceState,
    api: Option<&Api>,
    visible: &(dyn Fn(&str) -> bool + Sync),
    visible_user: UserFilter<'_>,
) {
    html.push_str("<h2>Active grants</h2>");
    let Some(api) = api else {
        // Without the managers, the counts of the last sweeps.
        html.push_str(
            "<table><tr><th>integration</th><th>instance</th><th>active users (last sweep)</th></tr>",
        );
        for a in state
            .active_grants()
            .iter()
            .filter(|a| visible(&a.integration))
        {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.integration),
                escape(&a.instance),
                a.active
            );
        }
        html.push_str("</table>");
        return;
    };
    html.push_str(
        "<table><tr><th>integration</th><th>instance</th><th>user</th><th>state</th>\
         <th>grants (request, level, until, resources)</th></tr>",
    );
    for manager in api
        .managers()
        .filter(|m| visible(m.integration().name().as_str()))
    {
        let integration = escape(manager.integration().name().as_str());
        let users = tokio::time::timeout(USERS_TIMEOUT, manager.users()).await;
        let report = match users {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                let _ = write!(
                    html,
                    "<tr><td>{integration}</td><td colspan=\"4\" class=\"bad\">{}</td></tr>",
                    escape(&rds_pg_access::error_chain(&e))
                );
                continue;
            }
            Err(_) => {
                let _ = write!(
                    html,
                    "<tr><td>{integration}</td><td colspan=\"4\" class=\"bad\">no answer within \
                     {} s</td></tr>",
                    USERS_TIMEOUT.as_secs()
                );
                continue;
            }
        };
        for (instance, result) in &report.results {
            let instance = escape(instance.as_str());
            match result {
                Err(e) => {
                    let _ = write!(
                        html,
                        "<tr><td>{integration}</td><td>{instance}</td><td colspan=\"3\" \
                         class=\"bad\">{}</td></tr>",
                        escape(&rds_pg_access::error_chain(e))
                    );
                }
                Ok(users) => {
                    for user in users.iter().filter(|u| visible_user(manager, u)) {
                        let _ = write!(
                            html,
                            "<tr><td>{integration}</td><td>{instance}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            escape(&user.user),
                            escape(&user_state(user)),
                            grants_cell(user)
                        );
                    }
                }
            }
        }
    }
    html.push_str("</table>");
}

fn user_state(user: &UserStatus) -> String {
    match user.state {
        rds_pg_access::pg_grants::UserState::Active { until } => {
            format!("active until {}", rfc3339(until))
        }
        rds_pg_access::pg_grants::UserState::Expired { since } => {
            format!(
                "expired since {} (the next sweep revokes it)",
                rfc3339(since)
            )
        }
        rds_pg_access::pg_grants::UserState::Disabled { since } => {
            format!("revoked and kept since {}", rfc3339(since))
        }
        _ => "unknown".to_owned(),
    }
}

fn grants_cell(user: &UserStatus) -> String {
    let lines: Vec<String> = user
        .grants
        .iter()
        .map(|g| {
            escape(&format!(
                "{} {} until {} on {}",
                g.request_id,
                g.level,
                rfc3339(g.expires_at),
                g.resources.join(", ")
            ))
        })
        .collect();
    lines.join("<br>")
}

fn jobs_section(html: &mut String, state: &ServiceState, visible: &(dyn Fn(&str) -> bool + Sync)) {
    html.push_str(
        "<h2>Jobs</h2><table><tr><th>integration</th><th>job</th><th>every</th><th>runs</th>\
         <th>failures</th><th>last success</th><th>last run</th><th>last error</th></tr>",
    );
    for job in state.jobs().iter().filter(|j| visible(&j.integration)) {
        let last_run = if job.in_progress {
            "running".to_owned()
        } else {
            job.last_duration
                .map(|d| format!("took {:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "not yet".to_owned())
        };
        let failed = job
            .instances
            .values()
            .filter(|i| matches!(i.last_run, Some(InstanceRun::Failed { .. })));
        let error = job
            .last_error
            .clone()
            .or_else(|| {
                failed.clone().next().and_then(|i| match &i.last_run {
                    Some(InstanceRun::Failed { error }) => Some(error.clone()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"bad\">{}</td></tr>",
            escape(&job.integration),
            job.kind,
            job.every.as_secs(),
            job.runs,
            job.failures,
            job.last_success
                .map(when)
                .unwrap_or_else(|| "never".to_owned()),
            last_run,
            escape(&error)
        );
    }
    html.push_str("</table>");
}

fn failing_section(
    html: &mut String,
    state: &ServiceState,
    now: SystemTime,
    visible: &(dyn Fn(&str) -> bool + Sync),
) {
    let health = state.health(now);
    let problems: Vec<_> = health
        .problems
        .iter()
        .filter(|p| visible(&p.integration))
        .collect();
    if problems.is_empty() {
        html.push_str("<h2>Failing instances</h2><p class=\"ok\">None: every job succeeded within two of its intervals.</p>");
        return;
    }
    html.push_str("<h2>Failing instances</h2><ul>");
    for problem in problems {
        let _ = write!(
            html,
            "<li class=\"bad\">{}</li>",
            escape(&problem.to_string())
        );
    }
    html.push_str("</ul>");
}
