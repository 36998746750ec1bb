//! A secret's value and its version stages: what Secrets Manager stores for a database login
//! ([`RdsSecret`]) and the stage labels a rotation moves ([`AWSCURRENT`], [`AWSPENDING`],
//! [`AWSPREVIOUS`]). Both the credential source and the rotation read them from here.
//!
//! Stage names as Secrets Manager defines them:
//! <https://docs.aws.amazon.com/secretsmanager/latest/userguide/whats-in-a-secret.html#term_version>

use std::fmt;

use secrecy::SecretString;

use crate::AuthError;

/// The stage of the version in use; read unless another stage is configured.
pub const AWSCURRENT: &str = "AWSCURRENT";

/// The stage of the version being rotated in: written, not yet current.
pub const AWSPENDING: &str = "AWSPENDING";

/// The stage Secrets Manager moves to the version `AWSCURRENT` left.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A secret as RDS stores it (`username`, `password`, `host`, `port`, `dbname`, `engine`),
/// or a plain-string password with the user name from the source's configuration.
///
/// `Debug` redacts the password.
#[derive(Clone)]
#[non_exhaustive]
pub struct RdsSecret {
    /// Database user.
    pub username: String,
    /// Its password.
    pub password: SecretString,
    /// Endpoint host, when the secret names one.
    pub host: Option<String>,
    /// Endpoint port, when the secret names one.
    pub port: Option<u16>,
    /// Database name, when the secret names one.
    pub dbname: Option<String>,
    /// Engine (`postgres`), when the secret names one.
    pub engine: Option<String>,
}

impl fmt::Debug for RdsSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdsSecret")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("engine", &self.engine)
            .finish()
    }
}

impl RdsSecret {
    /// Parses a `SecretString`: RDS JSON when it is a JSON object, otherwise a plain password
    /// for `fallback_user`. Errors name the missing field, never the value.
    pub fn parse(
        secret_id: &str,
        text: &str,
        fallback_user: Option<&str>,
    ) -> Result<Self, AuthError> {
        let format_error = |reason: String| AuthError::SecretFormat {
            secret_id: secret_id.to_owned(),
            reason,
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                format_error(format!(
                    "it looks like JSON but does not parse (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            let field = |name: &str| value.get(name);
            let string_field = |name: &'static str| -> Result<Option<String>, AuthError> {
                match field(name) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(format_error(format!("field \"{name}\" is not a string"))),
                }
            };
            let password = string_field("password")?
                .ok_or_else(|| format_error("the JSON has no \"password\" field".into()))?;
            let username = match (string_field("username")?, fallback_user) {
                (Some(u), _) => u,
                (None, Some(u)) => u.to_owned(),
                (None, None) => {
                    return Err(format_error(
                        "the JSON has no \"username\" field and no user is configured".into(),
                    ));
                }
            };
            check_user(&username).map_err(format_error)?;
            check_password(&password).map_err(format_error)?;
            let not_a_port =
                || format_error("field \"port\" is not a port number (1-65535)".into());
            let port = match field("port") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => Some(
                    n.as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|p| *p > 0)
                        .ok_or_else(not_a_port)?,
                ),
                Some(serde_json::Value::String(s)) => Some(
                    s.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(not_a_port)?,
                ),
                Some(_) => return Err(not_a_port()),
            };
            Ok(Self {
                username,
                password: password.into(),
                host: string_field("host")?,
                port,
                dbname: string_field("dbname")?,
                engine: string_field("engine")?,
            })
        } else {
            let username = fallback_user.ok_or_else(|| {
                format_error(
                    "it is a plain string (a password only): configure the user name with SecretsManagerSource::with_user".into(),
                )
            })?;
            if text.is_empty() {
                return Err(format_error("the secret string is empty".into()));
            }
            check_user(username).map_err(format_error)?;
            check_password(text).map_err(format_error)?;
            Ok(Self {
                username: username.to_owned(),
                password: text.to_owned().into(),
                host: None,
                port: None,
                dbname: None,
                engine: None,
            })
        }
    }
}

/// A user name PostgreSQL can receive: not empty, no NUL character (from the secret's
/// `username`, or the configured user when the secret has none).
fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.contains('\0') {
        return Err(
            "the user name (field \"username\", or the configured user) is empty or has a NUL character"
                .into(),
        );
    }
    Ok(())
}

/// A password PostgreSQL can receive: not empty, no NUL character (the protocol sends it as a
/// C string). The reason never holds the password.
fn check_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("field \"password\" is empty".into());
    }
    if password.contains('\0') {
        return Err(
            "the password contains a NUL character, which PostgreSQL cannot receive".into(),
        );
    }
    Ok(())
}

/// A secret name or ARN that is not blank.
pub(crate) fn checked_secret_id(secret_id: String) -> Result<String, AuthError> {
    if secret_id.trim().is_empty() {
        return Err(AuthError::InvalidConfig {
            field: "secret_id",
            reason: "the secret name or ARN is empty".into(),
        });
    }
    Ok(secret_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_rds_json_shape() {
        // Shape documented at https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html
        let s = RdsSecret::parse(
            "id",
            r#"{"engine":"postgres","host":"db.x","username":"conn","password":"pw","dbname":"appdb","port":5432}"#,
            None,
        )
        .unwrap();
        assert_eq!(s.username, "conn");
        assert_eq!(s.password.expose_secret(), "pw");
        assert_eq!(s.port, Some(5432));
        assert_eq!(s.host.as_deref(), Some("db.x"));
        assert_eq!(s.dbname.as_deref(), Some("appdb"));
        assert_eq!(s.engine.as_deref(), Some("postgres"));
        let s = RdsSecret::parse(
            "id",
            r#"{"username":"c","password":"p","port":"6543"}"#,
            None,
        )
        .unwrap();
        assert_eq!(s.port, Some(6543));
    }

    proptest::proptest! {
        /// Any text parses or fails with SecretFormat; an error never contains the text.
        #[test]
        fn parse_never_panics_or_echoes(text in "\\PC{0,60}", json_pw in "[a-z]{12,20}") {
            if let Err(e) = RdsSecret::parse("id", &text, None) {
                let is_format_error = matches!(e, AuthError::SecretFormat { .. });
                proptest::prop_assert!(is_format_error);
            }
            let doc = format!("{{\"username\": 7, \"password\": \"{json_pw}\"}}");
            let err = RdsSecret::parse("id", &doc, None).unwrap_err();
            proptest::prop_assert!(!err.to_string().contains(&json_pw));
        }
    }

    /// Hostile-input fuzzing (RELIABILITY.md) found these accepted: an empty password or user
    /// name and a NUL character failed only at login, port 0 was taken as a port.
    #[test]
    fn empty_or_nul_credentials_and_port_zero_are_format_errors() {
        for (text, reason) in [
            (r#"{"username":"c","password":""}"#, "\"password\" is empty"),
            (r#"{"username":"c","password":"top\u0000secret"}"#, "NUL"),
            (r#"{"username":"","password":"topsecret"}"#, "\"username\""),
            (
                r#"{"username":"c\u0000d","password":"topsecret"}"#,
                "\"username\"",
            ),
            (
                r#"{"username":"c","password":"topsecret","port":0}"#,
                "\"port\"",
            ),
            (
                r#"{"username":"c","password":"topsecret","port":"0"}"#,
                "\"port\"",
            ),
        ] {
            let err = RdsSecret::parse("id", text, None).unwrap_err();
            assert!(
                matches!(err, AuthError::SecretFormat { .. }),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(reason), "{text}: {err}");
            assert!(!err.to_string().contains("topsecret"), "{err}");
            assert!(!err.to_string().contains("secret\0"), "{err}");
        }
        let err = RdsSecret::parse("id", "top\0secret", Some("conn")).unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(!err.to_string().contains("top"), "{err}");
        // The fuzz run's find: an empty configured user with a plain-string secret.
        for user in ["", "a\0b"] {
            let err = RdsSecret::parse("id", "\u{1}", Some(user)).unwrap_err();
            assert!(err.to_string().contains("user name"), "{err}");
            let err =
                RdsSecret::parse("id", r#"{"password":"topsecret"}"#, Some(user)).unwrap_err();
            assert!(err.to_string().contains("user name"), "{err}");
        }
    }

    #[test]
    fn plain_string_needs_user() {
        let err = RdsSecret::parse("id", "hunter2", None).unwrap_err();
        assert!(err.to_string().contains("with_user"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let s = RdsSecret::parse("id", "hunter2", Some("conn")).unwrap();
        assert_eq!(s.username, "conn");
        assert_eq!(s.password.expose_secret(), "hunter2");
    }

    #[test]
    fn bad_json_errors_never_echo_the_value() {
        for text in [
            r#"{"username":"c"}"#,
            r#"{"username":"c","password":"topsecret","port":99999}"#,
            r#"{"username":"c","password":"topsecret""#,
            r#"{"username":5,"password":"topsecret"}"#,
        ] {
            let err = RdsSecret::parse("id", text, None).unwrap_err();
            assert!(!err.to_string().contains("topsecret"), "{err}");
            assert!(matches!(err, AuthError::SecretFormat { .. }));
        }
    }
}
