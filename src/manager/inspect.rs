//! [`AccessManager::inspect`]: what a user holds.

use integration_model::Identifier;
use pg_grants::Session;
use pg_grants::plan::Inspection;
use pg_grants::quote::Ident;

use crate::error::AccessError;
use crate::report::FleetReport;

use super::AccessManager;

impl AccessManager {
    /// The privileges the role `user` holds now, per instance and database (all databases the
    /// connector can reach, or only `database`). One catalog query per database.
    ///
    /// # Errors
    /// Discovery failing as a whole; per-instance failures are in the result.
    pub async fn inspect(
        &self,
        user: &Identifier,
        database: Option<&Identifier>,
    ) -> Result<FleetReport<Vec<Inspection>>, AccessError> {
        let resolution = self.targets().await?;
        let role = Ident::from(user);
        let only_database = database.map(Ident::from);
        Ok(self
            .fan_out(resolution, None, |target, _| {
                let role = role.clone();
                let only_database = only_database.clone();
                async move {
                    let databases = match only_database {
                        Some(db) => vec![db],
                        None => self.databases(&target).await?,
                    };
                    let mut inspections = Vec::new();
                    for database in databases {
                        let connection = self.pooled(&target, database.as_str()).await?;
                        let session =
                            Session::new(connection.client(), self.inner.grants.clone()).await?;
                        inspections.push(session.inspect(&role, &[]).await?);
                    }
                    Ok(inspections)
                }
            })
            .await)
    }
}
