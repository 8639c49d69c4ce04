//! Identifiers in free text: `request_id: X`, `request_id=X`, `"request_id": "X"` (and every configured key
//! alias). A substring search for the key (SIMD `memmem`) runs before anything else, so lines without the key
//! cost one fast scan per key; no regex is involved.

use memchr::memmem;

use super::{cut, ExtractOptions, Extracted};

/// Fills the still-empty ids of `out` from `key: value` forms in `message`.
pub fn scan_free_text(message: &str, opts: &ExtractOptions, out: &mut Extracted) {
    for (keys, slot, is_trace) in [
        (&opts.request_id_keys, &mut out.request_id, false),
        (&opts.user_id_keys, &mut out.user_id, false),
        (&opts.trace_id_keys, &mut out.trace_id, true),
    ] {
        if !slot.is_empty() {
            continue;
        }
        for key in keys.iter() {
            if let Some(v) = find_value(message, key) {
                let v = if is_trace { trace_id_value(v) } else { v };
                *slot = cut(v, opts.max_field_bytes).to_string();
                break;
            }
        }
    }
}

/// The value after the first occurrence of `key` used as a key (`key: v`, `key=v`, `"key": "v"`).
pub fn find_value<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    let b = message.as_bytes();
    if key.is_empty() {
        return None;
    }
    for at in memmem::find_iter(b, key.as_bytes()) {
        if at > 0 && is_word_byte(b[at - 1]) {
            continue;
        }
        let mut i = at + key.len();
        if b.get(i) == Some(&b'"') {
            i += 1;
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if !matches!(b.get(i), Some(b':' | b'=')) {
            continue;
        }
        i += 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            i += 1;
        }
        let v0 = i;
        while i < b.len() && !is_value_end(b[i]) {
            i += 1;
        }
        let mut v = &message[v0..i];
        v = v.trim_end_matches(['.', ':']);
        if !v.is_empty() {
            return Some(v);
        }
    }
    None
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_value_end(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\'' | b',' | b';' | b'}' | b']' | b')' | b'&' | b'<' | b'>'
        )
}

/// The trace id of a W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`); any other value unchanged.
pub fn trace_id_value(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() == 55
        && b[2] == b'-'
        && b[35] == b'-'
        && b[52] == b'-'
        && b[3..35].iter().all(u8::is_ascii_hexdigit)
    {
        return &v[3..35];
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_three_free_text_forms() {
        assert_eq!(
            find_value("handled request_id: abc-123 in 5ms", "request_id"),
            Some("abc-123")
        );
        assert_eq!(
            find_value("done request_id=r1, user=x", "request_id"),
            Some("r1")
        );
        assert_eq!(
            find_value(r#"payload {"request_id": "r-9", "x": 1}"#, "request_id"),
            Some("r-9")
        );
        assert_eq!(
            find_value("failed for request_id: r77.", "request_id"),
            Some("r77")
        );
    }

    #[test]
    fn key_must_stand_alone_and_have_a_value() {
        assert_eq!(find_value("pod_uid=abc uuid=def", "uid"), None);
        assert_eq!(find_value("pod_uid=abc uid=u1", "uid"), Some("u1"));
        assert_eq!(find_value("the request_id is unknown", "request_id"), None);
        assert_eq!(find_value("request_id= ", "request_id"), None);
    }

    #[test]
    fn traceparent_reduces_to_trace_id() {
        assert_eq!(
            trace_id_value("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(trace_id_value("abc"), "abc");
    }
}
