//! Bounded durations: how long access lasts, and how often credentials rotate.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::ModelError;
use crate::text::serde_via_str;
use crate::units::{DAY, Grammar, MINUTE, write_secs};

const GRAMMAR: Grammar = Grammar {
    key: "duration",
    form: "write e.g. 30m, 2h, 7d or 1h30m (units d, h, m, s, largest first)",
    too_long: "is longer than the maximum, 365d",
};

/// How long granted access lasts: from 1 minute to 365 days, in whole seconds.
///
/// Bounds: below a minute the grant would expire before a client could use it; above a year
/// it is no longer "just in time" (use a permanent role instead).
///
/// Text form: numbers with units `d`, `h`, `m`, `s`, largest unit first, each at most once,
/// no spaces: `30m`, `2h`, `7d`, `1h30m`, `1d12h`. Display writes the same form with zero
/// parts left out (`90m` displays as `1h30m`).
///
/// ```
/// use integration_model::AccessDuration;
/// let d: AccessDuration = "1h30m".parse()?;
/// assert_eq!(d.as_secs(), 5400);
/// assert_eq!("90m".parse::<AccessDuration>()?.to_string(), "1h30m");
/// assert!("30s".parse::<AccessDuration>().is_err()); // below 1 minute
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessDuration(u64);

impl AccessDuration {
    /// The shortest duration: 1 minute.
    pub const MIN: Self = Self(MINUTE);
    /// The longest duration: 365 days.
    pub const MAX: Self = Self(365 * DAY);

    /// A duration of `secs` seconds, within the bounds.
    pub fn from_secs(secs: u64) -> Result<Self, ModelError> {
        Self::check(secs, &secs.to_string())
    }

    /// Whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// As a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }

    fn check(secs: u64, text: &str) -> Result<Self, ModelError> {
        const KEY: &str = GRAMMAR.key;
        if secs < Self::MIN.0 {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is shorter than the minimum, 1m",
            ));
        }
        if secs > Self::MAX.0 {
            return Err(ModelError::invalid(
                KEY,
                text,
                "is longer than the maximum, 365d",
            ));
        }
        Ok(Self(secs))
    }
}

impl TryFrom<Duration> for AccessDuration {
    type Error = ModelError;

    fn try_from(duration: Duration) -> Result<Self, Self::Error> {
        if duration.subsec_nanos() != 0 {
            return Err(ModelError::invalid_bare(
                "duration",
                format!("{duration:?}"),
                "is not a whole number of seconds",
            ));
        }
        Self::from_secs(duration.as_secs())
    }
}

impl From<AccessDuration> for Duration {
    fn from(duration: AccessDuration) -> Self {
        duration.as_duration()
    }
}

impl fmt::Display for AccessDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_secs(f, self.0)
    }
}

impl FromStr for AccessDuration {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::check(GRAMMAR.parse_secs(text)?, text)
    }
}

serde_via_str!(AccessDuration);

/// How often the connector's password is rotated: whole days, 1 to 365.
///
/// Text form: the number of days (`30`); in settings, `credentials_rotation_days = 30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RotationPeriod(u16);

impl RotationPeriod {
    /// The longest period, in days.
    pub const MAX_DAYS: u16 = 365;

    /// A period of `days` days (1..=365).
    pub fn from_days(days: u16) -> Result<Self, ModelError> {
        if !(1..=Self::MAX_DAYS).contains(&days) {
            return Err(ModelError::invalid_bare(
                "credentials_rotation_days",
                days,
                "is not a whole number of days in 1..=365",
            ));
        }
        Ok(Self(days))
    }

    /// The number of days.
    pub fn days(self) -> u16 {
        self.0
    }

    /// As a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0) * DAY)
    }
}

impl fmt::Display for RotationPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RotationPeriod {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<u16>() {
            Ok(days) if days.to_string() == text => Self::from_days(days),
            _ => Err(ModelError::invalid(
                "credentials_rotation_days",
                text,
                "is not a whole number of days in 1..=365",
            )),
        }
    }
}

impl serde::Serialize for RotationPeriod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RotationPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let days = u16::deserialize(deserializer)?;
        Self::from_days(days).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_forms() {
        let cases = [
            ("30m", 1800, "30m"),
            ("2h", 7200, "2h"),
            ("7d", 604_800, "7d"),
            ("1h30m", 5400, "1h30m"),
            ("90m", 5400, "1h30m"),
            ("60s", 60, "1m"),
            ("1d0h5m", 86_700, "1d5m"),
            ("365d", 31_536_000, "365d"),
            ("1m1s", 61, "1m1s"),
        ];
        for (text, secs, shown) in cases {
            let d: AccessDuration = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(d.to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "30",
            "m",
            "59s",
            "366d",
            "365d1s",
            "1m1h",
            "1h1h",
            "1 h",
            "2H",
            "1.5h",
            "99999999999999999999d",
            "-1h",
        ] {
            assert!(bad.parse::<AccessDuration>().is_err(), "{bad:?} accepted");
        }
        let err = "10s".parse::<AccessDuration>().unwrap_err().to_string();
        assert_eq!(err, "duration: \"10s\" is shorter than the minimum, 1m");
    }

    #[test]
    fn duration_conversions() {
        assert_eq!(
            AccessDuration::try_from(Duration::from_secs(120))
                .unwrap()
                .to_string(),
            "2m"
        );
        assert!(AccessDuration::try_from(Duration::from_millis(60_500)).is_err());
        assert_eq!(Duration::from(AccessDuration::MIN), Duration::from_secs(60));
    }

    #[test]
    fn rotation_bounds() {
        assert!(RotationPeriod::from_days(0).is_err());
        assert!(RotationPeriod::from_days(366).is_err());
        assert_eq!(
            RotationPeriod::from_days(30).unwrap().as_duration(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!("365".parse::<RotationPeriod>().unwrap().days(), 365);
        assert!("030".parse::<RotationPeriod>().is_err());
        assert!("30d".parse::<RotationPeriod>().is_err());
    }
}
