//! The level of a plain-text line, from the markers people and libraries write.
//!
//! In order: multi-line shapes (a Python traceback is `error`, a Go panic `fatal`); klog headers
//! (`E1204 10:00:00.000000 …`); Python logging (`ERROR:root:…`); a level word among the first tokens, after a
//! timestamp, pid or date (`WARN`, `[error]`, `<warn>`, `level=warn`, `error:`), which covers HDFS, Hadoop,
//! Zookeeper, Apache and most application formats; a `level=`/`"level":` key anywhere; an upper-case `FATAL`,
//! `ERROR`, `WARN` word (or `[error]`) anywhere; finally `Exception in thread` is `error`.
//!
//! Mapping: the words [`Level::parse`] knows, with `notice` → `info` (Apache), `crit`/`critical`/`alert`/
//! `emerg`/`panic` → `fatal`, `severe` → `error`. A bare word only counts in upper case (`INFO`, not `info`)
//! unless it is bracketed (`[notice]`, `<info>`), followed by a colon (`error:`) or the first word after a leading
//! timestamp (`2024-12-04 10:00:00 info …`).

use logmind_protocol::Level;
use std::sync::LazyLock;

use memchr::memmem;

/// How many leading whitespace-separated tokens may hold the level.
const HEADER_TOKENS: usize = 8;

/// Detects the level of a plain-text message, `None` when no marker is found.
pub fn detect(message: &str) -> Option<Level> {
    let b = message.as_bytes();
    if b.starts_with(b"Traceback (most recent call last):") {
        return Some(Level::Error);
    }
    if b.starts_with(b"panic: ") || b.starts_with(b"fatal error: ") {
        return Some(Level::Fatal);
    }
    if let Some(l) = klog(b) {
        return Some(l);
    }
    if let Some(l) = python_logging(message) {
        return Some(l);
    }
    if let Some(l) = header_tokens(message) {
        return Some(l);
    }
    let mut keyed = None;
    // Only a separator after `l` or `y` can follow one of these keys.
    const LAST_BYTES: u128 = 1 << b'l' | 1 << b'y';
    super::ids::for_each_keyed_ending(
        message,
        LAST_BYTES,
        |k| matches!(k, "level" | "lvl" | "severity"),
        |_, v| {
            keyed = word_level(v);
            keyed.is_some()
        },
    );
    if keyed.is_some() {
        return keyed;
    }
    if let Some(l) = anywhere(b) {
        return Some(l);
    }
    static EXCEPTION: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"Exception in thread "));
    if EXCEPTION.find(b).is_some() {
        return Some(Level::Error);
    }
    None
}

/// `Lmmdd hh:mm:ss.uuuuuu …` with L in I, W, E, F.
fn klog(b: &[u8]) -> Option<Level> {
    if b.len() < 15 || b[5] != b' ' || b[8] != b':' || b[11] != b':' {
        return None;
    }
    if !b[1..5].iter().all(u8::is_ascii_digit) || !b[6..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match b[0] {
        b'I' => Some(Level::Info),
        b'W' => Some(Level::Warn),
        b'E' => Some(Level::Error),
        b'F' => Some(Level::Fatal),
        _ => None,
    }
}

/// `LEVEL:logger:message`, Python logging's default format.
fn python_logging(s: &str) -> Option<Level> {
    // The level is at most 8 bytes: only the first 9 can hold the colon (no scan of the whole message).
    let k = s.bytes().take(9).position(|c| c == b':')?;
    let (head, rest) = (&s[..k], &s[k + 1..]);
    if rest.is_empty() || !head.bytes().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    matches!(head, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL")
        .then(|| Level::parse(head))
        .flatten()
}

/// A level word (at least three letters, see the module docs) or `None`.
fn word_level(w: &str) -> Option<Level> {
    if w.len() < 3 || !w.bytes().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Level::parse(w)
}

/// A level word among the first [`HEADER_TOKENS`] tokens.
fn header_tokens(s: &str) -> Option<Level> {
    // True while every token so far is part of a timestamp: then any-case level word counts (`… 10:00:00 info x`).
    let mut after_time = false;
    let mut only_time = true;
    for tok in s.split_ascii_whitespace().take(HEADER_TOKENS) {
        // Tokens are short: a byte loop beats `split_once`'s searcher set-up.
        if let Some(eq) = tok.bytes().position(|c| c == b'=') {
            let (k, v) = (&tok[..eq], &tok[eq + 1..]);
            if matches!(k, "level" | "lvl" | "severity") {
                return word_level(v.trim_matches('"'));
            }
            only_time = false;
            continue;
        }
        if only_time && is_time_token(tok) {
            after_time = true;
            continue;
        }
        let inner = tok.trim_start_matches(['[', '<', '(']);
        let opened = inner.len() < tok.len();
        let word = inner.trim_end_matches([']', '>', ')', ',', '|', ';']);
        let closed = word.len() < inner.len();
        let (word, colon) = match word.strip_suffix(':') {
            Some(w) => (w, true),
            None => (word, false),
        };
        let first_after_time = only_time && after_time;
        only_time = false;
        let Some(l) = word_level(word) else { continue };
        let upper = word.bytes().all(|c| c.is_ascii_uppercase());
        if upper || (opened && closed) || colon || first_after_time {
            return Some(l);
        }
    }
    None
}

/// A date/time token (`2024-12-04`, `10:00:00,123`, `2024-12-04T10:00:00Z`, `081109`) or a lone `-`.
fn is_time_token(t: &str) -> bool {
    if t == "-" {
        return true;
    }
    let t = t.trim_start_matches('[').trim_end_matches([']', ',']);
    let b = t.as_bytes();
    b.iter().any(u8::is_ascii_digit)
        && b.iter().all(|c| {
            c.is_ascii_digit() || matches!(c, b'-' | b':' | b'.' | b',' | b'T' | b'Z' | b'+' | b'/')
        })
        && (b.len() >= 6 || b.iter().any(|c| matches!(c, b':' | b'-' | b'/')))
}

/// An upper-case level word (`FATAL`, `CRITICAL`, `PANIC`, `ERROR`, `WARN`, `WARNING`) or `[error]`, `<error>`,
/// `[warn]`, `<warn>` anywhere in the text; the most severe one found. One pass over the bytes.
fn anywhere(b: &[u8]) -> Option<Level> {
    let mut best: Option<Level> = None;
    let mut i = 0;
    while i < b.len() {
        // Only upper-case letters, `[` and `<` can start a marker: skip 16-byte runs without any at once.
        if let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<16>) {
            if !chunk
                .iter()
                .fold(false, |any, &c| any | may_start_marker(c))
            {
                i += 16;
                continue;
            }
            i += chunk.iter().position(|&c| may_start_marker(c)).unwrap_or(0);
        }
        let (l, next) = marker_at(b, i);
        best = best.max(l);
        if best == Some(Level::Fatal) {
            break;
        }
        i = next;
    }
    best
}

/// The marker starting at `b[i]` (an upper-case level word at a word start, or `[error]`, `<error>`, `[warn]`,
/// `<warn>`), if any, and where scanning goes on: after the word, else at the next byte.
#[inline]
fn marker_at(b: &[u8], i: usize) -> (Option<Level>, usize) {
    let c = b[i];
    if c.is_ascii_uppercase() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
        let end = b[i..]
            .iter()
            .position(|c| !c.is_ascii_alphanumeric())
            .map_or(b.len(), |n| i + n);
        let l = match &b[i..end] {
            b"FATAL" | b"CRITICAL" | b"PANIC" => Some(Level::Fatal),
            b"ERROR" => Some(Level::Error),
            b"WARN" | b"WARNING" => Some(Level::Warn),
            _ => None,
        };
        return (l, end);
    }
    if matches!(c, b'[' | b'<') {
        let close = if c == b'[' { b']' } else { b'>' };
        let rest = &b[i + 1..];
        let l = if rest.starts_with(b"error") && rest.get(5) == Some(&close) {
            Some(Level::Error)
        } else if rest.starts_with(b"warn") && rest.get(4) == Some(&close) {
            Some(Level::Warn)
        } else {
            None
        };
        return (l, i + 1);
    }
    (None, i + 1)
}

/// `A`..=`Z`, `[` (right after `Z`) or `<`.
#[inline(always)]
fn may_start_marker(c: u8) -> bool {
    c.wrapping_sub(b'A') <= b'[' - b'A' || c == b'<'
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Level> {
        detect(s)
    }

    #[test]
    fn header_markers() {
        assert_eq!(
            d("081109 203615 148 INFO dfs.DataNode$PacketResponder: x"),
            Some(Level::Info)
        );
        assert_eq!(
            d("2015-07-29 17:41:44,747 - WARN  [x@1] - y"),
            Some(Level::Warn)
        );
        assert_eq!(
            d("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"),
            Some(Level::Info)
        );
        assert_eq!(
            d("[Sun Dec 04 04:47:44 2005] [error] mod_jk child"),
            Some(Level::Error)
        );
        assert_eq!(
            d("2015-10-18 18:01:47,978 FATAL [main] x"),
            Some(Level::Fatal)
        );
        assert_eq!(d("<warn> disk almost full"), Some(Level::Warn));
        assert_eq!(d("ts=1 level=warn msg=x"), Some(Level::Warn));
        assert_eq!(d("error: could not open file"), Some(Level::Error));
        assert_eq!(d("WARNING something odd"), Some(Level::Warn));
        assert_eq!(d("TRACE enter f"), Some(Level::Trace));
        assert_eq!(d("DEBUG x"), Some(Level::Debug));
        assert_eq!(d("CRITICAL db down"), Some(Level::Fatal));
        assert_eq!(
            d("2024-12-04 10:00:00.123 info starting server"),
            Some(Level::Info)
        );
        assert_eq!(
            d("2024-12-04T10:00:00Z warning disk at 91%"),
            Some(Level::Warn)
        );
        assert_eq!(d("10:00:00 - debug - cache warm"), Some(Level::Debug));
    }

    #[test]
    fn klog_and_python_logging() {
        assert_eq!(
            d("E1204 10:00:00.000000    1 reflector.go:1] failed"),
            Some(Level::Error)
        );
        assert_eq!(
            d("W1204 10:00:00.000000    1 x.go:1] slow"),
            Some(Level::Warn)
        );
        assert_eq!(
            d("I1204 10:00:00.000000    1 x.go:1] ok"),
            Some(Level::Info)
        );
        assert_eq!(
            d("F1204 10:00:00.000000    1 x.go:1] dead"),
            Some(Level::Fatal)
        );
        assert_eq!(d("ERROR:root:boom"), Some(Level::Error));
        assert_eq!(d("WARNING:app.db:slow query"), Some(Level::Warn));
    }

    #[test]
    fn multiline_shapes_and_fallbacks() {
        assert_eq!(
            d("Traceback (most recent call last):\n  File \"x\"\nValueError: x"),
            Some(Level::Error)
        );
        assert_eq!(
            d("panic: boom\n\ngoroutine 1 [running]:"),
            Some(Level::Fatal)
        );
        assert_eq!(
            d("Exception in thread \"main\" java.lang.IllegalStateException: x\n\tat a.b(C.java:1)"),
            Some(Level::Error)
        );
        assert_eq!(
            d("the request failed with an ERROR from upstream"),
            Some(Level::Error)
        );
        assert_eq!(d(r#"{"level":"warn","msg":"x"}"#), Some(Level::Warn));
    }

    #[test]
    fn plain_words_do_not_count() {
        assert_eq!(d("info about the error is below"), None);
        assert_eq!(d("TERRORS and WARNINGS"), None);
        assert_eq!(d("I am fine"), None);
        assert_eq!(d("2024 error rates fell"), None);
        assert_eq!(d("10:00:00 server info updated"), None);
        assert_eq!(d(""), None);
    }

    /// The byte-at-a-time scan as it was before the skipping one (same marker test at every byte).
    fn anywhere_reference(b: &[u8]) -> Option<Level> {
        let mut best: Option<Level> = None;
        let mut i = 0;
        while i < b.len() {
            let (l, next) = marker_at(b, i);
            best = best.max(l);
            if best == Some(Level::Fatal) {
                break;
            }
            i = next;
        }
        best
    }

    fn python_logging_reference(s: &str) -> Option<Level> {
        let (head, rest) = s.split_once(':')?;
        if head.len() > 8 || rest.is_empty() || !head.bytes().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        matches!(head, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL")
            .then(|| Level::parse(head))
            .flatten()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn skipping_scans_equal_the_byte_loops(
            s in "([a-z ]{0,20}|ERROR|WARN|WARNING|FATAL|PANIC|CRITICAL|INFO|DEBUG|Error|\\[error\\]|<warn>|\\[warn|[A-Z]{1,4}|[:\\[<>\\]0-9]|\\PC){0,16}"
        ) {
            proptest::prop_assert_eq!(anywhere(s.as_bytes()), anywhere_reference(s.as_bytes()));
            proptest::prop_assert_eq!(python_logging(&s), python_logging_reference(&s));
        }
    }
}
