//! `POST /loki/api/v1/push`: Loki's push protocol — JSON, or protobuf in a raw-block snappy frame — with
//! optional gzip, so Promtail, Alloy, Vector's loki sink and Fluent Bit can ship into logmind.
//!
//! Labels map onto the record: `namespace`; `app` from `app`, `service_name`, `app_kubernetes_io_name`,
//! `k8s_app`, `job` or `container` (first present); `pod`, `container`, `node` (also `*_name`, `host`),
//! `stream`, `level` (also `detected_level`, `severity`, `lvl`; normalised); ids from labels or structured
//! metadata; every other label and metadata pair goes into `fields`.

use super::LokiState;
use crate::logql::ast::MatchOp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use logmind_indexer::IndexerError;
use logmind_protocol::{Level, LogRecord, Source};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

mod shape;
use shape::PushShape;

/// Largest decompressed push body accepted.
pub const MAX_PUSH_BYTES: usize = 64 << 20;

/// Most entries (and most streams) one push may hold: a decoded record takes `size_of::<LogRecord>()` bytes
/// (384) however small its entry is on the wire (2 bytes of protobuf), so a push of tiny entries within
/// [`MAX_PUSH_BYTES`] would otherwise take over a hundred times its size in memory.
pub const MAX_PUSH_RECORDS: usize = MAX_PUSH_BYTES / std::mem::size_of::<LogRecord>();

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// Streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Labels in selector form: `{app="x", namespace="y"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Label hash (ignored).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// Timestamp.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// Line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPair>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPair {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
}

fn bad(msg: impl Into<String>) -> IndexerError {
    IndexerError::BadRequest(msg.into())
}

/// Labels (and metadata names) that map onto the record's own fields; every other one goes into `fields`.
const USED: [&str; 24] = [
    "namespace",
    "app",
    "service_name",
    "app_kubernetes_io_name",
    "k8s_app",
    "job",
    "pod",
    "pod_name",
    "container",
    "container_name",
    "node",
    "node_name",
    "host",
    "stream",
    "level",
    "detected_level",
    "severity",
    "lvl",
    "request_id",
    "requestId",
    "user_id",
    "userId",
    "trace_id",
    "traceId",
];

/// Bytes a copied label or metadata pair takes in a record besides its name and value (a map node and two
/// `String`s in `fields`; a mapped one, such as `namespace`, fills a record field instead, at about as much).
pub const FIELD_OVERHEAD: u64 = 64;

/// Most bytes one push may make its records copy from stream labels and metadata (a stream's labels are copied into
/// every entry of it): [`FIELD_OVERHEAD`] + name + value per label or pair and entry.
pub const MAX_PUSH_FIELD_BYTES: u64 = MAX_PUSH_BYTES as u64;

/// Longest label string (`{name="value", …}`) of a protobuf stream. Loki's own defaults allow 15 names of up to
/// 1 KiB with values of up to 2 KiB; the string is parsed as LogQL, which takes about 40 bytes per token.
pub const MAX_LABELS_BYTES: usize = 64 << 10;

/// What a label or metadata pair named `key`, with a value of `len` bytes, copies into each record it is in.
fn field_cost(key: &str, len: usize) -> u64 {
    FIELD_OVERHEAD + key.len() as u64 + len as u64
}

fn first(labels: &BTreeMap<String, String>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()))
        .cloned()
        .unwrap_or_default()
}

/// Maps one pushed entry onto a record.
pub fn to_record(
    labels: &BTreeMap<String, String>,
    metadata: &BTreeMap<String, String>,
    ts: i64,
    line: String,
) -> LogRecord {
    let mut all = labels.clone();
    all.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    let level = first(&all, &["level", "detected_level", "severity", "lvl"]);
    let fields = all
        .iter()
        .filter(|(k, _)| !USED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    LogRecord {
        ts,
        namespace: {
            let ns = first(&all, &["namespace"]);
            if ns.is_empty() {
                "default".into()
            } else {
                ns
            }
        },
        app: first(
            &all,
            &[
                "app",
                "service_name",
                "app_kubernetes_io_name",
                "k8s_app",
                "job",
                "container",
            ],
        ),
        pod: first(&all, &["pod", "pod_name"]),
        container: first(&all, &["container", "container_name"]),
        node: first(&all, &["node", "node_name", "host"]),
        stream: first(&all, &["stream"]),
        level: Level::parse(&level)
            .map(|l| l.as_str().to_string())
            .unwrap_or_default(),
        request_id: first(&all, &["request_id", "requestId"]),
        user_id: first(&all, &["user_id", "userId"]),
        trace_id: first(&all, &["trace_id", "traceId"]),
        message: line,
        fields,
        ..Default::default()
    }
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, IndexerError> {
    let log = crate::logql::parse_log(s).map_err(|e| {
        // The labels quoted in the message are cut: they may be up to `MAX_LABELS_BYTES`.
        let mut shown = logmind_protocol::cut(s, 200).to_string();
        if shown.len() < s.len() {
            shown.push('…');
        }
        bad(format!("stream labels {shown:?}: {e}"))
    })?;
    Ok(log
        .selector
        .into_iter()
        .filter(|m| m.op == MatchOp::Eq)
        .map(|m| (m.name, m.value))
        .collect())
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, IndexerError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_PUSH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("gzip body: {e}")))?;
    if out.len() > MAX_PUSH_BYTES {
        return Err(IndexerError::TooLarge(format!(
            "push body decompresses to more than {MAX_PUSH_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Decodes a push body into records.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Vec<LogRecord>, IndexerError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let body: Vec<u8> = if header("content-encoding").contains("gzip") {
        gunzip(body)?
    } else {
        body.to_vec()
    };
    let ctype = header("content-type");
    let mut out = Vec::new();
    if ctype.starts_with("application/json") {
        // Counted before anything is built (see `shape`).
        let shape = PushShape::of_json(&body).map_err(|e| bad(format!("push JSON: {e}")))?;
        check_count(&shape)?;
        check_copies(shape.copies)?;
        let push: JsonPush =
            serde_json::from_slice(&body).map_err(|e| bad(format!("push JSON: {e}")))?;
        for s in push.streams {
            for (i, v) in s.values.into_iter().enumerate() {
                let ts = v
                    .first()
                    .and_then(|t| t.as_str())
                    .and_then(|t| t.parse::<i64>().ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "push JSON: value {i}: timestamp must be a string of nanoseconds"
                        ))
                    })?;
                let line = v
                    .get(1)
                    .and_then(|l| l.as_str())
                    .ok_or_else(|| bad(format!("push JSON: value {i}: line must be a string")))?
                    .to_string();
                let metadata: BTreeMap<String, String> = match v.get(2) {
                    Some(serde_json::Value::Object(m)) => m
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect(),
                    _ => BTreeMap::new(),
                };
                out.push(to_record(&s.stream, &metadata, ts, line));
            }
        }
        return Ok(out);
    }
    // Protobuf (Loki's default), snappy raw block.
    let len = snap::raw::decompress_len(&body).map_err(|e| bad(format!("snappy body: {e}")))?;
    if len > MAX_PUSH_BYTES {
        return Err(IndexerError::TooLarge(format!(
            "push body decompresses to {len} bytes, over the limit of {MAX_PUSH_BYTES}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .map_err(|e| bad(format!("snappy body: {e}")))?;
    // Counted on the wire before anything is decoded.
    let shape = PushShape::of_protobuf(&raw).map_err(|e| bad(format!("push protobuf: {e}")))?;
    check_count(&shape)?;
    if shape.longest_labels > MAX_LABELS_BYTES {
        return Err(bad(format!(
            "push protobuf: a stream's labels are {} bytes, over the limit of {MAX_LABELS_BYTES}",
            shape.longest_labels
        )));
    }
    let req = <PushRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|e| bad(format!("push protobuf: {e}")))?;
    drop(raw);
    let mut streams = Vec::with_capacity(req.streams.len());
    let mut copies = 0u64;
    for s in req.streams {
        let labels = parse_labels(&s.labels)?;
        let per_entry: u64 = labels.iter().map(|(k, v)| field_cost(k, v.len())).sum();
        copies = copies.saturating_add(per_entry.saturating_mul(s.entries.len() as u64));
        for e in &s.entries {
            for p in &e.structured_metadata {
                copies = copies.saturating_add(field_cost(&p.name, p.value.len()));
            }
        }
        streams.push((labels, s.entries));
    }
    check_copies(copies)?;
    for (labels, entries) in streams {
        for e in entries {
            let ts = e
                .timestamp
                .map(|t| {
                    t.seconds
                        .saturating_mul(1_000_000_000)
                        .saturating_add(i64::from(t.nanos))
                })
                .unwrap_or(0);
            let metadata = e
                .structured_metadata
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect();
            out.push(to_record(&labels, &metadata, ts, e.line));
        }
    }
    Ok(out)
}

static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A push sequence: strictly increasing and above any earlier run's (wall-clock ns), so the indexer's
/// (agent, sequence) dedup never mistakes two pushes for one.
fn next_seq() -> u64 {
    let now = u64::try_from(logmind_protocol::time::now_nanos()).unwrap_or(0);
    let mut prev = LAST_SEQ.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST_SEQ.compare_exchange(prev, next, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// 413 for a push of more than [`MAX_PUSH_RECORDS`] streams, or entries and small items together: stream labels,
/// structured-metadata pairs and values nested in a JSON entry (each a few bytes on the wire, each a map entry or
/// a field of a record once decoded).
fn check_count(shape: &PushShape) -> Result<(), IndexerError> {
    let PushShape {
        streams,
        entries,
        items,
        ..
    } = *shape;
    if streams.max(entries.saturating_add(items)) > MAX_PUSH_RECORDS {
        return Err(IndexerError::TooLarge(format!(
            "push refused, nothing stored: {entries} entries with {items} labels and metadata pairs in {streams} \
             streams, over the limit of {MAX_PUSH_RECORDS} (each entry takes {} bytes of memory until indexed); \
             send smaller pushes",
            std::mem::size_of::<LogRecord>()
        )));
    }
    Ok(())
}

/// 413 for a push whose records would copy more than [`MAX_PUSH_FIELD_BYTES`] of `fields` from stream labels and
/// structured metadata.
fn check_copies(copies: u64) -> Result<(), IndexerError> {
    if copies > MAX_PUSH_FIELD_BYTES {
        return Err(IndexerError::TooLarge(format!(
            "push refused, nothing stored: its stream labels and metadata would be copied into its entries' fields \
             as {copies} bytes, over the limit of {MAX_PUSH_FIELD_BYTES} ({FIELD_OVERHEAD} bytes + name + value \
             per field of each entry); send fewer entries per stream or fewer labels"
        )));
    }
    Ok(())
}

/// `POST /loki/api/v1/push`: 204 once the records are durable.
pub async fn push(
    State(state): State<LokiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, IndexerError> {
    let Some(indexer) = state.indexer.clone() else {
        return Err(IndexerError::Unavailable(
            "this server does not accept pushes".into(),
        ));
    };
    let records = decode(&headers, &body)?;
    if records.is_empty() {
        return Ok(StatusCode::NO_CONTENT);
    }
    let seq = next_seq();
    let mut records = records;
    for (i, r) in records.iter_mut().enumerate() {
        r.source = Source {
            agent: "loki-push".into(),
            file: format!("push-{seq}"),
            offset: i as u64,
        };
    }
    indexer.ingest("loki-push", seq, records).await?;
    Ok(StatusCode::NO_CONTENT)
}
