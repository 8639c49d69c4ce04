//! The indexer's HTTP API: ingest, health, readiness, metrics, stats and admin (retention, snapshot).
//!
//! Every error answers `{"error": "..."}` ([`ErrorBody`]) with the status of [`IndexerError::status`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::wal_writer::BatchBody;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use logmind_protocol::{
    decode_ndjson_max, lz4_decompress, BatchError, CompressError, ErrorBody, LogRecord,
};
use serde_json::json;

use crate::auth::{check_token, Role};
use crate::error::IndexerError;
use crate::indexer::Indexer;
use crate::metrics::Gauges;

impl IntoResponse for IndexerError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if let IndexerError::Overloaded {
            retry_after_secs, ..
        } = &self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if matches!(self, IndexerError::Unavailable(_)) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

impl Indexer {
    /// `/api/v1/ingest`, `/health`, `/ready`, `/metrics`, `/api/v1/stats`, `/api/v1/admin/{retention,snapshot}`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(logmind_protocol::INGEST_PATH, post(ingest))
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .route("/api/v1/stats", get(stats))
            .route("/api/v1/admin/retention", post(admin_retention))
            .route("/api/v1/admin/snapshot", post(admin_snapshot))
            .with_state(self.clone())
    }
}

fn auth(idx: &Indexer, role: Role, headers: &HeaderMap) -> Result<(), IndexerError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    check_token(idx.auth(), role, h).map_err(IndexerError::from)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Most bytes of a refused body read and discarded before answering.
const DRAIN_MAX_BYTES: usize = 64 << 20;

/// Reads and discards up to `limit` bytes of a body (bounded in time), without buffering it.
async fn drain(body: Body, limit: usize) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen >= limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
}

async fn ingest(
    State(idx): State<Arc<Indexer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IndexerError> {
    let res = ingest_inner(&idx, &headers, body).await;
    if let Err(e) = &res {
        match e.status() {
            429 | 503 => {}
            _ => {
                idx.metrics().refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        tracing::debug!(error = %e, "ingest refused");
    }
    res
}

async fn ingest_inner(
    idx: &Arc<Indexer>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, IndexerError> {
    auth(idx, Role::Ingest, headers)?;
    let agent = header_str(headers, logmind_protocol::HEADER_AGENT)
        .ok_or_else(|| {
            IndexerError::BadRequest(
                "missing X-Logmind-Agent header (the sending agent's stable id)".into(),
            )
        })?
        .to_string();
    let seq_raw = header_str(headers, logmind_protocol::HEADER_BATCH).ok_or_else(|| {
        IndexerError::BadRequest(
            "missing X-Logmind-Batch header (the batch sequence, a u64)".into(),
        )
    })?;
    let seq: u64 = seq_raw.trim().parse().map_err(|_| {
        IndexerError::BadRequest(format!(
            "X-Logmind-Batch {seq_raw:?} is not a u64 batch sequence"
        ))
    })?;
    let lz4 = match header_str(headers, header::CONTENT_ENCODING.as_str()) {
        None | Some("identity") => false,
        Some(v) if v.eq_ignore_ascii_case(logmind_protocol::ENCODING_LZ4) => true,
        Some(other) => {
            return Err(IndexerError::BadRequest(format!(
                "unsupported Content-Encoding {other:?} (send lz4 or nothing)"
            )))
        }
    };
    let max_body = idx.options().max_body_bytes;
    let too_large = || {
        IndexerError::TooLarge(format!(
            "request body exceeds the limit of {max_body} bytes; send smaller batches"
        ))
    };
    if let Some(len) =
        header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok())
    {
        if len > max_body {
            // Read (and drop) a bounded amount of the body first, so the client gets the 413 instead of a
            // connection reset while it is still writing.
            drain(body, len.min(DRAIN_MAX_BYTES)).await;
            return Err(too_large());
        }
    }
    // Refuse early (before reading and decompressing) when indexing is already behind: bounds memory.
    let pending = idx.pending_bytes();
    let limit = idx.options().max_pending_bytes;
    if pending >= limit {
        idx.metrics().throttled.fetch_add(1, Ordering::Relaxed);
        return Err(IndexerError::Overloaded {
            pending_bytes: pending,
            limit,
            retry_after_secs: 1,
        });
    }
    let raw = axum::body::to_bytes(body, max_body)
        .await
        .map_err(|_| too_large())?;
    let cap = idx.options().max_decompressed_bytes;
    // However small its records, one batch's decoded records never take more memory than the larger of the
    // pending limit and the decompressed-size cap.
    let max_records =
        usize::try_from(limit).unwrap_or(usize::MAX).max(cap) / std::mem::size_of::<LogRecord>();
    let (body, records) = tokio::task::spawn_blocking(move || {
        let ndjson = if lz4 {
            lz4_decompress(&raw, cap).map_err(|e| match e {
                CompressError::TooLarge { cap } => IndexerError::TooLarge(format!(
                    "decompressed batch exceeds the limit of {cap} bytes; send smaller batches"
                )),
                CompressError::Invalid(m) => {
                    IndexerError::BadRequest(format!("body is not a valid lz4 frame: {m}"))
                }
            })?
        } else {
            if raw.len() > cap {
                return Err(IndexerError::TooLarge(format!(
                    "batch exceeds the limit of {cap} bytes; send smaller batches"
                )));
            }
            raw.to_vec()
        };
        let records = decode_ndjson_max(&ndjson, max_records).map_err(|e| match e {
            BatchError::TooManyRecords { max } => IndexerError::TooLarge(format!(
                "batch refused, nothing stored: more than {max} records (each takes {} bytes of memory until \
                 indexed; max_pending_bytes and max_decompressed_bytes allow {max}); send smaller batches",
                std::mem::size_of::<LogRecord>()
            )),
            e => IndexerError::BadRequest(format!("batch refused, nothing stored: {e}")),
        })?;
        // the WAL keeps the lz4 frame: the agent's own when it sent one
        let body = if lz4 {
            BatchBody {
                lz4: Vec::from(raw),
                ndjson_len: ndjson.len() as u64,
            }
        } else {
            BatchBody::from_ndjson(&ndjson)
        };
        Ok((body, records))
    })
    .await
    .map_err(|e| IndexerError::Unavailable(format!("decode task failed: {e}")))??;
    let outcome = idx.ingest_batch(&agent, seq, body, records).await?;
    Ok(Json(outcome).into_response())
}

fn status_json(ok: bool, body: serde_json::Value) -> Response {
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn health(State(idx): State<Arc<Indexer>>) -> Response {
    let idx2 = idx.clone();
    let body = tokio::task::spawn_blocking(move || idx2.health_json()).await;
    match body {
        Ok((ok, v)) => status_json(ok, v),
        Err(e) => IndexerError::Unavailable(format!("health task failed: {e}")).into_response(),
    }
}

async fn ready(State(idx): State<Arc<Indexer>>) -> Response {
    let ok = !idx.is_closed();
    status_json(ok, json!({ "ready": ok }))
}

async fn metrics(State(idx): State<Arc<Indexer>>) -> Response {
    let idx2 = idx.clone();
    match tokio::task::spawn_blocking(move || idx2.metrics().render(idx2.gauges())).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            text,
        )
            .into_response(),
        Err(e) => IndexerError::Unavailable(format!("metrics task failed: {e}")).into_response(),
    }
}

async fn stats(State(idx): State<Arc<Indexer>>, headers: HeaderMap) -> Response {
    if let Err(e) = auth(&idx, Role::Query, &headers) {
        return e.into_response();
    }
    let idx2 = idx.clone();
    match tokio::task::spawn_blocking(move || idx2.stats_json()).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => IndexerError::Unavailable(format!("stats task failed: {e}")).into_response(),
    }
}

async fn admin_retention(State(idx): State<Arc<Indexer>>, headers: HeaderMap) -> Response {
    if let Err(e) = auth(&idx, Role::Admin, &headers) {
        return e.into_response();
    }
    Json(idx.run_retention().await).into_response()
}

#[derive(serde::Deserialize)]
struct SnapshotRequest {
    dir: std::path::PathBuf,
}

async fn admin_snapshot(
    State(idx): State<Arc<Indexer>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(e) = auth(&idx, Role::Admin, &headers) {
        return e.into_response();
    }
    let req: SnapshotRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return IndexerError::BadRequest(format!(
                "snapshot request must be {{\"dir\": \"/path\"}}: {e}"
            ))
            .into_response()
        }
    };
    match idx.snapshot(&req.dir).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

impl Indexer {
    /// Current gauges (walks the partition directories: call off the async runtime).
    pub fn gauges(&self) -> Gauges {
        let store = self.store();
        Gauges {
            partitions: store.partitions().len() as u64,
            open_writers: self.health.open_writers.load(Ordering::Relaxed),
            docs: store.num_docs(),
            index_bytes: store.disk_bytes(),
            wal_bytes: self.wal.bytes(),
            pending_bytes: self.pending_bytes(),
            templates: store.templates().len() as u64,
        }
    }

    /// `/health` body and whether it is healthy (blocking: walks directories).
    pub fn health_json(&self) -> (bool, serde_json::Value) {
        let g = self.gauges();
        let m = self.metrics();
        let wal_err = self.wal.last_error.lock().clone();
        let idx_err = self.health.error.lock().clone();
        let fsyncs = m.fsyncs.load(Ordering::Relaxed);
        let batches = m.fsync_batches.load(Ordering::Relaxed);
        let last = self.health.last_retention.lock().clone();
        let avail = crate::fsutil::available_bytes(&self.opts.data_dir);
        let cap = self.opts.retention.max_disk_bytes;
        let disk_full = avail.is_some_and(|a| a < 64 << 20);
        let closed = self.is_closed();
        let ok = wal_err.is_none() && idx_err.is_none() && !disk_full && !closed;
        let st = |ok: bool| if ok { "ok" } else { "failing" };
        let body = json!({
            "status": if ok { "healthy" } else { "unhealthy" },
            "version": env!("CARGO_PKG_VERSION"),
            "components": {
                "wal": {
                    "status": st(wal_err.is_none() && !closed),
                    "error": wal_err,
                    "bytes": g.wal_bytes,
                    "fsyncs": fsyncs,
                    "batches_per_fsync": if fsyncs == 0 { 0.0 } else { batches as f64 / fsyncs as f64 },
                    "fsync_mean_seconds": m.fsync_latency.mean_secs(),
                },
                "index": {
                    "status": st(idx_err.is_none()),
                    "error": idx_err,
                    "partitions": g.partitions,
                    "open_writers": g.open_writers,
                    "docs": g.docs,
                    "pending_bytes": g.pending_bytes,
                    "indexed_lsn": self.health.indexed_lsn.load(Ordering::Relaxed),
                    "committed_lsn": self.health.committed_lsn.load(Ordering::Relaxed),
                    "last_commit_ns": self.health.last_commit_ns.load(Ordering::Relaxed),
                    "templates": g.templates,
                },
                "retention": {
                    "status": st(last.as_ref().is_none_or(|r| r.errors.is_empty())),
                    "period_seconds": self.opts.retention.period.as_secs(),
                    "last_run": last,
                    "partitions_dropped_total": m.retention_partitions_dropped.load(Ordering::Relaxed),
                    "docs_deleted_total": m.retention_docs_deleted.load(Ordering::Relaxed),
                },
                "disk": {
                    "status": if disk_full { "full" } else { "ok" },
                    "index_bytes": g.index_bytes,
                    "wal_bytes": g.wal_bytes,
                    "available_bytes": avail,
                    "max_disk_bytes": cap,
                },
            }
        });
        (ok, body)
    }

    /// `/api/v1/stats` body (blocking: walks directories).
    pub fn stats_json(&self) -> serde_json::Value {
        let store = self.store();
        let parts: Vec<serde_json::Value> = store
            .partitions()
            .iter()
            .rev()
            .map(|p| {
                let s = p.reader.searcher();
                json!({
                    "name": p.name,
                    "start_ns": p.start_ns,
                    "end_ns": p.end_ns,
                    "docs": s.num_docs(),
                    "segments": s.segment_readers().len(),
                    "bytes": crate::fsutil::dir_size(&p.dir),
                    "committed_lsn": p.committed_lsn.load(Ordering::Relaxed),
                })
            })
            .collect();
        let m = self.metrics();
        let fsyncs = m.fsyncs.load(Ordering::Relaxed);
        let batches = m.fsync_batches.load(Ordering::Relaxed);
        json!({
            "docs": store.num_docs(),
            "index_bytes": store.disk_bytes(),
            "wal_bytes": self.wal.bytes(),
            "pending_bytes": self.pending_bytes(),
            "templates": store.templates().len(),
            "ingest": {
                "batches": m.ingest_batches.load(Ordering::Relaxed),
                "records": m.ingest_records.load(Ordering::Relaxed),
                "bytes": m.ingest_bytes.load(Ordering::Relaxed),
                "duplicates": m.duplicates.load(Ordering::Relaxed),
                "rejected_old": m.rejected_old.load(Ordering::Relaxed),
                "fsyncs": fsyncs,
                "batches_per_fsync": if fsyncs == 0 { 0.0 } else { batches as f64 / fsyncs as f64 },
            },
            "partitions": parts,
        })
    }
}
