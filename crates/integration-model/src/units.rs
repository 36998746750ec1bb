//! The text form of durations, shared by [`AccessDuration`](crate::AccessDuration) and
//! [`Interval`](crate::Interval): numbers with units `d`, `h`, `m`, `s`, largest unit first,
//! each at most once, no spaces (`30m`, `2h`, `7d`, `1h30m`, `1d12h`).

use std::fmt;

use crate::ModelError;

pub(crate) const MINUTE: u64 = 60;
pub(crate) const HOUR: u64 = 60 * MINUTE;
pub(crate) const DAY: u64 = 24 * HOUR;
const UNITS: [(char, u64); 4] = [('d', DAY), ('h', HOUR), ('m', MINUTE), ('s', 1)];

/// How a caller names its values in errors.
pub(crate) struct Grammar {
    /// The label of a lone value (`duration`, `interval`).
    pub(crate) key: &'static str,
    /// How to write one, for error messages.
    pub(crate) form: &'static str,
    /// The message when the total does not fit (`is longer than the maximum, 365d`).
    pub(crate) too_long: &'static str,
}

impl Grammar {
    /// Reads `text` as a number of seconds. Bounds are the caller's; only a sum that does not
    /// fit in `u64` is refused here (with `too_long`).
    pub(crate) fn parse_secs(&self, text: &str) -> Result<u64, ModelError> {
        let Grammar {
            key,
            form,
            too_long,
        } = *self;
        if text.is_empty() {
            return Err(ModelError::invalid(key, text, format!("is empty; {form}")));
        }
        let mut rest = text;
        let mut total: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (number, after) = rest.split_at_checked(digits).unwrap_or((rest, ""));
            if number.is_empty() {
                return Err(ModelError::invalid(
                    key,
                    text,
                    format!(
                        "has {} where a number belongs; {form}",
                        crate::error::quote(after)
                    ),
                ));
            }
            let mut chars = after.chars();
            let Some(unit) = chars.next() else {
                return Err(ModelError::invalid(
                    key,
                    text,
                    format!("has a number without a unit; {form}"),
                ));
            };
            let Some(position) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(ModelError::invalid(
                    key,
                    text,
                    format!("has unknown unit {unit:?}; {form}"),
                ));
            };
            if position < next_unit {
                return Err(ModelError::invalid(
                    key,
                    text,
                    format!("repeats or misorders units; {form}"),
                ));
            }
            next_unit = position + 1;
            let unit_secs = UNITS.get(position).map_or(1, |(_, secs)| *secs);
            total = number
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(unit_secs))
                .and_then(|secs| total.checked_add(secs))
                .ok_or_else(|| ModelError::invalid(key, text, too_long))?;
            rest = chars.as_str();
        }
        Ok(total)
    }
}

/// Writes `secs` in the text form, largest unit first, zero parts left out (`5400` → `1h30m`);
/// `0` writes `0s`.
pub(crate) fn write_secs(f: &mut fmt::Formatter<'_>, secs: u64) -> fmt::Result {
    if secs == 0 {
        return f.write_str("0s");
    }
    let mut rest = secs;
    for (unit, unit_secs) in UNITS {
        let count = rest / unit_secs;
        rest %= unit_secs;
        if count > 0 {
            write!(f, "{count}{unit}")?;
        }
    }
    Ok(())
}
