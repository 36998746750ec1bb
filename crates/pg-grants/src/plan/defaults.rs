//! Default privileges: grants that follow new tables ([`Grant::follow_new_tables`]) plan
//! `ALTER DEFAULT PRIVILEGES FOR ROLE <creator> IN SCHEMA …` entries ([`DefaultChange`]).

use crate::error::{GrantsError, OwnerFix};
use crate::privilege::{Grant, LevelPolicy, ObjectKind, PrivilegeSet, Scope};
use crate::quote::Ident;
use crate::statement::Statement;
use crate::version::ServerRules;

use super::Inspection;
/// Objects a default-privilege entry applies to (`pg_default_acl.defaclobjtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DefaultObjects {
    /// `r`: tables, views, materialized views, foreign tables.
    Tables,
    /// `S`: sequences.
    Sequences,
    /// `f`: functions and procedures.
    Functions,
    /// `T`: types.
    Types,
    /// `n`: schemas.
    Schemas,
}

impl DefaultObjects {
    /// From `pg_default_acl.defaclobjtype`.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "r" => Some(Self::Tables),
            "S" => Some(Self::Sequences),
            "f" => Some(Self::Functions),
            "T" => Some(Self::Types),
            "n" => Some(Self::Schemas),
            _ => None,
        }
    }

    /// The keyword after `ON` in `ALTER DEFAULT PRIVILEGES … GRANT … ON`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Tables => "TABLES",
            Self::Sequences => "SEQUENCES",
            Self::Functions => "FUNCTIONS",
            Self::Types => "TYPES",
            Self::Schemas => "SCHEMAS",
        }
    }
}

/// One default-privilege entry's change: what `role` gets on objects that `for_role` creates
/// later (in `schema`, or anywhere when none).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DefaultChange {
    /// The creator whose future objects are covered.
    pub for_role: Ident,
    /// The schema, or none for the whole database.
    pub schema: Option<Ident>,
    /// Which future objects.
    pub objects: DefaultObjects,
    /// Privileges to grant.
    pub grant: PrivilegeSet,
    /// Privileges to revoke.
    pub revoke: PrivilegeSet,
}

impl DefaultChange {
    pub(super) fn statement(&self, role: &Ident, verb: &str, privs: PrivilegeSet) -> Statement {
        let schema = self
            .schema
            .as_ref()
            .map(|s| format!(" IN SCHEMA {}", s.quoted()))
            .unwrap_or_default();
        let (action, to) = if verb == "GRANT" {
            ("GRANT", "TO")
        } else {
            ("REVOKE", "FROM")
        };
        Statement::new(format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{schema} {action} {} ON {} {to} {};",
            self.for_role.quoted(),
            privs.to_sql_list(),
            self.objects.keyword(),
            role.quoted()
        ))
    }
}

/// A role expected to create objects in a schema, and whether the connector may act for it.
pub(super) struct Creator {
    pub(super) name: Ident,
    pub(super) acts: bool,
    pub(super) circular: bool,
}

/// The roles whose future objects in `schema` a following grant covers: the schema's owner and
/// the owners of its tables and sequences (`pg_database_owner` stands for the database's owner),
/// except `role` itself.
pub(super) fn creators(inspection: &Inspection, schema: &Ident, role: &Ident) -> Vec<Creator> {
    let db = inspection
        .objects
        .iter()
        .find(|o| o.object.kind == ObjectKind::Database);
    let mut out: Vec<Creator> = Vec::new();
    let related = inspection.objects.iter().filter(|o| match o.object.kind {
        ObjectKind::Schema => &o.object.name == schema,
        ObjectKind::Table | ObjectKind::Sequence => o.object.schema.as_ref() == Some(schema),
        _ => false,
    });
    for o in related {
        let state = match db {
            Some(d) if o.owner.as_str() == "pg_database_owner" => d,
            _ => o,
        };
        if &state.owner == role || out.iter().any(|c| c.name == state.owner) {
            continue;
        }
        out.push(Creator {
            name: state.owner.clone(),
            acts: state.connector_acts_for_owner,
            circular: state.owner_in_connector,
        });
    }
    out
}

/// The `ALTER DEFAULT PRIVILEGES` changes from the role's current default-ACL entries to those
/// the following grants want, and the fixes for creators the connector cannot act for.
pub(super) fn plan_defaults(
    inspection: &Inspection,
    role: &Ident,
    grants: &[Grant],
    policy: &LevelPolicy,
    skip: PrivilegeSet,
    rules: &ServerRules,
    connector: &Ident,
) -> Result<(Vec<DefaultChange>, Vec<OwnerFix>), GrantsError> {
    let mut fixes = Vec::new();
    use std::collections::BTreeMap;
    type Key = (Ident, Option<Ident>, DefaultObjects);
    let mut wanted: BTreeMap<Key, PrivilegeSet> = BTreeMap::new();
    let mut acting: BTreeMap<Ident, (bool, bool)> = BTreeMap::new();
    for g in grants.iter().filter(|g| g.follow_new_tables) {
        let schemas: Vec<&Ident> = match &g.scope {
            Scope::Schema(s) => vec![s],
            Scope::Database => inspection
                .objects
                .iter()
                .filter(|o| o.object.kind == ObjectKind::Schema)
                .map(|o| &o.object.name)
                .collect(),
            Scope::Table(_) => Vec::new(),
        };
        for schema in schemas {
            for c in creators(inspection, schema, role) {
                for (objects, kind) in [
                    (DefaultObjects::Tables, ObjectKind::Table),
                    (DefaultObjects::Sequences, ObjectKind::Sequence),
                ] {
                    let privs = policy.privileges(g.level, kind).minus(skip);
                    if privs.is_empty() {
                        continue;
                    }
                    let e = wanted
                        .entry((c.name.clone(), Some(schema.clone()), objects))
                        .or_insert(PrivilegeSet::EMPTY);
                    *e = e.union(privs);
                }
                acting.insert(c.name, (c.acts, c.circular));
            }
        }
    }
    let mut have: BTreeMap<Key, PrivilegeSet> = BTreeMap::new();
    for d in &inspection.default_acls {
        let (Some(objects), Ok(for_role)) = (
            DefaultObjects::from_code(&d.object_type),
            Ident::new(d.for_role.clone()),
        ) else {
            continue;
        };
        let schema = d.schema.clone().and_then(|s| Ident::new(s).ok());
        have.insert((for_role, schema, objects), d.privileges);
    }
    let mut keys: Vec<&Key> = wanted.keys().chain(have.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let want = wanted.get(key).copied().unwrap_or(PrivilegeSet::EMPTY);
        let has = have.get(key).copied().unwrap_or(PrivilegeSet::EMPTY);
        let change = DefaultChange {
            for_role: key.0.clone(),
            schema: key.1.clone(),
            objects: key.2,
            grant: want.minus(has),
            revoke: has.minus(want),
        };
        if change.grant.is_empty() && change.revoke.is_empty() {
            continue;
        }
        // Entries already naming the role came from a creator: look it up like any owner.
        let (acts, circular) = acting.get(&key.0).copied().unwrap_or_else(|| {
            inspection
                .objects
                .iter()
                .find(|o| o.owner == key.0)
                .map_or((key.0 == *connector, false), |o| {
                    (o.connector_acts_for_owner, o.owner_in_connector)
                })
        });
        if !acts && key.0 != *connector {
            let target = match &key.1 {
                Some(s) => format!("{} in schema {s}", key.2.keyword().to_lowercase()),
                None => key.2.keyword().to_lowercase(),
            };
            if circular && !change.grant.is_empty() {
                return Err(GrantsError::CannotFollowNewTables {
                    database: inspection.database.clone(),
                    schema: key.1.as_ref().map(ToString::to_string).unwrap_or_default(),
                    creator: key.0.to_string(),
                    connector: connector.to_string(),
                });
            }
            let (fix_sql, run_as) = if circular {
                // Only a stray entry to remove: its creator, a member of the connector (which
                // therefore cannot join it), runs the statement itself.
                let stmts: Vec<String> = [("REVOKE", change.revoke), ("GRANT", change.grant)]
                    .into_iter()
                    .filter(|(_, p)| !p.is_empty())
                    .map(|(verb, p)| change.statement(role, verb, p).sql().to_owned())
                    .collect();
                (stmts.join(" "), key.0.to_string())
            } else {
                (
                    rules.grant_privileges_of_sql(&key.0, connector),
                    if rules.role_grant_needs_admin_option() {
                        format!("a role with ADMIN OPTION on {}", key.0)
                    } else {
                        "a role with CREATEROLE".to_owned()
                    },
                )
            };
            fixes.push(OwnerFix {
                database: inspection.database.clone(),
                kind: "default privileges",
                object: format!("{target} created by {}", key.0),
                owner: key.0.to_string(),
                fix_sql,
                run_as,
            });
        }
        out.push(change);
    }
    Ok((out, fixes))
}
