//! The LogQL parser stages: `json`, `logfmt`, `pattern`, `regexp`, `unpack`, `decolorize`.
//!
//! This module holds what the stages share (the `__error__` labels, label-name sanitizing) and `decolorize`;
//! `json` holds `json`, its path expressions and `unpack`, `logfmt` the logfmt tokenizer and stage, and
//! `pattern` the compiled `pattern` expressions.

mod json;
mod logfmt;
mod pattern;

pub use json::{json, parse_json_path, unpack, PathStep};
pub use logfmt::{logfmt, logfmt_pairs};
pub use pattern::Pattern;

use super::Entry;

/// The `__error__` label name.
pub const ERROR_LABEL: &str = "__error__";
/// The `__error_details__` label name.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Makes a string a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`), as Loki does.
pub fn sanitize_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn set_error(e: &mut Entry, kind: &str, details: String) {
    e.parsed.insert(ERROR_LABEL.to_string(), kind.to_string());
    e.parsed.insert(ERROR_DETAILS_LABEL.to_string(), details);
}

/// Strips ANSI colour escape sequences.
pub fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An entry with stream label `app="x"` and the given line.
    pub(super) fn entry(line: &str) -> Entry {
        Entry {
            ts: 0,
            line: line.into(),
            stream: [("app".to_string(), "x".to_string())].into(),
            metadata: Default::default(),
            parsed: Default::default(),
            formatted: 0,
        }
    }

    #[test]
    fn decolorize_strips_ansi() {
        assert_eq!(decolorize("\u{1b}[31mred\u{1b}[0m text"), "red text");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(line in ".{0,100}", pat in ".{0,20}") {
            let mut e = entry(&line);
            json(&mut e, &[]);
            logfmt(&mut e, true, true, &[]);
            logfmt(&mut e, false, false, &[]);
            unpack(&mut e);
            let _ = decolorize(&line);
            if let Ok(p) = Pattern::compile(&pat) {
                let _ = p.matches(&line);
            }
            let _ = parse_json_path(&pat);
        }
    }
}
