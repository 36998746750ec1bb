//! The rules: one constant per code, and [`RULES`] in code order.

use super::Severity;

/// A lint rule: its code, severity and one-line title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// Stable code.
    pub code: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// What it checks.
    pub title: &'static str,
}

macro_rules! rules {
    ($($name:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        $(
            #[doc = concat!("`", $code, "`: ", $title)]
            pub const $name: Rule = Rule { code: $code, severity: Severity::$sev, title: $title };
        )*
        /// Every rule, in code order.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    WILDCARD_SCOPE = "RDSPG-L001", Advice, "rds-db ARN with a wildcard region, account or resource id";
    CONNECT_ON_STAR = "RDSPG-L002", Warning, "rds-db:connect allowed on Resource \"*\"";
    MALFORMED_DBUSER_ARN = "RDSPG-L003", Error, "malformed rds-db dbuser ARN";
    RDS_RDS_DB_CONFUSION = "RDSPG-L004", Error, "rds and rds-db actions or ARNs confused";
    VARIABLES_WITHOUT_VERSION = "RDSPG-L005", Error, "policy variables without Version 2012-10-17";
    VARIABLE_NOT_SUBSTITUTED = "RDSPG-L006", Warning, "policy variable where AWS does not substitute it";
    ALLOW_WITH_NOT = "RDSPG-L007", Warning, "Allow with NotAction or NotResource";
    UNKNOWN_PARTITION = "RDSPG-L008", Error, "ARN with an unknown partition";
    INVALID_SID = "RDSPG-L009", Error, "Sid is not alphanumeric";
    DUPLICATE_SID = "RDSPG-L010", Error, "Sid used twice";
    EMPTY_ELEMENT = "RDSPG-L011", Error, "empty Statement, Action or Resource";
    SAML_SUB_NOT_PERSISTENT = "RDSPG-L012", Advice, "${SAML:sub} without saml:sub_type = persistent";
    NOT_AN_ARN = "RDSPG-L013", Error, "Resource is neither \"*\" nor an ARN";
    ANY_DB_USER = "RDSPG-L014", Warning, "rds-db:connect allowed for database user \"*\"";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_unique_and_ordered() {
        let codes: Vec<_> = RULES.iter().map(|r| r.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }
}
