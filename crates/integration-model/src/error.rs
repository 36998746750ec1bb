//! The crate's one error type.

use std::error::Error as StdError;

/// Everything that can be wrong with a value, a settings file or an access request.
///
/// Display always starts with the key path of the culprit (for example `instance.id`,
/// `integration[1].name`, or a label such as `instance id` when a lone value was parsed),
/// then the offending value as written, then what is wrong and how to fix it:
///
/// ```text
/// instance.id: "9orders" must start with a letter (RDS identifiers: 1-63 letters, digits, hyphens)
/// auth: "password" needs [secret] (...)
/// integration[1].name: duplicate "orders-prod"
/// instance.tgas: unknown key; expected one of: id, tags, tag_keys
/// ```
///
/// A syntax error (no key) names the format and position; what the parser found there is its
/// [`source`](std::error::Error::source) (smithy-rs RFC 0022: a message never repeats its
/// source, so print the chain):
///
/// ```
/// use integration_model::{ModelError, Settings};
/// let err = Settings::from_json_str("{\"name\": }").unwrap_err();
/// assert_eq!(err.to_string(), "JSON syntax error at line 1, column 10");
/// let cause = std::error::Error::source(&err).map(ToString::to_string);
/// assert_eq!(cause.as_deref(), Some("expected value at line 1 column 10"));
/// assert!(matches!(err, ModelError::Syntax { ref message, .. } if message == "expected value"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A value breaks the rule of its type (length, characters, range, ...).
    #[error("{key}: {value} {reason}")]
    InvalidValue {
        /// Key path (`instance.id`) or, for a lone value, what it is (`instance id`).
        key: String,
        /// The value as written: strings in double quotes, numbers bare.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A key holds the wrong kind of value (a number where text is expected, ...).
    #[error("{key}: expected {expected}, found {found}")]
    WrongType {
        /// Key path.
        key: String,
        /// The kind the key needs.
        expected: &'static str,
        /// The kind (and value) found.
        found: String,
    },
    /// A key the format does not know. Typos are errors, never ignored.
    #[error("{key}: unknown key; expected one of: {expected}")]
    UnknownKey {
        /// Full path of the unknown key.
        key: String,
        /// The keys accepted at that place, comma separated.
        expected: String,
    },
    /// A required key or value is absent.
    #[error("{key}: missing; {hint}")]
    MissingKey {
        /// Key path of what is missing.
        key: String,
        /// What to write there.
        hint: String,
    },
    /// Values that are each valid but not together (cross-field rules).
    #[error("{key}: {message}")]
    Conflict {
        /// Key path the rule is attached to.
        key: String,
        /// The rule that is broken and how to fix it.
        message: String,
    },
    /// A name that must be unique appears twice.
    #[error("{key}: duplicate {value}")]
    Duplicate {
        /// Key path of the second occurrence.
        key: String,
        /// The repeated value, quoted.
        value: String,
    },
    /// The text is not valid TOML or JSON. The message names the format and the position; the
    /// parser's own error (what is wrong there) is the [`source`](std::error::Error::source),
    /// and `message` holds its text on one line for callers that print only this error.
    #[error("{format} syntax error at line {line}, column {column}")]
    Syntax {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// 1-based column of the error (0 when unknown).
        column: usize,
        /// The parser's message on one line, without position (with the text at the
        /// position when the parser does not name it, e.g. `duplicate key (at "a")`).
        message: String,
        /// The parser's own error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
}

impl ModelError {
    /// The key path (or label) the error is about; `None` for syntax errors.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::InvalidValue { key, .. }
            | Self::WrongType { key, .. }
            | Self::UnknownKey { key, .. }
            | Self::MissingKey { key, .. }
            | Self::Conflict { key, .. }
            | Self::Duplicate { key, .. } => Some(key),
            Self::Syntax { .. } => None,
        }
    }

    /// An [`ModelError::InvalidValue`] for a text value (quoted in the message).
    pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            key: key.to_owned(),
            value: quote(value),
            reason: reason.into(),
        }
    }

    /// An [`ModelError::InvalidValue`] for a value rendered bare (numbers).
    pub(crate) fn invalid_bare(key: &str, value: impl ToString, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn conflict(key: &str, message: impl Into<String>) -> Self {
        Self::Conflict {
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn missing(key: &str, hint: impl Into<String>) -> Self {
        Self::MissingKey {
            key: key.to_owned(),
            hint: hint.into(),
        }
    }

    pub(crate) fn duplicate(key: &str, value: &str) -> Self {
        Self::Duplicate {
            key: key.to_owned(),
            value: quote(value),
        }
    }

    /// Replaces the key (a label for lone values, such as `interval`) with where the value was
    /// read: a key path (`instance.id`) or a command-line flag (`--sweep-every`). Syntax errors,
    /// which have no key, are returned unchanged.
    ///
    /// ```
    /// use integration_model::InstanceId;
    /// let err = "9orders".parse::<InstanceId>().unwrap_err().at("--instance");
    /// assert_eq!(err.key(), Some("--instance"));
    /// ```
    #[must_use]
    pub fn at(mut self, path: &str) -> Self {
        if let Some(key) = self.key_mut() {
            path.clone_into(key);
        }
        self
    }

    /// Prefixes the key path, e.g. with `integration[1]`.
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        if let Some(key) = self.key_mut() {
            *key = if key.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
        }
        self
    }

    fn key_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::InvalidValue { key, .. }
            | Self::WrongType { key, .. }
            | Self::UnknownKey { key, .. }
            | Self::MissingKey { key, .. }
            | Self::Conflict { key, .. }
            | Self::Duplicate { key, .. } => Some(key),
            Self::Syntax { .. } => None,
        }
    }
}

/// The most characters of a value a message quotes in full; a longer value is shown by its
/// first and last characters and its length, so that a huge setting or argument cannot make a
/// huge message.
pub(crate) const MAX_QUOTED_CHARS: usize = 128;

/// A string as it appears in messages: double-quoted with Rust escapes for control characters;
/// longer than [`MAX_QUOTED_CHARS`] characters, its start and end with its length
/// (`"aaaa…"…"…aaaa" (1048576 bytes)`).
pub(crate) fn quote(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_QUOTED_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(96).collect();
    let tail: String = value.chars().skip(count - 16).collect();
    format!("{head:?}…{tail:?} ({} bytes)", value.len())
}

/// Characters that are invisible or reorder text (zero-width, bidi controls, BOM): they make
/// a value print differently from what it is, so free-text fields refuse them.
pub(crate) fn is_invisible_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// An error and its causes in one line, `error: cause: cause` (each message folded onto one
/// line), as the CLI, the documents, logs and audit records show errors. The workspace's errors
/// follow smithy-rs RFC 0022 (a message never repeats its source's text), so the chain reads
/// without repetition. The one helper for this in the workspace (the facade re-exports it).
///
/// ```
/// let io = std::io::Error::other("disk full");
/// assert_eq!(integration_model::error_chain(&io), "disk full");
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = one_line(&error.to_string());
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&one_line(&cause.to_string()));
        source = cause.source();
    }
    message
}

/// Folds a multi-line message (e.g. a TOML error with a source excerpt) into one line.
///
/// ```
/// assert_eq!(integration_model::one_line("a\n  b\n\n"), "a b");
/// ```
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: StdError + Send + Sync + 'static>() {}
        check::<ModelError>();
    }

    #[test]
    fn rekeying() {
        let err = ModelError::invalid("instance id", "9x", "must start with a letter");
        assert_eq!(err.key(), Some("instance id"));
        let err = err.at("instance.id").under("integration[2]");
        assert_eq!(
            err.to_string(),
            "integration[2].instance.id: \"9x\" must start with a letter"
        );
    }
}
