//! The `logfmt` stage: the tokenizer for `key=value key="quoted value" flag` lines, and the stage with its
//! `--strict` and `--keep-empty` flags.

use super::{sanitize_label, set_error};
use crate::logql::eval::Entry;

/// Splits a logfmt line into pairs; `Err` names the byte position of a malformed pair.
pub fn logfmt_pairs(line: &str) -> Result<Vec<(String, Option<String>)>, usize> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != b'"' {
            i += 1;
        }
        if i == ks {
            return Err(i);
        }
        let key = line[ks..i].to_string();
        if i >= b.len() || b[i] != b'=' {
            if i < b.len() && b[i] == b'"' {
                return Err(i);
            }
            out.push((key, None));
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        // The escaped char may be multi-byte: take it whole to stay on a char boundary.
                        let c = line[i + 1..].chars().next().unwrap_or('\\');
                        v.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            _ => c,
                        });
                        i += 1 + c.len_utf8();
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => {
                        let ch_end = line[i..].chars().next().map_or(1, char::len_utf8);
                        v.push_str(&line[i..i + ch_end]);
                        i += ch_end;
                    }
                }
            }
            if !closed {
                return Err(ks);
            }
            out.push((key, Some(v)));
        } else {
            let vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push((key, Some(line[vs..i].to_string())));
        }
    }
    Ok(out)
}

/// `| logfmt [--strict] [--keep-empty] [label="key", …]`.
pub fn logfmt(e: &mut Entry, strict: bool, keep_empty: bool, params: &[(String, String)]) {
    let pairs = match logfmt_pairs(&e.line) {
        Ok(p) => p,
        Err(pos) if strict => {
            return set_error(
                e,
                "LogfmtParserErr",
                format!("logfmt syntax error at pos {pos}"),
            );
        }
        Err(_) => {
            // Non-strict: take what parses cleanly, pair by pair.
            let mut ok = Vec::new();
            for word in e.line.split_whitespace() {
                if let Ok(mut p) = logfmt_pairs(word) {
                    ok.append(&mut p);
                }
            }
            ok
        }
    };
    for (k, v) in pairs {
        let value = match v {
            Some(v) => v,
            None if keep_empty => String::new(),
            None => continue,
        };
        if params.is_empty() {
            e.set_parsed(sanitize_label(&k), value);
        } else if let Some((label, _)) = params.iter().find(|(_, key)| *key == k) {
            e.set_parsed(label.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::eval::parsers::tests::entry;
    use crate::logql::eval::parsers::ERROR_LABEL;

    #[test]
    fn logfmt_pairs_and_flags() {
        let mut e = entry(r#"level=warn msg="disk \"sda\" full" dur=12ms flag"#);
        logfmt(&mut e, false, true, &[]);
        assert_eq!(
            e.parsed.get("msg").map(String::as_str),
            Some("disk \"sda\" full")
        );
        assert_eq!(e.parsed.get("flag").map(String::as_str), Some(""));
        let mut strict = entry(r#"a=1 b="unterminated"#);
        logfmt(&mut strict, true, false, &[]);
        assert_eq!(
            strict.parsed.get(ERROR_LABEL).map(String::as_str),
            Some("LogfmtParserErr")
        );
    }

    #[test]
    fn logfmt_escape_before_a_multibyte_char() {
        // Found by proptest: the byte after a backslash was taken alone, splitting `¡`.
        let mut e = entry("a=\"x\\¡y\" b=2");
        logfmt(&mut e, false, false, &[]);
        assert_eq!(e.get("a"), Some("x¡y"));
        assert_eq!(e.get("b"), Some("2"));
        let mut e = entry("\0=\"\\¡");
        logfmt(&mut e, true, true, &[]);
    }
}
