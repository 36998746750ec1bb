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
//!
//! Its parts: [`inspection`] (the catalog rows, decoded), `defaults` (default privileges:
//! [`DefaultChange`]) and, here, the pure diff ([`plan`]) and its [`Plan`].

mod defaults;
pub mod inspection;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::access::AccessRole;
use crate::error::{GrantsError, OwnerFix};
use crate::privilege::{Grant, LevelPolicy, ObjectKind, Privilege, PrivilegeSet, Scope};
use crate::quote::{Ident, QualifiedName};
use crate::statement::Statement;
use crate::version::ServerRules;

pub use crate::sql::inspect_sql;
use defaults::plan_defaults;
pub use defaults::{DefaultChange, DefaultObjects};
pub(crate) use inspection::scope_params;
pub use inspection::{DefaultAcl, HeldThrough, Inspection, ObjectRef, ObjectState};
/// One object's change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// Memberships in this database's access roles to grant or revoke (PostgreSQL 16+, see
    /// [`access`](crate::access)), in a stable order.
    pub memberships: Vec<MembershipChange>,
    /// On PostgreSQL 16+, the plans of the access roles those memberships point to, which
    /// come first (only those that change something).
    pub access: Vec<Plan>,
}

/// A membership of the planned role in an access role, to grant or to revoke.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MembershipChange {
    /// The access role.
    pub access_role: AccessRole,
    /// Grant (`true`) or revoke it.
    pub grant: bool,
    /// The role granting it or whose grant is revoked: the grantor role (see
    /// [`access`](crate::access#the-grantor-role)), or `None` for the connector itself (a
    /// membership granted before the grantor role existed).
    pub grantor: Option<Ident>,
}

impl MembershipChange {
    /// The statement granting or revoking the membership of `role`: as the grantor role
    /// (`SET LOCAL ROLE` to it and back, in the caller's transaction) when
    /// [`MembershipChange::grantor`] names it.
    pub fn statement(&self, role: &Ident) -> Statement {
        let access = self.access_role.name.quoted();
        let role = role.quoted();
        let change = if self.grant {
            // Uses the privileges, never acts as the role (16+ only: see `access`).
            format!("GRANT {access} TO {role} WITH INHERIT TRUE, SET FALSE;")
        } else {
            format!("REVOKE {access} FROM {role};")
        };
        Statement::new(match &self.grantor {
            Some(grantor) => as_grantor(grantor, &change),
            None => change,
        })
    }
}

/// `change` (one `GRANT` or `REVOKE` of a role membership) run as the grantor role `grantor`:
/// only that statement runs as it, no function, no object, nothing a user made. `SET LOCAL`
/// ends with the transaction whatever happens; the role is reset right after, before anything
/// else of the batch runs.
pub(crate) fn as_grantor(grantor: &Ident, change: &str) -> String {
    format!(
        "SET LOCAL ROLE {}; {change} SET LOCAL ROLE NONE;",
        grantor.quoted()
    )
}

/// The changes taking the memberships of `inspection`'s role in the access roles of its
/// database to exactly `wanted`: memberships in access roles of other databases are left alone.
/// New memberships are granted by `grantor` (the grantor role, or the connector when `None`);
/// one no longer wanted is revoked by whoever granted it (both, when both did).
pub fn plan_memberships(
    inspection: &Inspection,
    wanted: &[AccessRole],
    grantor: Option<&Ident>,
) -> Vec<MembershipChange> {
    let held = &inspection.access_memberships;
    let mut out: Vec<MembershipChange> = Vec::new();
    for a in held.iter().filter(|a| {
        a.key.database == inspection.database && !wanted.iter().any(|w| w.name == a.name)
    }) {
        let by: Vec<bool> = inspection
            .access_grantors
            .iter()
            .filter(|(n, _)| *n == a.name)
            .map(|(_, g)| *g)
            .collect();
        // A membership the grantor role granted is revoked as the grantor role; when its name is
        // not known here (a membership read without it), as the connector.
        if by.contains(&false) || grantor.is_none() {
            out.push(MembershipChange {
                access_role: a.clone(),
                grant: false,
                grantor: None,
            });
        }
        if by.contains(&true)
            && let Some(g) = grantor
        {
            out.push(MembershipChange {
                access_role: a.clone(),
                grant: false,
                grantor: Some(g.clone()),
            });
        }
    }
    out.extend(
        wanted
            .iter()
            .filter(|w| !held.iter().any(|a| a.name == w.name))
            .map(|w| MembershipChange {
                access_role: w.clone(),
                grant: true,
                grantor: grantor.cloned(),
            }),
    );
    out.sort_by(|a, b| a.access_role.name.cmp(&b.access_role.name));
    out.dedup();
    out
}

impl Plan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.default_changes.is_empty()
            && self.memberships.is_empty()
            && self.access.iter().all(Plan::is_empty)
    }

    /// The statements: the access roles' first (see [`Plan::access`]), then per object
    /// `REVOKE`s before `GRANT`s, default privileges, memberships.
    pub fn statements(&self) -> Vec<Statement> {
        let mut out: Vec<Statement> = self.access.iter().flat_map(Plan::statements).collect();
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
        out.extend(self.memberships.iter().map(|m| m.statement(&self.role)));
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

/// As JSON: `database`, `role`, `changes`, `default_changes`, `memberships`, `access` (the
/// access roles' plans, each of this shape) and `sql` (the statements [`Plan::statements`]
/// returns, as text, the access roles' included).
impl serde::Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Plan", 7)?;
        s.serialize_field("database", &self.database)?;
        s.serialize_field("role", &self.role)?;
        s.serialize_field("changes", &self.changes)?;
        s.serialize_field("default_changes", &self.default_changes)?;
        s.serialize_field("memberships", &self.memberships)?;
        s.serialize_field("access", &self.access)?;
        s.serialize_field("sql", &self.statements())?;
        s.end()
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

/// Refuses a list of grants that no database could hold (whatever its catalogs say).
///
/// # Errors
/// [`GrantsError::InvalidGrant`] for a [`Scope::Table`] grant that asks to follow new tables.
pub(crate) fn check_grants(grants: &[Grant]) -> Result<(), GrantsError> {
    if let Some(q) = grants.iter().find_map(|g| match &g.scope {
        Scope::Table(q) if g.follow_new_tables => Some(q),
        _ => None,
    }) {
        return Err(GrantsError::InvalidGrant {
            scope: format!("table {q}"),
            reason: "following new tables needs a schema or database scope; a table scope covers one existing table",
        });
    }
    Ok(())
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
    check_grants(grants)?;
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
        memberships: Vec::new(),
        access: Vec::new(),
    })
}
