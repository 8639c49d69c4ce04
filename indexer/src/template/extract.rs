//! What part of a log line a template is built from (pure functions, no allocation unless text changes).
//!
//! - a multi-line event: its header line ([`header_line`]);
//! - a structured line: its message field — a JSON object's `msg` / `message` / `error` / `err` string, a
//!   logfmt line's `msg=` / `message=` value — so `{"level":"error","msg":"user 7 not found",…}` and
//!   `level=error msg="user 7 not found" …` template as `user <*> not found`, like the plain text line;
//! - a plain line: without a leading upper-case level word (`ERROR`, `[WARN]`, `INFO:`) and without logmind's
//!   identifier pairs (`request_id: X`, `user_id=X`, `trace_id …`), which are indexed as fields and whose
//!   presence must not split one message into two templates.

use std::borrow::Cow;

use super::mask::header_line;

/// JSON keys holding the message, by priority.
const JSON_MESSAGE_KEYS: [&str; 4] = ["msg", "message", "error", "err"];
/// logfmt keys holding the message, by priority.
const LOGFMT_MESSAGE_KEYS: [&str; 2] = ["msg", "message"];
/// Upper-case level words dropped from the start of a plain line.
const LEVEL_WORDS: [&str; 10] = [
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "ERR", "FATAL", "CRITICAL",
];
/// Identifier keys (logmind's default extraction keys) whose `key: value` / `key=value` pairs are dropped.
const ID_KEYS: [&str; 9] = [
    "request_id",
    "requestId",
    "req_id",
    "x_request_id",
    "user_id",
    "userId",
    "uid",
    "trace_id",
    "traceId",
];

/// The text a message's template is built from (see the module docs).
pub fn template_basis(message: &str) -> Cow<'_, str> {
    let line = header_line(message).trim();
    let structured = if line.starts_with('{') {
        json_message(line)
    } else if line.contains('=') {
        logfmt_message(line)
    } else {
        None
    };
    match structured {
        Some(Cow::Borrowed(m)) => plain_basis(header_line(m).trim()),
        Some(Cow::Owned(m)) => Cow::Owned(plain_basis(header_line(&m).trim()).into_owned()),
        None => plain_basis(line),
    }
}

/// Drops a leading level word and identifier pairs from a plain line.
fn plain_basis(line: &str) -> Cow<'_, str> {
    let line = strip_level(line);
    if !has_id_pair(line) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut words = line.split_ascii_whitespace().peekable();
    while let Some(w) = words.next() {
        match id_key_of(w) {
            // `key: value`: drop the value too.
            Some(true) if words.peek().is_some() => {
                words.next();
                continue;
            }
            // `key=value`.
            Some(false) => continue,
            _ => {}
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    Cow::Owned(out)
}

/// Whether some word of `line` is an identifier key followed by `:` or `=` (one pass over the bytes).
fn has_id_pair(line: &str) -> bool {
    let b = line.as_bytes();
    let mut word_start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_whitespace() {
            word_start = i + 1;
        } else if (c == b':' || c == b'=')
            && (3..=12).contains(&(i - word_start))
            && ID_KEYS.contains(&&line[word_start..i])
        {
            return true;
        }
    }
    false
}

/// For a word that starts an identifier pair: `Some(true)` for `key:` (value in the next word), `Some(false)`
/// for `key=value`.
fn id_key_of(word: &str) -> Option<bool> {
    let b = word.as_bytes();
    // Cheap filter: every identifier key is 3 to 12 bytes and the pair needs `:` or `=` right after it.
    let sep = b.iter().take(13).position(|&c| c == b':' || c == b'=')?;
    if sep < 3 || !ID_KEYS.contains(&&word[..sep]) {
        return None;
    }
    match b[sep] {
        b':' if sep + 1 == b.len() => Some(true),
        b'=' => Some(false),
        _ => None,
    }
}

fn strip_level(line: &str) -> &str {
    let Some(first) = line.split_ascii_whitespace().next() else {
        return line;
    };
    let word = first
        .strip_prefix('[')
        .and_then(|w| w.strip_suffix(']'))
        .or_else(|| first.strip_suffix(':'))
        .unwrap_or(first);
    if LEVEL_WORDS.contains(&word) {
        line[first.len()..].trim_start()
    } else {
        line
    }
}

/// The first message key's string value of a one-line JSON object (top-level keys are recognised by the
/// `{` or `,` before them).
fn json_message(line: &str) -> Option<Cow<'_, str>> {
    let b = line.as_bytes();
    for key in JSON_MESSAGE_KEYS {
        let mut from = 0;
        while let Some(pos) = line[from..].find(key).map(|p| p + from) {
            from = pos + key.len();
            let quoted = pos >= 1 && b[pos - 1] == b'"' && b.get(pos + key.len()) == Some(&b'"');
            if !quoted || !preceded_by(b, pos - 1, b"{,") {
                continue;
            }
            let mut j = skip_ws(b, pos + key.len() + 1);
            if b.get(j) != Some(&b':') {
                continue;
            }
            j = skip_ws(b, j + 1);
            if b.get(j) == Some(&b'"') {
                return string_value(line, j);
            }
        }
    }
    None
}

/// The first message key's value of a logfmt line (`key=value` or `key="quoted value"`).
fn logfmt_message(line: &str) -> Option<Cow<'_, str>> {
    let b = line.as_bytes();
    for key in LOGFMT_MESSAGE_KEYS {
        let mut from = 0;
        while let Some(pos) = line[from..].find(key).map(|p| p + from) {
            from = pos + key.len();
            let at_word_start = pos == 0 || b[pos - 1].is_ascii_whitespace();
            if !at_word_start || b.get(pos + key.len()) != Some(&b'=') {
                continue;
            }
            let v = pos + key.len() + 1;
            if b.get(v) == Some(&b'"') {
                return string_value(line, v);
            }
            let end = line[v..]
                .find(|c: char| c.is_ascii_whitespace())
                .map_or(line.len(), |e| v + e);
            return Some(Cow::Borrowed(&line[v..end]));
        }
    }
    None
}

fn preceded_by(b: &[u8], quote: usize, set: &[u8]) -> bool {
    let mut k = quote;
    while k > 0 {
        k -= 1;
        if !b[k].is_ascii_whitespace() {
            return set.contains(&b[k]);
        }
    }
    false
}

fn skip_ws(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    j
}

/// The string starting with the `"` at `open`, unescaped (`\"`, `\\`, `\/`, `\n`, `\t`, `\r`; others kept).
/// `None` when it does not close.
fn string_value(line: &str, open: usize) -> Option<Cow<'_, str>> {
    let b = line.as_bytes();
    let start = open + 1;
    let mut j = start;
    let mut escaped = false;
    while j < b.len() {
        match b[j] {
            b'\\' => {
                escaped = true;
                j += 2;
            }
            b'"' => break,
            _ => j += 1,
        }
    }
    if j >= b.len() {
        return None;
    }
    let raw = &line[start..j];
    if !escaped {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(e @ ('"' | '\\' | '/')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Some(Cow::Owned(out))
}
