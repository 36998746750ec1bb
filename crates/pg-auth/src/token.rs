//! IAM database authentication tokens, signed exactly as botocore's `generate_db_auth_token`.
//!
//! A token is a SigV4-presigned `GET https://HOST:PORT/?Action=connect&DBUser=USER` for the
//! service `rds-db`, valid for 900 seconds, without its `https://` prefix. The query is
//! percent-encoded the way botocore does it (`urllib.parse.quote(value, safe="-_.~")` on UTF-8),
//! so user names containing `+`, `@` or non-ASCII letters name the same user and carry the same
//! signature as a token made by the AWS CLI
//! (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html>).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use secrecy::SecretString;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::clock::{SharedClock, system_clock};
use crate::{AuthError, Clock, Credential, CredentialSource};

/// How long RDS accepts an IAM auth token after it was signed (`X-Amz-Expires=900`).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Default time before a cached token's expiry at which [`IamTokenSource`] signs a new one.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// What a token is for: endpoint, database user and region. Validated on construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    host: String,
    port: u16,
    user: String,
    region: String,
}

impl TokenRequest {
    /// Checks the four inputs of a token.
    ///
    /// `host` must be a DNS name or IPv4 literal (no scheme, path or port), `port` non-zero,
    /// `user` non-empty, `region` a non-empty lowercase identifier such as `eu-west-1`.
    ///
    /// ```
    /// let req = pg_auth::TokenRequest::new("db.example.eu-west-1.rds.amazonaws.com", 5432, "bob+ops@corp.io", "eu-west-1")?;
    /// assert_eq!(req.user(), "bob+ops@corp.io");
    /// assert!(pg_auth::TokenRequest::new("https://db", 5432, "bob", "eu-west-1").is_err());
    /// # Ok::<(), pg_auth::AuthError>(())
    /// ```
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        region: impl Into<String>,
    ) -> Result<Self, AuthError> {
        let (host, user, region) = (host.into(), user.into(), region.into());
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(AuthError::InvalidConfig {
                field: "host",
                reason: format!(
                    "{host:?} is not a host name: give the endpoint address only, without scheme, port or path"
                ),
            });
        }
        if port == 0 {
            return Err(AuthError::InvalidConfig {
                field: "port",
                reason: "port 0 is not a database port".into(),
            });
        }
        if user.is_empty() {
            return Err(AuthError::InvalidConfig {
                field: "user",
                reason: "the database user name is empty".into(),
            });
        }
        // The settings' own rule (a known partition prefix, a direction, a number): a token
        // signed for a region that does not exist is refused by RDS only at login.
        if let Err(e) = region.parse::<integration_model::Region>() {
            return Err(AuthError::InvalidConfig {
                field: "region",
                reason: integration_model::error_chain(&e),
            });
        }
        Ok(Self {
            host,
            port,
            user,
            region,
        })
    }

    /// Endpoint host.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// Endpoint port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Database user the token logs in as.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// AWS region of the instance.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// Percent-encodes like Python's `urllib.parse.quote(s, safe="-_.~")` (what botocore uses).
fn botocore_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(match nibble {
        0..=9 => b'0' + nibble,
        _ => b'A' + (nibble - 10),
    })
}

/// Signs an IAM auth token for `request` with `credentials` at the instant `at`.
///
/// Pure function: same inputs, same token (byte for byte what botocore's
/// `generate_db_auth_token` returns for them). The token is valid for [`TOKEN_LIFETIME`]
/// from `at`, and not beyond the expiry of temporary `credentials`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aws_credential_types::Credentials;
/// use secrecy::ExposeSecret;
///
/// let req = pg_auth::TokenRequest::new("db.abc.eu-west-1.rds.amazonaws.com", 5432, "bob+ops@corp.io", "eu-west-1")?;
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "example");
/// let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let token = pg_auth::generate_auth_token(&req, &creds, at)?;
/// assert!(token.expose_secret().starts_with(
///     "db.abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=bob%2Bops%40corp.io&X-Amz-Algorithm=AWS4-HMAC-SHA256"));
/// # Ok::<(), pg_auth::AuthError>(())
/// ```
pub fn generate_auth_token(
    request: &TokenRequest,
    credentials: &Credentials,
    at: SystemTime,
) -> Result<SecretString, AuthError> {
    let signing_error = |source: Box<dyn std::error::Error + Send + Sync>| AuthError::Signing {
        host: request.host.clone(),
        port: request.port,
        source,
    };
    let user = botocore_quote(&request.user);
    let url = format!(
        "https://{}:{}/?Action=connect&DBUser={user}",
        request.host, request.port
    );
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&request.region)
        .name("rds-db")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| signing_error(Box::new(e)))?;
    // botocore hashes the (empty) body rather than using UNSIGNED-PAYLOAD for this presign.
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::empty(),
    )
    .map_err(|e| signing_error(Box::new(e)))?;
    // aws-sigv4 traces the canonical request, which holds the session token: sign with
    // tracing switched off for this (synchronous) call so no subscriber ever sees it.
    let signed = tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
        sign(signable, &params.into())
    });
    let (instructions, _signature) = signed.map_err(|e| signing_error(Box::new(e)))?.into_parts();
    let (_headers, query) = instructions.into_parts();

    // botocore's order: operation params, then auth params, then the signature.
    const ORDER: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    let mut token = format!(
        "{}:{}/?Action=connect&DBUser={user}",
        request.host, request.port
    );
    for name in ORDER {
        if let Some((_, value)) = query.iter().find(|(n, _)| *n == name) {
            token.push('&');
            token.push_str(name);
            token.push('=');
            token.push_str(&botocore_quote(value));
        } else if name != "X-Amz-Security-Token" {
            return Err(signing_error(
                format!("the signer produced no {name} parameter").into(),
            ));
        }
    }
    Ok(SecretString::from(token))
}

/// A [`CredentialSource`] that hands out IAM auth tokens, cached and re-signed before expiry.
///
/// AWS credentials come from any [`ProvideCredentials`] (by default the standard chain of
/// `aws-config`). A token is reused until `refresh_margin` before it expires; concurrent callers
/// wait for one shared refresh instead of each signing their own.
pub struct IamTokenSource {
    request: TokenRequest,
    provider: SharedCredentialsProvider,
    clock: SharedClock,
    refresh_margin: Duration,
    cached: Mutex<Option<Credential>>,
}

impl fmt::Debug for IamTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamTokenSource")
            .field("request", &self.request)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl IamTokenSource {
    /// A source for `request` with the given AWS credentials provider.
    pub fn new(request: TokenRequest, provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            request,
            provider: SharedCredentialsProvider::new(provider),
            clock: system_clock(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            cached: Mutex::new(None),
        }
    }

    /// A source whose AWS credentials come from the standard chain of `aws-config`
    /// (environment, profile, SSO, web identity, container and instance metadata).
    pub async fn from_default_chain(request: TokenRequest) -> Result<Self, AuthError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(request.region.clone()))
            .load()
            .await;
        let provider = config.credentials_provider().ok_or_else(|| {
            AuthError::AwsCredentials("no credentials provider configured".into())
        })?;
        Ok(Self {
            request,
            provider,
            clock: system_clock(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            cached: Mutex::new(None),
        })
    }

    /// A source using the credentials provider of an already loaded AWS configuration.
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        request: TokenRequest,
    ) -> Result<Self, AuthError> {
        let provider = config.credentials_provider().ok_or_else(|| {
            AuthError::AwsCredentials("the AWS configuration has no credentials provider".into())
        })?;
        Ok(Self {
            request,
            provider,
            clock: system_clock(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            cached: Mutex::new(None),
        })
    }

    /// Uses `clock` for signing and expiry decisions (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Re-signs a cached token once it is closer than `margin` to its expiry (default 5 minutes).
    ///
    /// Fails when `margin` is not shorter than the 15-minute token lifetime.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Result<Self, AuthError> {
        if margin >= TOKEN_LIFETIME {
            return Err(AuthError::InvalidConfig {
                field: "refresh_margin",
                reason: format!(
                    "{margin:?} is not shorter than the token lifetime of {TOKEN_LIFETIME:?}"
                ),
            });
        }
        self.refresh_margin = margin;
        Ok(self)
    }

    /// The token request this source signs.
    pub fn request(&self) -> &TokenRequest {
        &self.request
    }

    async fn sign_new(&self) -> Result<Credential, AuthError> {
        let credentials = self
            .provider
            .provide_credentials()
            .instrument(tracing::debug_span!("aws.credentials", region = %self.request.region))
            .await
            .map_err(|e| AuthError::AwsCredentials(Box::new(e)))?;
        let now = self.clock.now();
        let token = generate_auth_token(&self.request, &credentials, now)?;
        let mut expires_at = now + TOKEN_LIFETIME;
        if let Some(creds_expiry) = credentials.expiry() {
            expires_at = expires_at.min(creds_expiry);
        }
        tracing::debug!(
            host = %self.request.host,
            port = self.request.port,
            user = %self.request.user,
            "signed a new IAM auth token"
        );
        Ok(Credential::new(self.request.user.clone(), token).with_expiry(expires_at))
    }
}

#[async_trait]
impl CredentialSource for IamTokenSource {
    async fn credential(&self) -> Result<Credential, AuthError> {
        // Holding the lock across signing makes concurrent callers share one refresh.
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(credential) = cached.as_ref() {
            let fresh = credential
                .expires_at()
                .and_then(|exp| exp.checked_sub(self.refresh_margin))
                .is_some_and(|refresh_at| now < refresh_at);
            if fresh {
                return Ok(credential.clone());
            }
        }
        let credential = self.sign_new().await?;
        *cached = Some(credential.clone());
        Ok(credential)
    }

    async fn on_auth_failure(&self) -> bool {
        *self.cached.lock().await = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_python_quote_safe_set() {
        // Expected values from Python: urllib.parse.quote(s, safe="-_.~")
        assert_eq!(botocore_quote("bob+ops@corp.io"), "bob%2Bops%40corp.io");
        assert_eq!(botocore_quote("ünïcode"), "%C3%BCn%C3%AFcode");
        assert_eq!(botocore_quote("a b/c~d_e-f.g"), "a%20b%2Fc~d_e-f.g");
    }

    fn percent_decode(s: &str) -> Vec<u8> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        /// SigV4 URI encoding (AWS docs, "Create a canonical request"): only A-Z a-z 0-9 - _ . ~
        /// stay literal, everything else is %XX with upper-case hex, and decoding gives the input.
        #[test]
        fn quote_is_sigv4_uri_encoding(user in "\\PC{0,40}") {
            let encoded = botocore_quote(&user);
            proptest::prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%')));
            let upper_hex = encoded
                .split('%')
                .skip(1)
                .all(|rest| rest.len() >= 2 && rest[..2].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
            proptest::prop_assert!(upper_hex);
            proptest::prop_assert_eq!(percent_decode(&encoded), user.as_bytes().to_vec());
        }

        #[test]
        fn token_request_never_panics(host in "\\PC{0,30}", port in proptest::num::u16::ANY, user in "\\PC{0,10}", region in "\\PC{0,12}") {
            let _ = TokenRequest::new(host, port, user, region);
        }
    }

    #[test]
    fn request_rejects_bad_inputs() {
        assert!(TokenRequest::new("", 5432, "u", "eu-west-1").is_err());
        assert!(TokenRequest::new("db:5432", 5432, "u", "eu-west-1").is_err());
        assert!(TokenRequest::new("db", 0, "u", "eu-west-1").is_err());
        assert!(TokenRequest::new("db", 5432, "", "eu-west-1").is_err());
        assert!(TokenRequest::new("db", 5432, "u", "EU west").is_err());
        assert!(TokenRequest::new("db", 5432, "u", "eu-west-1").is_ok());
    }

    /// Found by the hostile CLI table (RELIABILITY.md): `rdspg token --region moon-1` printed a
    /// token signed for a region that does not exist; regions follow the settings' rule now.
    #[test]
    fn request_rejects_a_region_that_does_not_exist() {
        for region in ["moon-1", "us-east", "us-east-0", "xx-north-1"] {
            let err = TokenRequest::new("db", 5432, "u", region).unwrap_err();
            assert!(err.to_string().contains(region), "{err}");
        }
        for region in ["cn-north-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(
                TokenRequest::new("db", 5432, "u", region).is_ok(),
                "{region}"
            );
        }
    }
}
