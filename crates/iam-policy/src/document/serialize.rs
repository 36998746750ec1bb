//! The written form: a document as a `serde_json::Value`, keys as AWS writes them.

use serde_json::{Map, Value};

use super::{ConditionValue, OneOrMany, PolicyDocument, Principal, Statement};

/// The document as a JSON value (see [`PolicyDocument::to_value`]).
pub(super) fn document_to_value(doc: &PolicyDocument) -> Value {
    let mut map = Map::new();
    if let Some(version) = doc.version {
        map.insert("Version".into(), Value::String(version.as_str().into()));
    }
    if let Some(id) = &doc.id {
        map.insert("Id".into(), Value::String(id.clone()));
    }
    let statement = match &doc.statement {
        OneOrMany::One(st) => statement_to_value(st),
        OneOrMany::Many(sts) => Value::Array(sts.iter().map(statement_to_value).collect()),
    };
    map.insert("Statement".into(), statement);
    Value::Object(map)
}

fn statement_to_value(st: &Statement) -> Value {
    fn list(v: &OneOrMany<String>) -> Value {
        match v {
            OneOrMany::One(s) => Value::String(s.clone()),
            OneOrMany::Many(items) => {
                Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
            }
        }
    }
    fn principal(p: &Principal) -> Value {
        match p {
            Principal::Any => Value::String("*".into()),
            Principal::Map(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), list(v))).collect())
            }
        }
    }
    fn cond_value(v: &ConditionValue) -> Value {
        match v {
            ConditionValue::String(s) => Value::String(s.clone()),
            ConditionValue::Bool(b) => Value::Bool(*b),
            ConditionValue::Number(n) => Value::Number(n.clone()),
        }
    }
    let mut map = Map::new();
    if let Some(sid) = &st.sid {
        map.insert("Sid".into(), Value::String(sid.clone()));
    }
    map.insert("Effect".into(), Value::String(st.effect.as_str().into()));
    let lists = [
        ("Action", &st.action),
        ("NotAction", &st.not_action),
        ("Resource", &st.resource),
        ("NotResource", &st.not_resource),
    ];
    for (key, value) in lists {
        if let Some(v) = value {
            map.insert(key.into(), list(v));
        }
    }
    if let Some(p) = &st.principal {
        map.insert("Principal".into(), principal(p));
    }
    if let Some(p) = &st.not_principal {
        map.insert("NotPrincipal".into(), principal(p));
    }
    if let Some(block) = &st.condition {
        let ops = block
            .iter()
            .map(|(op, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, vals)| {
                        let v = match vals {
                            OneOrMany::One(v) => cond_value(v),
                            OneOrMany::Many(vs) => {
                                Value::Array(vs.iter().map(cond_value).collect())
                            }
                        };
                        (k.clone(), v)
                    })
                    .collect();
                (op.clone(), Value::Object(keys))
            })
            .collect();
        map.insert("Condition".into(), Value::Object(ops));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_value_equals_serde_output() {
        let doc = PolicyDocument::new(vec![
            Statement::allow()
                .with_sid("A")
                .with_action("rds-db:connect")
                .with_resource(["x", "y"])
                .with_principal(Principal::Any)
                .with_condition("Bool", "aws:SecureTransport", true),
        ])
        .with_id("id");
        let via_serde: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(via_serde, doc.to_value());
    }
}
