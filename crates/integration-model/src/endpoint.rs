//! Fixed network addresses: host names, IP addresses and `host:port` endpoints.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::ModelError;
use crate::text::serde_via_str;

/// A host: an IPv4 address, an IPv6 address or a DNS name.
///
/// DNS names: labels of 1-63 ASCII letters, digits, `-` (not at either end) or `_` (some
/// private zones use it), at most 253 characters, an optional final dot, and a last label
/// that is not all digits. IPv6 addresses may be written with or without `[ ]`; Display
/// writes them bare (`::1`), and [`Endpoint`] adds the brackets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host {
    text: String,
    ip: Option<IpAddr>,
}

impl Host {
    /// The host as text (IPv6 without brackets).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address, when the host is an IP address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    fn is_ipv6(&self) -> bool {
        matches!(self.ip, Some(IpAddr::V6(_)))
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Host").field(&self.text).finish()
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Self {
            text: ip.to_string(),
            ip: Some(ip),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Host {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "host";
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return match inner.parse::<Ipv6Addr>() {
                Ok(ip) => Ok(Self::from(IpAddr::V6(ip))),
                Err(_) => Err(ModelError::invalid(
                    KEY,
                    text,
                    "is not an IPv6 address inside [ ]",
                )),
            };
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::from(ip));
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        if name.is_empty() {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is empty; give a DNS name or an IP address",
            ));
        }
        if text.len() > 253 {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is longer than 253 characters",
            ));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "has a DNS label that is empty or longer than 63 characters",
                ));
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!(
                        "contains {bad:?}; a host is a DNS name (letters, digits, '-', '.') or an IP address"
                    ),
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "has a DNS label that starts or ends with '-'",
                ));
            }
        }
        if name
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is neither an IP address nor a DNS name (its last label is all digits)",
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            ip: None,
        })
    }
}

serde_via_str!(Host);

/// A host and TCP port. Text form: `host:port`, with IPv6 in brackets: `[::1]:5432`.
///
/// ```
/// use integration_model::Endpoint;
/// let e: Endpoint = "[::1]:5432".parse()?;
/// assert_eq!(e.port(), 5432);
/// assert_eq!(e.host().as_str(), "::1");
/// assert_eq!(e.to_string(), "[::1]:5432");
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    host: Host,
    port: u16,
}

impl Endpoint {
    /// An endpoint; port 0 is refused.
    pub fn new(host: Host, port: u16) -> Result<Self, ModelError> {
        if port == 0 {
            return Err(ModelError::invalid_bare(
                "port",
                port,
                "is not a TCP port (1..=65535)",
            ));
        }
        Ok(Self { host, port })
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The TCP port (never 0).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_ipv6() {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "endpoint";
        let (host, port) = if text.starts_with('[') {
            let Some((host, rest)) = text.split_once(']') else {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "has '[' without ']'; write [IPv6]:port",
                ));
            };
            let Some(port) = rest.strip_prefix(':') else {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "needs a port after ']': [IPv6]:port",
                ));
            };
            (format!("{host}]"), port)
        } else {
            let Some((host, port)) = text.rsplit_once(':') else {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "needs a port: write host:port",
                ));
            };
            if host.contains(':') {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    "has an IPv6 address without brackets; write [::1]:5432",
                ));
            }
            (host.to_owned(), port)
        };
        let host: Host = host.parse().map_err(|e| {
            ModelError::invalid(
                KEY,
                text,
                format!("has a bad host: {}", crate::resource::reason_of(e)),
            )
        })?;
        let port: u16 = match port.parse::<u16>() {
            // `+5432` and `05432` parse as numbers but would not round-trip: refuse them.
            Ok(number) if number > 0 && number.to_string() == port => number,
            _ => {
                return Err(ModelError::invalid(
                    KEY,
                    text,
                    format!(
                        "has port {}, which is not 1..=65535",
                        crate::error::quote(port)
                    ),
                ));
            }
        };
        Self::new(host, port)
    }
}

serde_via_str!(Endpoint);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let cases = [
            ("127.0.0.1:5432", "127.0.0.1", 5432),
            ("[::1]:5432", "::1", 5432),
            (
                "orders-db.abc123.us-east-1.rds.amazonaws.com:5432",
                "orders-db.abc123.us-east-1.rds.amazonaws.com",
                5432,
            ),
            ("localhost:15432", "localhost", 15432),
        ];
        for (text, host, port) in cases {
            let e: Endpoint = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(e.host().as_str(), host);
            assert_eq!(e.port(), port);
            assert_eq!(e.to_string(), text);
        }
        for bad in [
            "::1:5432",
            "localhost",
            "localhost:0",
            "localhost:65536",
            "localhost:+5",
            "localhost:05",
            "[::1]5432",
            "a b:1",
            ":5432",
            "1.2.3:5432",
            "-a:1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!("[::1]".parse::<Host>().unwrap().as_str(), "::1");
        assert!("::1".parse::<Host>().unwrap().ip().is_some());
        assert!("db.internal.".parse::<Host>().is_ok());
        assert!("my_host.corp".parse::<Host>().is_ok());
        assert!("".parse::<Host>().is_err());
        assert!("a..b".parse::<Host>().is_err());
    }
}
