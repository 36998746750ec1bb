//! Inspect a role's privileges in one database, and plan the SQL that takes them to the wanted
//! ones.
//!
//! [`inspect_sql`] reads, in one catalog query, every object in scope and every object on which
//! the role holds a privilege (`aclexplode` over `pg_database`, `pg_namespace`, `pg_class`,
//! `pg_proc`), plus the role's default-ACL entries and memberships. Grants that follow new tables
//! ([`Grant::follow_new_tables`]) also plan `ALTER DEFAULT PRIVILEGES FOR ROLE <creator>`
//! entries ([`DefaultChange`]); entries naming the role that no grant asks for are removed. Objects that belong to an
//! extension (`pg_depend.deptype = 'e'`, for example functions of `pg_stat_statements` owned by
//! `rdsadmin` on RDS) are not in any scope: nobody but their owner could grant on them. [`plan`] is a pure function
//! of that [`Inspection`]: it lists the `GRANT`s and `REVOKE`s needed, and is empty when the role
//! already has exactly what it should. Before planning any change it checks that the connector
//! may act for each object's owner, so nothing is sent that the server would refuse.

use std::fmt;

use crate::error::{GrantsError, OwnerFix, col};
use crate::privilege::{Grant, LevelPolicy, ObjectKind, Privilege, PrivilegeSet, Scope};
use crate::quote::{Ident, QualifiedName};
use crate::statement::Statement;
use crate::version::ServerRules;

const NOT_SYSTEM: &str = "n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}'::pg_catalog.name[]) \
     AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%'";

/// The inspection query. Parameters: `$1` role name, `$2` whole database in scope, `$3` schemas
/// in scope, `$4`/`$5` schemas and names of single tables in scope.
///
/// Every function, operator and type in it is qualified with `pg_catalog`, so nothing a user
/// created in a schema of the connector's `search_path` can run as the connector.
pub fn inspect_sql() -> String {
    format!(
        r#"WITH r AS (SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1) AS oid),
objs AS (
  SELECT 'database'::pg_catalog.text AS kind, NULL::pg_catalog.text AS schema, d.datname::pg_catalog.text AS name,
         NULL::pg_catalog.text AS args, d.datdba AS owner,
         COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba)) AS acl, true AS in_scope,
         NULL::pg_catalog.text AS owned_by_schema, NULL::pg_catalog.text AS owned_by_table
    FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
  UNION ALL
  SELECT 'schema', NULL, n.nspname::pg_catalog.text, NULL, n.nspowner,
         COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner)),
         $2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3) OR n.nspname OPERATOR(pg_catalog.=) ANY($4), NULL, NULL
    FROM pg_catalog.pg_namespace n WHERE {NOT_SYSTEM}
  UNION ALL
  SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'sequence' ELSE 'table' END, n.nspname::pg_catalog.text,
         c.relname::pg_catalog.text, NULL, c.relowner,
         COALESCE(c.relacl, pg_catalog.acldefault(CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S'
                                                       THEN 's'::pg_catalog."char" ELSE 'r'::pg_catalog."char" END, c.relowner)),
         ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3)
            OR EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.text[]),
                                                pg_catalog.unnest($5::pg_catalog.text[])) AS u(sch, rel)
                        WHERE (u.sch OPERATOR(pg_catalog.=) n.nspname AND u.rel OPERATOR(pg_catalog.=) c.relname)
                           OR (u.sch OPERATOR(pg_catalog.=) tn.nspname AND u.rel OPERATOR(pg_catalog.=) t.relname)))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                            WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND x.objid OPERATOR(pg_catalog.=) c.oid AND x.deptype OPERATOR(pg_catalog.=) 'e'),
         tn.nspname::pg_catalog.text, t.relname::pg_catalog.text
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
    -- A sequence owned by a column (serial): the table scope covers it.
    LEFT JOIN pg_catalog.pg_depend dep ON c.relkind OPERATOR(pg_catalog.=) 'S'
         AND dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         AND dep.objid OPERATOR(pg_catalog.=) c.oid
         AND dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         AND dep.deptype OPERATOR(pg_catalog.=) 'a'
    LEFT JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) dep.refobjid
    LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
   WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{{r,v,m,p,f,S}}'::pg_catalog."char"[]) AND {NOT_SYSTEM}
  UNION ALL
  SELECT 'function', n.nspname::pg_catalog.text, p.proname::pg_catalog.text,
         pg_catalog.pg_get_function_identity_arguments(p.oid), p.proowner,
         COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner)),
         ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                            WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                              AND x.objid OPERATOR(pg_catalog.=) p.oid AND x.deptype OPERATOR(pg_catalog.=) 'e'),
         NULL, NULL
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
   WHERE p.prokind OPERATOR(pg_catalog.=) ANY ('{{f,p}}'::pg_catalog."char"[]) AND {NOT_SYSTEM}
)
SELECT o.kind, o.schema, o.name, o.args, pg_catalog.pg_get_userbyid(o.owner)::pg_catalog.text AS owner,
       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(o.acl) a, r
              WHERE a.grantee OPERATOR(pg_catalog.=) r.oid) AS role_has,
       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(o.acl) a
              WHERE a.grantee OPERATOR(pg_catalog.=) 0) AS public_has,
       pg_catalog.pg_has_role(current_user, o.owner, 'USAGE') AS can_act,
       o.owned_by_schema, o.owned_by_table,
       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(o.acl) a
              WHERE a.is_grantable AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND pg_catalog.pg_has_role(current_user, a.grantee, 'USAGE')) AS connector_grantable,
       pg_catalog.pg_has_role(o.owner, current_user, 'MEMBER') AS owner_in_connector
  FROM objs o
 WHERE o.in_scope OR EXISTS (SELECT 1 FROM pg_catalog.aclexplode(o.acl) a, r WHERE a.grantee OPERATOR(pg_catalog.=) r.oid)
UNION ALL
SELECT 'default_acl', n.nspname::pg_catalog.text, d.defaclobjtype::pg_catalog.text, NULL,
       pg_catalog.pg_get_userbyid(d.defaclrole)::pg_catalog.text,
       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(d.defaclacl) a, r
              WHERE a.grantee OPERATOR(pg_catalog.=) r.oid),
       ARRAY[]::pg_catalog.text[], false, NULL, NULL, ARRAY[]::pg_catalog.text[], false
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) d.defaclnamespace, r
 WHERE EXISTS (SELECT 1 FROM pg_catalog.aclexplode(d.defaclacl) a WHERE a.grantee OPERATOR(pg_catalog.=) r.oid)
UNION ALL
SELECT 'membership', NULL, g.rolname::pg_catalog.text, NULL, NULL, ARRAY[]::pg_catalog.text[],
       ARRAY[]::pg_catalog.text[], false, NULL, NULL, ARRAY[]::pg_catalog.text[], false
  FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid, r
 WHERE m.member OPERATOR(pg_catalog.=) r.oid"#
    )
}

/// An object that carries privileges, as named in SQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    kind: ObjectKind,
    schema: Option<Ident>,
    name: Ident,
    /// Function identity arguments as rendered by the server (`pg_get_function_identity_arguments`);
    /// only ever read from the catalogs, never from user input.
    args: Option<String>,
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
    /// The `SECURITY DEFINER` functions and procedures the role owns in this database: they run
    /// with the role's rights for whoever may call them. Filled by
    /// [`Session::inspect`](crate::Session::inspect); revocation makes them `SECURITY INVOKER`
    /// (see [`revoke`](crate::revoke)).
    pub security_definer: Vec<crate::revoke::OwnedObject>,
}

fn privs(list: &[String]) -> PrivilegeSet {
    list.iter()
        .filter_map(|s| Privilege::from_keyword(s))
        .collect()
}

fn catalog_ident(s: String) -> Result<Ident, GrantsError> {
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
                "membership" => out.memberships.push(name),
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

/// One object's change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// Its owner.
    pub owner: Ident,
    /// Privileges to grant.
    pub grant: PrivilegeSet,
    /// Privileges to revoke.
    pub revoke: PrivilegeSet,
}

/// The SQL taking a role's privileges in one database to the wanted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The database the plan is for.
    pub database: String,
    /// The grantee.
    pub role: Ident,
    /// Per-object changes, in a stable order.
    pub changes: Vec<Change>,
    /// Default-privilege changes (grants that follow new tables), in a stable order.
    pub default_changes: Vec<DefaultChange>,
}

/// Objects a default-privilege entry applies to (`pg_default_acl.defaclobjtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    fn statement(&self, role: &Ident, verb: &str, privs: PrivilegeSet) -> Statement {
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

impl Plan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.default_changes.is_empty()
    }

    /// The statements, `REVOKE`s before `GRANT`s per object.
    pub fn statements(&self) -> Vec<Statement> {
        let mut out = Vec::new();
        for c in &self.changes {
            if !c.revoke.is_empty() {
                out.push(Statement::new(format!(
                    "REVOKE {} ON {} FROM {};",
                    c.revoke.to_sql_list(),
                    c.object.sql_target(),
                    self.role.quoted()
                )));
            }
            if !c.grant.is_empty() {
                out.push(Statement::new(format!(
                    "GRANT {} ON {} TO {};",
                    c.grant.to_sql_list(),
                    c.object.sql_target(),
                    self.role.quoted()
                )));
            }
        }
        for d in &self.default_changes {
            if !d.revoke.is_empty() {
                out.push(d.statement(&self.role, "REVOKE", d.revoke));
            }
            if !d.grant.is_empty() {
                out.push(d.statement(&self.role, "GRANT", d.grant));
            }
        }
        out
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in self.statements() {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}

fn in_schema(o: &ObjectRef, schema: &Ident) -> bool {
    match o.kind {
        ObjectKind::Schema => &o.name == schema,
        ObjectKind::Database => false,
        _ => o.schema.as_ref() == Some(schema),
    }
}

fn is_table(o: &ObjectRef, q: &QualifiedName) -> bool {
    matches!(o.kind, ObjectKind::Table | ObjectKind::Sequence)
        && o.schema.as_ref() == Some(&q.schema)
        && o.name == q.name
}

/// The privileges `grant` wants on `state`'s object.
fn wanted_by(grant: &Grant, state: &ObjectState, policy: &LevelPolicy) -> PrivilegeSet {
    let o = &state.object;
    let full = policy.privileges(grant.level, o.kind);
    let reach_db = PrivilegeSet::of(&[Privilege::Connect]);
    let reach_schema = PrivilegeSet::of(&[Privilege::Usage]);
    match (&grant.scope, o.kind) {
        (Scope::Database, _) => full,
        (Scope::Schema(_), ObjectKind::Database) => {
            full.minus(PrivilegeSet::of(&[Privilege::Create]))
        }
        (Scope::Schema(s), _) if in_schema(o, s) => full,
        (Scope::Table(_), ObjectKind::Database) => full
            .union(reach_db)
            .minus(PrivilegeSet::of(&[Privilege::Create, Privilege::Temporary])),
        (Scope::Table(q), ObjectKind::Schema) if o.name == q.schema => full
            .union(reach_schema)
            .minus(PrivilegeSet::of(&[Privilege::Create])),
        (Scope::Table(q), _) if is_table(o, q) => full,
        // A table's serial sequence comes with it: inserting needs it.
        (Scope::Table(q), ObjectKind::Sequence) if state.owned_by.as_ref() == Some(q) => full,
        _ => PrivilegeSet::EMPTY,
    }
}

/// The privileges that the server version does not know.
fn unsupported(rules: &ServerRules) -> PrivilegeSet {
    if rules.has_maintain() {
        PrivilegeSet::EMPTY
    } else {
        PrivilegeSet::of(&[Privilege::Maintain])
    }
}

/// Plans the change from `inspection` to exactly `grants` for `role`.
///
/// # Errors
/// * [`GrantsError::ObjectNotFound`] when a scope names a schema or table the inspection did not
///   see;
/// * [`GrantsError::OwnerMembershipMissing`] listing every object (and default-privilege entry)
///   whose change the connector may not make, with the fix SQL for this server version;
/// * [`GrantsError::InvalidGrant`] for a [`Scope::Table`] grant that asks to follow new tables;
/// * [`GrantsError::CannotFollowNewTables`] when a grant follows new tables of a role that is a
///   member of the connector (see [`Grant::follow_new_tables`]).
pub fn plan(
    inspection: &Inspection,
    role: &Ident,
    grants: &[Grant],
    policy: &LevelPolicy,
    rules: &ServerRules,
    connector: &Ident,
) -> Result<Plan, GrantsError> {
    for g in grants {
        let found = match &g.scope {
            Scope::Database => true,
            Scope::Schema(s) => inspection
                .objects
                .iter()
                .any(|o| o.object.kind == ObjectKind::Schema && &o.object.name == s),
            Scope::Table(q) => inspection.objects.iter().any(|o| is_table(&o.object, q)),
        };
        if !found {
            let (kind, name) = match &g.scope {
                Scope::Schema(s) => ("schema", s.to_string()),
                Scope::Table(q) => ("table", q.to_string()),
                Scope::Database => ("database", inspection.database.clone()),
            };
            return Err(GrantsError::ObjectNotFound {
                database: inspection.database.clone(),
                kind,
                name,
            });
        }
    }
    if let Some(q) = grants.iter().find_map(|g| match &g.scope {
        Scope::Table(q) if g.follow_new_tables => Some(q),
        _ => None,
    }) {
        return Err(GrantsError::InvalidGrant {
            scope: format!("table {q}"),
            reason: "following new tables needs a schema or database scope; a table scope covers one existing table",
        });
    }
    let skip = unsupported(rules);
    // `pg_database_owner` (owner of schema `public` on 15+) cannot have explicit members: its
    // only member is the database's owner, so that is the role to join.
    let db_owner = inspection
        .objects
        .iter()
        .find(|o| o.object.kind == ObjectKind::Database)
        .map(|o| (o.owner.clone(), o.owner_in_connector));
    let mut changes = Vec::new();
    let mut fixes = Vec::new();
    for o in &inspection.objects {
        // What a role holds on objects it owns are its owner's rights: not ours to grant or
        // revoke, and they move with `REASSIGN OWNED` on revocation. Revoking them first would
        // also take the connector's way into the role's own schema (it acts through the role).
        if o.owner == *role {
            continue;
        }
        let wanted: PrivilegeSet = grants
            .iter()
            .fold(PrivilegeSet::EMPTY, |acc, g| {
                acc.union(wanted_by(g, o, policy))
            })
            .minus(skip);
        // What PUBLIC holds the role has anyway: neither grant nor revoke it.
        let grant = wanted.minus(o.role_has).minus(o.public_has);
        let revoke = o.role_has.minus(wanted).minus(o.public_has);
        if grant.is_empty() && revoke.is_empty() {
            continue;
        }
        let by_grant_option = grant.union(revoke).minus(o.connector_grantable).is_empty();
        if !o.connector_acts_for_owner && !by_grant_option {
            let (join, circular) = match &db_owner {
                Some((d, circular)) if o.owner.as_str() == "pg_database_owner" => (d, *circular),
                _ => (&o.owner, o.owner_in_connector),
            };
            let (fix_sql, run_as) = if circular {
                // Joining the owner would be circular: the owner hands out grant options instead.
                let all = o.object.kind.applicable().minus(skip);
                (
                    format!(
                        "GRANT {} ON {} TO {} WITH GRANT OPTION;",
                        all.to_sql_list(),
                        o.object.sql_target(),
                        connector.quoted()
                    ),
                    join.to_string(),
                )
            } else {
                (
                    rules.grant_privileges_of_sql(join, connector),
                    if rules.role_grant_needs_admin_option() {
                        format!("a role with ADMIN OPTION on {join}")
                    } else {
                        "a role with CREATEROLE".to_owned()
                    },
                )
            };
            fixes.push(OwnerFix {
                database: inspection.database.clone(),
                kind: o.object.kind.as_str(),
                object: o.object.to_string(),
                owner: o.owner.to_string(),
                fix_sql,
                run_as,
            });
        }
        changes.push(Change {
            object: o.object.clone(),
            owner: o.owner.clone(),
            grant,
            revoke,
        });
    }
    let (default_changes, default_fixes) =
        plan_defaults(inspection, role, grants, policy, skip, rules, connector)?;
    fixes.extend(default_fixes);
    if !fixes.is_empty() {
        return Err(GrantsError::OwnerMembershipMissing { fixes });
    }
    Ok(Plan {
        database: inspection.database.clone(),
        role: role.clone(),
        changes,
        default_changes,
    })
}

/// A role expected to create objects in a schema, and whether the connector may act for it.
struct Creator {
    name: Ident,
    acts: bool,
    circular: bool,
}

/// The roles whose future objects in `schema` a following grant covers: the schema's owner and
/// the owners of its tables and sequences (`pg_database_owner` stands for the database's owner),
/// except `role` itself.
fn creators(inspection: &Inspection, schema: &Ident, role: &Ident) -> Vec<Creator> {
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
fn plan_defaults(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::ServerVersion;
    use integration_model::AccessLevel;

    fn id(s: &str) -> Ident {
        Ident::new(s).unwrap()
    }

    fn obj(kind: ObjectKind, schema: Option<&str>, name: &str, owner: &str) -> ObjectState {
        ObjectState {
            object: ObjectRef {
                kind,
                schema: schema.map(id),
                name: id(name),
                args: None,
            },
            owner: id(owner),
            role_has: PrivilegeSet::EMPTY,
            public_has: PrivilegeSet::EMPTY,
            connector_acts_for_owner: true,
            owned_by: None,
            connector_grantable: PrivilegeSet::EMPTY,
            owner_in_connector: false,
        }
    }

    fn sample() -> Inspection {
        let mut db = obj(ObjectKind::Database, None, "appdb", "postgres");
        db.public_has = PrivilegeSet::of(&[Privilege::Connect, Privilege::Temporary]);
        let mut f = obj(ObjectKind::Function, Some("sales"), "total", "postgres");
        f.object.args = Some("customer integer".into());
        f.public_has = PrivilegeSet::of(&[Privilege::Execute]);
        let mut seq = obj(
            ObjectKind::Sequence,
            Some("sales"),
            "orders_id_seq",
            "postgres",
        );
        seq.owned_by = Some(QualifiedName::new(id("sales"), id("orders")));
        Inspection {
            database: "appdb".into(),
            objects: vec![
                db,
                obj(ObjectKind::Schema, None, "sales", "postgres"),
                obj(ObjectKind::Table, Some("sales"), "orders", "postgres"),
                seq,
                f,
                obj(ObjectKind::Schema, None, "inventory", "app_owner"),
                obj(ObjectKind::Table, Some("inventory"), "items", "app_owner"),
            ],
            ..Inspection::default()
        }
    }

    fn rules(n: u32) -> ServerRules {
        ServerRules::new(ServerVersion::from_num(n).unwrap())
    }

    fn sql(p: &Plan) -> Vec<String> {
        p.statements().iter().map(|s| s.sql().to_owned()).collect()
    }

    #[test]
    fn read_only_schema_scope() {
        let g = [Grant::new(
            Scope::Schema(id("sales")),
            AccessLevel::ReadOnly,
        )];
        let p = plan(
            &sample(),
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(150_000),
            &id("c"),
        )
        .unwrap();
        assert_eq!(
            sql(&p),
            [
                r#"GRANT USAGE ON SCHEMA "sales" TO "u";"#,
                r#"GRANT SELECT ON TABLE "sales"."orders" TO "u";"#,
                r#"GRANT SELECT ON SEQUENCE "sales"."orders_id_seq" TO "u";"#,
            ]
        );
    }

    #[test]
    fn admin_database_scope_maintain_only_on_17() {
        let mut insp = sample();
        insp.objects.retain(|o| o.owner.as_str() == "postgres");
        let g = [Grant::new(Scope::Database, AccessLevel::Admin)];
        let p15 = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(150_000),
            &id("c"),
        )
        .unwrap();
        let p17 = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap();
        let s15 = sql(&p15);
        let s17 = sql(&p17);
        assert!(
            s15.contains(&r#"GRANT CREATE ON DATABASE "appdb" TO "u";"#.to_owned()),
            "{s15:?}"
        );
        assert!(s15.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s15:?}");
        assert!(s17.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, MAINTAIN ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s17:?}");
        // EXECUTE is held by PUBLIC: not granted.
        assert!(!s15.iter().any(|s| s.contains("ROUTINE")), "{s15:?}");
    }

    #[test]
    fn equal_state_plans_nothing_and_drift_is_repaired() {
        let mut insp = sample();
        let g = [Grant::new(
            Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
            AccessLevel::ReadWrite,
        )];
        for o in &mut insp.objects {
            match (o.object.kind, o.object.name.as_str()) {
                (ObjectKind::Schema, "sales") => o.role_has = PrivilegeSet::of(&[Privilege::Usage]),
                (ObjectKind::Sequence, _) => {
                    o.role_has = PrivilegeSet::of(&[Privilege::Select, Privilege::Usage])
                }
                (ObjectKind::Table, "orders") => {
                    o.role_has = PrivilegeSet::of(&[
                        Privilege::Select,
                        Privilege::Insert,
                        Privilege::Update,
                        Privilege::Delete,
                    ])
                }
                _ => {}
            }
        }
        let p = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap();
        assert!(p.is_empty(), "{p}");
        // Drift: someone granted TRUNCATE and revoked UPDATE, and granted on another table.
        for o in &mut insp.objects {
            if o.object.name.as_str() == "orders" {
                o.role_has = PrivilegeSet::of(&[
                    Privilege::Select,
                    Privilege::Insert,
                    Privilege::Delete,
                    Privilege::Truncate,
                ]);
            }
            if o.object.name.as_str() == "orders_id_seq" {
                o.role_has = PrivilegeSet::of(&[Privilege::Usage, Privilege::Update]);
            }
        }
        let p = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap();
        assert_eq!(
            sql(&p),
            [
                r#"REVOKE TRUNCATE ON TABLE "sales"."orders" FROM "u";"#,
                r#"GRANT UPDATE ON TABLE "sales"."orders" TO "u";"#,
                r#"REVOKE UPDATE ON SEQUENCE "sales"."orders_id_seq" FROM "u";"#,
                r#"GRANT SELECT ON SEQUENCE "sales"."orders_id_seq" TO "u";"#,
            ]
        );
    }

    #[test]
    fn foreign_owner_is_reported_with_fix_per_version() {
        let mut insp = sample();
        for o in &mut insp.objects {
            if o.owner.as_str() == "app_owner" {
                o.connector_acts_for_owner = false;
            }
        }
        let g = [Grant::new(
            Scope::Schema(id("inventory")),
            AccessLevel::ReadOnly,
        )];
        for (n, fix) in [
            (150_000, r#"GRANT "app_owner" TO "apono_connector";"#),
            (
                170_000,
                r#"GRANT "app_owner" TO "apono_connector" WITH INHERIT TRUE, SET FALSE;"#,
            ),
        ] {
            let err = plan(
                &insp,
                &id("u"),
                &g,
                &LevelPolicy::default(),
                &rules(n),
                &id("apono_connector"),
            )
            .unwrap_err();
            match &err {
                GrantsError::OwnerMembershipMissing { fixes } => {
                    assert_eq!(fixes.len(), 2);
                    assert!(
                        fixes
                            .iter()
                            .all(|f| f.fix_sql == fix && f.owner == "app_owner")
                    );
                    assert_eq!(fixes[1].object, "inventory.items");
                }
                other => panic!("{other}"),
            }
            assert!(err.to_string().contains(fix), "{err}");
        }
    }

    #[test]
    fn fix_sql_and_plans_keep_their_shape_whatever_the_names() {
        use crate::quote::{NASTY_NAMES, split_quoted};
        for (i, name) in NASTY_NAMES.iter().enumerate() {
            let other = NASTY_NAMES[(i + 1) % NASTY_NAMES.len()];
            // The grantee is neither the owner nor the connector: a role's privileges on its
            // own objects are never planned.
            let third = NASTY_NAMES[(i + 2) % NASTY_NAMES.len()];
            let (schema, table, owner, connector, role) = (name, other, name, other, third);
            let mut insp = Inspection {
                database: "appdb".into(),
                objects: vec![
                    obj(ObjectKind::Schema, None, schema, owner),
                    obj(ObjectKind::Table, Some(schema), table, owner),
                ],
                ..Inspection::default()
            };
            for o in &mut insp.objects {
                o.connector_acts_for_owner = false;
            }
            let g = [Grant::new(Scope::Schema(id(schema)), AccessLevel::ReadOnly)];
            let run = |insp: &Inspection, n| {
                plan(
                    insp,
                    &id(role),
                    &g,
                    &LevelPolicy::default(),
                    &rules(n),
                    &id(connector),
                )
            };
            // Membership fix.
            let Err(GrantsError::OwnerMembershipMissing { fixes }) = run(&insp, 170_000) else {
                panic!("expected fixes")
            };
            for f in &fixes {
                let (shape, idents, literals) = split_quoted(&f.fix_sql);
                assert_eq!(
                    shape, r#"GRANT "" TO "" WITH INHERIT TRUE, SET FALSE;"#,
                    "{}",
                    f.fix_sql
                );
                assert_eq!(idents, [*owner, connector], "{}", f.fix_sql);
                assert!(literals.is_empty());
            }
            // Grant-option fix (the owner is a member of the connector).
            for o in &mut insp.objects {
                o.owner_in_connector = true;
            }
            let Err(GrantsError::OwnerMembershipMissing { fixes }) = run(&insp, 170_000) else {
                panic!("expected fixes")
            };
            let shapes: Vec<(String, Vec<String>)> = fixes
                .iter()
                .map(|f| {
                    let (shape, idents, _) = split_quoted(&f.fix_sql);
                    (shape, idents)
                })
                .collect();
            assert_eq!(
                shapes,
                [
                    (
                        r#"GRANT USAGE, CREATE ON SCHEMA "" TO "" WITH GRANT OPTION;"#.to_owned(),
                        vec![(*schema).to_owned(), connector.to_owned()]
                    ),
                    (
                        r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON TABLE ""."" TO "" WITH GRANT OPTION;"#
                            .to_owned(),
                        vec![(*schema).to_owned(), table.to_owned(), connector.to_owned()]
                    ),
                ]
            );
            // The plan itself, once the connector may act.
            for o in &mut insp.objects {
                o.connector_acts_for_owner = true;
            }
            let p = run(&insp, 170_000).unwrap();
            let shapes: Vec<(String, Vec<String>)> = p
                .statements()
                .iter()
                .map(|s| {
                    let (shape, idents, _) = split_quoted(s.sql());
                    (shape, idents)
                })
                .collect();
            assert_eq!(
                shapes,
                [
                    (
                        r#"GRANT USAGE ON SCHEMA "" TO "";"#.to_owned(),
                        vec![(*schema).to_owned(), (*role).to_owned()]
                    ),
                    (
                        r#"GRANT SELECT ON TABLE ""."" TO "";"#.to_owned(),
                        vec![(*schema).to_owned(), table.to_owned(), (*role).to_owned()]
                    ),
                ]
            );
        }
    }

    #[test]
    fn circular_owner_gets_grant_option_fix_and_grant_options_suffice() {
        let mut insp = sample();
        insp.objects.retain(|o| o.owner.as_str() == "postgres");
        for o in &mut insp.objects {
            o.connector_acts_for_owner = false;
            o.owner_in_connector = true;
        }
        let g = [Grant::new(
            Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
            AccessLevel::ReadOnly,
        )];
        let err = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap_err();
        let GrantsError::OwnerMembershipMissing { fixes } = err else {
            panic!()
        };
        let sql: Vec<&str> = fixes.iter().map(|f| f.fix_sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                r#"GRANT USAGE, CREATE ON SCHEMA "sales" TO "c" WITH GRANT OPTION;"#,
                r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON TABLE "sales"."orders" TO "c" WITH GRANT OPTION;"#,
                r#"GRANT SELECT, UPDATE, USAGE ON SEQUENCE "sales"."orders_id_seq" TO "c" WITH GRANT OPTION;"#,
            ]
        );
        assert!(fixes.iter().all(|f| f.run_as == "postgres"));
        // Once the connector holds the grant options, the plan goes through.
        for o in &mut insp.objects {
            o.connector_grantable = o.object.kind.applicable();
        }
        let p = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap();
        assert_eq!(p.changes.len(), 3);
    }

    #[test]
    fn missing_scope_objects_are_reported() {
        let g = [Grant::new(Scope::Schema(id("nope")), AccessLevel::ReadOnly)];
        let err = plan(
            &sample(),
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(150_000),
            &id("c"),
        )
        .unwrap_err();
        assert!(
            matches!(err, GrantsError::ObjectNotFound { kind: "schema", .. }),
            "{err}"
        );
    }

    #[test]
    fn function_targets_carry_server_rendered_arguments() {
        let insp = sample();
        let f = insp
            .objects
            .iter()
            .find(|o| o.object.kind == ObjectKind::Function)
            .unwrap();
        assert_eq!(
            f.object.sql_target(),
            r#"ROUTINE "sales"."total"(customer integer)"#
        );
    }

    #[test]
    fn following_new_tables_plans_default_privileges_per_creator() {
        let mut insp = sample();
        // A stray entry naming the role: removed since no grant asks for it.
        insp.default_acls.push(DefaultAcl {
            for_role: "app_owner".into(),
            schema: None,
            object_type: "f".into(),
            privileges: PrivilegeSet::of(&[Privilege::Execute]),
        });
        let g = [
            Grant::new(Scope::Schema(id("inventory")), AccessLevel::Admin).follow_new_tables(true),
        ];
        for (n, table_privs) in [
            (
                150_000,
                "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES",
            ),
            (
                170_000,
                "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, MAINTAIN",
            ),
        ] {
            let p = plan(
                &insp,
                &id("u"),
                &g,
                &LevelPolicy::default(),
                &rules(n),
                &id("c"),
            )
            .unwrap();
            let defaults: Vec<String> = p
                .statements()
                .iter()
                .map(|s| s.sql().to_owned())
                .filter(|s| s.starts_with("ALTER DEFAULT"))
                .collect();
            assert_eq!(
                defaults,
                [
                    r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" REVOKE EXECUTE ON FUNCTIONS FROM "u";"#.to_owned(),
                    format!(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT {table_privs} ON TABLES TO "u";"#),
                    r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT SELECT, UPDATE, USAGE ON SEQUENCES TO "u";"#.to_owned(),
                ],
                "{n}"
            );
        }
        // Without following, nothing but the stray entry's removal concerns default privileges.
        let plain = [Grant::new(
            Scope::Schema(id("inventory")),
            AccessLevel::Admin,
        )];
        let p = plan(
            &insp,
            &id("u"),
            &plain,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap();
        assert_eq!(p.default_changes.len(), 1);
    }

    #[test]
    fn following_new_tables_refusals() {
        let t = [Grant::new(
            Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
            AccessLevel::ReadOnly,
        )
        .follow_new_tables(true)];
        let err = plan(
            &sample(),
            &id("u"),
            &t,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap_err();
        assert!(matches!(err, GrantsError::InvalidGrant { .. }), "{err}");

        let g = [
            Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly)
                .follow_new_tables(true),
        ];
        // A creator the connector does not act for: the membership fix, per version.
        let mut insp = sample();
        for o in &mut insp.objects {
            if o.owner.as_str() == "app_owner" {
                o.connector_acts_for_owner = false;
            }
        }
        let err = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap_err();
        let GrantsError::OwnerMembershipMissing { fixes } = err else {
            panic!()
        };
        assert!(
            fixes.iter().any(|f| f.kind == "default privileges"
                && f.fix_sql == r#"GRANT "app_owner" TO "c" WITH INHERIT TRUE, SET FALSE;"#),
            "{fixes:?}"
        );
        // A creator that is a member of the connector can never be acted for.
        for o in &mut insp.objects {
            if o.owner.as_str() == "app_owner" {
                o.owner_in_connector = true;
                o.connector_grantable = o.object.kind.applicable();
            }
        }
        let err = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(170_000),
            &id("c"),
        )
        .unwrap_err();
        assert!(
            matches!(err, GrantsError::CannotFollowNewTables { ref creator, .. } if creator == "app_owner"),
            "{err}"
        );
    }
}
