//! JSON object bodies flattened into `key.sub = value` pairs, using the allocation-light scanner of
//! [`crate::decode::json`] (no DOM is built).

use std::borrow::Cow;

use super::{cut, Pair};
use crate::decode::json::{scan_string, skip_value, skip_ws, unescape_into, RawStr, MAX_DEPTH};

/// Flattens the JSON object `s` into `out` (at most `max_pairs` pairs, strings cut to about `max_bytes`).
/// Nested objects are flattened with `.`; arrays, numbers, booleans and `null` keep their JSON text. Returns
/// false (and leaves `out` as it was) when `s` is not exactly one JSON object.
pub fn flatten_json<'a>(
    s: &'a str,
    max_pairs: usize,
    max_bytes: usize,
    out: &mut Vec<Pair<'a>>,
) -> bool {
    let b = s.as_bytes();
    let start_len = out.len();
    let mut prefix = String::new();
    let mut cx = Cx {
        s,
        max_pairs: max_pairs + start_len,
        max_bytes,
        out,
    };
    let ok = match object(&mut cx, skip_ws(b, 0), 0, &mut prefix) {
        Some(end) => skip_ws(b, end) == b.len(),
        None => false,
    };
    if !ok {
        cx.out.truncate(start_len);
    }
    ok
}

/// What every level of the recursion shares.
struct Cx<'a, 'o> {
    s: &'a str,
    max_pairs: usize,
    max_bytes: usize,
    out: &'o mut Vec<Pair<'a>>,
}

/// The text of a JSON string ending at `end` (index after its closing quote): borrowed when it has no escapes.
fn text<'a>(s: &'a str, raw: RawStr<'_>, end: usize, max_bytes: usize) -> Cow<'a, str> {
    if !raw.escaped {
        // The quotes are ASCII, so these indices are character boundaries of `s`.
        let start = end - 1 - raw.raw.len();
        return Cow::Borrowed(cut(&s[start..end - 1], max_bytes));
    }
    let mut v = Vec::with_capacity(raw.raw.len().min(max_bytes));
    unescape_into(raw.raw, &mut v, max_bytes);
    Cow::Owned(match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Parses the object at `i` (`{`), pushing pairs; returns the index after it.
fn object<'a>(cx: &mut Cx<'a, '_>, i: usize, depth: usize, prefix: &mut String) -> Option<usize> {
    let s = cx.s;
    let b = s.as_bytes();
    if b.get(i) != Some(&b'{') || depth >= MAX_DEPTH {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Some(j + 1);
    }
    loop {
        let (key, e) = scan_string(b, j)?;
        // Keys are cut later (when stored), so an id key is still recognised under a small `max_bytes`.
        let key = text(s, key, e, cx.max_bytes.max(256));
        j = skip_ws(b, e);
        if b.get(j) != Some(&b':') {
            return None;
        }
        j = skip_ws(b, j + 1);
        let plen = prefix.len();
        let full_key = |prefix: &str| -> Cow<'a, str> {
            if prefix.is_empty() {
                key.clone()
            } else {
                Cow::Owned(format!("{prefix}.{key}"))
            }
        };
        let end = match *b.get(j)? {
            b'{' => {
                if plen > 0 {
                    prefix.push('.');
                }
                prefix.push_str(&key);
                let end = object(cx, j, depth + 1, prefix)?;
                prefix.truncate(plen);
                end
            }
            b'"' => {
                let (v, e) = scan_string(b, j)?;
                if cx.out.len() < cx.max_pairs {
                    cx.out.push((full_key(prefix), text(s, v, e, cx.max_bytes)));
                }
                e
            }
            _ => {
                let e = skip_value(b, j, depth + 1)?;
                if cx.out.len() < cx.max_pairs {
                    let n = cut(&s[j..e], cx.max_bytes);
                    cx.out.push((full_key(prefix), Cow::Borrowed(n)));
                }
                e
            }
        };
        j = skip_ws(b, end);
        match *b.get(j)? {
            b',' => j = skip_ws(b, j + 1),
            b'}' => return Some(j + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn flat(s: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        flatten_json(s, 100, 100, &mut out).then(|| {
            out.into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
    }

    #[test]
    fn flattens_nested_objects_and_keeps_other_values_as_json() {
        let got =
            flat(r#"{"a":"x\ny","b":{"c":1,"d":{"e":true}},"f":[1,{"g":2}],"h":null}"#).unwrap();
        let want: Vec<(String, String)> = [
            ("a", "x\ny"),
            ("b.c", "1"),
            ("b.d.e", "true"),
            ("f", r#"[1,{"g":2}]"#),
            ("h", "null"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rejects_non_objects_and_trailing_garbage() {
        assert_eq!(flat("{}"), Some(vec![]));
        assert_eq!(flat(r#"{"a":1} x"#), None);
        assert_eq!(flat(r#"{"a":}"#), None);
        assert_eq!(flat(r#"{"a" 1}"#), None);
        assert_eq!(flat("[1]"), None);
    }

    #[test]
    fn bounds_pairs_and_value_size() {
        let mut out = Vec::new();
        assert!(flatten_json(
            r#"{"a":"0123456789","b":2,"c":3}"#,
            2,
            4,
            &mut out
        ));
        assert_eq!(
            out,
            vec![("a".into(), "0123".into()), ("b".into(), "2".into())]
        );
    }
}
