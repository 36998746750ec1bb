//! Per-statement checks: empty elements, `Allow` with `Not…`, actions, principals, condition
//! operators and keys, and `${SAML:sub}` without a persistent subject.

use crate::document::{Effect, OneOrMany, Principal, Statement, pointer_token};
use crate::eval::glob::Pattern;
use crate::variables;

use super::arn_checks::{check_partition, lint_resource};
use super::check_no_variables;
use super::finding::Findings;
use super::pointers::{items, items_of};
use super::rules::*;

/// Case-insensitive match with `*` and `?`, exactly as the evaluator matches actions (one
/// matcher, so a finding never disagrees with [`crate::evaluate`]).
pub(super) fn action_matches(pattern: &str, action: &str) -> bool {
    Pattern::wildcard(pattern).matches_ignore_case(action)
}

/// True when the statement's actions include `action`.
pub(super) fn grants(st: &Statement, action: &str) -> bool {
    match (&st.action, &st.not_action) {
        (Some(actions), _) => actions.iter().any(|a| action_matches(a, action)),
        (None, Some(not)) => !not.iter().any(|a| action_matches(a, action)),
        (None, None) => false,
    }
}

/// The service prefix of every action if all are written literally (no wildcard), else `None`.
pub(super) fn literal_services(st: &Statement) -> Option<Vec<String>> {
    let actions = st.action.as_ref()?;
    actions
        .iter()
        .map(|a| {
            let (service, name) = a.split_once(':')?;
            (!a.contains(['*', '?']) && !name.is_empty()).then(|| service.to_ascii_lowercase())
        })
        .collect()
}

pub(super) fn lint_statement(sp: &str, st: &Statement, out: &mut Findings) {
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

pub(super) fn is_saml_sub(name: &str) -> bool {
    name.eq_ignore_ascii_case("saml:sub")
}

pub(super) fn is_saml_sub_user(resource: &str) -> bool {
    variables::variables(resource).any(|(name, _)| is_saml_sub(name))
}

pub(super) fn uses_saml_sub(st: &Statement) -> bool {
    [&st.resource, &st.not_resource]
        .into_iter()
        .flatten()
        .flat_map(OneOrMany::iter)
        .any(|r| is_saml_sub_user(r))
}

/// True when a condition requires `saml:sub_type` to be exactly `persistent`.
pub(super) fn requires_persistent(st: &Statement) -> bool {
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
    use crate::document::PolicyDocument;

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
}
