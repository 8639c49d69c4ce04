//! A minimal, allocation-free JSON scanner for the two hot shapes the agent reads: Docker `json-file` lines and
//! JSON log bodies. It finds value spans in the input and unescapes strings into a caller's buffer; it never
//! builds a DOM. Every function is total: malformed input yields `None`, never a panic.

/// Maximum nesting the scanner follows before giving up (bounds the work on hostile input).
pub const MAX_DEPTH: usize = 32;

/// Index of the first non-whitespace byte at or after `i`.
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A JSON string found in the input: `raw` is the text between the quotes, still escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a> {
    /// Bytes between the quotes, escapes not yet resolved.
    pub raw: &'a [u8],
    /// True when `raw` contains at least one backslash escape.
    pub escaped: bool,
}

/// Scans the string starting at `b[i] == '"'`; returns it and the index just past the closing quote.
#[inline]
pub fn scan_string(b: &[u8], i: usize) -> Option<(RawStr<'_>, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    let mut escaped = false;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'"' {
            return Some((
                RawStr {
                    raw: &b[start..k],
                    escaped,
                },
                k + 1,
            ));
        }
        escaped = true;
        // Skip the backslash and the escaped byte (a `\uXXXX` tail holds no quote or backslash).
        j = k + 2;
    }
}

/// Skips one JSON value starting at `b[i]` (after whitespace); returns the index just past it.
pub fn skip_value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    let i = skip_ws(b, i);
    match *b.get(i)? {
        b'"' => scan_string(b, i).map(|(_, e)| e),
        open @ (b'{' | b'[') => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let close = if open == b'{' { b'}' } else { b']' };
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            loop {
                if open == b'{' {
                    let (_, e) = scan_string(b, j)?;
                    j = skip_ws(b, e);
                    if b.get(j) != Some(&b':') {
                        return None;
                    }
                    j += 1;
                }
                j = skip_ws(b, skip_value(b, j, depth + 1)?);
                match *b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    c if c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            // number, true, false, null: a run of literal characters
            let mut j = i;
            while j < b.len()
                && matches!(b[j], b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Outcome of [`unescape_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unescaped {
    /// Length of the whole unescaped string, including what did not fit under the limit.
    pub total: usize,
    /// Bytes actually appended to the output.
    pub appended: usize,
    /// Last byte of the unescaped string (`None` for the empty string).
    pub last: Option<u8>,
}

/// Appends the unescaped form of a raw JSON string to `out`, at most `limit` bytes (the rest is only counted).
/// Invalid escapes are copied through literally and lone surrogates become U+FFFD: this never fails.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>, limit: usize) -> Unescaped {
    let start = out.len();
    if raw.len() <= limit {
        // Unescaping never lengthens the text, so the limit cannot be reached: no per-run bookkeeping.
        out.reserve(raw.len());
        unescape_runs(raw, |b| out.extend_from_slice(b));
        let n = out.len() - start;
        return Unescaped {
            total: n,
            appended: n,
            last: out[start..].last().copied(),
        };
    }
    let mut res = Unescaped::default();
    unescape_runs(raw, |bytes| {
        if bytes.is_empty() {
            return;
        }
        let room = limit - res.appended;
        let n = bytes.len().min(room);
        out.extend_from_slice(&bytes[..n]);
        res.appended += n;
        res.total += bytes.len();
        res.last = bytes.last().copied();
    });
    res
}

/// Calls `emit` with the successive runs of unescaped bytes of `raw`.
#[inline(always)]
fn unescape_runs(raw: &[u8], mut emit: impl FnMut(&[u8])) {
    let mut i = 0;
    while i < raw.len() {
        let Some(k) = memchr::memchr(b'\\', &raw[i..]) else {
            emit(&raw[i..]);
            break;
        };
        emit(&raw[i..i + k]);
        i += k;
        let Some(&e) = raw.get(i + 1) else {
            emit(b"\\");
            break;
        };
        let simple = match e {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            _ => None,
        };
        if let Some(c) = simple {
            emit(&[c]);
            i += 2;
            continue;
        }
        if e == b'u' {
            if let Some(hi) = hex4(&raw[i + 2..]) {
                let mut consumed = 6;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    let lo = (raw.get(i + 6..i + 8) == Some(b"\\u"))
                        .then(|| hex4(&raw[i + 8..]))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            consumed = 12;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                emit(ch.encode_utf8(&mut buf).as_bytes());
                i += consumed;
                continue;
            }
        }
        // Unknown or broken escape: keep it as written.
        emit(&raw[i..i + 2]);
        i += 2;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unesc(s: &str) -> String {
        let mut out = Vec::new();
        unescape_into(s.as_bytes(), &mut out, usize::MAX);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn unescapes_common_and_unicode_escapes() {
        assert_eq!(unesc(r#"a\nb\t\"c\"\\"#), "a\nb\t\"c\"\\");
        assert_eq!(unesc(r"caf\u00e9 \ud83d\ude00"), "café 😀");
        assert_eq!(unesc(r"lone \ud83d x"), "lone \u{fffd} x");
        assert_eq!(unesc(r"bad \q and \u12"), r"bad \q and \u12");
    }

    #[test]
    fn unescape_respects_limit_and_counts_total() {
        let mut out = Vec::new();
        let r = unescape_into(br"abcdef\n", &mut out, 3);
        assert_eq!(out, b"abc");
        assert_eq!(r.total, 7);
        assert_eq!(r.appended, 3);
        assert_eq!(r.last, Some(b'\n'));
    }

    proptest::proptest! {
        #[test]
        fn limited_unescape_is_a_prefix_of_the_full_one(
            raw in r#"([a-z"é]|\\[nt"\\/u]|\\u[0-9a-fA-F]{4}|\\ud83d\\ude00){0,40}"#,
            limit in 0usize..60,
        ) {
            let mut full = Vec::new();
            let f = unescape_into(raw.as_bytes(), &mut full, usize::MAX);
            let mut part = Vec::new();
            let p = unescape_into(raw.as_bytes(), &mut part, limit);
            proptest::prop_assert_eq!(f.total, full.len());
            proptest::prop_assert_eq!(p.total, f.total);
            proptest::prop_assert_eq!(p.last, f.last);
            proptest::prop_assert_eq!(&part[..], &full[..limit.min(full.len())]);
        }
    }

    #[test]
    fn skips_nested_values() {
        let b = br#"{"a":[1,{"b":"x\"}"}],"c":null} tail"#;
        assert_eq!(skip_value(b, 0, 0), Some(b.len() - 5));
        assert_eq!(skip_value(b"{\"a\":", 0, 0), None);
        assert_eq!(skip_value(b"[[[[", 0, 0), None);
    }
}
