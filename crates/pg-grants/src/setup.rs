//! The connector's setup, as the setup guide creates it: its attributes and memberships read in
//! one query ([`ConnectorSetup::read`]), and the SQL that fixes each missing piece on the
//! server's version ([`ConnectorSetup::fixes`]). Read only; nothing here changes anything.
//!
//! ```
//! use pg_grants::quote::Ident;
//! use pg_grants::setup::{self, ConnectorSetup};
//! use pg_grants::{ServerRules, ServerVersion};
//!
//! let connector = Ident::new("apono_connector")?;
//! assert_eq!(setup::createrole_sql(&connector),
//!     r#"as the master user: ALTER ROLE "apono_connector" WITH CREATEROLE;"#);
//! assert_eq!(setup::grant_role_sql(setup::RDS_IAM, &connector, true)?,
//!     r#"as the master user: GRANT "rds_iam" TO "apono_connector" WITH ADMIN OPTION;"#);
//! # Ok::<(), pg_grants::quote::QuoteError>(())
//! ```

use tokio_postgres::Client;

use crate::error::{GrantsError, col};
use crate::quote::{Ident, QuoteError};
use crate::sql;
use crate::version::{ServerRules, ServerVersion};

/// RDS's administrative group role.
pub const RDS_SUPERUSER: &str = "rds_superuser";
/// RDS's IAM-authentication role.
pub const RDS_IAM: &str = crate::role::RDS_IAM_ROLE;

/// What the connector has of what the setup guide gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectorSetup {
    /// The server's version.
    #[serde(serialize_with = "version_text")]
    pub version: ServerVersion,
    /// The connector has `CREATEROLE`.
    pub createrole: bool,
    /// The connector is a superuser (never on RDS; a lab server).
    pub superuser: bool,
    /// The connector is a member of `rds_superuser`.
    pub rds_superuser: bool,
    /// The connector is a member of `rds_iam`.
    pub rds_iam: bool,
    /// On PostgreSQL 16+: whether the connector holds `rds_iam` with `ADMIN OPTION`, which it
    /// needs to grant it to new IAM users; `None` before 16 (`CREATEROLE` is enough there).
    pub may_grant_rds_iam: Option<bool>,
}

fn version_text<S: serde::Serializer>(v: &ServerVersion, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl ConnectorSetup {
    /// Reads the connector's (`current_user`'s) setup: one query, and on PostgreSQL 16+ a
    /// second for `ADMIN OPTION` on `rds_iam`.
    ///
    /// # Errors
    /// [`GrantsError::Database`]; [`GrantsError::UnsupportedServer`].
    pub async fn read(client: &Client) -> Result<Self, GrantsError> {
        let action = "reading the connector's attributes";
        let row = client
            .query_typed_one(&sql::connector_setup(), &[])
            .await
            .map_err(|e| GrantsError::db(action, e))?;
        let num: i32 = col(&row, 4, action)?;
        let version = ServerVersion::from_num(u32::try_from(num).unwrap_or(0))?;
        let may_grant_rds_iam = if ServerRules::new(version).role_grant_needs_admin_option() {
            let action = "checking ADMIN OPTION on rds_iam";
            let admin = client
                .query_typed_one(&sql::may_grant_rds_iam(), &[])
                .await
                .map_err(|e| GrantsError::db(action, e))?;
            Some(col(&admin, 0, action)?)
        } else {
            None
        };
        Ok(Self {
            version,
            createrole: col(&row, 0, action)?,
            superuser: col(&row, 1, action)?,
            rds_superuser: col(&row, 2, action)?,
            rds_iam: col(&row, 3, action)?,
            may_grant_rds_iam,
        })
    }

    /// The server's rules.
    pub fn rules(&self) -> ServerRules {
        ServerRules::new(self.version)
    }

    /// The SQL (with whom to run it as) that gives `connector` what it lacks, in the setup
    /// guide's order: `CREATEROLE`, `rds_superuser`, and with `iam` `rds_iam` (with `ADMIN
    /// OPTION` on 16+). Empty when nothing is missing; a superuser lacks nothing.
    pub fn fixes(&self, connector: &Ident, iam: bool) -> Vec<String> {
        if self.superuser {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.createrole {
            out.push(createrole_sql(connector));
        }
        let grant = |role: &str, admin: bool| grant_role_sql(role, connector, admin).ok();
        if !self.rds_superuser {
            out.extend(grant(RDS_SUPERUSER, false));
        }
        if iam && !self.rds_iam {
            out.extend(grant(RDS_IAM, false));
        }
        if iam && self.may_grant_rds_iam == Some(false) {
            out.extend(grant(RDS_IAM, true));
        }
        out
    }
}

/// `as the master user: ALTER ROLE <connector> WITH CREATEROLE;`.
pub fn createrole_sql(connector: &Ident) -> String {
    format!(
        "as the master user: ALTER ROLE {} WITH CREATEROLE;",
        connector.quoted()
    )
}

/// `as the master user: GRANT <role> TO <connector>[ WITH ADMIN OPTION];` (`admin`: what
/// PostgreSQL 16+ needs to grant `role` on, see
/// [`ServerRules::allow_granting_role_sql`]).
///
/// # Errors
/// [`QuoteError`] when `role` is not a valid identifier.
pub fn grant_role_sql(role: &str, connector: &Ident, admin: bool) -> Result<String, QuoteError> {
    let role = Ident::new(role)?;
    Ok(format!(
        "as the master user: GRANT {} TO {}{};",
        role.quoted(),
        connector.quoted(),
        if admin { " WITH ADMIN OPTION" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(num: u32, admin: Option<bool>) -> ConnectorSetup {
        ConnectorSetup {
            version: ServerVersion::from_num(num).unwrap(),
            createrole: false,
            superuser: false,
            rds_superuser: false,
            rds_iam: false,
            may_grant_rds_iam: admin,
        }
    }

    #[test]
    fn fixes_follow_the_setup_guide_and_the_version() {
        let c = Ident::new("a\"b").unwrap();
        assert_eq!(
            setup(150_004, None).fixes(&c, true),
            [
                r#"as the master user: ALTER ROLE "a""b" WITH CREATEROLE;"#,
                r#"as the master user: GRANT "rds_superuser" TO "a""b";"#,
                r#"as the master user: GRANT "rds_iam" TO "a""b";"#,
            ]
        );
        assert_eq!(
            setup(160_002, Some(false)).fixes(&c, true).last().unwrap(),
            r#"as the master user: GRANT "rds_iam" TO "a""b" WITH ADMIN OPTION;"#
        );
        assert_eq!(setup(160_002, Some(false)).fixes(&c, false).len(), 2);
        let mut su = setup(170_000, Some(false));
        su.superuser = true;
        assert!(su.fixes(&c, true).is_empty());
        // The 16+ fix is the one the server's rules give for granting a role.
        assert_eq!(
            setup(160_002, Some(false)).fixes(&c, true).last().unwrap(),
            &format!(
                "as the master user: {}",
                setup(160_002, None)
                    .rules()
                    .allow_granting_role_sql(&Ident::new(RDS_IAM).unwrap(), &c)
            )
        );
    }
}
