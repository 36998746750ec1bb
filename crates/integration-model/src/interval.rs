//! How often a service job runs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::ModelError;
use crate::text::serde_via_str;
use crate::units::{Grammar, write_secs};

const GRAMMAR: Grammar = Grammar {
    key: "interval",
    form: "write e.g. 60s, 15m, 1h, 1h30m or 2d (units d, h, m, s, largest first)",
    too_long: "is too long to count in seconds",
};

/// How often a job of the service runs (sweep, sync, rotation check): at least 1 second, in
/// whole seconds.
///
/// Text form: that of [`AccessDuration`](crate::AccessDuration), read by the same parser:
/// numbers with units `d`, `h`, `m`, `s`, largest unit first, each at most once, no spaces
/// (`60s`, `15m`, `1h`, `1h30m`, `2d`). Display writes the same form with zero parts left out
/// (`90s` displays as `1m30s`). There is no upper bound below what fits in a `u64` of seconds;
/// a sum that does not fit is refused, never wrapped.
///
/// ```
/// use integration_model::Interval;
/// use std::time::Duration;
///
/// let every: Interval = "1h30m".parse()?;
/// assert_eq!(every.as_std(), Duration::from_secs(5400));
/// assert_eq!("90s".parse::<Interval>()?.to_string(), "1m30s");
/// let err = "0s".parse::<Interval>().unwrap_err();
/// assert_eq!(err.to_string(), "interval: \"0s\" is shorter than the minimum, 1s");
/// // A command-line flag names itself in the error.
/// let err = "5x".parse::<Interval>().unwrap_err().at("--sweep-every");
/// assert!(err.to_string().starts_with("--sweep-every: \"5x\" has unknown unit 'x'"));
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval(u64);

impl Interval {
    /// The shortest interval: 1 second.
    pub const MIN: Self = Self(1);
    /// The longest interval: `u64::MAX` seconds.
    pub const MAX: Self = Self(u64::MAX);

    /// An interval of `secs` seconds (at least 1).
    ///
    /// # Errors
    /// [`ModelError::InvalidValue`] for `0`.
    pub fn from_secs(secs: u64) -> Result<Self, ModelError> {
        Self::check(secs, &secs.to_string())
    }

    /// Whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// As a [`std::time::Duration`].
    pub fn as_std(self) -> Duration {
        Duration::from_secs(self.0)
    }

    fn check(secs: u64, text: &str) -> Result<Self, ModelError> {
        if secs < Self::MIN.0 {
            return Err(ModelError::invalid(
                GRAMMAR.key,
                text,
                "is shorter than the minimum, 1s",
            ));
        }
        Ok(Self(secs))
    }
}

impl TryFrom<Duration> for Interval {
    type Error = ModelError;

    fn try_from(duration: Duration) -> Result<Self, Self::Error> {
        if duration.subsec_nanos() != 0 {
            return Err(ModelError::invalid_bare(
                GRAMMAR.key,
                format!("{duration:?}"),
                "is not a whole number of seconds",
            ));
        }
        Self::from_secs(duration.as_secs())
    }
}

impl From<Interval> for Duration {
    fn from(interval: Interval) -> Self {
        interval.as_std()
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_secs(f, self.0)
    }
}

impl FromStr for Interval {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::check(GRAMMAR.parse_secs(text)?, text)
    }
}

serde_via_str!(Interval);

#[cfg(test)]
mod tests {
    use super::*;

    /// The forms `rdspg serve` documents (`--sweep-every 60s`, `--sync-every 15m`,
    /// `--rotate-every 1h`) and what it refuses.
    #[test]
    fn intervals_read_as_documented() {
        for (text, secs, shown) in [
            ("60s", 60, "1m"),
            ("15m", 900, "15m"),
            ("1h", 3600, "1h"),
            ("1h30m", 5400, "1h30m"),
            ("2d", 172_800, "2d"),
            ("1s", 1, "1s"),
            ("18446744073709551615s", u64::MAX, "213503982334601d7h15s"),
            (
                "213503982334601d",
                213_503_982_334_601 * 86_400,
                "213503982334601d",
            ),
        ] {
            let interval: Interval = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(interval.as_std(), Duration::from_secs(secs), "{text}");
            assert_eq!(interval.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Interval>().ok(), Some(interval), "{shown}");
        }
        for bad in [
            "",
            "0s",
            "10",
            "5x",
            "m",
            "-1s",
            "99999999999999999999s",
            "213503982334602d",
            "1m1h",
            "1 h",
        ] {
            let err = bad.parse::<Interval>().expect_err(bad);
            assert_eq!(err.key(), Some("interval"), "{bad}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn conversions_and_serde() {
        assert_eq!(
            Interval::try_from(Duration::from_secs(90))
                .map(|i| i.to_string())
                .ok(),
            Some("1m30s".to_owned())
        );
        assert!(Interval::try_from(Duration::from_millis(1500)).is_err());
        assert!(Interval::from_secs(0).is_err());
        assert_eq!(Duration::from(Interval::MIN), Duration::from_secs(1));
        let json = serde_json::to_string(&Interval::from_secs(900).ok()).ok();
        assert_eq!(json.as_deref(), Some("\"15m\""));
        let back: Result<Interval, _> = serde_json::from_str("\"15m\"");
        assert_eq!(back.ok(), Interval::from_secs(900).ok());
        assert!(serde_json::from_str::<Interval>("\"0s\"").is_err());
    }

    proptest::proptest! {
        /// Display and FromStr are inverse over the whole range.
        #[test]
        fn display_parses_back(secs in 1u64..) {
            let interval = Interval::from_secs(secs).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(interval.to_string().parse::<Interval>().ok(), Some(interval));
        }
    }
}
