//! Server versions and the rules that depend on them, decided in one place.
//!
//! | rule | versions | source |
//! |---|---|---|
//! | granting membership in a role needs `ADMIN OPTION` on it (`CREATEROLE` no longer suffices) | 16+ | [PG 16 release notes, E.x.3.1](https://www.postgresql.org/docs/16/release-16.html) |
//! | the creator of a role gets an implicit `ADMIN OPTION` membership (INHERIT/SET per `createrole_self_grant`, default off) | 16+ | [CREATE ROLE](https://www.postgresql.org/docs/16/sql-createrole.html) |
//! | each membership carries its own `INHERIT` and `SET` options | 16+ | [GRANT](https://www.postgresql.org/docs/16/sql-grant.html) |
//! | the `MAINTAIN` privilege on tables exists | 17+ | [PG 17 release notes](https://www.postgresql.org/docs/17/release-17.html) |
//! | `PUBLIC` no longer has `CREATE` on schema `public` (owned by `pg_database_owner`) | 15+ | [PG 15 release notes](https://www.postgresql.org/docs/15/release-15.html) |
//!
//! Read the version once per connection with [`ServerRules::detect`]; everything else asks the
//! returned [`ServerRules`].

use std::fmt;

use crate::error::GrantsError;
use crate::quote::Ident;
use crate::sql;

/// A server's `server_version_num` (for example `170002` for 17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion(u32);

impl ServerVersion {
    /// Oldest server this crate supports: PostgreSQL 13, the oldest RDS still runs.
    pub const MIN_SUPPORTED: ServerVersion = ServerVersion(130_000);

    /// Wraps a `server_version_num`.
    ///
    /// # Errors
    /// [`GrantsError::UnsupportedServer`] below PostgreSQL 13.
    pub fn from_num(num: u32) -> Result<Self, GrantsError> {
        if num < Self::MIN_SUPPORTED.0 {
            return Err(GrantsError::UnsupportedServer { version_num: num });
        }
        Ok(Self(num))
    }

    /// The major version (`17` for `170002`).
    pub fn major(self) -> u32 {
        self.0 / 10_000
    }

    /// The raw `server_version_num`.
    pub fn num(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.0 % 10_000)
    }
}

/// Whether the current user has `CREATEROLE` or is a superuser (qualified: see
/// [`crate::plan::inspect_sql`]).
const CONNECTOR_ATTRIBUTES: &str = "(SELECT rolcreaterole OR rolsuper FROM pg_catalog.pg_roles \
     WHERE rolname OPERATOR(pg_catalog.=) current_user)";

/// Everything this crate does differently by server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRules {
    version: ServerVersion,
}

impl ServerRules {
    /// The rules of `version`.
    pub fn new(version: ServerVersion) -> Self {
        Self { version }
    }

    /// Reads `server_version_num` from `client` (one round trip).
    ///
    /// # Errors
    /// [`GrantsError::Database`] when the query fails, [`GrantsError::UnsupportedServer`] below 13.
    pub async fn detect(client: &tokio_postgres::Client) -> Result<Self, GrantsError> {
        let row = client
            .query_typed_one(sql::SERVER_VERSION_NUM, &[])
            .await
            .map_err(|e| GrantsError::db("reading server_version_num", e))?;
        let num: i32 = crate::error::col(&row, 0, "reading server_version_num")?;
        let num =
            u32::try_from(num).map_err(|_| GrantsError::UnsupportedServer { version_num: 0 })?;
        Ok(Self::new(ServerVersion::from_num(num)?))
    }

    /// The server version.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// 16+: granting membership in a role needs `ADMIN OPTION` on it; before, `CREATEROLE` did.
    pub fn role_grant_needs_admin_option(&self) -> bool {
        self.version.major() >= 16
    }

    /// 16+: a role's creator implicitly gets `ADMIN OPTION` on it (without INHERIT or SET by
    /// default), so it can later grant, alter and drop it.
    pub fn creator_gets_admin_option(&self) -> bool {
        self.version.major() >= 16
    }

    /// 16+: memberships carry their own `INHERIT` and `SET` options.
    pub fn membership_options(&self) -> bool {
        self.version.major() >= 16
    }

    /// 17+: the `MAINTAIN` table privilege exists.
    pub fn has_maintain(&self) -> bool {
        self.version.major() >= 17
    }

    /// Before 15: `PUBLIC` may `CREATE` in schema `public` by default.
    pub fn public_schema_create_by_default(&self) -> bool {
        self.version.major() < 15
    }

    /// `GRANT role TO member` with the options needed for `member` to use `role`'s privileges
    /// (grant on its objects, reassign its objects). 16+ says `INHERIT TRUE` explicitly (the
    /// member's `rolinherit` would decide otherwise) and `SET FALSE` (not needed, least privilege).
    pub fn grant_privileges_of_sql(&self, role: &Ident, member: &Ident) -> String {
        if self.membership_options() {
            format!(
                "GRANT {} TO {} WITH INHERIT TRUE, SET FALSE;",
                role.quoted(),
                member.quoted()
            )
        } else {
            format!("GRANT {} TO {};", role.quoted(), member.quoted())
        }
    }

    /// The SQL an administrator runs so that `connector` may grant membership in `role`
    /// (for example `rds_iam`), or alter and drop it: on 16+ that takes `ADMIN OPTION`, before
    /// it `CREATEROLE` did.
    pub fn allow_granting_role_sql(&self, role: &Ident, connector: &Ident) -> String {
        if self.role_grant_needs_admin_option() {
            format!(
                "GRANT {} TO {} WITH ADMIN OPTION;",
                role.quoted(),
                connector.quoted()
            )
        } else {
            format!("ALTER ROLE {} CREATEROLE;", connector.quoted())
        }
    }

    /// What the connector needs to alter, revoke or drop a role it manages, as a phrase for
    /// error messages.
    pub fn administer_role_requirement(&self) -> &'static str {
        if self.role_grant_needs_admin_option() {
            "PostgreSQL 16 and later require ADMIN OPTION on the role to alter or drop it (the \
             connector gets it implicitly when it creates the role, so it was revoked, or the role \
             was created by another user)"
        } else {
            "before PostgreSQL 16 altering or dropping a role requires CREATEROLE, which the \
             connector lacks"
        }
    }

    /// SQL expression (of `role_name`) that is true when the current user may alter and drop
    /// that role: 16+ `ADMIN OPTION` on it (as for granting it), before 16 `CREATEROLE` only.
    pub(crate) fn can_administer_role_expr(&self, role_name: &str) -> String {
        if self.role_grant_needs_admin_option() {
            self.can_grant_role_expr(role_name)
        } else {
            CONNECTOR_ATTRIBUTES.to_owned()
        }
    }

    /// SQL expression (of `role_name`, a `name`) that is true when the current user may grant
    /// membership in that role.
    pub(crate) fn can_grant_role_expr(&self, role_name: &str) -> String {
        let admin = admin_option_expr(role_name);
        if self.role_grant_needs_admin_option() {
            admin
        } else {
            format!("{CONNECTOR_ATTRIBUTES} OR {admin}")
        }
    }
}

/// SQL expression (of `role_name`, a text expression) that is true when the current user holds
/// `ADMIN OPTION` on that role: `pg_has_role(…, 'MEMBER WITH ADMIN OPTION')`, asked only when
/// the catalog does not show it at once.
///
/// On PostgreSQL 16+ the connector is a member (with `ADMIN OPTION`, granted at creation) of
/// every role it created, and PostgreSQL answers an `ADMIN OPTION` question by walking *all* the
/// asker's memberships, every time (no cache): 50 ms per call with 10,000 managed users
/// (`BENCHMARKS.md`, `grantees`). The usual answers are in one or two index lookups: the
/// current user's own `ADMIN OPTION` row (a role it created), or one held by a role it is a
/// direct member of (`rds_iam`'s, through `rds_superuser`). Either implies what the function
/// says; anything else still asks the function, so the answer never changes.
pub(crate) fn admin_option_expr(role_name: &str) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a \
                 WHERE a.roleid OPERATOR(pg_catalog.=) (SELECT g.oid FROM pg_catalog.pg_roles g \
                        WHERE g.rolname OPERATOR(pg_catalog.=) ({role_name})::pg_catalog.name) \
                   AND a.admin_option \
                   AND (a.member OPERATOR(pg_catalog.=) (SELECT u.oid FROM pg_catalog.pg_roles u \
                         WHERE u.rolname OPERATOR(pg_catalog.=) CURRENT_USER) \
                        OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members d \
                                    WHERE d.roleid OPERATOR(pg_catalog.=) a.member \
                                      AND d.member OPERATOR(pg_catalog.=) (SELECT u.oid FROM pg_catalog.pg_roles u \
                                            WHERE u.rolname OPERATOR(pg_catalog.=) CURRENT_USER)))) \
         THEN true \
         ELSE pg_catalog.pg_has_role(current_user, ({role_name})::pg_catalog.text, 'MEMBER WITH ADMIN OPTION') END"
    )
}

/// SQL expression that is true when the current user is a member of role `role_name` (a text
/// expression; the role must exist), by any path: `pg_has_role(…, 'MEMBER')`, asked only when
/// the current user is not a direct member. A direct member is one; asking PostgreSQL walks
/// every membership of the connector (on 16+ one per role it created) after each change of
/// `pg_auth_members`, 85 ms with 10,000 managed users (see [`admin_option_expr`]).
pub(crate) fn member_expr(role_name: &str) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members a \
                 WHERE a.roleid OPERATOR(pg_catalog.=) (SELECT g.oid FROM pg_catalog.pg_roles g \
                        WHERE g.rolname OPERATOR(pg_catalog.=) ({role_name})::pg_catalog.name) \
                   AND a.member OPERATOR(pg_catalog.=) (SELECT u.oid FROM pg_catalog.pg_roles u \
                         WHERE u.rolname OPERATOR(pg_catalog.=) CURRENT_USER)) \
         THEN true \
         ELSE pg_catalog.pg_has_role(current_user, ({role_name})::pg_catalog.text, 'MEMBER') END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(num: u32) -> ServerRules {
        ServerRules::new(ServerVersion::from_num(num).unwrap())
    }

    #[test]
    fn version_table() {
        // (server_version_num, admin needed, maintain, public CREATE) per the release notes
        // linked in the module docs.
        let rows = [
            (130_012, false, false, true),
            (140_009, false, false, true),
            (150_004, false, false, false),
            (160_001, true, false, false),
            (170_002, true, true, false),
            (180_000, true, true, false),
        ];
        for (num, admin, maintain, public_create) in rows {
            let r = rules(num);
            assert_eq!(r.role_grant_needs_admin_option(), admin, "{num}");
            assert_eq!(r.creator_gets_admin_option(), admin, "{num}");
            assert_eq!(r.membership_options(), admin, "{num}");
            assert_eq!(r.has_maintain(), maintain, "{num}");
            assert_eq!(r.public_schema_create_by_default(), public_create, "{num}");
        }
        assert!(ServerVersion::from_num(120_000).is_err());
        assert_eq!(rules(170_002).version().to_string(), "17.2");
    }

    #[test]
    fn fix_sql_keeps_its_shape_whatever_the_names() {
        use crate::quote::{NASTY_NAMES, split_quoted};
        for role in NASTY_NAMES {
            for connector in NASTY_NAMES {
                let (r, c) = (Ident::new(*role).unwrap(), Ident::new(*connector).unwrap());
                let want = vec![(*role).to_owned(), (*connector).to_owned()];
                for (sql, shape, idents) in [
                    (
                        rules(170_000).allow_granting_role_sql(&r, &c),
                        r#"GRANT "" TO "" WITH ADMIN OPTION;"#,
                        want.clone(),
                    ),
                    (
                        rules(150_000).allow_granting_role_sql(&r, &c),
                        r#"ALTER ROLE "" CREATEROLE;"#,
                        vec![(*connector).to_owned()],
                    ),
                    (
                        rules(170_000).grant_privileges_of_sql(&r, &c),
                        r#"GRANT "" TO "" WITH INHERIT TRUE, SET FALSE;"#,
                        want.clone(),
                    ),
                    (
                        rules(150_000).grant_privileges_of_sql(&r, &c),
                        r#"GRANT "" TO "";"#,
                        want.clone(),
                    ),
                ] {
                    let (got_shape, got_idents, literals) = split_quoted(&sql);
                    assert_eq!(got_shape, shape, "{sql}");
                    assert_eq!(got_idents, idents, "{sql}");
                    assert!(literals.is_empty(), "{sql}");
                }
            }
        }
    }

    #[test]
    fn fix_sql_per_version() {
        let owner = Ident::new("app_owner").unwrap();
        let conn = Ident::new("apono_connector").unwrap();
        assert_eq!(
            rules(150_000).grant_privileges_of_sql(&owner, &conn),
            r#"GRANT "app_owner" TO "apono_connector";"#
        );
        assert_eq!(
            rules(170_000).grant_privileges_of_sql(&owner, &conn),
            r#"GRANT "app_owner" TO "apono_connector" WITH INHERIT TRUE, SET FALSE;"#
        );
        let iam = Ident::new("rds_iam").unwrap();
        assert_eq!(
            rules(170_000).allow_granting_role_sql(&iam, &conn),
            r#"GRANT "rds_iam" TO "apono_connector" WITH ADMIN OPTION;"#
        );
        assert_eq!(
            rules(150_000).allow_granting_role_sql(&iam, &conn),
            r#"ALTER ROLE "apono_connector" CREATEROLE;"#
        );
    }
}
