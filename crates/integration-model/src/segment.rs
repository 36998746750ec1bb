//! The quoting shared by resource paths (`/`-separated) and tag filters (`=`-separated).
//!
//! A segment that contains the separator or a double quote is written the way SQL quotes
//! identifiers: inside double quotes, with `""` for each embedded `"`. Anything else is
//! written bare. Parsing accepts quotes on any segment.

use std::fmt;

/// Writes `segment`, double-quoted when it is empty or contains `sep` or `"`.
pub(crate) fn write_segment(f: &mut fmt::Formatter<'_>, segment: &str, sep: char) -> fmt::Result {
    if segment.is_empty() || segment.contains(sep) || segment.contains('"') {
        f.write_str("\"")?;
        f.write_str(&segment.replace('"', "\"\""))?;
        f.write_str("\"")
    } else {
        f.write_str(segment)
    }
}

/// Reads one segment from the start of `text`: returns it unquoted, and the text after the
/// separator (`None` when the segment ran to the end). Errors are reasons for a message.
pub(crate) fn read_segment(text: &str, sep: char) -> Result<(String, Option<&str>), String> {
    let Some(mut rest) = text.strip_prefix('"') else {
        let (segment, rest) = match text.split_once(sep) {
            Some((segment, rest)) => (segment, Some(rest)),
            None => (text, None),
        };
        if segment.contains('"') {
            return Err(format!(
                "has a '\"' inside the unquoted name {}; write such a name in double \
                 quotes with '\"\"' for each '\"'",
                crate::error::quote(segment)
            ));
        }
        return Ok((segment.to_owned(), rest));
    };
    let mut out = String::new();
    loop {
        let Some((before, after)) = rest.split_once('"') else {
            return Err("has an opening '\"' without a closing one".to_owned());
        };
        out.push_str(before);
        if let Some(after_doubled) = after.strip_prefix('"') {
            out.push('"');
            rest = after_doubled;
            continue;
        }
        if after.is_empty() {
            return Ok((out, None));
        }
        return match after.strip_prefix(sep) {
            Some(next) => Ok((out, Some(next))),
            None => Err(format!(
                "has text after the closing '\"' of {}; a quoted name ends at '{sep}' or at the end",
                crate::error::quote(&out)
            )),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seg<'a>(&'a str);
    impl fmt::Display for Seg<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_segment(f, self.0, '/')
        }
    }

    #[test]
    fn quoting_table() {
        let cases = [
            ("app", "app"),
            ("my/db", "\"my/db\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("", "\"\""),
            ("with space", "with space"),
        ];
        for (raw, written) in cases {
            assert_eq!(Seg(raw).to_string(), written);
            assert_eq!(read_segment(written, '/').unwrap(), (raw.to_owned(), None));
        }
    }

    #[test]
    fn reading_errors() {
        assert!(read_segment("\"open", '/').is_err());
        assert!(read_segment("\"a\"b/c", '/').is_err());
        assert!(read_segment("a\"b", '/').is_err());
        assert_eq!(
            read_segment("\"a/b\"/c", '/').unwrap(),
            ("a/b".to_owned(), Some("c"))
        );
    }
}
