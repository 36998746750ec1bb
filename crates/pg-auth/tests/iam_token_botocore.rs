//! Differential test: pg-auth's IAM auth tokens equal botocore's `generate_db_auth_token`
//! for the same inputs at the same instant (cases in tests/data/iam_token_cases.json).
#![cfg(feature = "aws")]

use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use pg_auth::{ExposeSecret, TokenRequest, generate_auth_token};
use serde_json::Value;

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

const BOTOCORE_SCRIPT: &str = r#"
import datetime, json, sys
import botocore.auth, botocore.session
cases = json.load(open(sys.argv[1]))["cases"]
session = botocore.session.get_session()
out = []
for c in cases:
    instant = datetime.datetime.fromtimestamp(c["epoch"], tz=datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda instant=instant: instant
    client = session.create_client(
        "rds", region_name=c["region"],
        aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
        aws_session_token=c["session_token"])
    out.append(client.generate_db_auth_token(c["host"], c["port"], c["user"], Region=c["region"]))
print(json.dumps(out))
"#;

fn data_path() -> String {
    format!(
        "{}/tests/data/iam_token_cases.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn botocore_tokens() -> Vec<String> {
    let output = Command::new("python3")
        .args(["-c", BOTOCORE_SCRIPT, &data_path(), ACCESS_KEY, SECRET_KEY])
        .output()
        .expect("python3 not found: install python3 and `pip install botocore`");
    assert!(
        output.status.success(),
        "botocore failed (install with `pip install botocore`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("botocore printed JSON")
}

#[test]
fn tokens_equal_botocore_for_every_case() {
    let data: Value = serde_json::from_str(&std::fs::read_to_string(data_path()).unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    let expected = botocore_tokens();
    assert_eq!(expected.len(), cases.len());
    let mut with_token = 0;
    for (case, expected) in cases.iter().zip(&expected) {
        let name = case["name"].as_str().unwrap();
        let request = TokenRequest::new(
            case["host"].as_str().unwrap(),
            u16::try_from(case["port"].as_u64().unwrap()).unwrap(),
            case["user"].as_str().unwrap(),
            case["region"].as_str().unwrap(),
        )
        .unwrap();
        let session_token = case["session_token"].as_str().map(str::to_owned);
        with_token += usize::from(session_token.is_some());
        let credentials = Credentials::new(ACCESS_KEY, SECRET_KEY, session_token, None, "test");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(case["epoch"].as_u64().unwrap());
        let token = generate_auth_token(&request, &credentials, at).unwrap();
        assert_eq!(token.expose_secret(), expected, "case {name:?}");
        assert!(expected.contains("X-Amz-Expires=900"), "case {name:?}");
    }
    assert!(with_token >= 2 && with_token < cases.len());
}

#[test]
fn plus_in_user_is_encoded_so_the_token_names_the_right_user() {
    let request = TokenRequest::new(
        "db.x.eu-west-1.rds.amazonaws.com",
        5432,
        "bob+ops@corp.io",
        "eu-west-1",
    )
    .unwrap();
    let credentials = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test");
    let token = generate_auth_token(
        &request,
        &credentials,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
    )
    .unwrap();
    assert!(
        token
            .expose_secret()
            .contains("&DBUser=bob%2Bops%40corp.io&")
    );
}
