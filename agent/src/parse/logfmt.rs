//! logfmt bodies: `k=v k2="quoted \"v\""`, tolerant of free text around the pairs (a leading timestamp, a bare
//! message word). At least two pairs make a line logfmt.

use std::borrow::Cow;

use super::Pair;

/// Parses the `key=value` pairs of `s` into `out` (at most `max_pairs`). Returns false (and leaves `out` as it
/// was) when fewer than two pairs are found.
pub fn parse_logfmt<'a>(s: &'a str, max_pairs: usize, out: &mut Vec<Pair<'a>>) -> bool {
    let b = s.as_bytes();
    // Every pair owns one `=` byte, so fewer than two of them cannot make two pairs: no need to parse.
    if memchr::memchr_iter(b'=', b).nth(1).is_none() {
        return false;
    }
    let start_len = out.len();
    let mut found = 0usize;
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        if i > k0 && b.get(i) == Some(&b'=') {
            let key = &s[k0..i];
            i += 1;
            let value = if b.get(i) == Some(&b'"') {
                let (v, end) = quoted(s, i + 1);
                i = end;
                v
            } else {
                let v0 = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                Cow::Borrowed(&s[v0..i])
            };
            found += 1;
            if out.len() - start_len < max_pairs {
                out.push((Cow::Borrowed(key), value));
            }
        } else {
            // Not a pair: skip the rest of this word.
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
        }
    }
    if found < 2 {
        out.truncate(start_len);
        return false;
    }
    true
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@' | b'/')
}

/// The unescaped quoted value starting after the opening quote at `i`, and the index after the closing quote
/// (the end of the input when it is unterminated).
fn quoted(s: &str, i: usize) -> (Cow<'_, str>, usize) {
    let b = s.as_bytes();
    // Common case: no escape before the closing quote, so the value borrows the input.
    if let Some(k) = memchr::memchr2(b'"', b'\\', &b[i..]) {
        if b[i + k] == b'"' {
            return (Cow::Borrowed(&s[i..i + k]), i + k + 1);
        }
    } else {
        return (Cow::Borrowed(&s[i..]), b.len());
    }
    let mut v = String::new();
    let mut j = i;
    let mut run = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                v.push_str(&s[run..j]);
                return (Cow::Owned(v), j + 1);
            }
            b'\\' if j + 1 < b.len() => {
                v.push_str(&s[run..j]);
                match b[j + 1] {
                    b'n' => v.push('\n'),
                    b't' => v.push('\t'),
                    b'"' => v.push('"'),
                    b'\\' => v.push('\\'),
                    _ => {
                        // Unknown escape: keep the backslash, the next character is copied by the run.
                        v.push('\\');
                        j += 1;
                        run = j;
                        continue;
                    }
                }
                j += 2;
                run = j;
            }
            _ => j += 1,
        }
    }
    v.push_str(&s[run..]);
    (Cow::Owned(v), b.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lf(s: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        parse_logfmt(s, 100, &mut out).then(|| {
            out.into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_quoted_and_bare_values() {
        assert_eq!(
            lf(r#"level=info msg="hello \"world\"" dur=1.5ms empty= x.y=z"#),
            Some(pairs(&[
                ("level", "info"),
                ("msg", "hello \"world\""),
                ("dur", "1.5ms"),
                ("empty", ""),
                ("x.y", "z")
            ]))
        );
    }

    #[test]
    fn tolerates_free_text_around_pairs() {
        assert_eq!(
            lf("2024-12-04T10:00:00Z GET done status=200 path=/api"),
            Some(pairs(&[("status", "200"), ("path", "/api")]))
        );
        assert_eq!(lf(r#"a="unterminated b=2"#), None);
        assert_eq!(
            lf(r#"a="unterminated b=2" c=3"#),
            Some(pairs(&[("a", "unterminated b=2"), ("c", "3")]))
        );
    }

    #[test]
    fn one_pair_or_none_is_not_logfmt() {
        assert_eq!(lf("just text"), None);
        assert_eq!(lf("x=1 and words"), None);
        assert_eq!(
            lf("[QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - x"),
            None
        );
    }
}
