//! ARN parsing and formatting: table of AWS examples and property tests.

use iam_policy::arn::{
    Arn, ArnError, DbUserArn, Partition, RdsResourceArn, RdsResourceKind, ResourceId,
};
use proptest::prelude::*;

#[test]
fn aws_documented_arns_parse() {
    // (ARN, source)
    let db_user = [
        (
            "arn:aws:rds-db:us-east-2:1234567890:dbuser:db-ABCDEFGHIJKL01234/db_user",
            "AWS RDS user guide example uses a 10-digit account placeholder: not a real account id",
        ),
        (
            "arn:aws:rds-db:us-east-2:123456789012:dbuser:db-ABCDEFGHIJKL01234/db_user",
            "AWS RDS user guide, IAM database access policy",
        ),
        (
            "arn:aws:rds-db:us-east-2:123456789012:dbuser:cluster-ABCDEFGHIJKL01234/db_user",
            "AWS Aurora user guide, cluster resource id",
        ),
        (
            "arn:aws:rds-db:us-east-2:123456789012:dbuser:prx-ABCDEFGHIJKL01234/*",
            "AWS RDS user guide, IAM policy for RDS Proxy (uppercase placeholder id)",
        ),
        (
            "arn:aws:rds-db:us-east-2:123456789012:dbuser:prx-0123456789abcdef0/*",
            "real RDS Proxy ids are lowercase hex",
        ),
        (
            "arn:aws:rds-db:*:*:dbuser:*/apono_connector",
            "setup guide, connector policy",
        ),
        (
            "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}",
            "setup guide, end-user policy",
        ),
    ];
    let expected_ok = [false, true, true, true, true, true, true];
    for ((text, source), ok) in db_user.iter().zip(expected_ok) {
        let parsed = text.parse::<DbUserArn>();
        assert_eq!(parsed.is_ok(), ok, "{text} ({source}): {parsed:?}");
        if let Ok(arn) = parsed {
            assert_eq!(arn.to_string(), *text, "{source}");
        }
    }
    let setup: DbUserArn = "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}".parse().unwrap();
    assert_eq!(setup.resource_id(), &ResourceId::Any);
    assert_eq!(setup.db_user(), "${SAML:sub}");

    let rds: RdsResourceArn = "arn:aws:rds:*:*:db:*".parse().unwrap();
    assert_eq!(rds.kind(), RdsResourceKind::Db);
    assert_eq!(rds.id(), "*");
    let cluster: RdsResourceArn = "arn:aws-cn:rds:cn-north-1:123456789012:cluster:my-cluster-1"
        .parse()
        .unwrap();
    assert_eq!(cluster.kind(), RdsResourceKind::Cluster);
    assert_eq!(cluster.partition(), Partition::AwsCn);
    assert_eq!(
        "arn:aws:rds:us-east-1:123456789012:snapshot:s1".parse::<RdsResourceArn>(),
        Err(ArnError::UnsupportedRdsResourceType {
            value: "snapshot".into()
        })
    );
    assert_eq!(
        "arn:aws:rds-db:*:*:dbuser:*/a".parse::<RdsResourceArn>(),
        Err(ArnError::WrongService {
            expected: "rds",
            found: "rds-db".into()
        })
    );
}

#[test]
fn errors_name_the_bad_part() {
    let err = "arn:aws:rds-db:us-east-1:123456789012:dbuser:orders-prod/alice"
        .parse::<DbUserArn>()
        .unwrap_err();
    assert_eq!(
        err,
        ArnError::InvalidResourceId {
            value: "orders-prod".into()
        }
    );
    assert!(err.to_string().contains("DbiResourceId"), "{err}");
    let err = "arn:aws-moon:rds:us-iso-east-1:123456789012:db:x"
        .parse::<Arn>()
        .unwrap_err();
    assert_eq!(
        err,
        ArnError::UnknownPartition {
            value: "aws-moon".into()
        }
    );
    assert!(matches!(
        "not-an-arn".parse::<Arn>(),
        Err(ArnError::Malformed { .. })
    ));
    assert!(matches!(
        "arn:aws:RDS:us-east-1:123456789012:db:x".parse::<Arn>(),
        Err(ArnError::InvalidService { .. })
    ));
}

#[test]
fn conversions_to_general_arn() {
    let db: DbUserArn = "arn:aws-us-gov:rds-db:us-gov-west-1:123456789012:dbuser:db-ABC/u"
        .parse()
        .unwrap();
    let general = Arn::from(&db);
    assert_eq!(general.service(), "rds-db");
    assert_eq!(general.resource(), "dbuser:db-ABC/u");
    assert_eq!(general.to_string(), db.to_string());
    let rds =
        RdsResourceArn::new(Partition::Aws, "*", "*", RdsResourceKind::Cluster, "c1").unwrap();
    assert_eq!(Arn::from(&rds).to_string(), "arn:aws:rds:*:*:cluster:c1");
}

fn partition() -> impl Strategy<Value = Partition> {
    prop_oneof![
        Just(Partition::Aws),
        Just(Partition::AwsCn),
        Just(Partition::AwsUsGov)
    ]
}

/// A region consistent with the partition, or `*`.
fn region_for(p: Partition) -> BoxedStrategy<String> {
    let prefix = match p {
        Partition::AwsCn => "cn",
        Partition::AwsUsGov => "us-gov",
        _ => "[a-bd-z][a-z]-(north|south|east|west|central|southeast)",
    };
    prop_oneof![
        Just("*".to_owned()),
        proptest::string::string_regex(&format!("{prefix}-(north|east|west)-[1-9]"))
            .expect("valid regex")
            .prop_filter("aws regions do not start with cn- or us-gov-", move |r| {
                Partition::for_region(r) == p
            })
    ]
    .boxed()
}

fn account() -> impl Strategy<Value = String> {
    prop_oneof![Just("*".to_owned()), "[0-9]{12}"]
}

fn resource_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        "db-[A-Z0-9]{1,26}",
        "cluster-[A-Z0-9]{1,26}",
        "prx-[a-z0-9]{1,17}"
    ]
}

fn db_user() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("${SAML:sub}".to_owned()),
        "[a-z_][a-z0-9_$+@.-]{0,62}"
    ]
}

proptest! {
    #[test]
    fn db_user_arn_round_trips(
        (p, region) in partition().prop_flat_map(|p| (Just(p), region_for(p))),
        account in account(),
        rid in resource_id(),
        user in db_user(),
    ) {
        let id: ResourceId = rid.parse().unwrap();
        let arn = DbUserArn::new(p, &region, &account, id, &user).unwrap();
        let text = arn.to_string();
        prop_assert_eq!(&text, &format!("arn:{p}:rds-db:{region}:{account}:dbuser:{rid}/{user}"));
        let back: DbUserArn = text.parse().unwrap();
        prop_assert_eq!(&back, &arn);
        let general: Arn = text.parse().unwrap();
        prop_assert_eq!(general.to_string(), text);
    }

    #[test]
    fn rds_arn_round_trips(
        (p, region) in partition().prop_flat_map(|p| (Just(p), region_for(p))),
        account in account(),
        cluster in any::<bool>(),
        id in prop_oneof![Just("*".to_owned()), "[a-z](-?[a-z0-9]){0,30}"],
    ) {
        let kind = if cluster { RdsResourceKind::Cluster } else { RdsResourceKind::Db };
        let arn = RdsResourceArn::new(p, &region, &account, kind, &id).unwrap();
        let back: RdsResourceArn = arn.to_string().parse().unwrap();
        prop_assert_eq!(back, arn);
    }

    /// Whatever the text, parsing never panics, and whatever parses formats back to the same text.
    #[test]
    fn parse_never_panics_and_display_round_trips(text in "(arn:)?[a-z*:/$ {}-]{0,40}|arn:aws(-cn|-us-gov)?:rds(-db)?:[a-z0-9*-]{0,12}:[0-9*]{0,13}:(dbuser|db|cluster):[A-Za-z0-9*/-]{0,20}") {
        if let Ok(arn) = text.parse::<Arn>() {
            prop_assert_eq!(arn.to_string(), text.clone());
        }
        if let Ok(arn) = text.parse::<DbUserArn>() {
            prop_assert_eq!(arn.to_string(), text.clone());
        }
        if let Ok(arn) = text.parse::<RdsResourceArn>() {
            prop_assert_eq!(arn.to_string(), text.clone());
        }
    }

    /// An account id that is not 12 digits or `*` is always refused, naming the account.
    #[test]
    fn bad_accounts_are_refused(account in "[0-9]{1,11}|[0-9]{13,14}|[a-z]{12}") {
        let err = DbUserArn::new(Partition::Aws, "*", &account, ResourceId::Any, "u").unwrap_err();
        prop_assert_eq!(err, ArnError::InvalidAccount { value: account });
    }
}
