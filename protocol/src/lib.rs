//! The contract between logmind's agent, indexer and query layer.
//!
//! Data flows agent → indexer as batches of [`LogRecord`]s encoded as NDJSON ([`batch`]), usually
//! compressed as an lz4 frame ([`compress`]) and posted to [`INGEST_PATH`] with the [`HEADER_AGENT`] and
//! [`HEADER_BATCH`] headers. [`time`] and [`units`] hold the small parsers every layer shares: timestamps
//! (RFC 3339, Unix seconds/nanoseconds, `now-1h`), durations (`"7d"`) and sizes (`"256MiB"`).

pub mod batch;
pub mod compress;
pub mod record;
pub mod time;
pub mod units;

pub use batch::{decode_ndjson, decode_ndjson_max, encode_ndjson, BatchError};
pub use compress::{lz4_compress, lz4_decompress, CompressError};
pub use record::{Level, LogRecord, Source};

/// Path of the agent → indexer ingest endpoint.
pub const INGEST_PATH: &str = "/api/v1/ingest";
/// Header naming the sending agent (its stable id).
pub const HEADER_AGENT: &str = "x-logmind-agent";
/// Header carrying the batch sequence number (`u64`, decimal); `(agent, sequence)` is unique per batch.
pub const HEADER_BATCH: &str = "x-logmind-batch";
/// `Content-Encoding` value for an lz4 frame body.
pub const ENCODING_LZ4: &str = "lz4";
/// Default cap on a decompressed batch (64 MiB): anything larger is refused, never allocated.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

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

/// The indexer's answer to a successful ingest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestResponse {
    /// Number of records made durable by this request (0 for a duplicate).
    pub accepted: u64,
    /// True when this (agent, sequence) was already durable and nothing was indexed again.
    pub duplicate: bool,
}

/// The error body every logmind HTTP endpoint returns on failure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Human-readable message naming what failed and on which input.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_stays_on_character_boundaries() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abc", 2), "ab");
        // "é" is two bytes: a cut inside it falls back before it.
        assert_eq!(cut("aéb", 2), "a");
        assert_eq!(cut("aéb", 3), "aé");
        assert_eq!(cut("é", 0), "");
    }
}
