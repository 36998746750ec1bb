//! [`AccessManager::check`]: is the integration set up as the setup guide says?

use integration_model::{AuthType, InstanceId};
use pg_auth::AuthError;
use pg_grants::quote::Ident;
use pg_grants::setup::ConnectorSetup;
use pg_grants::{AccessLevel, Grant, GrantsError, Scope, Session};

use super::AccessManager;
use crate::error::AccessError;
use crate::error::error_chain;
use crate::target::Target;

/// One finding of a check: what was checked, whether it is right, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckItem {
    /// The instance it concerns, or `None` for the integration as a whole.
    pub instance: Option<InstanceId>,
    /// What was checked (stable names: `discovery`, `instance`, `tls-verify`, `login`, `tls`,
    /// `createrole`, `rds_superuser`, `rds_iam`, `owners`, `iam-policy`).
    pub item: &'static str,
    /// Whether it is as it should be.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What fixes it, when not ok: for `owners`, exactly the SQL to run (the detail says as
    /// whom); otherwise SQL or a setting, with the role to run it as.
    pub fix: Option<String>,
}

/// Every finding of [`AccessManager::check`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// In order: integration-wide items first, then per instance.
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// Whether every item is ok.
    pub fn all_ok(&self) -> bool {
        self.items.iter().all(|i| i.ok)
    }

    fn push(
        &mut self,
        instance: Option<&InstanceId>,
        item: &'static str,
        ok: bool,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.items.push(CheckItem {
            instance: instance.cloned(),
            item,
            ok,
            detail: detail.into(),
            fix,
        });
    }
}

/// The fix for a server whose identity is not verified.
const VERIFY_FIX: &str = "set ssl_mode = \"verify-full\" and ssl_root_cert to the RDS CA bundle \
     (download https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)";

/// Whether the integration's credential can reach a server whose identity was not verified:
/// an IAM token is always sent as a cleartext password, and a password as cleartext or MD5
/// when the server asks so (pg-auth refuses those requests from unverified servers unless
/// `allow_unverified_password` is set). Returns (ok, detail, fix).
fn credential_exposure(
    integration: &integration_model::Integration,
) -> (bool, String, Option<String>) {
    let mode = integration.ssl_mode();
    let bundle = if integration.ssl_root_cert().is_some() {
        "with ssl_root_cert"
    } else {
        "without ssl_root_cert"
    };
    let opt_out = integration.allow_unverified_password();
    let fix = || {
        let mut fix = VERIFY_FIX.to_owned();
        if opt_out {
            fix.push_str(", and remove allow_unverified_password");
        }
        fix
    };
    if integration.verifies_server() {
        return (
            true,
            format!(
                "ssl_mode {mode} {bundle}: every server's certificate chain is verified before a credential is sent"
            ),
            None,
        );
    }
    match (integration.auth(), opt_out) {
        (AuthType::Iam, false) => (
            false,
            format!(
                "auth iam sends the IAM token as a cleartext password, and ssl_mode {mode} {bundle}                  does not verify the server: pg-auth refuses to send it, so the connector cannot log in"
            ),
            Some(fix()),
        ),
        (AuthType::Iam, true) => (
            false,
            format!(
                "auth iam sends the IAM token as a cleartext password, and ssl_mode {mode} {bundle}                  with allow_unverified_password sends it to whoever answers at the address"
            ),
            Some(fix()),
        ),
        (_, true) => (
            false,
            format!(
                "ssl_mode {mode} {bundle} with allow_unverified_password: a server (or a man in the                  middle) that asks for a cleartext or MD5 password gets the connector's password"
            ),
            Some(fix()),
        ),
        (_, false) => (
            true,
            format!(
                "ssl_mode {mode} {bundle} does not verify the server: only SCRAM-SHA-256 logins                  work; a cleartext or MD5 password request is refused"
            ),
            None,
        ),
    }
}

/// A role name that no one has: planning a grant for it lists every object the connector
/// could not grant on, without creating anything.
const PROBE_ROLE: &str = "rdspg_check_probe";

impl AccessManager {
    /// Checks the whole integration and reports each item as ok or a problem with its fix:
    /// instances found, PostgreSQL and available; the auth type matches the instance (IAM
    /// enabled) and the connector user (member of `rds_iam` for IAM, able to log in with the
    /// secret); TLS as configured; the connector has CREATEROLE and `rds_superuser`; which
    /// schemas and tables it could not grant on and why (their owners), with the SQL to run;
    /// and the IAM policy the connector needs, with real ARNs. Changes nothing.
    ///
    /// # Errors
    /// None for problems it finds (they are items); only programming errors of the report.
    pub async fn check(&self) -> Result<CheckReport, AccessError> {
        let mut report = CheckReport::default();
        let resolution = match self.targets().await {
            Ok(resolution) => resolution,
            Err(error) => {
                report.push(None, "discovery", false, error_chain(&error), None);
                return Ok(report);
            }
        };
        report.push(
            None,
            "discovery",
            !resolution.targets.is_empty(),
            format!(
                "{} usable instance(s): {}",
                resolution.targets.len(),
                resolution
                    .targets
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.connect_to))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        );
        let (ok, detail, fix) = credential_exposure(self.integration());
        report.push(None, "tls-verify", ok, detail, fix);
        for (name, error) in &resolution.unusable {
            report.push(Some(name), "instance", false, error_chain(error), None);
        }
        for target in &resolution.targets {
            let items = match tokio::time::timeout(
                self.options().instance_timeout,
                self.check_target(target),
            )
            .await
            {
                Ok(items) => items,
                Err(_) => {
                    let mut r = CheckReport::default();
                    r.push(
                        Some(&target.name),
                        "login",
                        false,
                        format!(
                            "no answer within {} s",
                            self.options().instance_timeout.as_secs()
                        ),
                        None,
                    );
                    r
                }
            };
            report.items.extend(items.items);
        }
        match self.policies().await {
            Ok(policies) => report.push(
                None,
                "iam-policy",
                true,
                format!(
                    "the connector's IAM role needs: {}",
                    policies.connector.to_json()
                ),
                None,
            ),
            Err(error) => report.push(None, "iam-policy", false, error_chain(&error), None),
        }
        Ok(report)
    }

    async fn check_target(&self, target: &Target) -> CheckReport {
        let mut report = CheckReport::default();
        let name = Some(&target.name);
        let integration = self.integration();
        let connector = integration.connector_user().as_str();
        let quoted_connector = Ident::from(integration.connector_user());
        let home = integration.database().as_str();

        let connection = match self.connect(target, home).await {
            Ok(c) => {
                report.push(
                    name,
                    "login",
                    true,
                    format!("{connector} logs in to {home}"),
                    None,
                );
                c
            }
            Err(AccessError::Auth(error @ AuthError::UnverifiedServer { .. })) => {
                report.push(
                    name,
                    "login",
                    false,
                    error_chain(&error),
                    Some(VERIFY_FIX.to_owned()),
                );
                return report;
            }
            Err(error) => {
                let fix = match integration.auth() {
                    AuthType::Iam => fix::iam_login(&quoted_connector).ok(),
                    _ => Some(fix::password_login(&quoted_connector)),
                };
                report.push(name, "login", false, error_chain(&error), fix);
                return report;
            }
        };
        let client = connection.client();

        let tls_required = !integration.ssl_mode().may_be_plaintext();
        let encrypted = connection.is_tls();
        report.push(
            name,
            "tls",
            encrypted || !tls_required,
            format!(
                "ssl_mode {}: the session is {}",
                integration.ssl_mode(),
                if encrypted {
                    "encrypted"
                } else {
                    "not encrypted"
                }
            ),
            (!encrypted && tls_required).then(|| "enable TLS on the server".to_owned()),
        );

        // The connector's attributes, as the setup guide creates them (pg-grants reads them).
        let setup = match ConnectorSetup::read(client).await {
            Ok(setup) => setup,
            Err(error) => {
                report.push(name, "createrole", false, error_chain(&error), None);
                return report;
            }
        };
        let ConnectorSetup {
            createrole,
            superuser,
            rds_superuser: in_rds_superuser,
            rds_iam: in_rds_iam,
            may_grant_rds_iam,
            ..
        } = setup;
        report.push(
            name,
            "createrole",
            createrole || superuser,
            format!("{connector} has CREATEROLE: {createrole}"),
            (!createrole && !superuser).then(|| fix::createrole(&quoted_connector)),
        );
        report.push(
            name,
            "rds_superuser",
            in_rds_superuser || superuser,
            format!("{connector} is a member of rds_superuser: {in_rds_superuser}"),
            (!in_rds_superuser && !superuser)
                .then(|| fix::grant_role(fix::RDS_SUPERUSER, &quoted_connector, false))
                .and_then(Result::ok),
        );
        if integration.auth() == AuthType::Iam {
            report.push(
                name,
                "rds_iam",
                in_rds_iam,
                format!("{connector} is a member of rds_iam: {in_rds_iam}"),
                (!in_rds_iam)
                    .then(|| fix::grant_role(fix::RDS_IAM, &quoted_connector, false))
                    .and_then(Result::ok),
            );
            // PostgreSQL 16+ only (None before: CREATEROLE is enough there).
            if let Some(admin) = may_grant_rds_iam {
                report.push(
                    name,
                    "rds_iam",
                    admin || superuser,
                    format!("{connector} may grant rds_iam to new users (PostgreSQL 16+ needs ADMIN OPTION): {admin}"),
                    (!admin)
                        .then(|| fix::grant_role(fix::RDS_IAM, &quoted_connector, true))
                        .and_then(Result::ok),
                );
            }
        }
        drop(connection);

        match self.owner_fixes(target).await {
            Ok(fixes) if fixes.is_empty() => report.push(
                name,
                "owners",
                true,
                "the connector may grant on every schema and table",
                None,
            ),
            Ok(fixes) => {
                for (database, fix) in fixes {
                    report.push(
                        name,
                        "owners",
                        false,
                        format!("database {database}: {}", fix.0),
                        Some(fix.1),
                    );
                }
            }
            Err(error) => report.push(name, "owners", false, error_chain(&error), None),
        }
        report
    }

    /// Per database, the objects the connector cannot grant on, grouped by owner: a line that
    /// names them and the SQL that fixes it.
    async fn owner_fixes(
        &self,
        target: &Target,
    ) -> Result<Vec<(String, (String, String))>, AccessError> {
        let probe = Ident::new(PROBE_ROLE).map_err(GrantsError::from)?;
        let mut out = Vec::new();
        for database in self.databases(target).await? {
            let connection = self.pooled(target, database.as_str()).await?;
            let session = Session::new(connection.client(), self.grants_settings().clone()).await?;
            let grants = [Grant::new(Scope::Database, AccessLevel::Admin)];
            match session.plan(&probe, &grants).await {
                Ok(_) => {}
                Err(GrantsError::OwnerMembershipMissing { fixes }) => {
                    let mut by_fix: std::collections::BTreeMap<(String, String), Vec<String>> =
                        std::collections::BTreeMap::new();
                    let mut run_as: std::collections::BTreeMap<String, String> =
                        std::collections::BTreeMap::new();
                    for fix in fixes {
                        by_fix
                            .entry((fix.owner.clone(), fix.fix_sql.clone()))
                            .or_default()
                            .push(format!("{} {}", fix.kind, fix.object));
                        run_as.insert(fix.fix_sql, fix.run_as);
                    }
                    for ((owner, fix), objects) in by_fix {
                        out.push((
                            database.to_string(),
                            (
                                format!(
                                    "{} object(s) owned by {owner} cannot be granted on: {}; \
                                     the fix runs as {}",
                                    objects.len(),
                                    objects.join(", "),
                                    run_as.get(&fix).map_or("an administrator", String::as_str)
                                ),
                                fix,
                            ),
                        ));
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(out)
    }
}

/// The fix texts [`AccessManager::check`] reports. Every name goes through `pg_grants::quote`
/// (the one audited quoting module), so a connector named `a"b` or `x; DROP ROLE y` gives SQL
/// that does exactly what it says.
mod fix {
    use pg_grants::quote::{Ident, QuoteError};

    // The SQL fixes of the connector's setup live with the rest of the SQL, in pg-grants.
    pub(super) use pg_grants::setup::{
        RDS_IAM, RDS_SUPERUSER, createrole_sql as createrole, grant_role_sql as grant_role,
    };

    /// The IAM connector cannot log in.
    pub(super) fn iam_login(connector: &Ident) -> Result<String, QuoteError> {
        Ok(format!(
            "{} and attach the connector policy (rdspg policy --config FILE) to the connector's \
             IAM role",
            grant_role(RDS_IAM, connector, false)?
        ))
    }

    /// The password connector cannot log in.
    pub(super) fn password_login(connector: &Ident) -> String {
        format!(
            "check that the secret holds the password of {} (ALTER ROLE {} WITH \
             PASSWORD '...' as the master user)",
            connector.quoted(),
            connector.quoted()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fix;
    use pg_grants::quote::Ident;

    /// Reverses `"…"` quoting of the first quoted identifier starting at `at`: the identifier as
    /// PostgreSQL's lexer reads it, and where it ends.
    fn lex_ident(s: &str, at: usize) -> (String, usize) {
        let mut out = String::new();
        let mut chars = s[at..].char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().map(|(_, c)| *c) == Some('"') {
                    chars.next();
                } else {
                    return (out, at + i + 1);
                }
            }
            out.push(c);
        }
        panic!("unterminated identifier in {s}");
    }

    #[test]
    fn every_name_in_check_fixes_is_quoted() {
        let names = [
            "apono_connector",
            "a\"b",
            "Robert'); DROP ROLE x;--",
            "\"; DROP ROLE postgres; --",
            "émoji🐘 conn",
            &"x".repeat(63),
            &format!("{}abc", "🐘".repeat(15)),
        ];
        for name in names {
            let c = Ident::new(name).unwrap();
            let texts = [
                fix::createrole(&c),
                fix::password_login(&c),
                fix::iam_login(&c).unwrap(),
                fix::grant_role(fix::RDS_SUPERUSER, &c, false).unwrap(),
                fix::grant_role(fix::RDS_IAM, &c, true).unwrap(),
            ];
            for text in texts {
                // The connector appears only as one quoted identifier that reads back as itself,
                // followed by the rest of the statement (the statement is not ended early).
                let at = text
                    .find(&c.quoted().to_string())
                    .unwrap_or_else(|| panic!("{text}"));
                let (lexed, end) = lex_ident(&text, at);
                assert_eq!(lexed, name, "{text}");
                let rest = &text[end..];
                assert!(
                    rest.starts_with(';') || rest.starts_with(" WITH") || rest.starts_with(" ("),
                    "{text}"
                );
            }
        }
        assert_eq!(
            fix::grant_role(fix::RDS_IAM, &Ident::new("a\"b").unwrap(), true).unwrap(),
            r#"as the master user: GRANT "rds_iam" TO "a""b" WITH ADMIN OPTION;"#
        );
        assert_eq!(
            fix::createrole(&Ident::new("Robert'); DROP ROLE x;--").unwrap()),
            r#"as the master user: ALTER ROLE "Robert'); DROP ROLE x;--" WITH CREATEROLE;"#
        );
    }
}
