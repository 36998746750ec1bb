//! Building an `AwsDirectory`: from options, from an integration, from an SDK config.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use integration_model::{AuthType, Integration};
use rds_discovery::{AwsDirectory, AwsOptions, DiscoveryError};

#[test]
fn options_follow_the_integration() {
    let integration = Integration::builder("orders-prod", "eu-central-1".parse().unwrap())
        .auth(AuthType::Iam)
        .instance_id("orders-db".parse().unwrap())
        .aws_endpoint_url("http://127.0.0.1:5055".parse().unwrap())
        .aws_profile("ops".parse().unwrap())
        .build()
        .unwrap();
    let options = AwsOptions::from_integration(&integration);
    assert_eq!(options.region().as_str(), "eu-central-1");
    assert_eq!(
        options.get_endpoint_url().map(|u| u.as_str()),
        Some("http://127.0.0.1:5055")
    );
    assert_eq!(options.get_profile().map(|p| p.as_str()), Some("ops"));
    assert_eq!(options.get_max_attempts(), 3);
    assert_eq!(options.max_attempts(7).get_max_attempts(), 7);
}

#[tokio::test]
async fn zero_attempts_is_refused_naming_the_option() {
    let options = AwsOptions::new("us-east-1".parse().unwrap()).max_attempts(0);
    let err = AwsDirectory::from_options(&options).await.unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::InvalidOption {
                field: "max_attempts",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[tokio::test]
async fn sdk_config_needs_credentials_and_a_region() {
    let credentials = Credentials::new("AKIDEXAMPLE", "not-a-real-secret", None, None, "test");

    let no_region = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials.clone()),
        )
        .build();
    let err = AwsDirectory::from_sdk_config(&no_region).unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::InvalidOption {
                field: "region",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("AWS_REGION"), "{err}");

    let no_credentials = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let err = AwsDirectory::from_sdk_config(&no_credentials).unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::CredentialsMissing { source: None, .. }
        ),
        "{err:?}"
    );

    let bad_region = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("mars-north-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials.clone()),
        )
        .build();
    let err = AwsDirectory::from_sdk_config(&bad_region).unwrap_err();
    assert!(err.to_string().contains("mars-north-1"), "{err}");

    let good = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build();
    let dir = AwsDirectory::from_sdk_config(&good).unwrap();
    assert_eq!(dir.region().as_str(), "eu-west-1");
}
