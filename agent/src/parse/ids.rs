//! Identifiers in free text: `request_id: X`, `request_id=X`, `"request_id": "X"` (and every configured key
//! alias), in one pass over the text: a SIMD `memchr` for `:`/`=` and a short look back for the key; no regex.

use std::borrow::Cow;

use super::{cut, ExtractOptions, Found};

/// Which identifier a key names: the configured key lists behind a cheap length / first-byte pre-filter, so the
/// common case (a key that is no id) costs two bit tests instead of a dozen string compares.
#[derive(Debug)]
pub struct IdKeys<'o> {
    lists: [&'o [String]; 3],
    lens: u64,
    firsts: u128,
    /// The last bytes of the keys (non-ASCII ones as bit 127).
    lasts: u128,
}

/// Index of the request id in [`IdKeys::kind`]'s answer.
pub const REQUEST: usize = 0;
/// Index of the user id.
pub const USER: usize = 1;
/// Index of the trace id.
pub const TRACE: usize = 2;

impl<'o> IdKeys<'o> {
    /// The filter for `opts`' key lists.
    pub fn new(opts: &'o ExtractOptions) -> Self {
        let lists = [
            &opts.request_id_keys[..],
            &opts.user_id_keys[..],
            &opts.trace_id_keys[..],
        ];
        let (mut lens, mut firsts, mut lasts) = (0u64, 0u128, 0u128);
        for k in lists.iter().flat_map(|l| l.iter()) {
            lens |= 1 << k.len().min(63);
            firsts |= 1 << k.as_bytes().first().map_or(0, |&c| c.min(127));
            lasts |= 1 << k.as_bytes().last().map_or(0, |&c| c.min(127));
        }
        IdKeys {
            lists,
            lens,
            firsts,
            lasts,
        }
    }

    /// [`REQUEST`], [`USER`] or [`TRACE`] when `key` is one of the configured id keys.
    #[inline]
    pub fn kind(&self, key: &str) -> Option<usize> {
        let first = key.as_bytes().first().map_or(0, |&c| c.min(127));
        if self.lens & (1 << key.len().min(63)) == 0 || self.firsts & (1 << first) == 0 {
            return None;
        }
        self.lists.iter().position(|l| l.iter().any(|k| k == key))
    }
}

/// Fills the still-empty ids of `out` from `key: value` forms in `message` (first occurrence in the text wins).
pub fn scan_free_text<'a>(
    message: &'a str,
    keys: &IdKeys<'_>,
    max_bytes: usize,
    out: &mut Found<'a>,
) {
    // Kinds still empty: a key of a filled kind is passed over before its value is read.
    let missing = std::cell::Cell::new(out.missing_ids());
    for_each_keyed_ending(
        message,
        keys.lasts,
        |key| {
            keys.kind(key)
                .is_some_and(|k| missing.get() & (1 << k) != 0)
        },
        |key, value| {
            let kind = keys.kind(key);
            let slot = match kind {
                Some(REQUEST) => &mut out.request_id,
                Some(USER) => &mut out.user_id,
                Some(_) => &mut out.trace_id,
                None => return false,
            };
            if slot.is_empty() {
                let v = if kind == Some(TRACE) {
                    trace_id_value(value)
                } else {
                    value
                };
                *slot = Cow::Borrowed(cut(v, max_bytes));
            }
            missing.set(out.missing_ids());
            !out.request_id.is_empty() && !out.user_id.is_empty() && !out.trace_id.is_empty()
        },
    );
}

/// Longest value read after a key (bytes); ids are far shorter, and the bound keeps the scan linear.
const MAX_VALUE_SCAN: usize = 1024;

/// Calls `f(key, value)` for every `key: value`, `key=value` or `"key": "value"` in `message` whose key passes
/// `wanted`, in text order, until `f` returns true. One pass: `memchr` finds the separators, the key is read
/// backwards from each, and only a wanted key's value is read.
pub fn for_each_keyed<'a>(
    message: &'a str,
    wanted: impl Fn(&str) -> bool,
    f: impl FnMut(&'a str, &'a str) -> bool,
) {
    for_each_keyed_ending(message, u128::MAX, wanted, f);
}

/// [`for_each_keyed`] for keys whose last byte is in `lasts` (bit `c` for an ASCII byte `c`, bit 127 for any
/// other): a separator after any other byte is passed over before its key is read — most of them in logfmt and
/// JSON lines, where every key has one.
pub fn for_each_keyed_ending<'a>(
    message: &'a str,
    lasts: u128,
    wanted: impl Fn(&str) -> bool,
    mut f: impl FnMut(&'a str, &'a str) -> bool,
) {
    let b = message.as_bytes();
    let mut from = 0;
    while let Some(k) = memchr::memchr2(b':', b'=', &b[from..]) {
        let sep = from + k;
        from = sep + 1;
        let mut e = sep;
        while e > 0 && b[e - 1] == b' ' {
            e -= 1;
        }
        if e > 0 && b[e - 1] == b'"' {
            e -= 1;
        }
        if e == 0 || lasts & (1 << b[e - 1].min(127)) == 0 {
            continue;
        }
        let mut s = e;
        while s > 0 && is_word_byte(b[s - 1]) {
            s -= 1;
        }
        if s == e || !wanted(&message[s..e]) {
            continue;
        }
        let mut i = sep + 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            i += 1;
        }
        let v0 = i;
        let stop = b.len().min(v0 + MAX_VALUE_SCAN);
        while i < stop && !is_value_end(b[i]) {
            i += 1;
        }
        while !message.is_char_boundary(i) {
            i -= 1;
        }
        let v = message[v0..i].trim_end_matches(['.', ':']);
        if !v.is_empty() && f(&message[s..e], v) {
            return;
        }
    }
}

/// The value of the first `key: value` form whose key is `key`.
pub fn find_value<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for_each_keyed(
        message,
        |k| k == key,
        |_, v| {
            found = Some(v);
            true
        },
    );
    found
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
