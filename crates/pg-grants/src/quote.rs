//! The one audited place where text becomes SQL.
//!
//! Every identifier and literal this crate sends to PostgreSQL goes through this module:
//!
//! * identifiers are validated once into an [`Ident`] (non-empty, at most 63 bytes, no NUL) and
//!   always written double-quoted with embedded `"` doubled, so case, spaces, semicolons, `$$` and
//!   emoji are kept exactly and can never end the identifier early
//!   ([PostgreSQL: identifiers](https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS));
//! * literals are validated into a [`Literal`] (no NUL) and written single-quoted with embedded `'`
//!   doubled; a value holding a backslash is written as an escape string `E'…'` with every `\`
//!   and `'` doubled. Both read back exactly whatever `standard_conforming_strings` is: a
//!   database owner may turn it off for its database (`ALTER DATABASE … SET`), and a
//!   multi-statement batch is parsed before a `SET` inside it takes effect, so the setting must
//!   not matter. (pg-auth's connections also pin it `on` at startup.)
//!
//! PostgreSQL silently *truncates* identifiers longer than `NAMEDATALEN - 1` = 63 bytes; two
//! different long names could then meet the same role. This crate refuses them instead.
//!
//! Statement builders take [`Ident`] and [`Literal`], never `&str`, so raw text cannot reach SQL.
//!
//! ```
//! use pg_grants::quote::{Ident, Literal};
//!
//! let role = Ident::new(r#"Bob "the admin"; DROP TABLE x"#)?;
//! assert_eq!(role.quoted().to_string(), r#""Bob ""the admin""; DROP TABLE x""#);
//! let comment = Literal::new("it's here")?;
//! assert_eq!(comment.quoted().to_string(), "'it''s here'");
//! // A backslash: an escape string, read the same whatever standard_conforming_strings is.
//! let path = Literal::new(r"it's C:\temp")?;
//! assert_eq!(path.quoted().to_string(), r"E'it''s C:\\temp'");
//! assert!(Ident::new("x".repeat(64)).is_err());
//! # Ok::<(), pg_grants::quote::QuoteError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// Longest identifier PostgreSQL keeps without truncation: `NAMEDATALEN - 1` bytes.
pub const MAX_IDENT_BYTES: usize = 63;

/// Why a value cannot be quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The identifier is empty; PostgreSQL has no zero-length names.
    #[error("identifier is empty: give a name of 1 to 63 bytes")]
    EmptyIdent,
    /// The identifier is longer than 63 bytes and PostgreSQL would truncate it.
    #[error(
        "identifier {name:?} is {bytes} bytes long; PostgreSQL keeps at most 63 bytes and would \
         silently truncate it: choose a shorter name"
    )]
    IdentTooLong {
        /// The refused name.
        name: String,
        /// Its length in bytes (UTF-8).
        bytes: usize,
    },
    /// The identifier contains a NUL character, which PostgreSQL cannot store.
    #[error("identifier {name:?} contains a NUL character at byte {offset}: remove it")]
    IdentContainsNul {
        /// The refused name.
        name: String,
        /// Byte offset of the first NUL.
        offset: usize,
    },
    /// A literal contains a NUL character, which PostgreSQL text cannot hold. The value is not
    /// shown because literals may carry secrets.
    #[error("literal contains a NUL character at byte {offset}: remove it")]
    LiteralContainsNul {
        /// Byte offset of the first NUL.
        offset: usize,
    },
}

/// A validated SQL identifier: 1 to 63 bytes, no NUL, case and every other character kept.
///
/// `Display` prints the name as is (it round-trips through [`FromStr`]); use [`Ident::quoted`] to
/// put it into SQL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

impl Ident {
    /// Validates `name` as an identifier.
    ///
    /// # Errors
    /// [`QuoteError::EmptyIdent`], [`QuoteError::IdentTooLong`] (over 63 bytes),
    /// [`QuoteError::IdentContainsNul`].
    pub fn new(name: impl Into<String>) -> Result<Self, QuoteError> {
        let name = name.into();
        if name.is_empty() {
            return Err(QuoteError::EmptyIdent);
        }
        if let Some(offset) = name.find('\0') {
            return Err(QuoteError::IdentContainsNul { name, offset });
        }
        if name.len() > MAX_IDENT_BYTES {
            let bytes = name.len();
            return Err(QuoteError::IdentTooLong { name, bytes });
        }
        Ok(Self(name))
    }

    /// For this crate's own constant names, checked by a unit test.
    pub(crate) fn known_valid(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    /// The name as PostgreSQL stores it (unquoted).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as SQL text: `"…"` with every `"` doubled.
    pub fn quoted(&self) -> QuotedIdent<'_> {
        QuotedIdent(&self.0)
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// As a JSON string: the name as is (as `Display`).
impl serde::Serialize for Ident {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl FromStr for Ident {
    type Err = QuoteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Ident {
    type Error = QuoteError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Ident {
    type Error = QuoteError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// `integration_model::Identifier` has the same rules (1 to 63 bytes, no NUL), so every
/// identifier converts.
impl From<&integration_model::Identifier> for Ident {
    fn from(id: &integration_model::Identifier) -> Self {
        Self(id.as_str().to_owned())
    }
}

impl From<integration_model::Identifier> for Ident {
    fn from(id: integration_model::Identifier) -> Self {
        Self::from(&id)
    }
}

impl AsRef<str> for Ident {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An [`Ident`] rendered for SQL (`"name"`, inner `"` doubled). Obtain it with [`Ident::quoted`].
#[derive(Debug, Clone, Copy)]
pub struct QuotedIdent<'a>(&'a str);

impl fmt::Display for QuotedIdent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0, '"')
    }
}

/// A schema-qualified name (`schema.name`) of a table, view, sequence or function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    /// The schema.
    pub schema: Ident,
    /// The object's name inside the schema.
    pub name: Ident,
}

impl QualifiedName {
    /// Joins a schema and a name.
    pub fn new(schema: Ident, name: Ident) -> Self {
        Self { schema, name }
    }

    /// `"schema"."name"` for SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", self.schema.quoted(), self.name.quoted())
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// As a JSON string: `schema.name` (as `Display`).
impl serde::Serialize for QualifiedName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A validated string literal: any text without NUL.
///
/// Its `Debug` does not print the value (literals may carry password verifiers).
#[derive(Clone, PartialEq, Eq)]
pub struct Literal(String);

impl Literal {
    /// Validates `value` as a literal.
    ///
    /// # Errors
    /// [`QuoteError::LiteralContainsNul`].
    pub fn new(value: impl Into<String>) -> Result<Self, QuoteError> {
        let value = value.into();
        if let Some(offset) = value.find('\0') {
            return Err(QuoteError::LiteralContainsNul { offset });
        }
        Ok(Self(value))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as SQL text: `'…'` with every `'` doubled, or, when the value holds a
    /// backslash, the escape string `E'…'` with every `\` and `'` doubled. Either reads back as
    /// exactly the value whatever the session's `standard_conforming_strings` (a database owner
    /// may turn it off for its database, and a batch is parsed before any `SET` in it runs).
    pub fn quoted(&self) -> QuotedLiteral<'_> {
        QuotedLiteral(&self.0)
    }
}

impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Literal({} bytes)", self.0.len())
    }
}

/// A [`Literal`] rendered for SQL. Obtain it with [`Literal::quoted`].
#[derive(Clone, Copy)]
pub struct QuotedLiteral<'a>(&'a str);

impl fmt::Debug for QuotedLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QuotedLiteral({} bytes)", self.0.len())
    }
}

impl fmt::Display for QuotedLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains('\\') {
            // `'…'` with a backslash reads differently under `standard_conforming_strings =
            // off` (which a database owner may set): the backslash would escape the next quote
            // and let the text leave the literal. An escape string `E'…'` reads the same under
            // either setting, with every `\` and `'` doubled.
            use fmt::Write as _;
            f.write_str("E'")?;
            for c in self.0.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\'' => f.write_str("''")?,
                    other => f.write_char(other)?,
                }
            }
            f.write_char('\'')
        } else {
            write_quoted(f, self.0, '\'')
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str, quote: char) -> fmt::Result {
    use fmt::Write as _;
    f.write_char(quote)?;
    for part in s.split_inclusive(quote) {
        f.write_str(part)?;
        if part.ends_with(quote) {
            f.write_char(quote)?;
        }
    }
    f.write_char(quote)
}

/// The statement every transaction of this crate starts with, so that [`Literal::quoted`] is exact.
pub(crate) const SET_STANDARD_STRINGS: &str = "SET LOCAL standard_conforming_strings = on;";

/// Reads SQL as PostgreSQL's lexer does for quoted tokens: the text with every `"…"` identifier
/// replaced by `""` and every `'…'` literal by `''`, and the identifiers and literals read.
/// For tests: a statement built from any names must keep its shape.
#[cfg(test)]
pub(crate) fn split_quoted(sql: &str) -> (String, Vec<String>, Vec<String>) {
    let mut shape = String::new();
    let (mut idents, mut literals) = (Vec::new(), Vec::new());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' && c != '\'' {
            shape.push(c);
            continue;
        }
        // An escape string `E'…'`: backslashes escape (only `\\` is written by this module).
        let escape = c == '\'' && shape.ends_with('E');
        let mut token = String::new();
        loop {
            match chars.next() {
                Some('\\') if escape => match chars.next() {
                    Some(e) => token.push(e),
                    None => panic!("unterminated escape string in {sql}"),
                },
                Some(q) if q == c && chars.peek() == Some(&c) => {
                    chars.next();
                    token.push(c);
                }
                Some(q) if q == c => break,
                Some(other) => token.push(other),
                None => panic!("unterminated quoted token in {sql}"),
            }
        }
        if escape {
            shape.pop();
        }
        shape.push(c);
        shape.push(c);
        if c == '"' {
            idents.push(token)
        } else {
            literals.push(token)
        }
    }
    (shape, idents, literals)
}

/// Names that try to escape quoting, for tests: quotes, SQL, unicode, 63 bytes.
#[cfg(test)]
pub(crate) const NASTY_NAMES: &[&str] = &[
    "a\"b",
    "Robert'); DROP ROLE x;--",
    "\"; DROP ROLE postgres; --",
    "x' OR '1'='1",
    "$$; SELECT 1; $$",
    "émoji🐘 name",
    "back\\slash",
    "123456789012345678901234567890123456789012345678901234567890123",
    "🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘🐘abc",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reverses `"…"` quoting: the inverse PostgreSQL's lexer applies.
    fn unquote(s: &str, q: char) -> Option<String> {
        let inner = s.strip_prefix(q)?.strip_suffix(q)?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == q {
                // Inside a quoted token a quote must be doubled, else the token ended early.
                if chars.next() != Some(q) {
                    return None;
                }
            }
            out.push(c);
        }
        Some(out)
    }

    #[test]
    fn idents_are_quoted_and_kept() {
        let cases = [
            ("simple", "\"simple\""),
            ("MixedCase", "\"MixedCase\""),
            ("a\"b", "\"a\"\"b\""),
            ("semi;colon", "\"semi;colon\""),
            ("back\\slash", "\"back\\slash\""),
            ("$$dollar$$", "\"$$dollar$$\""),
            ("with space", "\"with space\""),
            ("\"", "\"\"\"\""),
            ("émoji🐘", "\"émoji🐘\""),
        ];
        for (raw, want) in cases {
            assert_eq!(Ident::new(raw).unwrap().quoted().to_string(), want, "{raw}");
        }
    }

    #[test]
    fn literals_double_single_quotes_only() {
        let cases = [
            ("", "''"),
            ("it's", "'it''s'"),
            ("''", "''''''"),
            // A backslash makes it an escape string, read the same whatever
            // standard_conforming_strings is.
            ("a\\'b", "E'a\\\\''b'"),
            ("back\\slash", "E'back\\\\slash'"),
            ("$$; DROP ROLE x; --", "'$$; DROP ROLE x; --'"),
            ("\"double\"", "'\"double\"'"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Literal::new(raw).unwrap().quoted().to_string(),
                want,
                "{raw}"
            );
        }
    }

    #[test]
    fn length_limit_is_in_bytes() {
        assert!(Ident::new("a".repeat(63)).is_ok());
        assert!(matches!(
            Ident::new("a".repeat(64)),
            Err(QuoteError::IdentTooLong { bytes: 64, .. })
        ));
        // 16 elephants = 64 bytes although only 16 characters.
        assert!(matches!(
            Ident::new("🐘".repeat(16)),
            Err(QuoteError::IdentTooLong { bytes: 64, .. })
        ));
        assert!(Ident::new(format!("{}abc", "🐘".repeat(15))).is_ok());
    }

    #[test]
    fn nul_and_empty_are_refused() {
        assert_eq!(Ident::new(""), Err(QuoteError::EmptyIdent));
        assert!(matches!(
            Ident::new("a\0b"),
            Err(QuoteError::IdentContainsNul { offset: 1, .. })
        ));
        assert_eq!(
            Literal::new("se\0cret").err(),
            Some(QuoteError::LiteralContainsNul { offset: 2 })
        );
        // The literal's value never appears in its error or Debug.
        let msg = Literal::new("se\0cret").err().unwrap().to_string();
        assert!(!msg.contains("cret"), "{msg}");
        assert!(!format!("{:?}", Literal::new("secret").unwrap()).contains("secret"));
    }

    #[test]
    fn crate_constants_are_valid_idents() {
        for name in [
            crate::marker::DEFAULT_MARKER_ROLE,
            crate::marker::DEFAULT_GRANTOR_ROLE,
            crate::role::RDS_IAM_ROLE,
        ] {
            assert_eq!(Ident::new(name).unwrap(), Ident::known_valid(name));
        }
    }

    proptest! {
        #[test]
        fn model_identifiers_always_convert(s in nasty()) {
            if let Ok(model) = s.parse::<integration_model::Identifier>() {
                let ours = Ident::from(&model);
                prop_assert_eq!(Ident::new(s).ok(), Some(ours));
            } else {
                prop_assert!(Ident::new(s).is_err());
            }
        }
    }

    #[test]
    fn nasty_names_are_valid_and_at_most_63_bytes() {
        for name in NASTY_NAMES {
            assert!(Ident::new(*name).is_ok(), "{name}");
        }
        assert!(NASTY_NAMES.iter().any(|n| n.len() == MAX_IDENT_BYTES));
        assert!(
            NASTY_NAMES
                .iter()
                .any(|n| n.len() == MAX_IDENT_BYTES && !n.is_ascii())
        );
        let (shape, idents, literals) = split_quoted(&format!(
            "GRANT {} TO {};",
            Ident::new("a\"b").unwrap().quoted(),
            Literal::new("it's").unwrap().quoted()
        ));
        assert_eq!(
            (shape.as_str(), idents, literals),
            (
                "GRANT \"\" TO '';",
                vec!["a\"b".to_owned()],
                vec!["it's".to_owned()]
            )
        );
    }

    #[test]
    fn display_round_trips() {
        let id: Ident = "Weird \"Name\"".parse().unwrap();
        assert_eq!(id.to_string().parse::<Ident>().unwrap(), id);
        let q = QualifiedName::new(Ident::new("s\"").unwrap(), Ident::new("T").unwrap());
        assert_eq!(q.quoted(), "\"s\"\"\".\"T\"");
    }

    fn nasty() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "\"", "'", ";", "\\", "$$", " ", "A", "z", "🐘", "é", "--", "/*", "\n", "\t", "E'",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn ident_quoting_is_invertible(s in nasty()) {
            match Ident::new(s.clone()) {
                Ok(id) => {
                    prop_assert!(!s.is_empty() && s.len() <= 63);
                    let q = id.quoted().to_string();
                    prop_assert_eq!(unquote(&q, '"'), Some(s));
                }
                Err(QuoteError::EmptyIdent) => prop_assert!(s.is_empty()),
                Err(QuoteError::IdentTooLong { bytes, .. }) => prop_assert!(bytes > 63 && bytes == s.len()),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn literal_quoting_is_invertible(s in nasty()) {
            let lit = Literal::new(s.clone()).unwrap();
            let q = lit.quoted().to_string();
            match q.strip_prefix('E') {
                // An escape string: undo the doubled backslashes, then the quotes.
                Some(e) => prop_assert_eq!(
                    unquote(e, '\'').map(|u| u.replace("\\\\", "\\")),
                    Some(s)
                ),
                None => prop_assert_eq!(unquote(&q, '\''), Some(s)),
            }
        }

        #[test]
        fn any_string_never_panics(s in any::<String>()) {
            let _ = Ident::new(s.clone()).map(|i| i.quoted().to_string());
            let _ = Literal::new(s).map(|l| l.quoted().to_string());
        }
    }
}
