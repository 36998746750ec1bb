//! [`MotoFleet`]: a fleet of two RDS instances for end-to-end tests: `moto_server` lists them
//! (with tags) and holds the connector's password in Secrets Manager, and two real clusters
//! answer for them through endpoint overrides.

use crate::{MotoServer, TestCluster, TestkitError};

/// The instance the first cluster ([`MotoFleet::a`]) answers for.
pub const FLEET_INSTANCE_A: &str = "orders-a";
/// The instance the second cluster ([`MotoFleet::b`]) answers for.
pub const FLEET_INSTANCE_B: &str = "orders-b";
/// The tag (`team`) value both fleet instances carry.
pub const FLEET_TEAM: &str = "orders";
/// The secret that holds the connector's password, unless [`MotoFleetBuilder::secret_id`]
/// names another.
pub const FLEET_SECRET: &str = "rds/orders-connector";

/// Two clusters (the RDS permission model, PostgreSQL [`DEFAULT_VERSION`](crate::DEFAULT_VERSION))
/// that stand for the RDS instances `orders-a` and `orders-b` of a `moto_server`, both tagged
/// `team = orders`. The connector has the same password on both, stored in moto's Secrets
/// Manager in RDS's JSON shape under [`FLEET_SECRET`].
///
/// ```
/// let fleet = pg_testkit::MotoFleet::builder().instance("billing", "billing").start()?;
/// let names = fleet.moto.boto3(
///     "print(sorted(i['DBInstanceIdentifier'] for i in rds.describe_db_instances()['DBInstances']))",
/// )?;
/// assert_eq!(names.trim(), "['billing', 'orders-a', 'orders-b']");
/// assert!(fleet.settings_toml("").contains(&format!("orders-b = \"127.0.0.1:{}\"", fleet.b.port())));
/// # Ok::<(), pg_testkit::TestkitError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct MotoFleet {
    /// The AWS side: RDS instances and the secret.
    pub moto: MotoServer,
    /// The cluster answering for [`FLEET_INSTANCE_A`].
    pub a: TestCluster,
    /// The cluster answering for [`FLEET_INSTANCE_B`].
    pub b: TestCluster,
    /// The secret holding the connector's password.
    pub secret_id: String,
}

/// Options of a [`MotoFleet`].
#[derive(Debug, Clone)]
pub struct MotoFleetBuilder {
    secret_id: String,
    extra: Vec<(String, String)>,
}

impl MotoFleet {
    /// A builder: the two instances, the secret [`FLEET_SECRET`], no other instance.
    pub fn builder() -> MotoFleetBuilder {
        MotoFleetBuilder {
            secret_id: FLEET_SECRET.to_owned(),
            extra: Vec::new(),
        }
    }

    /// The settings file of an integration named `orders` over this fleet: its region, password
    /// authentication with the secret, `ssl_mode = "disable"`, instances selected by the tag
    /// `team = orders`, and endpoint overrides to the two clusters. `top_level` (TOML lines,
    /// e.g. `connector_rotation_days = 30\n`) goes before the first table.
    pub fn settings_toml(&self, top_level: &str) -> String {
        format!(
            "name = \"orders\"\n\
             region = \"{region}\"\n\
             auth = \"password\"\n\
             ssl_mode = \"disable\"\n\
             {top_level}\
             [instance]\n\
             tags = {{ team = \"{FLEET_TEAM}\" }}\n\
             [secret]\n\
             id = \"{secret}\"\n\
             [endpoint_overrides]\n\
             {FLEET_INSTANCE_A} = \"127.0.0.1:{pa}\"\n\
             {FLEET_INSTANCE_B} = \"127.0.0.1:{pb}\"\n",
            region = self.moto.region(),
            secret = self.secret_id,
            pa = self.a.port(),
            pb = self.b.port(),
        )
    }
}

impl MotoFleetBuilder {
    /// The name of the secret holding the connector's password.
    pub fn secret_id(mut self, secret_id: impl Into<String>) -> Self {
        self.secret_id = secret_id.into();
        self
    }

    /// One more PostgreSQL instance in moto, tagged `team = <team>`, with no cluster behind it.
    pub fn instance(mut self, name: impl Into<String>, team: impl Into<String>) -> Self {
        self.extra.push((name.into(), team.into()));
        self
    }

    /// Starts moto and both clusters, gives the connector one password on both, and creates
    /// the instances and the secret in moto.
    ///
    /// # Errors
    /// When moto or a cluster does not start, or a setup command fails.
    pub fn start(self) -> Result<MotoFleet, TestkitError> {
        let moto = MotoServer::start()?;
        let a = TestCluster::start()?;
        let b = TestCluster::start()?;
        // One secret for the integration: the connector gets the same password on both.
        let password = a.connector().password.clone();
        b.sql(
            "postgres",
            &format!(
                "ALTER ROLE {} PASSWORD {}",
                crate::rds::CONNECTOR,
                sql_literal(&password)
            ),
        )?;
        let mut instances = vec![
            (FLEET_INSTANCE_A.to_owned(), FLEET_TEAM.to_owned()),
            (FLEET_INSTANCE_B.to_owned(), FLEET_TEAM.to_owned()),
        ];
        instances.extend(self.extra);
        let list = instances
            .iter()
            .map(|(name, team)| format!("({}, {})", python_literal(name), python_literal(team)))
            .collect::<Vec<_>>()
            .join(", ");
        moto.boto3(&format!(
            r#"
for name, team in [{list}]:
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
                           MasterUsername="postgres", MasterUserPassword="password123",
                           AllocatedStorage=20, Tags=[{{"Key": "team", "Value": team}}])
secrets.create_secret(Name={secret}, SecretString=json.dumps({{
    "username": {user}, "password": {password}, "engine": "postgres",
    "host": "orders-a.example", "port": 5432, "dbname": "postgres"}}))
"#,
            secret = python_literal(&self.secret_id),
            user = python_literal(crate::rds::CONNECTOR),
            password = python_literal(&password),
        ))?;
        Ok(MotoFleet {
            moto,
            a,
            b,
            secret_id: self.secret_id,
        })
    }
}

/// `'text'` with `'` doubled: a SQL string literal.
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A Python string literal: Rust's `Debug` of a string (`"..."` with `\"`, `\\` and `\u{..}`
/// escapes) reads the same in Python for the printable text used here.
fn python_literal(text: &str) -> String {
    format!("{text:?}")
}
