//! The strings of a statement with their JSON pointers into the original document.

use crate::document::{ConditionValue, OneOrMany, Statement, pointer_token};

/// The strings of an `Action`/`Resource`-like element with their pointers.
pub(super) fn items<'a>(
    sp: &str,
    key: &str,
    value: &'a Option<OneOrMany<String>>,
) -> Vec<(String, &'a str)> {
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
pub(super) fn condition_values<'a>(sp: &str, st: &'a Statement) -> Vec<(String, &'a str)> {
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

pub(super) fn items_of<'a>(base: &str, value: &'a OneOrMany<String>) -> Vec<(String, &'a str)> {
    match value {
        OneOrMany::One(s) => vec![(base.to_owned(), s.as_str())],
        OneOrMany::Many(v) => v
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{base}/{i}"), s.as_str()))
            .collect(),
    }
}
