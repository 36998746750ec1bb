//! JSON pointers (RFC 6901) into a policy document.

use std::borrow::Cow;

/// A JSON pointer for messages: the root pointer `""` reads as "the document".
pub(super) fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".to_owned()
    } else {
        format!("`{pointer}`")
    }
}

/// Escapes one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn pointer_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_token_escapes() {
        assert_eq!(
            pointer_token("aws:PrincipalTag/a~b"),
            "aws:PrincipalTag~1a~0b"
        );
        assert_eq!(pointer_token("plain"), "plain");
    }
}
