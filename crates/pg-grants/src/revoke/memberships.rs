//! The memberships tying a retained user to other roles, and their removal.

use crate::error::{GrantsError, col};
use crate::quote::Ident;
use crate::session::Session;
use crate::sql;
use crate::statement::Statement;

use super::Membership;

impl Session<'_> {
    /// The memberships of `role` other than its mark (see [`sql::ROLE_MEMBERSHIPS`]).
    async fn memberships(&self, role: &Ident) -> Result<Vec<Membership>, GrantsError> {
        let action = format!("listing the memberships of {role}");
        let rows = self
            .client()
            .query_typed(
                sql::ROLE_MEMBERSHIPS,
                &sql::typed(
                    &[&role.as_str(), &self.settings().names.marker.as_str()],
                    sql::ROLE_MEMBERSHIPS_PARAMS,
                ),
            )
            .await
            .map_err(|e| GrantsError::db(action.clone(), e))?;
        rows.iter()
            .map(|row| {
                let is_member: bool = col(row, 0, &action)?;
                let other: String = col(row, 1, &action)?;
                let grantor: String = col(row, 2, &action)?;
                let (granted, member) = if is_member {
                    (Ident::new(other)?, role.clone())
                } else {
                    (role.clone(), Ident::new(other)?)
                };
                let mut fix_sql = format!("REVOKE {} FROM {}", granted.quoted(), member.quoted());
                if self.rules().membership_options() && !grantor.is_empty() {
                    // 16+: one membership per grantor, removed only by a role with its rights.
                    fix_sql.push_str(&format!(
                        " GRANTED BY {}",
                        Ident::new(grantor.clone())?.quoted()
                    ));
                }
                fix_sql.push(';');
                Ok(Membership {
                    role: granted.as_str().to_owned(),
                    member: member.as_str().to_owned(),
                    grantor,
                    fix_sql,
                })
            })
            .collect()
    }

    /// Removes every membership of `role` but the mark, each on its own (one the connector
    /// cannot remove does not keep the others), then checks that none is left: those are
    /// [`GrantsError::MembershipsNotRemoved`]. Returns those removed.
    pub(super) async fn remove_memberships(
        &self,
        role: &Ident,
    ) -> Result<Vec<Membership>, GrantsError> {
        let found = self.memberships(role).await?;
        let grantor = &self.settings().names.grantor;
        // Acted as only when it is the library's (the connector administers it as its creator):
        // a role a tenant made under that name first is never acted as, even to revoke.
        let ours = if self.rules().membership_options()
            && found.iter().any(|m| m.grantor == grantor.as_str())
        {
            self.grantor_problems().await?.administered
        } else {
            false
        };
        for m in &found {
            // A membership the grantor role granted (in an access role, 16+) is revoked as the
            // grantor role: the connector neither holds its privileges (`GRANTED BY` needs
            // them) nor walks its own memberships for it (see `access`).
            let stmt = if ours && m.grantor == grantor.as_str() {
                Statement::new(crate::plan::as_grantor(
                    grantor,
                    &format!(
                        "REVOKE {} FROM {};",
                        Ident::new(m.role.clone())?.quoted(),
                        Ident::new(m.member.clone())?.quoted()
                    ),
                ))
            } else {
                Statement::new(m.fix_sql.clone())
            };
            if let Err(e) = self
                .run_locked(
                    &format!("removing the membership of {} in {}", m.member, m.role),
                    role,
                    &[stmt],
                )
                .await
            {
                tracing::warn!(%role, membership = %m, error = %e, "membership not removed");
            }
        }
        let left = self.memberships(role).await?;
        if !left.is_empty() {
            return Err(GrantsError::MembershipsNotRemoved {
                role: role.to_string(),
                memberships: left,
            });
        }
        Ok(found)
    }
}
