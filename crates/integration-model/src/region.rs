//! AWS regions and partitions.

use std::str::FromStr;

use crate::ModelError;
use crate::text::{keyword_enum, string_newtype};

keyword_enum! {
    /// An AWS partition: the name that goes into ARNs (`arn:<partition>:...`).
    pub enum Partition ("partition") {
        /// Commercial regions (`us-east-1`, `eu-west-3`, ...).
        Aws = "aws",
        /// China (`cn-north-1`, `cn-northwest-1`).
        AwsCn = "aws-cn",
        /// AWS GovCloud (US) (`us-gov-west-1`, `us-gov-east-1`).
        AwsUsGov = "aws-us-gov",
        /// US ISO (`us-iso-east-1`).
        AwsIso = "aws-iso",
        /// US ISOB (`us-isob-east-1`).
        AwsIsoB = "aws-iso-b",
        /// EU ISOE (`eu-isoe-west-1`).
        AwsIsoE = "aws-iso-e",
        /// US ISOF (`us-isof-south-1`).
        AwsIsoF = "aws-iso-f",
        /// AWS European Sovereign Cloud (`eusc-de-east-1`).
        AwsEusc = "aws-eusc",
    }
}

impl Partition {
    /// The DNS suffix of the partition's service endpoints (`amazonaws.com`, ...).
    pub const fn dns_suffix(self) -> &'static str {
        match self {
            Self::Aws | Self::AwsUsGov => "amazonaws.com",
            Self::AwsCn => "amazonaws.com.cn",
            Self::AwsIso => "c2s.ic.gov",
            Self::AwsIsoB => "sc2s.sgov.gov",
            Self::AwsIsoE => "cloud.adc-e.uk",
            Self::AwsIsoF => "csp.hci.ic.gov",
            Self::AwsEusc => "amazonaws.eu",
        }
    }

    /// The partition a region name belongs to: the longest known prefix (table below) followed
    /// by `-` decides; a name with no known prefix (`*`, a pattern, a future prefix) is `aws`.
    ///
    /// This is the one table of partitions in the workspace: `iam-policy` builds and checks
    /// ARNs with it, so `us-iso-east-1` gets `arn:aws-iso:…` everywhere.
    ///
    /// ```
    /// use integration_model::Partition;
    /// assert_eq!(Partition::for_region("us-isob-east-1"), Partition::AwsIsoB);
    /// assert_eq!(Partition::for_region("eu-west-3"), Partition::Aws);
    /// ```
    pub fn for_region(region: &str) -> Partition {
        PREFIXES
            .iter()
            .filter(|(prefix, _)| {
                region.starts_with(prefix) && region.as_bytes().get(prefix.len()) == Some(&b'-')
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(Partition::Aws, |(_, partition)| *partition)
    }
}

/// Region name prefixes (everything before the direction word) and their partitions.
const PREFIXES: &[(&str, Partition)] = &[
    ("us", Partition::Aws),
    ("eu", Partition::Aws),
    ("ap", Partition::Aws),
    ("sa", Partition::Aws),
    ("ca", Partition::Aws),
    ("me", Partition::Aws),
    ("af", Partition::Aws),
    ("il", Partition::Aws),
    ("mx", Partition::Aws),
    ("cn", Partition::AwsCn),
    ("us-gov", Partition::AwsUsGov),
    ("us-iso", Partition::AwsIso),
    ("us-isob", Partition::AwsIsoB),
    ("eu-isoe", Partition::AwsIsoE),
    ("us-isof", Partition::AwsIsoF),
    ("eusc-de", Partition::AwsEusc),
];

const DIRECTIONS: &[&str] = &[
    "east",
    "west",
    "north",
    "south",
    "central",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];

/// One AWS region, such as `us-east-1`, `eu-west-3`, `us-gov-west-1` or `cn-north-1`.
///
/// Validated by shape, so that regions AWS opens later are accepted: a known prefix
/// (`us`, `eu`, `ap`, `sa`, `ca`, `me`, `af`, `il`, `mx`, `cn`, `us-gov`, `us-iso`, `us-isob`,
/// `eu-isoe`, `us-isof`, `eusc-de`), a direction (`east`, `west`, `north`, `south`, `central`,
/// `northeast`, ...), and a number 1-99; all lower case. Typos such as `us-esat-1` or
/// `useast1` are rejected.
///
/// ```
/// use integration_model::{Partition, Region};
/// let region: Region = "us-gov-west-1".parse()?;
/// assert_eq!(region.partition(), Partition::AwsUsGov);
/// assert_eq!(region.partition().as_str(), "aws-us-gov");
/// # Ok::<(), integration_model::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// The partition this region belongs to, as used in ARNs.
    pub fn partition(&self) -> Partition {
        // Validation guarantees a known prefix; the longest matching prefix wins.
        Partition::for_region(&self.0)
    }
}

impl FromStr for Region {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const KEY: &str = "region";
        let shape = "is not an AWS region; write it like \"us-east-1\"";
        let parts: Vec<&str> = text.split('-').collect();
        let [prefix_parts @ .., direction, number] = parts.as_slice() else {
            return Err(ModelError::invalid(KEY, text, shape));
        };
        if prefix_parts.is_empty() {
            return Err(ModelError::invalid(KEY, text, shape));
        }
        let number_ok = !number.is_empty()
            && number.len() <= 2
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        if !number_ok {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!("{shape} (it must end with a number 1-99)"),
            ));
        }
        if !DIRECTIONS.contains(direction) {
            return Err(ModelError::invalid(
                KEY,
                text,
                format!(
                    "{shape} ({} is not one of: {})",
                    crate::error::quote(direction),
                    DIRECTIONS.join(", ")
                ),
            ));
        }
        let prefix = prefix_parts.join("-");
        if !PREFIXES.iter().any(|(known, _)| *known == prefix) {
            let known: Vec<&str> = PREFIXES.iter().map(|(p, _)| *p).collect();
            return Err(ModelError::invalid(
                KEY,
                text,
                format!(
                    "{shape} (unknown prefix {}; known: {})",
                    crate::error::quote(&prefix),
                    known.join(", ")
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

string_newtype!(Region);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_real_regions() {
        // Source: botocore endpoints.json / partitions.json.
        let cases = [
            ("us-east-1", Partition::Aws),
            ("eu-west-3", Partition::Aws),
            ("ap-southeast-7", Partition::Aws),
            ("il-central-1", Partition::Aws),
            ("mx-central-1", Partition::Aws),
            ("ca-west-1", Partition::Aws),
            ("cn-north-1", Partition::AwsCn),
            ("cn-northwest-1", Partition::AwsCn),
            ("us-gov-west-1", Partition::AwsUsGov),
            ("us-gov-east-1", Partition::AwsUsGov),
            ("us-iso-east-1", Partition::AwsIso),
            ("us-isob-east-1", Partition::AwsIsoB),
            ("eu-isoe-west-1", Partition::AwsIsoE),
            ("us-isof-south-1", Partition::AwsIsoF),
            ("eusc-de-east-1", Partition::AwsEusc),
        ];
        for (text, partition) in cases {
            let region: Region = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(region.partition(), partition, "{text}");
            assert_eq!(region.to_string(), text);
        }
    }

    #[test]
    fn rejects_typos() {
        for text in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-esat-1",
            "us-east-01",
            "us-east-100",
            "xx-east-1",
            "us-east-1 ",
            "east-1",
            "us-gov-west-0",
        ] {
            assert!(text.parse::<Region>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn partition_round_trip() {
        for partition in Partition::ALL {
            assert_eq!(partition.as_str().parse::<Partition>().unwrap(), *partition);
        }
    }
}
