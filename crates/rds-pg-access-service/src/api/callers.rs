//! Who may call the access API: [`Callers`], read from TOML, each [`Caller`] with the SHA-256
//! of its bearer token, the integrations, [`Action`]s and access flows it may use.
//!
//! ```toml
//! [[caller]]
//! name = "portal"                          # in audit records and refusals
//! token_sha256 = "<64 hex digits>"         # sha256 of the bearer token, never the token
//! client_certificate = "portal.corp.io"    # and/or: a client certificate's SAN or CN (mTLS)
//! integrations = ["orders"]                # or ["*"]
//! actions = ["grant", "extend", "revoke", "inspect"]
//! flows = ["analysts"]                     # default ["*"]: every access flow
//! ```
//!
//! The settings never hold a token, only its hash: a leaked settings file lets nobody call
//! the API. A presented token is hashed and compared with every caller's hash in constant
//! time ([`subtle`]), so the comparison says nothing about how close a guess was.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rds_pg_access::integration_model::FlowScope;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a caller may ask of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `POST grants`.
    Grant,
    /// `POST users/{user}/extend`.
    Extend,
    /// `DELETE users/{user}`.
    Revoke,
    /// `GET users/{user}`.
    Inspect,
    /// `GET inventory`.
    Inventory,
    /// `GET check`.
    Check,
    /// Approving another caller's grant or extension: naming an approver in the body (an
    /// access platform that ran its own approval), or being the approver of the
    /// `Rdspg-Approval` header.
    Approve,
    /// Reading the status page (`/`) from off loopback (from loopback it needs no token).
    Status,
}

impl Action {
    /// Every action, in the order of the settings' documentation.
    pub const ALL: [Action; 8] = [
        Action::Grant,
        Action::Extend,
        Action::Revoke,
        Action::Inspect,
        Action::Inventory,
        Action::Check,
        Action::Approve,
        Action::Status,
    ];

    /// Its name in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Grant => "grant",
            Action::Extend => "extend",
            Action::Revoke => "revoke",
            Action::Inspect => "inspect",
            Action::Inventory => "inventory",
            Action::Check => "check",
            Action::Approve => "approve",
            Action::Status => "status",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                format!("{text:?} is not an action (one of {})", names.join(", "))
            })
    }
}

/// One caller of the API.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// Its name (audit records, refusals, approvals).
    pub name: String,
    token_sha256: Option<[u8; 32]>,
    /// The name its client certificate carries (a SAN DNS name, e-mail or URI, or the common
    /// name), with mutual TLS ([`crate::tls`]).
    pub certificate: Option<String>,
    /// The integrations it may use (`*`: every one).
    pub integrations: Vec<String>,
    /// What it may ask.
    pub actions: BTreeSet<Action>,
    /// The access flows its grants and extensions must pass.
    pub flows: FlowScope,
}

/// The token's hash is not a secret, but it is not for logs either.
impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .field("integrations", &self.integrations)
            .field("actions", &self.actions)
            .field("flows", &self.flows)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller named `name` whose bearer token hashes to `token_sha256`, allowed nothing
    /// yet.
    pub fn new(name: impl Into<String>, token_sha256: [u8; 32]) -> Self {
        Self {
            name: name.into(),
            token_sha256: Some(token_sha256),
            certificate: None,
            integrations: Vec::new(),
            actions: BTreeSet::new(),
            flows: FlowScope::Any,
        }
    }

    /// A caller named `name` whose bearer token is `token` (only its hash is kept), allowed
    /// nothing yet.
    ///
    /// ```
    /// use rds_pg_access_service::api::{Action, Caller, Callers};
    /// let callers = Callers::new().with(
    ///     Caller::for_token("ops", "a long random token")
    ///         .integration("*")
    ///         .actions([Action::Inspect]),
    /// )?;
    /// assert!(callers.authenticate("a long random token").is_some_and(|c| c.may(Action::Inspect)));
    /// # Ok::<(), rds_pg_access_service::api::CallersError>(())
    /// ```
    pub fn for_token(name: impl Into<String>, token: &str) -> Self {
        Self::new(name, Sha256::digest(token.as_bytes()).into())
    }

    /// A caller named `name` known by the name its client certificate carries (mutual TLS),
    /// allowed nothing yet.
    pub fn for_certificate(name: impl Into<String>, certificate: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            token_sha256: None,
            certificate: Some(certificate.into()),
            integrations: Vec::new(),
            actions: BTreeSet::new(),
            flows: FlowScope::Any,
        }
    }

    /// Allows `integration` (`*`: every one).
    #[must_use]
    pub fn integration(mut self, integration: impl Into<String>) -> Self {
        self.integrations.push(integration.into());
        self
    }

    /// Allows `actions`.
    #[must_use]
    pub fn actions(mut self, actions: impl IntoIterator<Item = Action>) -> Self {
        self.actions.extend(actions);
        self
    }

    /// Limits its grants and extensions to `flows`.
    #[must_use]
    pub fn flows(mut self, flows: FlowScope) -> Self {
        self.flows = flows;
        self
    }

    /// Whether it may use `integration`.
    pub fn may_use(&self, integration: &str) -> bool {
        self.integrations
            .iter()
            .any(|i| i == "*" || i == integration)
    }

    /// Whether it may ask `action`.
    pub fn may(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

/// The SHA-256 of `token`, as the settings hold it (`token_sha256`, lowercase hex).
///
/// ```
/// use rds_pg_access_service::api::token_sha256_hex;
/// assert_eq!(
///     token_sha256_hex("test"),
///     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
/// );
/// ```
pub fn token_sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why the callers' settings were refused (nothing starts with them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallersError {
    /// Not TOML of the expected shape (an unknown key, a wrong type); the message names it.
    #[error("callers settings: {0}")]
    Syntax(String),
    /// A value that is not valid; `key` names it (`caller[2].token_sha256`).
    #[error("callers settings: {key}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    caller: Vec<CallerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerEntry {
    name: String,
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    integrations: Vec<String>,
    actions: Vec<String>,
    #[serde(default)]
    flows: Option<Vec<String>>,
}

/// Every caller of the API.
#[derive(Debug, Clone, Default)]
pub struct Callers {
    callers: Vec<Caller>,
}

impl Callers {
    /// No caller: every call is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `caller`.
    ///
    /// # Errors
    /// [`CallersError::Invalid`] when its name or token hash is already taken, or its name is
    /// not 1-64 letters, digits, `.`, `_`, `@`, `-`.
    pub fn with(mut self, caller: Caller) -> Result<Self, CallersError> {
        let key = format!("caller[{}]", self.callers.len());
        check_name(&format!("{key}.name"), &caller.name)?;
        if self.callers.iter().any(|c| c.name == caller.name) {
            return Err(CallersError::Invalid {
                key: format!("{key}.name"),
                reason: format!("{:?} is the name of another caller", caller.name),
            });
        }
        if caller.token_sha256.is_none() && caller.certificate.is_none() {
            return Err(CallersError::Invalid {
                key: format!("{key}.token_sha256"),
                reason: "give token_sha256, client_certificate or both".to_owned(),
            });
        }
        if let Some(certificate) = &caller.certificate
            && self
                .callers
                .iter()
                .any(|c| c.certificate.as_ref() == Some(certificate))
        {
            return Err(CallersError::Invalid {
                key: format!("{key}.client_certificate"),
                reason: format!("{certificate:?} is another caller's certificate name"),
            });
        }
        if let Some(hash) = &caller.token_sha256
            && self
                .callers
                .iter()
                .filter_map(|c| c.token_sha256.as_ref())
                .any(|other| bool::from(other.ct_eq(hash)))
        {
            return Err(CallersError::Invalid {
                key: format!("{key}.token_sha256"),
                reason: "the same token as another caller: give each caller its own".to_owned(),
            });
        }
        self.callers.push(caller);
        Ok(self)
    }

    /// Reads the callers' TOML (see [the module docs](self)).
    ///
    /// ```
    /// use rds_pg_access_service::api::{Action, Callers, token_sha256_hex};
    /// let text = format!(
    ///     "[[caller]]\nname = \"portal\"\ntoken_sha256 = \"{}\"\nintegrations = [\"orders\"]\n\
    ///      actions = [\"grant\", \"revoke\"]\n",
    ///     token_sha256_hex("a long random token")
    /// );
    /// let callers = Callers::from_toml_str(&text)?;
    /// let portal = callers.authenticate("a long random token").expect("known token");
    /// assert_eq!(portal.name, "portal");
    /// assert!(portal.may(Action::Grant) && !portal.may(Action::Approve));
    /// assert!(callers.authenticate("a guess").is_none());
    /// # Ok::<(), rds_pg_access_service::api::CallersError>(())
    /// ```
    ///
    /// # Errors
    /// [`CallersError`] naming the key.
    pub fn from_toml_str(text: &str) -> Result<Self, CallersError> {
        let file: File =
            toml::from_str(text).map_err(|e| CallersError::Syntax(e.message().to_owned()))?;
        let mut callers = Self::new();
        for (i, entry) in file.caller.into_iter().enumerate() {
            let key = |field: &str| format!("caller[{i}].{field}");
            let hash = entry
                .token_sha256
                .as_deref()
                .map(parse_hash)
                .transpose()
                .map_err(|reason| CallersError::Invalid {
                    key: key("token_sha256"),
                    reason,
                })?;
            if let Some(certificate) = &entry.client_certificate
                && (certificate.is_empty()
                    || certificate.len() > 255
                    || certificate.chars().any(char::is_control))
            {
                return Err(CallersError::Invalid {
                    key: key("client_certificate"),
                    reason: "give the certificate's name: 1-255 printable characters".to_owned(),
                });
            }
            if entry.integrations.is_empty() {
                return Err(CallersError::Invalid {
                    key: key("integrations"),
                    reason: "list at least one (\"*\" for every integration)".to_owned(),
                });
            }
            for name in &entry.integrations {
                if name != "*" {
                    check_name(&key("integrations"), name)?;
                }
            }
            if entry.actions.is_empty() {
                return Err(CallersError::Invalid {
                    key: key("actions"),
                    reason: "list at least one".to_owned(),
                });
            }
            let mut actions = BTreeSet::new();
            for text in &entry.actions {
                actions.insert(
                    text.parse::<Action>()
                        .map_err(|reason| CallersError::Invalid {
                            key: key("actions"),
                            reason,
                        })?,
                );
            }
            let flows = match entry.flows {
                None => FlowScope::Any,
                Some(names) if names.is_empty() => {
                    return Err(CallersError::Invalid {
                        key: key("flows"),
                        reason: "list at least one (\"*\" for every flow), or leave it out"
                            .to_owned(),
                    });
                }
                Some(names) => {
                    for name in &names {
                        if name != "*" {
                            check_name(&key("flows"), name)?;
                        }
                    }
                    FlowScope::from_names(names)
                }
            };
            let caller = Caller {
                name: entry.name,
                token_sha256: hash,
                certificate: entry.client_certificate,
                integrations: entry.integrations,
                actions,
                flows,
            };
            // `with` names the entry's keys itself: `caller[i]` is the i-th caller added.
            callers = callers.with(caller)?;
        }
        Ok(callers)
    }

    /// The caller whose token is `token`, if any. Every caller's hash is compared, each in
    /// constant time.
    pub fn authenticate(&self, token: &str) -> Option<&Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for caller in &self.callers {
            if let Some(hash) = &caller.token_sha256
                && bool::from(hash.ct_eq(&presented))
            {
                found = Some(caller);
            }
        }
        found
    }

    /// The caller whose certificate name is one of `names` (the names of a client
    /// certificate the TLS layer verified), if exactly one caller's is: a certificate naming
    /// two callers identifies neither.
    pub fn by_certificate(&self, names: &[String]) -> Option<&Caller> {
        let mut found = self.callers.iter().filter(|c| {
            c.certificate
                .as_ref()
                .is_some_and(|certificate| names.contains(certificate))
        });
        match (found.next(), found.next()) {
            (Some(caller), None) => Some(caller),
            _ => None,
        }
    }

    /// How many callers there are.
    pub fn len(&self) -> usize {
        self.callers.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }
}

fn parse_hash(text: &str) -> Result<[u8; 32], String> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err(
            "give the SHA-256 of the token as 64 hex digits (`printf %s TOKEN | sha256sum`), \
             never the token itself"
                .to_owned(),
        );
    }
    let mut hash = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .unwrap_or(0)
        };
        hash[i] = (digit(pair[0]) << 4) | digit(pair[1]);
    }
    Ok(hash)
}

fn check_name(key: &str, name: &str) -> Result<(), CallersError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(CallersError::Invalid {
            key: key.to_owned(),
            reason: format!(
                "{:?}: give 1-64 letters, digits, '.', '_', '@' or '-'",
                name.chars().take(80).collect::<String>()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, token: &str, extra: &str) -> String {
        format!(
            "[[caller]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\nintegrations = [\"*\"]\n\
             actions = [\"grant\"]\n{extra}\n",
            token_sha256_hex(token)
        )
    }

    #[test]
    fn bad_settings_name_the_key() {
        let cases: Vec<(String, &str)> = vec![
            ("[[caller]]\nname = \"a\"\n".to_owned(), "missing field"),
            (entry("a", "t", "colour = 1"), "unknown field"),
            (entry("a b", "t", ""), "caller[0].name"),
            (entry("a", "t", "flows = []"), "caller[0].flows"),
            (
                entry("a", "t", "").replace("[\"grant\"]", "[\"sudo\"]"),
                "caller[0].actions",
            ),
            (
                entry("a", "t", "").replace("[\"*\"]", "[]"),
                "caller[0].integrations",
            ),
            (
                entry("a", "t", "").replace(&token_sha256_hex("t"), "t"),
                "caller[0].token_sha256",
            ),
            (entry("a", "t", "") + &entry("a", "u", ""), "caller[1].name"),
            (
                entry("a", "t", "") + &entry("b", "t", ""),
                "caller[1].token_sha256",
            ),
            (
                "[[caller]]\nname = \"a\"\nintegrations = [\"*\"]\nactions = [\"grant\"]\n"
                    .to_owned(),
                "caller[0].token_sha256",
            ),
            (
                entry("a", "t", "client_certificate = \"a.test\"")
                    + &entry("b", "u", "client_certificate = \"a.test\""),
                "caller[1].client_certificate",
            ),
            (
                entry("a", "t", "client_certificate = \"\""),
                "caller[0].client_certificate",
            ),
        ];
        for (text, wanted) in cases {
            let error = Callers::from_toml_str(&text).expect_err(&text).to_string();
            assert!(error.contains(wanted), "{text}\n=> {error}");
        }
    }

    #[test]
    fn a_token_authenticates_only_its_caller() {
        let callers =
            Callers::from_toml_str(&(entry("a", "token-a", "") + &entry("b", "token-b", "")))
                .expect("callers");
        assert_eq!(
            callers.authenticate("token-a").map(|c| c.name.as_str()),
            Some("a")
        );
        assert_eq!(
            callers.authenticate("token-b").map(|c| c.name.as_str()),
            Some("b")
        );
        assert!(callers.authenticate("token-c").is_none());
        assert!(callers.authenticate("").is_none());
        // The hash itself is not a token.
        assert!(callers.authenticate(&token_sha256_hex("token-a")).is_none());
        let debug = format!("{callers:?}");
        assert!(!debug.contains(&token_sha256_hex("token-a")), "{debug}");
    }

    #[test]
    fn a_certificate_name_finds_only_its_caller() {
        let callers = Callers::from_toml_str(
            &(entry("a", "token-a", "client_certificate = \"a.clients.test\"")
                + "[[caller]]\nname = \"b\"\nclient_certificate = \"b.clients.test\"\n\
                   integrations = [\"*\"]\nactions = [\"check\"]\n"),
        )
        .expect("callers");
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            callers
                .by_certificate(&names(&["x", "b.clients.test"]))
                .map(|c| c.name.as_str()),
            Some("b")
        );
        assert!(
            callers
                .by_certificate(&names(&["c.clients.test"]))
                .is_none()
        );
        // A caller known only by its certificate has no token to guess.
        assert!(callers.authenticate("").is_none());
    }
}
