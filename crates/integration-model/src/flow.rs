//! Access flows: who may request which resources, at which levels, for how long, and whether
//! an approver must sign off. A request is checked against an integration's flows before any
//! SQL runs; an integration without flows leaves the decision to the caller.
//!
//! ```toml
//! [[access_flow]]
//! name = "analysts"
//! requesters = ["*@corp.io"]              # grantee name patterns
//! resources = ["orders-db/appdb/sales/**"] # INSTANCE/DATABASE[/SCHEMA[/TABLE]] patterns
//! levels = ["read-only"]
//! max_duration = "8h"
//! approval = false                        # default false
//! ```
//!
//! Patterns: `*` matches any run of characters except `/`, `**` any run including `/`, and a
//! pattern ending in `/**` also matches the path without that ending (`db/sales/**` covers the
//! schema `db/sales` and every table in it). Everything else matches itself, case-sensitively.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::{AccessDuration, AccessLevel, AccessRequest, ModelError};

/// A name or resource pattern of an access flow ([`AccessFlow`]): `*` matches any run of
/// characters except `/`, `**` any run including `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern(String);

impl Pattern {
    /// The longest pattern, in bytes.
    pub const MAX_LEN: usize = 512;

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let whole = self
            .0
            .strip_suffix("/**")
            .is_some_and(|prefix| glob(prefix.as_bytes(), text.as_bytes()));
        whole || glob(self.0.as_bytes(), text.as_bytes())
    }
}

/// Glob matching by dynamic programming over (pattern, text) positions: O(len(p) · len(t))
/// time, O(len(t)) space, no backtracking blow-up on hostile patterns.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // reachable[j]: the pattern read so far matches text[..j] (no indexing: no panic path).
    let mut reachable = vec![false; text.len() + 1];
    if let Some(start) = reachable.first_mut() {
        *start = true;
    }
    let mut rest = pattern;
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'*' {
            let (double, after) = match tail.split_first() {
                Some((b'*', after)) => (true, after),
                _ => (false, tail),
            };
            // A star extends every reachable position over the characters it may eat.
            let mut carry = reachable.first().copied().unwrap_or(false);
            for (slot, &ch) in reachable.iter_mut().skip(1).zip(text) {
                if carry && (double || ch != b'/') {
                    *slot = true;
                }
                carry = *slot;
            }
            rest = after;
        } else {
            // A literal moves every reachable position one character on, if it matches.
            let mut previous = false;
            for (j, slot) in reachable.iter_mut().enumerate() {
                let here = *slot;
                *slot = j > 0 && previous && text.get(j - 1) == Some(&c);
                previous = here;
            }
            rest = tail;
        }
    }
    reachable.last().copied().unwrap_or(false)
}

impl FromStr for Pattern {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, ModelError> {
        if text.is_empty() {
            return Err(ModelError::invalid(
                "",
                text,
                "is empty; use \"**\" for anything",
            ));
        }
        if text.len() > Self::MAX_LEN {
            return Err(ModelError::invalid(
                "",
                text,
                format!("is longer than {} bytes", Self::MAX_LEN),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ModelError::invalid(
                "",
                text,
                "contains a control character",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// One access flow of an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessFlow {
    /// Its name, used in refusals.
    pub name: String,
    /// Grantee names that may request through it.
    pub requesters: Vec<Pattern>,
    /// Resources it covers (`INSTANCE/DATABASE[/SCHEMA[/TABLE]]` patterns).
    pub resources: Vec<Pattern>,
    /// Levels it allows.
    pub levels: Vec<AccessLevel>,
    /// The longest access it allows.
    pub max_duration: AccessDuration,
    /// Whether an approver (other than the requester) must be named.
    pub approval: bool,
}

impl AccessFlow {
    /// A flow; check it with [`AccessFlow::validate`] (the settings loader does).
    pub fn new(
        name: impl Into<String>,
        requesters: Vec<Pattern>,
        resources: Vec<Pattern>,
        levels: Vec<AccessLevel>,
        max_duration: AccessDuration,
        approval: bool,
    ) -> Self {
        Self {
            name: name.into(),
            requesters,
            resources,
            levels,
            max_duration,
            approval,
        }
    }

    /// Checks the flow itself: a name of letters, digits, `-`, `_` (1..=64) and at least one
    /// requester, resource and level. `path` is the key path for errors.
    ///
    /// # Errors
    /// [`ModelError`] naming the key.
    pub fn validate(&self, path: &str) -> Result<(), ModelError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(ModelError::invalid(
                &crate::node::join(path, "name"),
                &self.name,
                "must be 1-64 letters, digits, '-' or '_'",
            ));
        }
        for (key, empty) in [
            ("requesters", self.requesters.is_empty()),
            ("resources", self.resources.is_empty()),
            ("levels", self.levels.is_empty()),
        ] {
            if empty {
                return Err(ModelError::missing(
                    &crate::node::join(path, key),
                    "list at least one (use \"**\" for any)",
                ));
            }
        }
        Ok(())
    }

    /// Why this flow does not allow `request` (approved by `approver`), or `None` when it does.
    pub fn refusal(&self, request: &AccessRequest) -> Option<String> {
        let grantee = request.grantee().as_str();
        if !self.requesters.iter().any(|p| p.matches(grantee)) {
            return Some(format!(
                "requester {grantee:?} matches none of {}",
                list(&self.requesters)
            ));
        }
        for resource in request.resources() {
            let path = resource.to_string();
            if !self.resources.iter().any(|p| p.matches(&path)) {
                return Some(format!(
                    "resource {path:?} matches none of {}",
                    list(&self.resources)
                ));
            }
        }
        if !self.levels.contains(&request.level()) {
            let levels: Vec<String> = self.levels.iter().map(ToString::to_string).collect();
            return Some(format!(
                "level {} is not one of {}",
                request.level(),
                levels.join(", ")
            ));
        }
        if request.duration() > self.max_duration {
            return Some(format!(
                "duration {} is longer than {}",
                request.duration(),
                self.max_duration
            ));
        }
        if self.approval {
            match request.approved_by() {
                None => return Some("needs an approver (approved_by)".to_owned()),
                Some(approver) if approver == grantee => {
                    return Some(format!("{approver:?} cannot approve their own request"));
                }
                Some(_) => {}
            }
        }
        None
    }
}

fn list(patterns: &[Pattern]) -> String {
    patterns
        .iter()
        .map(|p| format!("{:?}", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why no access flow allows a request: each flow with the first rule it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no access flow allows this request: {}", .refusals.iter().map(|(f, r)| format!("flow {f:?}: {r}")).collect::<Vec<_>>().join("; "))]
#[non_exhaustive]
pub struct FlowRefusal {
    /// Flow name and the rule it failed, in the order the flows are configured.
    pub refusals: Vec<(String, String)>,
}

/// Checks `request` against `flows`: `Ok(Some(flow))` names the first flow that allows it,
/// `Ok(None)` means no flows are configured (the caller decides).
///
/// # Errors
/// [`FlowRefusal`] when flows are configured and none allows the request.
pub fn check_flows<'a>(
    flows: &'a [AccessFlow],
    request: &AccessRequest,
) -> Result<Option<&'a AccessFlow>, FlowRefusal> {
    if flows.is_empty() {
        return Ok(None);
    }
    let mut refusals = Vec::new();
    for flow in flows {
        match flow.refusal(request) {
            None => return Ok(Some(flow)),
            Some(reason) => refusals.push((flow.name.clone(), reason)),
        }
    }
    Err(FlowRefusal { refusals })
}

/// Which access flows a caller may use: every flow, or only those named (a caller of the
/// access API is limited to the flows its token lists). See [`check_flows_within`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowScope {
    /// Every flow of the integration (and, when it has none, any request).
    #[default]
    Any,
    /// Only the flows of these names.
    Only(Vec<String>),
}

impl FlowScope {
    /// The scope of a list of flow names, where `*` names every flow.
    ///
    /// ```
    /// use integration_model::FlowScope;
    /// assert_eq!(FlowScope::from_names(["*"]), FlowScope::Any);
    /// assert_eq!(FlowScope::from_names(["analysts"]), FlowScope::Only(vec!["analysts".into()]));
    /// ```
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.iter().any(|n| n == "*") {
            Self::Any
        } else {
            Self::Only(names)
        }
    }

    /// Whether the flow named `name` is within the scope.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// [`check_flows`] over the flows within `scope` only. With [`FlowScope::Only`], a request is
/// refused when none of the integration's flows is within the scope (also when the
/// integration has no flows at all: a limited caller never gets the unchecked path).
///
/// ```
/// use integration_model::{AccessFlow, AccessRequest, FlowScope, check_flows_within};
/// let flow = AccessFlow::new(
///     "analysts",
///     vec!["*".parse()?],
///     vec!["**".parse()?],
///     vec!["read-only".parse()?],
///     "8h".parse()?,
///     false,
/// );
/// let request = AccessRequest::builder("alice".parse()?, "read-only".parse()?, "1h".parse()?)
///     .resource("db-1/appdb".parse()?)
///     .build()?;
/// let flows = [flow];
/// assert!(check_flows_within(&flows, &FlowScope::Any, &request).is_ok());
/// assert!(check_flows_within(&flows, &FlowScope::from_names(["analysts"]), &request).is_ok());
/// assert!(check_flows_within(&flows, &FlowScope::from_names(["admins"]), &request).is_err());
/// assert!(check_flows_within(&[], &FlowScope::from_names(["admins"]), &request).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`FlowRefusal`] when no flow within the scope allows the request.
pub fn check_flows_within<'a>(
    flows: &'a [AccessFlow],
    scope: &FlowScope,
    request: &AccessRequest,
) -> Result<Option<&'a AccessFlow>, FlowRefusal> {
    let FlowScope::Only(names) = scope else {
        return check_flows(flows, request);
    };
    let mut refusals = Vec::new();
    for flow in flows {
        if !scope.allows(&flow.name) {
            refusals.push((
                flow.name.clone(),
                "not one of the caller's flows".to_owned(),
            ));
            continue;
        }
        match flow.refusal(request) {
            None => return Ok(Some(flow)),
            Some(reason) => refusals.push((flow.name.clone(), reason)),
        }
    }
    if flows.is_empty() {
        refusals.push((
            names.join(","),
            "the caller may use only these flows, and the integration has no access flows"
                .to_owned(),
        ));
    }
    Err(FlowRefusal { refusals })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        s.parse().expect("pattern")
    }

    #[test]
    fn glob_rules() {
        // (pattern, text, matches)
        let cases = [
            ("alice", "alice", true),
            ("alice", "alicex", false),
            ("*@corp.io", "bob@corp.io", true),
            ("*@corp.io", "bob@corp.io.evil", false),
            ("db/*", "db/sales", true),
            ("db/*", "db/sales/orders", false),
            ("db/**", "db/sales/orders", true),
            ("db/sales/**", "db/sales", true),
            ("db/sales/**", "db/salesx", false),
            ("*/appdb/*", "orders-a/appdb/sales", true),
            ("**", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(p(pattern).matches(text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn hostile_pattern_finishes() {
        let pattern = p(&"a*".repeat(60));
        let text = "a".repeat(5_000) + "b";
        assert!(!pattern.matches(&format!("{text}/")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!("".parse::<Pattern>().is_err());
        assert!("a\nb".parse::<Pattern>().is_err());
        assert!("x".repeat(513).parse::<Pattern>().is_err());
    }
}
