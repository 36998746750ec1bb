//! Targets: where the SQL of an integration goes, one per instance (or Aurora cluster).

use std::collections::BTreeMap;

use integration_model::{Endpoint, InstanceId, Integration};
use rds_discovery::{DbInstance, Engine, InstanceDirectory};

use crate::error::AccessError;

/// The name of the one target of an integration that has a fixed `[endpoint]` and no instance
/// selector: resources on it are addressed as `local/DATABASE[/SCHEMA[/TABLE]]` (or without the
/// instance part, since there is only one).
pub const LOCAL_TARGET: &str = "local";

/// One place an integration's SQL goes: an RDS instance, an Aurora cluster (through its writer
/// endpoint), or a fixed endpoint.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Target {
    /// How resources address it: the instance or cluster identifier, or [`LOCAL_TARGET`].
    pub name: InstanceId,
    /// Where to connect: the discovered endpoint, unless `[endpoint]` or `endpoint_overrides`
    /// says otherwise (a tunnel, a test cluster).
    pub connect_to: Endpoint,
    /// The endpoint discovery found (the cluster writer for Aurora), if any.
    pub discovered: Option<Endpoint>,
    /// What discovery found, `None` for a fixed endpoint without an instance.
    pub instance: Option<DbInstance>,
}

impl Target {
    /// The endpoint an IAM token must be signed for: the one discovery found (RDS checks the
    /// signed host, so a token for a tunnel's address would be refused), otherwise where we
    /// connect.
    pub fn signing_endpoint(&self) -> &Endpoint {
        self.discovered.as_ref().unwrap_or(&self.connect_to)
    }
}

/// The targets of an integration at one moment, and the instances it selects that cannot be
/// used now (stopped, IAM auth disabled, no endpoint yet), each with its reason.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Resolution {
    /// Usable targets, sorted by name.
    pub targets: Vec<Target>,
    /// Selected instances that cannot be used, with the reason and its fix.
    pub unusable: Vec<(InstanceId, AccessError)>,
}

/// Resolves the integration's targets afresh: discovery by identifier or tags, Aurora members
/// grouped into one target per cluster (its writer), then `[endpoint]` and `endpoint_overrides`.
/// Targets come sorted by name.
///
/// An instance that is selected but not usable (not available, IAM auth disabled when the
/// integration needs it, no endpoint yet) is listed in [`Resolution::unusable`], so that one
/// stopped instance never hides the others.
///
/// # Errors
/// Discovery errors that concern the whole selection: instance not found, not PostgreSQL, no
/// match for the tags, AWS credentials or access.
pub async fn resolve_targets(
    integration: &Integration,
    directory: &dyn InstanceDirectory,
) -> Result<Resolution, AccessError> {
    let Some(selector) = integration.instance() else {
        let endpoint = integration
            .endpoint()
            .cloned()
            .ok_or_else(|| AccessError::NoEndpoint {
                instance: local_name(),
                status: "no instance selector and no [endpoint]".to_owned(),
            })?;
        return Ok(Resolution {
            targets: vec![Target {
                name: local_name(),
                connect_to: endpoint,
                discovered: None,
                instance: None,
            }],
            unusable: Vec::new(),
        });
    };
    let instances = directory.resolve(selector).await?;
    let mut resolution = Resolution::default();
    let mut targets: BTreeMap<InstanceId, Target> = BTreeMap::new();
    for instance in instances {
        if let Err(error) = instance.ensure_usable(integration.auth()) {
            resolution
                .unusable
                .push((instance.id.clone(), error.into()));
            continue;
        }
        let name = match &instance.cluster {
            // An Aurora member: the cluster is the target; SQL goes to its writer.
            Some(cluster) if instance.engine == Some(Engine::AuroraPostgresql) => cluster
                .id
                .parse::<InstanceId>()
                .map_err(|e| AccessError::InvalidAwsName {
                    what: "cluster identifier",
                    value: cluster.id.clone(),
                    reason: e.to_string(),
                })?,
            _ => instance.id.clone(),
        };
        if targets.contains_key(&name) {
            continue;
        }
        let discovered = discovered_endpoint(&name, &instance)?;
        let connect_to = integration
            .endpoint()
            .or_else(|| integration.endpoint_override(&name))
            .cloned()
            .or_else(|| discovered.clone());
        let Some(connect_to) = connect_to else {
            let status = instance
                .status
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), ToString::to_string);
            let error = AccessError::NoEndpoint {
                instance: name.clone(),
                status,
            };
            resolution.unusable.push((name, error));
            continue;
        };
        targets.insert(
            name.clone(),
            Target {
                name,
                connect_to,
                discovered,
                instance: Some(instance),
            },
        );
    }
    resolution.targets = targets.into_values().collect();
    Ok(resolution)
}

/// The instance a resource names when it names none: the integration's one instance when it
/// selects exactly one by id, [`LOCAL_TARGET`] when it selects none (a fixed endpoint), and
/// `None` when it selects a fleet by tags (then the request must name the instance).
///
/// ```
/// use rds_pg_access::integration_model::Settings;
/// let settings = Settings::from_toml_str(r#"
///     name = "orders"
///     region = "eu-west-1"
///     auth = "iam"
///     [instance]
///     id = "orders-db"
/// "#)?;
/// let orders = settings.get("orders").expect("named");
/// assert_eq!(rds_pg_access::default_instance(orders).map(|i| i.to_string()), Some("orders-db".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn default_instance(integration: &Integration) -> Option<InstanceId> {
    match (integration.single_instance(), integration.instance()) {
        (Some(only), _) => Some(only.clone()),
        (None, None) => Some(local_name()),
        (None, Some(_)) => None,
    }
}

pub(crate) fn local_name() -> InstanceId {
    #[allow(clippy::expect_used)] // a constant, checked by `local_target_name_is_valid`
    LOCAL_TARGET
        .parse()
        .expect("LOCAL_TARGET is a valid instance identifier")
}

/// The endpoint discovery gives for target `name`: the cluster writer when the target is an
/// Aurora cluster, else the instance's own.
fn discovered_endpoint(
    name: &InstanceId,
    instance: &DbInstance,
) -> Result<Option<Endpoint>, AccessError> {
    let writer = instance
        .cluster
        .as_ref()
        .filter(|c| c.id == name.as_str())
        .and_then(|c| c.writer_endpoint.clone().zip(c.port.or(instance.port)));
    match writer.or_else(|| instance.host.clone().zip(instance.port)) {
        Some((host, port)) => Ok(Some(Endpoint::new(host, port)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_target_name_is_valid() {
        assert_eq!(super::local_name().as_str(), super::LOCAL_TARGET);
    }
}
