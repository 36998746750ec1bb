//! [`AccessManager::inventory`] and [`AccessManager::sync`]: the resources, streamed.

use futures_util::StreamExt;
use integration_model::{InstanceId, ResourceType};
use pg_grants::Session;
use pg_grants::inventory::InventoryItem;

use crate::error::AccessError;
use crate::report::{FleetReport, InventoryCounts, InventoryEntry};

use super::AccessManager;
use super::locks::JobLock;

/// A report of runs without a job lock (never skipped): every count is there.
pub(super) fn unlocked(
    report: FleetReport<Option<InventoryCounts>>,
) -> FleetReport<InventoryCounts> {
    FleetReport {
        results: report
            .results
            .into_iter()
            .map(|(name, outcome)| (name, outcome.map(Option::unwrap_or_default)))
            .collect(),
    }
}

impl AccessManager {
    /// The inventory of every instance: databases, and in each the schemas and tables (with
    /// kind and owner), one query per database, streamed: every item is handed to `sink` as it
    /// arrives (from several instances at once, so `sink` must be `Sync`), never collected.
    /// The result counts what each instance sent.
    ///
    /// Connections: per instance one dedicated connection at a time (to the database being
    /// read, closed before the next), never one of the pools that grants use, so a slow `sink`
    /// slows only the inventory. A `sink` that blocks should do so off the async workers
    /// (e.g. `tokio::task::block_in_place`).
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn inventory<S>(&self, sink: S) -> Result<FleetReport<InventoryCounts>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        Ok(unlocked(self.inventory_locked(sink, None).await?))
    }

    /// As [`AccessManager::inventory`]; with `job`, each instance first takes that job lock
    /// (in the lock database, held by a dedicated connection until the instance is done) and
    /// is `None` when another replica holds it.
    ///
    /// Connections: never the grant pools. Per instance at most two at a time, each dedicated
    /// and short-lived: the lock session (with `job`) and one connection to the database being
    /// read, opened for that database and closed before the next; rows are read as the sink
    /// takes them. So a slow sink holds one extra connection per instance (times
    /// `concurrency` instances), and grants, plans and inspections keep their pools.
    pub(crate) async fn inventory_locked<S>(
        &self,
        sink: S,
        job: Option<&str>,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let resolution = self.targets().await?;
        let sink = &sink;
        Ok(self
            .fan_out(resolution, None, |target, _| async move {
                let mut counts = InventoryCounts::default();
                let locks = match job {
                    Some(job) => {
                        let locks = self.lock_session(&target).await?;
                        // A lock squatted by a session without CREATEROLE is logged (see
                        // `job_lock`) and the sync runs anyway.
                        if matches!(locks.job_lock(&target.name, job).await?, JobLock::Busy) {
                            return Ok(None);
                        }
                        crate::death::point("sync:locked").await;
                        Some(locks)
                    }
                    None => None,
                };
                let home = self.inner.integration.database().as_str();
                let databases = {
                    let connection = self.connect(&target, home).await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    session.databases().await?
                };
                for info in databases {
                    counts.databases += 1;
                    let name = info.name.to_string();
                    sink(&target.name, &name, &InventoryEntry::Database(info));
                    // Dedicated and closed at the end of this iteration: a slow sink must not
                    // hold a connection of the pools that grants use.
                    let connection = self.connect(&target, &name).await?;
                    let session =
                        Session::new(connection.client(), self.inner.grants.clone()).await?;
                    let mut items = std::pin::pin!(session.inventory().await?);
                    while let Some(item) = items.next().await {
                        let entry = match item? {
                            InventoryItem::Schema(schema) => {
                                counts.schemas += 1;
                                InventoryEntry::Schema(schema)
                            }
                            InventoryItem::Table(table) => {
                                counts.tables += 1;
                                InventoryEntry::Table(table)
                            }
                            other => InventoryEntry::Other(format!("{other:?}")),
                        };
                        sink(&target.name, &name, &entry);
                    }
                }
                drop(locks); // releases the job lock
                Ok(Some(counts))
            })
            .await)
    }

    /// The integration's inventory limited to the resource types it syncs
    /// (`resource_types`): databases, schemas and/or tables, streamed to `sink` as
    /// [`AccessManager::inventory`] does.
    ///
    /// # Errors
    /// As [`AccessManager::inventory`].
    pub async fn sync<S>(&self, sink: S) -> Result<FleetReport<InventoryCounts>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        Ok(unlocked(self.sync_locked(sink, None).await?))
    }

    /// As [`AccessManager::sync`], as the service's sync job runs it: each instance under the
    /// job lock `sync:<integration>` (in its lock database), so that replicas do not sync one
    /// instance at once; an instance whose lock another replica holds is `None` (skipped).
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn sync_as_job<S>(
        &self,
        sink: S,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let job = format!("sync:{}", self.inner.integration.name());
        self.sync_locked(sink, Some(&job)).await
    }

    /// As [`AccessManager::sync`], with a job lock per instance as
    /// [`AccessManager::inventory_locked`] takes it.
    pub(crate) async fn sync_locked<S>(
        &self,
        sink: S,
        job: Option<&str>,
    ) -> Result<FleetReport<Option<InventoryCounts>>, AccessError>
    where
        S: Fn(&InstanceId, &str, &InventoryEntry) + Send + Sync,
    {
        let types = self.inner.integration.resource_types();
        self.inventory_locked(
            move |instance, database, entry| {
                let wanted = match entry {
                    InventoryEntry::Database(_) => types.contains(ResourceType::Database),
                    InventoryEntry::Schema(_) => types.contains(ResourceType::Schema),
                    InventoryEntry::Table(_) => types.contains(ResourceType::Table),
                    InventoryEntry::Other(_) => false,
                };
                if wanted {
                    sink(instance, database, entry);
                }
            },
            job,
        )
        .await
    }
}
