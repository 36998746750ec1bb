//! A role's privileges in one database as the inspection query ([`inspect_sql`]) returns
//! them, decoded into [`Inspection`].

use std::fmt;

use crate::error::{GrantsError, col};
use crate::privilege::{Grant, ObjectKind, Privilege, PrivilegeSet, Scope};
use crate::quote::{Ident, QualifiedName};

#[cfg(doc)]
use super::inspect_sql;
/// An object that carries privileges, as named in SQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectRef {
    pub(super) kind: ObjectKind,
    pub(super) schema: Option<Ident>,
    pub(super) name: Ident,
    /// Function identity arguments as rendered by the server (`pg_get_function_identity_arguments`);
    /// only ever read from the catalogs, never from user input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args: Option<String>,
}

impl ObjectRef {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// Its schema (none for databases and schemas).
    pub fn schema(&self) -> Option<&Ident> {
        self.schema.as_ref()
    }

    /// Its name.
    pub fn name(&self) -> &Ident {
        &self.name
    }

    /// `kind name` as it follows `GRANT … ON`.
    pub fn sql_target(&self) -> String {
        let name = match &self.schema {
            Some(s) => format!("{}.{}", s.quoted(), self.name.quoted()),
            None => self.name.quoted().to_string(),
        };
        let args = self
            .args
            .as_deref()
            .map(|a| format!("({a})"))
            .unwrap_or_default();
        format!("{} {name}{args}", self.kind.grant_keyword())
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name)?,
            None => write!(f, "{}", self.name)?,
        }
        if let Some(a) = &self.args {
            write!(f, "({a})")?;
        }
        Ok(())
    }
}

/// One object as the inspection saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectState {
    /// The object.
    pub object: ObjectRef,
    /// Its owner.
    pub owner: Ident,
    /// Privileges granted to the role directly.
    pub role_has: PrivilegeSet,
    /// Privileges granted to `PUBLIC`.
    pub public_has: PrivilegeSet,
    /// Whether the connector has the privileges of the owner (may grant and revoke on it).
    pub connector_acts_for_owner: bool,
    /// For a sequence owned by a table column (`serial`): that table.
    pub owned_by: Option<QualifiedName>,
    /// Privileges the connector holds `WITH GRANT OPTION` (itself or through roles whose
    /// privileges it has): it may grant these without acting for the owner.
    pub connector_grantable: PrivilegeSet,
    /// Whether the owner is a member of the connector, so that the connector cannot join the
    /// owner (PostgreSQL refuses circular memberships). On 16+ this is the case for the role that
    /// created the connector, typically the master user.
    pub owner_in_connector: bool,
}

/// What a role holds through one access role (see [`Inspection::through`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldThrough {
    /// The access role.
    pub access_role: crate::access::AccessRole,
    /// The objects on which it holds privileges ([`ObjectState::role_has`]: its privileges).
    pub objects: Vec<ObjectState>,
}

/// A default-privilege entry naming the role as grantee (`ALTER DEFAULT PRIVILEGES`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultAcl {
    /// The role whose future objects get the privileges.
    pub for_role: String,
    /// The schema, or none for the whole database.
    pub schema: Option<String>,
    /// `r` tables, `S` sequences, `f` functions, `T` types, `n` schemas.
    pub object_type: String,
    /// The privileges granted to the role.
    pub privileges: PrivilegeSet,
}

/// What the catalogs of one database say about a role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Inspection {
    /// The database inspected.
    pub database: String,
    /// Objects in scope, or on which the role holds privileges.
    pub objects: Vec<ObjectState>,
    /// Default-privilege entries naming the role.
    pub default_acls: Vec<DefaultAcl>,
    /// Roles the role is a member of.
    pub memberships: Vec<String>,
    /// The access roles (of any database) among them that the connector or the grantor role
    /// granted the role, with their keys (see [`access`](crate::access)).
    pub access_memberships: Vec<crate::access::AccessRole>,
    /// Who granted each of those memberships: per access role, `true` for a membership the
    /// grantor role granted (see [`access`](crate::access#the-grantor-role)), `false` for one
    /// the connector granted itself (before the grantor role existed); both when both did.
    pub access_grantors: Vec<(Ident, bool)>,
    /// On PostgreSQL 16+, what the role holds in this database through its access roles (their
    /// privileged objects), one entry per access role of this database it is a member of.
    /// Filled by [`Session::inspect`](crate::Session::inspect).
    pub through: Vec<HeldThrough>,
    /// The `SECURITY DEFINER` functions and procedures the role owns in this database: they run
    /// with the role's rights for whoever may call them. Filled by
    /// [`Session::inspect`](crate::Session::inspect); revocation makes them `SECURITY INVOKER`
    /// (see [`revoke`](crate::revoke)).
    pub security_definer: Vec<crate::revoke::OwnedObject>,
}

pub(super) fn privs(list: &[String]) -> PrivilegeSet {
    list.iter()
        .filter_map(|s| Privilege::from_keyword(s))
        .collect()
}

pub(super) fn catalog_ident(s: String) -> Result<Ident, GrantsError> {
    Ok(Ident::new(s)?)
}

impl Inspection {
    /// Builds an inspection from the rows of [`inspect_sql`].
    pub(crate) fn from_rows(
        database: String,
        rows: &[tokio_postgres::Row],
    ) -> Result<Self, GrantsError> {
        let mut out = Inspection {
            database,
            ..Inspection::default()
        };
        for row in rows {
            let kind: String = col(row, 0, "reading inspection")?;
            let schema: Option<String> = col(row, 1, "reading inspection")?;
            let name: String = col(row, 2, "reading inspection")?;
            let args: Option<String> = col(row, 3, "reading inspection")?;
            let owner: Option<String> = col(row, 4, "reading inspection")?;
            let role_has: Vec<String> = col(row, 5, "reading inspection")?;
            let public_has: Vec<String> = col(row, 6, "reading inspection")?;
            let can_act: bool = col(row, 7, "reading inspection")?;
            let owned_schema: Option<String> = col(row, 8, "reading inspection")?;
            let owned_table: Option<String> = col(row, 9, "reading inspection")?;
            let grantable: Vec<String> = col(row, 10, "reading inspection")?;
            let owner_in_connector: bool = col(row, 11, "reading inspection")?;
            match kind.as_str() {
                "membership" => {
                    // `args` holds the role's comment here, `can_act` whether the connector
                    // granted the membership. Only a membership the connector granted is an
                    // access membership: a role carrying an access role's comment that someone
                    // else granted (a tenant with CREATEROLE, its own role) is not the
                    // library's to revoke, and must not block the user's grants or revocation.
                    // The last column: the grantor role granted it (else the connector did).
                    if can_act
                        && let Some((key, _)) = args
                            .as_deref()
                            .and_then(crate::access::AccessKey::from_comment)
                    {
                        let ident = catalog_ident(name.clone())?;
                        if !out
                            .access_grantors
                            .contains(&(ident.clone(), owner_in_connector))
                        {
                            out.access_grantors
                                .push((ident.clone(), owner_in_connector));
                        }
                        if !out.access_memberships.iter().any(|a| a.name == ident) {
                            out.access_memberships
                                .push(crate::access::AccessRole { name: ident, key });
                        }
                    }
                    if !out.memberships.contains(&name) {
                        out.memberships.push(name);
                    }
                }
                "default_acl" => out.default_acls.push(DefaultAcl {
                    for_role: owner.unwrap_or_default(),
                    schema,
                    object_type: name,
                    privileges: privs(&role_has),
                }),
                other => {
                    let Some(kind) = ObjectKind::parse(other) else {
                        continue;
                    };
                    out.objects.push(ObjectState {
                        object: ObjectRef {
                            kind,
                            schema: schema.map(catalog_ident).transpose()?,
                            name: catalog_ident(name)?,
                            args,
                        },
                        owner: catalog_ident(owner.unwrap_or_default())?,
                        role_has: privs(&role_has),
                        public_has: privs(&public_has),
                        connector_acts_for_owner: can_act,
                        owned_by: match (owned_schema, owned_table) {
                            (Some(s), Some(t)) => {
                                Some(QualifiedName::new(catalog_ident(s)?, catalog_ident(t)?))
                            }
                            _ => None,
                        },
                        connector_grantable: privs(&grantable),
                        owner_in_connector,
                    });
                }
            }
        }
        out.objects.sort_by(|a, b| a.object.cmp(&b.object));
        Ok(out)
    }
}

/// Query parameters selecting the objects of `grants`.
pub(crate) struct ScopeParams {
    pub(crate) whole_db: bool,
    pub(crate) schemas: Vec<String>,
    pub(crate) table_schemas: Vec<String>,
    pub(crate) table_names: Vec<String>,
}

pub(crate) fn scope_params(grants: &[Grant]) -> ScopeParams {
    let mut p = ScopeParams {
        whole_db: false,
        schemas: Vec::new(),
        table_schemas: Vec::new(),
        table_names: Vec::new(),
    };
    for g in grants {
        match &g.scope {
            Scope::Database => p.whole_db = true,
            Scope::Schema(s) => p.schemas.push(s.as_str().to_owned()),
            Scope::Table(q) => {
                p.table_schemas.push(q.schema.as_str().to_owned());
                p.table_names.push(q.name.as_str().to_owned());
            }
        }
    }
    p
}
