//! Every ARN builder and parser agrees with integration-model's region table on the partition
//! of a region (issue 14: `us-iso-east-1` once got an `arn:aws:` ARN).

use iam_policy::arn::{DbUserArn, RdsResourceArn};
use iam_policy::{ConnectorPolicy, EndUserPolicy, lint_json};

/// One region per prefix of the table, with its partition.
/// Source: botocore `partitions.json` (partition names and region regexes).
const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "aws"),
    ("eu-west-3", "aws"),
    ("ap-southeast-7", "aws"),
    ("sa-east-1", "aws"),
    ("ca-west-1", "aws"),
    ("me-central-1", "aws"),
    ("af-south-1", "aws"),
    ("il-central-1", "aws"),
    ("mx-central-1", "aws"),
    ("cn-north-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"),
    ("us-iso-east-1", "aws-iso"),
    ("us-isob-east-1", "aws-iso-b"),
    ("eu-isoe-west-1", "aws-iso-e"),
    ("us-isof-south-1", "aws-iso-f"),
    ("eusc-de-east-1", "aws-eusc"),
];

#[test]
fn every_region_prefix_gets_its_partitions_arn() {
    for (region, partition) in REGIONS {
        let model: integration_model::Region = region.parse().unwrap();
        assert_eq!(model.partition().as_str(), *partition, "{region}");

        let connector = ConnectorPolicy::builder()
            .region(*region)
            .build()
            .unwrap_or_else(|e| panic!("{region}: {e}"))
            .to_json();
        let want = format!("arn:{partition}:rds-db:{region}:*:dbuser:*/apono_connector");
        assert!(connector.contains(&want), "{region}: {connector}");

        let end_user = EndUserPolicy::builder()
            .region(*region)
            .build()
            .unwrap_or_else(|e| panic!("{region}: {e}"))
            .to_json();
        assert!(
            end_user.contains(&format!("arn:{partition}:rds-db:{region}:")),
            "{region}: {end_user}"
        );
        // The builder's output lints clean: no partition/region mismatch reported.
        let findings = lint_json(&connector).unwrap();
        assert!(
            findings
                .iter()
                .all(|f| f.severity != iam_policy::Severity::Error),
            "{region}: {findings:?}"
        );
    }
}

#[test]
fn every_partition_parses_in_arns() {
    for (region, partition) in REGIONS {
        let user = format!(
            "arn:{partition}:rds-db:{region}:123456789012:dbuser:db-ABCDEFGHIJKL01234567890ABC/alice"
        );
        let parsed: DbUserArn = user.parse().unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(parsed.partition().as_str(), *partition);
        assert_eq!(parsed.to_string(), user);

        let db = format!("arn:{partition}:rds:{region}:123456789012:db:orders-prod");
        let parsed: RdsResourceArn = db.parse().unwrap_or_else(|e| panic!("{db}: {e}"));
        assert_eq!(parsed.to_string(), db);

        // A region of another partition is refused, naming the mismatch.
        let wrong = if *partition == "aws" {
            "aws-iso"
        } else {
            "aws"
        };
        let mismatched =
            format!("arn:{wrong}:rds-db:{region}:123456789012:dbuser:db-ABCDEFGHIJKL01234/alice");
        let err = mismatched.parse::<DbUserArn>().unwrap_err();
        assert!(
            format!("{err:?}").starts_with("PartitionMismatch"),
            "{mismatched}: {err:?}"
        );
    }
}
