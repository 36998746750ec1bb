//! What the linter reports: a [`Finding`] with its [`Severity`].

use std::fmt;

use serde::Serialize;

use super::Rule;

/// How serious a finding is. Ordered: `Advice < Warning < Error`, so
/// `findings.iter().filter(|f| f.severity >= Severity::Warning)` keeps what must be fixed.
/// Serialises as `"advice"`, `"warning"`, `"error"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Works as written but could be narrower or safer.
    Advice,
    /// Probably not what was meant, or over-broad.
    Warning,
    /// AWS rejects it, or it cannot do what it appears to do.
    Error,
}

impl Severity {
    /// `"advice"`, `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Advice => "advice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a policy. Serialises as
/// `{"code": …, "severity": …, "pointer": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable code, e.g. `"RDSPG-L003"` (see the module table).
    pub code: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// JSON pointer (RFC 6901) to the offending element of the original document.
    pub pointer: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{} {} at {}: {}",
            self.code, self.severity, at, self.message
        )
    }
}

/// The findings of one run, in document order.
#[derive(Default)]
pub(super) struct Findings(pub(super) Vec<Finding>);

impl Findings {
    pub(super) fn push(&mut self, rule: Rule, pointer: &str, message: String) {
        self.0.push(Finding {
            code: rule.code,
            severity: rule.severity,
            pointer: pointer.to_owned(),
            message,
        });
    }
}
