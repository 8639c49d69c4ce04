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

/// Decodes an NDJSON body. Blank lines are ignored; the first bad line fails the whole batch.
pub fn decode_ndjson(body: &[u8]) -> Result<Vec<LogRecord>, BatchError> {
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<LogRecord>(line) {
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
}
