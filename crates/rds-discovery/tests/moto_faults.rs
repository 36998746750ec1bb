//! Paginated discovery against moto through an HTTP fault proxy (issue 15): 250 instances are
//! three pages of `DescribeDBInstances`; page k (the first call is page 1) is throttled (in
//! the query protocol's XML error shape), answered 503, dropped without an answer, or delayed
//! past the SDK's attempt timeout.
//!
//! Checked: a fault the SDK's standard retry absorbs gives the complete list; one that
//! outlasts the retries gives a typed error naming the action and the page (`Incomplete`, or
//! `Throttled` for a lone lookup), never a shorter list; once the fault clears, the same
//! directory returns the complete list again.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use integration_model::TagFilters;
use pg_testkit::{AwsFault, AwsFaultProxy, MotoServer};
use rds_discovery::{AwsDirectory, DiscoveryError, InstanceDirectory};

const LIST: &str = "DescribeDBInstances";
const FLEET: usize = 250;

fn team() -> TagFilters {
    TagFilters::new(["team".parse().expect("filter")]).expect("filters")
}

/// 3 attempts per call with short backoff, 2 s per attempt.
fn directory(proxy: &AwsFaultProxy) -> AwsDirectory {
    let config = proxy
        .sdk_config()
        .to_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .build();
    AwsDirectory::from_sdk_config(&config).expect("directory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_any_page_gives_the_whole_fleet_or_an_error_never_a_short_list() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("moto_server is required: {e}"));
    moto.boto3(&format!(
        r#"
for i in range({FLEET}):
    rds.create_db_instance(
        DBInstanceIdentifier=f"pg-{{i:03d}}", Engine="postgres", DBInstanceClass="db.t3.micro",
        MasterUsername="master", MasterUserPassword="password-1", AllocatedStorage=20,
        Tags=[{{"Key": "team", "Value": "data"}}])
"#
    ))
    .unwrap_or_else(|e| panic!("boto3 setup: {e}"));
    let proxy = AwsFaultProxy::start(&moto).expect("proxy");
    let dir = directory(&proxy);

    // Faults the retry absorbs, on each page in turn: the whole fleet.
    for page in 1..=3 {
        for fault in [AwsFault::Throttle, AwsFault::Unavailable, AwsFault::Drop] {
            proxy.clear();
            let before = proxy.calls(LIST);
            proxy.inject(LIST, fault, page - 1, 2);
            let all = dir
                .instances_by_tags(&team())
                .await
                .unwrap_or_else(|e| panic!("page {page}, {fault:?} twice: {e}"));
            assert_eq!(all.len(), FLEET, "page {page}, {fault:?}");
            // 3 pages and the 2 retried attempts.
            assert_eq!(proxy.calls(LIST) - before, 5, "page {page}, {fault:?}");
        }
    }

    // Faults that outlast the 3 attempts: an error naming the page, never a shorter list.
    for page in 1..=3 {
        for fault in [
            AwsFault::Throttle,
            AwsFault::Unavailable,
            AwsFault::Drop,
            AwsFault::Delay(Duration::from_secs(3)),
        ] {
            proxy.clear();
            proxy.inject(LIST, fault, page - 1, 3);
            let err = dir
                .instances_by_tags(&team())
                .await
                .expect_err("three failed attempts");
            let text = err.to_string();
            assert!(text.contains(LIST), "page {page}, {fault:?}: {text}");
            match (&err, page) {
                (DiscoveryError::Incomplete { pages, items, .. }, p) if p > 1 => {
                    assert_eq!((*pages, *items), (p - 1, (p - 1) * 100), "{text}");
                    assert!(text.contains(&format!("page {p}")), "{text}");
                }
                (DiscoveryError::Throttled { max_attempts, .. }, 1) => {
                    assert_eq!(fault, AwsFault::Throttle);
                    assert_eq!(*max_attempts, 3);
                }
                (DiscoveryError::Aws { .. }, 1) => {
                    assert_ne!(
                        fault,
                        AwsFault::Throttle,
                        "throttling is told apart: {text}"
                    );
                }
                _ => panic!("page {page}, {fault:?}: unexpected {err:?}"),
            }
            if let DiscoveryError::Incomplete { source, .. } = &err
                && fault == AwsFault::Throttle
            {
                assert!(
                    matches!(**source, DiscoveryError::Throttled { .. }),
                    "{source:?}"
                );
            }
        }
    }

    // The fault clears: the same directory reads the whole fleet again.
    proxy.clear();
    // Let delayed calls still in the proxy finish (they reach moto late; nothing depends on
    // them, listing is read-only).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = dir.instances_by_tags(&team()).await.expect("fault cleared");
    assert_eq!(all.len(), FLEET);

    // A lone lookup throttled past its retries: `Throttled`, naming the action.
    proxy.inject(LIST, AwsFault::Throttle, 0, 3);
    let err = dir
        .instance(&"pg-007".parse().expect("id"))
        .await
        .expect_err("throttled three times");
    assert!(
        matches!(
            err,
            DiscoveryError::Throttled {
                action: "rds:DescribeDBInstances",
                ..
            }
        ),
        "{err:?}"
    );
    proxy.clear();
    let one = dir
        .instance(&"pg-007".parse().expect("id"))
        .await
        .expect("cleared");
    assert_eq!(one.id.as_str(), "pg-007");
}
