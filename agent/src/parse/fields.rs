//! JSON object bodies flattened into `key.sub = value` pairs, using the allocation-light scanner of
//! [`crate::decode::json`] (no DOM is built).

use crate::decode::json::{scan_string, skip_value, skip_ws, unescape_into, RawStr, MAX_DEPTH};

/// Flattens the JSON object `s` into `out` (at most `max_pairs` pairs, strings cut to about `max_bytes`).
/// Nested objects are flattened with `.`; arrays, numbers, booleans and `null` keep their JSON text. Returns
/// false (and leaves `out` as it was) when `s` is not exactly one JSON object.
pub fn flatten_json(
    s: &str,
    max_pairs: usize,
    max_bytes: usize,
    out: &mut Vec<(String, String)>,
) -> bool {
    let b = s.as_bytes();
    let start_len = out.len();
    let mut prefix = String::new();
    let ok = match object(
        b,
        skip_ws(b, 0),
        0,
        &mut prefix,
        max_pairs + start_len,
        max_bytes,
        out,
    ) {
        Some(end) => skip_ws(b, end) == b.len(),
        None => false,
    };
    if !ok {
        out.truncate(start_len);
    }
    ok
}

fn text(raw: RawStr<'_>, max_bytes: usize) -> String {
    if !raw.escaped {
        return super::cut(&String::from_utf8_lossy(raw.raw), max_bytes).to_string();
    }
    let mut v = Vec::with_capacity(raw.raw.len().min(max_bytes));
    unescape_into(raw.raw, &mut v, max_bytes);
    match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Parses the object at `b[i] == '{'`, pushing pairs; returns the index after it.
fn object(
    b: &[u8],
    i: usize,
    depth: usize,
    prefix: &mut String,
    max_pairs: usize,
    max_bytes: usize,
    out: &mut Vec<(String, String)>,
) -> Option<usize> {
    if b.get(i) != Some(&b'{') || depth >= MAX_DEPTH {
        return None;
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Some(j + 1);
    }
    loop {
        let (key, e) = scan_string(b, j)?;
        j = skip_ws(b, e);
        if b.get(j) != Some(&b':') {
            return None;
        }
        j = skip_ws(b, j + 1);
        let plen = prefix.len();
        if plen > 0 {
            prefix.push('.');
        }
        // Keys are cut later (when stored), so an id key is still recognised under a small `max_bytes`.
        prefix.push_str(&text(key, max_bytes.max(256)));
        let end = match *b.get(j)? {
            b'{' => object(b, j, depth + 1, prefix, max_pairs, max_bytes, out)?,
            b'"' => {
                let (v, e) = scan_string(b, j)?;
                if out.len() < max_pairs {
                    out.push((prefix.clone(), text(v, max_bytes)));
                }
                e
            }
            _ => {
                let e = skip_value(b, j, depth + 1)?;
                if out.len() < max_pairs {
                    let n = (e - j).min(max_bytes);
                    out.push((
                        prefix.clone(),
                        String::from_utf8_lossy(&b[j..j + n]).into_owned(),
                    ));
                }
                e
            }
        };
        prefix.truncate(plen);
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
        flatten_json(s, 100, 100, &mut out).then_some(out)
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
