//! The policy grammar: a JSON value → [`PolicyDocument`], strictly (unknown keys, wrong types
//! and conflicting elements are [`PolicyError`]s naming the JSON pointer).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::pointer::pointer_token;
use super::{
    ConditionBlock, ConditionValue, Effect, OneOrMany, PolicyDocument, PolicyError, Principal,
    Statement,
};

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(pointer: &str, expected: &'static str, found: &Value) -> PolicyError {
    PolicyError::WrongType {
        pointer: pointer.to_owned(),
        expected,
        found: type_name(found),
    }
}

fn check_keys(
    map: &Map<String, Value>,
    pointer: &str,
    allowed: &[&str],
    allowed_text: &'static str,
) -> Result<(), PolicyError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(PolicyError::UnknownKey {
            pointer: pointer.to_owned(),
            key: key.clone(),
            allowed: allowed_text,
        }),
        None => Ok(()),
    }
}

pub(super) fn parse_document(value: &Value) -> Result<PolicyDocument, PolicyError> {
    let Value::Object(map) = value else {
        return Err(wrong_type("", "an object", value));
    };
    check_keys(
        map,
        "",
        &["Version", "Id", "Statement"],
        "Version, Id, Statement",
    )?;
    let version = match map.get("Version") {
        None => None,
        Some(Value::String(s)) => Some(s.parse()?),
        Some(other) => return Err(wrong_type("/Version", "a string", other)),
    };
    let id = match map.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type("/Id", "a string", other)),
    };
    let statement = match map.get("Statement") {
        None => {
            return Err(PolicyError::MissingField {
                pointer: String::new(),
                field: "Statement",
            });
        }
        Some(Value::Array(items)) => OneOrMany::Many(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_statement(item, &format!("/Statement/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Some(obj @ Value::Object(_)) => OneOrMany::One(parse_statement(obj, "/Statement")?),
        Some(other) => {
            return Err(wrong_type(
                "/Statement",
                "an object or an array of objects",
                other,
            ));
        }
    };
    Ok(PolicyDocument {
        version,
        id,
        statement,
    })
}

const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

pub(super) fn parse_statement(value: &Value, pointer: &str) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return Err(wrong_type(pointer, "an object", value));
    };
    check_keys(
        map,
        pointer,
        STATEMENT_KEYS,
        "Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition",
    )?;
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type(&format!("{pointer}/Sid"), "a string", other)),
    };
    let effect = match map.get("Effect") {
        None => {
            return Err(PolicyError::MissingField {
                pointer: pointer.to_owned(),
                field: "Effect",
            });
        }
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s)) => {
            return Err(PolicyError::InvalidEffect {
                pointer: format!("{pointer}/Effect"),
                value: s.clone(),
            });
        }
        Some(other) => return Err(wrong_type(&format!("{pointer}/Effect"), "a string", other)),
    };
    let list = |key: &str| -> Result<Option<OneOrMany<String>>, PolicyError> {
        map.get(key)
            .map(|v| parse_string_list(v, &format!("{pointer}/{key}")))
            .transpose()
    };
    let principal = |key: &str| -> Result<Option<Principal>, PolicyError> {
        map.get(key)
            .map(|v| parse_principal(v, &format!("{pointer}/{key}")))
            .transpose()
    };
    let statement = Statement {
        effect,
        principal: principal("Principal")?,
        not_principal: principal("NotPrincipal")?,
        action: list("Action")?,
        not_action: list("NotAction")?,
        resource: list("Resource")?,
        not_resource: list("NotResource")?,
        condition: map
            .get("Condition")
            .map(|v| parse_condition(v, &format!("{pointer}/Condition")))
            .transpose()?,
        sid,
    };
    let pairs = [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ];
    for (first, second) in pairs {
        if map.contains_key(first) && map.contains_key(second) {
            return Err(PolicyError::ConflictingElements {
                pointer: pointer.to_owned(),
                sid: statement.sid,
                first,
                second,
            });
        }
    }
    if statement.action.is_none() && statement.not_action.is_none() {
        return Err(PolicyError::MissingAction {
            pointer: pointer.to_owned(),
            sid: statement.sid,
        });
    }
    Ok(statement)
}

fn parse_string_list(value: &Value, pointer: &str) -> Result<OneOrMany<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(OneOrMany::One(s.clone())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(&format!("{pointer}/{i}"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(OneOrMany::Many),
        other => Err(wrong_type(
            pointer,
            "a string or an array of strings",
            other,
        )),
    }
}

fn parse_principal(value: &Value, pointer: &str) -> Result<Principal, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::String(s) => Err(PolicyError::InvalidPrincipal {
            pointer: pointer.to_owned(),
            value: s.clone(),
        }),
        Value::Object(map) => map
            .iter()
            .map(|(kind, ids)| {
                let ids = parse_string_list(ids, &format!("{pointer}/{}", pointer_token(kind)))?;
                Ok((kind.clone(), ids))
            })
            .collect::<Result<_, _>>()
            .map(Principal::Map),
        other => Err(wrong_type(pointer, "\"*\" or an object", other)),
    }
}

fn parse_condition(value: &Value, pointer: &str) -> Result<ConditionBlock, PolicyError> {
    let Value::Object(ops) = value else {
        return Err(wrong_type(pointer, "an object", value));
    };
    let mut block = ConditionBlock::new();
    for (op, keys) in ops {
        let op_pointer = format!("{pointer}/{}", pointer_token(op));
        let Value::Object(keys) = keys else {
            return Err(wrong_type(&op_pointer, "an object", keys));
        };
        let mut parsed = BTreeMap::new();
        for (key, values) in keys {
            let key_pointer = format!("{op_pointer}/{}", pointer_token(key));
            let values = match values {
                Value::Array(items) => OneOrMany::Many(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| parse_condition_value(v, &format!("{key_pointer}/{i}")))
                        .collect::<Result<_, _>>()?,
                ),
                single => OneOrMany::One(parse_condition_value(single, &key_pointer)?),
            };
            parsed.insert(key.clone(), values);
        }
        block.insert(op.clone(), parsed);
    }
    Ok(block)
}

fn parse_condition_value(value: &Value, pointer: &str) -> Result<ConditionValue, PolicyError> {
    match value {
        Value::String(s) => Ok(ConditionValue::String(s.clone())),
        Value::Bool(b) => Ok(ConditionValue::Bool(*b)),
        Value::Number(n) => Ok(ConditionValue::Number(n.clone())),
        other => Err(wrong_type(
            pointer,
            "a string, boolean or number (or an array of them)",
            other,
        )),
    }
}
