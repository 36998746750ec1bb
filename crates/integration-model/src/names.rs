//! Validated names: integrations, RDS instances, PostgreSQL identifiers.

use std::str::FromStr;

use crate::ModelError;
use crate::text::string_newtype;

/// The unique, user-friendly name of an integration: 1 to 64 ASCII letters, digits, `-` and `_`.
///
/// Case is kept and compared exactly.
///
/// ```
/// use integration_model::IntegrationName;
/// let name: IntegrationName = "orders-prod".parse()?;
/// assert_eq!(name.as_str(), "orders-prod");
/// assert!("orders prod".parse::<IntegrationName>().is_err());
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntegrationName(String);

impl IntegrationName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = 64;
}

impl FromStr for IntegrationName {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "integration name";
        if text.is_empty() {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is empty; use 1-64 letters, digits, '-' or '_'",
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("contains {bad:?}; use only ASCII letters, digits, '-' or '_'"),
            ));
        }
        if text.len() > Self::MAX_LEN {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!(
                    "is {} characters long; the limit is {}",
                    text.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(IntegrationName);

/// An RDS DB instance identifier or Aurora DB cluster identifier.
///
/// RDS's rules (CreateDBInstance `DBInstanceIdentifier`, CreateDBCluster
/// `DBClusterIdentifier`): 1 to 63 letters, digits or hyphens; the first character is a
/// letter; no two consecutive hyphens; no trailing hyphen. RDS stores identifiers in lower
/// case and treats them case-insensitively, so parsing lowers the case: `Orders-DB` and
/// `orders-db` are the same [`InstanceId`], and Display shows `orders-db`.
///
/// ```
/// use integration_model::InstanceId;
/// let id: InstanceId = "Orders-DB".parse()?;
/// assert_eq!(id.to_string(), "orders-db");
/// let err = "9orders".parse::<InstanceId>().unwrap_err();
/// assert!(err.to_string().contains("\"9orders\" must start with a letter"));
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    /// The longest identifier, in characters.
    pub const MAX_LEN: usize = 63;
}

impl FromStr for InstanceId {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "instance id";
        const RULE: &str = "(RDS identifiers: 1-63 letters, digits, hyphens)";
        let Some(first) = text.chars().next() else {
            return Err(ModelError::invalid(KEY, text, format!("is empty {RULE}")));
        };
        if !first.is_ascii_alphabetic() {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("must start with a letter {RULE}"),
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("contains {bad:?} {RULE}"),
            ));
        }
        if text.len() > Self::MAX_LEN {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!(
                    "is {} characters long; the limit is {}",
                    text.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if text.contains("--") {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("must not contain \"--\" {RULE}"),
            ));
        }
        if text.ends_with('-') {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("must not end with '-' {RULE}"),
            ));
        }
        Ok(Self(text.to_ascii_lowercase()))
    }
}

string_newtype!(InstanceId);

/// A PostgreSQL identifier: a database, schema, table or role name.
///
/// PostgreSQL keeps at most 63 bytes of a name (`NAMEDATALEN - 1`) and silently truncates
/// longer ones, which would make a grant land on another object; this type rejects them
/// instead. The name is the real name (as it would appear between double quotes in SQL):
/// case and every character are kept; only NUL is refused, and the name cannot be empty.
///
/// ```
/// use integration_model::Identifier;
/// let table: Identifier = "Order Lines".parse()?;
/// assert_eq!(table.as_str(), "Order Lines");
/// assert!("é".repeat(32).parse::<Identifier>().is_err()); // 64 bytes
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// The longest name PostgreSQL keeps, in bytes.
    pub const MAX_BYTES: usize = 63;

    /// Whether PostgreSQL refuses this as the name of a new role: names starting with `pg_`,
    /// and `public`, `none`, `current_user`, `session_user`, `current_role` (lower case;
    /// other spellings are different, quoted names).
    pub fn is_reserved_role_name(&self) -> bool {
        self.0.starts_with("pg_")
            || matches!(
                self.0.as_str(),
                "public" | "none" | "current_user" | "session_user" | "current_role"
            )
    }

    /// Checks that this can name a role: see [`Identifier::is_reserved_role_name`].
    pub(crate) fn check_role_name(&self, key: &str) -> Result<(), ModelError> {
        if self.is_reserved_role_name() {
            return Err(ModelError::invalid(
                key,
                &self.0,
                "is reserved by PostgreSQL as a role name (pg_*, public, none, current_user, \
                 session_user, current_role); choose another name",
            ));
        }
        Ok(())
    }
}

impl FromStr for Identifier {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "identifier";
        if text.is_empty() {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is empty; PostgreSQL names have 1 to 63 bytes",
            ));
        }
        if text.contains('\0') {
            return Err(ModelError::invalid(
                KEY,
                text,
                "contains a NUL character, which PostgreSQL names cannot hold",
            ));
        }
        if text.len() > Self::MAX_BYTES {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!(
                    "is {} bytes long; PostgreSQL keeps at most {} bytes and would truncate it, so use a shorter name",
                    text.len(),
                    Self::MAX_BYTES
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(Identifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_rules_from_rds_docs() {
        // Source: RDS API reference, CreateDBInstance, DBInstanceIdentifier constraints.
        let cases: &[(&str, Option<&str>)] = &[
            ("orders-db", None),
            ("a", None),
            ("A1-b2", None),
            ("9orders", Some("must start with a letter")),
            ("-orders", Some("must start with a letter")),
            ("orders--db", Some("must not contain \"--\"")),
            ("orders-", Some("must not end with '-'")),
            ("orders_db", Some("contains '_'")),
            ("", Some("is empty")),
        ];
        for (text, want) in cases {
            let got = text.parse::<InstanceId>();
            match want {
                None => assert!(got.is_ok(), "{text}: {got:?}"),
                Some(reason) => {
                    let msg = got.unwrap_err().to_string();
                    assert!(msg.contains(reason), "{text}: {msg}");
                }
            }
        }
        assert!("a".repeat(63).parse::<InstanceId>().is_ok());
        assert!("a".repeat(64).parse::<InstanceId>().is_err());
    }

    #[test]
    fn instance_id_is_lower_cased() {
        let id: InstanceId = "Orders-DB".parse().unwrap();
        assert_eq!(id, "orders-db".parse().unwrap());
        assert_eq!(id.as_str(), "orders-db");
    }

    #[test]
    fn identifier_limits_in_bytes() {
        assert!("a".repeat(63).parse::<Identifier>().is_ok());
        let err = "a"
            .repeat(64)
            .parse::<Identifier>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("64 bytes"), "{err}");
        // 21 three-byte characters = 63 bytes; 22 = 66 bytes.
        assert!("€".repeat(21).parse::<Identifier>().is_ok());
        assert!("€".repeat(22).parse::<Identifier>().is_err());
        assert!("a\0b".parse::<Identifier>().is_err());
        assert!("".parse::<Identifier>().is_err());
    }

    #[test]
    fn reserved_role_names() {
        for name in [
            "pg_monitor",
            "public",
            "none",
            "current_user",
            "session_user",
            "current_role",
        ] {
            let id: Identifier = name.parse().unwrap();
            assert!(id.is_reserved_role_name(), "{name}");
        }
        for name in ["PUBLIC", "apono_connector", "alice"] {
            let id: Identifier = name.parse().unwrap();
            assert!(!id.is_reserved_role_name(), "{name}");
        }
    }

    #[test]
    fn integration_name_rules() {
        assert!("orders_prod-2".parse::<IntegrationName>().is_ok());
        assert!("x".repeat(64).parse::<IntegrationName>().is_ok());
        assert!("x".repeat(65).parse::<IntegrationName>().is_err());
        assert!("".parse::<IntegrationName>().is_err());
        assert!("orders.prod".parse::<IntegrationName>().is_err());
        assert!("ordérs".parse::<IntegrationName>().is_err());
    }
}
