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
                let outcome = match tokio::time::timeout(timeout, work(target, resources)).await {
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
