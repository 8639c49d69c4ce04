//! NDJSON batch encoding: one [`LogRecord`] per line.

use crate::record::LogRecord;

/// A batch body that could not be decoded; names the 1-based line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// A line is not a valid `LogRecord` JSON object.
    #[error("batch line {line}: {reason}")]
    BadLine {
        /// 1-based line number within the decompressed body.
        line: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// More records than the caller allows in one batch (see [`decode_ndjson_max`]).
    #[error("batch has more than {max} records")]
    TooManyRecords {
        /// The limit that was hit.
        max: usize,
    },
}

/// Encodes records as NDJSON, one object per line, each line ending in `\n`.
pub fn encode_ndjson(records: &[LogRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for r in records {
        encode_one(r, &mut out);
    }
    out
}

/// Appends one record and its `\n` to `out`.
pub fn encode_one(record: &LogRecord, out: &mut Vec<u8>) {
    // Serializing a struct of strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, record).is_ok() {
        out.push(b'\n');
    }
}

/// The parts of a record shared by every event of one source (file): metadata and source identity,
/// JSON-encoded once so that [`encode_parts`] only copies them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPrefix {
    /// `,"namespace":…` through `,"node":…` (empty values left out, as serde does).
    meta: Vec<u8>,
    /// `,"source":{"agent":…,"file":…,"offset":`.
    source: Vec<u8>,
}

/// The per-source values a [`RecordPrefix`] is built from (see [`LogRecord`] for their meaning).
#[derive(Debug, Clone, Copy, Default)]
pub struct SharedParts<'a> {
    /// `namespace`
    pub namespace: &'a str,
    /// `app`
    pub app: &'a str,
    /// `pod`
    pub pod: &'a str,
    /// `container`
    pub container: &'a str,
    /// `container_id`
    pub container_id: &'a str,
    /// `restart`
    pub restart: u32,
    /// `node`
    pub node: &'a str,
    /// `source.agent`
    pub agent: &'a str,
    /// `source.file`
    pub file: &'a str,
}

/// The per-event values of a record, borrowed (see [`LogRecord`] for their meaning).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventParts<'a> {
    /// `ts`
    pub ts: i64,
    /// `stream`
    pub stream: &'a str,
    /// `level`
    pub level: &'a str,
    /// `request_id`
    pub request_id: &'a str,
    /// `user_id`
    pub user_id: &'a str,
    /// `trace_id`
    pub trace_id: &'a str,
    /// `message`
    pub message: &'a str,
    /// `source.offset`
    pub offset: u64,
}

impl RecordPrefix {
    /// Pre-encodes the shared parts.
    pub fn new(p: &SharedParts<'_>) -> Self {
        let mut meta = Vec::with_capacity(128);
        for (key, value) in [
            ("namespace", p.namespace),
            ("app", p.app),
            ("pod", p.pod),
            ("container", p.container),
            ("container_id", p.container_id),
        ] {
            opt_field(&mut meta, key, value);
        }
        if p.restart != 0 {
            meta.extend_from_slice(b",\"restart\":");
            write_int(&mut meta, p.restart);
        }
        opt_field(&mut meta, "node", p.node);
        let mut source = Vec::with_capacity(64);
        source.extend_from_slice(b",\"source\":{\"agent\":");
        write_str(&mut source, p.agent);
        source.extend_from_slice(b",\"file\":");
        write_str(&mut source, p.file);
        source.extend_from_slice(b",\"offset\":");
        RecordPrefix { meta, source }
    }
}

/// Appends one record and its `\n` to `out`, byte for byte what [`encode_one`] writes for the same record.
/// `fields` must come in ascending key order without duplicate keys (the order of `LogRecord::fields`).
pub fn encode_parts<'f>(
    prefix: &RecordPrefix,
    ev: &EventParts<'_>,
    fields: impl IntoIterator<Item = (&'f str, &'f str)>,
    out: &mut Vec<u8>,
) {
    out.reserve(prefix.meta.len() + prefix.source.len() + ev.message.len() + 96);
    out.extend_from_slice(b"{\"ts\":");
    write_int(out, ev.ts);
    out.extend_from_slice(&prefix.meta);
    opt_field(out, "stream", ev.stream);
    opt_field(out, "level", ev.level);
    opt_field(out, "request_id", ev.request_id);
    opt_field(out, "user_id", ev.user_id);
    opt_field(out, "trace_id", ev.trace_id);
    out.extend_from_slice(b",\"message\":");
    write_str(out, ev.message);
    write_fields(out, fields);
    out.extend_from_slice(&prefix.source);
    write_int(out, ev.offset);
    out.extend_from_slice(b"}}\n");
}

/// `,"fields":{…}` unless `fields` is empty (serde's `skip_serializing_if = "BTreeMap::is_empty"`), keys in the
/// order given (a `BTreeMap`'s: ascending, unique).
pub fn write_fields<'f>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = (&'f str, &'f str)>) {
    let mut first = true;
    for (k, v) in fields {
        out.extend_from_slice(if first { b",\"fields\":{" } else { b"," });
        first = false;
        write_str(out, k);
        out.push(b':');
        write_str(out, v);
    }
    if !first {
        out.push(b'}');
    }
}

/// `,"key":"value"` unless `value` is empty (serde's `skip_serializing_if = "String::is_empty"`).
#[inline]
pub fn opt_field(out: &mut Vec<u8>, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_str(out, value);
}

/// Appends the decimal form of `v` (with `itoa`, as serde_json writes integers).
#[inline]
pub fn write_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in the bytes of `v` (little-endian) that JSON must escape: control bytes below 0x20, `"` and
/// `\`. Exact for the lowest such byte (borrows only propagate upwards), which is all the caller uses.
#[inline(always)]
fn escape_mask(v: u64) -> u64 {
    let ctrl = v.wrapping_sub(LO * 0x20) & !v;
    let q = v ^ (LO * u64::from(b'"'));
    let q = q.wrapping_sub(LO) & !q;
    let bs = v ^ (LO * u64::from(b'\\'));
    let bs = bs.wrapping_sub(LO) & !bs;
    (ctrl | q | bs) & HI
}

#[inline(always)]
fn needs_escape(c: u8) -> bool {
    (c < 0x20) | (c == b'"') | (c == b'\\')
}

/// Index of the first byte at or after `i` that must be escaped, `b.len()` when none. 16 bytes at a time: the
/// branch-free test of a fixed-size chunk compiles to a few SIMD compares.
#[inline]
fn next_escape(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        if chunk.iter().fold(false, |any, &c| any | needs_escape(c)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(&chunk[..8]);
            let m = escape_mask(u64::from_le_bytes(w));
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            w.copy_from_slice(&chunk[8..]);
            let m = escape_mask(u64::from_le_bytes(w));
            return i + 8 + (m.trailing_zeros() / 8) as usize;
        }
        i += 16;
    }
    // 8 to 15 bytes left: two overlapping words, the first and the last 8 (the overlap was clean in the first).
    if b.len() - i >= 8 {
        for at in [i, b.len() - 8] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            let m = escape_mask(u64::from_le_bytes(w));
            if m != 0 {
                return at + (m.trailing_zeros() / 8) as usize;
            }
        }
        return b.len();
    }
    while i < b.len() && !needs_escape(b[i]) {
        i += 1;
    }
    i
}

/// Appends `s` as a JSON string literal, quotes included, byte for byte as serde_json writes it: `"` and `\`
/// backslash-escaped, `\b \t \n \f \r` short forms, other control bytes as `\u00xx`, everything else verbatim.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let j = next_escape(b, start);
        out.extend_from_slice(&b[start..j]);
        let Some(&c) = b.get(j) else { break };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
        start = j + 1;
    }
    out.push(b'"');
}

/// Decodes an NDJSON body. Blank lines are ignored; the first bad line fails the whole batch.
pub fn decode_ndjson(body: &[u8]) -> Result<Vec<LogRecord>, BatchError> {
    decode_ndjson_max(body, usize::MAX)
}

/// [`decode_ndjson`], refusing a body of more than `max_records` records as soon as it has read one more. A
/// decoded record takes `size_of::<LogRecord>()` bytes (384) before its strings, while `{}` is 3 bytes on the
/// wire: without a bound, a body of empty objects within any byte limit takes over a hundred times its size.
pub fn decode_ndjson_max(body: &[u8], max_records: usize) -> Result<Vec<LogRecord>, BatchError> {
    // A body that is valid UTF-8 as a whole (every valid batch) is checked once here, so the JSON parser need not
    // check each string again (`from_str`); otherwise lines are parsed as bytes, which names the bad one.
    let text = std::str::from_utf8(body).ok();
    let mut out = Vec::new();
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (i, end) in ends.enumerate() {
        let (from, line) = (start, &body[start..end]);
        start = end + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Lines end at a `\n`, which is never inside a UTF-8 sequence: `from..end` is a char range of `text`.
        let parsed = match text.and_then(|t| t.get(from..end)) {
            Some(line) => serde_json::from_str::<LogRecord>(line),
            None => serde_json::from_slice::<LogRecord>(line),
        };
        if out.len() == max_records {
            return Err(BatchError::TooManyRecords { max: max_records });
        }
        match parsed {
            Ok(r) => out.push(r),
            Err(e) => {
                return Err(BatchError::BadLine {
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Like [`encode_one`], through [`encode_parts`] (the fast path the agent uses; tests prove them equal).
    fn encode_one_fast(r: &LogRecord, out: &mut Vec<u8>) {
        let prefix = RecordPrefix::new(&SharedParts {
            namespace: &r.namespace,
            app: &r.app,
            pod: &r.pod,
            container: &r.container,
            container_id: &r.container_id,
            restart: r.restart,
            node: &r.node,
            agent: &r.source.agent,
            file: &r.source.file,
        });
        let ev = EventParts {
            ts: r.ts,
            stream: &r.stream,
            level: &r.level,
            request_id: &r.request_id,
            user_id: &r.user_id,
            trace_id: &r.trace_id,
            message: &r.message,
            offset: r.source.offset,
        };
        encode_parts(
            &prefix,
            &ev,
            r.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            out,
        );
    }

    fn arb_record() -> impl Strategy<Value = LogRecord> {
        (
            any::<i64>(),
            ".{0,12}",
            ".{0,40}",
            "(|trace|debug|info|warn|error|fatal)",
            ".{0,10}",
            proptest::collection::btree_map("[a-z.]{1,8}", ".{0,8}", 0..4),
            any::<u64>(),
            any::<u32>(),
        )
            .prop_map(
                |(ts, ns, msg, level, rid, fields, off, restart)| LogRecord {
                    ts,
                    namespace: ns,
                    message: msg,
                    level,
                    request_id: rid,
                    fields: fields.into_iter().collect::<BTreeMap<_, _>>(),
                    restart,
                    source: crate::Source {
                        agent: "a".into(),
                        file: "f".into(),
                        offset: off,
                    },
                    ..Default::default()
                },
            )
    }

    /// Strings rich in what JSON escaping must get right: control bytes, quotes, backslashes, DEL, non-ASCII,
    /// U+FFFD from invalid UTF-8, and arbitrary chars.
    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
            "[\\x00-\\x1f\"\\\\a-z0-9 é😀\\x7f\u{2028}]{0,40}",
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

    fn arb_full_record() -> impl Strategy<Value = LogRecord> {
        let s = || prop_oneof![Just(String::new()), tricky()];
        (
            (
                any::<i64>(),
                s(),
                s(),
                s(),
                s(),
                s(),
                prop_oneof![Just(0u32), any::<u32>()],
                s(),
            ),
            (s(), s(), s(), s(), s(), tricky()),
            proptest::collection::btree_map(tricky(), tricky(), 0..5),
            (s(), s(), any::<u64>()),
        )
            .prop_map(
                |(
                    (ts, namespace, app, pod, container, container_id, restart, node),
                    (stream, level, request_id, user_id, trace_id, message),
                    fields,
                    (agent, file, offset),
                )| LogRecord {
                    ts,
                    namespace,
                    app,
                    pod,
                    container,
                    container_id,
                    restart,
                    node,
                    stream,
                    level,
                    request_id,
                    user_id,
                    trace_id,
                    message,
                    fields,
                    source: crate::Source {
                        agent,
                        file,
                        offset,
                    },
                },
            )
    }

    proptest! {
        #[test]
        fn fast_encoding_equals_serde_byte_for_byte(r in arb_full_record()) {
            let mut slow = Vec::new();
            encode_one(&r, &mut slow);
            let mut fast = Vec::new();
            encode_one_fast(&r, &mut fast);
            prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&slow));
            prop_assert_eq!(&fast, &slow);
            let back = decode_ndjson(&fast).expect("decode");
            prop_assert_eq!(back, vec![r]);
        }

        #[test]
        fn write_str_equals_serde_json(s in tricky()) {
            let mut out = b"x".to_vec();
            write_str(&mut out, &s);
            let want = serde_json::to_vec(&s).expect("serialize");
            prop_assert_eq!(&out[1..], &want[..]);
            let back: String = serde_json::from_slice(&out[1..]).expect("parse");
            prop_assert_eq!(back, s);
        }
    }

    #[test]
    fn write_str_finds_an_escape_at_every_position_of_every_length() {
        for len in 0..40 {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1}'] {
                    let s: String = (0..len).map(|i| if i == at { c } else { 'x' }).collect();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    assert_eq!(out, serde_json::to_vec(&s).expect("serialize"), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn write_str_escapes_every_byte_like_serde_json() {
        for c in 0u32..=0x80 {
            let Some(ch) = char::from_u32(c) else {
                continue;
            };
            let s = format!("ab{ch}cdefghij{ch}");
            let mut out = Vec::new();
            write_str(&mut out, &s);
            assert_eq!(
                out,
                serde_json::to_vec(&s).expect("serialize"),
                "char {c:#x}"
            );
        }
        for v in [
            0i64,
            1,
            -1,
            9,
            10,
            i64::MAX,
            i64::MIN,
            1_733_306_400_123_456_789,
        ] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
        for v in (0..2000u64).chain([u64::MAX, u64::MAX - 1, 10u64.pow(19), 10u64.pow(19) - 1]) {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
    }

    proptest! {
        #[test]
        fn ndjson_round_trips(records in proptest::collection::vec(arb_record(), 0..20)) {
            let body = encode_ndjson(&records);
            prop_assert_eq!(decode_ndjson(&body).expect("decode"), records);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_ndjson(&body);
        }
    }

    #[test]
    fn bad_line_is_named() {
        let body = b"{\"ts\":1,\"message\":\"a\"}\n\n{oops\n";
        match decode_ndjson(body) {
            Err(BatchError::BadLine { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected bad line 3, got {other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_is_named_and_valid_text_of_any_script_decodes() {
        let mut body = b"{\"ts\":1,\"message\":\"\xc3\xa9t\xc3\xa9 \xe2\x9c\x93\"}\n\r\n".to_vec();
        assert_eq!(decode_ndjson(&body).expect("valid")[0].message, "été ✓");
        body.extend_from_slice(
            b"{\"ts\":2,\"message\":\"bad \xff byte\"}\n{\"ts\":3,\"message\":\"c\"}",
        );
        match decode_ndjson(&body) {
            Err(BatchError::BadLine { line, reason }) => {
                assert_eq!(line, 3);
                assert!(reason.contains("invalid unicode"), "{reason}");
            }
            other => panic!("expected bad line 3, got {other:?}"),
        }
        let last_unterminated = b"{\"ts\":1,\"message\":\"a\"}\n{\"ts\":2,\"message\":\"b\"}";
        assert_eq!(decode_ndjson(last_unterminated).expect("valid").len(), 2);
    }

    #[test]
    fn record_count_is_bounded_and_blank_lines_do_not_count() {
        let body = b"{}\n\n{}\n \n{}\n".repeat(4);
        assert_eq!(
            decode_ndjson_max(&body, 12).expect("at the limit").len(),
            12
        );
        assert_eq!(
            decode_ndjson_max(&body, 11),
            Err(BatchError::TooManyRecords { max: 11 })
        );
        // A bad line before the limit is still named.
        assert!(matches!(
            decode_ndjson_max(b"{}\nnope\n{}\n{}\n", 2),
            Err(BatchError::BadLine { line: 2, .. })
        ));
        // A body of millions of blank lines reserves nothing per line.
        assert!(decode_ndjson(&vec![b'\n'; 8 << 20])
            .expect("blank")
            .is_empty());
    }
}
