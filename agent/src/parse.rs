//! Parsing and extraction of one event's message: pure functions over `&str`.
//!
//! [`extract`] reads a JSON object body or a logfmt body into flattened `fields`, normalises the level (from a
//! level key, else from plain-text markers, see [`level`]), and finds `request_id`, `user_id` and `trace_id`
//! (structured keys first, then free text `key: X` / `key=X` / `"key": "X"`, then the configured regexes).

pub mod fields;
pub mod ids;
pub mod level;
pub mod logfmt;

use std::borrow::Cow;
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

/// One parsed key/value, borrowed from the message where no unescaping was needed.
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// What [`extract_into`] found in one message, borrowing from it where no copy is needed. The buffers are
/// meant to be reused across messages (see [`Found::recycle`]).
#[derive(Debug, Default)]
pub struct Found<'a> {
    /// Normalised level, `None` when unknown.
    pub level: Option<Level>,
    /// Request id, empty when absent.
    pub request_id: Cow<'a, str>,
    /// User id, empty when absent.
    pub user_id: Cow<'a, str>,
    /// Trace id, empty when absent.
    pub trace_id: Cow<'a, str>,
    /// Other parsed key/values, cut to size, in ascending key order without duplicates (as a `BTreeMap`).
    pub fields: Vec<Pair<'a>>,
    /// Scratch: the raw pairs of the structured body.
    pairs: Vec<Pair<'a>>,
}

impl<'a> Found<'a> {
    /// Empties `self` for another message (of any lifetime), keeping the buffers' capacity.
    pub fn recycle<'b>(self) -> Found<'b> {
        Found {
            fields: reuse(self.fields),
            pairs: reuse(self.pairs),
            ..Found::default()
        }
    }

    fn ids_missing(&self) -> bool {
        self.missing_ids() != 0
    }

    /// The kinds of id still empty, as bits (1 << [`ids::REQUEST`], …).
    pub(crate) fn missing_ids(&self) -> u8 {
        u8::from(self.request_id.is_empty()) << ids::REQUEST
            | u8::from(self.user_id.is_empty()) << ids::USER
            | u8::from(self.trace_id.is_empty()) << ids::TRACE
    }
}

/// An empty vector of another lifetime in the allocation of `v` (the standard library collects a
/// `vec::IntoIter` of same-layout items in place).
// `filter_map` (not `filter`) is what changes the item's lifetime.
#[allow(clippy::unnecessary_filter_map)]
fn reuse<'b>(mut v: Vec<Pair<'_>>) -> Vec<Pair<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Extracts level, identifiers and fields from one event message. Never fails: what cannot be parsed is
/// simply not extracted.
pub fn extract(message: &str, opts: &ExtractOptions) -> Extracted {
    let mut f = Found::default();
    extract_into(message, opts, &mut f);
    Extracted {
        level: f.level,
        request_id: f.request_id.into_owned(),
        user_id: f.user_id.into_owned(),
        trace_id: f.trace_id.into_owned(),
        fields: f
            .fields
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    }
}

/// [`extract`] into reusable buffers, borrowing from `message`. `out` must be empty (fresh or recycled).
pub fn extract_into<'a>(message: &'a str, opts: &ExtractOptions, out: &mut Found<'a>) {
    extract_with(message, opts, &ids::IdKeys::new(opts), out);
}

/// [`extract_into`] with the id-key filter of `opts` built once by the caller (`IdKeys::new(opts)`), for a run
/// of messages.
pub fn extract_with<'a>(
    message: &'a str,
    opts: &ExtractOptions,
    id_keys: &ids::IdKeys<'_>,
    out: &mut Found<'a>,
) {
    let mut pairs = std::mem::take(&mut out.pairs);
    pairs.clear();
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
        for (k, v) in pairs.drain(..) {
            take_pair(out, k, v, id_keys, opts);
        }
        // Keys are unique, so the order is total: the order of a `BTreeMap<String, String>`.
        out.fields.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    out.pairs = pairs;
    if out.level.is_none() {
        out.level = level::detect(message);
    }
    if out.ids_missing() {
        ids::scan_free_text(message, id_keys, opts.max_field_bytes, out);
    }
    if !opts.patterns.is_empty() && out.ids_missing() {
        for re in &opts.patterns {
            if let Some(c) = re.captures(message) {
                for (name, slot) in [
                    ("request_id", &mut out.request_id),
                    ("user_id", &mut out.user_id),
                    ("trace_id", &mut out.trace_id),
                ] {
                    if slot.is_empty() {
                        if let Some(m) = c.name(name) {
                            *slot = Cow::Borrowed(cut(m.as_str(), opts.max_field_bytes));
                        }
                    }
                }
            }
        }
    }
}

/// True for the keys whose value is the level.
fn is_level_key(k: &str) -> bool {
    matches!(
        k,
        "level" | "lvl" | "severity" | "log.level" | "levelname" | "loglevel" | "log_level"
    )
}

/// Files one structured key/value: level, ids and skipped keys are first-class, the rest goes to `fields`.
fn take_pair<'a>(
    out: &mut Found<'a>,
    key: Cow<'a, str>,
    value: Cow<'a, str>,
    id_keys: &ids::IdKeys<'_>,
    opts: &ExtractOptions,
) {
    // Keys are short: a plain backwards loop beats a `memrchr` call.
    let last = key.bytes().rposition(|c| c == b'.').map(|i| &key[i + 1..]);
    if is_level_key(&key) || last.is_some_and(is_level_key) {
        if let Some(l) = Level::parse(&value) {
            // The first level key wins; a later one is not a field either.
            out.level.get_or_insert(l);
            return;
        }
    }
    if matches!(
        &*key,
        "msg" | "message" | "ts" | "time" | "timestamp" | "@timestamp"
    ) {
        return;
    }
    if let Some(kind) = id_keys
        .kind(&key)
        .or_else(|| last.and_then(|l| id_keys.kind(l)))
    {
        let slot = match kind {
            ids::REQUEST => &mut out.request_id,
            ids::USER => &mut out.user_id,
            _ => &mut out.trace_id,
        };
        if slot.is_empty() && !value.is_empty() {
            let v = if kind == ids::TRACE {
                trace_cow(value)
            } else {
                value
            };
            *slot = bounded(v, opts.max_field_bytes);
        }
        return;
    }
    if out.fields.len() < opts.max_fields {
        let k = bounded(key, opts.max_field_bytes);
        if !out.fields.iter().any(|(have, _)| *have == k) {
            out.fields.push((k, bounded(value, opts.max_field_bytes)));
        }
    }
}

/// [`ids::trace_id_value`] of a possibly owned value.
fn trace_cow(v: Cow<'_, str>) -> Cow<'_, str> {
    match v {
        Cow::Borrowed(s) => Cow::Borrowed(ids::trace_id_value(s)),
        Cow::Owned(s) => match ids::trace_id_value(&s) {
            t if t.len() == s.len() => Cow::Owned(s),
            t => Cow::Owned(t.to_string()),
        },
    }
}

/// `s` cut to at most `max` bytes on a character boundary (no copy).
fn bounded(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(cut(b, max)),
        Cow::Owned(mut o) => {
            let n = cut(&o, max).len();
            o.truncate(n);
            Cow::Owned(o)
        }
    }
}

pub use logmind_protocol::cut;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod reference;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
