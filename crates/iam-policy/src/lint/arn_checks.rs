//! Checks of `Resource` strings and ARNs: partitions, `rds` / `rds-db` confusion, the
//! `dbuser` ARN's parts, wildcards and variables in the ARN prefix.

use crate::arn::{self, Partition};
use crate::document::{Effect, Statement};
use crate::variables::{self, VarToken};

use super::finding::Findings;
use super::rules::*;

/// True when a variable (or escape) starts before the fifth `:` of an ARN.
pub(super) fn variable_in_arn_prefix(s: &str) -> bool {
    let mut colons = 0;
    for token in variables::tokenize(s) {
        match token {
            VarToken::Text(text) => colons += text.matches(':').count(),
            _ if colons < 5 => return true,
            _ => {}
        }
        if colons >= 5 {
            return false;
        }
    }
    false
}

pub(super) fn check_partition(s: &str, pointer: &str, out: &mut Findings) -> bool {
    let Ok(parts) = arn::split_arn(s) else {
        return true;
    };
    let known = parts.partition.parse::<Partition>().is_ok();
    let pattern = parts.partition.contains(['*', '?']) || parts.partition.contains("${");
    if !known && !pattern {
        out.push(
            UNKNOWN_PARTITION,
            pointer,
            format!(
                "unknown partition `{}` in `{s}`; use `aws`, `aws-cn` (China regions), \
                 `aws-us-gov` (GovCloud), `aws-iso`, `aws-iso-b`, `aws-iso-e`, `aws-iso-f` or \
                 `aws-eusc`",
                parts.partition
            ),
        );
        return false;
    }
    true
}

pub(super) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

pub(super) fn lint_resource(
    p: &str,
    resource: &str,
    st: &Statement,
    allow_connect: bool,
    services: Option<&[String]>,
    out: &mut Findings,
) {
    if resource == "*" {
        if allow_connect {
            out.push(
                CONNECT_ON_STAR,
                p,
                "rds-db:connect on Resource \"*\" lets this principal log in as any database \
                 user of any instance; list `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/USER` \
                 ARNs instead"
                    .to_owned(),
            );
        }
        return;
    }
    if variable_in_arn_prefix(resource) {
        out.push(
            VARIABLE_NOT_SUBSTITUTED,
            p,
            format!(
                "`{resource}` has a policy variable in the first five ARN segments; AWS \
                 substitutes variables only in the resource part (after the fifth `:`)"
            ),
        );
        return;
    }
    // AWS: "If the `*` wildcard is the last character of a resource ARN segment, it can expand
    // to match beyond the colon boundaries", so `arn:aws:rds-db:us-east-1:*` is a valid pattern;
    // read the missing segments as `*`.
    let padded;
    let full = if arn::split_arn(resource).is_err()
        && resource.starts_with("arn:")
        && resource.ends_with('*')
    {
        let missing = 5usize.saturating_sub(resource.matches(':').count());
        padded = format!("{resource}{}", ":*".repeat(missing));
        padded.as_str()
    } else {
        resource
    };
    let Ok(parts) = arn::split_arn(full) else {
        out.push(
            NOT_AN_ARN,
            p,
            format!(
                "`{resource}` is neither \"*\" nor an ARN \
                 (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`)"
            ),
        );
        return;
    };
    if !check_partition(full, p, out) {
        return;
    }
    let service = parts.service.to_ascii_lowercase();
    let type_prefix = parts.resource.split(['/', ':']).next().unwrap_or_default();
    match service.as_str() {
        "rds" if type_prefix == "dbuser" => {
            out.push(
                RDS_RDS_DB_CONFUSION,
                p,
                format!(
                    "`{resource}` uses service `rds` with a `dbuser` resource; IAM database \
                     login ARNs are `arn:{}:rds-db:…:dbuser:RESOURCE_ID/USER`",
                    parts.partition
                ),
            );
            return;
        }
        "rds-db" if type_prefix != "dbuser" && !has_wildcard(type_prefix) => {
            if type_prefix == "db" || type_prefix == "cluster" {
                out.push(
                    RDS_RDS_DB_CONFUSION,
                    p,
                    format!(
                        "`{resource}` uses service `rds-db` with an RDS `{type_prefix}:` resource; \
                         instance ARNs are `arn:{}:rds:…:{type_prefix}:ID`, login ARNs \
                         `arn:{}:rds-db:…:dbuser:RESOURCE_ID/USER`",
                        parts.partition, parts.partition
                    ),
                );
            } else {
                out.push(
                    MALFORMED_DBUSER_ARN,
                    p,
                    format!(
                        "`{resource}`: an rds-db resource must be `dbuser:RESOURCE_ID/USER`, \
                         e.g. `dbuser:db-ABCDEFGHIJKL01234567890ABC/alice`"
                    ),
                );
            }
            return;
        }
        _ => {}
    }
    if let Some(services) = services {
        let mismatch = match service.as_str() {
            "rds-db" => services.iter().all(|s| s == "rds"),
            "rds" => services.iter().all(|s| s == "rds-db"),
            _ => false,
        };
        if mismatch && !services.is_empty() {
            let other = if service == "rds" { "rds-db" } else { "rds" };
            out.push(
                RDS_RDS_DB_CONFUSION,
                p,
                format!(
                    "`{resource}` is an `{service}` ARN but the statement's actions are all \
                     `{other}:` actions, which never apply to it"
                ),
            );
            return;
        }
    }
    if service == "rds-db" {
        lint_dbuser_arn(
            p,
            resource,
            &parts,
            st.effect == Effect::Allow,
            allow_connect,
            out,
        );
    }
}

pub(super) fn lint_dbuser_arn(
    p: &str,
    resource: &str,
    parts: &arn::ArnParts<'_>,
    allow: bool,
    allow_connect: bool,
    out: &mut Findings,
) {
    let mut problems = Vec::new();
    let region_ok = arn::is_region_or_wildcard(parts.region)
        || (has_wildcard(parts.region)
            && parts
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b)));
    if !region_ok {
        problems.push(format!(
            "region `{}` is not a region name or `*`",
            parts.region
        ));
    } else if !has_wildcard(parts.region)
        && let Ok(partition) = parts.partition.parse::<Partition>()
        && Partition::for_region(parts.region) != partition
    {
        problems.push(format!(
            "region `{}` is in partition `{}`, not `{partition}`",
            parts.region,
            Partition::for_region(parts.region)
        ));
    }
    let account_ok = arn::is_account_or_wildcard(parts.account)
        || (has_wildcard(parts.account)
            && parts.account.len() <= 12
            && parts
                .account
                .bytes()
                .all(|b| b.is_ascii_digit() || b"*?".contains(&b)));
    if !account_ok {
        problems.push(format!(
            "account `{}` is not a 12-digit account id or `*`",
            parts.account
        ));
    }
    let mut resource_id = None;
    let mut db_user = None;
    let dbuser = if parts.resource == "*" {
        Some(("*", "*")) // every resource id and every user
    } else {
        parts
            .resource
            .strip_prefix("dbuser:")
            .and_then(|rest| rest.split_once('/'))
    };
    match dbuser {
        None => problems.push(format!(
            "resource `{}` is not `dbuser:RESOURCE_ID/USER`",
            parts.resource
        )),
        Some((id, user)) => {
            resource_id = Some(id);
            db_user = Some(user);
            if !resource_id_ok(id) {
                problems.push(format!(
                    "resource id `{id}` is not `db-…` (the DbiResourceId, uppercase), \
                     `cluster-…`, `prx-…` or `*`; the instance identifier does not work here"
                ));
            }
            if !variables::has_substitutions(user) && arn::check_db_user(user).is_err() {
                problems.push(format!(
                    "database user `{user}` is not a PostgreSQL role name of 1-63 bytes without `/`"
                ));
            }
        }
    }
    if !problems.is_empty() {
        out.push(
            MALFORMED_DBUSER_ARN,
            p,
            format!(
                "malformed rds-db ARN `{resource}`: {}; expected \
                 `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/USER`",
                problems.join("; ")
            ),
        );
        return;
    }
    if !allow {
        return;
    }
    let mut wild = Vec::new();
    if has_wildcard(parts.region) {
        wild.push("region");
    }
    if has_wildcard(parts.account) {
        wild.push("account");
    }
    if resource_id.is_some_and(has_wildcard) {
        wild.push("resource id");
    }
    if !wild.is_empty() {
        out.push(
            WILDCARD_SCOPE,
            p,
            format!(
                "`{resource}` matches any {}; once known, narrow it to the region, the 12-digit \
                 account and the instance's DbiResourceId (`db-…`)",
                wild.join(", ")
            ),
        );
    }
    if allow_connect && db_user == Some("*") {
        out.push(
            ANY_DB_USER,
            p,
            format!(
                "`{resource}` allows logging in as any database user (including the master user \
                 if it is in rds_iam); name the user, or use `${{SAML:sub}}`"
            ),
        );
    }
}

/// `*`, or `db-`/`cluster-` + uppercase alphanumerics, or `prx-` + alphanumerics;
/// wildcards are allowed after the prefix. A variable anywhere is accepted (its value is unknown).
pub(super) fn resource_id_ok(id: &str) -> bool {
    if id == "*" || variables::has_substitutions(id) {
        return true;
    }
    let check = |rest: &str, upper_only: bool| {
        !rest.is_empty()
            && rest.bytes().all(|b| {
                b.is_ascii_digit()
                    || b == b'*'
                    || b == b'?'
                    || b.is_ascii_uppercase()
                    || (!upper_only && b.is_ascii_lowercase())
            })
    };
    if let Some(rest) = id.strip_prefix("db-") {
        check(rest, true)
    } else if let Some(rest) = id.strip_prefix("cluster-") {
        check(rest, true)
    } else if let Some(rest) = id.strip_prefix("prx-") {
        check(rest, false)
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_prefix_detection() {
        assert!(variable_in_arn_prefix(
            "arn:aws:rds-db:${aws:RequestedRegion}:*:dbuser:*/x"
        ));
        assert!(!variable_in_arn_prefix(
            "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"
        ));
        assert!(!variable_in_arn_prefix("arn:aws:rds-db:*:*:${x}"));
        assert!(variable_in_arn_prefix("arn:aws:rds-db:*:${x}:y"));
    }

    #[test]
    fn resource_id_rules() {
        for ok in [
            "*",
            "db-ABC123",
            "cluster-XYZ",
            "prx-0abc",
            "db-*",
            "${aws:PrincipalTag/rid}",
        ] {
            assert!(resource_id_ok(ok), "{ok}");
        }
        for bad in ["orders-prod", "db-abc", "db-", "prx-", "instance-1"] {
            assert!(!resource_id_ok(bad), "{bad}");
        }
    }
}
