//! Classifies AWS SDK errors into [`DiscoveryError`] variants.

use crate::error::DiscoveryError;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

/// Error codes of a caller whose policy lacks the action.
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html>)
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

/// Error codes for throttling, as the SDK's own retry classifier lists them
/// (aws-smithy-runtime `THROTTLING_ERRORS`) plus RDS's `Throttling`.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Error codes where AWS rejects the credentials themselves.
const BAD_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

/// Whether a [`CredentialsError`] is somewhere in the error's source chain (the credential
/// chain failed before any request was sent).
fn credentials_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Maps an SDK error of `action` to the variant that tells the operator what to fix.
pub(crate) fn classify<E>(
    err: SdkError<E, HttpResponse>,
    action: &'static str,
    max_attempts: u32,
) -> DiscoveryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if credentials_error(&err).is_some() {
        return DiscoveryError::CredentialsMissing {
            reason: "the credential chain provided none".to_owned(),
            source: Some(Box::new(err)),
        };
    }
    let code = err.code().map(str::to_owned);
    let message = err.message().unwrap_or("no message").to_owned();
    let status = err.raw_response().map(|r| r.status().as_u16());
    match code.as_deref() {
        Some(c) if ACCESS_DENIED.contains(&c) => DiscoveryError::AccessDenied {
            action,
            message,
            source: Box::new(err),
        },
        Some(c) if THROTTLING.contains(&c) => DiscoveryError::Throttled {
            action,
            max_attempts,
            source: Box::new(err),
        },
        None if status == Some(429) => DiscoveryError::Throttled {
            action,
            max_attempts,
            source: Box::new(err),
        },
        Some(c) if BAD_CREDENTIALS.contains(&c) => DiscoveryError::CredentialsRejected {
            action,
            code: c.to_owned(),
            message,
            source: Box::new(err),
        },
        Some(c) => DiscoveryError::Aws {
            action,
            detail: format!("AWS error `{c}`: {message}"),
            source: Box::new(err),
        },
        None => {
            let detail = match &err {
                SdkError::TimeoutError(_) => "the request timed out".to_owned(),
                SdkError::DispatchFailure(_) => {
                    "the RDS endpoint could not be reached (network, DNS, proxy or endpoint URL)"
                        .to_owned()
                }
                SdkError::ResponseError(_) => "the response could not be read".to_owned(),
                _ => match status {
                    Some(s) => format!("HTTP status {s} without AWS error code"),
                    None => "the request could not be built or sent".to_owned(),
                },
            };
            DiscoveryError::Aws {
                action,
                detail,
                source: Box::new(err),
            }
        }
    }
}
