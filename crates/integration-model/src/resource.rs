//! What access is about: resource types, references inside one instance, and full paths.
//!
//! * [`ResourceRef`]: `DATABASE[/SCHEMA[/TABLE]]` inside one instance (what SQL code needs).
//! * [`ResourcePath`]: `INSTANCE/DATABASE[/SCHEMA[/TABLE]]`, the address of a resource in a
//!   fleet. Its `FromStr` always wants the instance. When an integration selects exactly one
//!   instance (`instance.id`), [`ResourcePath::parse_in`] with that instance reads the short
//!   form without it. The two forms are never guessed from the text: `orders/app` could be
//!   instance `orders` database `app`, or database `orders` schema `app`.
//!
//! Segments that contain `/` or `"` are double-quoted the way SQL quotes identifiers:
//! `orders-db/"my/db"/public/"say ""hi"""`. Display quotes only when needed, and
//! `parse(display(x)) == x` for every value.

use std::fmt;
use std::str::FromStr;

use crate::error::quote;
use crate::segment::{read_segment, write_segment};
use crate::text::{keyword_enum, serde_via_str};
use crate::{Identifier, InstanceId, ModelError};

keyword_enum! {
    /// A kind of resource the integration syncs and grants on.
    pub enum ResourceType ("resource type") {
        /// A database (CONNECT, CREATE, TEMPORARY).
        Database = "database",
        /// A schema (USAGE, CREATE).
        Schema = "schema",
        /// A table (SELECT, INSERT, ...).
        Table = "table",
    }
}

/// A non-empty set of [`ResourceType`]s. Default: all three.
///
/// Text form: comma separated, in the order database, schema, table (`database,table`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceTypes {
    database: bool,
    schema: bool,
    table: bool,
}

impl ResourceTypes {
    /// Database, schema and table.
    pub const fn all() -> Self {
        Self {
            database: true,
            schema: true,
            table: true,
        }
    }

    /// Builds a set; empty lists and repeated types are errors (a repeat is usually a typo).
    pub fn new(types: impl IntoIterator<Item = ResourceType>) -> Result<Self, ModelError> {
        const KEY: &str = "resource_types";
        let mut set = Self {
            database: false,
            schema: false,
            table: false,
        };
        for resource_type in types {
            let slot = match resource_type {
                ResourceType::Database => &mut set.database,
                ResourceType::Schema => &mut set.schema,
                ResourceType::Table => &mut set.table,
            };
            if *slot {
                return Err(ModelError::duplicate(KEY, resource_type.as_str()));
            }
            *slot = true;
        }
        if set.iter().next().is_none() {
            return Err(ModelError::invalid_bare(
                KEY,
                "[]",
                "names no resource type; list one or more of: database, schema, table",
            ));
        }
        Ok(set)
    }

    /// Whether the set holds `resource_type`.
    pub fn contains(&self, resource_type: ResourceType) -> bool {
        match resource_type {
            ResourceType::Database => self.database,
            ResourceType::Schema => self.schema,
            ResourceType::Table => self.table,
        }
    }

    /// The types in the set, in the order database, schema, table.
    pub fn iter(&self) -> impl Iterator<Item = ResourceType> + '_ {
        ResourceType::ALL
            .iter()
            .copied()
            .filter(|t| self.contains(*t))
    }
}

impl fmt::Debug for ResourceTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Default for ResourceTypes {
    fn default() -> Self {
        Self::all()
    }
}

impl fmt::Display for ResourceTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, resource_type) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(resource_type.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ResourceTypes {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Self::new([]);
        }
        let types = text
            .split(',')
            .map(|part| {
                part.parse::<ResourceType>()
                    .map_err(|e| e.at("resource_types"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(types)
    }
}

impl serde::Serialize for ResourceTypes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for ResourceTypes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let types = Vec::<ResourceType>::deserialize(deserializer)?;
        Self::new(types).map_err(serde::de::Error::custom)
    }
}

/// A database, schema or table inside one instance: `DATABASE[/SCHEMA[/TABLE]]`.
///
/// A table always has a schema (the constructors make anything else unrepresentable).
///
/// ```
/// use integration_model::{ResourceRef, ResourceType};
/// let r: ResourceRef = "app/public/\"order/lines\"".parse()?;
/// assert_eq!(r.resource_type(), ResourceType::Table);
/// assert_eq!(r.table_name().map(|t| t.as_str()), Some("order/lines"));
/// assert_eq!(r.to_string(), "app/public/\"order/lines\"");
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceRef {
    database: Identifier,
    schema: Option<Identifier>,
    table: Option<Identifier>,
}

impl ResourceRef {
    /// A whole database.
    pub fn database(database: Identifier) -> Self {
        Self {
            database,
            schema: None,
            table: None,
        }
    }

    /// A schema in a database.
    pub fn schema(database: Identifier, schema: Identifier) -> Self {
        Self {
            database,
            schema: Some(schema),
            table: None,
        }
    }

    /// A table in a schema.
    pub fn table(database: Identifier, schema: Identifier, table: Identifier) -> Self {
        Self {
            database,
            schema: Some(schema),
            table: Some(table),
        }
    }

    /// The database.
    pub fn database_name(&self) -> &Identifier {
        &self.database
    }

    /// The schema, for schema and table references.
    pub fn schema_name(&self) -> Option<&Identifier> {
        self.schema.as_ref()
    }

    /// The table, for table references.
    pub fn table_name(&self) -> Option<&Identifier> {
        self.table.as_ref()
    }

    /// Which kind of resource this names.
    pub fn resource_type(&self) -> ResourceType {
        match (&self.schema, &self.table) {
            (_, Some(_)) => ResourceType::Table,
            (Some(_), None) => ResourceType::Schema,
            (None, None) => ResourceType::Database,
        }
    }

    fn from_segments(key: &str, text: &str, segments: &[String]) -> Result<Self, ModelError> {
        let ident = |segment: &String, role: &str| {
            segment.parse::<Identifier>().map_err(|e| {
                ModelError::invalid(
                    key,
                    text,
                    format!("has a bad {role} name {}: {}", quote(segment), reason_of(e)),
                )
            })
        };
        match segments {
            [database] => Ok(Self::database(ident(database, "database")?)),
            [database, schema] => Ok(Self::schema(
                ident(database, "database")?,
                ident(schema, "schema")?,
            )),
            [database, schema, table] => Ok(Self::table(
                ident(database, "database")?,
                ident(schema, "schema")?,
                ident(table, "table")?,
            )),
            _ => Err(ModelError::invalid(
                key,
                text,
                format!(
                    "has {} segments; write DATABASE[/SCHEMA[/TABLE]]",
                    segments.len()
                ),
            )),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_segment(f, self.database.as_str(), '/')?;
        for part in [&self.schema, &self.table].into_iter().flatten() {
            f.write_str("/")?;
            write_segment(f, part.as_str(), '/')?;
        }
        Ok(())
    }
}

impl FromStr for ResourceRef {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "resource";
        let segments = split_segments(KEY, text)?;
        Self::from_segments(KEY, text, &segments)
    }
}

serde_via_str!(ResourceRef);

/// The full address of a resource in a fleet: `INSTANCE/DATABASE[/SCHEMA[/TABLE]]`.
///
/// `INSTANCE` is an RDS DB instance identifier or an Aurora DB cluster identifier.
///
/// ```
/// use integration_model::{InstanceId, ResourcePath};
/// let full: ResourcePath = "orders-db/app/public/orders".parse()?;
/// assert_eq!(full.instance().as_str(), "orders-db");
///
/// // In an integration that selects exactly one instance, the instance may be left out:
/// let only: InstanceId = "orders-db".parse()?;
/// let short = ResourcePath::parse_in("app/public/orders", Some(&only))?;
/// assert_eq!(short, full);
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePath {
    instance: InstanceId,
    resource: ResourceRef,
}

impl ResourcePath {
    /// A resource on an instance.
    pub fn new(instance: InstanceId, resource: ResourceRef) -> Self {
        Self { instance, resource }
    }

    /// Parses a path relative to an integration.
    ///
    /// * `default_instance = None` (a fleet selected by tags): the text must be the full
    ///   `INSTANCE/DATABASE[/SCHEMA[/TABLE]]`, as with `FromStr`.
    /// * `default_instance = Some(id)` (an integration that selects exactly one instance, see
    ///   [`Integration::single_instance`](crate::Integration::single_instance)): the text is
    ///   the short `DATABASE[/SCHEMA[/TABLE]]`, and the path is on `id`. Four segments are
    ///   refused with an error that says to leave the instance out, because two- and
    ///   three-segment texts cannot tell an instance from a database.
    pub fn parse_in(text: &str, default_instance: Option<&InstanceId>) -> Result<Self, ModelError> {
        const KEY: &str = "resource path";
        let segments = split_segments(KEY, text)?;
        match default_instance {
            Some(instance) => {
                if segments.len() > 3 {
                    return Err(ModelError::invalid(
                        KEY,
                        text,
                        format!(
                            "has {} segments; this integration selects the single instance {}, \
                             so write DATABASE[/SCHEMA[/TABLE]] without the instance",
                            segments.len(),
                            quote(instance.as_str())
                        ),
                    ));
                }
                let resource = ResourceRef::from_segments(KEY, text, &segments)?;
                Ok(Self::new(instance.clone(), resource))
            }
            None => {
                let Some((instance, rest)) = segments
                    .split_first()
                    .filter(|(_, rest)| !rest.is_empty() && rest.len() <= 3)
                else {
                    return Err(ModelError::invalid(
                        KEY,
                        text,
                        format!(
                            "has {} segment(s); write INSTANCE/DATABASE[/SCHEMA[/TABLE]]",
                            segments.len()
                        ),
                    ));
                };
                let instance = instance.parse::<InstanceId>().map_err(|e| {
                    ModelError::invalid(
                        KEY,
                        text,
                        format!("has a bad instance {}: {}", quote(instance), reason_of(e)),
                    )
                })?;
                let resource = ResourceRef::from_segments(KEY, text, rest)?;
                Ok(Self::new(instance, resource))
            }
        }
    }

    /// The RDS instance or Aurora cluster.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// The resource inside the instance.
    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    /// Splits into instance and resource.
    pub fn into_parts(self) -> (InstanceId, ResourceRef) {
        (self.instance, self.resource)
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.instance, self.resource)
    }
}

impl FromStr for ResourcePath {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_in(text, None)
    }
}

serde_via_str!(ResourcePath);

fn split_segments(key: &str, text: &str) -> Result<Vec<String>, ModelError> {
    let mut segments = Vec::new();
    let mut rest = Some(text);
    while let Some(current) = rest {
        if current.is_empty() || current.starts_with('/') {
            return Err(ModelError::invalid(
                key,
                text,
                format!(
                    "has an empty segment (segment {}); names are separated by single '/'",
                    segments.len() + 1
                ),
            ));
        }
        let (segment, next) =
            read_segment(current, '/').map_err(|reason| ModelError::invalid(key, text, reason))?;
        segments.push(segment);
        rest = next;
    }
    Ok(segments)
}

/// The `reason` of an [`ModelError::InvalidValue`], or the whole message otherwise.
pub(crate) fn reason_of(error: ModelError) -> String {
    match error {
        ModelError::InvalidValue { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_text() {
        let all: ResourceTypes = "database,schema,table".parse().unwrap();
        assert_eq!(all, ResourceTypes::all());
        let some: ResourceTypes = "table,database".parse().unwrap();
        assert_eq!(some.to_string(), "database,table");
        assert!(!some.contains(ResourceType::Schema));
        assert!("".parse::<ResourceTypes>().is_err());
        let dup = "table,table"
            .parse::<ResourceTypes>()
            .unwrap_err()
            .to_string();
        assert_eq!(dup, "resource_types: duplicate \"table\"");
        assert!("tables".parse::<ResourceTypes>().is_err());
    }

    #[test]
    fn paths() {
        let p: ResourcePath = "orders-db/app".parse().unwrap();
        assert_eq!(p.resource().resource_type(), ResourceType::Database);
        let p: ResourcePath = "orders-db/\"my/db\"/\"a\"\"b\"".parse().unwrap();
        assert_eq!(p.resource().database_name().as_str(), "my/db");
        assert_eq!(p.resource().schema_name().unwrap().as_str(), "a\"b");
        assert_eq!(p.to_string(), "orders-db/\"my/db\"/\"a\"\"b\"");
        for bad in [
            "orders-db",
            "",
            "orders-db/",
            "/app",
            "orders-db//x",
            "9db/app",
            "a/b/c/d/e",
            "db/a\"b",
        ] {
            assert!(bad.parse::<ResourcePath>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parse_in_with_default_instance() {
        let id: InstanceId = "orders-db".parse().unwrap();
        let p = ResourcePath::parse_in("app", Some(&id)).unwrap();
        assert_eq!(p.to_string(), "orders-db/app");
        let err = ResourcePath::parse_in("orders-db/app/public/t", Some(&id))
            .unwrap_err()
            .to_string();
        assert!(err.contains("without the instance"), "{err}");
        // Without a default, the first segment is the instance.
        let p = ResourcePath::parse_in("app/public", None).unwrap();
        assert_eq!(p.instance().as_str(), "app");
        assert_eq!(p.resource().database_name().as_str(), "public");
    }

    #[test]
    fn bad_identifier_in_path_names_the_segment() {
        let long = "x".repeat(64);
        let err = format!("orders-db/{long}")
            .parse::<ResourcePath>()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("resource path: \"orders-db/"), "{err}");
        assert!(err.contains("bad database name"), "{err}");
        assert!(err.contains("64 bytes"), "{err}");
    }
}
