//! The WAL writer thread: group commit.
//!
//! Ingest handlers queue [`WalRequest`]s on a bounded channel. The thread takes everything queued, checks each
//! batch against the dedup table, appends the new ones to the active segment, calls `fdatasync` once, and only
//! then forwards the batches to the indexing thread and answers every waiting handler. Concurrent batches thus
//! share one fsync.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use logmind_protocol::LogRecord;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::dedup::DedupTable;
use crate::error::{IndexerError, Result};
use crate::metrics::Metrics;
use crate::wal::{self, Segment, WalEntry};

/// Largest group written with one fsync.
const MAX_GROUP_BYTES: usize = 16 << 20;

/// A batch waiting to become durable.
#[derive(Debug)]
pub struct WalRequest {
    /// Sending agent.
    pub agent: String,
    /// Batch sequence.
    pub seq: u64,
    /// The NDJSON, lz4-framed (what goes into the WAL).
    pub body: BatchBody,
    /// The decoded records still to index (records too old already dropped).
    pub records: Vec<LogRecord>,
    /// Bytes reserved against `max_pending_bytes` (released once indexed).
    pub pending: u64,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<WalOutcome>>,
}

/// A batch's NDJSON as the WAL keeps it: an lz4 frame (the agent's frame as received, so the WAL writes ~4x
/// fewer bytes than the NDJSON and nothing is compressed twice), with the NDJSON's length for accounting.
#[derive(Debug, Clone)]
pub struct BatchBody {
    /// The lz4 frame.
    pub lz4: Vec<u8>,
    /// Length of the NDJSON it holds.
    pub ndjson_len: u64,
}

impl BatchBody {
    /// Frames NDJSON that arrived uncompressed.
    pub fn from_ndjson(ndjson: &[u8]) -> BatchBody {
        BatchBody {
            lz4: logmind_protocol::lz4_compress(ndjson),
            ndjson_len: ndjson.len() as u64,
        }
    }
}

/// What happened to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalOutcome {
    /// Written and fsynced at this LSN.
    Durable {
        /// The batch's LSN.
        lsn: u64,
    },
    /// Already durable earlier; nothing written.
    Duplicate,
}

/// A durable batch on its way to the index.
#[derive(Debug)]
pub struct IndexBatch {
    /// Its LSN.
    pub lsn: u64,
    /// Its records.
    pub records: Vec<LogRecord>,
    /// Pending bytes to release once indexed.
    pub pending: u64,
}

/// WAL state shared between the writer thread, the indexing thread (truncation) and snapshots.
#[derive(Debug)]
pub struct WalState {
    /// `<data_dir>/wal`.
    pub dir: PathBuf,
    /// Where the dedup table is saved before segments are deleted.
    pub dedup_path: PathBuf,
    /// Batches already durable. The writer holds this lock while it appends a group.
    pub dedup: Mutex<DedupTable>,
    /// Segments, oldest first; the last one is being appended to.
    pub segments: Mutex<Vec<Segment>>,
    /// Last write/fsync failure, cleared by the next success.
    pub last_error: Mutex<Option<String>>,
}

impl WalState {
    /// Opens the WAL: loads the dedup table, reads every segment in order (calling `replay` for each entry and
    /// recording it in the dedup table), drops torn tails and starts a fresh active segment.
    /// Returns the state, the active file and the next LSN.
    /// `lsn_floor` is the highest LSN any partition has committed: LSNs continue above it even when every
    /// segment holding them has been deleted.
    pub fn open(
        data_dir: &Path,
        lsn_floor: u64,
        mut replay: impl FnMut(WalEntry) -> Result<()>,
    ) -> Result<(Arc<WalState>, File, u64)> {
        let dir = data_dir.join("wal");
        std::fs::create_dir_all(&dir).map_err(IndexerError::io("create", &dir))?;
        let dedup_path = data_dir.join("dedup.json");
        let mut dedup = DedupTable::load(&dedup_path)?;
        let mut segments = Vec::new();
        let mut max_lsn = 0u64;
        for (first, path) in wal::list_segments(&dir)? {
            let (entries, valid) = wal::read_segment(&path)?;
            let on_disk = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(valid);
            if on_disk != valid {
                wal::truncate_to(&path, valid)?;
            }
            if entries.is_empty() {
                std::fs::remove_file(&path).map_err(IndexerError::io("remove", &path))?;
                continue;
            }
            let last = entries.last().map_or(0, |e| e.lsn);
            for e in entries {
                if e.lsn <= max_lsn {
                    return Err(IndexerError::Corrupt {
                        what: "wal segment",
                        path: path.display().to_string(),
                        reason: format!("lsn {} does not follow {max_lsn}", e.lsn),
                    });
                }
                max_lsn = e.lsn;
                dedup.insert(&e.agent, e.seq);
                replay(e)?;
            }
            segments.push(Segment {
                path,
                first_lsn: first,
                last_lsn: last,
                bytes: valid,
            });
        }
        let next = max_lsn.max(lsn_floor) + 1;
        let path = wal::segment_path(&dir, next);
        let file = wal::open_for_append(&path)?;
        crate::fsutil::sync_dir(&dir)?;
        segments.push(Segment {
            path,
            first_lsn: next,
            last_lsn: 0,
            bytes: 0,
        });
        let state = Arc::new(WalState {
            dir,
            dedup_path,
            dedup: Mutex::new(dedup),
            segments: Mutex::new(segments),
            last_error: Mutex::new(None),
        });
        Ok((state, file, next))
    }

    /// Deletes closed segments whose entries are all committed (LSN ≤ `lsn`), saving the dedup table first.
    pub fn truncate_through(&self, lsn: u64) -> Result<usize> {
        let doomed: Vec<Segment> = {
            let segs = self.segments.lock();
            let n = segs.len().saturating_sub(1);
            segs[..n]
                .iter()
                .filter(|s| s.last_lsn <= lsn)
                .cloned()
                .collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        let table = self.dedup.lock().clone();
        table.save(&self.dedup_path)?;
        for s in &doomed {
            std::fs::remove_file(&s.path).map_err(IndexerError::io("remove", &s.path))?;
        }
        crate::fsutil::sync_dir(&self.dir)?;
        self.segments
            .lock()
            .retain(|s| !doomed.iter().any(|d| d.path == s.path));
        tracing::debug!(segments = doomed.len(), lsn, "wal segments truncated");
        Ok(doomed.len())
    }

    /// Bytes of WAL on disk.
    pub fn bytes(&self) -> u64 {
        self.segments.lock().iter().map(|s| s.bytes).sum()
    }
}

/// The writer thread's state.
pub struct WalWriter {
    /// Shared state.
    pub state: Arc<WalState>,
    /// Active segment file.
    pub file: File,
    /// Next LSN to assign.
    pub next_lsn: u64,
    /// Roll segments past this size.
    pub segment_bytes: u64,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Durable batches go here.
    pub index_tx: std::sync::mpsc::Sender<crate::pipeline::Msg>,
    /// Released when a batch is refused as duplicate.
    pub pending: Arc<std::sync::atomic::AtomicU64>,
}

impl WalWriter {
    /// Runs until the request channel closes.
    pub fn run(mut self, mut rx: mpsc::Receiver<WalRequest>) {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut bytes = group[0].body.lz4.len();
            while bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.body.lz4.len();
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.write_group(group, &mut buf);
        }
        tracing::debug!("wal writer stopped");
    }

    fn write_group(&mut self, group: Vec<WalRequest>, buf: &mut Vec<u8>) {
        buf.clear();
        let mut outcomes = Vec::with_capacity(group.len());
        let first_lsn = self.next_lsn;
        let mut lsn = self.next_lsn;
        let mut dedup = self.state.dedup.lock();
        for r in &group {
            if dedup.insert(&r.agent, r.seq) {
                wal::encode_entry(lsn, &r.agent, r.seq, &r.body.lz4, buf);
                outcomes.push(WalOutcome::Durable { lsn });
                lsn += 1;
            } else {
                outcomes.push(WalOutcome::Duplicate);
            }
        }
        let started = Instant::now();
        let result = if buf.is_empty() {
            Ok(())
        } else {
            wal::append_group(&mut self.file, buf)
        };
        if let Err(e) = result {
            drop(dedup);
            self.fail(group, outcomes, e);
            return;
        }
        let written = lsn - first_lsn;
        self.next_lsn = lsn;
        // Segment bookkeeping is updated under the dedup lock so a snapshot sees both agree.
        let roll = {
            let mut segs = self.state.segments.lock();
            match segs.last_mut() {
                Some(active) => {
                    active.bytes += buf.len() as u64;
                    if written > 0 {
                        active.last_lsn = lsn - 1;
                    }
                    active.bytes >= self.segment_bytes
                }
                None => false,
            }
        };
        drop(dedup);
        if written > 0 {
            self.metrics.fsync_latency.observe(started.elapsed());
            self.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .fsync_batches
                .fetch_add(written, Ordering::Relaxed);
            *self.state.last_error.lock() = None;
        }
        for (r, outcome) in group.into_iter().zip(outcomes) {
            match outcome {
                WalOutcome::Durable { lsn } => {
                    self.metrics.ingest_batches.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .ingest_records
                        .fetch_add(r.records.len() as u64, Ordering::Relaxed);
                    self.metrics
                        .ingest_bytes
                        .fetch_add(r.body.ndjson_len, Ordering::Relaxed);
                    let _ = self.index_tx.send(crate::pipeline::Msg::Batch(IndexBatch {
                        lsn,
                        records: r.records,
                        pending: r.pending,
                    }));
                }
                WalOutcome::Duplicate => {
                    self.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
                    self.pending.fetch_sub(r.pending, Ordering::Relaxed);
                }
            }
            let _ = r.reply.send(Ok(outcome));
        }
        if roll {
            if let Err(e) = self.roll() {
                tracing::error!(error = %e, "wal segment roll failed; continuing in the current segment");
            }
        }
    }

    /// Undoes a failed group: dedup entries removed, file cut back, every request answered 503.
    fn fail(&mut self, group: Vec<WalRequest>, outcomes: Vec<WalOutcome>, e: std::io::Error) {
        self.metrics.wal_errors.fetch_add(1, Ordering::Relaxed);
        let msg = format!("wal write failed: {e}");
        tracing::error!(error = %e, "wal write or fsync failed; batches refused");
        {
            let mut dedup = self.state.dedup.lock();
            for (r, o) in group.iter().zip(&outcomes) {
                if matches!(o, WalOutcome::Durable { .. }) {
                    dedup.remove(&r.agent, r.seq);
                }
            }
        }
        let valid = self.state.segments.lock().last().map_or(0, |s| s.bytes);
        if let Err(te) = self.file.set_len(valid) {
            tracing::error!(error = %te, "cannot cut the wal back after a failed write");
        }
        *self.state.last_error.lock() = Some(msg.clone());
        for r in group {
            self.pending.fetch_sub(r.pending, Ordering::Relaxed);
            let _ = r.reply.send(Err(IndexerError::Unavailable(msg.clone())));
        }
    }

    fn roll(&mut self) -> Result<()> {
        let path = wal::segment_path(&self.state.dir, self.next_lsn);
        let file = wal::open_for_append(&path)?;
        crate::fsutil::sync_dir(&self.state.dir)?;
        self.file = file;
        self.state.segments.lock().push(Segment {
            path,
            first_lsn: self.next_lsn,
            last_lsn: 0,
            bytes: 0,
        });
        Ok(())
    }
}
