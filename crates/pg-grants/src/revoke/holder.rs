//! Acting for the user (the connector gets its privileges) and for its own holder (created
//! when missing, checked, and the connector made a member of it).

use crate::error::{GrantsError, col};
use crate::marker::ServiceRole;
use crate::quote::Ident;
use crate::session::Session;
use crate::sql;
use crate::statement::Statement;

impl Session<'_> {
    /// Creates the holder role of user `user` when missing, checks that it has no rights and is
    /// marked as that user's holder, and makes the connector able to act as it (see the
    /// [module docs](crate::revoke#the-holder)).
    pub(super) async fn ensure_holder(
        &self,
        holder: &Ident,
        user: &Ident,
    ) -> Result<(), GrantsError> {
        if holder == self.connector() {
            return Err(GrantsError::UnsafeServiceRole {
                role: holder.to_string(),
                purpose: ServiceRole::Holder.as_str(),
                problems: vec!["it is the connector itself".to_owned()],
            });
        }
        self.ensure_service_role(holder, ServiceRole::Holder, Some(user.as_str()))
            .await?;
        let rules = self.rules();
        let (expr, grant) = if rules.membership_options() {
            (
                "pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'USAGE') \
                 AND pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'SET')",
                format!(
                    "GRANT {} TO {} WITH INHERIT TRUE, SET TRUE;",
                    holder.quoted(),
                    self.connector().quoted()
                ),
            )
        } else {
            (
                "pg_catalog.pg_has_role(CURRENT_USER, $1::pg_catalog.text, 'USAGE')",
                format!(
                    "GRANT {} TO {};",
                    holder.quoted(),
                    self.connector().quoted()
                ),
            )
        };
        let action = format!("checking that the connector may act as holder {holder}");
        let row = self
            .client()
            .query_typed_one(
                &format!("SELECT {expr}"),
                &sql::typed(&[&holder.as_str()], sql::TEXT_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        if !col::<bool>(&row, 0, &action)? {
            self.run_locked(
                &format!("letting the connector act as holder {holder}"),
                holder,
                &[Statement::new(grant)],
            )
            .await?;
        }
        Ok(())
    }

    /// Makes sure the connector has `role`'s privileges (`GRANT role TO connector`, on 16+
    /// `WITH INHERIT TRUE`): altering or reassigning the role's objects needs them.
    pub(super) async fn act_for(&self, role: &Ident) -> Result<(), GrantsError> {
        let has_privs: bool = self
            .client()
            .query_typed_one(
                sql::HAS_PRIVILEGES_OF,
                &sql::typed(&[&role.as_str()], sql::TEXT_PARAM),
            )
            .await
            .map_err(|e| GrantsError::db(format!("checking membership in {role}"), e))
            .and_then(|r| col(&r, 0, "checking membership"))?;
        if !has_privs {
            let grant =
                Statement::new(self.rules().grant_privileges_of_sql(role, self.connector()));
            self.run_locked(&format!("acting for {role}"), role, &[grant])
                .await?;
        }
        Ok(())
    }
}
