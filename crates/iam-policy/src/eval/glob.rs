//! Wildcard patterns as IAM uses them: `*` matches any run of characters (also none), `?` matches
//! exactly one character, everything else matches itself.
//!
//! A [`Pattern`] is a sequence of [`Element`]s rather than a string, so that a literal `*` (from the
//! `${*}` escape or from a substituted variable value) stays distinguishable from the wildcard.
//!
//! Matching uses the iterative two-pointer algorithm: on a mismatch it only ever backs up to the most
//! recent `*`, so the worst case is O(pattern × text) and hostile patterns such as `a*a*a*…b` cannot
//! trigger exponential backtracking.

/// One element of a compiled wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element {
    /// Matches exactly this character.
    Literal(char),
    /// `*`: any run of characters, including the empty one.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pattern {
    elements: Vec<Element>,
}

impl Pattern {
    /// Compiles `text` with `*` and `?` as wildcards.
    pub(crate) fn wildcard(text: &str) -> Self {
        let mut pattern = Self::default();
        pattern.push_wildcard_text(text);
        pattern
    }

    /// Compiles `text` with every character literal (no wildcard).
    #[cfg(test)]
    pub(crate) fn literal(text: &str) -> Self {
        let mut pattern = Self::default();
        pattern.push_literal_text(text);
        pattern
    }

    /// Appends `text`, reading `*` and `?` as wildcards.
    pub(crate) fn push_wildcard_text(&mut self, text: &str) {
        self.elements.extend(text.chars().map(|c| match c {
            '*' => Element::Star,
            '?' => Element::One,
            other => Element::Literal(other),
        }));
    }

    /// Appends `text` with every character literal.
    pub(crate) fn push_literal_text(&mut self, text: &str) {
        self.elements.extend(text.chars().map(Element::Literal));
    }

    /// Appends one element.
    pub(crate) fn push(&mut self, element: Element) {
        self.elements.push(element);
    }

    /// The elements of the pattern.
    pub(crate) fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// Whether the pattern contains `*` or `?` as a wildcard.
    pub(crate) fn has_wildcard(&self) -> bool {
        self.elements
            .iter()
            .any(|e| !matches!(e, Element::Literal(_)))
    }

    /// Whether the last element is the `*` wildcard.
    pub(crate) fn ends_with_star(&self) -> bool {
        matches!(self.elements.last(), Some(Element::Star))
    }

    /// Whether the pattern is exactly one `*` (matches everything).
    pub(crate) fn is_match_all(&self) -> bool {
        matches!(self.elements.as_slice(), [Element::Star])
    }

    /// Splits the pattern at the first `limit - 1` literal `sep` characters, giving at most `limit`
    /// parts; the last part keeps any further separators.
    pub(crate) fn splitn(&self, limit: usize, sep: char) -> Vec<Pattern> {
        let mut parts = Vec::new();
        let mut current = Vec::new();
        for element in &self.elements {
            if *element == Element::Literal(sep) && parts.len() + 1 < limit {
                parts.push(Pattern {
                    elements: std::mem::take(&mut current),
                });
            } else {
                current.push(*element);
            }
        }
        parts.push(Pattern { elements: current });
        parts
    }

    /// Whether the whole of `text` matches the whole pattern (case-sensitive).
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        matches_chars(&self.elements, &text)
    }

    /// Whether `text` matches, comparing characters case-insensitively (Unicode lower case).
    pub(crate) fn matches_ignore_case(&self, text: &str) -> bool {
        let elements: Vec<Element> = self
            .elements
            .iter()
            .flat_map(|e| -> Vec<Element> {
                match e {
                    Element::Literal(c) => c.to_lowercase().map(Element::Literal).collect(),
                    other => vec![*other],
                }
            })
            .collect();
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        matches_chars(&elements, &text)
    }
}

/// Iterative wildcard match of `pattern` against all of `text`.
///
/// Keeps the position of the last `*` seen and the text position it was tried at; on a mismatch the
/// star absorbs one more character and matching resumes after it. Earlier stars never need to be
/// revisited because a later star can absorb whatever an earlier one could, which bounds the work by
/// `pattern.len() × text.len()`.
fn matches_chars(pattern: &[Element], text: &[char]) -> bool {
    let mut p = 0;
    let mut t = 0;
    // (index in pattern just after the last star, text index that star's match currently ends at)
    let mut backtrack: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        match pattern.get(p) {
            Some(Element::Star) => {
                p += 1;
                backtrack = Some((p, t));
            }
            Some(Element::One) => {
                p += 1;
                t += 1;
            }
            Some(Element::Literal(l)) if *l == c => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((after_star, star_end)) => {
                    p = after_star;
                    t = star_end + 1;
                    backtrack = Some((after_star, star_end + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|e| *e == Element::Star))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Plain recursive backtracking matcher, exponential but obviously correct: the oracle.
    fn oracle(pattern: &[Element], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((Element::Star, rest)) => (0..=text.len()).any(|i| oracle(rest, &text[i..])),
            Some((Element::One, rest)) => !text.is_empty() && oracle(rest, &text[1..]),
            Some((Element::Literal(c), rest)) => {
                text.first() == Some(c) && oracle(rest, &text[1..])
            }
        }
    }

    #[test]
    fn star_and_question_mark() {
        let cases = [
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*/alice", "db-1/alice", true),
            ("*/alice", "db-1/alicex", false),
            ("rds-db:*", "rds-db:connect", true),
            ("a*b*c", "aXbYbZc", true),
            ("?", "é", true),
            ("??", "é", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Pattern::wildcard(pattern).matches(text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn literal_star_is_not_a_wildcard() {
        let mut pattern = Pattern::literal("a");
        pattern.push(Element::Literal('*'));
        assert!(pattern.matches("a*"));
        assert!(!pattern.matches("ab"));
        assert!(!pattern.has_wildcard());
        assert!(Pattern::wildcard("a*").has_wildcard());
    }

    #[test]
    fn case_insensitive_match() {
        assert!(Pattern::wildcard("RDS-DB:Connect").matches_ignore_case("rds-db:CONNECT"));
        assert!(Pattern::wildcard("rds:Describe*").matches_ignore_case("RDS:DESCRIBEDBINSTANCES"));
        assert!(!Pattern::wildcard("rds:Describe*").matches("rds:describeDBInstances"));
    }

    #[test]
    fn splitn_keeps_rest_together() {
        let parts = Pattern::wildcard("arn:aws:rds-db:*:*:dbuser:*/x").splitn(6, ':');
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[5], Pattern::wildcard("dbuser:*/x"));
        assert_eq!(Pattern::wildcard("a:b").splitn(6, ':').len(), 2);
    }

    /// 60 stars against 10 000 characters: a backtracking matcher would not finish.
    #[test]
    fn hostile_pattern_finishes() {
        let pattern = format!("{}b", "a*".repeat(60));
        let text = "a".repeat(10_000);
        assert!(!Pattern::wildcard(&pattern).matches(&text));
        let text_with_b = format!("{text}b");
        assert!(Pattern::wildcard(&pattern).matches(&text_with_b));
    }

    fn element() -> impl Strategy<Value = Element> {
        prop_oneof![
            Just(Element::Star),
            Just(Element::One),
            prop::char::range('a', 'c').prop_map(Element::Literal),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_backtracking_oracle(
            pattern in prop::collection::vec(element(), 0..8),
            text in "[a-c]{0,10}",
        ) {
            let chars: Vec<char> = text.chars().collect();
            let compiled = Pattern { elements: pattern.clone() };
            prop_assert_eq!(compiled.matches(&text), oracle(&pattern, &chars));
        }

        #[test]
        fn literal_text_matches_itself(text in "\\PC{0,20}") {
            prop_assert!(Pattern::literal(&text).matches(&text));
            prop_assert!(Pattern::wildcard(&text.replace(['*', '?'], "")).matches(&text.replace(['*', '?'], "")));
        }
    }
}
