//! The total order of events and the opaque pagination cursor.
//!
//! Events are ordered by `(ts, source.agent, source.file, source.offset, hash of the stored record)`: the
//! source is unique per line, so the order is total and stable across merges and restarts, and a cursor
//! (the key of the last event returned) never skips or repeats events that share a timestamp.

use crate::error::QueryError;
use logmind_protocol::LogRecord;
use std::cmp::Ordering;

/// The sort key of one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventKey {
    /// Event time, ns.
    pub ts: i64,
    /// `source.agent`.
    pub agent: String,
    /// `source.file`.
    pub file: String,
    /// `source.offset`.
    pub offset: u64,
    /// FNV-1a of the stored record bytes (tie-break for records with identical sources).
    pub hash: u64,
}

impl Ord for EventKey {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.ts, &self.agent, &self.file, self.offset, self.hash)
            .cmp(&(o.ts, &o.agent, &o.file, o.offset, o.hash))
    }
}

impl PartialOrd for EventKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl EventKey {
    /// The key of a record whose stored bytes are `bytes`.
    pub fn of(r: &LogRecord, bytes: &[u8]) -> EventKey {
        EventKey {
            ts: r.ts,
            agent: r.source.agent.clone(),
            file: r.source.file.clone(),
            offset: r.source.offset,
            hash: fnv1a(bytes),
        }
    }

    /// Encodes the key as an opaque cursor string (hex of its JSON).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut s = String::with_capacity(json.len() * 2);
        for b in json {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }

    /// Decodes a cursor produced by [`EventKey::encode`].
    pub fn decode(cursor: &str) -> Result<EventKey, QueryError> {
        let bad = || {
            QueryError::BadRequest(format!(
                "cursor {cursor:?} is not valid; pass next_cursor back unchanged"
            ))
        };
        let b = cursor.as_bytes();
        if !b.len().is_multiple_of(2) || b.len() > 16 << 10 {
            return Err(bad());
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut bytes = Vec::with_capacity(b.len() / 2);
        for pair in b.chunks(2) {
            let (Some(h), Some(l)) = (nib(pair[0]), nib(pair[1])) else {
                return Err(bad());
            };
            bytes.push(h << 4 | l);
        }
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// FNV-1a 64-bit hash.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cursor_roundtrips(ts in any::<i64>(), agent in ".{0,10}", file in ".{0,20}", offset in any::<u64>(), hash in any::<u64>()) {
            let k = EventKey { ts, agent, file, offset, hash };
            prop_assert_eq!(EventKey::decode(&k.encode()).unwrap(), k);
        }

        #[test]
        fn garbage_cursor_is_an_error_not_a_panic(s in ".{0,64}") {
            let _ = EventKey::decode(&s);
        }
    }
}
