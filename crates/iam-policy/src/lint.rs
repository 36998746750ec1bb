//! A linter for RDS IAM database-authentication policies.
//!
//! [`lint`] checks a parsed [`PolicyDocument`]; [`lint_json`] parses text first and returns the
//! parse error as a typed [`PolicyError`] (a document that does not parse has no meaning to lint).
//! Each [`Finding`] carries a stable code, a [`Severity`], a JSON pointer into the original
//! document (RFC 6901) and a message that says what to change.
//!
//! Pointers: statements are `/Statement/N` when `Statement` is an array and `/Statement` when it
//! is a single object; a string inside `Action`/`NotAction`/`Resource`/`NotResource` is
//! `…/Resource/N` when the element is an array and `…/Resource` when it is a bare string;
//! condition values are `…/Condition/OPERATOR/KEY[/N]` (with `/` escaped as `~1`); a finding
//! about the whole document has the pointer `""`.
//!
//! | code | severity | meaning | fix |
//! |---|---|---|---|
//! | `RDSPG-L001` | advice | an `Allow` names an `rds-db` ARN whose region, account or resource id is a wildcard | narrow to the region, 12-digit account and `DbiResourceId` once known |
//! | `RDSPG-L002` | warning | an `Allow` grants `rds-db:connect` on `Resource: "*"` (any user of any instance) | list `arn:…:rds-db:…:dbuser:RESOURCE_ID/USER` ARNs |
//! | `RDSPG-L003` | error | a malformed `rds-db` ARN: not `dbuser:` + `db-…`/`cluster-…`/`prx-…`/`*` + `/user`, or a bad region/account | write `arn:aws:rds-db:REGION:ACCOUNT:dbuser:db-XXXX/user` (the `DbiResourceId`, not the instance name) |
//! | `RDSPG-L004` | error | `rds` / `rds-db` confusion: `rds:connect`, `rds-db:` actions other than `connect`, `dbuser` under `rds`, `db:`/`cluster:` under `rds-db`, or actions of one service on ARNs of the other | use `rds-db:connect` on `rds-db` `dbuser` ARNs, `rds:` actions on `rds` ARNs |
//! | `RDSPG-L005` | error | policy variables with no `Version` or `"2008-10-17"`: AWS keeps them as literal text | add `"Version": "2012-10-17"` |
//! | `RDSPG-L006` | warning | a policy variable where AWS does not substitute it (`Action`, `Sid`, `Id`, `Principal`, condition operators/keys, the first five ARN segments) | move the variable to the resource part of the ARN or to a condition value |
//! | `RDSPG-L007` | warning | `Allow` with `NotAction` or `NotResource` (allows everything not listed, including future actions/resources) | list what is allowed with `Action`/`Resource` |
//! | `RDSPG-L008` | error | an ARN with a partition AWS does not have (`aws`, `aws-cn`, `aws-us-gov`, `aws-iso*`, `aws-eusc`) | fix the partition |
//! | `RDSPG-L009` | error | a `Sid` that is not alphanumeric (`[A-Za-z0-9]+`, required for IAM identity policies) | remove spaces, dashes and other characters |
//! | `RDSPG-L010` | error | a `Sid` used by two statements | make each `Sid` unique |
//! | `RDSPG-L011` | error | an empty `Statement`, `Action`, `NotAction`, `Resource` or `NotResource` array | add entries or remove the element/statement |
//! | `RDSPG-L012` | advice | an `Allow` uses `${SAML:sub}` without a `saml:sub_type = persistent` condition: a transient (random) subject could name any database user | add `"Condition": {"StringEquals": {"saml:sub_type": "persistent"}}` |
//! | `RDSPG-L013` | error | a `Resource`/`NotResource` that is neither `*` nor an ARN | write a full ARN |
//! | `RDSPG-L014` | warning | an `Allow` grants `rds-db:connect` for the database user `*` (any user, including the master user if it has `rds_iam`) | name the database user or use `${SAML:sub}` |
//!
//! The setup guide's two documents draw only advice-level findings (`RDSPG-L001`, `RDSPG-L012`);
//! the policies from [`crate::builder`] draw no error or warning.
//!
//! ```
//! use iam_policy::lint::{Severity, lint_json};
//!
//! let findings = lint_json(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!     "Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:orders-prod/alice"}]}"#)?;
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].code, "RDSPG-L003");
//! assert_eq!(findings[0].severity, Severity::Error);
//! assert_eq!(findings[0].pointer, "/Statement/0/Resource");
//! # Ok::<(), iam_policy::PolicyError>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::arn::{self, Partition};
use crate::document::{
    ConditionValue, Effect, OneOrMany, PolicyDocument, PolicyError, PolicyVersion, Principal,
    Statement, pointer_token,
};
use crate::eval::glob::Pattern;
use crate::variables::{self, VarToken};

/// How serious a finding is. Ordered: `Advice < Warning < Error`, so
/// `findings.iter().filter(|f| f.severity >= Severity::Warning)` keeps what must be fixed.
/// Serialises as `"advice"`, `"warning"`, `"error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Works as written but could be narrower or safer.
    Advice,
    /// Probably not what was meant, or over-broad.
    Warning,
    /// AWS rejects it, or it cannot do what it appears to do.
    Error,
}

impl Severity {
    /// `"advice"`, `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Advice => "advice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a policy. Serialises as
/// `{"code": …, "severity": …, "pointer": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable code, e.g. `"RDSPG-L003"` (see the module table).
    pub code: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// JSON pointer (RFC 6901) to the offending element of the original document.
    pub pointer: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{} {} at {}: {}",
            self.code, self.severity, at, self.message
        )
    }
}

/// A lint rule: its code, severity and one-line title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// Stable code.
    pub code: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// What it checks.
    pub title: &'static str,
}

macro_rules! rules {
    ($($name:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        $(
            #[doc = concat!("`", $code, "`: ", $title)]
            pub const $name: Rule = Rule { code: $code, severity: Severity::$sev, title: $title };
        )*
        /// Every rule, in code order.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    WILDCARD_SCOPE = "RDSPG-L001", Advice, "rds-db ARN with a wildcard region, account or resource id";
    CONNECT_ON_STAR = "RDSPG-L002", Warning, "rds-db:connect allowed on Resource \"*\"";
    MALFORMED_DBUSER_ARN = "RDSPG-L003", Error, "malformed rds-db dbuser ARN";
    RDS_RDS_DB_CONFUSION = "RDSPG-L004", Error, "rds and rds-db actions or ARNs confused";
    VARIABLES_WITHOUT_VERSION = "RDSPG-L005", Error, "policy variables without Version 2012-10-17";
    VARIABLE_NOT_SUBSTITUTED = "RDSPG-L006", Warning, "policy variable where AWS does not substitute it";
    ALLOW_WITH_NOT = "RDSPG-L007", Warning, "Allow with NotAction or NotResource";
    UNKNOWN_PARTITION = "RDSPG-L008", Error, "ARN with an unknown partition";
    INVALID_SID = "RDSPG-L009", Error, "Sid is not alphanumeric";
    DUPLICATE_SID = "RDSPG-L010", Error, "Sid used twice";
    EMPTY_ELEMENT = "RDSPG-L011", Error, "empty Statement, Action or Resource";
    SAML_SUB_NOT_PERSISTENT = "RDSPG-L012", Advice, "${SAML:sub} without saml:sub_type = persistent";
    NOT_AN_ARN = "RDSPG-L013", Error, "Resource is neither \"*\" nor an ARN";
    ANY_DB_USER = "RDSPG-L014", Warning, "rds-db:connect allowed for database user \"*\"";
}

/// Lints a parsed policy. Findings come in document order (document-level first).
pub fn lint(doc: &PolicyDocument) -> Vec<Finding> {
    let mut out = Findings::default();
    if doc.statement.is_empty() {
        out.push(
            EMPTY_ELEMENT,
            "/Statement",
            "the Statement array is empty: the policy allows nothing; add a statement".to_owned(),
        );
    }
    check_version(doc, &mut out);
    if let Some(id) = &doc.id {
        check_no_variables(id, "/Id", "Id", &mut out);
    }
    let mut sids: HashMap<&str, String> = HashMap::new();
    for (sp, st) in doc.statements_with_pointers() {
        if let Some(sid) = &st.sid {
            let pointer = format!("{sp}/Sid");
            check_no_variables(sid, &pointer, "Sid", &mut out);
            if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                out.push(
                    INVALID_SID,
                    &pointer,
                    format!(
                        "Sid `{sid}` is not alphanumeric; IAM identity policies accept only \
                         A-Z, a-z and 0-9 (e.g. `{}`)",
                        suggested_sid(sid)
                    ),
                );
            }
            match sids.get(sid.as_str()) {
                Some(first) => out.push(
                    DUPLICATE_SID,
                    &pointer,
                    format!("Sid `{sid}` is already used at {first}; make each Sid unique"),
                ),
                None => {
                    sids.insert(sid, pointer);
                }
            }
        }
        lint_statement(&sp, st, &mut out);
    }
    out.0
}

/// Parses `text` and lints it.
///
/// # Errors
/// [`PolicyError`] when the text is not a policy document (bad JSON or grammar); linting needs
/// a document that parses.
pub fn lint_json(text: &str) -> Result<Vec<Finding>, PolicyError> {
    PolicyDocument::from_json(text).map(|doc| lint(&doc))
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, rule: Rule, pointer: &str, message: String) {
        self.0.push(Finding {
            code: rule.code,
            severity: rule.severity,
            pointer: pointer.to_owned(),
            message,
        });
    }
}

fn suggested_sid(sid: &str) -> String {
    let cleaned: String = sid.chars().filter(char::is_ascii_alphanumeric).collect();
    if cleaned.is_empty() {
        "Statement1".to_owned()
    } else {
        cleaned
    }
}

/// The strings of an `Action`/`Resource`-like element with their pointers.
fn items<'a>(sp: &str, key: &str, value: &'a Option<OneOrMany<String>>) -> Vec<(String, &'a str)> {
    match value {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![(format!("{sp}/{key}"), s.as_str())],
        Some(OneOrMany::Many(v)) => v
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{sp}/{key}/{i}"), s.as_str()))
            .collect(),
    }
}

/// Condition values with their pointers (only string values can hold a variable).
fn condition_values<'a>(sp: &str, st: &'a Statement) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    let Some(block) = &st.condition else {
        return out;
    };
    for (op, keys) in block {
        for (key, values) in keys {
            let base = format!(
                "{sp}/Condition/{}/{}",
                pointer_token(op),
                pointer_token(key)
            );
            let text = |v: &'a ConditionValue| match v {
                ConditionValue::String(s) => Some(s.as_str()),
                _ => None,
            };
            match values {
                OneOrMany::One(v) => out.extend(text(v).map(|t| (base, t))),
                OneOrMany::Many(vs) => out.extend(
                    vs.iter()
                        .enumerate()
                        .filter_map(|(i, v)| text(v).map(|t| (format!("{base}/{i}"), t))),
                ),
            }
        }
    }
    out
}

fn check_version(doc: &PolicyDocument, out: &mut Findings) {
    if doc.version == Some(PolicyVersion::V2012_10_17) {
        return;
    }
    let mut places = Vec::new();
    for (sp, st) in doc.statements_with_pointers() {
        for key in ["Resource", "NotResource"] {
            let value = if key == "Resource" {
                &st.resource
            } else {
                &st.not_resource
            };
            for (p, s) in items(&sp, key, value) {
                if variables::has_substitutions(s) {
                    places.push(p);
                }
            }
        }
        for (p, v) in condition_values(&sp, st) {
            if variables::has_substitutions(v) {
                places.push(p);
            }
        }
    }
    if let Some(first) = places.first() {
        let version = match doc.version {
            Some(v) => format!("\"Version\": \"{v}\""),
            None => "no Version".to_owned(),
        };
        out.push(
            VARIABLES_WITHOUT_VERSION,
            first,
            format!(
                "policy variables are used ({} place(s), first here) but the policy has {version}: \
                 AWS matches them as literal text; add \"Version\": \"2012-10-17\"",
                places.len()
            ),
        );
    }
}

fn check_no_variables(s: &str, pointer: &str, place: &str, out: &mut Findings) {
    if variables::has_substitutions(s) {
        out.push(
            VARIABLE_NOT_SUBSTITUTED,
            pointer,
            format!(
                "`{s}` contains a policy variable, but AWS does not substitute variables in \
                 {place}; use them only in the resource part of an ARN or in condition values"
            ),
        );
    }
}

/// Case-insensitive match with `*` and `?`, exactly as the evaluator matches actions (one
/// matcher, so a finding never disagrees with [`crate::evaluate`]).
fn action_matches(pattern: &str, action: &str) -> bool {
    Pattern::wildcard(pattern).matches_ignore_case(action)
}

/// True when the statement's actions include `action`.
fn grants(st: &Statement, action: &str) -> bool {
    match (&st.action, &st.not_action) {
        (Some(actions), _) => actions.iter().any(|a| action_matches(a, action)),
        (None, Some(not)) => !not.iter().any(|a| action_matches(a, action)),
        (None, None) => false,
    }
}

/// The service prefix of every action if all are written literally (no wildcard), else `None`.
fn literal_services(st: &Statement) -> Option<Vec<String>> {
    let actions = st.action.as_ref()?;
    actions
        .iter()
        .map(|a| {
            let (service, name) = a.split_once(':')?;
            (!a.contains(['*', '?']) && !name.is_empty()).then(|| service.to_ascii_lowercase())
        })
        .collect()
}

fn lint_statement(sp: &str, st: &Statement, out: &mut Findings) {
    let allow = st.effect == Effect::Allow;

    // Empty arrays.
    for (key, value) in [
        ("Action", &st.action),
        ("NotAction", &st.not_action),
        ("Resource", &st.resource),
        ("NotResource", &st.not_resource),
    ] {
        if value.as_ref().is_some_and(OneOrMany::is_empty) {
            out.push(
                EMPTY_ELEMENT,
                &format!("{sp}/{key}"),
                format!("{key} is an empty array: the statement matches nothing; list at least one entry or remove the statement"),
            );
        }
    }

    // Allow + NotAction / NotResource.
    if allow {
        for (key, value) in [
            ("NotAction", &st.not_action),
            ("NotResource", &st.not_resource),
        ] {
            if value.is_some() {
                out.push(
                    ALLOW_WITH_NOT,
                    &format!("{sp}/{key}"),
                    format!(
                        "Allow with {key} allows everything not listed, including what AWS adds \
                         later; list what is allowed with {} instead",
                        key.trim_start_matches("Not")
                    ),
                );
            }
        }
    }

    // Actions: variables and rds / rds-db confusion.
    for key in ["Action", "NotAction"] {
        let value = if key == "Action" {
            &st.action
        } else {
            &st.not_action
        };
        for (p, action) in items(sp, key, value) {
            check_no_variables(action, &p, key, out);
            if let Some((service, name)) = action.split_once(':') {
                let service = service.to_ascii_lowercase();
                if service == "rds" && name.eq_ignore_ascii_case("connect") {
                    out.push(
                        RDS_RDS_DB_CONFUSION,
                        &p,
                        format!(
                            "`{action}` does not exist: IAM database login is `rds-db:connect`"
                        ),
                    );
                } else if service == "rds-db" && !action_matches(action, "rds-db:connect") {
                    out.push(
                        RDS_RDS_DB_CONFUSION,
                        &p,
                        format!(
                            "`{action}` does not exist: the rds-db service has only `connect`; \
                             RDS API actions such as `DescribeDBInstances` are under `rds:`"
                        ),
                    );
                }
            }
        }
    }

    // Principals: variables and partitions.
    for key in ["Principal", "NotPrincipal"] {
        let value = if key == "Principal" {
            &st.principal
        } else {
            &st.not_principal
        };
        if let Some(Principal::Map(map)) = value {
            for (kind, ids) in map {
                let base = format!("{sp}/{key}/{}", pointer_token(kind));
                let ids = items_of(&base, ids);
                for (p, id) in ids {
                    check_no_variables(id, &p, key, out);
                    if id.starts_with("arn:") {
                        check_partition(id, &p, out);
                    }
                }
            }
        }
    }

    // Conditions: variables in operators or keys.
    if let Some(block) = &st.condition {
        for (op, keys) in block {
            let op_pointer = format!("{sp}/Condition/{}", pointer_token(op));
            check_no_variables(op, &op_pointer, "condition operators", out);
            for key in keys.keys() {
                check_no_variables(
                    key,
                    &format!("{op_pointer}/{}", pointer_token(key)),
                    "condition keys",
                    out,
                );
            }
        }
    }

    // Resources.
    let connect = grants(st, "rds-db:connect");
    let services = literal_services(st);
    for key in ["Resource", "NotResource"] {
        let value = if key == "Resource" {
            &st.resource
        } else {
            &st.not_resource
        };
        for (p, resource) in items(sp, key, value) {
            lint_resource(&p, resource, st, allow && connect, services.as_deref(), out);
        }
    }

    // ${SAML:sub} without a persistent subject type.
    if allow && uses_saml_sub(st) && !requires_persistent(st) {
        let pointer = items(sp, "Resource", &st.resource)
            .into_iter()
            .chain(items(sp, "NotResource", &st.not_resource))
            .find(|(_, r)| is_saml_sub_user(r))
            .map_or_else(|| sp.to_owned(), |(p, _)| p);
        out.push(
            SAML_SUB_NOT_PERSISTENT,
            &pointer,
            "${SAML:sub} names the database user, but nothing requires a persistent SAML \
             subject: with a transient or unspecified name id the subject is whatever the IdP \
             sends; add \"Condition\": {\"StringEquals\": {\"saml:sub_type\": \"persistent\"}}"
                .to_owned(),
        );
    }
}

fn items_of<'a>(base: &str, value: &'a OneOrMany<String>) -> Vec<(String, &'a str)> {
    match value {
        OneOrMany::One(s) => vec![(base.to_owned(), s.as_str())],
        OneOrMany::Many(v) => v
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{base}/{i}"), s.as_str()))
            .collect(),
    }
}

/// True when a variable (or escape) starts before the fifth `:` of an ARN.
fn variable_in_arn_prefix(s: &str) -> bool {
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

fn check_partition(s: &str, pointer: &str, out: &mut Findings) -> bool {
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

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn lint_resource(
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

fn lint_dbuser_arn(
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
fn resource_id_ok(id: &str) -> bool {
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

fn is_saml_sub(name: &str) -> bool {
    name.eq_ignore_ascii_case("saml:sub")
}

fn is_saml_sub_user(resource: &str) -> bool {
    variables::variables(resource).any(|(name, _)| is_saml_sub(name))
}

fn uses_saml_sub(st: &Statement) -> bool {
    [&st.resource, &st.not_resource]
        .into_iter()
        .flatten()
        .flat_map(OneOrMany::iter)
        .any(|r| is_saml_sub_user(r))
}

/// True when a condition requires `saml:sub_type` to be exactly `persistent`.
fn requires_persistent(st: &Statement) -> bool {
    let Some(block) = &st.condition else {
        return false;
    };
    block.iter().any(|(op, keys)| {
        let base = op
            .strip_prefix("ForAllValues:")
            .or_else(|| op.strip_prefix("ForAnyValue:"))
            .unwrap_or(op);
        let positive = matches!(
            base,
            "StringEquals" | "StringEqualsIgnoreCase" | "StringLike"
        );
        positive
            && keys.iter().any(|(key, values)| {
                key.eq_ignore_ascii_case("saml:sub_type")
                    && !values.is_empty()
                    && values.iter().all(|v| v.as_text() == "persistent")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_iam_actions() {
        assert!(action_matches("rds-db:*", "rds-db:connect"));
        assert!(action_matches("*", "rds-db:connect"));
        assert!(action_matches("RDS-DB:Connect", "rds-db:connect"));
        assert!(action_matches("rds-db:con?ect", "rds-db:connect"));
        assert!(action_matches("rds*:*nn*", "rds-db:connect"));
        assert!(!action_matches("rds:*", "rds-db:connect"));
        assert!(!action_matches("rds-db:connectx", "rds-db:connect"));
        assert!(!action_matches("", "rds-db:connect"));
    }

    /// The linter's action match and the evaluator's decision agree, also where a byte-wise,
    /// ASCII-only matcher (the linter's former copy) did not: `?` against a multi-byte
    /// character and non-ASCII case folding.
    #[test]
    fn action_match_agrees_with_evaluator() {
        use crate::eval::{Outcome, RequestContext, evaluate};
        let cases = [
            ("rds-db:*", "rds-db:connect", true),
            ("RDS-DB:Connect", "rds-db:connect", true),
            ("rds-db:con?ect", "rds-db:connect", true),
            ("rds:*", "rds-db:connect", false),
            ("rds-db:connect?", "rds-db:connecté", true),
            ("rds-db:connect??", "rds-db:connecté", false),
            ("rds-db:ÉTAT", "rds-db:état", true),
            ("rds-db:*É", "rds-db:xé", true),
        ];
        for (pattern, action, expected) in cases {
            let policy = PolicyDocument::new(vec![
                Statement::allow().with_action(pattern).with_resource("*"),
            ]);
            let decision = evaluate(&[policy], &RequestContext::new(action, "*"))
                .unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let allowed = decision.outcome == Outcome::Allow;
            assert_eq!(allowed, expected, "evaluator: {pattern:?} vs {action:?}");
            assert_eq!(
                action_matches(pattern, action),
                allowed,
                "linter: {pattern:?} vs {action:?}"
            );
        }
    }

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
    fn rules_are_unique_and_ordered() {
        let codes: Vec<_> = RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
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
