//! Policy evaluation: "do these identity policies allow this action on this resource for a principal
//! with this request context?"
//!
//! [`evaluate`] follows the IAM User Guide, *Policy evaluation logic*, "Determining whether a request
//! is allowed or denied within an account", for identity-based policies:
//!
//! 1. every statement whose `Action`/`NotAction`, `Resource`/`NotResource` and `Condition` all match
//!    the request is *applicable*; a statement that does not match is simply not applicable, never
//!    a deny;
//! 2. any applicable `Deny` gives [`Outcome::ExplicitDeny`]: an explicit deny in any policy
//!    overrides every allow;
//! 3. otherwise any applicable `Allow` gives [`Outcome::Allow`];
//! 4. otherwise the request is denied by default, [`Outcome::ImplicitDeny`].
//!
//! The [`Decision`] names the statements that decided it.
//!
//! Matching rules:
//!
//! * **actions** are compared case-insensitively with `*` and `?` wildcards (*IAM JSON policy
//!   elements: Action*: "The prefix and the action name are case insensitive"); `NotAction` applies
//!   to every action it does not list;
//! * **resources** are ARNs compared case-sensitively segment by segment; see the
//!   [`Resource` rules](#resource-arns) below. `NotResource` applies to every resource it does not
//!   list;
//! * **conditions**: see the operator list and semantics below;
//! * **policy variables** (`${aws:username}`, `${SAML:sub}`, `${aws:PrincipalTag/team}`,
//!   `${aws:userid}`, any context key; `${key, 'default'}`; the `${*}`, `${?}`, `${$}` escapes) are
//!   substituted only in `"Version": "2012-10-17"` documents — a document with
//!   `"Version": "2008-10-17"` or no `Version` keeps the text literally — and only after the fifth
//!   colon of a `Resource`/`NotResource` ARN and in the values of `String*` and `Arn*` conditions.
//!   Substituted values are literal text (a `*` in a user name is not a wildcard). A variable whose
//!   key is absent from the request (or multivalued, which AWS does not allow as a variable) and has
//!   no default makes its statement **not applicable** (IAM User Guide: "If AWS cannot resolve a
//!   variable this might cause the entire statement to be invalid"); such statements are listed in
//!   [`Decision::unresolved`].
//!
//! # Resource ARNs
//!
//! `arn:partition:service:region:account:resource` is split at its first five colons. Following
//! *IAM JSON policy elements: Resource*, "Using wildcards in resource ARNs": `*` alone matches every
//! resource; the service segment must be written literally ("You can't use a wildcard in the service
//! segment"), so a pattern with a wildcard there matches nothing; the other segments match with
//! wildcards inside the segment; the resource part is matched as a whole, `*` spanning `/` and `:`
//! ("The asterisk (`*`) character can expand to replace everything within a segment, including
//! characters like a forward slash (`/`)"); and "If the `*` wildcard is the last character of a
//! resource ARN segment, it can expand to match beyond the colon boundaries": a shortened pattern
//! such as `arn:aws:rds-db:us-east-1:*` matches every account and resource of that region. A
//! pattern that stops before the service segment (`arn:*`) matches nothing. A request resource that
//! is not an ARN (such as `*` for actions without resource types) is compared with the whole
//! pattern as one wildcard string.
//!
//! # Conditions
//!
//! All operators of a block must hold (AND), all keys under an operator must hold (AND), and the
//! values listed for one key are alternatives (OR). A key missing from the request makes positive
//! operators false and negated operators (`…Not…`, `NotIpAddress`) true; `…IfExists` makes a
//! missing key true. `ForAllValues:` holds when every request value matches (and when the key is
//! missing); `ForAnyValue:` when at least one does (false when missing). A multivalued key under a
//! plain positive operator is read as `ForAnyValue:`, under a plain negated operator as "no request
//! value matches". Operators: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//! `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `Numeric{Equals, NotEquals, LessThan,
//! LessThanEquals, GreaterThan, GreaterThanEquals}`, `Date…` (same six; ISO 8601 / RFC 3339 or epoch
//! seconds), `Bool`, `BinaryEquals`, `IpAddress`, `NotIpAddress` (IPv4 and IPv6 CIDR), `ArnEquals`,
//! `ArnLike`, `ArnNotEquals`, `ArnNotLike`, each with `IfExists` and the set qualifiers, and `Null`.
//! An unknown operator, or a policy value of the wrong form (`Bool` with `"yes"`, a malformed CIDR)
//! is an [`EvalError`], checked in every statement before anything is evaluated.
//!
//! # Limits
//!
//! Request strings (action, resource, context keys and values) are at most
//! [`MAX_REQUEST_CHARS`] characters and policy variables substitute at most
//! [`MAX_SUBSTITUTED_CHARS`] characters per call ([`EvalError::RequestTooLong`],
//! [`EvalError::SubstitutionTooLarge`]): an evaluation takes time linear in the size of the
//! policies and bounded memory whatever the input.
//!
//! # Example
//!
//! The setup guide's end-user policy lets each SAML user connect as the database user of the same
//! name:
//!
//! ```
//! use iam_policy::PolicyDocument;
//! use iam_policy::eval::{Outcome, RequestContext, evaluate};
//!
//! let policy = PolicyDocument::from_json(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Sid": "AllowConnect",
//!     "Effect": "Allow",
//!     "Action": "rds-db:connect",
//!     "Resource": "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"
//!   }]
//! }"#)?;
//! let db_user = |name: &str| {
//!     format!("arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/{name}")
//! };
//!
//! let alice = RequestContext::new("rds-db:connect", db_user("alice")).with_value("SAML:sub", "alice");
//! let decision = evaluate(std::slice::from_ref(&policy), &alice)?;
//! assert_eq!(decision.outcome, Outcome::Allow);
//! assert_eq!(decision.to_string(), r#"allowed by policy 0 statement 0 (Sid "AllowConnect")"#);
//!
//! let as_bob = RequestContext::new("rds-db:connect", db_user("bob")).with_value("SAML:sub", "alice");
//! let decision = evaluate(&[policy], &as_bob)?;
//! assert_eq!(decision.outcome, Outcome::ImplicitDeny);
//! assert!(decision.deciding.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod condition;
mod context;
pub(crate) mod glob;
mod resource;
mod substitute;

use std::fmt;

pub use context::RequestContext;

use crate::document::{Effect, OneOrMany, PolicyDocument, PolicyVersion, Statement};
use condition::{CompiledConditions, ConditionOutcome};
use glob::Pattern;
use resource::resource_matches;
use substitute::{Budget, NotCompiled, Unresolved};

/// The longest request string [`evaluate`] reads, in characters: the action, the resource and
/// every context key and value. 2,048 is IAM's longest ARN. Matching one wildcard pattern
/// against a request string takes at most (pattern + string) × string steps, so this bound keeps
/// an evaluation linear in the size of the policies.
pub const MAX_REQUEST_CHARS: usize = 2048;

/// The most characters policy variables may substitute in one [`evaluate`] call (every
/// `${...}` counts the length of its value, each time it appears): a policy that names a
/// variable many times cannot multiply a long request value into gigabytes of patterns. IAM's
/// largest identity policy is 10,240 characters, so a real policy stays far below it.
pub const MAX_SUBSTITUTED_CHARS: usize = 1 << 20;

/// Evaluates identity policies `policies` for `request`.
///
/// Every statement is checked first (condition operators and policy-side values, presence of
/// `Action` and `Resource`), so a broken policy is an error whatever the request; then each statement
/// is matched against the request. See the [module documentation](self) for the rules.
///
/// # Errors
///
/// [`EvalError`] when a statement cannot be evaluated: an unknown condition operator, a condition
/// value of the wrong form, a request value of the wrong form for the operator that reads it, a
/// statement without `Action`/`NotAction` or `Resource`/`NotResource`, or a `Principal` (which
/// identity policies do not have).
pub fn evaluate(
    policies: &[PolicyDocument],
    request: &RequestContext,
) -> Result<Decision, EvalError> {
    check_request(request)?;
    let budget = Budget::new(MAX_SUBSTITUTED_CHARS);
    let mut checked = Vec::new();
    for (policy_index, policy) in policies.iter().enumerate() {
        let substitute = policy.version == Some(PolicyVersion::V2012_10_17);
        for (statement_index, statement) in policy.statements().enumerate() {
            let reference = StatementRef {
                policy: policy_index,
                statement: statement_index,
                sid: statement.sid.clone(),
            };
            let conditions = check_statement(statement, &reference)?;
            checked.push((reference, statement, conditions, substitute));
        }
    }

    let mut allows = Vec::new();
    let mut denies = Vec::new();
    let mut unresolved = Vec::new();
    for (reference, statement, conditions, substitute) in checked {
        match applies(
            statement,
            &conditions,
            substitute,
            request,
            &reference,
            &budget,
        )? {
            Applicability::Applies => match statement.effect {
                Effect::Allow => allows.push(reference),
                Effect::Deny => denies.push(reference),
            },
            Applicability::NotApplicable => {}
            Applicability::Unresolved(Unresolved { variable }) => {
                unresolved.push(UnresolvedVariable {
                    statement: reference,
                    variable,
                });
            }
        }
    }

    let (outcome, deciding) = if !denies.is_empty() {
        (Outcome::ExplicitDeny, denies)
    } else if !allows.is_empty() {
        (Outcome::Allow, allows)
    } else {
        (Outcome::ImplicitDeny, Vec::new())
    };
    Ok(Decision {
        outcome,
        deciding,
        unresolved,
    })
}

/// Refuses request strings longer than [`MAX_REQUEST_CHARS`].
fn check_request(request: &RequestContext) -> Result<(), EvalError> {
    let check = |what: &dyn Fn() -> String, text: &str| {
        let chars = text.chars().count();
        if chars > MAX_REQUEST_CHARS {
            return Err(EvalError::RequestTooLong {
                what: what(),
                chars,
                limit: MAX_REQUEST_CHARS,
            });
        }
        Ok(())
    };
    check(&|| "action".to_owned(), request.action())?;
    check(&|| "resource".to_owned(), request.resource())?;
    for (key, values) in request.keys() {
        check(&|| "context key name".to_owned(), key)?;
        for value in values {
            check(&|| format!("value of context key {key:?}"), value)?;
        }
    }
    Ok(())
}

fn check_statement(
    statement: &Statement,
    reference: &StatementRef,
) -> Result<CompiledConditions, EvalError> {
    if statement.action.is_none() && statement.not_action.is_none() {
        return Err(EvalError::MissingAction {
            statement: reference.clone(),
        });
    }
    if statement.resource.is_none() && statement.not_resource.is_none() {
        return Err(EvalError::MissingResource {
            statement: reference.clone(),
        });
    }
    if statement.principal.is_some() || statement.not_principal.is_some() {
        return Err(EvalError::PrincipalInIdentityPolicy {
            statement: reference.clone(),
        });
    }
    CompiledConditions::compile(statement.condition.as_ref(), reference)
}

enum Applicability {
    Applies,
    NotApplicable,
    Unresolved(Unresolved),
}

fn applies(
    statement: &Statement,
    conditions: &CompiledConditions,
    substitute: bool,
    request: &RequestContext,
    reference: &StatementRef,
    budget: &Budget,
) -> Result<Applicability, EvalError> {
    let action_listed = |patterns: &OneOrMany<String>| {
        patterns
            .iter()
            .any(|pattern| Pattern::wildcard(pattern).matches_ignore_case(request.action()))
    };
    let action_matches = match (&statement.action, &statement.not_action) {
        (Some(action), _) => action_listed(action),
        (None, Some(not_action)) => !action_listed(not_action),
        (None, None) => false,
    };
    if !action_matches {
        return Ok(Applicability::NotApplicable);
    }

    // Every pattern is resolved before deciding, so that an unresolvable variable makes the whole
    // statement not applicable rather than turning a `NotResource` into a match.
    let resource_listed = |patterns: &OneOrMany<String>| -> Result<bool, NotCompiled> {
        let mut any = false;
        for pattern in patterns.iter() {
            any |= resource_matches(pattern, substitute, request, budget)?;
        }
        Ok(any)
    };
    let resource_matches = match (&statement.resource, &statement.not_resource) {
        (Some(resource), _) => resource_listed(resource),
        (None, Some(not_resource)) => resource_listed(not_resource).map(|listed| !listed),
        (None, None) => Ok(false),
    };
    match resource_matches {
        Ok(true) => {}
        Ok(false) => return Ok(Applicability::NotApplicable),
        Err(NotCompiled::Unresolved(unresolved)) => {
            return Ok(Applicability::Unresolved(unresolved));
        }
        Err(NotCompiled::OverBudget) => {
            return Err(EvalError::SubstitutionTooLarge {
                statement: reference.clone(),
                limit: MAX_SUBSTITUTED_CHARS,
            });
        }
    }

    Ok(
        match conditions.evaluate(request, substitute, reference, budget)? {
            ConditionOutcome::Met => Applicability::Applies,
            ConditionOutcome::NotMet => Applicability::NotApplicable,
            ConditionOutcome::Unresolved(unresolved) => Applicability::Unresolved(unresolved),
        },
    )
}

/// The answer of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Allowed, explicitly denied or implicitly denied.
    pub outcome: Outcome,
    /// The statements that decided: every applicable `Deny` for [`Outcome::ExplicitDeny`], every
    /// applicable `Allow` for [`Outcome::Allow`], none for [`Outcome::ImplicitDeny`].
    pub deciding: Vec<StatementRef>,
    /// Statements that matched the action but were skipped because a policy variable could not be
    /// resolved from the request context (useful to explain an implicit deny).
    pub unresolved: Vec<UnresolvedVariable>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// `allowed by policy 0 statement 1 (Sid "AllowConnect")`,
/// `denied by policy 1 statement 0 (explicit deny)`, or
/// `denied (implicit deny: no statement allows the request)`.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            for (index, statement) in self.deciding.iter().enumerate() {
                if index > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{statement}")?;
            }
            Ok(())
        };
        match self.outcome {
            Outcome::Allow => {
                f.write_str("allowed by ")?;
                list(f)
            }
            Outcome::ExplicitDeny => {
                f.write_str("denied by ")?;
                list(f)?;
                f.write_str(" (explicit deny)")
            }
            Outcome::ImplicitDeny => {
                f.write_str("denied (implicit deny: no statement allows the request)")
            }
        }
    }
}

/// The result of an evaluation. AWS keeps the two denials apart: an explicit deny cannot be
/// overridden by another policy, an implicit deny can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// An applicable `Allow` and no applicable `Deny`.
    Allow,
    /// An applicable `Deny`.
    ExplicitDeny,
    /// No applicable statement: denied by default.
    ImplicitDeny,
}

impl Outcome {
    /// Whether the request is allowed.
    pub fn is_allowed(self) -> bool {
        self == Outcome::Allow
    }
}

/// `allowed`, `explicitly denied` or `implicitly denied`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Allow => "allowed",
            Outcome::ExplicitDeny => "explicitly denied",
            Outcome::ImplicitDeny => "implicitly denied",
        })
    }
}

/// Points at one statement: its policy's index in the slice given to [`evaluate`], its index in
/// that policy's `Statement`, and its `Sid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StatementRef {
    /// Index of the policy in the slice passed to [`evaluate`].
    pub policy: usize,
    /// Index of the statement in the policy's `Statement` (0 for a single statement object).
    pub statement: usize,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
}

/// `policy 0 statement 1 (Sid "AllowConnect")`, or `policy 0 statement 1` without a Sid.
impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {} statement {}", self.policy, self.statement)?;
        match &self.sid {
            Some(sid) => write!(f, " (Sid {sid:?})"),
            None => Ok(()),
        }
    }
}

/// A statement skipped because a policy variable has no value in the request context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnresolvedVariable {
    /// The skipped statement.
    pub statement: StatementRef,
    /// The variable's context key as written, e.g. `SAML:sub`.
    pub variable: String,
}

/// `policy 0 statement 0 skipped: ${SAML:sub} has no value in the request`.
impl fmt::Display for UnresolvedVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} skipped: ${{{}}} has no value in the request",
            self.statement, self.variable
        )
    }
}

/// Why a set of policies could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A condition operator this evaluator does not know. Unknown operators are never silently
    /// treated as a match or a mismatch.
    #[error(
        "{statement}: unknown condition operator {}; use one of the IAM operators \
         (StringEquals, StringLike, ArnLike, Bool, IpAddress, NumericLessThan, DateGreaterThan, \
         Null, ... with optional IfExists and ForAllValues:/ForAnyValue:), spelled with AWS's case",
        shown(operator)
    )]
    UnknownConditionOperator {
        /// The operator as written.
        operator: String,
        /// The statement that uses it.
        statement: StatementRef,
    },
    /// A policy condition value that the operator cannot read.
    #[error(
        "{statement}: condition {} on {} has value {}, expected {expected}",
        shown(operator),
        shown(key),
        shown(value)
    )]
    InvalidConditionValue {
        /// The operator as written.
        operator: String,
        /// The condition key as written.
        key: String,
        /// The offending value.
        value: String,
        /// What the operator accepts.
        expected: ValueForm,
        /// The statement.
        statement: StatementRef,
    },
    /// A request context value that the operator reading it cannot interpret.
    #[error(
        "{statement}: condition {} reads context key {}, whose value {} is not \
         {expected}; fix the value given for {} in the request",
        shown(operator),
        shown(key),
        shown(value),
        shown(key)
    )]
    InvalidRequestValue {
        /// The operator as written.
        operator: String,
        /// The condition key as written in the policy.
        key: String,
        /// The request value.
        value: String,
        /// What the operator accepts.
        expected: ValueForm,
        /// The statement.
        statement: StatementRef,
    },
    /// A statement with neither `Action` nor `NotAction`.
    #[error("{statement} has neither Action nor NotAction; add the actions it is about")]
    MissingAction {
        /// The statement.
        statement: StatementRef,
    },
    /// A statement with neither `Resource` nor `NotResource` (identity policies need one).
    #[error(
        "{statement} has neither Resource nor NotResource; identity policies must name the \
         resources (\"*\" for all)"
    )]
    MissingResource {
        /// The statement.
        statement: StatementRef,
    },
    /// A statement with `Principal` or `NotPrincipal`: that is a resource-based policy, which this
    /// evaluator does not handle.
    #[error(
        "{statement} has a Principal or NotPrincipal, which identity policies may not have; \
         remove it (resource-based policies are not evaluated here)"
    )]
    PrincipalInIdentityPolicy {
        /// The statement.
        statement: StatementRef,
    },
    /// A request string (action, resource, context key or value) longer than
    /// [`MAX_REQUEST_CHARS`] characters.
    #[error(
        "the request's {what} is {chars} characters long; at most {limit} are evaluated \
         (IAM's longest ARN)"
    )]
    RequestTooLong {
        /// Which string: `action`, `resource`, `context key name`, or the value of a key.
        what: String,
        /// Its length in characters.
        chars: usize,
        /// [`MAX_REQUEST_CHARS`].
        limit: usize,
    },
    /// Policy variables substituted more than [`MAX_SUBSTITUTED_CHARS`] characters in one
    /// evaluation.
    #[error(
        "{statement}: policy variables substitute more than {limit} characters in this \
         evaluation; name each variable fewer times or give shorter request values"
    )]
    SubstitutionTooLarge {
        /// The statement where the budget ran out.
        statement: StatementRef,
        /// [`MAX_SUBSTITUTED_CHARS`].
        limit: usize,
    },
}

/// A policy or request string as an error shows it: quoted, and when longer than 128
/// characters its first 96 and last 16 with its length, so that a huge value cannot make a
/// huge message.
fn shown(text: &str) -> String {
    let count = text.chars().count();
    if count <= 128 {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(96).collect();
    let tail: String = text.chars().skip(count - 16).collect();
    format!("{head:?}…{tail:?} ({} bytes)", text.len())
}

/// The form a condition value must have for its operator (named in [`EvalError`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueForm {
    /// `Numeric*`: a decimal number.
    Number,
    /// `Date*`: an ISO 8601 date or date-time, or epoch seconds.
    Date,
    /// `Bool` and `Null`: `true` or `false`.
    Bool,
    /// `IpAddress`/`NotIpAddress` policy values: an address or CIDR block.
    Network,
    /// `IpAddress`/`NotIpAddress` request values: an address.
    IpAddress,
}

impl fmt::Display for ValueForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueForm::Number => "a decimal number such as 42 or -1.5",
            ValueForm::Date => {
                "an ISO 8601 date or date-time such as 2026-01-31T12:00:00Z, or epoch seconds"
            }
            ValueForm::Bool => "true or false",
            ValueForm::Network => {
                "an IPv4 or IPv6 address or CIDR block such as 203.0.113.0/24 or 2001:db8::/32"
            }
            ValueForm::IpAddress => "an IPv4 or IPv6 address",
        })
    }
}
