//! [`CheckReport`]'s document: a JSON list of items, or a text line per item.

use std::fmt;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::manager::{CheckItem, CheckReport};

/// `{instance, item, ok, detail, fix}`.
impl Serialize for CheckItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut item = serializer.serialize_struct("CheckItem", 5)?;
        item.serialize_field("instance", &self.instance.as_ref().map(ToString::to_string))?;
        item.serialize_field("item", self.item)?;
        item.serialize_field("ok", &self.ok)?;
        item.serialize_field("detail", &self.detail)?;
        item.serialize_field("fix", &self.fix)?;
        item.end()
    }
}

/// `{instance, item, ok, detail, fix}`.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for CheckItem {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("CheckItem")
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "instance": { "type": ["string", "null"] },
                "item": { "type": "string" },
                "ok": { "type": "boolean" },
                "detail": { "type": "string" },
                "fix": { "type": ["string", "null"] }
            },
            "required": ["instance", "item", "ok", "detail", "fix"],
            "additionalProperties": false
        })
    }
}

/// The list of items.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for CheckReport {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("CheckReport")
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = generator.subschema_for::<CheckItem>();
        schemars::json_schema!({ "type": "array", "items": item })
    }
}

/// The list of items.
impl Serialize for CheckReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut items = serializer.serialize_seq(Some(self.items.len()))?;
        for item in &self.items {
            items.serialize_element(item)?;
        }
        items.end()
    }
}

/// `ok      instance: item: detail` or `PROBLEM ...`, with the fix on the next line.
impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.items {
            let place = i
                .instance
                .as_ref()
                .map_or_else(String::new, |n| format!("{n}: "));
            writeln!(
                f,
                "{} {place}{}: {}",
                if i.ok { "ok     " } else { "PROBLEM" },
                i.item,
                i.detail
            )?;
            if let Some(fix) = &i.fix {
                writeln!(f, "        fix: {fix}")?;
            }
        }
        Ok(())
    }
}
