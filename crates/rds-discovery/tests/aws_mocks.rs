//! `AwsDirectory` against `aws-smithy-mocks`: what a local `moto_server` cannot produce
//! (throttling, access denied, a listing cut short, missing credentials) and exact API call
//! counts ("no call per instance").

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_rds::Client;
use aws_sdk_rds::config::retry::RetryConfig;
use aws_sdk_rds::error::ErrorMetadata;
use aws_sdk_rds::operation::describe_db_clusters::{
    DescribeDBClustersError, DescribeDbClustersOutput,
};
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::types::error::{DbClusterNotFoundFault, DbInstanceNotFoundFault};
use aws_sdk_rds::types::{DbCluster, DbClusterMember, DbInstance, Endpoint, Filter, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use integration_model as im;
use integration_model::error_chain;
use rds_discovery::{AwsDirectory, DiscoveryError, InstanceDirectory};
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "123456789012";

fn id(text: &str) -> im::InstanceId {
    text.parse().expect("test instance ids are valid")
}

fn tags(spec: &[&str]) -> im::TagFilters {
    im::TagFilters::new(
        spec.iter()
            .map(|s| s.parse().expect("test tag filters are valid")),
    )
    .expect("test tag filter sets are non-empty")
}

fn row(name: &str, engine: &str, tag_list: &[(&str, &str)]) -> DbInstance {
    let mut b = DbInstance::builder()
        .db_instance_identifier(name)
        .db_instance_arn(format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:{name}"))
        .dbi_resource_id(format!("db-{}", name.to_uppercase().replace('-', "")))
        .engine(engine)
        .engine_version("16.4")
        .db_instance_status("available")
        .endpoint(
            Endpoint::builder()
                .address(format!("{name}.abc.us-east-1.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
        .iam_database_authentication_enabled(true)
        .ca_certificate_identifier("rds-ca-rsa2048-g1");
    for (k, v) in tag_list {
        b = b.tag_list(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

fn aurora_row(name: &str, cluster: &str, tag_list: &[(&str, &str)]) -> DbInstance {
    let mut r = row(name, "aurora-postgresql", tag_list);
    r.db_cluster_identifier = Some(cluster.to_owned());
    r
}

fn cluster_row(name: &str, tag_list: &[(&str, &str)]) -> DbCluster {
    let mut b = DbCluster::builder()
        .db_cluster_identifier(name)
        .db_cluster_arn(format!("arn:aws:rds:us-east-1:{ACCOUNT}:cluster:{name}"))
        .db_cluster_resource_id(format!("cluster-{}", name.to_uppercase()))
        .engine("aurora-postgresql")
        .engine_version("16.4")
        .status("available")
        .iam_database_authentication_enabled(true)
        .db_cluster_members(
            DbClusterMember::builder()
                .db_instance_identifier(format!("{name}-1"))
                .is_cluster_writer(true)
                .build(),
        )
        .db_cluster_members(
            DbClusterMember::builder()
                .db_instance_identifier(format!("{name}-2"))
                .is_cluster_writer(false)
                .build(),
        )
        .endpoint(format!("{name}.cluster-abc.us-east-1.rds.amazonaws.com"))
        .reader_endpoint(format!("{name}.cluster-ro-abc.us-east-1.rds.amazonaws.com"))
        .port(5432);
    for (k, v) in tag_list {
        b = b.tag_list(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

fn instances_page(rows: Vec<DbInstance>, marker: Option<&str>) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder()
        .set_db_instances(Some(rows))
        .set_marker(marker.map(str::to_owned))
        .build()
}

fn clusters_page(rows: Vec<DbCluster>, marker: Option<&str>) -> DescribeDbClustersOutput {
    DescribeDbClustersOutput::builder()
        .set_db_clusters(Some(rows))
        .set_marker(marker.map(str::to_owned))
        .build()
}

fn service_error(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// The listing request this crate must send: engine filter, 100 rows a page.
fn is_postgres_listing(filters: &[Filter], max_records: Option<i32>) -> bool {
    let engine = filters.iter().find(|f| f.name() == Some("engine"));
    max_records == Some(100)
        && filters.len() == 1
        && engine.is_some_and(|f| f.values() == ["postgres", "aurora-postgresql"])
}

/// A fleet of `n` PostgreSQL instances served 100 a page; even-numbered ones have `env=prod`.
fn fleet_rule(n: usize) -> Rule {
    mock!(Client::describe_db_instances)
        .match_requests(|req| is_postgres_listing(req.filters(), req.max_records()))
        .then_compute_output(move |req| {
            let start: usize = req
                .marker()
                .map_or(0, |m| m.parse().expect("markers are row offsets"));
            let end = (start + 100).min(n);
            let rows = (start..end)
                .map(|i| {
                    let env = if i % 2 == 0 { "prod" } else { "dev" };
                    row(
                        &format!("pg-{i:03}"),
                        "postgres",
                        &[("env", env), ("team", "data")],
                    )
                })
                .collect();
            let marker = (end < n).then(|| end.to_string());
            instances_page(rows, marker.as_deref())
        })
}

fn no_clusters_rule() -> Rule {
    mock!(Client::describe_db_clusters).then_output(|| clusters_page(vec![], None))
}

/// Fast retries, so throttling tests do not wait for the SDK's one-second backoff.
fn fast_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

fn directory(client: Client) -> AwsDirectory {
    AwsDirectory::from_sdk_client(client).expect("the mock client has a region")
}

#[tokio::test]
async fn fleet_of_250_is_read_in_three_calls_and_filtered_by_tags() {
    let instances = fleet_rule(250);
    let clusters = no_clusters_rule();
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
    let dir = directory(client);

    let prod = dir.instances_by_tags(&tags(&["env=prod"])).await.unwrap();
    assert_eq!(prod.len(), 125);
    assert!(
        prod.iter()
            .all(|db| db.tags.get("env").map(String::as_str) == Some("prod"))
    );
    assert_eq!(prod.first().map(|db| db.id.as_str()), Some("pg-000"));
    assert_eq!(prod.last().map(|db| db.id.as_str()), Some("pg-248"));
    // 250 rows at 100 a page = 3 DescribeDBInstances calls; no cluster call (no Aurora), no
    // call per instance (tags come with the rows).
    assert_eq!(instances.num_calls(), 3);
    assert_eq!(clusters.num_calls(), 0);

    // `key` alone means "tag present": every instance has `team`.
    let all = dir.instances_by_tags(&tags(&["team"])).await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(instances.num_calls(), 6);
}

#[tokio::test]
async fn tags_that_match_nothing_name_the_filters() {
    let instances = fleet_rule(30);
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let err = directory(client)
        .instances_by_tags(&tags(&["env=prod", "team=web"]))
        .await
        .unwrap_err();
    assert!(matches!(&err, DiscoveryError::NoMatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("env=prod, team=web") && text.contains("us-east-1"),
        "{text}"
    );
}

#[tokio::test]
async fn aurora_instances_get_their_cluster_in_one_extra_listing() {
    let instances = mock!(Client::describe_db_instances).then_output(|| {
        instances_page(
            vec![
                aurora_row("orders-1", "orders", &[]),
                aurora_row("orders-2", "orders", &[]),
                aurora_row("billing-1", "billing", &[("env", "prod")]),
                aurora_row("scratch-1", "scratch", &[]),
                row("plain", "postgres", &[("env", "prod")]),
            ],
            None,
        )
    });
    let clusters = mock!(Client::describe_db_clusters)
        .match_requests(|req| is_postgres_listing(req.filters(), req.max_records()))
        .then_output(|| {
            clusters_page(
                vec![
                    // Tagged on the cluster only: selects both of its instances.
                    cluster_row("orders", &[("env", "prod")]),
                    cluster_row("billing", &[]),
                    cluster_row("scratch", &[("env", "dev")]),
                ],
                None,
            )
        });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);

    let found = directory(client)
        .instances_by_tags(&tags(&["env=prod"]))
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|db| db.id.as_str()).collect();
    assert_eq!(ids, ["billing-1", "orders-1", "orders-2", "plain"]);
    assert_eq!((instances.num_calls(), clusters.num_calls()), (1, 1));

    let orders_1 = found
        .iter()
        .find(|db| db.id.as_str() == "orders-1")
        .unwrap();
    let cluster = orders_1.cluster.as_ref().unwrap();
    assert_eq!(cluster.id, "orders");
    assert_eq!(
        cluster.writer_endpoint.as_ref().map(|h| h.as_str()),
        Some("orders.cluster-abc.us-east-1.rds.amazonaws.com")
    );
    assert_eq!(
        cluster.reader_endpoint.as_ref().map(|h| h.as_str()),
        Some("orders.cluster-ro-abc.us-east-1.rds.amazonaws.com")
    );
    // The instance's own tags are reported, not the cluster's.
    assert!(orders_1.tags.is_empty());
    let plain = found.iter().find(|db| db.id.as_str() == "plain").unwrap();
    assert!(plain.cluster.is_none());
}

#[tokio::test]
async fn instance_lookup_takes_one_call_plus_one_for_its_cluster() {
    let instances = mock!(Client::describe_db_instances)
        .match_requests(|req| {
            req.db_instance_identifier() == Some("orders-1") && req.filters().is_empty()
        })
        .then_output(|| {
            let mut r = aurora_row("orders-1", "orders", &[("env", "prod")]);
            r.iam_database_authentication_enabled = Some(false);
            instances_page(vec![r], None)
        });
    let clusters = mock!(Client::describe_db_clusters)
        .match_requests(|req| req.db_cluster_identifier() == Some("orders"))
        .then_output(|| {
            let mut c = cluster_row("orders", &[]);
            c.iam_database_authentication_enabled = Some(true);
            clusters_page(vec![c], None)
        });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);

    let db = directory(client).instance(&id("orders-1")).await.unwrap();
    assert_eq!((instances.num_calls(), clusters.num_calls()), (1, 1));
    assert_eq!(db.account.as_deref(), Some(ACCOUNT));
    assert_eq!(db.region.as_ref().map(|r| r.as_str()), Some("us-east-1"));
    assert_eq!(db.dbi_resource_id.as_deref(), Some("db-ORDERS1"));
    assert_eq!(db.cluster.as_ref().map(|c| c.id.as_str()), Some("orders"));
    // Aurora: IAM database authentication is the cluster's setting, and IAM ARNs name the
    // cluster resource id.
    assert_eq!(db.iam_auth, Some(true));
    assert_eq!(db.iam_resource_id(), Some("cluster-ORDERS"));
    assert_eq!(db.is_cluster_writer(), Some(true));
    assert!(!db.is_cluster_entry());
}

#[tokio::test]
async fn an_aurora_cluster_identifier_yields_one_entry_for_the_cluster() {
    let instances = mock!(Client::describe_db_instances).then_compute_response(|req| {
        match req.db_instance_identifier() {
            // The writer, asked for its CA certificate.
            Some("orders-1") => {
                let mut r = aurora_row("orders-1", "orders", &[]);
                r.ca_certificate_identifier = Some("rds-ca-ecc384-g1".to_owned());
                aws_smithy_mocks::MockResponse::Output(instances_page(vec![r], None))
            }
            _ => aws_smithy_mocks::MockResponse::Error(
                DescribeDBInstancesError::DbInstanceNotFoundFault(
                    DbInstanceNotFoundFault::builder().build(),
                ),
            ),
        }
    });
    let clusters = mock!(Client::describe_db_clusters)
        .match_requests(|req| req.db_cluster_identifier() == Some("orders"))
        .then_output(|| clusters_page(vec![cluster_row("orders", &[("env", "prod")])], None));
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);

    let db = directory(client).instance(&id("orders")).await.unwrap();
    // instance "orders" (not found), cluster "orders", writer "orders-1".
    assert_eq!((instances.num_calls(), clusters.num_calls()), (2, 1));
    assert!(db.is_cluster_entry());
    assert_eq!(db.id.as_str(), "orders");
    assert_eq!(
        db.arn.as_deref(),
        Some("arn:aws:rds:us-east-1:123456789012:cluster:orders")
    );
    assert_eq!(db.account.as_deref(), Some(ACCOUNT));
    assert_eq!(db.dbi_resource_id.as_deref(), Some("cluster-ORDERS"));
    assert_eq!(db.iam_resource_id(), Some("cluster-ORDERS"));
    assert_eq!(
        db.host.as_ref().map(|h| h.as_str()),
        Some("orders.cluster-abc.us-east-1.rds.amazonaws.com")
    );
    assert_eq!(db.port, Some(5432));
    assert_eq!(db.iam_auth, Some(true));
    assert_eq!(db.ca_certificate.as_deref(), Some("rds-ca-ecc384-g1"));
    assert_eq!(db.tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(db.status.as_ref().map(|s| s.as_str()), Some("available"));
}

#[tokio::test]
async fn unknown_instance_is_not_found_naming_id_and_region() {
    let instances = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .message("DBInstance ghost not found.")
                .build(),
        )
    });
    // The identifier may name an Aurora cluster instead: that is asked too.
    let clusters = mock!(Client::describe_db_clusters)
        .match_requests(|req| req.db_cluster_identifier() == Some("ghost"))
        .then_error(|| {
            DescribeDBClustersError::DbClusterNotFoundFault(
                DbClusterNotFoundFault::builder()
                    .message("DBCluster ghost not found.")
                    .build(),
            )
        });
    let client = mock_client!(aws_sdk_rds, [&instances, &clusters]);
    let err = directory(client).instance(&id("ghost")).await.unwrap_err();
    assert_eq!((instances.num_calls(), clusters.num_calls()), (1, 1));
    assert!(
        matches!(&err, DiscoveryError::NotFound { id, region } if id.as_str() == "ghost" && region.as_str() == "us-east-1")
    );
    assert!(
        err.to_string()
            .contains("`ghost` not found in region us-east-1"),
        "{err}"
    );
}

#[tokio::test]
async fn mysql_instance_is_refused_by_lookup_and_skipped_by_listing() {
    let lookup = mock!(Client::describe_db_instances)
        .match_requests(|req| req.db_instance_identifier().is_some())
        .then_output(|| instances_page(vec![row("shop", "mysql", &[("env", "prod")])], None));
    // A server that ignored the engine filter: the MySQL row must still not be returned.
    let listing = mock!(Client::describe_db_instances)
        .match_requests(|req| req.db_instance_identifier().is_none())
        .then_output(|| {
            instances_page(
                vec![
                    row("shop", "mysql", &[("env", "prod")]),
                    row("pg", "postgres", &[("env", "prod")]),
                ],
                None,
            )
        });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&lookup, &listing]);
    let dir = directory(client);

    let err = dir.instance(&id("shop")).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::NotPostgres { engine, .. } if engine == "mysql"),
        "{err:?}"
    );
    let found = dir.instances_by_tags(&tags(&["env=prod"])).await.unwrap();
    assert_eq!(
        found.iter().map(|db| db.id.as_str()).collect::<Vec<_>>(),
        ["pg"]
    );
}

#[tokio::test]
async fn access_denied_names_the_api_action_to_allow() {
    let message = "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: \
                   rds:DescribeDBInstances";
    let instances = mock!(Client::describe_db_instances).then_error(move || {
        DescribeDBInstancesError::generic(service_error("AccessDenied", message))
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let dir = directory(client);

    for err in [
        dir.instance(&id("orders")).await.unwrap_err(),
        dir.instances_by_tags(&tags(&["env"])).await.unwrap_err(),
    ] {
        assert!(
            matches!(
                &err,
                DiscoveryError::AccessDenied {
                    action: "rds:DescribeDBInstances",
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("allow `rds:DescribeDBInstances`") && text.contains("user/bob"),
            "{text}"
        );
        assert!(err.source().is_some(), "the SDK error is kept as source");
    }
}

#[tokio::test]
async fn access_denied_on_clusters_names_describe_db_clusters() {
    let instances = mock!(Client::describe_db_instances)
        .then_output(|| instances_page(vec![aurora_row("a-1", "a", &[("env", "prod")])], None));
    let clusters = mock!(Client::describe_db_clusters).then_error(|| {
        DescribeDBClustersError::generic(service_error("AccessDeniedException", "not authorized"))
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
    let dir = directory(client);
    for err in [
        dir.instance(&id("a-1")).await.unwrap_err(),
        dir.instances_by_tags(&tags(&["env=prod"]))
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                &err,
                DiscoveryError::AccessDenied {
                    action: "rds:DescribeDBClusters",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn throttling_is_retried_then_reported_as_throttled() {
    let instances = mock!(Client::describe_db_instances)
        .sequence()
        .error(|| DescribeDBInstancesError::generic(service_error("Throttling", "Rate exceeded")))
        .times(4)
        .build();
    let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&instances], |c| c
        .retry_config(fast_retries(4)));
    let err = directory(client).instance(&id("orders")).await.unwrap_err();
    assert_eq!(
        instances.num_calls(),
        4,
        "every configured attempt was made"
    );
    assert!(
        matches!(
            &err,
            DiscoveryError::Throttled {
                max_attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_throttling());
    assert!(err.to_string().contains("after 4 attempt(s)"), "{err}");
}

#[tokio::test]
async fn throttling_that_clears_within_the_retries_succeeds() {
    let instances = mock!(Client::describe_db_instances)
        .sequence()
        .error(|| {
            DescribeDBInstancesError::generic(service_error("ThrottlingException", "slow down"))
        })
        .times(2)
        .output(|| instances_page(vec![row("orders", "postgres", &[])], None))
        .build();
    let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&instances], |c| c
        .retry_config(fast_retries(3)));
    let db = directory(client).instance(&id("orders")).await.unwrap();
    assert_eq!(db.id.as_str(), "orders");
    assert_eq!(instances.num_calls(), 3);
}

#[tokio::test]
async fn a_later_page_that_fails_makes_the_listing_an_error_not_a_short_list() {
    let first = mock!(Client::describe_db_instances)
        .match_requests(|req| req.marker().is_none())
        .then_output(|| {
            instances_page(
                (0..100)
                    .map(|i| row(&format!("pg-{i:03}"), "postgres", &[("env", "prod")]))
                    .collect(),
                Some("page-2"),
            )
        });
    let second = mock!(Client::describe_db_instances)
        .match_requests(|req| req.marker() == Some("page-2"))
        .then_error(|| {
            DescribeDBInstancesError::generic(service_error("Throttling", "Rate exceeded"))
        });
    let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&first, &second], |c| c
        .retry_config(fast_retries(1)));
    let err = directory(client)
        .instances_by_tags(&tags(&["env=prod"]))
        .await
        .unwrap_err();
    match &err {
        DiscoveryError::Incomplete {
            action,
            pages,
            items,
            source,
        } => {
            assert_eq!(
                (*action, *pages, *items),
                ("rds:DescribeDBInstances", 1, 100)
            );
            assert!(
                matches!(**source, DiscoveryError::Throttled { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert!(err.is_throttling());
    assert!(
        err.to_string()
            .contains("failed on page 2 after 100 item(s)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_page_that_repeats_its_marker_is_a_stalled_listing() {
    // The SDK paginator stops silently when a page repeats the marker it was asked with; that
    // must not pass for the end of the fleet.
    let pages = mock!(Client::describe_db_instances).then_compute_output(|req| {
        let rows = vec![row(
            &format!("pg-{}", req.marker().unwrap_or("first")),
            "postgres",
            &[],
        )];
        instances_page(rows, Some("stuck"))
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&pages]);
    let err = directory(client)
        .instances_by_tags(&tags(&["env"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::PaginationStalled {
                pages: 2,
                items: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(pages.num_calls(), 2);
}

#[tokio::test]
async fn an_empty_last_page_after_a_marker_is_a_normal_end() {
    let pages =
        mock!(Client::describe_db_instances).then_compute_output(|req| match req.marker() {
            None => instances_page(vec![row("pg-a", "postgres", &[("env", "prod")])], Some("m")),
            Some(_) => instances_page(vec![], None),
        });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&pages]);
    let found = directory(client)
        .instances_by_tags(&tags(&["env"]))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(pages.num_calls(), 2);
}

#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no provider in the chain had credentials",
        )))
    }
}

#[tokio::test]
async fn missing_credentials_say_where_credentials_come_from() {
    // An HTTP-level mock: it is only served if a request is actually sent (a modeled output
    // would be injected by the mock even after the credential chain failed).
    let instances = mock!(Client::describe_db_instances)
        .sequence()
        .http_status(500, None)
        .build();
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances], |c| c
        .credentials_provider(NoCredentials)
        .retry_config(fast_retries(1)));
    let err = directory(client).instance(&id("orders")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::CredentialsMissing {
                source: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("AWS_PROFILE") && text.contains("AWS_ACCESS_KEY_ID"),
        "{text}"
    );
    // What the credential chain said is the error's source, not part of its message.
    assert!(
        !text.contains("no provider in the chain had credentials"),
        "{text}"
    );
    let chain = error_chain(&err);
    assert!(
        chain.contains("no provider in the chain had credentials"),
        "{chain}"
    );
}

#[tokio::test]
async fn rejected_credentials_are_told_apart_from_missing_ones() {
    let instances = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::generic(service_error(
            "InvalidClientTokenId",
            "The security token is invalid.",
        ))
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let err = directory(client).instance(&id("orders")).await.unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::CredentialsRejected { code, .. } if code == "InvalidClientTokenId"),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_service_errors_keep_code_and_message() {
    let instances = mock!(Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::generic(service_error("InvalidParameterValue", "bad filter"))
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let err = directory(client).instance(&id("orders")).await.unwrap_err();
    assert!(matches!(&err, DiscoveryError::Aws { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`InvalidParameterValue`: bad filter"),
        "{err}"
    );
}

#[tokio::test]
async fn instance_naming_a_vanished_cluster_is_an_error() {
    let instances = mock!(Client::describe_db_instances)
        .then_output(|| instances_page(vec![aurora_row("a-1", "gone", &[("env", "prod")])], None));
    let clusters = no_clusters_rule();
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
    let err = directory(client)
        .instances_by_tags(&tags(&["env=prod"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::ClusterNotFound { cluster, .. } if cluster == "gone"),
        "{err:?}"
    );
}

#[tokio::test]
async fn one_directory_serves_many_tasks_at_once() {
    let instances = mock!(Client::describe_db_instances).then_compute_output(|req| {
        let name = req.db_instance_identifier().unwrap_or("none");
        instances_page(vec![row(name, "postgres", &[])], None)
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let dir: Arc<dyn InstanceDirectory> = Arc::new(directory(client));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let dir = Arc::clone(&dir);
            tokio::spawn(async move { dir.instance(&id(&format!("db-{i}"))).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let db = task.await.unwrap().unwrap();
        assert_eq!(db.id.as_str(), format!("db-{i}"));
    }
    assert_eq!(instances.num_calls(), 16);
}

#[tokio::test]
async fn iam_requirement_is_checked_against_the_discovered_instance() {
    let instances = mock!(Client::describe_db_instances).then_compute_output(|req| {
        let name = req.db_instance_identifier().unwrap_or_default();
        let mut r = row(name, "postgres", &[]);
        r.iam_database_authentication_enabled = Some(name == "with-iam");
        instances_page(vec![r], None)
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances]);
    let dir = directory(client);

    let without = dir.instance(&id("without-iam")).await.unwrap();
    let err = without.ensure_usable(im::AuthType::Iam).unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::IamAuthDisabled { id, .. } if id.as_str() == "without-iam")
    );
    assert!(err.to_string().contains("`without-iam`"), "{err}");
    without.ensure_usable(im::AuthType::Password).unwrap();

    dir.instance(&id("with-iam"))
        .await
        .unwrap()
        .ensure_usable(im::AuthType::Iam)
        .unwrap();
}

#[tokio::test]
async fn json_has_exactly_the_documented_fields() {
    let instances = mock!(Client::describe_db_instances).then_compute_output(|req| {
        let name = req.db_instance_identifier().unwrap_or_default();
        let r = if name == "orders-1" {
            aurora_row(name, "orders", &[("env", "prod")])
        } else {
            row(name, "postgres", &[("env", "prod"), ("team", "data")])
        };
        instances_page(vec![r], None)
    });
    let clusters = mock!(Client::describe_db_clusters)
        .then_output(|| clusters_page(vec![cluster_row("orders", &[])], None));
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
    let dir = directory(client);

    let plain = serde_json::to_value(dir.instance(&id("plain")).await.unwrap()).unwrap();
    let expected = serde_json::json!({
        "id": "plain",
        "arn": "arn:aws:rds:us-east-1:123456789012:db:plain",
        "account": "123456789012",
        "region": "us-east-1",
        "dbi_resource_id": "db-PLAIN",
        "engine": "postgres",
        "engine_version": "16.4",
        "status": "available",
        "host": "plain.abc.us-east-1.rds.amazonaws.com",
        "port": 5432,
        "iam_auth": true,
        "ca_certificate": "rds-ca-rsa2048-g1",
        "tags": {"env": "prod", "team": "data"},
    });
    assert_eq!(plain, expected);

    let aurora = serde_json::to_value(dir.instance(&id("orders-1")).await.unwrap()).unwrap();
    assert_eq!(aurora["engine"], "aurora-postgresql");
    assert_eq!(
        aurora["cluster"],
        serde_json::json!({
            "id": "orders",
            "resource_id": "cluster-ORDERS",
            "writer_instance": "orders-1",
            "writer_endpoint": "orders.cluster-abc.us-east-1.rds.amazonaws.com",
            "reader_endpoint": "orders.cluster-ro-abc.us-east-1.rds.amazonaws.com",
            "port": 5432,
        })
    );
}
