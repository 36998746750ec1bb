//! [`GrantDocument`]: the credentials to hand over after a grant, once.

use std::collections::BTreeMap;
use std::fmt;

use integration_model::{AccessRequest, SslMode};
use pg_auth::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;

use super::errors_of;
use crate::error::error_chain;
use crate::report::GrantOutcome;

/// A secret that a document hands over: serialized in clear (that is the point of the
/// document), `[redacted]` in `Debug` and `Display`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The secret's text.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A string.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Secret")
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

/// Where and how the user connects on one instance.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct InstanceAccess {
    /// The instance.
    pub instance: String,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// A `postgresql://` URI (with the password when there is one to hand over).
    pub uri: Secret,
    /// Whether the grant succeeded there.
    pub ok: bool,
}

/// Whether a role a failed grant had created was removed again.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Undone {
    /// It was removed.
    pub removed: bool,
    /// Why not, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What [`AccessManager::grant`](crate::AccessManager::grant) hands over: the user, its
/// password (only after a complete grant with password authentication), where to connect
/// (one `postgresql://` URI per instance, the first one also at the top), the expiry, and per
/// instance what failed and what was undone.
///
/// ```
/// # use rds_pg_access::GrantOutcome;
/// # fn demo(outcome: &GrantOutcome, request: &rds_pg_access::integration_model::AccessRequest) -> Result<(), serde_json::Error> {
/// use rds_pg_access::document::GrantDocument;
/// use rds_pg_access::integration_model::SslMode;
///
/// let doc = GrantDocument::new(outcome, request, SslMode::VerifyFull);
/// println!("{}", serde_json::to_string_pretty(&doc)?); // what `rdspg grant --output json` prints
/// print!("{}", doc.to_text()); // what `rdspg grant` prints
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GrantDocument {
    /// The database user.
    pub user: String,
    /// Its password: only after a complete grant, with password authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Why no password is handed out to a user that has one (it keeps it: in use by its other
    /// active access, or not due under `credentials_rotation_days`); see
    /// [`PasswordKept`](crate::PasswordKept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_kept: Option<crate::report::PasswordKept>,
    /// The first instance's host.
    pub host: Option<String>,
    /// The first instance's port.
    pub port: Option<u16>,
    /// The database of the request's first resource.
    pub database: String,
    /// The `sslmode` to connect with (the integration's).
    pub sslmode: String,
    /// When access ends (RFC 3339).
    pub expires_at: String,
    /// The access level.
    pub level: String,
    /// The first instance's URI.
    pub uri: Option<Secret>,
    /// The request id recorded on the role.
    pub request_id: String,
    /// Per instance of the request.
    pub instances: Vec<InstanceAccess>,
    /// The instances that failed, with why.
    pub errors: BTreeMap<String, String>,
    /// After a failed grant, per instance where the request had created the role: whether it
    /// was removed again.
    pub undone: BTreeMap<String, Undone>,
    #[serde(skip)]
    complete: bool,
}

/// `postgresql://` userinfo and path escaping (RFC 3986: unreserved characters stay).
fn uri_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl GrantDocument {
    /// The document of `outcome`, for `request`, connecting with `ssl_mode`.
    pub fn new(outcome: &GrantOutcome, request: &AccessRequest, ssl_mode: SslMode) -> Self {
        let database = request
            .resources()
            .first()
            .map(|r| r.resource().database_name().to_string())
            .unwrap_or_default();
        // None unless every instance succeeded: a failed grant hands out no credential.
        let password = outcome
            .password
            .as_ref()
            .filter(|_| outcome.is_complete())
            .map(|p| p.expose_secret().to_owned());
        let userinfo = match &password {
            Some(p) => format!("{}:{}", uri_escape(outcome.user.as_str()), uri_escape(p)),
            None => uri_escape(outcome.user.as_str()),
        };
        let instances: Vec<InstanceAccess> = outcome
            .endpoints
            .iter()
            .map(|(instance, endpoint)| {
                let host = match endpoint.host().ip() {
                    Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                    _ => endpoint.host().as_str().to_owned(),
                };
                let uri = format!(
                    "postgresql://{userinfo}@{host}:{}/{}?sslmode={ssl_mode}",
                    endpoint.port(),
                    uri_escape(&database)
                );
                InstanceAccess {
                    instance: instance.to_string(),
                    host: endpoint.host().as_str().to_owned(),
                    port: endpoint.port(),
                    uri: Secret(uri.into()),
                    ok: outcome
                        .instances
                        .results
                        .get(instance)
                        .is_some_and(Result::is_ok),
                }
            })
            .collect();
        let first = instances.first();
        Self {
            user: outcome.user.to_string(),
            host: first.map(|i| i.host.clone()),
            port: first.map(|i| i.port),
            uri: first.map(|i| i.uri.clone()),
            password: password.map(|p| Secret(p.into())),
            password_kept: outcome.password_kept.clone(),
            database,
            sslmode: ssl_mode.to_string(),
            expires_at: outcome
                .expires_at
                .format(&Rfc3339)
                .unwrap_or_else(|_| outcome.expires_at.to_string()),
            level: outcome.level.to_string(),
            request_id: outcome.request_id.clone(),
            errors: errors_of(&outcome.instances),
            undone: outcome
                .undone
                .iter()
                .map(|(instance, result)| {
                    let undone = match result {
                        Ok(()) => Undone {
                            removed: true,
                            error: None,
                        },
                        Err(e) => Undone {
                            removed: false,
                            error: Some(error_chain(e)),
                        },
                    };
                    (instance.to_string(), undone)
                })
                .collect(),
            instances,
            complete: outcome.is_complete(),
        }
    }

    /// Whether every instance succeeded (only then is there a credential).
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

impl GrantDocument {
    /// The text form: one `key: value` per line, then a line per undone role and per
    /// instance. It holds the password in clear (it is the hand-over), which is why this is
    /// a method and not `Display`: formatting the document never shows a secret by accident.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut text);
        text
    }

    fn write_text(&self, f: &mut impl fmt::Write) -> fmt::Result {
        writeln!(f, "user:       {}", self.user)?;
        match &self.password {
            Some(p) => writeln!(f, "password:   {}", p.expose())?,
            None if self.password_kept.is_some() && self.complete => {
                if let Some(kept) = &self.password_kept {
                    writeln!(f, "password:   {kept}")?;
                }
            }
            None if !self.complete => {
                writeln!(
                    f,
                    "password:   none (the grant failed; nothing to hand over)"
                )?;
            }
            None => writeln!(
                f,
                "password:   none (IAM: log in with `rdspg token --user {}`)",
                self.user
            )?,
        }
        writeln!(f, "database:   {}", self.database)?;
        writeln!(f, "sslmode:    {}", self.sslmode)?;
        writeln!(f, "expires at: {}", self.expires_at)?;
        for (instance, undone) in &self.undone {
            match &undone.error {
                None => writeln!(
                    f,
                    "{instance}: the role this request created was removed again"
                )?,
                Some(e) => writeln!(
                    f,
                    "{instance}: the role this request created could NOT be removed: {e}"
                )?,
            }
        }
        for instance in &self.instances {
            writeln!(
                f,
                "{}: {} {}",
                instance.instance,
                if instance.ok { "granted" } else { "FAILED" },
                instance.uri.expose()
            )?;
        }
        Ok(())
    }
}
