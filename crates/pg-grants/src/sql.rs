//! The SQL this crate reads with, as named constants in one place (the statements that change
//! anything are built by the pure functions of [`role`](crate::role), [`plan`](crate::plan) and
//! [`revoke`](crate::revoke)).
//!
//! Every function, operator and type is qualified with `pg_catalog`, so nothing a user created
//! in a schema of the connector's `search_path` runs as the connector.

use tokio_postgres::types::{ToSql, Type};

/// `params` paired with `types` (the `*_PARAMS` constant of the statement), for
/// `query_typed`: parse, bind and execute go in one round trip, where `query` with SQL text
/// prepares first, a round trip of its own. Each `*_PARAMS` lists the types the server infers
/// for that statement's parameters (`tests::declared_parameter_types_are_the_servers` checks
/// every one against a real server), so the statement means exactly what it meant prepared.
pub(crate) fn typed<'a>(
    params: &[&'a (dyn ToSql + Sync)],
    types: &[Type],
) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params.iter().copied().zip(types.iter().cloned()).collect()
}

/// One role name (`name`).
pub(crate) const NAME_PARAM: &[Type] = &[Type::NAME];
/// One text (a role's name compared as `text`, an advisory-lock key).
pub(crate) const TEXT_PARAM: &[Type] = &[Type::TEXT];

/// The server version, the connector (`current_user`), the database and the login
/// (`session_user`), read once per [`Session`](crate::Session).
pub(crate) const SESSION_START: &str = "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4, \
     current_user::pg_catalog.text, pg_catalog.current_database()::pg_catalog.text, \
     session_user::pg_catalog.text, \
     pg_catalog.has_database_privilege(pg_catalog.current_database(), 'TEMPORARY')";

/// The parameter types of [`MANAGED_ROLES`].
pub(crate) const MANAGED_ROLES_PARAMS: &[Type] = &[Type::NAME, Type::BOOL, Type::NAME, Type::TEXT];

/// Managed roles and their marks: one definition for looking one role up
/// ([`Session::managed_role`](crate::Session::managed_role), `$4` its name, a row whenever it
/// exists) and for listing every marked role (`managed_roles`, the sweep; `$4` `NULL`, only
/// roles carrying either mark). `$1` the marker role, `$2` whether membership grantors are
/// trusted (16+), `$3` the connector.
///
/// Columns: name, can log in, comment, the marker is a member of it (the mark), it is a member
/// of the marker (the 0.1.0 mark), and (only with `$2`) what makes the marks untrustworthy, one
/// line each, empty when nothing does. On 16+ a mark counts only when granted by the connector
/// (or by the bootstrap superuser, which a superuser connector's grants record), and every
/// other membership in the role must be the connector's (granted by itself, or the implicit
/// `ADMIN` PostgreSQL records, granted by the bootstrap superuser, when it creates a role), or
/// one the connector granted without `ADMIN` (retirement removes it): no role but the connector
/// holds `ADMIN` on it, and no membership in it was granted by anyone else. A `CREATEROLE` role
/// that creates a role of its own (it is recorded as its member with `ADMIN`), grants it to
/// the marker and to the connector and forges a record does not make it a managed user.
pub(crate) const MANAGED_ROLES: &str = "SELECT r.rolname::pg_catalog.text, r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid'),
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) g.oid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) g.oid AND m.member OPERATOR(pg_catalog.=) r.oid),
       CASE WHEN $2::pg_catalog.bool THEN ARRAY(
         SELECT 'no mark granted by the connector' WHERE NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_auth_members m
                 WHERE ((m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) g.oid)
                     OR (m.roleid OPERATOR(pg_catalog.=) g.oid AND m.member OPERATOR(pg_catalog.=) r.oid))
                   AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid]))
         UNION ALL
         SELECT pg_catalog.format('%s is a member of it (granted by %s%s)',
                  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.member)::pg_catalog.text),
                  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text),
                  CASE WHEN m.admin_option THEN ', with ADMIN OPTION' ELSE '' END)
           FROM pg_catalog.pg_auth_members m
          WHERE m.roleid OPERATOR(pg_catalog.=) r.oid
            AND NOT (m.member OPERATOR(pg_catalog.=) c.oid
                     AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid]))
            AND NOT (m.member OPERATOR(pg_catalog.=) g.oid AND NOT m.admin_option
                     AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid]))
            AND NOT (m.grantor OPERATOR(pg_catalog.=) c.oid AND NOT m.admin_option)
       ) END
  FROM pg_catalog.pg_roles r
  LEFT JOIN pg_catalog.pg_roles g ON g.rolname OPERATOR(pg_catalog.=) $1
  LEFT JOIN pg_catalog.pg_roles c ON c.rolname OPERATOR(pg_catalog.=) $3
 WHERE CASE WHEN $4::pg_catalog.text IS NULL
            THEN r.oid OPERATOR(pg_catalog.<>) g.oid
                 AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                              WHERE (m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) g.oid)
                                 OR (m.roleid OPERATOR(pg_catalog.=) g.oid AND m.member OPERATOR(pg_catalog.=) r.oid))
            ELSE r.rolname OPERATOR(pg_catalog.=) $4 END
 ORDER BY 1";

/// Whether `expr` (a boolean expression of `$1`, a role's name) holds, when that role exists
/// (`NULL` when it does not).
pub(crate) fn role_check(expr: &str) -> String {
    format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles \
         WHERE rolname OPERATOR(pg_catalog.=) $1) THEN ({expr}) END"
    )
}

/// Calls the advisory-lock function `function` (one of the `pg_*advisory*` names of
/// [`AdvisoryLocks`](crate::AdvisoryLocks), never input) on the 64-bit hash of `$1`, its
/// result as text.
pub(crate) fn advisory(function: &str) -> String {
    format!("SELECT pg_catalog.{function}(pg_catalog.hashtextextended($1, 0))::pg_catalog.text")
}

/// The holders of the advisory lock keyed by `hash` (an SQL expression of type `int8`, the
/// `hashtextextended` of the key) in this database, other than this session: every session
/// and every prepared transaction holding it, in any mode. Columns: `pid` (`NULL` for a
/// prepared transaction), `holder` (the session's user, or the prepared transaction's owner;
/// `NULL` when the server does not say), `may_create_roles`, `gid` (the prepared
/// transaction's, else `NULL`), `label` (as [`LockHolder`](crate::LockHolder) displays it).
///
/// `may_create_roles` is the one definition of a connector-like holder: its user (or owner)
/// is a superuser or has `CREATEROLE`. A holder without it is a squatter
/// ([`LockHolder::is_squatter`](crate::LockHolder::is_squatter)); so is a prepared transaction
/// not owned by such a role, and a holder whose user cannot be found.
///
/// A bigint advisory key k is stored as classid = k >> 32, objid = k & 0xffffffff, objsubid = 1.
/// A prepared transaction's locks have no pid; they keep the virtual transaction of the session
/// that prepared it, which also holds (with no pid) the `ExclusiveLock` on the prepared
/// transaction's own xid: that is how a lock is traced to its `pg_prepared_xacts` row (and its
/// owner). `pg_locks` is read twice, so a prepared transaction that ends in between is matched
/// to no owner: a squatter, as the caller then finds the lock free or waits for it.
pub(crate) fn advisory_holders(hash: &str) -> String {
    format!(
        "SELECT l.pid, COALESCE(r.rolname, p.owner)::pg_catalog.text AS holder, \
         (CASE WHEN l.pid IS NULL THEN po.rolsuper OR po.rolcreaterole \
               ELSE r.rolsuper OR r.rolcreaterole END) IS TRUE AS may_create_roles, \
         p.gid, \
         COALESCE(r.rolname, p.owner, ''::pg_catalog.name)::pg_catalog.text \
           OPERATOR(pg_catalog.||) CASE WHEN l.pid IS NULL \
             THEN ' (prepared transaction \"'::pg_catalog.text OPERATOR(pg_catalog.||) \
               COALESCE(p.gid, ''::pg_catalog.text) OPERATOR(pg_catalog.||) '\")'::pg_catalog.text \
             ELSE ' (pid '::pg_catalog.text OPERATOR(pg_catalog.||) l.pid::pg_catalog.text \
               OPERATOR(pg_catalog.||) ')'::pg_catalog.text END AS label \
         FROM pg_catalog.pg_locks l \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid \
         LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.usesysid \
         LEFT JOIN pg_catalog.pg_locks t ON l.pid IS NULL AND t.pid IS NULL \
           AND t.locktype OPERATOR(pg_catalog.=) 'transactionid'::pg_catalog.text \
           AND t.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'::pg_catalog.text AND t.granted \
           AND t.virtualtransaction OPERATOR(pg_catalog.=) l.virtualtransaction \
         LEFT JOIN pg_catalog.pg_prepared_xacts p \
           ON p.transaction OPERATOR(pg_catalog.=) t.transactionid \
         LEFT JOIN pg_catalog.pg_roles po ON po.rolname OPERATOR(pg_catalog.=) p.owner \
         WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'::pg_catalog.text AND l.granted \
         AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d \
           WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) \
         AND l.classid OPERATOR(pg_catalog.=) ((({hash}) OPERATOR(pg_catalog.>>) 32) \
           OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)::pg_catalog.oid \
         AND l.objid OPERATOR(pg_catalog.=) \
           (({hash}) OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)::pg_catalog.oid \
         AND l.objsubid OPERATOR(pg_catalog.=) 1 \
         AND (l.pid IS NULL OR l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())"
    )
}

/// The holders of the advisory lock keyed by the hash of `$1` ([`advisory_holders`]), by pid
/// (prepared transactions last).
pub(crate) fn advisory_lock_holders() -> String {
    format!(
        "SELECT h.pid, h.holder, h.may_create_roles, h.gid FROM ({}) h \
         ORDER BY h.pid, h.gid",
        advisory_holders("pg_catalog.hashtextextended($1::pg_catalog.text, 0)")
    )
}

/// Takes the transaction-level advisory lock keyed by `key` (a quoted SQL literal) unless only
/// squatters hold it, in one statement (one round trip, one row, one column):
///
/// 1. `pg_try_advisory_xact_lock`: taken, `NULL`;
/// 2. else, in one read of [`advisory_holders`]: when there is a holder and every holder is a
///    squatter (`NOT may_create_roles`), the lock is not taken and the squatters' labels are
///    returned (`mallory (pid 42), eve (prepared transaction "x")`);
/// 3. else (a connector holds it, or it was released since step 1) `pg_advisory_xact_lock`
///    waits for it as `lock_timeout` allows, `NULL`. A connector that takes it between steps
///    1 and 2 is seen in step 2: this waits for it.
pub(crate) fn xact_lock_unless_squatted(key: &str) -> String {
    format!(
        "SELECT CASE WHEN pg_catalog.pg_try_advisory_xact_lock(k.k) THEN NULL::pg_catalog.text \
         ELSE (SELECT CASE WHEN pg_catalog.bool_and(NOT h.may_create_roles) \
                 THEN pg_catalog.string_agg(h.label, ', '::pg_catalog.text ORDER BY h.label) \
                 ELSE (SELECT NULL::pg_catalog.text \
                       FROM pg_catalog.pg_advisory_xact_lock(k.k) AS w) END \
               FROM ({}) h) END \
         FROM (SELECT pg_catalog.hashtextextended({key}, 0) AS k) k;",
        advisory_holders("k.k")
    )
}

/// The parameter types of [`SERVICE_ROLE_CHECK`].
pub(crate) const SERVICE_ROLE_CHECK_PARAMS: &[Type] = &[Type::NAME, Type::BOOL];

/// Reads what [`Session::service_role_problems`](crate::Session) judges, for role `$1`: its
/// comment; the attributes that grant something; whether it is the connector; the roles it is a
/// member of (all, when `$2`, else none; then those that are not managed users); its members other than the connector;
/// whether it holds a privilege on a shared object or an object of the current database, other
/// than privileges on objects a managed user (or, after its revocation, a holder of ours) owns.
/// Those are that user's own grants, of any kind (a table, column, schema, function, large
/// object, default privileges): they only reach what that user owned, and a hostile user could
/// otherwise grant one to block every grant or revocation on the instance. Objects are matched
/// to their owner through `pg_shdepend`'s owner entries, whatever their catalog.
/// Memberships that tie role `$1` to any role but the session's login (on 16+ the connector
/// holds an ADMIN membership in every role it created): its members, and the roles it is a
/// member of. For the marker the latter are its marks (the marker is a member of each managed
/// user): dropping a marker that still marks a user would leave that user unmanaged; for the
/// grantor role, the access roles it administers.
pub(crate) const OTHER_MEMBERS: &str = "SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m \
     WHERE (m.roleid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1) \
     AND m.member <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)) \
     OR m.member = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1)";

pub(crate) const SERVICE_ROLE_CHECK: &str = concat!(
    "SELECT pg_catalog.shobj_description(r.oid, 'pg_authid'),
       pg_catalog.array_remove(ARRAY[
         CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
         CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
         CASE WHEN r.rolinherit THEN 'INHERIT' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END]::pg_catalog.text[], NULL),
       r.rolname OPERATOR(pg_catalog.=) CURRENT_USER,
       -- All its memberships, only when asked ($2): the marker is a member of every managed
       -- user, and its check (at every user's creation) needs only the next column.
       CASE WHEN $2 THEN ARRAY(SELECT g.rolname::pg_catalog.text FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
              WHERE m.member OPERATOR(pg_catalog.=) r.oid ORDER BY 1) ELSE ARRAY[]::pg_catalog.text[] END,
       ARRAY(SELECT g.rolname::pg_catalog.text FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
               -- Comments joined, not read one call at a time: the marker is a member of
               -- every managed user, and this runs at every user's creation.
               LEFT JOIN pg_catalog.pg_shdescription d ON d.objoid OPERATOR(pg_catalog.=) g.oid
                     AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
              WHERE m.member OPERATOR(pg_catalog.=) r.oid
                AND NOT (NOT (g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication OR g.rolbypassrls)
                         AND (pg_catalog.starts_with(COALESCE(d.description, ''), '",
    r#"{"rdspg":1,"request_id":"#,
    "') OR pg_catalog.starts_with(COALESCE(d.description, ''), '",
    r#"{"rdspg":2,"creator":"#,
    "')))
              ORDER BY 1),
       ARRAY(SELECT u.rolname::pg_catalog.text FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND u.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
              ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                  AND s.refobjid OPERATOR(pg_catalog.=) r.oid AND s.deptype OPERATOR(pg_catalog.=) 'a'
                  AND (s.dbid OPERATOR(pg_catalog.=) 0
                       OR s.dbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))
                  AND NOT EXISTS (
                        -- The owner's comment is read in a scalar subquery, for that one owner:
                        -- as a join filter the planner may call shobj_description for every
                        -- role, for every object (quadratic in managed users on a fresh
                        -- cluster whose catalogs have no statistics yet).
                        SELECT 1 FROM pg_catalog.pg_shdepend o
                         WHERE o.dbid OPERATOR(pg_catalog.=) s.dbid
                           AND o.classid OPERATOR(pg_catalog.=) s.classid
                           AND o.objid OPERATOR(pg_catalog.=) s.objid
                           AND o.deptype OPERATOR(pg_catalog.=) 'o'
                           AND o.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                           AND COALESCE((
                             SELECT NOT (w.rolsuper OR w.rolcreaterole OR w.rolcreatedb OR w.rolreplication OR w.rolbypassrls)
                                    AND (pg_catalog.starts_with(d.c, '",
    r#"{"rdspg":1,"request_id":"#,
    "')
                                         OR pg_catalog.starts_with(d.c, '",
    r#"{"rdspg":2,"creator":"#,
    "')
                                         OR pg_catalog.starts_with(d.c, '",
    r#"{"rdspg":1,"kind":"holder""#,
    "'))
                               FROM pg_catalog.pg_roles w,
                                    LATERAL (SELECT COALESCE(pg_catalog.shobj_description(w.oid, 'pg_authid'), '') AS c OFFSET 0) d
                              WHERE w.oid OPERATOR(pg_catalog.=) o.refobjid), false)
                         -- OFFSET 0: a per-entry index lookup, never one hashed pass over
                         -- every role's entries (the planner's choice on a fresh cluster).
                         OFFSET 0)
                -- Likewise: this role's entries through the index, not all roles' hashed.
                OFFSET 0)
  FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1"
);

/// Schemas of user objects (not the system's, TOAST or temporary ones).
const NOT_SYSTEM: &str = "n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}'::pg_catalog.name[]) \
     AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%'";

/// The inspection query. Parameters: `$1` role name, `$2` whole database in scope, `$3` schemas
/// in scope, `$4`/`$5` schemas and names of single tables in scope, `$6` the grantor role's
/// name ([`RoleNames::grantor`](crate::role::RoleNames)).
///
/// Every function, operator and type in it is qualified with `pg_catalog`, so nothing a user
/// created in a schema of the connector's `search_path` can run as the connector.
pub fn inspect_sql() -> String {
    format!(
        r#"WITH RECURSIVE r AS (SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1) AS oid),
-- The connector and every role that is a member of it, by any path: what
-- pg_has_role(owner, current_user, 'MEMBER') asks of a role that is not a superuser (it is
-- true for every superuser, added where it is read), answered from the connector down. Asked
-- from the owner up, PostgreSQL walks the owner's memberships: the master user's include the
-- connector (its creator, on 16+), and so every role the connector created, after every
-- change of pg_auth_members (100 ms with 10,000 managed users).
-- The grantor role ($6), only when it is the library's: the connector administers it as its
-- creator. A role a tenant made under that name first is not, and what it granted is the
-- tenant's: never managed, never revoked, and never acted as.
ours_g AS (
  SELECT g.oid FROM pg_catalog.pg_roles g, pg_catalog.pg_roles c
   WHERE g.rolname OPERATOR(pg_catalog.=) $6 AND c.rolname OPERATOR(pg_catalog.=) CURRENT_USER
     AND (c.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a
                                 WHERE a.roleid OPERATOR(pg_catalog.=) g.oid AND a.member OPERATOR(pg_catalog.=) c.oid
                                   AND a.admin_option
                                   AND a.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid])))
),
conn_down AS (
  SELECT c.oid AS oid FROM pg_catalog.pg_roles c WHERE c.rolname OPERATOR(pg_catalog.=) CURRENT_USER
  UNION
  SELECT m.member FROM pg_catalog.pg_auth_members m, conn_down d WHERE m.roleid OPERATOR(pg_catalog.=) d.oid
),
-- The objects of this database whose ACL names the role: pg_shdepend records each (its owner
-- aside, whose privileges this plan never touches), so drift outside the scope is found
-- without reading every object's ACL.
mine AS (
  SELECT s.classid, s.objid FROM pg_catalog.pg_shdepend s, r
   WHERE s.dbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                         WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
     AND s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
     AND s.refobjid OPERATOR(pg_catalog.=) r.oid AND s.deptype OPERATOR(pg_catalog.=) 'a'
),
-- The schemas whose every object is in scope.
scope_ns AS (
  SELECT n.oid FROM pg_catalog.pg_namespace n
   WHERE {NOT_SYSTEM} AND ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3))
),
-- The relations to read, each found through an index (pg_class has none on its schema; the
-- schema's dependents in pg_depend are): the whole database only when it is the scope; the
-- relations of the schemas in scope; single tables by name, with their serial sequences; and
-- those whose ACL names the role. What a grant reads grows with its scope, not the catalog.
cand_rel AS (
  SELECT c.oid FROM pg_catalog.pg_class c WHERE $2
  UNION
  SELECT d.objid FROM pg_catalog.pg_depend d
   WHERE NOT $2
     AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
     AND d.refobjid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT oid FROM scope_ns))
     AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
  UNION
  SELECT c.oid FROM pg_catalog.pg_class c
   WHERE c.relname OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT u.rel::pg_catalog.name
           FROM pg_catalog.unnest($5::pg_catalog.text[]) AS u(rel)))
  UNION
  SELECT d2.objid FROM pg_catalog.pg_class t2
    JOIN pg_catalog.pg_depend d2 ON d2.refobjid OPERATOR(pg_catalog.=) t2.oid
   WHERE t2.relname OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT u.rel::pg_catalog.name
           FROM pg_catalog.unnest($5::pg_catalog.text[]) AS u(rel)))
     AND d2.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
     AND d2.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
     AND d2.deptype OPERATOR(pg_catalog.=) 'a'
  UNION
  SELECT m.objid FROM mine m
   WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
),
-- The same for functions and procedures.
cand_proc AS (
  SELECT p.oid FROM pg_catalog.pg_proc p WHERE $2
  UNION
  SELECT d.objid FROM pg_catalog.pg_depend d
   WHERE NOT $2
     AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
     AND d.refobjid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT oid FROM scope_ns))
     AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
  UNION
  SELECT m.objid FROM mine m
   WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
),
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
    FROM pg_catalog.pg_namespace n
   WHERE {NOT_SYSTEM}
     AND ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3) OR n.nspname OPERATOR(pg_catalog.=) ANY($4)
          OR n.oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT m.objid FROM mine m
                WHERE m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass)))
  UNION ALL
  SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S' THEN 'sequence' ELSE 'table' END, n.nspname::pg_catalog.text,
         c.relname::pg_catalog.text, NULL, c.relowner,
         COALESCE(c.relacl, pg_catalog.acldefault(CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'S'
                                                       THEN 's'::pg_catalog."char" ELSE 'r'::pg_catalog."char" END, c.relowner)),
         ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3)
            OR EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.text[]),
                                                pg_catalog.unnest($5::pg_catalog.text[])) AS u(sch, rel)
                        WHERE (u.sch OPERATOR(pg_catalog.=) n.nspname AND u.rel OPERATOR(pg_catalog.=) c.relname)
                           OR (u.sch OPERATOR(pg_catalog.=) own.sch AND u.rel OPERATOR(pg_catalog.=) own.rel)))
           -- OFFSET 0 keeps this a per-candidate index lookup, never a scan of pg_depend.
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                            WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                              AND x.objid OPERATOR(pg_catalog.=) c.oid AND x.deptype OPERATOR(pg_catalog.=) 'e'
                           OFFSET 0),
         own.sch, own.rel
    FROM cand_rel k
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.oid
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
    -- A sequence owned by a column (serial): the table scope covers it.
    LEFT JOIN LATERAL (
      SELECT tn.nspname::pg_catalog.text AS sch, t.relname::pg_catalog.text AS rel
        FROM pg_catalog.pg_depend dep
        JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) dep.refobjid
        JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
       WHERE c.relkind OPERATOR(pg_catalog.=) 'S'
         AND dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         AND dep.objid OPERATOR(pg_catalog.=) c.oid
         AND dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         AND dep.deptype OPERATOR(pg_catalog.=) 'a'
       LIMIT 1) own ON true
   WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{{r,v,m,p,f,S}}'::pg_catalog."char"[]) AND {NOT_SYSTEM}
  UNION ALL
  SELECT 'function', n.nspname::pg_catalog.text, p.proname::pg_catalog.text,
         pg_catalog.pg_get_function_identity_arguments(p.oid), p.proowner,
         COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner)),
         ($2 OR n.nspname OPERATOR(pg_catalog.=) ANY($3))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                            WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                              AND x.objid OPERATOR(pg_catalog.=) p.oid AND x.deptype OPERATOR(pg_catalog.=) 'e'
                           OFFSET 0),
         NULL, NULL
    FROM cand_proc k
    JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) k.oid
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
   WHERE p.prokind OPERATOR(pg_catalog.=) ANY ('{{f,p}}'::pg_catalog."char"[]) AND {NOT_SYSTEM}
)
SELECT o.kind, o.schema, o.name, o.args, pg_catalog.pg_get_userbyid(o.owner)::pg_catalog.text AS owner,
       e.role_has, e.public_has,
       -- The connector's own objects answered at once: asking PostgreSQL whether the
       -- connector is a member of a role walks all its memberships (on 16+ one per role it
       -- created) after every change of pg_auth_members (see version::member_expr).
       CASE WHEN o.owner OPERATOR(pg_catalog.=) (SELECT u.oid FROM pg_catalog.pg_roles u
                                                 WHERE u.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
            THEN true ELSE pg_catalog.pg_has_role(current_user, o.owner, 'USAGE') END AS can_act,
       o.owned_by_schema, o.owned_by_table,
       e.connector_grantable,
       o.owner OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT d.oid FROM conn_down d))
         OR COALESCE((SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.oid OPERATOR(pg_catalog.=) o.owner), false)
         AS owner_in_connector
  FROM objs o
  -- Each object's ACL exploded once, for all it is read for: an ACL has an entry per grantee
  -- (a table granted to 1,000 users one by one has 1,000), and exploding it once per column
  -- made each inspection four times its cost, growing with the users (BENCHMARKS.md,
  -- fleet_scale).
  CROSS JOIN LATERAL (
    SELECT COALESCE(pg_catalog.array_agg(a.privilege_type)
                      FILTER (WHERE a.grantee OPERATOR(pg_catalog.=) (SELECT r.oid FROM r)),
                    ARRAY[]::pg_catalog.text[]) AS role_has,
           COALESCE(pg_catalog.array_agg(a.privilege_type)
                      FILTER (WHERE a.grantee OPERATOR(pg_catalog.=) 0),
                    ARRAY[]::pg_catalog.text[]) AS public_has,
           COALESCE(pg_catalog.array_agg(a.privilege_type)
                      FILTER (WHERE a.is_grantable AND a.grantee OPERATOR(pg_catalog.<>) 0
                                AND pg_catalog.pg_has_role(current_user, a.grantee, 'USAGE')),
                    ARRAY[]::pg_catalog.text[]) AS connector_grantable
      FROM pg_catalog.aclexplode(o.acl) a
  ) e
 WHERE o.in_scope OR pg_catalog.cardinality(e.role_has) OPERATOR(pg_catalog.>) 0
UNION ALL
SELECT 'default_acl', n.nspname::pg_catalog.text, d.defaclobjtype::pg_catalog.text, NULL,
       pg_catalog.pg_get_userbyid(d.defaclrole)::pg_catalog.text,
       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(d.defaclacl) a, r
              WHERE a.grantee OPERATOR(pg_catalog.=) r.oid),
       ARRAY[]::pg_catalog.text[], false, NULL, NULL, ARRAY[]::pg_catalog.text[], false
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) d.defaclnamespace, r
 WHERE EXISTS (SELECT 1 FROM pg_catalog.aclexplode(d.defaclacl) a WHERE a.grantee OPERATOR(pg_catalog.=) r.oid)
   -- The role's own entry in its own defaults is an owner's right, as on its objects.
   AND d.defaclrole OPERATOR(pg_catalog.<>) r.oid
UNION ALL
-- One row per grantor (16+); `can_act` says whether the connector or the library's grantor
-- role (ours_g) granted it, the last column whether the grantor role did.
SELECT 'membership', NULL, g.rolname::pg_catalog.text, pg_catalog.shobj_description(g.oid, 'pg_authid'), NULL, ARRAY[]::pg_catalog.text[],
       ARRAY[]::pg_catalog.text[],
       m.grantor OPERATOR(pg_catalog.=) (SELECT c.oid FROM pg_catalog.pg_roles c
                                         WHERE c.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
         OR COALESCE(m.grantor OPERATOR(pg_catalog.=) (SELECT o.oid FROM ours_g o), false),
       NULL, NULL, ARRAY[]::pg_catalog.text[],
       COALESCE(m.grantor OPERATOR(pg_catalog.=) (SELECT o.oid FROM ours_g o), false)
  FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid, r
 WHERE m.member OPERATOR(pg_catalog.=) r.oid"#
    )
}

/// The connector's attributes as the setup guide creates them ([`ConnectorSetup`]): columns
/// `CREATEROLE`, superuser, member of `rds_superuser`, member of `rds_iam`,
/// `server_version_num`.
///
/// [`ConnectorSetup`]: crate::setup::ConnectorSetup
pub(crate) fn connector_setup() -> String {
    format!(
        "SELECT r.rolcreaterole, r.rolsuper, \
            EXISTS (SELECT 1 FROM pg_catalog.pg_roles \
                     WHERE rolname OPERATOR(pg_catalog.=) 'rds_superuser') \
              AND {}, \
            EXISTS (SELECT 1 FROM pg_catalog.pg_roles \
                     WHERE rolname OPERATOR(pg_catalog.=) 'rds_iam') \
              AND {}, \
            pg_catalog.current_setting('server_version_num')::pg_catalog.int4 \
       FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user",
        crate::version::member_expr("'rds_superuser'"),
        crate::version::member_expr("'rds_iam'"),
    )
}

/// Whether the connector holds `rds_iam` with `ADMIN OPTION` (what PostgreSQL 16+ needs to
/// grant it to new users).
/// `false` on a server without `rds_iam` (a lab or vanilla PostgreSQL), where `pg_has_role`
/// would raise "role does not exist".
pub(crate) fn may_grant_rds_iam() -> String {
    format!(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles \
             WHERE rolname OPERATOR(pg_catalog.=) 'rds_iam') \
           THEN {} \
           ELSE false END",
        crate::version::admin_option_expr("'rds_iam'")
    )
}

/// The rewrite rules (other than a view's `_RETURN`) on relations role `$1` owns, still enabled:
/// schema, relation, `relkind`, rule, and (views) the roles other than the owner that hold
/// `INSERT`, `UPDATE` or `DELETE` on it granted by the owner (`''`: `PUBLIC`), on the relation
/// (`pg_class.relacl`) or on any of its columns (`pg_attribute.attacl`: `GRANT INSERT (n) ON …`
/// lets a write through the rule as well). A table-level `REVOKE` removes the column grants too.
pub(crate) const ENABLED_RULES: &str = "
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text, r.rulename::pg_catalog.text,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END
               FROM (SELECT x.grantee, x.grantor, x.privilege_type FROM pg_catalog.aclexplode(c.relacl) x
                     UNION ALL
                     SELECT x.grantee, x.grantor, x.privilege_type
                       FROM pg_catalog.pg_attribute t
                      CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) x
                      WHERE t.attrelid OPERATOR(pg_catalog.=) c.oid AND t.attacl IS NOT NULL) a
              WHERE a.grantee OPERATOR(pg_catalog.<>) c.relowner AND a.grantor OPERATOR(pg_catalog.=) c.relowner
                AND a.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE', 'DELETE']))
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE c.relowner OPERATOR(pg_catalog.=) (SELECT o.oid FROM pg_catalog.pg_roles o
                                           WHERE o.rolname OPERATOR(pg_catalog.=) $1)
   AND r.rulename OPERATOR(pg_catalog.<>) '_RETURN'
   AND r.ev_enabled OPERATOR(pg_catalog.<>) 'D'
 ORDER BY 1, 2, 4";

/// The enabled, non-internal triggers that run code role `$1` owns in the current database, on
/// relations it does not own, and every enabled, non-internal trigger on its own tables
/// (whatever function it calls: a trigger function is not checked for `EXECUTE` when it fires,
/// and its arguments and `WHEN` condition are the table owner's choice), not on its own views
/// (whose `INSTEAD OF` triggers cannot be disabled and fire only for writers it granted write
/// privileges): the trigger function, or anything the trigger depends on
/// (`pg_depend`: its function and what its `WHEN` condition uses), owned by `$1`
/// (`pg_shdepend`), and the clones of such triggers on partitions (`tgparentid`, whose own
/// dependencies name only their parent). Schema, relation, `relkind`, trigger, relation owner,
/// trigger function, whether the connector has the owner's privileges (may alter the relation).
pub(crate) const FOREIGN_TRIGGERS: &str = "
WITH RECURSIVE usr AS (
    SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1
), owned AS (
    SELECT s.classid, s.objid FROM pg_catalog.pg_shdepend s
     WHERE s.dbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                           WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
       AND s.refobjid OPERATOR(pg_catalog.=) (SELECT u.oid FROM usr u)
       AND s.deptype OPERATOR(pg_catalog.=) 'o'
), hit AS (
    SELECT t.oid FROM pg_catalog.pg_trigger t
     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                    WHERE p.oid OPERATOR(pg_catalog.=) t.tgfoid
                      AND p.proowner OPERATOR(pg_catalog.=) (SELECT u.oid FROM usr u))
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                     JOIN owned o ON o.classid OPERATOR(pg_catalog.=) d.refclassid
                                 AND o.objid OPERATOR(pg_catalog.=) d.refobjid
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) t.oid)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_class oc
                    WHERE oc.oid OPERATOR(pg_catalog.=) t.tgrelid
                      AND oc.relowner OPERATOR(pg_catalog.=) (SELECT u.oid FROM usr u))
    UNION
    SELECT t.oid FROM pg_catalog.pg_trigger t JOIN hit h ON t.tgparentid OPERATOR(pg_catalog.=) h.oid
)
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
       t.tgname::pg_catalog.text, pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text,
       t.tgfoid::pg_catalog.regprocedure::pg_catalog.text,
       pg_catalog.pg_has_role(c.relowner, 'USAGE')
  FROM hit h
  JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) h.oid
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE NOT t.tgisinternal
   AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
   AND NOT (c.relowner OPERATOR(pg_catalog.=) (SELECT u.oid FROM usr u)
            AND c.relkind OPERATOR(pg_catalog.=) 'v')
 ORDER BY 1, 2, 4";

/// The routines (functions, procedures, aggregates) role `$1` owns in the current database that
/// a role other than their owner may execute: identity (`pg_identify_object`, schema-qualified
/// with argument types), grantees of `EXECUTE` other than the owner (`''`: `PUBLIC`, which holds
/// it by default when the ACL is `NULL`). PostgreSQL checks `EXECUTE` for the caller when a
/// function runs from a policy, a default, a constraint, a generated column, a domain check, an
/// operator or a cast, so once these are revoked such code runs for nobody but its owner.
pub(crate) const OWNED_ROUTINE_GRANTEES: &str = "
SELECT (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)).identity,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END
               FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
              WHERE a.grantee OPERATOR(pg_catalog.<>) p.proowner
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE') AS grantees
  FROM pg_catalog.pg_proc p
 WHERE p.proowner OPERATOR(pg_catalog.=) (SELECT o.oid FROM pg_catalog.pg_roles o
                                           WHERE o.rolname OPERATOR(pg_catalog.=) $1)
 ORDER BY 1";

/// The relations role `$1` owns on which it granted `MAINTAIN` (17+) to others: schema, relation,
/// grantees (`''`: `PUBLIC`). `ANALYZE`, `REFRESH MATERIALIZED VIEW`, `CLUSTER`, `REINDEX` run
/// index expressions and view queries with the rights of the relation's owner, soon the holder.
pub(crate) const MAINTAIN_GRANTS: &str = "
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
       ARRAY(SELECT DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END
               FROM pg_catalog.aclexplode(c.relacl) a
              WHERE a.grantee OPERATOR(pg_catalog.<>) c.relowner AND a.grantor OPERATOR(pg_catalog.=) c.relowner
                AND a.privilege_type OPERATOR(pg_catalog.=) 'MAINTAIN') AS grantees
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE c.relowner OPERATOR(pg_catalog.=) (SELECT o.oid FROM pg_catalog.pg_roles o
                                           WHERE o.rolname OPERATOR(pg_catalog.=) $1)
   AND c.relacl IS NOT NULL
 ORDER BY 1, 2";

/// The parameter types of [`OWNED_OBJECTS`].
pub(crate) const OWNED_OBJECTS_PARAMS: &[Type] = &[Type::NAME, Type::TEXT];

/// Everything role `$1` owns in the current database (`pg_shdepend` ownership entries), with, per
/// object: kind, identity, `SECURITY DEFINER`, trigger function, whether it is a schema, and the
/// schema where holder `$2` needs `CREATE` to receive it (functions and other objects that
/// `ALTER … OWNER` checks that way, in schemas the role does not own).
pub(crate) const OWNED_OBJECTS: &str = "
SELECT o.type, o.identity,
       COALESCE(p.prosecdef, false),
       COALESCE(p.prorettype OPERATOR(pg_catalog.=) 'pg_catalog.trigger'::pg_catalog.regtype, false),
       s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass,
       CASE WHEN s.classid OPERATOR(pg_catalog.=) ANY (ARRAY[
                   'pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_collation'::pg_catalog.regclass,
                   'pg_catalog.pg_conversion'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass,
                   'pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass,
                   'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, 'pg_catalog.pg_ts_config'::pg_catalog.regclass,
                   'pg_catalog.pg_ts_dict'::pg_catalog.regclass]::pg_catalog.oid[])
                 AND n.nspowner OPERATOR(pg_catalog.<>) s.refobjid
                 AND NOT pg_catalog.has_schema_privilege($2::pg_catalog.text, n.oid, 'CREATE')
            THEN n.nspname::pg_catalog.text END
  FROM pg_catalog.pg_shdepend s
 CROSS JOIN LATERAL pg_catalog.pg_identify_object(s.classid, s.objid, s.objsubid) o
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) o.schema
  LEFT JOIN pg_catalog.pg_proc p ON s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
        AND p.oid OPERATOR(pg_catalog.=) s.objid
 WHERE s.dbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                       WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
   AND s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
   AND s.refobjid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r
                                           WHERE r.rolname OPERATOR(pg_catalog.=) $1)
   AND s.deptype OPERATOR(pg_catalog.=) 'o'
 ORDER BY 1, 2";

/// The OID of role `$1`.
pub(crate) const ROLE_OID: &str =
    "SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1";

/// Whether the connector has the privileges of role `$1`.
pub(crate) const HAS_PRIVILEGES_OF: &str =
    "SELECT pg_catalog.pg_has_role(current_user, $1::pg_catalog.text, 'USAGE')";

/// The parameter types of [`OWNS_SOMETHING`].
pub(crate) const OWNS_SOMETHING_PARAMS: &[Type] = &[Type::OID];

/// Whether the role of OID `$1` owns anything, in any database (`pg_shdepend`).
pub(crate) const OWNS_SOMETHING: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                  WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                    AND s.refobjid OPERATOR(pg_catalog.=) $1 AND s.deptype OPERATOR(pg_catalog.=) 'o')";

/// The databases holding objects or privileges of role `$1`.
pub(crate) const ROLE_DATABASES: &str = "SELECT DISTINCT d.datname::pg_catalog.text FROM pg_catalog.pg_shdepend s
                   JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
                  WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                    AND s.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles
                                                            WHERE rolname OPERATOR(pg_catalog.=) $1)
                  ORDER BY 1";

/// Every function, operator and type qualified with `pg_catalog` (see [`crate::plan::inspect_sql`]).
pub(crate) const INVENTORY: &str = "\
SELECT 0 AS sort, n.nspname::pg_catalog.text AS schema, NULL::pg_catalog.text AS name,
       NULL::pg_catalog.\"char\" AS kind, pg_catalog.pg_get_userbyid(n.nspowner)::pg_catalog.text AS owner,
       false AS is_partition
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}'::pg_catalog.name[])
   AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%'
UNION ALL
SELECT 1, n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind,
       pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text, c.relispartition
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f,S}'::pg_catalog.\"char\"[])
   AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema}'::pg_catalog.name[])
   AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%'
 ORDER BY 1, 2, 3";

/// The server's databases (name, owner), except templates, `rdsadmin` and those refusing
/// connections.
pub(crate) const DATABASES: &str =
    "SELECT datname::pg_catalog.text, pg_catalog.pg_get_userbyid(datdba)::pg_catalog.text
                   FROM pg_catalog.pg_database
                  WHERE NOT datistemplate AND datallowconn
                    AND datname OPERATOR(pg_catalog.<>) 'rdsadmin'
                  ORDER BY 1";

/// `server_version_num`.
pub(crate) const SERVER_VERSION_NUM: &str =
    "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4";

/// The parameter types of [`IS_DIRECT_MEMBER`].
pub(crate) const IS_DIRECT_MEMBER_PARAMS: &[Type] = &[Type::NAME, Type::NAME];

/// Whether role `$1` is a direct member of role `$2` (false when either does not exist).
pub(crate) const IS_DIRECT_MEMBER: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
          JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.member
          JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
         WHERE r.rolname OPERATOR(pg_catalog.=) $1 AND g.rolname OPERATOR(pg_catalog.=) $2)";

/// The parameter types of [`ROLE_MEMBERSHIPS`].
pub(crate) const ROLE_MEMBERSHIPS_PARAMS: &[Type] = &[Type::NAME, Type::NAME];

/// The memberships that tie role `$1` to other roles, but the mark: the roles it is a member
/// of (`true`), and its members other than the marker `$2` and the connector (`false`; only
/// before PostgreSQL 16 could a role grant itself, and a member acts as it). Columns: whether
/// `$1` is the member, the other role, the grantor (`''` when unknown).
pub(crate) const ROLE_MEMBERSHIPS: &str = "
SELECT true, g.rolname::pg_catalog.text, COALESCE(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text, '')
  FROM pg_catalog.pg_auth_members m
  JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
 WHERE m.member OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1)
UNION ALL
SELECT false, u.rolname::pg_catalog.text, COALESCE(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text, '')
  FROM pg_catalog.pg_auth_members m
  JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
 WHERE m.roleid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1)
   AND u.rolname OPERATOR(pg_catalog.<>) $2
   AND u.rolname OPERATOR(pg_catalog.<>) CURRENT_USER
 ORDER BY 1 DESC, 2, 3";

/// [`ROLE_DATABASES`] and the databases on which role `$1` holds a privilege (`pg_database`'s
/// ACL, a shared object): each is visited to revoke it.
pub(crate) const ROLE_DATABASES_AND_GRANTS: &str = "SELECT d.datname::pg_catalog.text FROM pg_catalog.pg_database d
                  WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                                 WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                                   AND s.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles
                                                                           WHERE rolname OPERATOR(pg_catalog.=) $1)
                                   AND (s.dbid OPERATOR(pg_catalog.=) d.oid
                                        OR (s.dbid OPERATOR(pg_catalog.=) 0
                                            AND s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_database'::pg_catalog.regclass
                                            AND s.objid OPERATOR(pg_catalog.=) d.oid)))
                  ORDER BY 1";

/// The ACL entries naming role `$1` (as grantee or grantor: `pg_shdepend` `'a'`) on objects it
/// does not own, in the current database and on shared objects (databases: only the current
/// one, the others are checked from their own database; tablespaces, parameters, ...).
/// Columns: kind and identity (`pg_identify_object`), whether the object is shared.
pub(crate) const ACL_LEFTOVERS: &str = "
SELECT o.type, o.identity, s.dbid OPERATOR(pg_catalog.=) 0
  FROM pg_catalog.pg_shdepend s
 CROSS JOIN LATERAL pg_catalog.pg_identify_object(s.classid, s.objid, s.objsubid) o
 WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
   AND s.refobjid OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1)
   AND s.deptype OPERATOR(pg_catalog.=) 'a'
   AND (s.dbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
        OR (s.dbid OPERATOR(pg_catalog.=) 0
            AND NOT (s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_database'::pg_catalog.regclass
                     AND s.objid OPERATOR(pg_catalog.<>) (SELECT d.oid FROM pg_catalog.pg_database d
                                                           WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend w
                    WHERE w.dbid OPERATOR(pg_catalog.=) s.dbid
                      AND w.classid OPERATOR(pg_catalog.=) s.classid
                      AND w.objid OPERATOR(pg_catalog.=) s.objid
                      AND w.refclassid OPERATOR(pg_catalog.=) s.refclassid
                      AND w.refobjid OPERATOR(pg_catalog.=) s.refobjid
                      AND w.deptype OPERATOR(pg_catalog.=) 'o')
 ORDER BY 3, 1, 2";

/// The column privileges role `$1` holds on relations it does not own in the current database
/// (no plan covers columns) that the connector may revoke: it has the privileges of the
/// relation's owner or of a grantor. Schema, relation, column.
pub(crate) const COLUMN_GRANTS: &str = "
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, a.attname::pg_catalog.text
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace,
       (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1) u
 WHERE a.attacl IS NOT NULL AND NOT a.attisdropped
   AND c.relowner OPERATOR(pg_catalog.<>) u.oid
   AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(a.attacl) x
                WHERE x.grantee OPERATOR(pg_catalog.=) u.oid
                  AND (pg_catalog.pg_has_role(c.relowner, 'USAGE') OR pg_catalog.pg_has_role(x.grantor, 'USAGE')))
 ORDER BY 1, 2, 3";

/// One access role's fitness (see [`access`](crate::access)), PostgreSQL 16+ only (it reads
/// `pg_auth_members.set_option`), by name `$1`; no row when it does not exist. Columns: its
/// comment, its attributes granting anything, whether it is the connector, the roles it is a
/// member of, the memberships in it that are neither the connector's own nor granted by the
/// connector without `ADMIN` and `SET` (as text), whether it owns anything on any database
/// (default privileges *for* it aside: a member may set those, with `INHERIT`, and they never
/// apply, since nothing ever runs as the role), whether it holds privileges in a database other than this one, its number of members
/// other than the connector, and whether the connector administers it as its creator (the
/// `ADMIN OPTION` membership PostgreSQL 16+ gives a non-superuser creator; a superuser
/// connector needs none).
pub(crate) const ACCESS_ROLE_CHECK: &str = "SELECT pg_catalog.shobj_description(r.oid, 'pg_authid'),
       pg_catalog.array_remove(ARRAY[
         CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
         CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
         CASE WHEN r.rolinherit THEN 'INHERIT' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END]::pg_catalog.text[], NULL),
       r.oid OPERATOR(pg_catalog.=) c.oid,
       ARRAY(SELECT g.rolname::pg_catalog.text FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
              WHERE m.member OPERATOR(pg_catalog.=) r.oid ORDER BY 1),
       ARRAY(SELECT pg_catalog.format('%s (granted by %s%s%s)',
                      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.member)::pg_catalog.text),
                      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text),
                      CASE WHEN m.admin_option THEN ', with ADMIN OPTION' ELSE '' END,
                      CASE WHEN m.set_option THEN ', with SET' ELSE '' END)
               FROM pg_catalog.pg_auth_members m
              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid
                AND NOT (m.member OPERATOR(pg_catalog.=) c.oid
                         AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid]))
                AND NOT (m.grantor OPERATOR(pg_catalog.=) c.oid AND NOT m.admin_option AND NOT m.set_option)
                -- The grantor role's grants of memberships, and its own ADMIN OPTION.
                AND NOT (COALESCE(m.grantor OPERATOR(pg_catalog.=) gr.oid, false) AND NOT m.admin_option AND NOT m.set_option)
                AND NOT (COALESCE(m.member OPERATOR(pg_catalog.=) gr.oid, false) AND m.grantor OPERATOR(pg_catalog.=) c.oid
                         AND m.admin_option AND NOT m.inherit_option AND NOT m.set_option)
              ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                  AND s.refobjid OPERATOR(pg_catalog.=) r.oid AND s.deptype OPERATOR(pg_catalog.=) 'o'
                  AND s.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_default_acl'::pg_catalog.regclass
                -- OFFSET 0: this role's entries through the index, never a hashed pass over
                -- every role's (see SERVICE_ROLE_CHECK).
                OFFSET 0),
       EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                  AND s.refobjid OPERATOR(pg_catalog.=) r.oid AND s.deptype OPERATOR(pg_catalog.=) 'a'
                  AND s.dbid OPERATOR(pg_catalog.<>) 0
                  AND s.dbid OPERATOR(pg_catalog.<>) (SELECT d.oid FROM pg_catalog.pg_database d
                                                       WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                OFFSET 0),
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m
         WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.<>) c.oid
           AND NOT COALESCE(m.member OPERATOR(pg_catalog.=) gr.oid, false)),
       c.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) c.oid
                                AND m.admin_option
                                AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid])),
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND COALESCE(m.member OPERATOR(pg_catalog.=) gr.oid, false)
                  AND m.grantor OPERATOR(pg_catalog.=) c.oid
                  AND m.admin_option AND NOT m.inherit_option AND NOT m.set_option)
  FROM pg_catalog.pg_roles r, pg_catalog.pg_roles c,
       (SELECT (SELECT g.oid FROM pg_catalog.pg_roles g WHERE g.rolname OPERATOR(pg_catalog.=) $2) AS oid) gr
 WHERE r.rolname OPERATOR(pg_catalog.=) $1 AND c.rolname OPERATOR(pg_catalog.=) CURRENT_USER";

/// Reads what [`Session::grantor_problems`](crate::Session) judges, for the grantor role `$1`
/// (access roles' comments start with `$2`): its comment; the attributes that grant something;
/// whether it is the connector; whether the connector administers it as its creator; whether
/// the connector may `SET ROLE` to it; whether the connector inherits its privileges; its
/// members other than the connector; the memberships
/// the connector granted it other than `ADMIN OPTION` (without `INHERIT` and `SET`) in an
/// access role; whether it owns anything.
///
/// What others give it is not read: a role a `CREATEROLE` tenant granted it, a privilege or a
/// policy or default privileges naming it (any login may name it in its own). Nobody can use
/// them: nothing inherits from it (no member but the connector, which must not inherit: read
/// here), and the connector acts as it only for one `GRANT`/`REVOKE` of a membership in
/// an access role it administers directly (the grantor PostgreSQL records is then the grantor
/// role itself, whatever else it is a member of). Refusing them would let any login stop every
/// grant on the server. What shows someone acted as it stays a problem: a member, an owned
/// object (`pg_shdepend` `'o'`; only a role that may `SET ROLE` to it can give it one).
pub(crate) const GRANTOR_CHECK: &str = "SELECT pg_catalog.shobj_description(r.oid, 'pg_authid'),
       pg_catalog.array_remove(ARRAY[
         CASE WHEN r.rolcanlogin THEN 'LOGIN' END, CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
         CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
         CASE WHEN r.rolinherit THEN 'INHERIT' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
         CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END]::pg_catalog.text[], NULL),
       r.oid OPERATOR(pg_catalog.=) c.oid,
       c.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) c.oid
                                AND m.admin_option
                                AND m.grantor OPERATOR(pg_catalog.=) ANY (ARRAY[c.oid, 10::pg_catalog.oid])),
       c.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) c.oid
                                AND m.set_option),
       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.=) c.oid
                  AND m.inherit_option),
       ARRAY(SELECT pg_catalog.format('%s (granted by %s)',
                      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.member)::pg_catalog.text),
                      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text))
               FROM pg_catalog.pg_auth_members m
              WHERE m.roleid OPERATOR(pg_catalog.=) r.oid AND m.member OPERATOR(pg_catalog.<>) c.oid
              ORDER BY 1),
       ARRAY(SELECT pg_catalog.format('%s (granted by %s%s%s%s)',
                      pg_catalog.quote_ident(g.rolname::pg_catalog.text),
                      pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.grantor)::pg_catalog.text),
                      CASE WHEN m.admin_option THEN ', with ADMIN OPTION' ELSE '' END,
                      CASE WHEN m.inherit_option THEN ', with INHERIT' ELSE '' END,
                      CASE WHEN m.set_option THEN ', with SET' ELSE '' END)
               FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
               LEFT JOIN pg_catalog.pg_shdescription d ON d.objoid OPERATOR(pg_catalog.=) g.oid
                     AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
              WHERE m.member OPERATOR(pg_catalog.=) r.oid AND m.grantor OPERATOR(pg_catalog.=) c.oid
                AND NOT (pg_catalog.starts_with(COALESCE(d.description, ''), $2)
                         AND m.admin_option AND NOT m.inherit_option AND NOT m.set_option
                         AND m.grantor OPERATOR(pg_catalog.=) c.oid)
              ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
                WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
                  AND s.refobjid OPERATOR(pg_catalog.=) r.oid
                  AND s.deptype OPERATOR(pg_catalog.=) 'o'
                OFFSET 0)
  FROM pg_catalog.pg_roles r, pg_catalog.pg_roles c
 WHERE r.rolname OPERATOR(pg_catalog.=) $1 AND c.rolname OPERATOR(pg_catalog.=) CURRENT_USER";

/// The parameter types of [`ACCESS_ROLES`].
pub(crate) const ACCESS_ROLES_PARAMS: &[Type] = &[Type::TEXT, Type::NAME];

/// Every access role of the server, by its comment's prefix (`$1`): name, comment, and its
/// number of members other than the connector and the grantor role (`$2`).
pub(crate) const ACCESS_ROLES: &str = "SELECT r.rolname::pg_catalog.text, d.description,
       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_auth_members m
         WHERE m.roleid OPERATOR(pg_catalog.=) r.oid
           AND m.member OPERATOR(pg_catalog.<>) (SELECT c.oid FROM pg_catalog.pg_roles c
                                                  WHERE c.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
           AND NOT COALESCE(m.member OPERATOR(pg_catalog.=) (SELECT g.oid FROM pg_catalog.pg_roles g
                                                             WHERE g.rolname OPERATOR(pg_catalog.=) $2), false))
  FROM pg_catalog.pg_shdescription d
  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.objoid
 WHERE d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
   AND pg_catalog.starts_with(d.description, $1)
 ORDER BY 1";

#[cfg(test)]
mod tests {
    use tokio_postgres::types::Type;

    /// The inspection explodes each object's ACL once, for the three arrays and the filter it
    /// reads from it: an ACL has one entry per grantee, and exploding it per column made the
    /// inspection four times its cost, growing with the users granted directly (BENCHMARKS.md,
    /// fleet_scale: 1,000 grants 130 s → 77 s, the last tenth 273 → 138 ms per grant).
    #[test]
    fn the_inspection_explodes_each_acl_once() {
        let sql = super::inspect_sql();
        assert_eq!(sql.matches("aclexplode(o.acl)").count(), 1, "{sql}");
    }

    /// Every read sent with `query_typed`, with the parameter types it declares: the server,
    /// preparing the same SQL, must infer exactly those (on the oldest and a 16+ server), so
    /// that sending them typed (one round trip) means what preparing it meant. (The holder
    /// checks of `revoke::holder` cast `$1` to `text` in their SQL.)
    fn reads(rules: crate::version::ServerRules) -> Vec<(&'static str, String, Vec<Type>)> {
        let text = |t: &[Type]| t.to_vec();
        vec![
            ("SESSION_START", super::SESSION_START.into(), vec![]),
            (
                "SERVER_VERSION_NUM",
                super::SERVER_VERSION_NUM.into(),
                vec![],
            ),
            ("DATABASES", super::DATABASES.into(), vec![]),
            ("connector_setup", super::connector_setup(), vec![]),
            ("may_grant_rds_iam", super::may_grant_rds_iam(), vec![]),
            (
                "MANAGED_ROLES",
                super::MANAGED_ROLES.into(),
                text(super::MANAGED_ROLES_PARAMS),
            ),
            (
                "role_check",
                super::role_check(&rules.can_grant_role_expr("$1::pg_catalog.text")),
                text(super::NAME_PARAM),
            ),
            (
                "advisory",
                super::advisory("pg_try_advisory_lock"),
                text(super::TEXT_PARAM),
            ),
            (
                "advisory_lock_holders",
                super::advisory_lock_holders(),
                text(super::TEXT_PARAM),
            ),
            (
                "SERVICE_ROLE_CHECK",
                super::SERVICE_ROLE_CHECK.into(),
                text(super::SERVICE_ROLE_CHECK_PARAMS),
            ),
            (
                "ENABLED_RULES",
                super::ENABLED_RULES.into(),
                text(super::NAME_PARAM),
            ),
            (
                "FOREIGN_TRIGGERS",
                super::FOREIGN_TRIGGERS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "OWNED_ROUTINE_GRANTEES",
                super::OWNED_ROUTINE_GRANTEES.into(),
                text(super::NAME_PARAM),
            ),
            (
                "MAINTAIN_GRANTS",
                super::MAINTAIN_GRANTS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "OWNED_OBJECTS",
                super::OWNED_OBJECTS.into(),
                text(super::OWNED_OBJECTS_PARAMS),
            ),
            ("ROLE_OID", super::ROLE_OID.into(), text(super::NAME_PARAM)),
            (
                "OTHER_MEMBERS",
                super::OTHER_MEMBERS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "HAS_PRIVILEGES_OF",
                super::HAS_PRIVILEGES_OF.into(),
                text(super::TEXT_PARAM),
            ),
            (
                "OWNS_SOMETHING",
                super::OWNS_SOMETHING.into(),
                text(super::OWNS_SOMETHING_PARAMS),
            ),
            (
                "ROLE_DATABASES",
                super::ROLE_DATABASES.into(),
                text(super::NAME_PARAM),
            ),
            (
                "ROLE_DATABASES_AND_GRANTS",
                super::ROLE_DATABASES_AND_GRANTS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "IS_DIRECT_MEMBER",
                super::IS_DIRECT_MEMBER.into(),
                text(super::IS_DIRECT_MEMBER_PARAMS),
            ),
            (
                "ROLE_MEMBERSHIPS",
                super::ROLE_MEMBERSHIPS.into(),
                text(super::ROLE_MEMBERSHIPS_PARAMS),
            ),
            (
                "ACL_LEFTOVERS",
                super::ACL_LEFTOVERS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "COLUMN_GRANTS",
                super::COLUMN_GRANTS.into(),
                text(super::NAME_PARAM),
            ),
            (
                "ACCESS_ROLES",
                super::ACCESS_ROLES.into(),
                text(super::ACCESS_ROLES_PARAMS),
            ),
            (
                "TERMINATE_SESSIONS_SQL",
                crate::role::TERMINATE_SESSIONS_SQL.into(),
                text(super::NAME_PARAM),
            ),
            (
                "BIND_VERIFIER_SQL",
                crate::role::BIND_VERIFIER_SQL.into(),
                vec![Type::TEXT, Type::TEXT],
            ),
        ]
    }

    #[test]
    fn declared_parameter_types_are_the_servers() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for version in [15, 17] {
            let cluster = pg_testkit::TestCluster::builder()
                .version(version)
                .rds_emulation(true)
                .start()
                .unwrap_or_else(|e| panic!("starting PostgreSQL {version}: {e}"));
            rt.block_on(async {
                let (client, connection) = tokio_postgres::connect(
                    &cluster.conn_string(cluster.connector(), pg_testkit::rds::APP_DB),
                    tokio_postgres::NoTls,
                )
                .await
                .expect("connecting as the connector");
                let driver = tokio::spawn(connection);
                let rules = crate::version::ServerRules::detect(&client)
                    .await
                    .expect("server version");
                for (name, sql, declared) in reads(rules) {
                    let prepared = client
                        .prepare(&sql)
                        .await
                        .unwrap_or_else(|e| panic!("{version}: preparing {name}: {e}"));
                    assert_eq!(prepared.params(), declared.as_slice(), "{version}: {name}");
                }
                drop(client);
                let _ = driver.await;
            });
        }
    }
}
