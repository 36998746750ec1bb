//! A SQL statement built by this crate.

use std::error::Error;
use std::fmt;

use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::quote::Ident;

/// One SQL statement, built from [`Ident`]s and
/// [`Literal`](crate::quote::Literal)s by the pure builders of this crate.
///
/// `Display` prints it for humans with password verifiers replaced by `[redacted]`;
/// [`Statement::sql`] is the exact text sent to the server.
///
/// A statement that sets a password never carries the verifier in its text (tokio-postgres logs
/// statement text at `DEBUG`): its SQL reads the verifier from the transaction-local setting
/// `rdspg.verifier`, which [`Session`](crate::Session) sets right before it, in the same
/// transaction, and clears right after. The verifier reaches the server as `COPY` data into a
/// session temporary table (no server log records `COPY` data, even with `log_statement =
/// 'all'`), or, where the connector may not create temporary tables, as a bound parameter
/// whose `Debug` is `[redacted]` (which that server setting logs).
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    sql: String,
    shown: Option<String>,
    secret: Option<BoundVerifier>,
}

/// The verifier (and the role it is for) a password statement reads from settings.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BoundVerifier {
    /// The role, or `None` for the session's own (`CURRENT_USER`).
    pub(crate) role: Option<Ident>,
    /// `SCRAM-SHA-256$…`.
    pub(crate) verifier: String,
}

impl Statement {
    pub(crate) fn new(sql: String) -> Self {
        Self {
            sql,
            shown: None,
            secret: None,
        }
    }

    /// A statement whose SQL reads `secret` from the settings `rdspg.verifier` and `rdspg.role`.
    pub(crate) fn with_bound_verifier(sql: String, shown: String, secret: BoundVerifier) -> Self {
        Self {
            sql,
            shown: Some(shown),
            secret: Some(secret),
        }
    }

    /// The exact SQL text, ending in `;`. For a statement that sets a password it reads the
    /// verifier from the setting `rdspg.verifier` (see the type's docs), so on its own it sets
    /// nothing.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub(crate) fn bound_verifier(&self) -> Option<&BoundVerifier> {
        self.secret.as_ref()
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown.as_deref().unwrap_or(&self.sql))
    }
}

/// As a JSON string: the statement as `Display` shows it (a password statement never carries
/// its verifier, see above).
impl serde::Serialize for Statement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Statement({self})")
    }
}

/// A text parameter whose `Debug` (which tokio-postgres logs at `DEBUG` for every bound
/// parameter) prints `[redacted]`.
pub(crate) struct RedactedText<'a>(pub(crate) &'a str);

impl fmt::Debug for RedactedText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl ToSql for RedactedText<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_text_hides_its_value_but_encodes_it() {
        let p = RedactedText("SCRAM-SHA-256$4096:salt$stored:server");
        assert_eq!(format!("{p:?}"), "[redacted]");
        assert_eq!(format!("{:?}", [&p as &(dyn ToSql + Sync)]), "[[redacted]]");
        let mut out = bytes::BytesMut::new();
        p.to_sql_checked(&Type::TEXT, &mut out).unwrap();
        assert_eq!(&out[..], p.0.as_bytes());
    }
}
