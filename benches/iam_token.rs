//! IAM database auth tokens: `pg_auth::generate_auth_token` against the AWS SDK's own signer
//! (`aws_sdk_rds::auth_token::AuthTokenGenerator`) on the same inputs, and against a floor: the
//! SigV4 cryptography alone (signing-key derivation and the HMACs over strings as long as the real
//! canonical request and string to sign).
//!
//! The user name is the plain `alice`: the SDK's signer percent-encodes `+` in user names
//! differently from botocore (its token for `bob+ops` names a different user), so only a plain
//! name gives both signers the same work and the same token, which the setup checks byte for byte.
//!
//! Run: `cargo bench --bench iam_token`.

mod common;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as PeerConfig};
use aws_sdk_rds::config::Region;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use aws_smithy_async::time::StaticTimeSource;
use futures_util::FutureExt;
use pg_auth::{CredentialSource, ExposeSecret, IamTokenSource, TokenRequest, generate_auth_token};

const HOST: &str = "orders-db.c1abcdefghij.eu-west-1.rds.amazonaws.com";
const PORT: u16 = 5432;
const USER: &str = "alice";
const REGION: &str = "eu-west-1";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn credentials() -> Credentials {
    Credentials::new("AKIDEXAMPLE", SECRET, None, None, "bench")
}

/// The value of query parameter `name` in `token`.
fn param<'t>(token: &'t str, name: &str) -> &'t str {
    token
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("the token has no {name} parameter: {token}"))
}

fn main() {
    let started = SystemTime::now();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let creds = credentials();
    let request = TokenRequest::new(HOST, PORT, USER, REGION).expect("valid token request");

    let peer = AuthTokenGenerator::new(
        PeerConfig::builder()
            .hostname(HOST)
            .port(u64::from(PORT))
            .region(Region::new(REGION))
            .username(USER)
            .credentials(credentials())
            .build()
            .expect("valid peer config"),
    );
    let sdk_config = aws_config::SdkConfig::builder()
        .time_source(StaticTimeSource::new(at))
        .build();
    // The SDK's signer is async only in getting credentials; with fixed credentials its future is
    // ready at the first poll, so no runtime is timed.
    let peer_token = || {
        peer.auth_token(&sdk_config)
            .now_or_never()
            .expect("fixed credentials are ready at once")
            .expect("the SDK signs")
    };

    // Same inputs, same token: the two sides do the same work.
    let ours = generate_auth_token(&request, &creds, at).expect("we sign");
    let theirs = peer_token();
    assert_eq!(
        ours.expose_secret(),
        theirs.as_str(),
        "for a plain user name both signers must give the same token"
    );

    // Why the speed comparison uses a plain name: for `bob+ops@corp.io` the SDK puts the name
    // into the URL as is, and a `+` in a query string reads as a space, naming another user.
    let plus_user = "bob+ops@corp.io";
    let peer_plus = AuthTokenGenerator::new(
        PeerConfig::builder()
            .hostname(HOST)
            .port(u64::from(PORT))
            .region(Region::new(REGION))
            .username(plus_user)
            .credentials(credentials())
            .build()
            .expect("valid peer config"),
    )
    .auth_token(&sdk_config)
    .now_or_never()
    .expect("fixed credentials are ready at once")
    .expect("the SDK signs");
    let ours_plus = generate_auth_token(
        &TokenRequest::new(HOST, PORT, plus_user, REGION).expect("valid token request"),
        &creds,
        at,
    )
    .expect("we sign");
    println!(
        "DBUser for {plus_user:?}: ours {:?}, aws-sdk-rds {:?}",
        param(ours_plus.expose_secret(), "DBUser"),
        param(peer_plus.as_str(), "DBUser"),
    );

    // The floor: the canonical request and string to sign that SigV4 hashes for this token, built
    // here once, then only the cryptography: signing-key derivation (4 HMACs), one HMAC standing in
    // for the SHA-256 of the canonical request (an HMAC costs a little more, so the floor is, if
    // anything, high), and the signature HMAC.
    let token = ours.expose_secret();
    let date = param(token, "X-Amz-Date");
    let day = date.get(..8).expect("X-Amz-Date starts with YYYYMMDD");
    let scope = format!("{day}/{REGION}/rds-db/aws4_request");
    let canonical_request = format!(
        "GET\n/\nAction=connect&DBUser={USER}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={date}&X-Amz-Expires=900&X-Amz-SignedHeaders=host\nhost:{HOST}:{PORT}\n\nhost\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        param(token, "X-Amz-Credential"),
    );
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", "0".repeat(64));
    let floor = || {
        let key = generate_signing_key(SECRET, at, REGION, "rds-db");
        let hash = calculate_signature(&key, canonical_request.as_bytes());
        let signature = calculate_signature(&key, string_to_sign.as_bytes());
        (hash, signature)
    };

    // A warm IamTokenSource hands out its cached token (re-signed 5 minutes before expiry).
    let source = IamTokenSource::new(request.clone(), credentials());
    let cached = || {
        source
            .credential()
            .now_or_never()
            .expect("a cached credential is ready at once")
            .expect("the source signs")
    };
    drop(cached());

    let mut c = common::criterion();
    let mut group = c.benchmark_group("iam_token");
    group.bench_function("ours_generate_auth_token", |b| {
        b.iter(|| generate_auth_token(black_box(&request), black_box(&creds), black_box(at)))
    });
    group.bench_function("peer_aws_sdk_rds", |b| b.iter(peer_token));
    group.bench_function("floor_sigv4_hmacs", |b| b.iter(floor));
    group.bench_function("ours_iam_token_source_cached", |b| b.iter(cached));
    group.finish();
    c.final_summary();

    if common::measuring() {
        println!("\n== iam_token: interleaved pairs (median of per-round ratios) ==");
        let ours = || common::per_call(2000, || generate_auth_token(&request, &creds, at));
        let peer = || common::per_call(2000, peer_token);
        let floor = || common::per_call(2000, floor);
        common::print_paired(
            "ours_generate_auth_token / peer_aws_sdk_rds",
            31,
            ours,
            peer,
        );
        common::print_paired(
            "ours_generate_auth_token / floor_sigv4_hmacs",
            31,
            ours,
            floor,
        );
        common::print_paired("peer_aws_sdk_rds / floor_sigv4_hmacs", 31, peer, floor);
    }

    common::print_ratios(
        "iam_token",
        started,
        &[
            common::ratio(
                "iam_token/ours_generate_auth_token",
                "iam_token/peer_aws_sdk_rds",
                "our signer vs the AWS SDK's (below 1: we are faster)",
            ),
            common::ratio(
                "iam_token/ours_generate_auth_token",
                "iam_token/floor_sigv4_hmacs",
                "our signer vs the bare SigV4 cryptography (1 would be no overhead at all)",
            ),
            common::ratio(
                "iam_token/peer_aws_sdk_rds",
                "iam_token/floor_sigv4_hmacs",
                "the AWS SDK's signer vs the same floor",
            ),
            common::ratio(
                "iam_token/ours_iam_token_source_cached",
                "iam_token/ours_generate_auth_token",
                "a cache hit of IamTokenSource vs signing a new token",
            ),
        ],
    );
}
