//! Generators of hostile input: text with the characters parsers trip on (NUL, controls, bidi
//! and zero-width characters, astral planes, wildcards, variables, numbers past every integer
//! type), very long text, and value trees rendered as JSON or TOML with deep nesting, wrong
//! types, unknown and duplicate keys.

use proptest::prelude::*;
use proptest::sample::select;

/// Texts that have broken parsers somewhere.
const SPECIAL: &[&str] = &[
    "",
    "\0",
    "a\0b",
    "\u{202E}",
    "\u{FEFF}",
    "\u{200B}",
    "é",
    "𝔘𝔫𝔦",
    "İ",
    "ß",
    "\u{10FFFF}",
    "\r\n",
    "\n",
    "\t",
    "..",
    "/",
    "//",
    "/a/",
    "\"",
    "\"\"",
    "\\",
    "'",
    "''",
    "${",
    "${}",
    "${*}",
    "${?}",
    "${$}",
    "${aws:username}",
    "${SAML:sub}",
    "${x, 'd'}",
    "${x, ''}",
    "**",
    "*",
    "?",
    "*?*",
    "-",
    "--",
    "NaN",
    "inf",
    "-0",
    "1e999",
    "-1e999",
    "0x10",
    "+5432",
    "05432",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "true",
    "null",
    "[]",
    "{}",
    "pg_",
    "public",
    "PUBLIC",
    "postgres",
    "rds_superuser",
    "arn:",
    "arn:aws",
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/alice",
    "arn:aws:rds:us-east-1:123456789012:db:orders",
    "arn:aws-cn:rds::1:cluster:x",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds/orders-AbCdEf",
    "us-east-1",
    "cn-north-1",
    "us-gov-west-1",
    "1m",
    "59s",
    "365d",
    "366d",
    "1h30m",
    "30m1h",
    "0s",
    "1d1d",
    "99999999999999999999d",
    "1",
    "0",
    "-1",
    "65535",
    "65536",
    "::1",
    "[::1]:5432",
    "127.0.0.1",
    "http://127.0.0.1:5055",
    "https://",
    "orders-db",
    "orders-db/appdb/sales/orders",
    "\"a/b\"/c",
    "a\"b",
    "%00",
    "%2F",
];

/// Hostile text: mostly short, very long in one case in about 250 (a document has dozens of
/// texts; `long_text` and the damage that inserts it reach the long sizes more often).
pub(crate) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        60 => "\\PC{0,24}",
        30 => ".{0,24}",
        20 => "[\\x00-\\x1f\\x7f]{1,6}",
        60 => select(SPECIAL).prop_map(str::to_owned),
        30 => "[a-z0-9_*?/\"\\\\:${}.' -]{1,24}",
        20 => "-?[0-9]{1,40}(\\.[0-9]{1,10})?(e-?[0-9]{1,4})?",
        20 => (select(SPECIAL), select(SPECIAL), "\\PC{0,8}")
            .prop_map(|(a, b, c)| format!("{a}{c}{b}")),
        1 => long_text(),
    ]
    .boxed()
}

/// A run of one character (or short piece): 64 bytes to 1 MiB.
pub(crate) fn long_text() -> BoxedStrategy<String> {
    (
        select(vec![
            "a", "é", "*", "\0", "/", "\"", "😀", "a*", "${v}", "ab?", "\\",
        ]),
        prop_oneof![8 => 64usize..=1024, 3 => 1024usize..=65_536, 1 => Just(1usize << 20)],
    )
        .prop_map(|(piece, bytes)| piece.repeat((bytes / piece.len()).max(1)))
        .boxed()
}

/// A value tree that renders as JSON or TOML.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    /// A number literal as written (may not fit any integer type).
    Num(String),
    Str(String),
    Arr(Vec<Val>),
    Table(Vec<(String, Val)>),
    /// A TOML date-time (JSON: a string).
    Datetime(String),
    /// Text pasted into the document as is (a syntax error most of the time).
    Raw(String),
    /// `depth` nested arrays around an integer (past every recursion limit).
    Deep(usize),
}

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        select(vec![
            "0",
            "-0",
            "1",
            "-1",
            "5432",
            "65535",
            "65536",
            "366",
            "3650",
            "3651",
            "1e3",
            "1.5",
            "-1.5e-3",
            "1e999",
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "0.0000000000000000000001",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

fn leaf(keys: &'static [&'static str]) -> BoxedStrategy<Val> {
    prop_oneof![
        1 => Just(Val::Null),
        1 => any::<bool>().prop_map(Val::Bool),
        2 => number().prop_map(Val::Num),
        6 => select(keys).prop_map(|s| Val::Str(s.to_owned())),
        6 => text().prop_map(Val::Str),
        1 => Just(Val::Datetime("1979-05-27T07:32:00Z".to_owned())),
        1 => "[\\[\\]{}=,:\"'#\\n.]{1,6}".prop_map(Val::Raw),
        1 => prop_oneof![1usize..=64, 100usize..=200, 2000usize..=5000].prop_map(Val::Deep),
    ]
    .boxed()
}

/// A key: one the format knows (from `keys`), or hostile text.
pub(crate) fn key(keys: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![8 => select(keys).prop_map(str::to_owned), 2 => text()].boxed()
}

/// A tree of tables and arrays over `keys` (as keys and as string values).
pub(crate) fn tree(keys: &'static [&'static str]) -> BoxedStrategy<Val> {
    leaf(keys)
        .prop_recursive(5, 64, 10, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Val::Arr),
                prop::collection::vec((key(keys), inner), 0..10).prop_map(Val::Table),
            ]
        })
        .boxed()
}

/// A top-level table over `keys`.
pub(crate) fn document(keys: &'static [&'static str]) -> BoxedStrategy<Val> {
    prop::collection::vec((key(keys), tree(keys)), 0..14)
        .prop_map(Val::Table)
        .boxed()
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// JSON text of `val` (duplicate keys and out-of-range numbers are written as they are).
pub(crate) fn json(val: &Val) -> String {
    let mut out = String::new();
    write_json(&mut out, val);
    out
}

fn write_json(out: &mut String, val: &Val) {
    match val {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => out.push_str(n),
        Val::Str(s) | Val::Datetime(s) => json_string(out, s),
        Val::Raw(raw) => out.push_str(raw),
        Val::Deep(depth) => {
            out.push_str(&"[".repeat(*depth));
            out.push('1');
            out.push_str(&"]".repeat(*depth));
        }
        Val::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Val::Table(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
    }
}

fn toml_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn toml_key(out: &mut String, k: &str) {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        out.push_str(k);
    } else {
        toml_string(out, k);
    }
}

/// TOML text of a top-level table: scalars and inline values as `key = value`, then tables as
/// `[key]` sections and arrays of tables as `[[key]]` entries (nested ones inline).
pub(crate) fn toml(val: &Val) -> String {
    let mut out = String::new();
    let Val::Table(entries) = val else {
        write_toml_inline(&mut out, val);
        return out;
    };
    let mut sections = Vec::new();
    for (k, v) in entries {
        match v {
            Val::Table(_) => sections.push((k, v, false)),
            Val::Arr(items)
                if !items.is_empty() && items.iter().all(|i| matches!(i, Val::Table(_))) =>
            {
                sections.push((k, v, true));
            }
            _ => {
                toml_key(&mut out, k);
                out.push_str(" = ");
                write_toml_inline(&mut out, v);
                out.push('\n');
            }
        }
    }
    for (k, v, many) in sections {
        let tables: Vec<&Val> = match v {
            Val::Arr(items) if many => items.iter().collect(),
            other => vec![other],
        };
        for table in tables {
            out.push_str(if many { "[[" } else { "[" });
            toml_key(&mut out, k);
            out.push_str(if many { "]]\n" } else { "]\n" });
            if let Val::Table(inner) = table {
                for (ik, iv) in inner {
                    toml_key(&mut out, ik);
                    out.push_str(" = ");
                    write_toml_inline(&mut out, iv);
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn write_toml_inline(out: &mut String, val: &Val) {
    match val {
        // TOML has no null: an empty inline table stands in.
        Val::Null => out.push_str("{}"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => out.push_str(n),
        Val::Str(s) => toml_string(out, s),
        Val::Datetime(d) => out.push_str(d),
        Val::Raw(raw) => out.push_str(raw),
        Val::Deep(depth) => {
            out.push_str(&"[".repeat(*depth));
            out.push('1');
            out.push_str(&"]".repeat(*depth));
        }
        Val::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_toml_inline(out, item);
            }
            out.push(']');
        }
        Val::Table(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_key(out, k);
                out.push_str(" = ");
                write_toml_inline(out, v);
            }
            out.push('}');
        }
    }
}

/// Byte-level damage to a valid text: cut it, insert, delete or replace a few characters.
#[derive(Debug, Clone)]
pub(crate) enum Damage {
    Cut(prop::sample::Index),
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, prop::sample::Index),
}

pub(crate) fn damage() -> BoxedStrategy<Damage> {
    prop_oneof![
        4 => any::<prop::sample::Index>().prop_map(Damage::Cut),
        4 => (any::<prop::sample::Index>(), text()).prop_map(|(i, t)| Damage::Insert(i, t)),
        1 => (any::<prop::sample::Index>(), long_text()).prop_map(|(i, t)| Damage::Insert(i, t)),
        4 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Damage::Delete(i, n)),
        2 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Damage::Duplicate(a, b)),
    ]
    .boxed()
}

fn boundary(text: &str, index: &prop::sample::Index) -> usize {
    text.floor_char_boundary(index.index(text.len() + 1))
}

/// `text` with `damages` applied in turn.
pub(crate) fn damaged(text: &str, damages: &[Damage]) -> String {
    let mut text = text.to_owned();
    for d in damages {
        match d {
            Damage::Cut(i) => {
                let at = boundary(&text, i);
                text.truncate(at);
            }
            Damage::Insert(i, piece) => {
                let at = boundary(&text, i);
                text.insert_str(at, piece);
            }
            Damage::Delete(i, n) => {
                let at = boundary(&text, i);
                let end = text.ceil_char_boundary((at + n).min(text.len()));
                text.replace_range(at..end, "");
            }
            Damage::Duplicate(a, b) => {
                let (x, y) = (boundary(&text, a), boundary(&text, b));
                let (from, to) = (x.min(y), x.max(y));
                let piece = text[from..to].to_owned();
                text.insert_str(to, &piece);
            }
        }
    }
    text
}
