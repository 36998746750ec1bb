//! One statement of a policy and its `with_*` setters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ConditionBlock, ConditionValue, Effect, OneOrMany, Principal};

/// One statement of a policy.
///
/// Build one with [`Statement::allow`] or [`Statement::deny`] and the `with_*` setters:
///
/// ```
/// use iam_policy::{Effect, Statement};
///
/// let st = Statement::allow()
///     .with_sid("Connect")
///     .with_action("rds-db:connect")
///     .with_resource(["arn:aws:rds-db:*:*:dbuser:*/alice"])
///     .with_condition("StringEquals", "saml:sub_type", "persistent");
/// assert_eq!(st.effect, Effect::Allow);
/// assert_eq!(st.sid.as_deref(), Some("Connect"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Statement {
    /// `"Sid"`: optional statement id.
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `"Effect"`.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// `"Principal"` (resource-based policies).
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// `"NotPrincipal"`.
    #[serde(rename = "NotPrincipal", skip_serializing_if = "Option::is_none")]
    pub not_principal: Option<Principal>,
    /// `"Action"`.
    #[serde(rename = "Action", skip_serializing_if = "Option::is_none")]
    pub action: Option<OneOrMany<String>>,
    /// `"NotAction"`.
    #[serde(rename = "NotAction", skip_serializing_if = "Option::is_none")]
    pub not_action: Option<OneOrMany<String>>,
    /// `"Resource"`.
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany<String>>,
    /// `"NotResource"`.
    #[serde(rename = "NotResource", skip_serializing_if = "Option::is_none")]
    pub not_resource: Option<OneOrMany<String>>,
    /// `"Condition"`.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionBlock>,
}

impl Statement {
    /// A statement with the given effect and nothing else (add an action before using it:
    /// AWS requires exactly one of `Action`/`NotAction`).
    pub fn new(effect: Effect) -> Self {
        Statement {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: None,
        }
    }

    /// `Statement::new(Effect::Allow)`.
    pub fn allow() -> Self {
        Statement::new(Effect::Allow)
    }

    /// `Statement::new(Effect::Deny)`.
    pub fn deny() -> Self {
        Statement::new(Effect::Deny)
    }

    /// Sets `Sid`.
    #[must_use]
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets `Principal`.
    #[must_use]
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Sets `NotPrincipal`.
    #[must_use]
    pub fn with_not_principal(mut self, principal: Principal) -> Self {
        self.not_principal = Some(principal);
        self
    }

    /// Sets `Action` (a `&str`/`String` gives a bare string, an array or `Vec` gives an array).
    #[must_use]
    pub fn with_action(mut self, action: impl Into<OneOrMany<String>>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets `NotAction`.
    #[must_use]
    pub fn with_not_action(mut self, action: impl Into<OneOrMany<String>>) -> Self {
        self.not_action = Some(action.into());
        self
    }

    /// Sets `Resource` (a `&str`/`String` gives a bare string, an array or `Vec` gives an array).
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<OneOrMany<String>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets `NotResource`.
    #[must_use]
    pub fn with_not_resource(mut self, resource: impl Into<OneOrMany<String>>) -> Self {
        self.not_resource = Some(resource.into());
        self
    }

    /// Adds one condition `operator → key → value(s)`, replacing an earlier entry for the same
    /// operator and key.
    #[must_use]
    pub fn with_condition(
        mut self,
        operator: impl Into<String>,
        key: impl Into<String>,
        values: impl Into<OneOrMany<ConditionValue>>,
    ) -> Self {
        self.condition
            .get_or_insert_with(BTreeMap::new)
            .entry(operator.into())
            .or_default()
            .insert(key.into(), values.into());
        self
    }
}
