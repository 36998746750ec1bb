//! IamTokenSource: caching, refresh before expiry, one shared refresh for concurrent callers.
#![cfg(feature = "aws")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, future};
use pg_auth::{
    CredentialSource, ExposeSecret, IamTokenSource, ManualClock, TOKEN_LIFETIME, TokenRequest,
    generate_auth_token,
};

#[derive(Debug)]
struct CountingProvider {
    calls: Arc<AtomicUsize>,
    expiry: Option<SystemTime>,
}

impl ProvideCredentials for CountingProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let creds = Credentials::new(
            "AKIDTEST",
            "secretkey",
            Some("sess".into()),
            self.expiry,
            "counting",
        );
        future::ProvideCredentials::ready(Ok(creds))
    }
}

fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

fn request() -> TokenRequest {
    TokenRequest::new(
        "db.x.eu-west-1.rds.amazonaws.com",
        5432,
        "bob+ops@corp.io",
        "eu-west-1",
    )
    .expect("valid request")
}

#[tokio::test]
async fn concurrent_callers_share_one_signing_and_tokens_refresh_before_expiry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let clock = ManualClock::new(start());
    let source = Arc::new(
        IamTokenSource::new(
            request(),
            CountingProvider {
                calls: calls.clone(),
                expiry: None,
            },
        )
        .with_clock(Arc::new(clock.clone()))
        .with_refresh_margin(Duration::from_secs(300))
        .unwrap(),
    );
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let s = source.clone();
            tokio::spawn(async move { s.credential().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for h in handles {
        tokens.push(h.await.unwrap());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh shared by 16 callers"
    );
    let first = tokens[0].secret().expose_secret().to_owned();
    assert!(tokens.iter().all(|t| t.secret().expose_secret() == first));
    assert_eq!(tokens[0].expires_at(), Some(start() + TOKEN_LIFETIME));
    assert_eq!(tokens[0].user(), "bob+ops@corp.io");
    // The cached token is exactly the one signed at the start instant.
    let creds = Credentials::new("AKIDTEST", "secretkey", Some("sess".into()), None, "x");
    assert_eq!(
        first,
        generate_auth_token(&request(), &creds, start())
            .unwrap()
            .expose_secret()
    );

    // 9m59s later: still inside lifetime - margin (10 min): cached.
    clock.advance(Duration::from_secs(599));
    let again = source.credential().await.unwrap();
    assert_eq!(again.secret().expose_secret(), first);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // At 10 min: refreshed, signed at the new instant.
    clock.advance(Duration::from_secs(1));
    let fresh = source.credential().await.unwrap();
    assert_ne!(fresh.secret().expose_secret(), first);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        fresh.expires_at(),
        Some(start() + Duration::from_secs(600) + TOKEN_LIFETIME)
    );

    // After an authentication failure the cache is dropped.
    assert!(source.on_auth_failure().await);
    source.credential().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn token_expiry_never_outlives_temporary_credentials() {
    let calls = Arc::new(AtomicUsize::new(0));
    let creds_expiry = start() + Duration::from_secs(120);
    let source = IamTokenSource::new(
        request(),
        CountingProvider {
            calls,
            expiry: Some(creds_expiry),
        },
    )
    .with_clock(Arc::new(ManualClock::new(start())));
    let credential = source.credential().await.unwrap();
    assert_eq!(credential.expires_at(), Some(creds_expiry));
}

#[test]
fn refresh_margin_must_be_shorter_than_lifetime() {
    let calls = Arc::new(AtomicUsize::new(0));
    let err = IamTokenSource::new(
        request(),
        CountingProvider {
            calls,
            expiry: None,
        },
    )
    .with_refresh_margin(TOKEN_LIFETIME)
    .unwrap_err();
    assert!(err.to_string().contains("refresh_margin"), "{err}");
}
