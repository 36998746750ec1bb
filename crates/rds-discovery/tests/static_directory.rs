//! `StaticDirectory`: endpoints from settings behind the same trait, with no AWS at all.

use integration_model::{AuthType, Endpoint, InstanceId, InstanceSelector, TagFilters};
use rds_discovery::{DiscoveryError, InstanceDirectory, StaticDirectory};
use std::sync::Arc;

fn id(text: &str) -> InstanceId {
    text.parse().expect("test instance ids are valid")
}

fn endpoint(text: &str) -> Endpoint {
    text.parse().expect("test endpoints are valid")
}

fn directory() -> Arc<dyn InstanceDirectory> {
    Arc::new(
        StaticDirectory::new()
            .with_endpoint(id("local"), endpoint("127.0.0.1:5432"))
            .with_endpoint(id("warehouse"), endpoint("[::1]:6432")),
    )
}

#[tokio::test]
async fn a_name_resolves_to_its_endpoint_with_aws_fields_unknown() {
    let db = directory().instance(&id("warehouse")).await.unwrap();
    assert_eq!(db.id.as_str(), "warehouse");
    assert_eq!(db.endpoint(), Some(endpoint("[::1]:6432")));
    assert!(db.is_static());
    assert_eq!(
        (
            &db.arn,
            &db.account,
            &db.region,
            &db.dbi_resource_id,
            &db.engine,
            &db.status
        ),
        (&None, &None, &None, &None, &None, &None)
    );
    assert_eq!(db.iam_auth, None);
    assert!(db.tags.is_empty() && db.cluster.is_none());
    // Unknown is not "disabled": the checks cannot refuse what they do not know.
    db.ensure_usable(AuthType::Iam).unwrap();

    let json = serde_json::to_value(&db).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": "warehouse", "arn": null, "account": null, "region": null,
            "dbi_resource_id": null, "engine": null, "engine_version": null, "status": null,
            "host": "::1", "port": 6432, "iam_auth": null, "ca_certificate": null, "tags": {},
        })
    );
}

#[tokio::test]
async fn an_unknown_name_lists_the_configured_ones() {
    let err = directory().instance(&id("orders")).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::UnknownStaticEndpoint { name, .. } if name.as_str() == "orders")
    );
    assert_eq!(
        err.to_string(),
        "no static endpoint named `orders` (configured: local, warehouse)"
    );
    let empty = StaticDirectory::new();
    let err = empty.instance(&id("orders")).await.unwrap_err();
    assert!(err.to_string().contains("(configured: none)"), "{err}");
}

#[tokio::test]
async fn tags_cannot_select_static_endpoints() {
    let filters = TagFilters::new(["env=prod".parse().unwrap(), "team".parse().unwrap()]).unwrap();
    let err = directory().instances_by_tags(&filters).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::StaticHasNoTags { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[env=prod, team]"), "{err}");
}

#[tokio::test]
async fn resolve_follows_the_integration_selector() {
    let dir = directory();
    let found = dir
        .resolve(&InstanceSelector::Id(id("local")))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].endpoint(), Some(endpoint("127.0.0.1:5432")));

    let filters = TagFilters::new(["env=prod".parse().unwrap()]).unwrap();
    let err = dir
        .resolve(&InstanceSelector::Tags(filters))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::StaticHasNoTags { .. }));
}

#[test]
fn a_later_endpoint_replaces_an_earlier_one_of_the_same_name() {
    let mut dir = StaticDirectory::new().with_endpoint(id("local"), endpoint("127.0.0.1:5432"));
    dir.insert(id("Local"), endpoint("127.0.0.1:5433"));
    let names: Vec<&str> = dir.names().map(|n| n.as_str()).collect();
    assert_eq!(names, ["local"], "instance ids are case-insensitive");
}
