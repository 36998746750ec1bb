//! Reading a request body: a JSON object of known fields, each checked and named when wrong.
//!
//! Not a `#[derive(Deserialize)]`: serde's errors say "invalid type: integer, expected a
//! string at line 1 column 20" where the caller needs the field's name, and it keeps the last
//! of two equal keys where a body saying `"user"` twice must be refused (a proxy and this
//! service could read different users out of it).

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::{Map, Value};

use super::problem::Problem;
use hyper::StatusCode;

/// The largest body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most resources one grant may name.
pub const MAX_RESOURCES: usize = 256;

/// A JSON object whose keys are all different.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "the field {key:?} appears twice"
                        )));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// What a body field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A string.
    Text,
    /// A list of 1 to [`MAX_RESOURCES`] strings.
    Texts,
}

/// One field a request body takes: the parser reads bodies by these, and the OpenAPI
/// document's request schemas are made from them ([`body_schema`]), so the two cannot differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: FieldKind,
    pub(crate) required: bool,
    pub(crate) about: &'static str,
}

const fn field(
    name: &'static str,
    kind: FieldKind,
    required: bool,
    about: &'static str,
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required,
        about,
    }
}

/// `POST grants`.
pub(crate) const GRANT_FIELDS: &[FieldSpec] = &[
    field(
        "user",
        FieldKind::Text,
        true,
        "the database user to create or give more access",
    ),
    field(
        "level",
        FieldKind::Text,
        true,
        "read-only, read-write or admin",
    ),
    field(
        "resources",
        FieldKind::Texts,
        true,
        "INSTANCE/DATABASE[/SCHEMA[/TABLE]] paths (DATABASE[/SCHEMA[/TABLE]] when the \
         integration has one instance)",
    ),
    field(
        "duration",
        FieldKind::Text,
        true,
        "how long access lasts, e.g. 2h",
    ),
    field(
        "request_id",
        FieldKind::Text,
        true,
        "the request's id: a retried call with the same id is safe",
    ),
    field(
        "reason",
        FieldKind::Text,
        false,
        "why access is requested (recorded)",
    ),
    field(
        "approver",
        FieldKind::Text,
        false,
        "who approved it, named by a caller with the approve action",
    ),
];

/// `POST users/{user}/extend`.
pub(crate) const EXTEND_FIELDS: &[FieldSpec] = &[
    field(
        "duration",
        FieldKind::Text,
        true,
        "how long from now access lasts, e.g. 2h",
    ),
    field(
        "request_id",
        FieldKind::Text,
        false,
        "the grant to extend (default: every active grant of the user)",
    ),
    field(
        "approver",
        FieldKind::Text,
        false,
        "who approved it, named by a caller with the approve action",
    ),
];

/// The JSON Schema of a body of `specs`.
pub(crate) fn body_schema(specs: &[FieldSpec]) -> Value {
    let mut properties = Map::new();
    for spec in specs {
        let schema = match spec.kind {
            FieldKind::Text => serde_json::json!({ "type": "string", "description": spec.about }),
            FieldKind::Texts => serde_json::json!({
                "type": "array",
                "items": { "type": "string" },
                "minItems": 1,
                "maxItems": MAX_RESOURCES,
                "description": spec.about,
            }),
        };
        properties.insert(spec.name.to_owned(), schema);
    }
    let required: Vec<&str> = specs
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name)
        .collect();
    serde_json::json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The fields of a body, taken one by one.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    specs: &'static [FieldSpec],
}

impl Fields {
    /// Parses `body`, a JSON object with only the fields of `specs`.
    pub(crate) fn parse(body: &[u8], specs: &'static [FieldSpec]) -> Result<Self, Problem> {
        let UniqueObject(map) = serde_json::from_slice(body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-body",
                format!("the body is not a JSON object of the request's fields: {e}"),
            )
        })?;
        if let Some(unknown) = map
            .keys()
            .find(|k| !specs.iter().any(|s| s.name == k.as_str()))
        {
            let shown: String = unknown.chars().take(64).collect();
            let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "unknown-field",
                format!(
                    "unknown field {shown:?}; this request takes {}",
                    known.join(", ")
                ),
            )
            .at(&shown));
        }
        Ok(Self { map, specs })
    }

    /// An optional string field (`null` is the same as absent).
    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, Problem> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Problem::bad_request(
                name,
                format!("{name}: give a string, not {}", type_name(&other)),
            )),
        }
    }

    /// A string field that must be there.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, Problem> {
        let about = self
            .specs
            .iter()
            .find(|s| s.name == name)
            .map_or("", |s| s.about);
        self.string(name)?
            .ok_or_else(|| Problem::bad_request(name, format!("{name}: required ({about})")))
    }

    /// A list of strings that must be there, with 1 to `max` entries.
    pub(crate) fn strings(&mut self, name: &str, max: usize) -> Result<Vec<String>, Problem> {
        let items = match self.map.remove(name) {
            None | Some(Value::Null) => {
                return Err(Problem::bad_request(name, format!("{name}: required")));
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(Problem::bad_request(
                    name,
                    format!("{name}: give a list of strings, not {}", type_name(&other)),
                ));
            }
        };
        if items.is_empty() || items.len() > max {
            return Err(Problem::bad_request(
                name,
                format!("{name}: give 1 to {max} entries, not {}", items.len()),
            ));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(Problem::bad_request(
                    &format!("{name}[{i}]"),
                    format!("{name}[{i}]: give a string, not {}", type_name(&other)),
                )),
            })
            .collect()
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The body field a model error's key names (the request builder's names are not the
/// body's).
pub(crate) fn field_of_model_key(key: &str) -> String {
    match key {
        "grantee" => "user".to_owned(),
        "approved_by" => "approver".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_refused_naming_the_field() {
        const SPECS: &[FieldSpec] = &[
            field("user", FieldKind::Text, false, "a user"),
            field("resources", FieldKind::Texts, true, "paths"),
        ];
        let cases: [(&[u8], Option<&str>); 7] = [
            (b"", None),
            (b"[]", None),
            (b"{\"user\": \"a\", \"user\": \"b\"}", None),
            (b"{\"colour\": 1}", Some("colour")),
            (b"{\"user\": 5}", Some("user")),
            (b"{\"resources\": [\"a\", 1]}", Some("resources[1]")),
            (b"{\"resources\": []}", Some("resources")),
        ];
        for (body, field) in cases {
            let outcome = Fields::parse(body, SPECS).and_then(|mut f| {
                f.string("user")?;
                f.strings("resources", 4)?;
                Ok(())
            });
            let problem = outcome.expect_err(&String::from_utf8_lossy(body));
            assert_eq!(problem.status, 400, "{problem:?}");
            assert_eq!(problem.field.as_deref(), field, "{problem:?}");
        }
    }

    #[test]
    fn the_schemas_say_what_the_parser_takes() {
        for specs in [GRANT_FIELDS, EXTEND_FIELDS] {
            let schema = body_schema(specs);
            let properties = schema["properties"].as_object().expect("properties");
            assert_eq!(properties.len(), specs.len());
            for spec in specs {
                let required = schema["required"]
                    .as_array()
                    .expect("required")
                    .contains(&Value::from(spec.name));
                assert_eq!(required, spec.required, "{}", spec.name);
                // A body of only this field is read past it: the parser takes what the schema
                // names.
                let body = match spec.kind {
                    FieldKind::Text => serde_json::json!({ spec.name: "x" }),
                    FieldKind::Texts => serde_json::json!({ spec.name: ["x"] }),
                };
                let parsed = Fields::parse(body.to_string().as_bytes(), specs);
                assert!(parsed.is_ok(), "{}: {parsed:?}", spec.name);
            }
            let unknown = Fields::parse(b"{\"other\": 1}", specs).expect_err("unknown field");
            assert_eq!(unknown.field.as_deref(), Some("other"));
            assert_eq!(schema["additionalProperties"], false);
        }
    }
}
