//! A SQL statement built by this crate.

use std::fmt;

/// One SQL statement, built from [`Ident`](crate::quote::Ident)s and
/// [`Literal`](crate::quote::Literal)s by the pure builders of this crate.
///
/// `Display` prints it for humans with password verifiers replaced by `[redacted]`;
/// [`Statement::sql`] is the exact text sent to the server.
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    sql: String,
    shown: Option<String>,
}

impl Statement {
    pub(crate) fn new(sql: String) -> Self {
        Self { sql, shown: None }
    }

    pub(crate) fn redacted(sql: String, shown: String) -> Self {
        Self {
            sql,
            shown: Some(shown),
        }
    }

    /// The exact SQL text, ending in `;`.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown.as_deref().unwrap_or(&self.sql))
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Statement({self})")
    }
}
