//! Property tests for every validator and text form: valid values round-trip exactly,
//! arbitrary text never panics, and acceptance matches an independent statement of the rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use integration_model::{
    AccessDuration, Endpoint, Host, Identifier, InstanceId, IntegrationName, Partition, Region,
    ResourcePath, ResourceRef, SecretRef, TagFilter, TagKey, TagValue,
};
use proptest::prelude::*;

/// RDS DBInstanceIdentifier rules, restated independently of the crate.
fn rds_rule(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !s.contains("--")
        && !s.ends_with('-')
}

fn pg_ident_rule(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && !s.contains('\0')
}

/// Names PostgreSQL could hold, biased towards the characters that need quoting in paths.
fn ident_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,12}",
        "[a-z/\" ]{1,12}",
        "\"[a-z/\"]{0,6}\"",
        "[^\u{0}]{1,20}",
    ]
    .prop_filter("PostgreSQL name", |s| pg_ident_rule(s))
}

proptest! {
    // Regressions are not persisted: integration tests have no lib.rs beside them to key on.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn instance_id_valid_round_trips(id in "[a-zA-Z]([a-zA-Z0-9]|-[a-zA-Z0-9]){0,31}") {
        let parsed: InstanceId = id.parse().unwrap();
        prop_assert_eq!(parsed.as_str(), id.to_ascii_lowercase());
        prop_assert_eq!(parsed.to_string().parse::<InstanceId>().unwrap(), parsed);
    }

    #[test]
    fn instance_id_accepts_exactly_the_rds_rule(text in "[a-zA-Z0-9_-]{0,70}|.{0,10}") {
        prop_assert_eq!(text.parse::<InstanceId>().is_ok(), rds_rule(&text), "{:?}", text);
    }

    #[test]
    fn integration_name_rule(text in "[a-zA-Z0-9_-]{0,70}|.{0,10}") {
        let rule = !text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let parsed = text.parse::<IntegrationName>();
        prop_assert_eq!(parsed.is_ok(), rule, "{:?}", text);
        if let Ok(name) = parsed {
            prop_assert_eq!(name.to_string(), text);
        }
    }

    #[test]
    fn identifier_rule_in_bytes(text in "[^\u{0}]{0,70}|.{0,5}") {
        let parsed = text.parse::<Identifier>();
        prop_assert_eq!(parsed.is_ok(), pg_ident_rule(&text), "{:?}", text);
        if let Ok(ident) = parsed {
            prop_assert_eq!(ident.to_string(), text);
        }
    }

    #[test]
    fn identifier_limit_with_multibyte_characters(
        c in prop::sample::select(vec!['a', 'é', '€', '😀', 'ß', '中']),
        count in 1usize..70,
    ) {
        let text: String = std::iter::repeat_n(c, count).collect();
        let fits = text.len() <= 63;
        prop_assert_eq!(text.parse::<Identifier>().is_ok(), fits, "{} bytes", text.len());
        // Exactly at the limit and one byte over, whatever the character width.
        let at_limit: String = std::iter::repeat_n('a', 63 - c.len_utf8()).chain([c]).collect();
        prop_assert!(at_limit.parse::<Identifier>().is_ok());
        let over: String = std::iter::repeat_n('a', 64 - c.len_utf8()).chain([c]).collect();
        prop_assert!(over.parse::<Identifier>().is_err());
    }

    #[test]
    fn region_valid_shapes(
        prefix in prop::sample::select(vec![
            ("us", "aws"), ("eu", "aws"), ("ap", "aws"), ("sa", "aws"), ("ca", "aws"), ("me", "aws"),
            ("af", "aws"), ("il", "aws"), ("mx", "aws"), ("cn", "aws-cn"), ("us-gov", "aws-us-gov"),
            ("us-iso", "aws-iso"), ("us-isob", "aws-iso-b"), ("eu-isoe", "aws-iso-e"),
            ("us-isof", "aws-iso-f"), ("eusc-de", "aws-eusc"),
        ]),
        direction in prop::sample::select(vec![
            "east", "west", "north", "south", "central", "northeast", "northwest", "southeast", "southwest",
        ]),
        number in 1u8..=99,
    ) {
        let text = format!("{}-{direction}-{number}", prefix.0);
        let region: Region = text.parse().unwrap();
        prop_assert_eq!(region.to_string(), text);
        prop_assert_eq!(region.partition().as_str(), prefix.1);
        prop_assert_eq!(region.partition().as_str().parse::<Partition>().unwrap(), region.partition());
    }

    #[test]
    fn region_arbitrary_text(text in "[a-z0-9-]{0,20}|.{0,12}") {
        if let Ok(region) = text.parse::<Region>() {
            prop_assert_eq!(region.as_str(), text.as_str());
            prop_assert!(text.bytes().last().is_some_and(|b| b.is_ascii_digit()));
            prop_assert!(!text.bytes().any(|b| b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn tag_filter_round_trip(
        key in "[a-zA-Z0-9 _.:/=+@-]{1,20}",
        value in proptest::option::of("[a-zA-Z0-9 _.:/=+@é-]{0,30}"),
    ) {
        let key: TagKey = key.parse().unwrap();
        let filter = match value {
            Some(value) => TagFilter::equals(key, value.parse::<TagValue>().unwrap()),
            None => TagFilter::present(key),
        };
        let text = filter.to_string();
        prop_assert_eq!(text.parse::<TagFilter>().unwrap(), filter, "{}", text);
    }

    #[test]
    fn tag_limits(len in 0usize..300) {
        let text = "ü".repeat(len);
        prop_assert_eq!(text.parse::<TagKey>().is_ok(), (1..=128).contains(&len));
        prop_assert_eq!(text.parse::<TagValue>().is_ok(), len <= 256);
    }

    #[test]
    fn tag_filter_arbitrary_text(text in ".{0,40}") {
        if let Ok(filter) = text.parse::<TagFilter>() {
            prop_assert_eq!(filter.to_string().parse::<TagFilter>().unwrap(), filter);
        }
    }

    #[test]
    fn resource_path_quoting_round_trip(
        instance in "[a-z]([a-z0-9]|-[a-z0-9]){0,10}",
        names in prop::collection::vec(ident_text(), 1..=3),
    ) {
        let idents: Vec<Identifier> = names.iter().map(|n| n.parse().unwrap()).collect();
        let resource = match idents.as_slice() {
            [d] => ResourceRef::database(d.clone()),
            [d, s] => ResourceRef::schema(d.clone(), s.clone()),
            [d, s, t] => ResourceRef::table(d.clone(), s.clone(), t.clone()),
            _ => unreachable!(),
        };
        let instance: InstanceId = instance.parse().unwrap();
        let path = ResourcePath::new(instance.clone(), resource.clone());
        let text = path.to_string();
        prop_assert_eq!(text.parse::<ResourcePath>().unwrap(), path.clone(), "{}", text);
        let short = resource.to_string();
        prop_assert_eq!(short.parse::<ResourceRef>().unwrap(), resource, "{}", short);
        prop_assert_eq!(ResourcePath::parse_in(&short, Some(&instance)).unwrap(), path);
        // Display quotes only when needed.
        let needs_quotes = names.iter().any(|n| n.contains('/') || n.contains('"'));
        prop_assert_eq!(text.contains('"'), needs_quotes, "{}", text);
    }

    #[test]
    fn resource_path_arbitrary_text(text in "[a-z/\"]{0,20}|.{0,30}") {
        if let Ok(path) = text.parse::<ResourcePath>() {
            prop_assert_eq!(path.to_string().parse::<ResourcePath>().unwrap(), path);
        }
        if let Ok(resource) = text.parse::<ResourceRef>() {
            prop_assert_eq!(resource.to_string().parse::<ResourceRef>().unwrap(), resource);
        }
    }

    #[test]
    fn access_duration_round_trip(secs in 60u64..=365 * 86_400) {
        let duration = AccessDuration::from_secs(secs).unwrap();
        let text = duration.to_string();
        prop_assert_eq!(text.parse::<AccessDuration>().unwrap(), duration, "{}", text);
    }

    #[test]
    fn access_duration_bounds(secs in 0u64..=400 * 86_400) {
        prop_assert_eq!(AccessDuration::from_secs(secs).is_ok(), (60..=365 * 86_400).contains(&secs));
    }

    #[test]
    fn access_duration_arbitrary_text(text in "[0-9dhms]{0,12}|.{0,12}") {
        if let Ok(duration) = text.parse::<AccessDuration>() {
            prop_assert_eq!(duration.to_string().parse::<AccessDuration>().unwrap(), duration);
        }
    }

    #[test]
    fn endpoint_round_trip(v4 in any::<u32>(), v6 in any::<u128>(), port in 1u16.., name in "[a-z]{1,10}(\\.[a-z]([a-z0-9-]{0,8}[a-z])?){0,3}") {
        for host in [
            Host::from(IpAddr::V4(Ipv4Addr::from(v4))),
            Host::from(IpAddr::V6(Ipv6Addr::from(v6))),
            name.parse::<Host>().unwrap(),
        ] {
            let endpoint = Endpoint::new(host, port).unwrap();
            let text = endpoint.to_string();
            prop_assert_eq!(text.parse::<Endpoint>().unwrap(), endpoint, "{}", text);
        }
    }

    #[test]
    fn endpoint_arbitrary_text(text in "[a-f0-9:.\\[\\]]{0,20}|.{0,20}") {
        if let Ok(endpoint) = text.parse::<Endpoint>() {
            prop_assert_eq!(endpoint.to_string().parse::<Endpoint>().unwrap(), endpoint);
        }
    }

    #[test]
    fn secret_ref_round_trip(name in "[A-Za-z_][A-Za-z0-9_]{0,20}", secret in "[A-Za-z0-9/_+=.@-]{1,40}") {
        for text in [format!("env:{name}"), secret] {
            let parsed: SecretRef = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text);
        }
    }
}
