//! Inspect a role's privileges in one database, and plan the SQL that takes them to the wanted
//! ones.
//!
//! [`inspect_sql`] reads, in one catalog query, every object in scope and every object on which
//! the role holds a privilege (`aclexplode` over `pg_database`, `pg_namespace`, `pg_class`,
//! `pg_proc`), plus the role's default-ACL entries and memberships. Objects that belong to an
//! extension (`pg_depend.deptype = 'e'`, for example functions of `pg_stat_statements` owned by
//! `rdsadmin` on RDS) are not in any scope: nobody but their owner could grant on them. [`plan`] is a pure function
//! of that [`Inspection`]: it lists the `GRANT`s and `REVOKE`s needed, and is empty when the role
//! already has exactly what it should. Before planning any change it checks that the connector
//! may act for each object's owner, so nothing is sent that the server would refuse.

use std::fmt;

use crate::error::{GrantsError, OwnerFix};
use crate::privilege::{Grant, LevelPolicy, ObjectKind, Privilege, PrivilegeSet, Scope};
use crate::quote::{Ident, QualifiedName};
use crate::statement::Statement;
use crate::version::ServerRules;

const NOT_SYSTEM: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// The inspection query. Parameters: `$1` role name, `$2` whole database in scope, `$3` schemas
/// in scope, `$4`/`$5` schemas and names of single tables in scope.
pub fn inspect_sql() -> String {
    format!(
        r#"WITH r AS (SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) AS oid),
objs AS (
  SELECT 'database'::text AS kind, NULL::text AS schema, d.datname::text AS name, NULL::text AS args,
         d.datdba AS owner, COALESCE(d.datacl, acldefault('d', d.datdba)) AS acl, true AS in_scope,
         NULL::text AS owned_by_schema, NULL::text AS owned_by_table
    FROM pg_catalog.pg_database d WHERE d.datname = current_database()
  UNION ALL
  SELECT 'schema', NULL, n.nspname::text, NULL, n.nspowner, COALESCE(n.nspacl, acldefault('n', n.nspowner)),
         $2 OR n.nspname = ANY($3) OR n.nspname = ANY($4), NULL, NULL
    FROM pg_catalog.pg_namespace n WHERE {NOT_SYSTEM}
  UNION ALL
  SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, n.nspname::text, c.relname::text, NULL,
         c.relowner, COALESCE(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END, c.relowner)),
         ($2 OR n.nspname = ANY($3)
            OR (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest($4::text[], $5::text[]))
            OR (tn.nspname::text, t.relname::text) IN (SELECT * FROM unnest($4::text[], $5::text[])))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_class'::regclass
                              AND x.objid = c.oid AND x.deptype = 'e'),
         tn.nspname::text, t.relname::text
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    -- A sequence owned by a column (serial): the table scope covers it.
    LEFT JOIN pg_catalog.pg_depend dep ON c.relkind = 'S' AND dep.classid = 'pg_catalog.pg_class'::regclass
         AND dep.objid = c.oid AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.deptype = 'a'
    LEFT JOIN pg_catalog.pg_class t ON t.oid = dep.refobjid
    LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') AND {NOT_SYSTEM}
  UNION ALL
  SELECT 'function', n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid),
         p.proowner, COALESCE(p.proacl, acldefault('f', p.proowner)),
         ($2 OR n.nspname = ANY($3))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_proc'::regclass
                              AND x.objid = p.oid AND x.deptype = 'e'),
         NULL, NULL
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE p.prokind IN ('f', 'p') AND {NOT_SYSTEM}
)
SELECT o.kind, o.schema, o.name, o.args, pg_catalog.pg_get_userbyid(o.owner)::text AS owner,
       ARRAY(SELECT a.privilege_type FROM aclexplode(o.acl) a, r WHERE a.grantee = r.oid) AS role_has,
       ARRAY(SELECT a.privilege_type FROM aclexplode(o.acl) a WHERE a.grantee = 0) AS public_has,
       pg_catalog.pg_has_role(current_user, o.owner, 'USAGE') AS can_act,
       o.owned_by_schema, o.owned_by_table,
       ARRAY(SELECT a.privilege_type FROM aclexplode(o.acl) a
              WHERE a.is_grantable AND a.grantee <> 0
                AND pg_catalog.pg_has_role(current_user, a.grantee, 'USAGE')) AS connector_grantable,
       pg_catalog.pg_has_role(o.owner, current_user, 'MEMBER') AS owner_in_connector
  FROM objs o
 WHERE o.in_scope OR EXISTS (SELECT 1 FROM aclexplode(o.acl) a, r WHERE a.grantee = r.oid)
UNION ALL
SELECT 'default_acl', n.nspname::text, d.defaclobjtype::text, NULL, pg_catalog.pg_get_userbyid(d.defaclrole)::text,
       ARRAY(SELECT a.privilege_type FROM aclexplode(d.defaclacl) a, r WHERE a.grantee = r.oid), ARRAY[]::text[], false, NULL, NULL, ARRAY[]::text[], false
  FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace, r
 WHERE EXISTS (SELECT 1 FROM aclexplode(d.defaclacl) a WHERE a.grantee = r.oid)
UNION ALL
SELECT 'membership', NULL, g.rolname::text, NULL, NULL, ARRAY[]::text[], ARRAY[]::text[], false, NULL, NULL, ARRAY[]::text[], false
  FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid, r
 WHERE m.member = r.oid"#
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
            let kind: String = row
                .try_get(0)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let schema: Option<String> = row
                .try_get(1)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let name: String = row
                .try_get(2)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let args: Option<String> = row
                .try_get(3)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let owner: Option<String> = row
                .try_get(4)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let role_has: Vec<String> = row
                .try_get(5)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let public_has: Vec<String> = row
                .try_get(6)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let can_act: bool = row
                .try_get(7)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let owned_schema: Option<String> = row
                .try_get(8)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let owned_table: Option<String> = row
                .try_get(9)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let grantable: Vec<String> = row
                .try_get(10)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
            let owner_in_connector: bool = row
                .try_get(11)
                .map_err(|e| GrantsError::db("reading inspection", e))?;
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
}

impl Plan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
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
/// * [`GrantsError::OwnerMembershipMissing`] listing every object whose change the connector may
///   not make, with the fix SQL for this server version.
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
    if !fixes.is_empty() {
        return Err(GrantsError::OwnerMembershipMissing { fixes });
    }
    Ok(Plan {
        database: inspection.database.clone(),
        role: role.clone(),
        changes,
    })
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
        assert!(s15.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s15:?}");
        assert!(s17.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s17:?}");
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
}
