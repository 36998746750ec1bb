//! Policy variable syntax (`${aws:username}`), shared by the linter and the evaluator.
//!
//! AWS rules ([IAM policy elements: variables and tags](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)):
//!
//! * `${key}` is replaced by the request's value of the condition key `key`
//!   (only in `Resource`/`NotResource` ARNs and in condition values, and only under
//!   `"Version": "2012-10-17"`);
//! * `${key, 'default'}` uses `default` when the key is absent;
//! * `${*}`, `${?}` and `${$}` stand for a literal `*`, `?` and `$` (so that they do not act as
//!   wildcards after substitution).
//!
//! Tokenizing rules chosen here (AWS does not document the corner cases):
//!
//! * the variable ends at the first `}`; an unterminated `${` is literal text;
//! * `${}` (empty name), a name containing `$`, `{` or whitespace, or a default that is not
//!   wrapped in single quotes make the whole `${…}` literal text;
//! * whitespace around the comma before a default is allowed (AWS documents `, ` exactly).

/// One piece of a string that may contain policy variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarToken<'a> {
    /// Literal text, copied as is.
    Text(&'a str),
    /// `${*}`, `${?}` or `${$}`: the literal character.
    Escape(char),
    /// `${name}` or `${name, 'default'}`.
    Variable {
        /// The condition key, e.g. `aws:username` or `aws:PrincipalTag/team`.
        name: &'a str,
        /// The default value (without quotes), when given.
        default: Option<&'a str>,
    },
}

/// Splits `s` into literal text, escapes and variables, in order. Adjacent literal pieces may
/// come as separate `Text` tokens; concatenating all `Text` tokens and the escape characters
/// and `${…}` spans gives back `s` exactly.
pub(crate) fn tokenize(s: &str) -> Vec<VarToken<'_>> {
    let mut tokens = Vec::new();
    let mut text_start = 0;
    let mut pos = 0;
    while let Some(found) = s.get(pos..).and_then(|rest| rest.find("${")) {
        let start = pos + found;
        let body_start = start + 2;
        let Some(body_len) = s.get(body_start..).and_then(|rest| rest.find('}')) else {
            break; // unterminated: the rest is literal text
        };
        let body_end = body_start + body_len;
        let body = s.get(body_start..body_end).unwrap_or_default();
        match parse_body(body) {
            Some(token) => {
                if text_start < start
                    && let Some(text) = s.get(text_start..start)
                {
                    tokens.push(VarToken::Text(text));
                }
                tokens.push(token);
                pos = body_end + 1;
                text_start = pos;
            }
            // Not a variable: keep the `$` as text and look for a later `${`.
            None => pos = start + 1,
        }
    }
    if let Some(text) = s.get(text_start..)
        && !text.is_empty()
    {
        tokens.push(VarToken::Text(text));
    }
    tokens
}

fn parse_body(body: &str) -> Option<VarToken<'_>> {
    match body {
        "*" => return Some(VarToken::Escape('*')),
        "?" => return Some(VarToken::Escape('?')),
        "$" => return Some(VarToken::Escape('$')),
        _ => {}
    }
    let (name, default) = match body.split_once(',') {
        None => (body, None),
        Some((name, rest)) => {
            let rest = rest.trim();
            let quoted = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\''))?;
            (name.trim_end(), Some(quoted))
        }
    };
    let valid_name = !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '$' || c == '{' || c.is_whitespace());
    valid_name.then_some(VarToken::Variable { name, default })
}

/// True when `s` contains a variable or an escape (anything AWS would substitute).
pub(crate) fn has_substitutions(s: &str) -> bool {
    tokenize(s).iter().any(|t| !matches!(t, VarToken::Text(_)))
}

/// The variables of `s` (names with their defaults), in order.
pub(crate) fn variables(s: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    tokenize(s).into_iter().filter_map(|t| match t {
        VarToken::Variable { name, default } => Some((name, default)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::VarToken::{Escape, Text, Variable};
    use super::*;

    #[test]
    fn tokenize_table() {
        // (input, tokens, source of the rule)
        let cases: &[(&str, &[VarToken<'_>], &str)] = &[
            ("", &[], "empty"),
            ("plain", &[Text("plain")], "no variable"),
            (
                "arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}",
                &[
                    Text("arn:aws:rds-db:*:*:dbuser:*/"),
                    Variable {
                        name: "SAML:sub",
                        default: None,
                    },
                ],
                "setup guide end-user policy",
            ),
            (
                "home/${aws:username}/*",
                &[
                    Text("home/"),
                    Variable {
                        name: "aws:username",
                        default: None,
                    },
                    Text("/*"),
                ],
                "AWS docs: policy variables",
            ),
            (
                "${aws:PrincipalTag/team, 'company-wide'}",
                &[Variable {
                    name: "aws:PrincipalTag/team",
                    default: Some("company-wide"),
                }],
                "AWS docs: default values",
            ),
            (
                "${aws:username,'x'}",
                &[Variable {
                    name: "aws:username",
                    default: Some("x"),
                }],
                "lenient spacing",
            ),
            (
                "${aws:username, ''}",
                &[Variable {
                    name: "aws:username",
                    default: Some(""),
                }],
                "empty default",
            ),
            (
                "a${*}b${?}c${$}",
                &[
                    Text("a"),
                    Escape('*'),
                    Text("b"),
                    Escape('?'),
                    Text("c"),
                    Escape('$'),
                ],
                "AWS docs: special characters",
            ),
            ("${aws:username", &[Text("${aws:username")], "unterminated"),
            ("x${}y", &[Text("x${}y")], "empty name"),
            ("${a, b}", &[Text("${a, b}")], "unquoted default"),
            ("${a b}", &[Text("${a b}")], "whitespace in name"),
            (
                "${a${b}",
                &[
                    Text("${a"),
                    Variable {
                        name: "b",
                        default: None,
                    },
                ],
                "innermost wins",
            ),
            ("$}{", &[Text("$}{")], "no `${`"),
            (
                "é${x}ü",
                &[
                    Text("é"),
                    Variable {
                        name: "x",
                        default: None,
                    },
                    Text("ü"),
                ],
                "utf-8",
            ),
        ];
        for (input, expected, source) in cases {
            assert_eq!(&tokenize(input), expected, "{input:?} ({source})");
        }
    }

    #[test]
    fn substitutions_and_variables() {
        assert!(has_substitutions("a${*}"));
        assert!(has_substitutions("${saml:sub}"));
        assert!(!has_substitutions("${unterminated"));
        assert!(!has_substitutions("arn:aws:rds:*:*:db:*"));
        let vars: Vec<_> = variables("${a}/${b, 'd'}/${*}").collect();
        assert_eq!(vars, [("a", None), ("b", Some("d"))]);
    }

    /// Reassembling the tokens gives back the input (the tokenizer never drops characters).
    #[test]
    fn tokens_reassemble() {
        for input in ["x${a}y", "${a, 'b'}", "${*}${", "${}${a b}$", "$${a}}"] {
            let mut out = String::new();
            let mut rest = input;
            for token in tokenize(input) {
                let piece = match token {
                    Text(t) => t.to_owned(),
                    Escape(c) => format!("${{{c}}}"),
                    Variable { .. } => {
                        let end = rest.find('}').unwrap() + 1;
                        let start = rest.find("${").unwrap();
                        rest[start..end].to_owned()
                    }
                };
                let at = rest.find(&piece).unwrap();
                rest = &rest[at + piece.len()..];
                out.push_str(&piece);
            }
            assert_eq!(out, input);
        }
    }
}
