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

mod arn_checks;
mod finding;
mod pointers;
mod rules;
mod statement;

use std::collections::HashMap;

use crate::document::{PolicyDocument, PolicyError, PolicyVersion};
use crate::variables;

pub use finding::{Finding, Severity};
pub use rules::*;

use finding::Findings;
use pointers::{condition_values, items};
use statement::lint_statement;

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

fn suggested_sid(sid: &str) -> String {
    let cleaned: String = sid.chars().filter(char::is_ascii_alphanumeric).collect();
    if cleaned.is_empty() {
        "Statement1".to_owned()
    } else {
        cleaned
    }
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
