//! The access API's OpenAPI 3.1 document (`GET /v1/openapi.json`), generated: the response
//! schemas from the report documents' own types (`schemars`, JSON Schema 2020-12, the dialect
//! of OpenAPI 3.1), the request schemas from the field lists the body parser reads
//! ([`GRANT_FIELDS`](super::request::GRANT_FIELDS)). Nothing in it is written by hand apart
//! from the paths, so a field added to a document or a body shows up here by itself.

use std::sync::OnceLock;

use rds_pg_access::CheckReport;
use rds_pg_access::document::{
    ExtendDocument, GrantDocument, InspectDocument, InventoryLine, RevokeDocument,
    RevokeRequestDocument,
};
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Value, json};

use super::request::{EXTEND_FIELDS, GRANT_FIELDS, body_schema};
use super::{APPROVAL_HEADER, InventoryEnd, PROBLEM_JSON, Problem};

/// The document (built once).
///
/// ```
/// let doc = rds_pg_access_service::api::openapi_document();
/// assert_eq!(doc["openapi"], "3.1.0");
/// assert!(doc["paths"]["/v1/integrations/{integration}/grants"]["post"].is_object());
/// assert!(doc["components"]["schemas"]["GrantDocument"].is_object());
/// ```
pub fn openapi_document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = Contract::Serialize;
        })
        .into_generator();
    let mut schema =
        |f: fn(&mut schemars::SchemaGenerator) -> schemars::Schema| f(&mut generator).to_value();
    let grant = schema(|g| g.subschema_for::<GrantDocument>());
    let inspect = schema(|g| g.subschema_for::<InspectDocument>());
    let extend = schema(|g| g.subschema_for::<ExtendDocument>());
    let revoke = schema(|g| g.subschema_for::<RevokeDocument>());
    let revoke_request = schema(|g| g.subschema_for::<RevokeRequestDocument>());
    let line = schema(|g| g.subschema_for::<InventoryLine>());
    let end = schema(|g| g.subschema_for::<InventoryEnd>());
    let check = schema(|g| g.subschema_for::<CheckReport>());
    let problem = schema(|g| g.subschema_for::<Problem>());
    let mut schemas = generator.take_definitions(true);
    for schema in schemas.values_mut() {
        tidy_descriptions(schema);
    }
    schemas.insert("GrantRequest".to_owned(), body_schema(GRANT_FIELDS));
    schemas.insert("ExtendRequest".to_owned(), body_schema(EXTEND_FIELDS));

    let json_body = |schema: &Value| json!({ "application/json": { "schema": schema } });
    let ok = |description: &str, schema: &Value| json!({ "description": description, "content": json_body(schema) });
    let problems = json!({
        "description": "a refusal or failure, naming the field at fault; an operation that \
                        ran and failed on some instance carries its report in `report`",
        "content": { PROBLEM_JSON: { "schema": problem } }
    });
    let integration = json!({
        "name": "integration", "in": "path", "required": true,
        "schema": { "type": "string" }, "description": "the integration's name"
    });
    let user = json!({
        "name": "user", "in": "path", "required": true,
        "schema": { "type": "string", "maxLength": 63 },
        "description": "the managed database user (percent-encoded)"
    });
    let approval = json!({
        "name": APPROVAL_HEADER, "in": "header", "required": false,
        "schema": { "type": "string" },
        "description": "`Bearer <token>` of the approving caller (a caller with the approve \
                        action, not the requester)"
    });
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "rds-pg-access connector access API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Request, extend, inspect and revoke just-in-time access to RDS \
                            PostgreSQL where the connector's credentials live.",
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/v1/integrations/{integration}/grants": {
                "parameters": [integration],
                "post": {
                    "operationId": "grant",
                    "summary": "Grant time-bound access; the answer holds the credentials, once",
                    "parameters": [approval],
                    "requestBody": { "required": true, "content": json_body(&json!({ "$ref": "#/components/schemas/GrantRequest" })) },
                    "responses": {
                        "201": ok("granted everywhere", &grant),
                        "default": problems,
                    },
                },
            },
            "/v1/integrations/{integration}/users/{user}": {
                "parameters": [integration, user],
                "get": {
                    "operationId": "inspect",
                    "summary": "Where a managed user stands, its grants and privileges",
                    "parameters": [{
                        "name": "database", "in": "query", "required": false,
                        "schema": { "type": "string" }, "description": "only this database"
                    }],
                    "responses": {
                        "200": ok("the user on every instance", &inspect),
                        "default": problems,
                    },
                },
                "delete": {
                    "operationId": "revoke",
                    "summary": "End the user's access (with `request`: that grant only)",
                    "parameters": [{
                        "name": "request", "in": "query", "required": false,
                        "schema": { "type": "string" }, "description": "end only this request's grant"
                    }],
                    "responses": {
                        "200": ok("revoked", &json!({ "oneOf": [revoke, revoke_request] })),
                        "default": problems,
                    },
                },
            },
            "/v1/integrations/{integration}/users/{user}/extend": {
                "parameters": [integration, user],
                "post": {
                    "operationId": "extend",
                    "summary": "Move the expiry of the user's grants, checked against the access flows",
                    "parameters": [approval],
                    "requestBody": { "required": true, "content": json_body(&json!({ "$ref": "#/components/schemas/ExtendRequest" })) },
                    "responses": {
                        "200": ok("extended", &extend),
                        "default": problems,
                    },
                },
            },
            "/v1/integrations/{integration}/inventory": {
                "parameters": [integration],
                "get": {
                    "operationId": "inventory",
                    "summary": "Every database, schema and table, streamed",
                    "responses": {
                        "200": {
                            "description": "NDJSON: one object per line, the items, then one \
                                            line of type `end`",
                            "content": { "application/x-ndjson": { "schema": { "oneOf": [line, end] } } },
                        },
                        "default": problems,
                    },
                },
            },
            "/v1/integrations/{integration}/check": {
                "parameters": [integration],
                "get": {
                    "operationId": "check",
                    "summary": "The integration's setup, item by item",
                    "responses": {
                        "200": ok("the items", &check),
                        "default": problems,
                    },
                },
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": { "200": { "description": "the OpenAPI 3.1 document" } },
                },
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http", "scheme": "bearer",
                    "description": "a caller's token; the settings hold its SHA-256"
                },
            },
        },
    })
}

/// The Rust doc comments the schemas' descriptions come from, without their code examples
/// (written for rustdoc, with hidden lines).
fn tidy_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get_mut("description")
                && let Some(at) = text.find("```")
            {
                let kept = text[..at].trim_end().to_owned();
                *text = kept;
            }
            map.values_mut().for_each(tidy_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}
