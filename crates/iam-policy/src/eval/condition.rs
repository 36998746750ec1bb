//! The `Condition` element: operators, their values and how they meet the request context.
//!
//! Semantics, from the IAM User Guide (*IAM JSON policy elements: Condition*, *Condition operators*,
//! *Single-valued vs. multivalued context keys*):
//!
//! * all operators of a block must be true (AND), all keys under one operator must be true (AND),
//!   and several values for one key are alternatives (OR);
//! * a negated operator (`StringNotEquals`, `StringNotEqualsIgnoreCase`, `StringNotLike`,
//!   `NumericNotEquals`, `DateNotEquals`, `ArnNotEquals`, `ArnNotLike`, `NotIpAddress`) is true when
//!   the request value matches *none* of the policy values;
//! * a key missing from the request: "If the key that you specify in a policy condition is not
//!   present in the request context, the values do not match" — positive operators are false and
//!   negated operators are true;
//! * `…IfExists`: "If the policy key is present in the context of the request, process the key as
//!   specified in the policy. If the key is not present, evaluate the condition element as true";
//! * `ForAllValues:` is true when every request value satisfies the operator, and also when the key
//!   is missing or empty; `ForAnyValue:` is true when at least one does, and false when the key is
//!   missing or empty;
//! * a multivalued request key under a plain operator: AWS says multivalued keys "require a
//!   condition set operator" without defining the plain form; this evaluator reads it as
//!   `ForAnyValue:` for positive operators and as "no request value matches" for negated ones (so a
//!   negated operator stays the exact complement of its positive twin);
//! * `Null`: `true` asks for the key to be absent, `false` for it to be present.
//!
//! Supported operators: `String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}`,
//! `Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}`,
//! `Date{…same six…}` (ISO 8601 / RFC 3339 dates and times, or epoch seconds), `Bool`,
//! `BinaryEquals` (base64 text compared exactly), `IpAddress`, `NotIpAddress`,
//! `Arn{Equals,Like,NotEquals,NotLike}`, each with `IfExists` and the `ForAllValues:` /
//! `ForAnyValue:` qualifiers, and `Null`. Operator names are case-sensitive; anything else is an
//! [`EvalError::UnknownConditionOperator`](super::EvalError::UnknownConditionOperator).

use std::net::IpAddr;

use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::context::RequestContext;
use super::glob::Pattern;
use super::resource::{ServiceWildcard, arn_pattern_matches};
use super::substitute::{Budget, NotCompiled, Unresolved, compile};
use super::{EvalError, StatementRef, ValueForm};
use crate::document::{ConditionBlock, ConditionValue};

/// How an operator treats a request key with several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    /// No qualifier.
    Plain,
    /// `ForAllValues:`
    ForAllValues,
    /// `ForAnyValue:`
    ForAnyValue,
}

/// The comparison an operator performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// The relation a numeric or date operator asks for between the request value and a policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

impl Ordering {
    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Ordering::Equals => ordering == Equal,
            Ordering::LessThan => ordering == Less,
            Ordering::LessThanEquals => ordering != Greater,
            Ordering::GreaterThan => ordering == Greater,
            Ordering::GreaterThanEquals => ordering != Less,
        }
    }
}

/// A parsed condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: SetQualifier,
    comparison: Comparison,
    negated: bool,
    if_exists: bool,
}

impl Operator {
    fn parse(written: &str) -> Option<Self> {
        let (set, rest) = if let Some(rest) = written.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else if let Some(rest) = written.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else {
            (SetQualifier::Plain, written)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (comparison, negated) = base_operator(base)?;
        // `Null` tests presence itself: it has no IfExists form and no set form.
        if comparison == Comparison::Null && (if_exists || set != SetQualifier::Plain) {
            return None;
        }
        Some(Operator {
            set,
            comparison,
            negated,
            if_exists,
        })
    }
}

fn base_operator(name: &str) -> Option<(Comparison, bool)> {
    use Comparison as C;
    use Ordering as O;
    Some(match name {
        "StringEquals" => (C::StringEquals, false),
        "StringNotEquals" => (C::StringEquals, true),
        "StringEqualsIgnoreCase" => (C::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (C::StringEqualsIgnoreCase, true),
        "StringLike" => (C::StringLike, false),
        "StringNotLike" => (C::StringLike, true),
        "NumericEquals" => (C::Numeric(O::Equals), false),
        "NumericNotEquals" => (C::Numeric(O::Equals), true),
        "NumericLessThan" => (C::Numeric(O::LessThan), false),
        "NumericLessThanEquals" => (C::Numeric(O::LessThanEquals), false),
        "NumericGreaterThan" => (C::Numeric(O::GreaterThan), false),
        "NumericGreaterThanEquals" => (C::Numeric(O::GreaterThanEquals), false),
        "DateEquals" => (C::Date(O::Equals), false),
        "DateNotEquals" => (C::Date(O::Equals), true),
        "DateLessThan" => (C::Date(O::LessThan), false),
        "DateLessThanEquals" => (C::Date(O::LessThanEquals), false),
        "DateGreaterThan" => (C::Date(O::GreaterThan), false),
        "DateGreaterThanEquals" => (C::Date(O::GreaterThanEquals), false),
        "Bool" => (C::Bool, false),
        "BinaryEquals" => (C::BinaryEquals, false),
        "IpAddress" => (C::IpAddress, false),
        "NotIpAddress" => (C::IpAddress, true),
        // "ArnEquals, ArnLike: each of the six colon-delimited components of the ARN is checked
        // separately and each can include multi-character match wildcards (*) or single-character
        // match wildcards (?)" — the two behave the same.
        "ArnEquals" | "ArnLike" => (C::ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (C::ArnLike, true),
        "Null" => (C::Null, false),
        _ => return None,
    })
}

/// One checked condition value, ready to compare.
#[derive(Debug, Clone)]
enum Value {
    /// Source text of a string/ARN value (variables are substituted per request).
    Text(String),
    Number(f64),
    Date(Timestamp),
    Bool(bool),
    Network(Network),
}

/// One `operator → key → values` entry, checked.
#[derive(Debug, Clone)]
struct Condition {
    operator_text: String,
    operator: Operator,
    key: String,
    values: Vec<Value>,
}

/// A statement's condition block, checked once before evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledConditions {
    conditions: Vec<Condition>,
}

/// The outcome of evaluating a condition block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConditionOutcome {
    /// Every condition holds.
    Met,
    /// At least one condition is false.
    NotMet,
    /// A policy variable in a condition value cannot be resolved.
    Unresolved(Unresolved),
}

impl CompiledConditions {
    /// Checks every operator name and every value that does not depend on the request.
    pub(crate) fn compile(
        block: Option<&ConditionBlock>,
        statement: &StatementRef,
    ) -> Result<Self, EvalError> {
        let mut conditions = Vec::new();
        for (operator_text, keys) in block.into_iter().flatten() {
            let operator = Operator::parse(operator_text).ok_or_else(|| {
                EvalError::UnknownConditionOperator {
                    operator: operator_text.clone(),
                    statement: statement.clone(),
                }
            })?;
            for (key, values) in keys {
                let values = values
                    .iter()
                    .map(|value| check_value(operator_text, operator, key, value, statement))
                    .collect::<Result<Vec<_>, _>>()?;
                conditions.push(Condition {
                    operator_text: operator_text.clone(),
                    operator,
                    key: key.clone(),
                    values,
                });
            }
        }
        Ok(Self { conditions })
    }

    /// Evaluates every condition against `request` (AND).
    pub(crate) fn evaluate(
        &self,
        request: &RequestContext,
        substitute: bool,
        statement: &StatementRef,
        budget: &Budget,
    ) -> Result<ConditionOutcome, EvalError> {
        // Every condition is evaluated, so that an unresolvable variable anywhere in the block makes
        // the statement not applicable whatever the other conditions say.
        let mut result = ConditionOutcome::Met;
        for condition in &self.conditions {
            match condition.evaluate(request, substitute, statement, budget)? {
                ConditionOutcome::Met => {}
                ConditionOutcome::NotMet => {
                    if result == ConditionOutcome::Met {
                        result = ConditionOutcome::NotMet;
                    }
                }
                unresolved @ ConditionOutcome::Unresolved(_) => {
                    if !matches!(result, ConditionOutcome::Unresolved(_)) {
                        result = unresolved;
                    }
                }
            }
        }
        Ok(result)
    }
}

fn check_value(
    operator_text: &str,
    operator: Operator,
    key: &str,
    value: &ConditionValue,
    statement: &StatementRef,
) -> Result<Value, EvalError> {
    let text = value.as_text();
    let invalid = |expected: ValueForm| EvalError::InvalidConditionValue {
        operator: operator_text.to_owned(),
        key: key.to_owned(),
        value: text.clone().into_owned(),
        expected,
        statement: statement.clone(),
    };
    Ok(match operator.comparison {
        Comparison::StringEquals
        | Comparison::StringEqualsIgnoreCase
        | Comparison::StringLike
        | Comparison::BinaryEquals
        | Comparison::ArnLike => Value::Text(text.clone().into_owned()),
        Comparison::Numeric(_) => {
            Value::Number(parse_number(&text).ok_or_else(|| invalid(ValueForm::Number))?)
        }
        Comparison::Date(_) => {
            Value::Date(Timestamp::parse(&text).ok_or_else(|| invalid(ValueForm::Date))?)
        }
        Comparison::Bool | Comparison::Null => {
            Value::Bool(parse_bool(&text).ok_or_else(|| invalid(ValueForm::Bool))?)
        }
        Comparison::IpAddress => {
            Value::Network(Network::parse(&text).ok_or_else(|| invalid(ValueForm::Network))?)
        }
    })
}

impl Condition {
    fn evaluate(
        &self,
        request: &RequestContext,
        substitute: bool,
        statement: &StatementRef,
        budget: &Budget,
    ) -> Result<ConditionOutcome, EvalError> {
        let operator = self.operator;
        let request_values = request.values(&self.key);
        if operator.comparison == Comparison::Null {
            let absent = request_values.is_none();
            let met = self
                .values
                .iter()
                .any(|value| matches!(value, Value::Bool(wants_absent) if *wants_absent == absent));
            return Ok(outcome(met));
        }
        // Variables are resolved first: an unresolvable one disables the statement even when the
        // key is missing and the operator would not look at the values.
        let matcher = match self.matcher(request, substitute, budget) {
            Ok(matcher) => matcher,
            Err(NotCompiled::Unresolved(unresolved)) => {
                return Ok(ConditionOutcome::Unresolved(unresolved));
            }
            Err(NotCompiled::OverBudget) => {
                return Err(EvalError::SubstitutionTooLarge {
                    statement: statement.clone(),
                    limit: super::MAX_SUBSTITUTED_CHARS,
                });
            }
        };
        let Some(request_values) = request_values else {
            let met = operator.if_exists
                || match operator.set {
                    SetQualifier::ForAllValues => true,
                    SetQualifier::ForAnyValue => false,
                    SetQualifier::Plain => operator.negated,
                };
            return Ok(outcome(met));
        };
        // For each request value: does it satisfy the operator ("matches one of the policy values",
        // or for a negated operator "matches none of them")?
        let mut satisfied = Vec::with_capacity(request_values.len());
        for value in request_values {
            let any =
                matcher
                    .matches_any(value)
                    .map_err(|expected| EvalError::InvalidRequestValue {
                        operator: self.operator_text.clone(),
                        key: self.key.clone(),
                        value: value.clone(),
                        expected,
                        statement: statement.clone(),
                    })?;
            satisfied.push(any != operator.negated);
        }
        let met = match (operator.set, operator.negated) {
            (SetQualifier::ForAllValues, _) | (SetQualifier::Plain, true) => {
                satisfied.iter().all(|s| *s)
            }
            (SetQualifier::ForAnyValue, _) | (SetQualifier::Plain, false) => {
                satisfied.iter().any(|s| *s)
            }
        };
        Ok(outcome(met))
    }

    /// Prepares the policy values for comparison, substituting variables in string and ARN values.
    fn matcher(
        &self,
        request: &RequestContext,
        substitute: bool,
        budget: &Budget,
    ) -> Result<Matcher<'_>, NotCompiled> {
        let comparison = self.operator.comparison;
        let mut texts = Vec::new();
        let mut patterns = Vec::new();
        for value in &self.values {
            if let Value::Text(text) = value {
                match comparison {
                    Comparison::StringLike | Comparison::ArnLike => {
                        patterns.push(compile(text, true, substitute, request, budget)?);
                    }
                    Comparison::StringEquals | Comparison::StringEqualsIgnoreCase => {
                        patterns.push(compile(text, false, substitute, request, budget)?);
                    }
                    _ => texts.push(text.clone()),
                }
            }
        }
        Ok(Matcher {
            comparison,
            values: &self.values,
            texts,
            patterns,
        })
    }
}

/// Policy values of one condition, prepared for one request.
struct Matcher<'a> {
    comparison: Comparison,
    values: &'a [Value],
    /// Values compared as plain text (`BinaryEquals`).
    texts: Vec<String>,
    /// Compiled string and ARN values.
    patterns: Vec<Pattern>,
}

impl Matcher<'_> {
    /// Whether `value` (from the request) matches at least one policy value; `Err` names the form
    /// the request value should have had.
    fn matches_any(&self, value: &str) -> Result<bool, ValueForm> {
        Ok(match self.comparison {
            Comparison::StringEquals | Comparison::StringLike => {
                self.patterns.iter().any(|p| p.matches(value))
            }
            Comparison::StringEqualsIgnoreCase => {
                self.patterns.iter().any(|p| p.matches_ignore_case(value))
            }
            Comparison::ArnLike => self
                .patterns
                .iter()
                .any(|p| arn_pattern_matches(p, value, ServiceWildcard::Allowed)),
            Comparison::BinaryEquals => self.texts.iter().any(|t| t == value),
            Comparison::Numeric(ordering) => {
                let number = parse_number(value).ok_or(ValueForm::Number)?;
                self.values.iter().any(|v| match v {
                    Value::Number(policy) => number
                        .partial_cmp(policy)
                        .is_some_and(|o| ordering.holds(o)),
                    _ => false,
                })
            }
            Comparison::Date(ordering) => {
                let date = Timestamp::parse(value).ok_or(ValueForm::Date)?;
                self.values.iter().any(|v| match v {
                    Value::Date(policy) => ordering.holds(date.cmp(policy)),
                    _ => false,
                })
            }
            Comparison::Bool => {
                let flag = parse_bool(value).ok_or(ValueForm::Bool)?;
                self.values
                    .iter()
                    .any(|v| matches!(v, Value::Bool(policy) if *policy == flag))
            }
            Comparison::IpAddress => {
                // `::ffff:203.0.113.7` is the IPv4 address 203.0.113.7.
                let address = value
                    .trim()
                    .parse::<IpAddr>()
                    .map_err(|_| ValueForm::IpAddress)?
                    .to_canonical();
                self.values
                    .iter()
                    .any(|v| matches!(v, Value::Network(network) if network.contains(address)))
            }
            // Handled before any value is compared.
            Comparison::Null => false,
        })
    }
}

fn outcome(met: bool) -> ConditionOutcome {
    if met {
        ConditionOutcome::Met
    } else {
        ConditionOutcome::NotMet
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Decimal numbers only: `f64::from_str` alone would also accept `inf` and `NaN`.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let plausible = !text.is_empty()
        && text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    if !plausible {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// An IP network (`IpAddress` / `NotIpAddress` value): an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// `203.0.113.0/24`, `2001:DB8:1234:5678::/64`, or a bare address (a single host).
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_digit()) => {
                prefix.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Network { address, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => prefix_equal(
                u128::from(network.to_bits()) << 96,
                u128::from(address.to_bits()) << 96,
                self.prefix,
            ),
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                prefix_equal(network.to_bits(), address.to_bits(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `prefix` bits (from the top) of `a` and `b` agree.
fn prefix_equal(a: u128, b: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    a & mask == b & mask
}

/// An instant, as seconds and nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timestamp {
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// Accepts what the `Date*` operators take in practice: epoch seconds (`1735689600`), a date
    /// (`2026-01-31`, midnight UTC) or a date-time (`2026-01-31T12:00:00Z`,
    /// `2026-01-31T12:00:00.250+02:00`; no offset means UTC).
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if !text.is_empty()
            && text
                .strip_prefix('-')
                .unwrap_or(text)
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Some(Timestamp {
                seconds: text.parse().ok()?,
                nanos: 0,
            });
        }
        let (date, time) = match text.find(['T', 't', ' ']) {
            Some(at) => (text.get(..at)?, Some(text.get(at + 1..)?)),
            None => (text, None),
        };
        let days = parse_date(date)?;
        let (seconds_of_day, nanos, offset) = match time {
            Some(time) => parse_time(time)?,
            None => (0, 0, 0),
        };
        Some(Timestamp {
            seconds: days * 86_400 + seconds_of_day - offset,
            nanos,
        })
    }
}

/// `YYYY-MM-DD` (a proleptic Gregorian date, four-digit year, no sign) → days since 1970-01-01.
fn parse_date(text: &str) -> Option<i64> {
    // `time` would also read a signed year (`+2020`, `-0001`); the `Date*` operators do not.
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    Some((date - OffsetDateTime::UNIX_EPOCH.date()).whole_days())
}

/// `HH:MM[:SS[.fraction]][Z|±HH:MM]` → (seconds of day, nanoseconds, offset seconds east of UTC).
fn parse_time(text: &str) -> Option<(i64, u32, i64)> {
    let (clock, offset) = if let Some(clock) = text.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = text.rfind(['+', '-']) {
        let (clock, zone) = text.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone.get(1..)?.split_once(':')?;
        let (hours, minutes) = (fixed_digits(hours, 2)?, fixed_digits(minutes, 2)?);
        if hours > 23 || minutes > 59 {
            return None;
        }
        (clock, sign * (hours * 3600 + minutes * 60))
    } else {
        (text, 0)
    };
    let (clock, fraction) = match clock.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = clock.split(':');
    let hours = fixed_digits(parts.next()?, 2)?;
    let minutes = fixed_digits(parts.next()?, 2)?;
    let seconds = match parts.next() {
        Some(seconds) => fixed_digits(seconds, 2)?,
        None => 0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let nanos = match fraction {
        Some(fraction)
            if !fraction.is_empty()
                && fraction.len() <= 9
                && fraction.chars().all(|c| c.is_ascii_digit()) =>
        {
            let padded = format!("{fraction:0<9}");
            padded.parse::<u32>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some((hours * 3600 + minutes * 60 + seconds, nanos, offset))
}

fn fixed_digits(text: &str, len: usize) -> Option<i64> {
    if text.len() == len && text.chars().all(|c| c.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let parsed = Operator::parse("ForAnyValue:StringNotLikeIfExists").expect("known");
        assert_eq!(parsed.set, SetQualifier::ForAnyValue);
        assert_eq!(parsed.comparison, Comparison::StringLike);
        assert!(parsed.negated && parsed.if_exists);
        for unknown in [
            "StringEqual",
            "stringequals",
            "NullIfExists",
            "ForAllValues:Null",
            "Foo:StringEquals",
            "",
        ] {
            assert_eq!(Operator::parse(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn networks() {
        let net = Network::parse("203.0.113.0/24").expect("cidr");
        assert!(net.contains("203.0.113.77".parse().expect("ip")));
        assert!(!net.contains("203.0.114.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().expect("ip");
        assert!(net.contains(mapped.to_canonical()));
        let net = Network::parse("2001:DB8:1234:5678::/64").expect("cidr");
        assert!(net.contains("2001:db8:1234:5678::1".parse().expect("ip")));
        assert!(!net.contains("2001:db8:1234:5679::1".parse().expect("ip")));
        assert!(
            Network::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(
            Network::parse("10.0.0.1")
                .expect("host")
                .contains("10.0.0.1".parse().expect("ip"))
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "10.0.0.0/+8",
            "x",
        ] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let epoch = Timestamp {
            seconds: 0,
            nanos: 0,
        };
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(epoch));
        assert_eq!(Timestamp::parse("1970-01-01"), Some(epoch));
        assert_eq!(Timestamp::parse("0"), Some(epoch));
        assert_eq!(Timestamp::parse("1970-01-01T02:00:00+02:00"), Some(epoch));
        assert_eq!(
            Timestamp::parse("2020-02-29T12:30:15.5Z"),
            Some(Timestamp {
                seconds: 1_582_979_415,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            Timestamp::parse("2024-12-31T23:59:59Z").map(|t| t.seconds),
            Some(1_735_689_599)
        );
        // Leap days by the Gregorian rules, and dates before 1970.
        assert_eq!(
            Timestamp::parse("2000-02-29").map(|t| t.seconds),
            Some(951_782_400)
        );
        assert_eq!(Timestamp::parse("1900-02-29"), None);
        assert_eq!(
            Timestamp::parse("1969-12-31").map(|t| t.seconds),
            Some(-86_400)
        );
        assert_eq!(
            Timestamp::parse("0000-03-01").map(|t| t.seconds),
            Some(-62_162_035_200)
        );
        for bad in [
            "2021-02-29",
            "2020-13-01",
            "2020-01-01T25:00:00Z",
            "yesterday",
            "2020-1-1",
            "2020-01-01T00:00:00.Z",
            "+2020-01-01",
            "-2020-01-01",
            "20200-01-01",
            "2020-01-01-01",
            "2020-00-10",
            "2020-01-32",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number("-1.5e2"), Some(-150.0));
        for bad in ["inf", "NaN", "", "1x", "-"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
