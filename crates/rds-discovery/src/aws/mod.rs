//! [`AwsDirectory`]: the [`InstanceDirectory`] backed by the RDS API (`aws-sdk-rds`).
//!
//! # API calls
//! - [`instance`](InstanceDirectory::instance): one `DescribeDBInstances` call with the
//!   identifier, plus one `DescribeDBClusters` call when the instance belongs to a DB cluster.
//!   When no instance has the identifier, it may name a DB cluster (integrations may name an
//!   Aurora cluster): one `DescribeDBClusters` call, plus one `DescribeDBInstances` call for the
//!   writer's CA certificate; the result is one entry for the whole cluster (see
//!   [`DbInstance`]).
//! - [`instances_by_tags`](InstanceDirectory::instances_by_tags): `DescribeDBInstances` with the
//!   server-side filter `engine=postgres,aurora-postgresql`, 100 instances a page, followed to
//!   the last page (250 instances = 3 calls). Tags come with each row (`TagList`), so there is
//!   no call per instance. `DescribeDBInstances` cannot filter on tags, so tags are matched here.
//!   When some PostgreSQL instance belongs to a DB cluster, the PostgreSQL clusters are listed
//!   the same way (`DescribeDBClusters`, filter `engine`, 100 a page): this gives each instance
//!   its writer and reader endpoints, and lets an Aurora instance match through its cluster's
//!   tags (see below), in a few calls whatever the number of clusters.
//!
//! # Aurora and tags
//! Aurora tags live on the cluster and on each instance separately. An instance of a DB cluster
//! is selected when its own tags match every filter **or** its cluster's tags match every
//! filter (each set on its own, not merged). The returned `tags` are always the instance's own.
//!
//! # Incomplete listings
//! A listing cut short is an error, never a shorter fleet: a failing later page yields
//! [`DiscoveryError::Incomplete`] (naming the page and the count read so far), a page that
//! repeats the previous marker yields [`DiscoveryError::PaginationStalled`].

mod convert;
mod sdk_error;

use crate::directory::InstanceDirectory;
use crate::error::DiscoveryError;
use crate::instance::{DbInstance, Engine};
use crate::model::{AwsEndpointUrl, AwsProfile, InstanceId, Integration, Region, TagFilters};
use aws_config::BehaviorVersion;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::types::Filter;
use convert::ClusterRow;
use std::collections::BTreeMap;
use tracing::Instrument;

/// The IAM action behind instance lookups; named in [`DiscoveryError::AccessDenied`].
pub const DESCRIBE_INSTANCES: &str = "rds:DescribeDBInstances";
/// The IAM action behind cluster lookups; named in [`DiscoveryError::AccessDenied`].
pub const DESCRIBE_CLUSTERS: &str = "rds:DescribeDBClusters";

/// Rows per page (`MaxRecords`): the API maximum, to keep the number of calls low.
const PAGE_SIZE: i32 = 100;

/// The default number of attempts per API call (the AWS SDK's standard retry mode).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Options to build an [`AwsDirectory`] from the standard AWS configuration chain
/// (environment, shared config and credentials files, SSO, web identity, container and
/// instance roles).
///
/// ```
/// use rds_discovery::AwsOptions;
/// let options = AwsOptions::new("eu-west-1".parse()?)
///     .profile("ops".parse()?)
///     .endpoint_url("http://127.0.0.1:5000".parse()?)
///     .max_attempts(5);
/// assert_eq!(options.region().as_str(), "eu-west-1");
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsOptions {
    region: Region,
    endpoint_url: Option<AwsEndpointUrl>,
    profile: Option<AwsProfile>,
    max_attempts: u32,
}

impl AwsOptions {
    /// Options for `region`, with the default profile, the AWS endpoint and
    /// [`DEFAULT_MAX_ATTEMPTS`].
    pub fn new(region: Region) -> Self {
        Self {
            region,
            endpoint_url: None,
            profile: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Options for an integration: its region and its `[aws]` settings (endpoint URL, profile).
    pub fn from_integration(integration: &Integration) -> Self {
        let aws = integration.aws();
        Self {
            region: integration.region().clone(),
            endpoint_url: aws.endpoint_url().cloned(),
            profile: aws.profile().cloned(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Sends requests to this URL instead of the AWS endpoint (tests with `moto_server`,
    /// LocalStack, VPC endpoints).
    #[must_use]
    pub fn endpoint_url(mut self, url: AwsEndpointUrl) -> Self {
        self.endpoint_url = Some(url);
        self
    }

    /// Uses this named profile of the shared AWS config files (like `AWS_PROFILE`).
    #[must_use]
    pub fn profile(mut self, name: AwsProfile) -> Self {
        self.profile = Some(name);
        self
    }

    /// Attempts per API call, first try included (at least 1); throttling and transient errors
    /// are retried with the SDK's exponential backoff.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The endpoint URL used instead of the AWS endpoint, if any (getters take the `get_` prefix
    /// of the AWS SDK builders, as the setters have the plain names).
    pub fn get_endpoint_url(&self) -> Option<&AwsEndpointUrl> {
        self.endpoint_url.as_ref()
    }

    /// The named profile, if any.
    pub fn get_profile(&self) -> Option<&AwsProfile> {
        self.profile.as_ref()
    }

    /// Attempts per API call.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Loads the standard AWS configuration chain (credentials, retries) with these options:
    /// the region, the endpoint URL, and the profile, which then is the only source of
    /// credentials (as `aws --profile` does: no fall back to environment variables or instance
    /// roles). The result can be shared with other AWS clients (Secrets Manager, IAM tokens),
    /// so that one integration loads its AWS configuration once.
    ///
    /// Credentials are resolved at the first call that needs them, not here.
    ///
    /// # Errors
    /// [`DiscoveryError::InvalidOption`] naming the bad option.
    pub async fn load_sdk_config(&self) -> Result<aws_config::SdkConfig, DiscoveryError> {
        self.validate()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.as_str().to_owned()))
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile.as_str()).credentials_provider(
                ProfileFileCredentialsProvider::builder()
                    .profile_name(profile.as_str())
                    .build(),
            );
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.as_str());
        }
        Ok(loader.load().await)
    }

    fn validate(&self) -> Result<(), DiscoveryError> {
        if self.max_attempts == 0 {
            return Err(DiscoveryError::InvalidOption {
                field: "max_attempts",
                reason: "must be at least 1 (1 = no retry)".to_owned(),
            });
        }
        Ok(())
    }
}

/// Finds PostgreSQL instances with the RDS API. Cheap to clone and safe to share across tasks
/// (the SDK client is).
#[derive(Debug, Clone)]
pub struct AwsDirectory {
    client: aws_sdk_rds::Client,
    region: Region,
    max_attempts: u32,
    /// The named profile credentials come from, for error messages.
    profile: Option<AwsProfile>,
}

impl AwsDirectory {
    /// Loads the standard AWS configuration chain with `options` and builds a directory.
    ///
    /// Credentials are resolved at the first call, not here: missing credentials surface as
    /// [`DiscoveryError::CredentialsMissing`] from the first lookup.
    ///
    /// # Errors
    /// [`DiscoveryError::InvalidOption`] naming the bad option.
    pub async fn from_options(options: &AwsOptions) -> Result<Self, DiscoveryError> {
        let config = options.load_sdk_config().await?;
        Ok(Self::from_loaded(options, &config))
    }

    /// As [`from_options`](Self::from_options), with the configuration `options` already
    /// loaded ([`AwsOptions::load_sdk_config`]): a caller that needs it for other clients too
    /// (Secrets Manager, IAM tokens) loads it once. Credentials are resolved at the first
    /// call, as with `from_options`.
    pub fn from_loaded(options: &AwsOptions, config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_rds::Client::new(config),
            region: options.region.clone(),
            max_attempts: options.max_attempts,
            profile: options.profile.clone(),
        }
    }

    /// Builds a directory from an already loaded AWS configuration (region, credentials,
    /// retries and endpoint are taken from it), e.g. one shared with the caller's other AWS
    /// clients. `SdkConfig` is the stable `aws-types` 1.x type that every AWS SDK crate shares.
    ///
    /// # Errors
    /// [`DiscoveryError::InvalidOption`] when `config` has no region or an unusable one;
    /// [`DiscoveryError::CredentialsMissing`] when it has no credentials provider at all.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Result<Self, DiscoveryError> {
        if config.credentials_provider().is_none() {
            return Err(DiscoveryError::CredentialsMissing {
                reason: "the AWS configuration has no credentials provider".to_owned(),
                source: None,
            });
        }
        let region = parse_region(config.region().map(|r| r.as_ref()))?;
        let max_attempts = config
            .retry_config()
            .map_or(DEFAULT_MAX_ATTEMPTS, |r| r.max_attempts());
        Ok(Self {
            client: aws_sdk_rds::Client::new(config),
            region,
            max_attempts,
            profile: None,
        })
    }

    /// Wraps an existing RDS client (its region, credentials and retries are used).
    ///
    /// This ties the caller to the `aws-sdk-rds` version this crate depends on; prefer
    /// [`from_options`](Self::from_options) or [`from_sdk_config`](Self::from_sdk_config)
    /// unless you need a client customised beyond them (interceptors, test doubles).
    ///
    /// # Errors
    /// [`DiscoveryError::InvalidOption`] when the client has no region or an unusable one.
    pub fn from_sdk_client(client: aws_sdk_rds::Client) -> Result<Self, DiscoveryError> {
        let config = client.config();
        let region = parse_region(config.region().map(|r| r.as_ref()))?;
        let max_attempts = config
            .retry_config()
            .map_or(DEFAULT_MAX_ATTEMPTS, |r| r.max_attempts());
        Ok(Self {
            client,
            region,
            max_attempts,
            profile: None,
        })
    }

    /// The region this directory searches.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Classifies an SDK error; a missing-credentials error names the profile in use.
    fn classify<E>(&self, err: SdkError<E, HttpResponse>, action: &'static str) -> DiscoveryError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match sdk_error::classify(err, action, self.max_attempts) {
            DiscoveryError::CredentialsMissing { reason, source } => {
                DiscoveryError::CredentialsMissing {
                    reason: match &self.profile {
                        Some(profile) => format!("profile `{profile}`: {reason}"),
                        None => reason,
                    },
                    source,
                }
            }
            other => other,
        }
    }

    fn engine_filter() -> Filter {
        Filter::builder()
            .name("engine")
            .set_values(Some(
                Engine::ALL.iter().map(|e| e.as_str().to_owned()).collect(),
            ))
            .build()
    }

    /// Every PostgreSQL instance row of the region, all pages.
    async fn list_instance_rows(
        &self,
    ) -> Result<Vec<aws_sdk_rds::types::DbInstance>, DiscoveryError> {
        let mut pages = self
            .client
            .describe_db_instances()
            .filters(Self::engine_filter())
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        let mut tracker = PageTracker::new(DESCRIBE_INSTANCES);
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                tracker.fail(self.classify::<DescribeDBInstancesError>(e, DESCRIBE_INSTANCES))
            })?;
            let batch = page.db_instances.unwrap_or_default();
            tracker.page(page.marker.as_deref(), batch.len());
            rows.extend(batch);
        }
        tracker.finish()?;
        Ok(rows)
    }

    /// Every PostgreSQL DB cluster row of the region, all pages, by identifier.
    async fn list_cluster_rows(&self) -> Result<BTreeMap<String, ClusterRow>, DiscoveryError> {
        let mut pages = self
            .client
            .describe_db_clusters()
            .filters(Self::engine_filter())
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        let mut tracker = PageTracker::new(DESCRIBE_CLUSTERS);
        let mut clusters = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                tracker.fail(self.classify::<DescribeDBClustersError>(e, DESCRIBE_CLUSTERS))
            })?;
            let batch = page.db_clusters.unwrap_or_default();
            tracker.page(page.marker.as_deref(), batch.len());
            for raw in &batch {
                if let Some(row) = convert::cluster(raw)? {
                    clusters.insert(row.cluster.id.clone(), row);
                }
            }
        }
        tracker.finish()?;
        Ok(clusters)
    }

    /// The instance row with this identifier, `None` when there is none.
    async fn describe_instance(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_rds::types::DbInstance>, DiscoveryError> {
        let output = match self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.classify(e, DESCRIBE_INSTANCES)),
        };
        Ok(output
            .db_instances
            .unwrap_or_default()
            .into_iter()
            .find(|raw| {
                raw.db_instance_identifier()
                    .is_some_and(|i| i.eq_ignore_ascii_case(id))
            }))
    }

    /// The cluster row with this identifier, `None` when there is none.
    async fn describe_cluster(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_rds::types::DbCluster>, DiscoveryError> {
        let output = match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_cluster_not_found_fault()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.classify(e, DESCRIBE_CLUSTERS)),
        };
        Ok(output
            .db_clusters
            .unwrap_or_default()
            .into_iter()
            .find(|raw| {
                raw.db_cluster_identifier()
                    .is_some_and(|i| i.eq_ignore_ascii_case(id))
            }))
    }

    /// The one cluster `cluster_id`, which instance `instance` names.
    async fn cluster_of(
        &self,
        instance: &InstanceId,
        cluster_id: &str,
    ) -> Result<ClusterRow, DiscoveryError> {
        let raw = self.describe_cluster(cluster_id).await?;
        match raw.as_ref().map(convert::cluster).transpose()?.flatten() {
            Some(row) => Ok(row),
            None => Err(DiscoveryError::ClusterNotFound {
                instance: instance.clone(),
                cluster: cluster_id.to_owned(),
                region: self.region.clone(),
            }),
        }
    }

    /// The entry for a DB cluster named by an integration, `NotFound` when there is none.
    async fn cluster_entry(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        let not_found = || DiscoveryError::NotFound {
            id: id.clone(),
            region: self.region.clone(),
        };
        let Some(raw) = self.describe_cluster(id.as_str()).await? else {
            return Err(not_found());
        };
        let Some(row) = convert::cluster(&raw)? else {
            return Err(not_found());
        };
        let writer = match &row.cluster.writer_instance {
            Some(writer) => self.describe_instance(writer).await?,
            None => None,
        };
        convert::cluster_entry(&raw, &row, writer.as_ref(), &self.region)
    }
}

/// Whether `tags` satisfy every filter.
fn matches(filters: &TagFilters, tags: &BTreeMap<String, String>) -> bool {
    filters.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn parse_region(region: Option<&str>) -> Result<Region, DiscoveryError> {
    let Some(text) = region else {
        return Err(DiscoveryError::InvalidOption {
            field: "region",
            reason: "the AWS configuration has no region: set one (AWS_REGION, the profile's \
                     `region`, or in code)"
                .to_owned(),
        });
    };
    text.parse().map_err(|e| DiscoveryError::InvalidOption {
        field: "region",
        reason: format!("`{text}` is not a valid region: {e}"),
    })
}

/// Counts pages and items of a listing, so that a listing cut short is reported with what
/// was read, and a marker left pending at the end is an error.
#[derive(Debug)]
struct PageTracker {
    action: &'static str,
    pages: usize,
    items: usize,
    marker_pending: bool,
}

impl PageTracker {
    fn new(action: &'static str) -> Self {
        Self {
            action,
            pages: 0,
            items: 0,
            marker_pending: false,
        }
    }

    fn page(&mut self, marker: Option<&str>, items: usize) {
        self.pages += 1;
        self.items += items;
        self.marker_pending = marker.is_some_and(|m| !m.is_empty());
    }

    /// The error for a failed page: as is on the first page, wrapped in `Incomplete` later.
    fn fail(&self, err: DiscoveryError) -> DiscoveryError {
        if self.pages == 0 {
            err
        } else {
            DiscoveryError::Incomplete {
                action: self.action,
                pages: self.pages,
                items: self.items,
                source: Box::new(err),
            }
        }
    }

    /// The SDK paginator ends silently when a page repeats the previous marker; a marker still
    /// pending at the end means the listing was cut short.
    fn finish(&self) -> Result<(), DiscoveryError> {
        if self.marker_pending {
            return Err(DiscoveryError::PaginationStalled {
                action: self.action,
                pages: self.pages,
                items: self.items,
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl InstanceDirectory for AwsDirectory {
    async fn instance(&self, id: &InstanceId) -> Result<DbInstance, DiscoveryError> {
        let span = tracing::debug_span!("rds.instance", region = %self.region, instance = %id);
        async {
            // An integration may name an instance or an Aurora cluster (`instance.id`).
            let Some(raw) = self.describe_instance(id.as_str()).await? else {
                return self.cluster_entry(id).await;
            };
            let mut db = convert::instance(&raw, &self.region)?;
            if let Some(cluster_id) = raw.db_cluster_identifier() {
                self.cluster_of(id, cluster_id).await?.attach_to(&mut db);
            }
            Ok(db)
        }
        .instrument(span)
        .await
    }

    async fn instances_by_tags(
        &self,
        filters: &TagFilters,
    ) -> Result<Vec<DbInstance>, DiscoveryError> {
        let span = tracing::debug_span!(
            "rds.instances_by_tags",
            region = %self.region,
            filters = %filters
        );
        async {
            let rows = self.list_instance_rows().await?;
            let clusters = if rows.iter().any(|r| r.db_cluster_identifier().is_some()) {
                self.list_cluster_rows().await?
            } else {
                BTreeMap::new()
            };
            let mut found = BTreeMap::new();
            for raw in &rows {
                // The server-side engine filter already excludes other engines; a row that
                // slips through anyway is skipped, not an error, as the caller asked by tags.
                if raw.engine().and_then(Engine::from_rds).is_none() {
                    continue;
                }
                let cluster = raw
                    .db_cluster_identifier()
                    .map(|cluster_id| (cluster_id, clusters.get(cluster_id)));
                let selected = matches(filters, &convert::tags_of(raw.tag_list()))
                    || cluster
                        .and_then(|(_, row)| row)
                        .is_some_and(|row| matches(filters, &row.tags));
                if !selected {
                    continue;
                }
                let mut db = convert::instance(raw, &self.region)?;
                if let Some((cluster_id, row)) = cluster {
                    let row = row.ok_or_else(|| DiscoveryError::ClusterNotFound {
                        instance: db.id.clone(),
                        cluster: cluster_id.to_owned(),
                        region: self.region.clone(),
                    })?;
                    row.attach_to(&mut db);
                }
                found.insert(db.id.clone(), db);
            }
            tracing::debug!(
                candidates = rows.len(),
                matched = found.len(),
                "tag match done"
            );
            if found.is_empty() {
                return Err(DiscoveryError::NoMatch {
                    region: self.region.clone(),
                    filters: filters.clone(),
                });
            }
            Ok(found.into_values().collect())
        }
        .instrument(span)
        .await
    }
}
