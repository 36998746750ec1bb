//! Fan-out over the integration's instances: discovery, bounded concurrency, a timeout and a
//! result per instance.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream;
use integration_model::{InstanceId, ResourcePath, ResourceRef};

use crate::error::AccessError;
use crate::report::{FleetReport, InstanceOutcome};
use crate::target::{Resolution, Target, resolve_targets};

use super::AccessManager;

impl AccessManager {
    /// The integration's targets now (discovery runs afresh).
    ///
    /// # Errors
    /// Discovery errors that concern the whole selection.
    pub async fn targets(&self) -> Result<Resolution, AccessError> {
        let resolution =
            resolve_targets(&self.inner.integration, self.inner.directory.as_ref()).await?;
        // Credential sources of instances discovery no longer returns go (bounded cache).
        let current: Vec<InstanceId> = (resolution.targets.iter().map(|t| t.name.clone()))
            .chain(resolution.unusable.iter().map(|(name, _)| name.clone()))
            .collect();
        self.inner.credentials.retain_targets(&current);
        Ok(resolution)
    }

    /// Runs `work` on every target (or, with `only`, on the targets it names, each with its
    /// resources), at most `concurrency` at once, each under the per-instance timeout.
    /// Selected instances that cannot be used, and instances `only` names that discovery did
    /// not return usable, are reported as failures; nothing is silently left out.
    pub(crate) async fn fan_out<'a, T, F, Fut>(
        &'a self,
        resolution: Resolution,
        only: Option<&BTreeMap<InstanceId, Vec<ResourceRef>>>,
        work: F,
    ) -> FleetReport<T>
    where
        F: Fn(Target, Vec<ResourceRef>) -> Fut + 'a,
        Fut: Future<Output = Result<T, AccessError>> + 'a,
    {
        let mut results: BTreeMap<InstanceId, InstanceOutcome<T>> = BTreeMap::new();
        let observer = self.inner.observer.as_deref();
        for (name, error) in resolution.unusable {
            if only.is_none_or(|o| o.contains_key(&name)) {
                if let Some(observer) = observer {
                    observer.instance_finished(&name, Err(&error));
                }
                results.insert(name, Err(error));
            }
        }
        let jobs: Vec<(Target, Vec<ResourceRef>)> = resolution
            .targets
            .into_iter()
            .filter_map(|t| match only {
                None => Some((t, Vec::new())),
                Some(o) => o.get(&t.name).cloned().map(|r| (t, r)),
            })
            .collect();
        let timeout = self.inner.options.instance_timeout;
        let work = &work;
        let mut done = stream::iter(jobs)
            .map(|(target, resources)| async move {
                let name = target.name.clone();
                if let Some(observer) = observer {
                    observer.instance_started(&name);
                }
                let outcome = match tokio::time::timeout(
                    timeout,
                    self.with_failover(target, resources, work),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AccessError::Timeout {
                        instance: name.clone(),
                        seconds: timeout.as_secs(),
                    }),
                };
                (name, outcome)
            })
            .buffer_unordered(self.inner.options.concurrency.max(1));
        while let Some((name, outcome)) = done.next().await {
            if let Err(error) = &outcome {
                tracing::warn!(instance = %name, error = %crate::error_chain(error), "instance failed");
            }
            if let Some(observer) = observer {
                observer.instance_finished(&name, outcome.as_ref().map(|_| ()));
            }
            results.insert(name, outcome);
        }
        FleetReport { results }
    }

    /// Runs `work` on `target`; when it meets a read-only server (the endpoint points at a
    /// standby or reader: a failover), drops the instance's pools, waits, resolves the
    /// instance afresh and runs `work` again, at most `failover_retries` times. Safe because
    /// what failed there changed nothing: a read-only server refuses every write (SQLSTATE
    /// 25006, rolling back its transaction) and a connection refused as read-only sent
    /// nothing; every operation completes what an earlier attempt did on the writer.
    pub(super) async fn with_failover<T, F, Fut>(
        &self,
        mut target: Target,
        resources: Vec<ResourceRef>,
        work: &F,
    ) -> Result<T, AccessError>
    where
        F: Fn(Target, Vec<ResourceRef>) -> Fut,
        Fut: Future<Output = Result<T, AccessError>>,
    {
        let options = &self.inner.options;
        let mut attempt: u32 = 0;
        loop {
            let error = match work(target.clone(), resources.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if attempt >= options.failover_retries || !crate::error::is_read_only(&error) {
                return Err(error);
            }
            attempt += 1;
            tracing::warn!(
                instance = %target.name,
                endpoint = %target.connect_to,
                attempt,
                error = %crate::error_chain(&error),
                "failover: the instance answered as a read-only server; retrying on its writer"
            );
            self.inner
                .failovers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(observer) = self.inner.observer.as_deref() {
                observer.instance_failover(&target.name, attempt, &error);
            }
            self.drop_pools_of(&target.name);
            let wait = options
                .failover_delay
                .saturating_mul(1 << (attempt - 1).min(16));
            tokio::time::sleep(wait).await;
            let resolution = match self.targets().await {
                Ok(resolution) => resolution,
                Err(resolve_error) => {
                    tracing::warn!(
                        instance = %target.name,
                        error = %crate::error_chain(&resolve_error),
                        "failover: discovery failed; keeping the read-only error"
                    );
                    return Err(error);
                }
            };
            match resolution
                .targets
                .into_iter()
                .find(|t| t.name == target.name)
            {
                Some(fresh) => target = fresh,
                None => return Err(error),
            }
        }
    }

    /// How many times this manager (and its clones) has run an instance's work again after
    /// meeting a read-only server (a failover), since it was built: a counter for metrics.
    pub fn failovers(&self) -> u64 {
        self.inner
            .failovers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Splits resources by instance; refuses a resource whose instance the integration does not
    /// select (before anything changes).
    pub(super) fn group_resources(
        &self,
        resources: &[ResourcePath],
        resolution: &Resolution,
    ) -> Result<BTreeMap<InstanceId, Vec<ResourceRef>>, AccessError> {
        let mut by_instance: BTreeMap<InstanceId, Vec<ResourceRef>> = BTreeMap::new();
        for path in resources {
            let known = resolution
                .targets
                .iter()
                .any(|t| &t.name == path.instance())
                || resolution
                    .unusable
                    .iter()
                    .any(|(n, _)| n == path.instance());
            if !known {
                let selected = resolution
                    .targets
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(AccessError::UnknownInstance {
                    resource: path.to_string(),
                    instance: path.instance().clone(),
                    integration: self.inner.integration.name().to_string(),
                    selected,
                });
            }
            by_instance
                .entry(path.instance().clone())
                .or_default()
                .push(path.resource().clone());
        }
        Ok(by_instance)
    }
}
