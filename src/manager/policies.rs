//! [`AccessManager::policies`]: the IAM policies the integration needs, with discovered ARNs.

use crate::error::AccessError;
use crate::report::IntegrationPolicies;

use super::AccessManager;

impl AccessManager {
    /// The IAM policies this integration needs, with real ARNs where discovery knows them:
    /// the connector's `rds-db:connect` policy narrowed to the region, account and resource ids
    /// (the `DbiResourceId` of each instance, the cluster resource id for Aurora), and the
    /// end users' policy narrowed the same way. Without discovery (a fixed endpoint) they keep
    /// the setup guide's wildcards, narrowed to the region.
    ///
    /// # Errors
    /// Discovery failing as a whole; [`AccessError::Policy`] if a discovered id is not valid
    /// in an ARN.
    pub async fn policies(&self) -> Result<IntegrationPolicies, AccessError> {
        let resolution = self.targets().await?;
        let integration = &self.inner.integration;
        let mut accounts = std::collections::BTreeSet::new();
        let mut resource_ids = std::collections::BTreeSet::new();
        for target in &resolution.targets {
            if let Some(instance) = &target.instance {
                if let Some(account) = &instance.account {
                    accounts.insert(account.clone());
                }
                if let Some(id) = instance.iam_resource_id() {
                    resource_ids.insert(id.to_owned());
                }
            }
        }
        // One account narrows the ARN; several (unusual in one region) keep the wildcard.
        let account = (accounts.len() == 1)
            .then(|| accounts.into_iter().next())
            .flatten();
        let mut connector = iam_policy::ConnectorPolicy::builder()
            .db_user(integration.connector_user().as_str())
            .region(integration.region().as_str());
        let mut end_user = iam_policy::EndUserPolicy::builder()
            .region(integration.region().as_str())
            .require_persistent_sub(true);
        if let Some(account) = &account {
            connector = connector.account(account);
            end_user = end_user.account(account);
        }
        for id in &resource_ids {
            connector = connector.resource_id(id);
            end_user = end_user.resource_id(id);
        }
        Ok(IntegrationPolicies {
            connector: connector.build().map_err(AccessError::Policy)?,
            end_user: end_user.build().map_err(AccessError::Policy)?,
            resource_ids: resource_ids.into_iter().collect(),
        })
    }
}
