//! How the connector authenticates, and where its password lives.

use std::fmt;
use std::str::FromStr;

use crate::error::quote;
use crate::text::{keyword_enum, serde_via_str, string_newtype};
use crate::{ModelError, Region};

keyword_enum! {
    /// How the connector user logs in; the same method the user was created with.
    pub enum AuthType ("auth") {
        /// IAM database authentication: a signed 15-minute token, no secret.
        Iam = "iam",
        /// Built-in user/password authentication; the password lives in a secret.
        Password = "password",
    }
}

/// The name or ARN of an AWS Secrets Manager secret.
///
/// A name has 1 to 512 ASCII letters, digits and `/ _ + = . @ -` (Secrets Manager
/// `CreateSecret` rules). An ARN is `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`
/// (complete or partial, i.e. with or without the 6-character suffix AWS appends).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretId(String);

impl SecretId {
    /// Whether this is an ARN rather than a name.
    pub fn is_arn(&self) -> bool {
        self.0.starts_with("arn:")
    }

    /// The region in the ARN, for ARNs.
    pub fn arn_region(&self) -> Option<Region> {
        let mut parts = self.0.splitn(6, ':');
        let region = parts.nth(3)?;
        if self.is_arn() {
            region.parse().ok()
        } else {
            None
        }
    }
}

fn secret_name_error(key: &str, text: &str, name: &str) -> Option<ModelError> {
    if name.is_empty() {
        return Some(ModelError::invalid(key, text, "has an empty secret name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Some(ModelError::invalid(
            key,
            text,
            format!("contains {bad:?}; secret names hold ASCII letters, digits and / _ + = . @ -"),
        ));
    }
    if name.len() > 512 {
        return Some(ModelError::invalid(
            key,
            text,
            "has a secret name longer than 512 characters",
        ));
    }
    None
}

impl FromStr for SecretId {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "secret id";
        if let Some(rest) = text.strip_prefix("arn:") {
            let shape = "is not a Secrets Manager ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)";
            let parts: Vec<&str> = rest.splitn(6, ':').collect();
            let [partition, service, region, account, kind, name] = parts.as_slice() else {
                return Err(ModelError::invalid(KEY, text, shape));
            };
            if partition.parse::<crate::Partition>().is_err() {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!("{shape}: unknown partition {}", quote(partition)),
                ));
            }
            if *service != "secretsmanager" || *kind != "secret" {
                return Err(ModelError::invalid(KEY, text, shape));
            }
            let region: Region = region.parse().map_err(|_| {
                ModelError::invalid(KEY, text, format!("{shape}: bad region {}", quote(region)))
            })?;
            if region.partition().as_str() != *partition {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!("names region {region} which is not in partition {partition:?}"),
                ));
            }
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!("{shape}: the account must be 12 digits"),
                ));
            }
            if let Some(err) = secret_name_error(KEY, text, name) {
                return Err(err);
            }
            if text.len() > 2048 {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "is longer than 2048 characters",
                ));
            }
        } else if let Some(err) = secret_name_error(KEY, text, text) {
            return Err(err);
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(SecretId);

/// The name of an environment variable: a letter or `_`, then letters, digits or `_`
/// (POSIX portable names), at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvVarName(String);

impl FromStr for EnvVarName {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "environment variable";
        let rule = "(use a letter or '_' then letters, digits or '_')";
        let Some(first) = text.chars().next() else {
            return Err(ModelError::invalid(KEY, text, format!("is empty {rule}")));
        };
        if !(first.is_ascii_alphabetic() || first == '_') {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("must start with a letter or '_' {rule}"),
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("contains {bad:?} {rule}"),
            ));
        }
        if text.len() > 255 {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is longer than 255 characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(EnvVarName);

/// Where the connector's password is kept. It only ever holds a *name*, never the secret
/// value, so it is safe to print.
///
/// Text form: the secret's name or ARN, or `env:NAME` for an environment variable
/// (unambiguous: secret names cannot contain `:`).
///
/// ```
/// use integration_model::SecretRef;
/// let s: SecretRef = "env:ORDERS_PW".parse()?;
/// assert!(matches!(s, SecretRef::Env(_)));
/// let s: SecretRef = "rds/orders".parse()?;
/// assert!(matches!(s, SecretRef::SecretsManager(_)));
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretRef {
    /// An AWS Secrets Manager secret holding the RDS JSON shape (`username`, `password`, ...).
    SecretsManager(SecretId),
    /// An environment variable holding the password (for local use and tests).
    Env(EnvVarName),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretsManager(id) => f.write_str(id.as_str()),
            Self::Env(name) => write!(f, "env:{name}"),
        }
    }
}

impl FromStr for SecretRef {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.strip_prefix("env:") {
            Some(name) => Ok(Self::Env(name.parse()?)),
            None => Ok(Self::SecretsManager(text.parse()?)),
        }
    }
}

serde_via_str!(SecretRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids() {
        // Source: Secrets Manager CreateSecret (Name) and the ARN format in the IAM reference.
        let ok = [
            "rds/orders",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf",
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x",
            "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x",
        ];
        for text in ok {
            let id: SecretId = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(id.to_string(), text);
        }
        let bad = [
            "",
            "has space",
            "arn:aws:secretsmanager:us-east-1:123:secret:x",
            "arn:aws:s3:us-east-1:123456789012:secret:x",
            "arn:aws:secretsmanager:cn-north-1:123456789012:secret:x",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            "arn:aws:secretsmanager:us-east-1",
        ];
        for text in bad {
            assert!(text.parse::<SecretId>().is_err(), "{text:?} accepted");
        }
        let arn: SecretId = ok[1].parse().unwrap();
        assert_eq!(arn.arn_region().unwrap().as_str(), "us-east-1");
        assert!(ok[0].parse::<SecretId>().unwrap().arn_region().is_none());
    }

    #[test]
    fn env_names() {
        assert!("ORDERS_PW".parse::<EnvVarName>().is_ok());
        assert!("_x1".parse::<EnvVarName>().is_ok());
        assert!("1X".parse::<EnvVarName>().is_err());
        assert!("A-B".parse::<EnvVarName>().is_err());
        assert!("".parse::<EnvVarName>().is_err());
    }

    #[test]
    fn secret_ref_round_trip() {
        for text in ["env:ORDERS_PW", "rds/orders"] {
            assert_eq!(text.parse::<SecretRef>().unwrap().to_string(), text);
        }
        assert!("env:".parse::<SecretRef>().is_err());
    }
}
