//! Privileges, the object kinds they apply to, scopes, and what each access level means.
//!
//! # Default privileges per level
//!
//! | object kind | `read_only` | `read_write` | `admin` |
//! |---|---|---|---|
//! | database | `CONNECT` | `CONNECT`, `TEMPORARY` | `CONNECT`, `CREATE`, `TEMPORARY` |
//! | schema | `USAGE` | `USAGE` | `USAGE`, `CREATE` |
//! | table (tables, views, materialized views, partitioned and foreign tables) | `SELECT` | `SELECT`, `INSERT`, `UPDATE`, `DELETE` | `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`, and `MAINTAIN` on 17+ (not `TRIGGER`) |
//! | sequence | `SELECT` | `SELECT`, `USAGE` | `SELECT`, `USAGE`, `UPDATE` |
//! | function and procedure | none | none | `EXECUTE` |
//!
//! Override any cell with [`LevelPolicy::set`]. Privileges the server version lacks (`MAINTAIN`
//! before 17) are left out when planning.
//!
//! No level grants `TRIGGER`: a trigger runs its function with the rights of whoever writes to
//! the table, so a grantee holding it attaches code it owns to a table it does not own, and the
//! owner's (or the master user's) next write runs that code with the writer's rights, while the
//! grant lasts and after it (see [`revoke`](crate::revoke)). Grant it with [`LevelPolicy::set`]
//! only to a grantee trusted with the rights of every role that writes to those tables.
//!
//! A privilege that `PUBLIC` already holds on an object (by default `CONNECT` and `TEMPORARY` on
//! databases, `USAGE` on schema `public`, `EXECUTE` on functions) is neither granted nor revoked:
//! the grantee has it anyway, and granting it would need the object owner's rights for nothing.
//!
//! # Scopes
//!
//! | scope | database | schemas | tables, sequences, functions |
//! |---|---|---|---|
//! | [`Scope::Database`] | the level's privileges | every non-system schema: the level's | all in those schemas: the level's |
//! | [`Scope::Schema`] | the level's, without `CREATE` | that schema: the level's | all in that schema: the level's |
//! | [`Scope::Table`] | `CONNECT` only | the table's schema: `USAGE` only | that table (or sequence) and the sequences its columns own (`serial`): the level's |
//!
//! Non-system schemas are all except `pg_catalog`, `information_schema`, `pg_toast*` and
//! `pg_temp_*`.

use std::collections::HashMap;
use std::fmt;

use crate::quote::{Ident, QualifiedName};
use integration_model::AccessLevel;

/// A PostgreSQL privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Privilege {
    /// `SELECT`
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `TRUNCATE`
    Truncate,
    /// `REFERENCES`
    References,
    /// `TRIGGER`
    Trigger,
    /// `MAINTAIN` (17+)
    Maintain,
    /// `USAGE`
    Usage,
    /// `CREATE`
    Create,
    /// `CONNECT`
    Connect,
    /// `TEMPORARY`
    Temporary,
    /// `EXECUTE`
    Execute,
}

const ALL: [Privilege; 13] = [
    Privilege::Select,
    Privilege::Insert,
    Privilege::Update,
    Privilege::Delete,
    Privilege::Truncate,
    Privilege::References,
    Privilege::Trigger,
    Privilege::Maintain,
    Privilege::Usage,
    Privilege::Create,
    Privilege::Connect,
    Privilege::Temporary,
    Privilege::Execute,
];

impl Privilege {
    /// The SQL keyword, as `aclexplode` spells it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Select => "SELECT",
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Truncate => "TRUNCATE",
            Self::References => "REFERENCES",
            Self::Trigger => "TRIGGER",
            Self::Maintain => "MAINTAIN",
            Self::Usage => "USAGE",
            Self::Create => "CREATE",
            Self::Connect => "CONNECT",
            Self::Temporary => "TEMPORARY",
            Self::Execute => "EXECUTE",
        }
    }

    /// Parses a keyword as `aclexplode` returns it (`TEMP` accepted too).
    pub fn from_keyword(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("TEMP") {
            return Some(Self::Temporary);
        }
        ALL.into_iter()
            .find(|p| p.keyword().eq_ignore_ascii_case(s))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// As a JSON string: its keyword (`"SELECT"`).
impl serde::Serialize for Privilege {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.keyword())
    }
}

/// As a JSON array of keywords, in the set's order (`["SELECT", "INSERT"]`).
impl serde::Serialize for PrivilegeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A set of privileges.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PrivilegeSet(u16);

impl PrivilegeSet {
    /// The empty set.
    pub const EMPTY: PrivilegeSet = PrivilegeSet(0);

    /// A set of the given privileges.
    pub fn of(privileges: &[Privilege]) -> Self {
        privileges.iter().copied().collect()
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Privilege) {
        self.0 |= p.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Privileges in `self` or `other`.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Privileges in `self` but not in `other`.
    #[must_use]
    pub fn minus(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// The privileges, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// `SELECT, INSERT` (comma-separated keywords).
    pub fn to_sql_list(self) -> String {
        self.iter()
            .map(Privilege::keyword)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromIterator<Privilege> for PrivilegeSet {
    fn from_iter<I: IntoIterator<Item = Privilege>>(iter: I) -> Self {
        let mut s = Self::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PrivilegeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.to_sql_list())
    }
}

/// Kinds of objects that carry privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A database.
    Database,
    /// A schema.
    Schema,
    /// A table, view, materialized view, partitioned table or foreign table.
    Table,
    /// A sequence.
    Sequence,
    /// A function or procedure.
    Function,
}

impl ObjectKind {
    /// Lower-case name, as used in messages and by the inspection query.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Schema => "schema",
            Self::Table => "table",
            Self::Sequence => "sequence",
            Self::Function => "function",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            Self::Database,
            Self::Schema,
            Self::Table,
            Self::Sequence,
            Self::Function,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The keyword after `GRANT … ON`.
    pub(crate) fn grant_keyword(self) -> &'static str {
        match self {
            Self::Database => "DATABASE",
            Self::Schema => "SCHEMA",
            Self::Table => "TABLE",
            Self::Sequence => "SEQUENCE",
            Self::Function => "ROUTINE",
        }
    }

    /// Every privilege that applies to this kind.
    pub fn applicable(self) -> PrivilegeSet {
        use Privilege::*;
        match self {
            Self::Database => PrivilegeSet::of(&[Connect, Create, Temporary]),
            Self::Schema => PrivilegeSet::of(&[Usage, Create]),
            Self::Table => PrivilegeSet::of(&[
                Select, Insert, Update, Delete, Truncate, References, Trigger, Maintain,
            ]),
            Self::Sequence => PrivilegeSet::of(&[Select, Usage, Update]),
            Self::Function => PrivilegeSet::of(&[Execute]),
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As a JSON string (as `Display`: `"table"`).
impl serde::Serialize for ObjectKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Which privileges each level grants on each object kind (the table in the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPolicy {
    cells: HashMap<(AccessLevel, ObjectKind), PrivilegeSet>,
}

impl Default for LevelPolicy {
    fn default() -> Self {
        use ObjectKind as K;
        use Privilege::*;
        let ro = [
            (K::Database, PrivilegeSet::of(&[Connect])),
            (K::Schema, PrivilegeSet::of(&[Usage])),
            (K::Table, PrivilegeSet::of(&[Select])),
            (K::Sequence, PrivilegeSet::of(&[Select])),
            (K::Function, PrivilegeSet::EMPTY),
        ];
        let rw = [
            (K::Database, PrivilegeSet::of(&[Connect, Temporary])),
            (K::Schema, PrivilegeSet::of(&[Usage])),
            (
                K::Table,
                PrivilegeSet::of(&[Select, Insert, Update, Delete]),
            ),
            (K::Sequence, PrivilegeSet::of(&[Select, Usage])),
            (K::Function, PrivilegeSet::EMPTY),
        ];
        let admin = [
            (K::Database, K::Database.applicable()),
            (K::Schema, K::Schema.applicable()),
            // Not TRIGGER: a trigger runs its function as whoever writes to the table, so a
            // grantee holding it could attach its own code to an owner's table and have the
            // owner run it, during the grant and (as the function moves to its holder) after.
            (
                K::Table,
                K::Table.applicable().minus(PrivilegeSet::of(&[Trigger])),
            ),
            (K::Sequence, K::Sequence.applicable()),
            (K::Function, K::Function.applicable()),
        ];
        let mut cells = HashMap::new();
        for (level, row) in [
            (AccessLevel::ReadOnly, ro),
            (AccessLevel::ReadWrite, rw),
            (AccessLevel::Admin, admin),
        ] {
            for (kind, set) in row {
                cells.insert((level, kind), set);
            }
        }
        Self { cells }
    }
}

impl LevelPolicy {
    /// The privileges `level` grants on objects of `kind`.
    pub fn privileges(&self, level: AccessLevel, kind: ObjectKind) -> PrivilegeSet {
        self.cells.get(&(level, kind)).copied().unwrap_or_default()
    }

    /// Overrides one cell. Privileges that do not apply to `kind` are dropped.
    #[must_use]
    pub fn set(mut self, level: AccessLevel, kind: ObjectKind, privileges: PrivilegeSet) -> Self {
        let set = PrivilegeSet(privileges.0 & kind.applicable().0);
        self.cells.insert((level, kind), set);
        self
    }
}

/// Which objects of one database a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// The database and every non-system schema in it.
    Database,
    /// One schema.
    Schema(Ident),
    /// One table, view or sequence.
    Table(QualifiedName),
}

impl Scope {
    /// The database and scope a resource names (`database`, `database/schema` or
    /// `database/schema/table`).
    pub fn from_resource(resource: &integration_model::ResourceRef) -> (Ident, Scope) {
        let db = Ident::from(resource.database_name());
        let scope = match (resource.schema_name(), resource.table_name()) {
            (Some(s), Some(t)) => Scope::Table(QualifiedName::new(s.into(), t.into())),
            (Some(s), None) => Scope::Schema(s.into()),
            _ => Scope::Database,
        };
        (db, scope)
    }
}

/// One grant: a scope at a level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Grant {
    /// What is covered.
    pub scope: Scope,
    /// At which level.
    pub level: AccessLevel,
    /// Whether tables and sequences created in the scope's schemas during the access window are
    /// covered too (`ALTER DEFAULT PRIVILEGES FOR ROLE <creator> IN SCHEMA …`); default off. See
    /// [`Grant::follow_new_tables`].
    pub follow_new_tables: bool,
}

impl Grant {
    /// A grant of `level` over `scope`.
    pub fn new(scope: Scope, level: AccessLevel) -> Self {
        Self {
            scope,
            level,
            follow_new_tables: false,
        }
    }

    /// Also covers tables and sequences created later in the scope's schemas (a
    /// [`Scope::Schema`] or [`Scope::Database`]; planning a [`Scope::Table`] with it is an error).
    ///
    /// The plan adds `ALTER DEFAULT PRIVILEGES FOR ROLE <creator> IN SCHEMA <schema> GRANT …
    /// ON TABLES / ON SEQUENCES TO <role>` for each role expected to create objects there: the
    /// schema's owner and the owners of its existing tables and sequences (for `public`, owned by
    /// `pg_database_owner`, the database's owner). Default privileges apply to objects created by
    /// the named role only. The connector must act for each creator (the same membership that
    /// granting on its objects needs); otherwise the plan fails with the fix. A creator that is
    /// a member of the connector (on 16+ the master user that created it) can never be joined,
    /// and the privileges on its future tables could be revoked by it alone, so following its
    /// tables is refused ([`GrantsError::CannotFollowNewTables`](crate::GrantsError::CannotFollowNewTables)).
    /// The entries are removed again when a later apply no longer asks for them, and on
    /// revocation (`DROP OWNED`).
    #[must_use]
    pub fn follow_new_tables(mut self, on: bool) -> Self {
        self.follow_new_tables = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_matches_docs() {
        use AccessLevel::*;
        use ObjectKind as K;
        let p = LevelPolicy::default();
        let rows = [
            (ReadOnly, K::Database, "CONNECT"),
            (ReadOnly, K::Schema, "USAGE"),
            (ReadOnly, K::Table, "SELECT"),
            (ReadOnly, K::Sequence, "SELECT"),
            (ReadOnly, K::Function, ""),
            (ReadWrite, K::Database, "CONNECT, TEMPORARY"),
            (ReadWrite, K::Table, "SELECT, INSERT, UPDATE, DELETE"),
            (ReadWrite, K::Sequence, "SELECT, USAGE"),
            (Admin, K::Database, "CREATE, CONNECT, TEMPORARY"),
            (Admin, K::Schema, "USAGE, CREATE"),
            (
                Admin,
                K::Table,
                "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, MAINTAIN",
            ),
            (Admin, K::Sequence, "SELECT, UPDATE, USAGE"),
            (Admin, K::Function, "EXECUTE"),
        ];
        for (level, kind, want) in rows {
            assert_eq!(
                p.privileges(level, kind).to_sql_list(),
                want,
                "{level:?} {kind}"
            );
        }
    }

    #[test]
    fn overrides_drop_inapplicable_privileges() {
        let p = LevelPolicy::default().set(
            AccessLevel::ReadOnly,
            ObjectKind::Schema,
            PrivilegeSet::of(&[Privilege::Usage, Privilege::Select]),
        );
        assert_eq!(
            p.privileges(AccessLevel::ReadOnly, ObjectKind::Schema)
                .to_sql_list(),
            "USAGE"
        );
    }

    #[test]
    fn resources_map_to_scopes() {
        use integration_model::{Identifier, ResourceRef};
        let i = |s: &str| s.parse::<Identifier>().unwrap();
        let id = |s: &str| Ident::new(s).unwrap();
        let rows = [
            (ResourceRef::database(i("appdb")), Scope::Database),
            (
                ResourceRef::schema(i("appdb"), i("Sales")),
                Scope::Schema(id("Sales")),
            ),
            (
                ResourceRef::table(i("appdb"), i("sales"), i("order lines")),
                Scope::Table(QualifiedName::new(id("sales"), id("order lines"))),
            ),
        ];
        for (r, want) in rows {
            assert_eq!(Scope::from_resource(&r), (id("appdb"), want));
        }
    }

    #[test]
    fn keywords_round_trip() {
        for p in ALL {
            assert_eq!(Privilege::from_keyword(p.keyword()), Some(p));
        }
        assert_eq!(Privilege::from_keyword("TEMP"), Some(Privilege::Temporary));
        assert_eq!(Privilege::from_keyword("BOGUS"), None);
    }
}
