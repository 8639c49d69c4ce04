//! Variable masking: a hand-written single-pass scanner that replaces variable parts of a log message with
//! `<*>` before clustering.
//!
//! Generic rules only (no per-format knowledge):
//! - quoted strings (`"…"`, `'…'`) → `"<*>"` / `'<*>'`, except a double-quoted string followed by `:` (a JSON
//!   key), which is kept;
//! - emails and colon-separated hex runs (IPv6, MAC addresses, clock times) → `<*>`;
//! - every other *segment* (a run between delimiters such as whitespace, `/ \\ : = , ( ) [ ] { } ; @ | < > #`) is
//!   split into parts at `.`, `_` and `-`; from the first part that holds a digit (numbers, hex ids, UUIDs, IPv4,
//!   durations like `250ms`, ids inside paths like `/users/123`) or is a long hex string (`deadbeef`), the rest of
//!   the segment becomes `<*>`. The alphabetic prefix stays: `blk_-42` → `blk_<*>`, `job_17_3` → `job_<*>`.
//!
//! Runs of whitespace are collapsed to one space and the result is trimmed. Masking is idempotent: `<*>` is kept
//! as is.

/// The wildcard written in place of a variable.
pub const WILDCARD: &str = "<*>";

/// Masks variable tokens of `message` (see the module docs).
pub fn mask(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    mask_into(message, &mut out);
    out
}

/// Masks `message` into `out` (cleared first); lets hot paths reuse one buffer.
pub fn mask_into(message: &str, out: &mut String) {
    out.clear();
    let b = message.as_bytes();
    let n = b.len();
    let mut i = 0;
    let mut pending_space = false;
    while i < n {
        let c = b[i];
        if c.is_ascii_whitespace() {
            pending_space = !out.is_empty();
            i += 1;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if !is_delim(c) {
            let (end, var_from) = scan_segment(b, i);
            if let Some(special) = special_end(b, i, end) {
                out.push_str(WILDCARD);
                i = special;
                continue;
            }
            match var_from {
                None => out.push_str(&message[i..end]),
                Some(keep) => {
                    out.push_str(&message[i..keep]);
                    out.push_str(WILDCARD);
                    if end - i > 1 && b[end - 1] == b'.' {
                        // A sentence's full stop is not part of the value.
                        out.push('.');
                    }
                }
            }
            i = end;
            continue;
        }
        // Decided on the output so that masking the output again makes the same decisions (idempotence).
        let prev_alnum = out.as_bytes().last().is_some_and(|&p| is_word_byte(p));
        if c == b'<' && b.get(i + 1) == Some(&b'*') && b.get(i + 2) == Some(&b'>') {
            out.push_str(WILDCARD);
            i += 3;
        } else if (c == b'"' || c == b'\'') && !prev_alnum {
            match quoted_end(b, i) {
                Some(end) => {
                    let json_key = c == b'"'
                        && b.get(end) == Some(&b':')
                        && !b[i..end].iter().any(u8::is_ascii_whitespace);
                    if json_key {
                        out.push_str(&message[i..end]);
                    } else {
                        out.push(c as char);
                        out.push_str(WILDCARD);
                        out.push(c as char);
                    }
                    i = end;
                }
                None => {
                    out.push(c as char);
                    i += 1;
                }
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
}

/// The first line of a multi-line message (stack traces cluster on their header line).
pub fn first_line(message: &str) -> &str {
    let line = message.split('\n').next().unwrap_or(message);
    line.strip_suffix('\r').unwrap_or(line)
}

/// The line a multi-line message is grouped by: its first line (a JVM exception header, a Go `panic:` line),
/// except for a Python traceback, whose exception line (`ValueError: …`) is its last line.
pub fn header_line(message: &str) -> &str {
    let first = first_line(message);
    if first.trim_end() != "Traceback (most recent call last):" {
        return first;
    }
    message
        .lines()
        .rev()
        .map(str::trim_end)
        .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .unwrap_or(first)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Byte classes for the scanner: one table load per byte.
const DELIM: u8 = 1;
const SEP: u8 = 2;
const DIGIT: u8 = 4;
const HEX: u8 = 8;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    // Bytes that end a segment and are copied as they are.
    let delims = b" \t\n\r\x0c/:=,()[]{};@|<>\"'#&?`\\";
    let mut k = 0;
    while k < delims.len() {
        t[delims[k] as usize] = DELIM;
        k += 1;
    }
    // Bytes that split a segment into parts.
    t[b'.' as usize] = SEP;
    t[b'_' as usize] = SEP;
    t[b'-' as usize] = SEP;
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT | HEX;
        c += 1;
    }
    let mut c = b'a';
    while c <= b'f' {
        t[c as usize] = HEX;
        t[(c - 32) as usize] = HEX;
        c += 1;
    }
    t
};

fn is_delim(c: u8) -> bool {
    CLASS[c as usize] & DELIM != 0
}

/// End (exclusive) of the quoted string opening at `start`, if it closes and is not empty. `"` closes at the
/// next unescaped `"`; `'` only when the next `'` is followed by whitespace, the end or closing punctuation, so
/// apostrophes inside words do not count (`'x'.` is not a quote either). (These rules make masking the output again decide the same.)
fn quoted_end(b: &[u8], start: usize) -> Option<usize> {
    let q = b[start];
    let mut j = start + 1;
    while j < b.len() {
        let c = b[j];
        if c == b'\\' && q == b'"' {
            j += 2;
            continue;
        }
        if q == b'\'' && c == b'"' {
            // A double quote inside a single-quoted span: ambiguous nesting, not a quoted string.
            return None;
        }
        if c == q {
            let closes =
                j > start + 1 && (q == b'"' || b.get(j + 1).is_none_or(|&d| closes_quote(d)));
            return closes.then_some(j + 1);
        }
        j += 1;
    }
    None
}

fn closes_quote(c: u8) -> bool {
    // Only bytes the scanner copies unchanged (so the decision is the same on the masked output).
    c.is_ascii_whitespace() || matches!(c, b',' | b';' | b':' | b')' | b']' | b'}' | b'?')
}

/// Variables that span delimiters and are recognised whole: emails (a segment followed by `@`) and colon-hex
/// runs such as IPv6 `fe80::1`, MACs and clock times (a short hex segment followed by `:`). `end` is the end of
/// the segment starting at `start`.
fn special_end(b: &[u8], start: usize, end: usize) -> Option<usize> {
    match b.get(end) {
        Some(b'@') => email_end(b, start, end),
        Some(b':') if end - start <= 4 && b[start..end].iter().all(u8::is_ascii_hexdigit) => {
            colon_hex_end(b, start)
        }
        _ => None,
    }
}

/// Longest domain considered (RFC 1035).
const MAX_DOMAIN: usize = 253;

fn email_end(b: &[u8], start: usize, at: usize) -> Option<usize> {
    let local_ok = b[start..at]
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-'));
    if !local_ok {
        return None;
    }
    let dom_start = at + 1;
    let limit = b.len().min(dom_start + MAX_DOMAIN);
    let mut k = dom_start;
    while k < limit && (b[k].is_ascii_alphanumeric() || b[k] == b'.' || b[k] == b'-') {
        k += 1;
    }
    // Trailing dots belong to the sentence, not the domain.
    while k > dom_start && b[k - 1] == b'.' {
        k -= 1;
    }
    let dot = (dom_start + 1..k.saturating_sub(1))
        .rev()
        .find(|&d| b[d] == b'.')?;
    let tld = &b[dot + 1..k];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(k)
}

/// Longest colon-hex run considered (an IPv6 address with an IPv4 tail is at most 45 bytes).
const MAX_COLON_HEX: usize = 64;

/// A colon-separated hex run (at least two colons and a digit) that ends before a non-word byte.
fn colon_hex_end(b: &[u8], start: usize) -> Option<usize> {
    let limit = b.len().min(start + MAX_COLON_HEX);
    let mut j = start;
    let (mut colons, mut digits) = (0, 0);
    while j < limit && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'.') {
        match b[j] {
            b':' => colons += 1,
            c if c.is_ascii_digit() => digits += 1,
            _ => {}
        }
        j += 1;
    }
    if j == limit && limit < b.len() {
        return None;
    }
    // Trailing separators belong to the text around the value.
    while j > start && matches!(b[j - 1], b':' | b'.') {
        if b[j - 1] == b':' {
            colons -= 1;
        }
        j -= 1;
    }
    if b.get(j).is_some_and(|&c| is_word_byte(c) || c == b'-') {
        return None;
    }
    (colons >= 2 && digits > 0).then_some(j)
}

/// Scans the segment starting at `start` (up to the next delimiter). Returns its end and, when it holds a
/// variable, where the `<*>` starts: at the first part (between `.`, `_`, `-`) holding a digit or being a hex
/// string of 8 or more, after the last constant part and one separator (`blk_-42` → `blk_` + `<*>`).
fn scan_segment(b: &[u8], start: usize) -> (usize, Option<usize>) {
    let (mut part_start, mut keep) = (start, start);
    // Class bits of the current part: any byte a digit; every byte hex.
    let (mut any, mut all) = (0u8, HEX);
    let mut j = start;
    while j < b.len() {
        let class = CLASS[b[j] as usize];
        if class & DELIM != 0 {
            break;
        }
        if class & SEP != 0 {
            if any & DIGIT != 0 || (all & HEX != 0 && j - part_start >= 8) {
                return (segment_end(b, j), Some(keep));
            }
            if j > part_start {
                keep = j + 1;
            }
            part_start = j + 1;
            any = 0;
            all = HEX;
        } else {
            any |= class;
            all &= class;
        }
        j += 1;
    }
    if any & DIGIT != 0 || (all & HEX != 0 && j - part_start >= 8) {
        return (j, Some(keep.min(j)));
    }
    (j, None)
}

fn segment_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() && !is_delim(b[j]) {
        j += 1;
    }
    j
}
