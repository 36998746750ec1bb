//! Policy-variable substitution (`${aws:username}`, `${SAML:sub}`, `${aws:PrincipalTag/team}`,
//! `${key, 'default'}`, and the `${*}` `${?}` `${$}` escapes) into wildcard patterns.
//!
//! Rules, from the IAM User Guide, *IAM policy elements: Variables and tags*:
//! * variables exist only in `"Version": "2012-10-17"` documents ("Policy variables were introduced
//!   in version 2012-10-17, so earlier versions of the policy language don't support policy
//!   variables"); elsewhere the text is literal — the caller decides by passing `substitute`;
//! * the variable name is a context key, looked up case-insensitively;
//! * a key that is absent or multivalued ("you can't use multivalued context keys as policy
//!   variables") takes the default value when one is written, otherwise the variable is
//!   unresolved and the caller treats the statement as not applicable;
//! * `${*}`, `${?}` and `${$}` stand for the literal characters.
//!
//! A substituted value (or default) is literal text: a `*` inside a user name never acts as a
//! wildcard, so a principal cannot widen a policy by choosing its own name.

use super::context::RequestContext;
use super::glob::{Element, Pattern};
use crate::variables::{VarToken, tokenize};

/// A policy variable the request context cannot resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unresolved {
    /// The variable's key as written, e.g. `aws:username`.
    pub(crate) variable: String,
}

/// Why policy text did not compile into a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotCompiled {
    /// A variable has no value: the statement is not applicable.
    Unresolved(Unresolved),
    /// The evaluation's substitutions went over [`MAX_SUBSTITUTED_CHARS`](super::MAX_SUBSTITUTED_CHARS).
    OverBudget,
}

impl From<Unresolved> for NotCompiled {
    fn from(unresolved: Unresolved) -> Self {
        NotCompiled::Unresolved(unresolved)
    }
}

/// How many more characters variables may substitute in this evaluation: a policy that names a
/// variable many times cannot multiply a long request value into gigabytes of patterns.
#[derive(Debug)]
pub(crate) struct Budget {
    left: std::cell::Cell<usize>,
}

impl Budget {
    /// A budget of `chars` substituted characters.
    pub(crate) fn new(chars: usize) -> Self {
        Self {
            left: std::cell::Cell::new(chars),
        }
    }

    /// Takes `chars` from the budget; `Err` when it does not have them.
    fn take(&self, chars: usize) -> Result<(), NotCompiled> {
        let left = self
            .left
            .get()
            .checked_sub(chars)
            .ok_or(NotCompiled::OverBudget)?;
        self.left.set(left);
        Ok(())
    }
}

/// Compiles policy text into a pattern.
///
/// `wildcards`: whether `*`/`?` in the written text are wildcards (`StringLike`, resources) or
/// literal (`StringEquals`). `substitute`: whether `${...}` is a variable (2012-10-17 documents in a
/// place that allows variables) or literal text.
pub(crate) fn compile(
    text: &str,
    wildcards: bool,
    substitute: bool,
    request: &RequestContext,
    budget: &Budget,
) -> Result<Pattern, NotCompiled> {
    let push_text = |pattern: &mut Pattern, text: &str| {
        if wildcards {
            pattern.push_wildcard_text(text);
        } else {
            pattern.push_literal_text(text);
        }
    };
    let mut pattern = Pattern::default();
    if !substitute {
        push_text(&mut pattern, text);
        return Ok(pattern);
    }
    for token in tokenize(text) {
        match token {
            VarToken::Text(text) => push_text(&mut pattern, text),
            VarToken::Escape(c) => pattern.push(Element::Literal(c)),
            VarToken::Variable { name, default } => {
                let name = name.trim();
                match (request.values(name), default) {
                    (Some([value]), _) => {
                        budget.take(value.chars().count())?;
                        pattern.push_literal_text(value);
                    }
                    // Inside a default, `''` stands for one quote (IAM User Guide, "Specifying
                    // default values").
                    (_, Some(default)) => pattern.push_literal_text(&default.replace("''", "'")),
                    (_, None) => {
                        return Err(NotCompiled::Unresolved(Unresolved {
                            variable: name.to_owned(),
                        }));
                    }
                }
            }
        }
    }
    Ok(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(
        text: &str,
        wildcards: bool,
        substitute: bool,
        request: &RequestContext,
    ) -> Result<Pattern, NotCompiled> {
        super::compile(
            text,
            wildcards,
            substitute,
            request,
            &Budget::new(usize::MAX),
        )
    }

    #[test]
    fn substitutions_stop_at_the_budget() {
        let request = RequestContext::new("s3:GetObject", "*").with_value("v", "x".repeat(100));
        let budget = Budget::new(250);
        assert!(super::compile("${v}${v}", true, true, &request, &budget).is_ok());
        assert_eq!(
            super::compile("${v}", true, true, &request, &budget),
            Err(NotCompiled::OverBudget)
        );
    }

    fn request() -> RequestContext {
        RequestContext::new("s3:GetObject", "*")
            .with_value("aws:username", "alice")
            .with_value("aws:PrincipalTag/team", "db*")
            .with_values("aws:TagKeys", ["a", "b"])
    }

    #[test]
    fn variables_are_substituted_case_insensitively() {
        let p = compile("home/${AWS:UserName}/*", true, true, &request());
        let p = p.expect("resolves");
        assert!(p.matches("home/alice/notes.txt"));
        assert!(!p.matches("home/bob/notes.txt"));
    }

    #[test]
    fn substituted_values_are_literal() {
        let p = compile("team/${aws:PrincipalTag/team}", true, true, &request()).expect("resolves");
        assert!(p.matches("team/db*"));
        assert!(!p.matches("team/dbx"));
    }

    #[test]
    fn escapes_are_literal_characters() {
        let p = compile("a${*}b${?}c${$}", true, true, &request()).expect("resolves");
        assert!(p.matches("a*b?c$"));
        assert!(!p.matches("aXbYc$"));
    }

    #[test]
    fn default_value_used_when_key_is_missing_or_multivalued() {
        let p = compile("${aws:userid, 'nobody'}", false, true, &request()).expect("default");
        assert!(p.matches("nobody"));
        let p = compile("${aws:TagKeys, 'none'}", false, true, &request()).expect("default");
        assert!(p.matches("none"));
        let p = compile("${aws:username, 'nobody'}", false, true, &request()).expect("value");
        assert!(p.matches("alice"));
        let p = compile("${aws:userid, 'it''s'}", false, true, &request()).expect("default");
        assert!(p.matches("it's"));
    }

    #[test]
    fn missing_or_multivalued_key_without_default_is_unresolved() {
        assert_eq!(
            compile("${aws:userid}", false, true, &request()),
            Err(NotCompiled::Unresolved(Unresolved {
                variable: "aws:userid".to_owned()
            }))
        );
        assert!(compile("${aws:TagKeys}", false, true, &request()).is_err());
    }

    #[test]
    fn without_substitution_text_is_literal() {
        let p = compile("home/${aws:username}", false, false, &request()).expect("literal");
        assert!(p.matches("home/${aws:username}"));
        assert!(!p.matches("home/alice"));
    }

    #[test]
    fn equality_compilation_keeps_star_literal() {
        let p = compile("a*", false, true, &request()).expect("literal");
        assert!(p.matches("a*"));
        assert!(!p.matches("ab"));
    }
}
