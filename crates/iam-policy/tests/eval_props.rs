//! Property tests of the evaluator through the public API.

use iam_policy::eval::{Outcome, RequestContext, evaluate};
use iam_policy::{PolicyDocument, Statement};
use proptest::prelude::*;

/// One ARN segment without wildcards, colons or `$`.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_./-]{0,12}"
}

fn arn() -> impl Strategy<Value = [String; 6]> {
    (
        Just("arn".to_owned()),
        "aws(-cn|-us-gov)?",
        "[a-z][a-z0-9-]{1,10}",
        segment(),
        "[0-9]{0,12}",
        "[a-zA-Z0-9_./:-]{1,30}",
    )
        .prop_map(|(a, b, c, d, e, f)| [a, b, c, d, e, f])
}

fn allow(action: &str, resource: &str) -> PolicyDocument {
    PolicyDocument::new(vec![
        Statement::allow()
            .with_action(action)
            .with_resource(resource),
    ])
}

fn outcome(policies: &[PolicyDocument], request: &RequestContext) -> Outcome {
    evaluate(policies, request)
        .expect("policies without conditions always evaluate")
        .outcome
}

proptest! {
    /// An ARN without wildcards names exactly itself.
    #[test]
    fn arn_matches_itself(parts in arn()) {
        let arn = parts.join(":");
        let request = RequestContext::new("svc:Act", &arn);
        prop_assert_eq!(outcome(&[allow("svc:Act", &arn)], &request), Outcome::Allow);
    }

    /// Replacing any segment but the service with `*` still matches; the service never takes one.
    #[test]
    fn star_in_a_segment_matches(parts in arn(), index in 0usize..6) {
        let arn = parts.join(":");
        let mut pattern = parts.clone();
        pattern[index] = "*".to_owned();
        let request = RequestContext::new("svc:Act", &arn);
        let expected = if index == 2 { Outcome::ImplicitDeny } else { Outcome::Allow };
        prop_assert_eq!(outcome(&[allow("svc:Act", &pattern.join(":"))], &request), expected);
    }

    /// Resources are case-sensitive: changing the case of one letter of the resource part
    /// stops the match.
    #[test]
    fn resource_case_matters(parts in arn(), at in any::<prop::sample::Index>()) {
        let resource: Vec<char> = parts[5].chars().collect();
        let position = at.index(resource.len());
        let c = resource[position];
        prop_assume!(c.is_ascii_alphabetic());
        let mut changed = resource.clone();
        changed[position] = if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
        let mut other = parts.clone();
        other[5] = changed.into_iter().collect();
        let request = RequestContext::new("svc:Act", other.join(":"));
        prop_assert_eq!(outcome(&[allow("svc:Act", &parts.join(":"))], &request), Outcome::ImplicitDeny);
    }

    /// Actions are case-insensitive.
    #[test]
    fn action_case_does_not_matter(action in "[a-z0-9-]{1,8}:[a-zA-Z]{1,16}", flips in prop::collection::vec(any::<bool>(), 25)) {
        let flipped: String = action
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c })
            .collect();
        let request = RequestContext::new(&flipped, "*");
        prop_assert_eq!(outcome(&[allow(&action, "*")], &request), Outcome::Allow);
    }

    /// A matching Deny anywhere wins, whatever else allows.
    #[test]
    fn explicit_deny_wins(parts in arn(), allows in 0usize..4, deny_at in any::<prop::sample::Index>()) {
        let arn = parts.join(":");
        let mut policies: Vec<PolicyDocument> = (0..allows).map(|_| allow("*", "*")).collect();
        let deny = PolicyDocument::new(vec![Statement::deny().with_action("svc:*").with_resource(arn.as_str())]);
        let at = deny_at.index(allows + 1);
        policies.insert(at, deny);
        let decision = evaluate(&policies, &RequestContext::new("svc:Act", &arn)).expect("evaluates");
        prop_assert_eq!(decision.outcome, Outcome::ExplicitDeny);
        prop_assert_eq!(decision.deciding.len(), 1);
        prop_assert_eq!(decision.deciding[0].policy, at);
    }

    /// `${aws:username}` stands for exactly the request's user name, whatever characters it has
    /// (wildcard characters in it are literal).
    #[test]
    fn username_variable_is_exact(user in "\\PC{1,12}", other in "\\PC{1,12}") {
        let policy = allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*");
        let own = RequestContext::new("s3:GetObject", format!("arn:aws:s3:::home/{user}/f"))
            .with_value("aws:username", user.as_str());
        prop_assert_eq!(outcome(std::slice::from_ref(&policy), &own), Outcome::Allow);
        prop_assume!(user != other);
        prop_assume!(!other.starts_with(&format!("{user}/")));
        let foreign = RequestContext::new("s3:GetObject", format!("arn:aws:s3:::home/{other}/f"))
            .with_value("aws:username", user.as_str());
        prop_assert_eq!(outcome(&[policy], &foreign), Outcome::ImplicitDeny);
    }

    /// Arbitrary text in actions and resources never makes evaluation fail or panic.
    #[test]
    fn arbitrary_patterns_evaluate(
        action in "\\PC{0,20}",
        resource in "\\PC{0,40}",
        request_action in "\\PC{0,20}",
        request_resource in "\\PC{0,40}",
        user in "\\PC{0,10}",
    ) {
        let policy = PolicyDocument::new(vec![
            Statement::deny().with_not_action(action.as_str()).with_not_resource(resource.as_str()),
            Statement::allow().with_action(action.as_str()).with_resource(resource.as_str()),
        ]);
        let request = RequestContext::new(request_action, request_resource).with_value("aws:username", user);
        prop_assert!(evaluate(&[policy], &request).is_ok());
    }
}
