//! Variable masking: a hand-written single-pass scanner that replaces variable parts of a log message with
//! `<*>` before clustering.
//!
//! Generic rules only (no per-format knowledge):
//! - quoted strings (`"…"`, `'…'`) → `"<*>"` / `'<*>'`, except a double-quoted string followed by `:` (a JSON
//!   key), which is kept;
//! - emails, UUIDs and colon-separated hex runs (IPv6, MAC addresses) → `<*>`;
//! - every other *segment* (a run between delimiters such as whitespace, `/ \\ : = , ( ) [ ] { } ; @ | < > #`) is
//!   split into parts at `.`, `_` and `-`; from the first part that holds a digit (numbers, hex ids, IPv4,
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
        } else if is_delim(c) {
            out.push(c as char);
            i += 1;
        } else if let Some(end) = special_end(b, i, prev_alnum) {
            out.push_str(WILDCARD);
            i = end;
        } else {
            let end = segment_end(b, i);
            push_segment(&message[i..end], out);
            i = end;
        }
    }
}

/// The first line of a multi-line message (stack traces cluster on their header line).
pub fn first_line(message: &str) -> &str {
    let line = message.split('\n').next().unwrap_or(message);
    line.strip_suffix('\r').unwrap_or(line)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn is_delim(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'/' | b':'
                | b'='
                | b','
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b';'
                | b'@'
                | b'|'
                | b'<'
                | b'>'
                | b'"'
                | b'\''
                | b'#'
                | b'&'
                | b'?'
                | b'`'
                | b'\\'
        )
}

fn segment_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() && !is_delim(b[j]) {
        j += 1;
    }
    j
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
            let closes = j > start + 1 && (q == b'"' || b.get(j + 1).is_none_or(|&d| closes_quote(d)));
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

/// Variables that span delimiters and are recognised whole: emails, UUIDs, colon-hex runs (IPv6, MAC).
fn special_end(b: &[u8], start: usize, prev_alnum: bool) -> Option<usize> {
    if prev_alnum {
        return None;
    }
    email_end(b, start).or_else(|| colon_hex_end(b, start))
}

fn email_end(b: &[u8], start: usize) -> Option<usize> {
    let mut j = start;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'_' | b'%' | b'+' | b'-')) {
        j += 1;
    }
    if j == start || b.get(j) != Some(&b'@') {
        return None;
    }
    let dom_start = j + 1;
    let mut k = dom_start;
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'.' || b[k] == b'-') {
        k += 1;
    }
    // Trailing dots belong to the sentence, not the domain.
    while k > dom_start && b[k - 1] == b'.' {
        k -= 1;
    }
    let dot = (dom_start + 1..k.saturating_sub(1)).rev().find(|&d| b[d] == b'.')?;
    let tld = &b[dot + 1..k];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(k)
}

/// Colon-separated hex (IPv6 such as `fe80::1`, MACs such as `00:1a:2b:3c:4d:5e`), ending at a non-word byte.
/// Also matches UUIDs (8-4-4-4-12 hex).
fn colon_hex_end(b: &[u8], start: usize) -> Option<usize> {
    let mut j = start;
    let (mut colons, mut dashes, mut digits) = (0, 0, 0);
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'-' || b[j] == b'.') {
        match b[j] {
            b':' => colons += 1,
            b'-' => dashes += 1,
            c if c.is_ascii_digit() => digits += 1,
            _ => {}
        }
        j += 1;
    }
    // Trailing separators belong to the text around the value.
    while j > start && matches!(b[j - 1], b':' | b'-' | b'.') {
        if b[j - 1] == b':' {
            colons -= 1;
        }
        if b[j - 1] == b'-' {
            dashes -= 1;
        }
        j -= 1;
    }
    if b.get(j).is_some_and(|&c| is_word_byte(c)) {
        return None;
    }
    let run = &b[start..j];
    if is_uuid(run) {
        return Some(j);
    }
    (colons >= 2 && dashes == 0 && digits > 0 && run.len() >= 5).then_some(j)
}

fn is_uuid(run: &[u8]) -> bool {
    run.len() == 36
        && run.iter().enumerate().all(|(k, &c)| {
            if matches!(k, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Copies `seg` (no delimiters inside) to `out`, masking from its first variable part on.
fn push_segment(seg: &str, out: &mut String) {
    let b = seg.as_bytes();
    let mut part_start = 0;
    // End of the constant prefix to keep: the last non-empty constant part and one separator after it.
    let mut keep = 0;
    for j in 0..=b.len() {
        let at_sep = j == b.len() || matches!(b[j], b'.' | b'_' | b'-');
        if !at_sep {
            continue;
        }
        if is_variable_part(&b[part_start..j]) {
            out.push_str(&seg[..keep]);
            out.push_str(WILDCARD);
            return;
        }
        if j > part_start {
            keep = (j + 1).min(b.len());
        }
        part_start = j + 1;
    }
    out.push_str(seg);
}

fn is_variable_part(part: &[u8]) -> bool {
    part.iter().any(u8::is_ascii_digit) || (part.len() >= 8 && part.iter().all(u8::is_ascii_hexdigit))
}
