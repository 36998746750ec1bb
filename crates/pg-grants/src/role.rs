//! Role lifecycle statements: create, mark, change expiry, rotate password, disable, drop.
//!
//! Every function here is pure: it returns the SQL as [`Statement`]s and touches no server.
//! [`Session`](crate::Session) runs them after checking the marks.
//!
//! ```
//! use pg_grants::{AccessLevel, ManagedRecord, ServerRules, ServerVersion};
//! use pg_grants::quote::Ident;
//! use pg_grants::role::{self, LoginAuth, NewRole};
//! use time::macros::datetime;
//!
//! let rules = ServerRules::new(ServerVersion::from_num(170_002)?);
//! let record = ManagedRecord::new("req-1", AccessLevel::ReadOnly,
//!     datetime!(2026-11-24 18:00 UTC), "apono_connector");
//! let new = NewRole::new(Ident::new("alice@corp.io")?, LoginAuth::Iam, record).connection_limit(3);
//! let names = role::RoleNames::default();
//! let sql: Vec<String> = role::create_role(&new, &names, &rules)?.iter().map(|s| s.to_string()).collect();
//! assert_eq!(sql[0], r#"CREATE ROLE "alice@corp.io" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 3 PASSWORD NULL VALID UNTIL '2026-11-24T18:00:00Z';"#);
//! assert_eq!(sql[2], r#"GRANT "rds_iam" TO "alice@corp.io";"#);
//! # Ok::<(), pg_grants::GrantsError>(())
//! ```

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::GrantsError;
use crate::marker::{DEFAULT_GRANTOR_ROLE, DEFAULT_MARKER_ROLE, ManagedRecord, ServiceRole};
use crate::password::{Password, ScramVerifier};
use crate::quote::{Ident, Literal};
use crate::statement::{BoundVerifier, Statement};
use crate::version::ServerRules;

/// Name of the role RDS uses for IAM database authentication.
pub const RDS_IAM_ROLE: &str = "rds_iam";

/// How the new role logs in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LoginAuth {
    /// With this password (only its SCRAM verifier is sent).
    Password(Password),
    /// With IAM database authentication: membership in `rds_iam`, no password.
    Iam,
}

/// The roles the lifecycle statements refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoleNames {
    /// The NOLOGIN marker role ([`DEFAULT_MARKER_ROLE`]).
    pub marker: Ident,
    /// The IAM authentication role ([`RDS_IAM_ROLE`]).
    pub iam: Ident,
    /// The grantor role ([`DEFAULT_GRANTOR_ROLE`]; PostgreSQL 16+, see
    /// [`access`](crate::access#the-grantor-role)).
    pub grantor: Ident,
}

impl Default for RoleNames {
    fn default() -> Self {
        Self {
            marker: Ident::known_valid(DEFAULT_MARKER_ROLE),
            iam: Ident::known_valid(RDS_IAM_ROLE),
            grantor: Ident::known_valid(DEFAULT_GRANTOR_ROLE),
        }
    }
}

/// A role to create for a requester.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewRole {
    /// The role's name.
    pub name: Ident,
    /// How it logs in.
    pub auth: LoginAuth,
    /// The management record (its `expires_at` becomes `VALID UNTIL`).
    pub record: ManagedRecord,
    /// `CONNECTION LIMIT`, none when `None`.
    pub connection_limit: Option<u32>,
    /// Created `NOLOGIN`, its login enabled later once the caller's other work has
    /// succeeded (see [`NewRole::login_later`]).
    pub login_later: bool,
}

impl NewRole {
    /// A role with no connection limit.
    pub fn new(name: Ident, auth: LoginAuth, record: ManagedRecord) -> Self {
        Self {
            name,
            auth,
            record,
            connection_limit: None,
            login_later: false,
        }
    }

    /// Creates the role `NOLOGIN`; the caller enables its login with
    /// [`Session::enable_login`](crate::Session::enable_login) as its last step. A grant
    /// whose later steps fail, even where the server then cannot be reached to undo it (a
    /// restart, a failover), leaves a role nobody can log in as, rather than a login with
    /// part of its privileges.
    ///
    /// ```
    /// use pg_grants::{AccessLevel, ManagedRecord, ServerRules, ServerVersion};
    /// use pg_grants::quote::Ident;
    /// use pg_grants::role::{self, LoginAuth, NewRole};
    /// use time::macros::datetime;
    ///
    /// let rules = ServerRules::new(ServerVersion::from_num(170_002)?);
    /// let record = ManagedRecord::new("req-1", AccessLevel::ReadOnly,
    ///     datetime!(2026-11-24 18:00 UTC), "apono_connector");
    /// let new = NewRole::new(Ident::new("alice")?, LoginAuth::Iam, record).login_later();
    /// let sql = role::create_role(&new, &role::RoleNames::default(), &rules)?;
    /// assert!(sql[0].to_string().starts_with(r#"CREATE ROLE "alice" WITH NOLOGIN "#));
    /// # Ok::<(), pg_grants::GrantsError>(())
    /// ```
    #[must_use]
    pub fn login_later(mut self) -> Self {
        self.login_later = true;
        self
    }

    /// Sets `CONNECTION LIMIT`.
    #[must_use]
    pub fn connection_limit(mut self, limit: u32) -> Self {
        self.connection_limit = Some(limit);
        self
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Creates one of the library's own roles ([`ServiceRole`]: the marker or the holder) with no
/// rights at all, and its comment: `CREATE ROLE … WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
/// NOINHERIT NOREPLICATION NOBYPASSRLS; COMMENT ON ROLE … IS '{"rdspg":1,"kind":"…"}';`.
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn create_service_role(role: &Ident, kind: ServiceRole) -> Result<Vec<Statement>, GrantsError> {
    Ok(vec![
        Statement::new(format!(
            "CREATE ROLE {} WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;",
            role.quoted()
        )),
        service_comment(role, kind)?,
    ])
}

/// Creates the holder role `role` of user `of` like [`create_service_role`], its comment naming
/// the user: `{"rdspg":1,"kind":"holder","of":"…"}` ([`ServiceRole::holder_comment`]).
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn create_holder_role(role: &Ident, of: &str) -> Result<Vec<Statement>, GrantsError> {
    let mut out = create_service_role(role, ServiceRole::Holder)?;
    out.truncate(1);
    let lit = Literal::new(ServiceRole::holder_comment(of))?;
    out.push(Statement::new(format!(
        "COMMENT ON ROLE {} IS {};",
        role.quoted(),
        lit.quoted()
    )));
    Ok(out)
}

/// `COMMENT ON ROLE role IS '{"rdspg":1,"kind":"…"}'`, the mark of a service role.
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn service_comment(role: &Ident, kind: ServiceRole) -> Result<Statement, GrantsError> {
    let lit = Literal::new(kind.comment())?;
    Ok(Statement::new(format!(
        "COMMENT ON ROLE {} IS {};",
        role.quoted(),
        lit.quoted()
    )))
}

/// `COMMENT ON ROLE role IS '<record JSON>'`.
pub fn comment(role: &Ident, record: &ManagedRecord) -> Result<Statement, GrantsError> {
    let lit = Literal::new(record.to_comment())?;
    Ok(Statement::new(format!(
        "COMMENT ON ROLE {} IS {};",
        role.quoted(),
        lit.quoted()
    )))
}

/// Binds the verifier (a parameter whose `Debug` is `[redacted]`) and the role name to
/// transaction-local settings, right before a [`SET_PASSWORD_SQL`] statement.
pub(crate) const BIND_VERIFIER_SQL: &str = "SELECT pg_catalog.set_config('rdspg.verifier', $1, true), \
     pg_catalog.set_config('rdspg.role', $2, true)";

/// Makes the table the verifier is copied into (see [`COPY_VERIFIER_SQL`]): the session's own,
/// gone at the end of the transaction.
pub(crate) const VERIFIER_TABLE_SQL: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS \
     pg_temp.rdspg_verifier (verifier pg_catalog.text, role pg_catalog.text) ON COMMIT DROP;";

/// Receives the verifier and the role name as `COPY` data: with `log_statement = 'all'` the
/// server logs a bound parameter (`DETAIL: parameters: $1 = '…'`) but never `COPY` data, so
/// the verifier reaches no log.
pub(crate) const COPY_VERIFIER_SQL: &str = "COPY pg_temp.rdspg_verifier FROM STDIN";

/// Moves the copied verifier and role name to the settings [`SET_PASSWORD_SQL`] reads, and
/// empties the table (another password of the same transaction is copied after it).
pub(crate) const LOAD_VERIFIER_SQL: &str = "SELECT pg_catalog.set_config('rdspg.verifier', verifier, true), \
     pg_catalog.set_config('rdspg.role', role, true) FROM pg_temp.rdspg_verifier;\n\
     DELETE FROM pg_temp.rdspg_verifier;";

/// One row of `COPY … FROM STDIN` (text format): the fields escaped (backslash, tab, line
/// breaks), tab-separated, ending in a newline.
pub(crate) fn copy_row(fields: &[&str]) -> String {
    let mut row = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            row.push('\t');
        }
        for c in field.chars() {
            match c {
                '\\' => row.push_str("\\\\"),
                '\t' => row.push_str("\\t"),
                '\n' => row.push_str("\\n"),
                '\r' => row.push_str("\\r"),
                c => row.push(c),
            }
        }
    }
    row.push('\n');
    row
}

/// Clears the settings of [`BIND_VERIFIER_SQL`] right after use, in the same transaction.
pub(crate) const CLEAR_VERIFIER_SQL: &str = "SELECT pg_catalog.set_config('rdspg.verifier', '', true), \
     pg_catalog.set_config('rdspg.role', '', true);";

/// Sets the password of the role named by the setting `rdspg.role` (empty: `CURRENT_USER`) to
/// the verifier in `rdspg.verifier`, so that the verifier never appears in statement text
/// (tokio-postgres logs statement text at `DEBUG`). A constant: no name or value is spliced in.
/// The error of the inner `ALTER ROLE` is raised again (code, message, detail) without its
/// context, which would quote the statement, verifier included.
pub(crate) const SET_PASSWORD_SQL: &str = "DO $rdspg$
DECLARE
  detail pg_catalog.text;
BEGIN
  IF pg_catalog.current_setting('rdspg.role') OPERATOR(pg_catalog.=) '' THEN
    EXECUTE pg_catalog.format('ALTER ROLE CURRENT_USER WITH PASSWORD %L',
                              pg_catalog.current_setting('rdspg.verifier'));
  ELSE
    EXECUTE pg_catalog.format('ALTER ROLE %I WITH PASSWORD %L', pg_catalog.current_setting('rdspg.role'),
                              pg_catalog.current_setting('rdspg.verifier'));
  END IF;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  IF detail OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
  END IF;
  RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM, DETAIL = detail;
END
$rdspg$;";

/// A statement running `head` (SQL, may be empty) then setting the password of `role` (`None`:
/// the current user) to `verifier`, shown as `shown`.
fn with_password(
    head: String,
    shown: String,
    role: Option<&Ident>,
    verifier: &ScramVerifier,
) -> Statement {
    let sql = if head.is_empty() {
        SET_PASSWORD_SQL.to_owned()
    } else {
        format!("{head}\n{SET_PASSWORD_SQL}")
    };
    Statement::with_bound_verifier(
        sql,
        shown,
        BoundVerifier {
            role: role.cloned(),
            verifier: verifier.as_str().to_owned(),
        },
    )
}

/// The statements creating `role` with its marks: `CREATE ROLE`, marker membership, `rds_iam`
/// membership for IAM, `COMMENT`.
///
/// # Errors
/// Only [`GrantsError::Quote`] (never for values this crate generates).
pub fn create_role(
    role: &NewRole,
    names: &RoleNames,
    rules: &ServerRules,
) -> Result<Vec<Statement>, GrantsError> {
    let limit = role
        .connection_limit
        .map(|n| format!(" CONNECTION LIMIT {n}"))
        .unwrap_or_default();
    let until = Literal::new(rfc3339(role.record.expires_at()))?;
    let login = if role.login_later { "NOLOGIN" } else { "LOGIN" };
    let head = format!(
        "CREATE ROLE {} WITH {login} NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS{limit}",
        role.name.quoted()
    );
    let tail = format!(" VALID UNTIL {};", until.quoted());
    let create = match &role.auth {
        // Created without a password, which the next statement of the same transaction sets.
        LoginAuth::Password(pw) => with_password(
            format!("{head} PASSWORD NULL{tail}"),
            format!("{head} PASSWORD '[redacted]'{tail}"),
            Some(&role.name),
            &pw.scram_verifier(),
        ),
        LoginAuth::Iam => Statement::new(format!("{head} PASSWORD NULL{tail}")),
    };
    let mut out = vec![
        create,
        Statement::new(grant_marker(&names.marker, &role.name, rules)),
    ];
    if matches!(role.auth, LoginAuth::Iam) {
        out.push(Statement::new(format!(
            "GRANT {} TO {};",
            names.iam.quoted(),
            role.name.quoted()
        )));
    }
    out.push(comment(&role.name, &role.record)?);
    Ok(out)
}

/// The mark: the marker becomes a member of the managed role, never the reverse (see
/// [`marker`](crate::marker#why-the-marker-is-a-member-of-the-user-not-the-other-way-round)).
fn grant_marker(marker: &Ident, role: &Ident, rules: &ServerRules) -> String {
    if rules.membership_options() {
        format!(
            "GRANT {} TO {} WITH INHERIT FALSE, SET FALSE;",
            role.quoted(),
            marker.quoted()
        )
    } else {
        // Before 16 the marker's NOINHERIT attribute keeps it from using the membership.
        format!("GRANT {} TO {};", role.quoted(), marker.quoted())
    }
}

/// Turns a 0.1.0 mark (the role a member of the marker) into the current one (the marker a
/// member of the role), in one transaction: `REVOKE marker FROM role; GRANT role TO marker …;`.
pub fn migrate_mark(role: &Ident, names: &RoleNames, rules: &ServerRules) -> Vec<Statement> {
    vec![
        Statement::new(format!(
            "REVOKE {} FROM {};",
            names.marker.quoted(),
            role.quoted()
        )),
        Statement::new(grant_marker(&names.marker, role, rules)),
    ]
}

/// Writes `record` to the role: its comment and `VALID UNTIL` (the latest expiry of its
/// grants, or when it was revoked).
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn set_expiry(role: &Ident, record: &ManagedRecord) -> Result<Vec<Statement>, GrantsError> {
    let until = Literal::new(rfc3339(record.expires_at()))?;
    Ok(vec![
        Statement::new(format!(
            "ALTER ROLE {} VALID UNTIL {};",
            role.quoted(),
            until.quoted()
        )),
        comment(role, record)?,
    ])
}

/// Enables the login of a managed user again (a user revoked and kept, or whose login a sweep
/// disabled) with `record`: `ALTER ROLE … WITH LOGIN VALID UNTIL …`, the `rds_iam` membership
/// when `iam` (an IAM user that lost it), then the record.
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn reenable(
    role: &Ident,
    record: &ManagedRecord,
    iam: Option<&Ident>,
) -> Result<Vec<Statement>, GrantsError> {
    let until = Literal::new(rfc3339(record.expires_at()))?;
    let mut out = vec![Statement::new(format!(
        "ALTER ROLE {} WITH LOGIN VALID UNTIL {};",
        role.quoted(),
        until.quoted()
    ))];
    if let Some(iam) = iam {
        out.push(Statement::new(format!(
            "GRANT {} TO {};",
            iam.quoted(),
            role.quoted()
        )));
    }
    out.push(comment(role, record)?);
    Ok(out)
}

/// Sets a new password (as its SCRAM verifier, sent apart from the statement: see
/// [`Statement`]).
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn set_password(role: &Ident, password: &Password) -> Result<Statement, GrantsError> {
    Ok(with_password(
        String::new(),
        format!("ALTER ROLE {} WITH PASSWORD '[redacted]';", role.quoted()),
        Some(role),
        &password.scram_verifier(),
    ))
}

/// Sets the session's own password (as its SCRAM verifier): `ALTER ROLE CURRENT_USER WITH
/// PASSWORD '<verifier>'`, run by a constant `DO` block with the verifier sent apart (see
/// [`Statement`]). PostgreSQL lets any role change its own password, without
/// `CREATEROLE` (<https://www.postgresql.org/docs/current/sql-alterrole.html>), so the connector
/// rotates its own password with it.
///
/// # Errors
/// Only [`GrantsError::Quote`].
pub fn set_own_password(password: &Password) -> Result<Statement, GrantsError> {
    Ok(with_password(
        String::new(),
        "ALTER ROLE CURRENT_USER WITH PASSWORD '[redacted]';".to_owned(),
        None,
        &password.scram_verifier(),
    ))
}

/// `ALTER ROLE role NOLOGIN`: the first step of revocation.
pub fn disable_login(role: &Ident) -> Statement {
    Statement::new(format!("ALTER ROLE {} WITH NOLOGIN;", role.quoted()))
}

/// Ends the sessions of the role named `$1` (on the whole server), the name bound as a
/// parameter: it never passes through a string literal, whatever the session's
/// `standard_conforming_strings`. The library runs this; [`terminate_sessions`] is its text.
pub const TERMINATE_SESSIONS_SQL: &str = "SELECT pg_catalog.pg_terminate_backend(a.pid) \
     FROM pg_catalog.pg_stat_activity a \
     WHERE a.usename OPERATOR(pg_catalog.=) $1 \
       AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()";

/// Ends the role's sessions (on the whole server), as text for plans and logs; the library
/// executes [`TERMINATE_SESSIONS_SQL`] with the name bound instead.
pub fn terminate_sessions(role: &Ident) -> Result<Statement, GrantsError> {
    let lit = Literal::new(role.as_str())?;
    Ok(Statement::new(format!(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
         WHERE usename OPERATOR(pg_catalog.=) {} AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid();",
        lit.quoted()
    )))
}

/// `REASSIGN OWNED BY role TO new_owner; DROP OWNED BY role;` (run in each database).
pub fn reassign_and_drop_owned(role: &Ident, new_owner: &Ident) -> Vec<Statement> {
    vec![
        Statement::new(format!(
            "REASSIGN OWNED BY {} TO {};",
            role.quoted(),
            new_owner.quoted()
        )),
        Statement::new(format!("DROP OWNED BY {};", role.quoted())),
    ]
}

/// `DROP ROLE role`.
pub fn drop_role(role: &Ident) -> Statement {
    Statement::new(format!("DROP ROLE {};", role.quoted()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::ServerVersion;
    use integration_model::AccessLevel;
    use secrecy::SecretString;
    use time::macros::datetime;

    fn record() -> ManagedRecord {
        ManagedRecord::new(
            "req-'1",
            AccessLevel::ReadWrite,
            datetime!(2026-11-24 18:00 UTC),
            "apono_connector",
        )
    }

    fn rules(n: u32) -> ServerRules {
        ServerRules::new(ServerVersion::from_num(n).unwrap())
    }

    #[test]
    fn password_role_binds_the_verifier_and_display_redacts_it() {
        let pw = Password::from_secret(SecretString::from("plain-text-secret"));
        let new = NewRole::new(
            Ident::new("Bob").unwrap(),
            LoginAuth::Password(pw),
            record(),
        );
        let st = create_role(&new, &RoleNames::default(), &rules(150_000)).unwrap();
        assert_eq!(st.len(), 3);
        let sql = st[0].sql();
        // The verifier is bound, never in the text (tokio-postgres logs statement text).
        assert!(
            !sql.contains("SCRAM-SHA-256$") && !sql.contains("plain-text-secret"),
            "{sql}"
        );
        assert_eq!(
            sql,
            format!(
                "CREATE ROLE \"Bob\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION \
                 NOBYPASSRLS PASSWORD NULL VALID UNTIL '2026-11-24T18:00:00Z';\n{SET_PASSWORD_SQL}"
            )
        );
        let bound = st[0].bound_verifier().unwrap();
        assert_eq!(bound.role, Some(Ident::new("Bob").unwrap()));
        assert!(bound.verifier.starts_with("SCRAM-SHA-256$4096:"));
        assert!(st[1].bound_verifier().is_none() && st[2].bound_verifier().is_none());
        assert_eq!(
            st[0].to_string(),
            r#"CREATE ROLE "Bob" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS PASSWORD '[redacted]' VALID UNTIL '2026-11-24T18:00:00Z';"#
        );
        assert_eq!(st[1].sql(), r#"GRANT "Bob" TO "rdspg_managed";"#);
        assert_eq!(
            st[2].sql(),
            r#"COMMENT ON ROLE "Bob" IS '{"rdspg":2,"creator":"apono_connector","grants":[{"request_id":"req-''1","level":"read-write","expires_at":"2026-11-24T18:00:00Z"}]}';"#
        );
    }

    #[test]
    fn the_marker_is_a_member_of_the_user_and_uses_nothing() {
        let new = NewRole::new(Ident::new("u").unwrap(), LoginAuth::Iam, record());
        let st = create_role(&new, &RoleNames::default(), &rules(170_000)).unwrap();
        assert_eq!(
            st[1].sql(),
            r#"GRANT "u" TO "rdspg_managed" WITH INHERIT FALSE, SET FALSE;"#
        );
        assert_eq!(st[2].sql(), r#"GRANT "rds_iam" TO "u";"#);
        let names = RoleNames::default();
        let u = Ident::new("u").unwrap();
        let sql = |v| {
            migrate_mark(&u, &names, &rules(v))
                .iter()
                .map(|s| s.sql().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sql(150_000),
            [
                r#"REVOKE "rdspg_managed" FROM "u";"#,
                r#"GRANT "u" TO "rdspg_managed";"#
            ]
        );
        assert_eq!(
            sql(160_000)[1],
            r#"GRANT "u" TO "rdspg_managed" WITH INHERIT FALSE, SET FALSE;"#
        );
    }

    #[test]
    fn lifecycle_statements() {
        let r = Ident::new("a\"b").unwrap();
        let st = set_expiry(&r, &record()).unwrap();
        assert_eq!(
            st[0].sql(),
            r#"ALTER ROLE "a""b" VALID UNTIL '2026-11-24T18:00:00Z';"#
        );
        let pw = set_password(&r, &Password::generate()).unwrap();
        assert_eq!(
            pw.to_string(),
            r#"ALTER ROLE "a""b" WITH PASSWORD '[redacted]';"#
        );
        assert_eq!(pw.sql(), SET_PASSWORD_SQL);
        assert_eq!(pw.bound_verifier().unwrap().role, Some(r.clone()));
        let own =
            set_own_password(&Password::from_secret(SecretString::from("own-secret"))).unwrap();
        assert_eq!(own.sql(), SET_PASSWORD_SQL);
        let bound = own.bound_verifier().unwrap();
        assert_eq!(bound.role, None);
        assert!(
            bound.verifier.starts_with("SCRAM-SHA-256$4096:")
                && !bound.verifier.contains("own-secret")
        );
        assert_eq!(
            own.to_string(),
            "ALTER ROLE CURRENT_USER WITH PASSWORD '[redacted]';"
        );
        assert_eq!(
            disable_login(&r).sql(),
            r#"ALTER ROLE "a""b" WITH NOLOGIN;"#
        );
        assert_eq!(
            terminate_sessions(&r).unwrap().sql(),
            r#"SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename OPERATOR(pg_catalog.=) 'a"b' AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid();"#
        );
        let owner = Ident::new("apono_connector").unwrap();
        let st: Vec<_> = reassign_and_drop_owned(&r, &owner)
            .iter()
            .map(|s| s.sql().to_owned())
            .collect();
        assert_eq!(
            st,
            [
                r#"REASSIGN OWNED BY "a""b" TO "apono_connector";"#,
                r#"DROP OWNED BY "a""b";"#
            ]
        );
        assert_eq!(drop_role(&r).sql(), r#"DROP ROLE "a""b";"#);
        let holder: Vec<_> = create_service_role(&Ident::new("h").unwrap(), ServiceRole::Holder)
            .unwrap()
            .iter()
            .map(|s| s.sql().to_owned())
            .collect();
        assert_eq!(
            holder,
            [
                r#"CREATE ROLE "h" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;"#,
                r#"COMMENT ON ROLE "h" IS '{"rdspg":1,"kind":"holder"}';"#
            ]
        );
    }
}
