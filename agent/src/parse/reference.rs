//! The extraction as it was before the allocation-free rewrite, kept as the oracle of a differential test: the
//! records shipped must not change.

use std::borrow::Cow;

use logmind_protocol::Level;
use proptest::prelude::*;

use super::ids::{self, for_each_keyed, trace_id_value, IdKeys, REQUEST, TRACE, USER};
use super::{cut, extract, fields, level, logfmt, ExtractOptions, Extracted, Pair};

fn scan_free_text(message: &str, keys: &IdKeys<'_>, max_bytes: usize, out: &mut Extracted) {
    for_each_keyed(
        message,
        |key| keys.kind(key).is_some(),
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
                *slot = cut(v, max_bytes).to_string();
            }
            !out.request_id.is_empty() && !out.user_id.is_empty() && !out.trace_id.is_empty()
        },
    );
}

/// Extracts level, identifiers and fields from one event message. Never fails: what cannot be parsed is
/// simply not extracted.
pub fn extract_reference(message: &str, opts: &ExtractOptions) -> Extracted {
    let mut out = Extracted::default();
    let mut pairs: Vec<Pair<'_>> = Vec::new();
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

    let id_keys = ids::IdKeys::new(opts);
    if structured {
        for (k, v) in pairs {
            take_pair(&mut out, k, v, &id_keys, opts);
        }
    }
    if out.level.is_none() {
        out.level = level::detect(message);
    }
    if out.request_id.is_empty() || out.user_id.is_empty() || out.trace_id.is_empty() {
        scan_free_text(message, &id_keys, opts.max_field_bytes, &mut out);
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

/// True for the keys whose value is the level.
fn is_level_key(k: &str) -> bool {
    matches!(
        k,
        "level" | "lvl" | "severity" | "log.level" | "levelname" | "loglevel" | "log_level"
    )
}

/// Files one structured key/value: level, ids and skipped keys are first-class, the rest goes to `fields`.
fn take_pair(
    out: &mut Extracted,
    key: Cow<'_, str>,
    value: Cow<'_, str>,
    id_keys: &ids::IdKeys<'_>,
    opts: &ExtractOptions,
) {
    let last = key.rfind('.').map(|i| &key[i + 1..]);
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
                ids::trace_id_value(&value)
            } else {
                &value
            };
            *slot = cut(v, opts.max_field_bytes).to_string();
        }
        return;
    }
    if out.fields.len() < opts.max_fields {
        let k = bounded(key, opts.max_field_bytes);
        if let std::collections::btree_map::Entry::Vacant(e) = out.fields.entry(k) {
            e.insert(bounded(value, opts.max_field_bytes));
        }
    }
}

/// An owned copy of `s` cut to at most `max` bytes on a character boundary (no copy when already owned).
fn bounded(s: Cow<'_, str>, max: usize) -> String {
    let n = cut(&s, max).len();
    let mut s = s.into_owned();
    s.truncate(n);
    s
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("request_id".to_string()),
        Just("requestId".to_string()),
        Just("user_id".to_string()),
        Just("uid".to_string()),
        Just("trace_id".to_string()),
        Just("traceparent".to_string()),
        Just("id".to_string()),
        Just("user".to_string()),
        Just("x-request-id".to_string()),
        Just("xrequest_id".to_string()),
        Just("level".to_string()),
        Just("log.level".to_string()),
        Just("msg".to_string()),
        Just("ERROR".to_string()),
        Just("warn".to_string()),
        Just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()),
        "[a-z_.]{1,6}",
        "[ -~]{0,8}",
        "\\PC{0,4}",
    ]
}

fn message() -> impl Strategy<Value = String> {
    let kv = (token(), token(), 0..6u8).prop_map(|(k, v, form)| match form {
        0 => format!("{k}={v}"),
        1 => format!("{k}=\"{}\"", v.replace('"', "\\\"")),
        2 => format!("{k}: {v}"),
        3 => format!("\"{k}\": \"{}\"", v.replace('"', "\\\"")),
        4 => format!("\"{k}\":{{\"{v}\":\"{k}\"}}"),
        _ => v,
    });
    (proptest::collection::vec(kv, 0..8), 0..3u8).prop_map(|(parts, shape)| match shape {
        0 => parts.join(" "),
        1 => format!("{{{}}}", parts.join(",")),
        _ => format!("2024-12-04 10:00:00 {}", parts.join(" ")),
    })
}

#[test]
fn recycled_buffers_keep_their_allocation() {
    let opts = ExtractOptions::default();
    let mut f = super::Found::default();
    let m = String::from("a=1 b=2 c=3");
    super::extract_into(&m, &opts, &mut f);
    let ptr = f.fields.as_ptr() as usize;
    assert_eq!(f.fields.len(), 3);
    let f: super::Found<'static> = f.recycle();
    assert!(f.fields.is_empty() && f.fields.capacity() >= 3);
    assert_eq!(f.fields.as_ptr() as usize, ptr);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn extract_equals_the_reference(m in message(), small in any::<bool>()) {
        let opts = if small {
            ExtractOptions { max_fields: 3, max_field_bytes: 5, ..ExtractOptions::default() }
        } else {
            ExtractOptions::default()
        };
        prop_assert_eq!(extract(&m, &opts), extract_reference(&m, &opts));
    }

    /// Configured keys inside other keys, of two kinds, with a non-word byte, with unusual last bytes: the
    /// scan's last-byte and filled-kind filters must never pass over a key the reference finds.
    #[test]
    fn extract_equals_the_reference_with_other_keys(m in message()) {
        let v = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let opts = ExtractOptions {
            request_id_keys: v(&["request_id", "id", "x-request-id", "xrequest_id"]),
            user_id_keys: v(&["user", "user_id", "id", "usé"]),
            trace_id_keys: v(&["trace_id", "d", "traceparent", "lvl"]),
            ..ExtractOptions::default()
        };
        prop_assert_eq!(extract(&m, &opts), extract_reference(&m, &opts));
    }

    #[test]
    fn extract_equals_the_reference_on_any_text(m in "\\PC{0,200}") {
        let opts = ExtractOptions::default();
        prop_assert_eq!(extract(&m, &opts), extract_reference(&m, &opts));
    }
}
