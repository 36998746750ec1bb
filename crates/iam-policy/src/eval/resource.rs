//! ARN matching for the `Resource`/`NotResource` elements and the `Arn*` condition operators.
//!
//! An ARN is `arn:partition:service:region:account-id:resource`; the first five colons separate the
//! segments and the resource part keeps any further colons (`dbuser:db-ABC/alice`). From the IAM
//! User Guide, *IAM JSON policy elements: Resource*, "Using wildcards in resource ARNs":
//!
//! * wildcards (`*`, `?`) work "within the individual segments of an ARN (the parts separated by
//!   colons)", case-sensitively;
//! * "You can't use a wildcard in the service segment" — a `Resource` pattern whose service segment
//!   has a wildcard matches nothing here (the linter reports it); the `Arn*` condition operators
//!   check "each of the six colon-delimited components … separately" and allow wildcards in all;
//! * "The asterisk (`*`) character can expand to replace everything within a segment, including
//!   characters like a forward slash (`/`)";
//! * "If the `*` wildcard is the last character of a resource ARN segment, it can expand to match
//!   beyond the colon boundaries": a pattern with fewer than six segments whose last segment ends in
//!   `*` matches the rest of the ARN, colons included (`arn:aws:rds-db:us-east-1:*` covers every
//!   account and resource in the region). The resource part is always matched as a whole, so a `*`
//!   there spans `:` too.
//!
//! `*` alone matches every resource. A request resource that is not an ARN (fewer than six
//! segments, e.g. `*` for actions without resources) is compared with the whole pattern as one
//! wildcard string.

use super::context::RequestContext;
use super::glob::Pattern;
use super::substitute::{Budget, NotCompiled, compile};

/// Number of colon-separated segments of an ARN (the last one may contain colons).
const ARN_SEGMENTS: usize = 6;
/// Index of the service segment.
const SERVICE: usize = 2;

/// Whether the `Resource` pattern `pattern` matches the request's resource.
///
/// Variables are substituted only after the fifth colon (the resource part), and only when
/// `substitute` is set (2012-10-17 documents).
pub(crate) fn resource_matches(
    pattern: &str,
    substitute: bool,
    request: &RequestContext,
    budget: &Budget,
) -> Result<bool, NotCompiled> {
    if pattern == "*" {
        return Ok(true);
    }
    let mut segments = Vec::with_capacity(ARN_SEGMENTS);
    let raw: Vec<&str> = pattern.splitn(ARN_SEGMENTS, ':').collect();
    for (index, text) in raw.iter().enumerate() {
        let in_resource_part = index == ARN_SEGMENTS - 1;
        segments.push(compile(
            text,
            true,
            substitute && in_resource_part,
            request,
            budget,
        )?);
    }
    Ok(arn_segments_match(
        &segments,
        request.resource(),
        ServiceWildcard::Forbidden,
    ))
}

/// Whether the service segment of a pattern may contain wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceWildcard {
    /// `Resource`/`NotResource`: "You can't use a wildcard in the service segment".
    Forbidden,
    /// `ArnLike`/`ArnEquals` conditions: every segment may hold wildcards.
    Allowed,
}

/// Matches a compiled ARN pattern (whole, not yet split) against `arn`.
pub(crate) fn arn_pattern_matches(pattern: &Pattern, arn: &str, service: ServiceWildcard) -> bool {
    if pattern.is_match_all() {
        return true;
    }
    arn_segments_match(&pattern.splitn(ARN_SEGMENTS, ':'), arn, service)
}

fn arn_segments_match(segments: &[Pattern], arn: &str, service: ServiceWildcard) -> bool {
    if let [only] = segments
        && only.is_match_all()
    {
        return true;
    }
    let parts: Vec<&str> = arn.splitn(ARN_SEGMENTS, ':').collect();
    if parts.len() < ARN_SEGMENTS {
        // Not an ARN: compare against the whole pattern, colons included.
        let mut whole = Pattern::default();
        for (index, segment) in segments.iter().enumerate() {
            if index > 0 {
                whole.push_literal_text(":");
            }
            for element in segment.elements() {
                whole.push(*element);
            }
        }
        return whole.matches(arn);
    }
    if segments.len() <= SERVICE {
        // The pattern does not name a service; only a lone `*` may cover every service.
        return false;
    }
    if service == ServiceWildcard::Forbidden
        && segments.get(SERVICE).is_some_and(Pattern::has_wildcard)
    {
        return false;
    }
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        let Some(part) = parts.get(index) else {
            return false;
        };
        if index == last && index < ARN_SEGMENTS - 1 {
            // A shortened pattern: its trailing `*` may run past the remaining colons.
            if !segment.ends_with_star() {
                return false;
            }
            let rest = parts.get(index..).map(|rest| rest.join(":"));
            return rest.is_some_and(|rest| segment.matches(&rest));
        }
        if !segment.matches(part) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource_matches(
        pattern: &str,
        substitute: bool,
        request: &RequestContext,
    ) -> Result<bool, NotCompiled> {
        super::resource_matches(pattern, substitute, request, &Budget::new(usize::MAX))
    }

    const ALICE: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/alice";

    fn matches(pattern: &str, resource: &str) -> bool {
        let request =
            RequestContext::new("rds-db:connect", resource).with_value("SAML:sub", "alice");
        resource_matches(pattern, true, &request).expect("no unresolved variable")
    }

    #[test]
    fn segment_matching() {
        let cases = [
            ("*", ALICE, true),
            (ALICE, ALICE, true),
            ("arn:aws:rds-db:*:*:dbuser:*/alice", ALICE, true),
            ("arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}", ALICE, true),
            ("arn:aws:rds-db:*:*:dbuser:*/bob", ALICE, false),
            // Case-sensitive.
            ("arn:aws:rds-db:*:*:dbuser:*/Alice", ALICE, false),
            ("arn:aws:rds-db:us-east-?:*:dbuser:*", ALICE, true),
            ("arn:aws:rds-db:us-west-?:*:dbuser:*", ALICE, false),
            // `*` spans `/` and `:` in the resource part.
            ("arn:aws:rds-db:us-east-1:123456789012:*", ALICE, true),
            ("arn:aws:rds-db:us-east-1:123456789012:*alice", ALICE, true),
            // Wildcards stay inside their segment before the resource part.
            (
                "arn:aws:rds-db:*:dbuser:db-ABCDEFGHIJKL/alice",
                ALICE,
                false,
            ),
            // Shortened pattern whose last segment ends in `*`.
            ("arn:aws:rds-db:us-east-1:*", ALICE, true),
            ("arn:aws:rds-db:us-*", ALICE, true),
            ("arn:aws:rds-db:eu-*", ALICE, false),
            ("arn:aws:rds-db:us-east-1", ALICE, false),
            // No wildcard in the service segment, and the service must be named.
            ("arn:aws:rds-*:*:*:dbuser:*", ALICE, false),
            ("arn:aws:*", ALICE, false),
            ("arn:*", ALICE, false),
            // Non-ARN request resources.
            ("*", "*", true),
            ("arn:aws:rds-db:*:*:dbuser:*", "*", false),
        ];
        for (pattern, resource, expected) in cases {
            assert_eq!(
                matches(pattern, resource),
                expected,
                "{pattern} vs {resource}"
            );
        }
    }

    #[test]
    fn variables_only_in_resource_part() {
        let request = RequestContext::new("s3:GetObject", "arn:aws:s3:::bucket/alice")
            .with_value("aws:region", "")
            .with_value("aws:username", "alice");
        // `${aws:region}` before the fifth colon is literal text (and its colon splits segments).
        assert!(
            !resource_matches("arn:aws:s3:${aws:region}::bucket/alice", true, &request)
                .expect("literal")
        );
        assert!(
            resource_matches("arn:aws:s3:::bucket/${aws:username}", true, &request)
                .expect("resolves")
        );
        assert!(
            !resource_matches("arn:aws:s3:::bucket/${aws:username}", false, &request)
                .expect("literal")
        );
        assert!(resource_matches("arn:aws:s3:::bucket/${aws:userid}", true, &request).is_err());
    }

    #[test]
    fn condition_arn_allows_service_wildcard() {
        let pattern = Pattern::wildcard("arn:aws:rds-*:*:*:dbuser:*");
        assert!(arn_pattern_matches(
            &pattern,
            ALICE,
            ServiceWildcard::Allowed
        ));
        assert!(!arn_pattern_matches(
            &pattern,
            ALICE,
            ServiceWildcard::Forbidden
        ));
        assert!(arn_pattern_matches(
            &Pattern::wildcard("*"),
            "not-an-arn",
            ServiceWildcard::Allowed
        ));
        assert!(!arn_pattern_matches(
            &Pattern::wildcard("arn:aws:iam::*:role/x"),
            "not-an-arn",
            ServiceWildcard::Allowed
        ));
    }
}
