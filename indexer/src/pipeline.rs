//! The indexing thread: the single owner of every tantivy writer.
//!
//! It receives durable batches in LSN order, assigns each record its template (in LSN order, so a replay after
//! a crash reproduces the same assignments), adds documents to the writer of the record's partition, and every
//! `commit_interval` saves the template state, then commits each written partition with the LSN it now holds as
//! the commit payload, reloads readers, and lets the WAL drop segments every partition has committed past.
//! Retention and snapshots run on this thread too, so they never race a writer.
//!
//! A failure to index or commit is sticky. tantivy may have dropped documents it had queued (a worker that
//! failed), so the thread discards every writer's uncommitted documents, stops committing (the WAL keeps
//! every batch since the last commit), refuses ingest with 503 and, with backoff, indexes those batches
//! again from the WAL. Only a commit after that replay clears the failure; before, a later commit could have
//! recorded a dropped batch as committed and let the WAL delete it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logmind_protocol::LogRecord;
use parking_lot::Mutex;
use tantivy::indexer::UserOperation;
use tantivy::{IndexWriter, TantivyDocument};
use tokio::sync::oneshot;

use crate::error::{IndexerError, Result};
use crate::metrics::Metrics;
use crate::options::{dur_ns, Faults};
use crate::retention::RetentionReport;
use crate::snapshot::SnapshotReport;
use crate::store::{payload_lsn, set_committed, Partition, Store};
use crate::wal_writer::{IndexBatch, WalState};

/// Messages to the indexing thread.
#[derive(Debug)]
pub enum Msg {
    /// A durable batch to index.
    Batch(IndexBatch),
    /// Commit now; answers the committed LSN.
    Commit(oneshot::Sender<Result<u64>>),
    /// Run retention now.
    Retention(oneshot::Sender<RetentionReport>),
    /// Commit and copy everything into the directory.
    Snapshot(PathBuf, oneshot::Sender<Result<SnapshotReport>>),
    /// Final commit, close writers, stop.
    Shutdown(oneshot::Sender<Result<()>>),
}

/// Health of the index side, shared with the HTTP layer.
#[derive(Debug, Default)]
pub struct IndexHealth {
    /// Last indexing or commit failure, cleared once indexing recovered.
    pub error: Mutex<Option<String>>,
    /// Indexing failed and has not recovered yet: ingest is refused.
    pub failed: std::sync::atomic::AtomicBool,
    /// Wall time (ns) of the last successful commit.
    pub last_commit_ns: AtomicI64,
    /// Highest LSN indexed.
    pub indexed_lsn: AtomicU64,
    /// Highest LSN committed in every partition.
    pub committed_lsn: AtomicU64,
    /// Open writers.
    pub open_writers: AtomicU64,
    /// The last retention report.
    pub last_retention: Mutex<Option<RetentionReport>>,
}

/// Documents handed to tantivy's indexing thread per message. Its queue holds 10,000 messages: one document
/// each had this thread wait on the full queue for every document (a third of its time spinning and switching);
/// groups of 4 cut that fourfold and bound the queue at 40,000 documents (tens of MB).
const ADD_GROUP: usize = 4;

pub(crate) struct OpenWriter {
    pub(crate) partition: Arc<Partition>,
    pub(crate) writer: IndexWriter<TantivyDocument>,
    /// Documents not yet handed to the writer (fewer than [`ADD_GROUP`]; none between batches).
    queued: Vec<UserOperation<TantivyDocument>>,
    pub(crate) dirty: bool,
    pub(crate) last_write: Instant,
    faults: Faults,
}

impl OpenWriter {
    /// Hands the queued documents to tantivy as one group.
    fn hand_over(&mut self) -> Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        if self.faults.dropping_documents() {
            self.queued.clear();
            return Err(IndexerError::Unavailable(
                "injected fault: documents dropped".into(),
            ));
        }
        if let Err(e) = self.writer.run(self.queued.drain(..)) {
            return Err(IndexerError::index("add documents", &self.partition.dir)(e));
        }
        self.dirty = true;
        self.last_write = Instant::now();
        Ok(())
    }
}

/// The indexing thread's state.
pub struct Pipeline {
    pub(crate) store: Arc<Store>,
    pub(crate) wal: Option<Arc<WalState>>,
    pub(crate) writers: HashMap<i64, OpenWriter>,
    pub(crate) last_lsn: u64,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) pending: Arc<AtomicU64>,
    pub(crate) health: Arc<IndexHealth>,
    pub(crate) templates_path: PathBuf,
    pub(crate) writer_heap: usize,
    pub(crate) writer_idle: Duration,
    pub(crate) commit_interval: Duration,
    /// About the memory of the documents handed to tantivy since the last commit: its queue (10,000 groups of
    /// [`ADD_GROUP`]) holds them until indexed, outside `pending`.
    pub(crate) handed_bytes: u64,
    /// Past this, a batch is followed by a commit (which waits until tantivy has indexed everything queued)
    /// instead of waiting for the timer: `max_pending_bytes`.
    pub(crate) max_handed_bytes: u64,
    /// Highest LSN received: every batch up to it is durable in the WAL.
    pub(crate) seen_lsn: u64,
    /// Set while indexing has failed and not yet recovered (see the module docs).
    pub(crate) failed: Option<Failure>,
    /// Failures since the last recovery (sets the backoff).
    pub(crate) failures: u32,
    pub(crate) faults: Faults,
}

/// A sticky indexing failure.
#[derive(Debug)]
pub(crate) struct Failure {
    error: String,
    next_try: Instant,
}

/// Longest wait between two attempts to index again from the WAL.
const MAX_RECOVERY_BACKOFF: Duration = Duration::from_secs(30);

/// About what a record's document takes in tantivy's queue: its text twice (indexed fields and the stored JSON)
/// plus the fixed parts.
fn doc_bytes(r: &LogRecord) -> u64 {
    let fields: usize = r.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
    (2 * (r.message.len() + fields) + 512) as u64
}

impl Pipeline {
    /// Indexes one batch's records. Records already in their partition's last commit (replay) or older than
    /// their namespace's retention are skipped; every record still trains the template miner.
    pub fn index_records(&mut self, lsn: u64, records: &[LogRecord]) -> Result<u64> {
        let queued = self.queue_records(lsn, records);
        // Whatever was queued is handed over, even when a later record failed.
        let mut handed = Ok(());
        for w in self.writers.values_mut() {
            if let Err(e) = w.hand_over() {
                handed = Err(e);
            }
        }
        let added = queued?;
        handed?;
        self.last_lsn = self.last_lsn.max(lsn);
        self.health
            .indexed_lsn
            .store(self.last_lsn, Ordering::Relaxed);
        self.metrics
            .indexed_records
            .fetch_add(added, Ordering::Relaxed);
        if self.handed_bytes > self.max_handed_bytes {
            // Large documents: commit now rather than let tantivy's queue hold more than the pending bound.
            tracing::debug!(
                bytes = self.handed_bytes,
                "committing early: documents queued since the last commit"
            );
            self.commit()?;
        }
        Ok(added)
    }

    /// Builds the documents of a batch's records and queues them at their partitions' writers.
    fn queue_records(&mut self, lsn: u64, records: &[LogRecord]) -> Result<u64> {
        let now = self.store.clock().now_ns();
        let store = self.store.clone();
        let mut added = 0;
        for r in records {
            let template = self.store.templates().assign(&r.message);
            let period = dur_ns(self.store.retention().period_for(&r.namespace));
            if r.ts < now.saturating_sub(period) {
                continue;
            }
            let start = self.store.partition_start(r.ts);
            let w = self.writer(start)?;
            if lsn <= w.partition.committed_lsn.load(Ordering::SeqCst) {
                continue;
            }
            let doc = store.schema().to_document(r, template);
            w.queued.push(UserOperation::Add(doc));
            if w.queued.len() >= ADD_GROUP {
                w.hand_over()?;
            }
            self.handed_bytes += doc_bytes(r);
            added += 1;
        }
        Ok(added)
    }

    /// The open writer of a partition, opening partition and writer when needed.
    pub(crate) fn writer(&mut self, start: i64) -> Result<&mut OpenWriter> {
        if !self.writers.contains_key(&start) {
            let partition = self.store.open_partition(start)?;
            let writer = partition
                .index
                .writer_with_num_threads(1, self.writer_heap.max(15_000_000))
                .map_err(IndexerError::index("open writer", &partition.dir))?;
            tracing::debug!(partition = %partition.name, "partition writer opened");
            self.writers.insert(
                start,
                OpenWriter {
                    partition,
                    writer,
                    queued: Vec::with_capacity(ADD_GROUP),
                    dirty: false,
                    last_write: Instant::now(),
                    faults: self.faults.clone(),
                },
            );
            self.health
                .open_writers
                .store(self.writers.len() as u64, Ordering::Relaxed);
        }
        self.writers
            .get_mut(&start)
            .ok_or_else(|| IndexerError::Unavailable("partition writer vanished".into()))
    }

    /// Commits every written partition with the current LSN as payload, reloads readers, truncates the WAL.
    /// While indexing has failed, nothing is committed: see [`Pipeline::recover`].
    pub fn commit(&mut self) -> Result<u64> {
        if let Some(f) = &self.failed {
            return Err(IndexerError::Unavailable(f.error.clone()));
        }
        let started = Instant::now();
        let dirty: Vec<i64> = self
            .writers
            .iter()
            .filter(|(_, w)| w.dirty)
            .map(|(s, _)| *s)
            .collect();
        if !dirty.is_empty() {
            // Templates first: every record of this commit has trained the miner, so after a crash the
            // persisted miner knows them all and replayed records map to the same ids.
            if self.store.templates().is_dirty() {
                if let Err(e) = self.store.templates().save(&self.templates_path) {
                    self.metrics.commit_errors.fetch_add(1, Ordering::Relaxed);
                    self.fail(&IndexerError::from(e));
                    return Err(IndexerError::Unavailable(self.failure_text()));
                }
            }
            let payload = format!("{{\"lsn\":{}}}", self.last_lsn);
            for start in dirty {
                let Some(w) = self.writers.get_mut(&start) else {
                    continue;
                };
                let dir = w.partition.dir.clone();
                let res = if self.faults.commit_fails() {
                    Err(tantivy::TantivyError::SystemError(
                        "injected fault: commit failed".into(),
                    ))
                } else {
                    w.writer.prepare_commit().and_then(|mut pc| {
                        pc.set_payload(&payload);
                        pc.commit()
                    })
                };
                if let Err(e) = res {
                    self.metrics.commit_errors.fetch_add(1, Ordering::Relaxed);
                    let err = IndexerError::index("commit", &dir)(e);
                    self.fail(&err);
                    return Err(err);
                }
                set_committed(&w.partition, self.last_lsn);
                w.dirty = false;
                if let Err(e) = w.partition.reader.reload() {
                    tracing::warn!(partition = %w.partition.name, error = %e, "reader reload failed");
                }
            }
            self.metrics.commit_latency.observe(started.elapsed());
            self.health
                .last_commit_ns
                .store(self.store.clock().now_ns(), Ordering::Relaxed);
        }
        self.handed_bytes = 0;
        self.health
            .committed_lsn
            .store(self.last_lsn, Ordering::Relaxed);
        if let Some(wal) = &self.wal {
            // The commit holds: a segment not deleted now is deleted by a later commit.
            if let Err(e) = wal.truncate_through(self.last_lsn) {
                tracing::error!(error = %e, "deleting committed wal segments failed; will retry");
            }
        }
        Ok(self.last_lsn)
    }

    /// Closes writers not written for `writer_idle` (keeps memory bounded with many partitions).
    fn close_idle(&mut self) {
        let idle = self.writer_idle;
        let doomed: Vec<i64> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.dirty && w.last_write.elapsed() >= idle)
            .map(|(s, _)| *s)
            .collect();
        for s in doomed {
            self.close_writer(s);
        }
    }

    /// Closes one writer (waits for its merges).
    pub(crate) fn close_writer(&mut self, start: i64) {
        if let Some(w) = self.writers.remove(&start) {
            let name = w.partition.name.clone();
            if let Err(e) = w.writer.wait_merging_threads() {
                tracing::warn!(partition = %name, error = %e, "closing a writer failed");
            }
            tracing::debug!(partition = %name, "partition writer closed");
        }
        self.health
            .open_writers
            .store(self.writers.len() as u64, Ordering::Relaxed);
    }

    fn commit_logged(&mut self) {
        if let Err(e) = self.commit() {
            // A failure that made indexing fail was logged by `fail`, with what happens next.
            if self.failed.is_none() {
                tracing::error!(error = %e, "commit failed; will retry");
            }
        }
    }

    /// Makes an indexing failure sticky: drops every writer with its uncommitted documents (tantivy may have
    /// lost some of them already), refuses commits and ingest until [`Pipeline::recover`] has indexed the WAL
    /// again. During the WAL replay of an open the open fails instead, and replays again when retried.
    pub(crate) fn fail(&mut self, e: &IndexerError) {
        self.failures = self.failures.saturating_add(1);
        // A corrupt WAL does not heal by itself: retried daily, so the error stays visible without the work.
        let backoff = if matches!(e, IndexerError::Corrupt { .. }) {
            Duration::from_secs(86_400)
        } else {
            Duration::from_secs(1 << (self.failures - 1).min(5)).min(MAX_RECOVERY_BACKOFF)
        };
        let error = format!(
            "indexing failed, uncommitted batches are indexed again from the WAL (retry in {}s, failure {}): {e}",
            backoff.as_secs(),
            self.failures
        );
        tracing::error!(error = %e, retry_in_secs = backoff.as_secs(), failures = self.failures, lsn = self.seen_lsn,
            "indexing failed: uncommitted documents dropped, ingest refused until the WAL is indexed again");
        self.writers.clear();
        self.handed_bytes = 0;
        // What is committed is what each partition's commit on disk says: a commit that reported an error may
        // still have written its meta.json, and the replay must not add those documents again.
        for p in self.store.partitions() {
            set_committed(&p, payload_lsn(&p.index));
        }
        self.last_lsn = self.health.committed_lsn.load(Ordering::Relaxed);
        self.health
            .indexed_lsn
            .store(self.last_lsn, Ordering::Relaxed);
        self.health.open_writers.store(0, Ordering::Relaxed);
        self.metrics.index_failures.fetch_add(1, Ordering::Relaxed);
        *self.health.error.lock() = Some(error.clone());
        self.health.failed.store(true, Ordering::SeqCst);
        self.failed = Some(Failure {
            error,
            next_try: Instant::now() + backoff,
        });
    }

    fn failure_text(&self) -> String {
        self.failed
            .as_ref()
            .map_or_else(|| "indexing failed".to_string(), |f| f.error.clone())
    }

    /// Commits, or after a failure indexes every batch since the last commit again from the WAL and then
    /// commits. Answers the committed LSN.
    pub fn recover(&mut self) -> Result<u64> {
        if self.failed.take().is_none() {
            return self.commit();
        }
        let res = self
            .replay_wal()
            .and_then(|n| self.commit().map(|lsn| (n, lsn)));
        match res {
            Ok((replayed, lsn)) => {
                tracing::info!(
                    replayed,
                    lsn,
                    failures = self.failures,
                    "indexing recovered from the WAL"
                );
                self.failures = 0;
                self.metrics
                    .index_recoveries
                    .fetch_add(1, Ordering::Relaxed);
                *self.health.error.lock() = None;
                self.health.failed.store(false, Ordering::SeqCst);
                Ok(lsn)
            }
            Err(e) => {
                if self.failed.is_none() {
                    self.fail(&e);
                }
                Err(IndexerError::Unavailable(self.failure_text()))
            }
        }
    }

    /// Indexes one WAL entry again (an undecodable one is logged and skipped); answers the records indexed.
    pub(crate) fn replay_entry(&mut self, entry: &crate::wal::WalEntry) -> Result<u64> {
        let added = match logmind_protocol::decode_ndjson(&entry.body) {
            Ok(records) => self.index_records(entry.lsn, &records)?,
            Err(e) => {
                tracing::error!(lsn = entry.lsn, error = %e, "undecodable wal entry skipped");
                0
            }
        };
        self.last_lsn = self.last_lsn.max(entry.lsn);
        Ok(added)
    }

    /// Indexes every WAL entry after the last commit up to the last LSN received (each partition skips what it
    /// has committed). LSNs after a commit are dense: a gap is a damaged segment, and an error rather than a
    /// commit that would let the WAL delete what was never indexed. Answers the records indexed.
    fn replay_wal(&mut self) -> Result<u64> {
        let Some(wal) = self.wal.clone() else {
            return Ok(0);
        };
        let through = self.seen_lsn;
        let mut last = self.health.committed_lsn.load(Ordering::Relaxed);
        let mut replayed = 0;
        for (_, path) in crate::wal::list_segments(&wal.dir)? {
            let (entries, _) = crate::wal::read_segment_through(&path, through)?;
            for entry in entries {
                if entry.lsn <= last {
                    continue;
                }
                if entry.lsn != last + 1 {
                    return Err(IndexerError::Corrupt {
                        what: "wal segment",
                        path: path.display().to_string(),
                        reason: format!(
                            "lsn {} follows {last}: acknowledged batches are missing",
                            entry.lsn
                        ),
                    });
                }
                last = entry.lsn;
                replayed += self.replay_entry(&entry)?;
            }
        }
        if last < through {
            return Err(IndexerError::Corrupt {
                what: "wal",
                path: wal.dir.display().to_string(),
                reason: format!(
                    "it ends at lsn {last}, but batches up to {through} were made durable"
                ),
            });
        }
        self.last_lsn = self.last_lsn.max(through);
        Ok(replayed)
    }

    /// Runs the thread until shutdown.
    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut next_commit = Instant::now() + self.commit_interval;
        loop {
            let due = self.failed.as_ref().map_or(next_commit, |f| f.next_try);
            let wait = due.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Batch(b)) => {
                    self.seen_lsn = self.seen_lsn.max(b.lsn);
                    // After a failure, batches wait in the WAL for the replay.
                    if self.failed.is_none() {
                        if let Err(e) = self.index_records(b.lsn, &b.records) {
                            if self.failed.is_none() {
                                self.fail(&e);
                            }
                        }
                    }
                    self.pending.fetch_sub(b.pending, Ordering::Relaxed);
                }
                Ok(Msg::Commit(tx)) => {
                    let _ = tx.send(self.recover());
                }
                Ok(Msg::Retention(tx)) => {
                    let report = self.run_retention();
                    let _ = tx.send(report);
                }
                Ok(Msg::Snapshot(dir, tx)) => {
                    let _ = tx.send(self.snapshot(&dir));
                }
                Ok(Msg::Shutdown(tx)) => {
                    let res = self.commit();
                    let starts: Vec<i64> = self.writers.keys().copied().collect();
                    for s in starts {
                        self.close_writer(s);
                    }
                    let _ = tx.send(res.map(|_| ()));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if self.failed.is_none() {
                        self.commit_logged();
                    }
                    return;
                }
            }
            if let Some(f) = &self.failed {
                if Instant::now() >= f.next_try {
                    let _ = self.recover();
                }
            } else if Instant::now() >= next_commit {
                self.commit_logged();
                self.close_idle();
                next_commit = Instant::now() + self.commit_interval;
            }
        }
    }
}
