//! Parsing and extraction of one event's message: pure functions over `&str`.
//!
//! [`extract`] reads a JSON object body or a logfmt body into flattened `fields`, normalises the level (from a
//! level key, else from plain-text markers, see [`level`]), and finds `request_id`, `user_id` and `trace_id`
//! (structured keys first, then free text `key: X` / `key=X` / `"key": "X"`, then the configured regexes).

pub mod fields;
pub mod ids;
pub mod level;
pub mod logfmt;

use std::collections::BTreeMap;

use logmind_protocol::Level;
use regex::Regex;

/// What to extract and how much to keep.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Keys (JSON, logfmt, free text) holding a request id.
    pub request_id_keys: Vec<String>,
    /// Keys holding a user id.
    pub user_id_keys: Vec<String>,
    /// Keys holding a trace id (`traceparent` values are reduced to their 32-hex trace id).
    pub trace_id_keys: Vec<String>,
    /// Extra regexes with named groups `request_id`, `user_id`, `trace_id`; they fill ids the keys did not find.
    pub patterns: Vec<Regex>,
    /// At most this many entries in `fields`.
    pub max_fields: usize,
    /// Keys and values longer than this are cut (on a character boundary).
    pub max_field_bytes: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        let v = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ExtractOptions {
            request_id_keys: v(&["request_id", "requestId", "req_id", "x_request_id"]),
            user_id_keys: v(&["user_id", "userId", "uid"]),
            trace_id_keys: v(&["trace_id", "traceId", "traceparent"]),
            patterns: Vec::new(),
            max_fields: 64,
            max_field_bytes: 1024,
        }
    }
}

/// What [`extract`] found in one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Normalised level, `None` when unknown.
    pub level: Option<Level>,
    /// Request id, empty when absent.
    pub request_id: String,
    /// User id, empty when absent.
    pub user_id: String,
    /// Trace id, empty when absent.
    pub trace_id: String,
    /// Other parsed key/values (flattened with `.`), without the level, message, time and id keys.
    pub fields: BTreeMap<String, String>,
}

/// Keys whose value is the level.
pub const LEVEL_KEYS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "log.level",
    "levelname",
    "loglevel",
    "log_level",
];
/// Keys whose value is the message or the time; first-class in the record, so left out of `fields`.
const SKIP_KEYS: &[&str] = &["msg", "message", "ts", "time", "timestamp", "@timestamp"];

/// Extracts level, identifiers and fields from one event message. Never fails: what cannot be parsed is
/// simply not extracted.
pub fn extract(message: &str, opts: &ExtractOptions) -> Extracted {
    let mut out = Extracted::default();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let trimmed = message.trim();
    let structured = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        fields::flatten_json(
            trimmed,
            opts.max_fields * 2,
            opts.max_field_bytes,
            &mut pairs,
        )
    } else {
        false
    } || logfmt::parse_logfmt(message, opts.max_fields * 2, &mut pairs);

    if structured {
        for (k, v) in pairs {
            take_pair(&mut out, k, v, opts);
        }
    }
    if out.level.is_none() {
        out.level = level::detect(message);
    }
    if out.request_id.is_empty() || out.user_id.is_empty() || out.trace_id.is_empty() {
        ids::scan_free_text(message, opts, &mut out);
    }
    if !opts.patterns.is_empty()
        && (out.request_id.is_empty() || out.user_id.is_empty() || out.trace_id.is_empty())
    {
        for re in &opts.patterns {
            if let Some(c) = re.captures(message) {
                for (name, slot) in [
                    ("request_id", &mut out.request_id),
                    ("user_id", &mut out.user_id),
                    ("trace_id", &mut out.trace_id),
                ] {
                    if slot.is_empty() {
                        if let Some(m) = c.name(name) {
                            *slot = cut(m.as_str(), opts.max_field_bytes).to_string();
                        }
                    }
                }
            }
        }
    }
    out
}

/// Files one structured key/value: level, ids and skipped keys are first-class, the rest goes to `fields`.
fn take_pair(out: &mut Extracted, key: String, value: String, opts: &ExtractOptions) {
    let last = key.rsplit('.').next().unwrap_or(&key);
    if LEVEL_KEYS.contains(&key.as_str()) || LEVEL_KEYS.contains(&last) {
        if out.level.is_none() {
            if let Some(l) = Level::parse(&value) {
                out.level = Some(l);
                return;
            }
        } else if Level::parse(&value).is_some() {
            return;
        }
    }
    if SKIP_KEYS.contains(&key.as_str()) {
        return;
    }
    for (keys, slot, is_trace) in [
        (&opts.request_id_keys, &mut out.request_id, false),
        (&opts.user_id_keys, &mut out.user_id, false),
        (&opts.trace_id_keys, &mut out.trace_id, true),
    ] {
        if keys.iter().any(|k| k == &key || k == last) {
            if slot.is_empty() && !value.is_empty() {
                let v = if is_trace {
                    ids::trace_id_value(&value)
                } else {
                    &value
                };
                *slot = cut(v, opts.max_field_bytes).to_string();
            }
            return;
        }
    }
    if out.fields.len() < opts.max_fields {
        let k = cut(&key, opts.max_field_bytes).to_string();
        let v = cut(&value, opts.max_field_bytes).to_string();
        out.fields.entry(k).or_insert(v);
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut n = max;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
