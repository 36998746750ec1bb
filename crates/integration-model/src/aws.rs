//! Optional AWS client settings: an endpoint URL (for emulators such as moto) and a profile.

use std::str::FromStr;

use crate::text::string_newtype;
use crate::{Host, ModelError};

/// An `http://` or `https://` URL with a host, an optional port and an optional path, such as
/// `http://127.0.0.1:5055`. Used instead of the AWS service endpoints (tests, emulators,
/// VPC endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsEndpointUrl(String);

impl FromStr for AwsEndpointUrl {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "aws.endpoint_url";
        let Some(rest) = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"))
        else {
            return Err(ModelError::invalid(
                KEY,
                text,
                "must start with http:// or https://",
            ));
        };
        if let Some(bad) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(ModelError::invalid(KEY, text, format!("contains {bad:?}")));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(ModelError::invalid(
                KEY,
                text,
                "must not carry user information (user@host)",
            ));
        }
        // Split host and port; an IPv6 host is in brackets.
        let (host, port) = if authority.starts_with('[') {
            match authority.split_once(']') {
                Some((host, rest)) => (format!("{host}]"), rest.strip_prefix(':')),
                None => return Err(ModelError::invalid(KEY, text, "has '[' without ']'")),
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        host.parse::<Host>().map_err(|e| {
            ModelError::invalid(
                KEY,
                text,
                format!("has a bad host: {}", crate::resource::reason_of(e)),
            )
        })?;
        if let Some(port) = port {
            let ok = port
                .parse::<u16>()
                .is_ok_and(|p| p > 0 && p.to_string() == port);
            if !ok {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!(
                        "has port {}, which is not 1..=65535",
                        crate::error::quote(port)
                    ),
                ));
            }
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(AwsEndpointUrl);

/// A profile name from the AWS shared config files: 1 to 128 characters, no whitespace,
/// control characters or brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AwsProfile(String);

impl FromStr for AwsProfile {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "aws.profile";
        if text.is_empty() {
            return Err(ModelError::invalid(KEY, text, "is empty"));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '[' | ']'))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("contains {bad:?}; profile names have no spaces or brackets"),
            ));
        }
        if text.chars().count() > 128 {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is longer than 128 characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(AwsProfile);

/// The optional `[aws]` table: where and as whom the AWS clients talk.
///
/// Serialises as the table: `{"endpoint_url": "…", "profile": "…"}`, absent keys left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct AwsSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<AwsEndpointUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<AwsProfile>,
}

impl AwsSettings {
    /// Settings with the given endpoint URL and profile.
    pub fn new(endpoint_url: Option<AwsEndpointUrl>, profile: Option<AwsProfile>) -> Self {
        Self {
            endpoint_url,
            profile,
        }
    }

    /// The endpoint URL used instead of the AWS service endpoints.
    pub fn endpoint_url(&self) -> Option<&AwsEndpointUrl> {
        self.endpoint_url.as_ref()
    }

    /// The shared-config profile to load credentials from.
    pub fn profile(&self) -> Option<&AwsProfile> {
        self.profile.as_ref()
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.endpoint_url.is_none() && self.profile.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        for ok in [
            "http://127.0.0.1:5055",
            "https://rds.us-east-1.amazonaws.com",
            "http://[::1]:5055/",
            "http://moto:5000/x",
        ] {
            assert!(ok.parse::<AwsEndpointUrl>().is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1:5055",
            "ftp://x",
            "http://",
            "http://a b",
            "http://h:0",
            "http://u@h",
            "http://h:99999",
        ] {
            assert!(bad.parse::<AwsEndpointUrl>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn profiles() {
        assert!("ops".parse::<AwsProfile>().is_ok());
        assert!("ops team".parse::<AwsProfile>().is_err());
        assert!("".parse::<AwsProfile>().is_err());
    }
}
