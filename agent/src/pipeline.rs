//! The reader thread: scans, reads, assembles, extracts, enriches and batches, then writes each sealed batch
//! with the file states it covers to the spool before the checkpoint moves. It runs on a dedicated thread (all
//! of its I/O is blocking) and talks to the async side only through the spool and the metrics.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::assemble::{AssembleOptions, Assembler, Event};
use crate::carry::LINK_WAIT;
use crate::checkpoint::{self, Checkpoint, FileState};
use crate::discover::{ChangeWatcher, Discovery, EarlyOpens};
use crate::enrich::Enricher;
use crate::error::AgentError;
use crate::files::{is_rotated_name, FileTable, Tracked};
use crate::identity::{read_head, FileKey, Fingerprint, GzStamp};
use crate::metrics::Metrics;
use crate::options::AgentOptions;
use crate::records::{emit, ensure_meta, fallback, Batch};
use crate::spool::{EntryHeader, Spool, ENTRY_VERSION};
use crate::tail::{HeadChanged, Reader};

/// Bytes read from one file per pass (fairness between files).
const READ_BUDGET: usize = 1 << 20;
/// Longest sleep between passes.
const MAX_IDLE: Duration = Duration::from_millis(100);
/// Shortest interval between two scans triggered by notifications.
const MIN_SCAN_GAP: Duration = Duration::from_millis(100);
/// How often the checkpoint is written when something changed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Sooner when the spool has no file left to reuse and acknowledged entries wait for a checkpoint to free
/// theirs: a checkpoint costs less than creating (and later deleting) a file per batch.
const RECYCLE_GAP: Duration = Duration::from_millis(100);
/// Identities not seen for this long (seconds) and not being read are forgotten.
const FORGET_AFTER_SECS: u64 = 3600;

/// All state of the reader thread.
pub struct Pipeline {
    pub(crate) opts: Arc<AgentOptions>,
    pub(crate) asm_opts: Arc<AssembleOptions>,
    pub(crate) disc: Discovery,
    /// Files opened by the change watcher when they were created (see [`EarlyOpens`]).
    pub(crate) early: EarlyOpens,
    pub(crate) table: FileTable,
    pub(crate) spool: Arc<Spool>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) enricher: Arc<Enricher>,
    pub(crate) batch: Batch,
    next_seq: u64,
    /// No checkpoint existed: files found by the first scan may start at their end (`read_from_end`).
    pub(crate) first_start: bool,
    pub(crate) initial_scan: bool,
    changed: bool,
    spool_full: bool,
    pub(crate) events: Vec<Event>,
    /// Read buffer shared by all files.
    scratch: Vec<u8>,
    pub(crate) gz_failures: HashMap<FileKey, (GzStamp, u32)>,
    pub(crate) deferred: HashMap<FileKey, Instant>,
    /// New short files waiting for their size to settle: size, since when, and whether the inode is one a saved
    /// identity's content was truncated out of (see `found_plain`).
    pub(crate) settling: HashMap<FileKey, (u64, Instant, bool)>,
    /// A file on disk the last scan missed was noticed: scan again soon.
    pub(crate) rescan: bool,
    /// Scans so far.
    pub(crate) scans: u64,
}

impl Pipeline {
    /// Recovers the state: the checkpoint, then every spooled entry newer than it (their file states were
    /// made durable together with their batch).
    pub fn new(
        opts: Arc<AgentOptions>,
        spool: Arc<Spool>,
        spooled: &[EntryHeader],
        metrics: Arc<Metrics>,
        enricher: Arc<Enricher>,
    ) -> Result<Self, AgentError> {
        let include = opts.effective_include();
        let disc = Discovery::new(&include, &opts.exclude)?;
        let cp = checkpoint::load(&opts.data_dir)?;
        let first_start = cp.is_none() && spooled.is_empty();
        let cp = cp.unwrap_or(Checkpoint {
            version: checkpoint::VERSION,
            next_seq: 1,
            files: Vec::new(),
        });
        let mut states: HashMap<String, FileState> =
            cp.files.into_iter().map(|s| (s.id.clone(), s)).collect();
        let mut next_seq = cp.next_seq.max(1);
        for h in spooled {
            if h.seq >= cp.next_seq {
                for f in &h.files {
                    states.insert(f.id.clone(), f.clone());
                }
                for id in &h.removed {
                    states.remove(id);
                }
            }
            next_seq = next_seq.max(h.seq + 1);
        }
        let now = Instant::now();
        let mut table = FileTable::default();
        for (_, s) in states {
            table.insert(Tracked::from_state(s, now));
        }
        info!(
            files = table.files.len(),
            next_seq,
            spooled = spooled.len(),
            first_start,
            "agent state recovered"
        );
        let asm_opts = Arc::new(AssembleOptions {
            max_event_bytes: opts.max_event_bytes,
            multiline_timeout: opts.multiline_timeout,
            ..AssembleOptions::default()
        });
        Ok(Pipeline {
            opts,
            asm_opts,
            early: EarlyOpens::new(disc.clone()),
            disc,
            table,
            spool,
            metrics,
            enricher,
            batch: Batch::default(),
            next_seq,
            first_start,
            initial_scan: true,
            changed: true,
            spool_full: false,
            events: Vec::new(),
            scratch: Vec::new(),
            gz_failures: HashMap::new(),
            deferred: HashMap::new(),
            settling: HashMap::new(),
            rescan: false,
            scans: 0,
        })
    }

    /// The handle through which the change watcher opens created files for this pipeline.
    pub fn early_opens(&self) -> EarlyOpens {
        self.early.clone()
    }

    /// Runs until `stop` is set; then seals what is batched and writes a final checkpoint.
    pub fn run(
        mut self,
        stop: Arc<AtomicBool>,
        wake: Receiver<()>,
        mut watcher: ChangeWatcher,
    ) -> Result<(), AgentError> {
        let mut last_scan: Option<Instant> = None;
        let mut last_cp = Instant::now();
        let mut structural = true;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            structural |= watcher.take_structural() | std::mem::take(&mut self.rescan);
            let scan_due = match last_scan {
                None => true,
                Some(t) => {
                    now - t >= self.opts.poll_interval || (structural && now - t >= MIN_SCAN_GAP)
                }
            };
            if scan_due {
                structural = false;
                let bases: Vec<PathBuf> = self.disc.bases().map(PathBuf::from).collect();
                let active = watcher.ensure(bases.into_iter());
                Metrics::set(&self.metrics.notify_active, u64::from(active));
                self.reconcile(now);
                last_scan = Some(now);
            }
            let busy = self.read_pass(now)?;
            self.flush_expired(now);
            self.handle_detached(now);
            if self
                .batch
                .started
                .is_some_and(|t| now - t >= self.opts.batch_max_wait)
            {
                self.seal_logged();
            }
            let elapsed = now - last_cp;
            let due = (elapsed >= CHECKPOINT_EVERY && (self.changed || self.spool.has_done()))
                || (elapsed >= RECYCLE_GAP
                    && self.spool.out_of_free_files()
                    && self.spool.has_done());
            if due {
                match self.checkpoint() {
                    Ok(()) => last_cp = now,
                    Err(e) => error!(error = %e, "checkpoint failed; retrying"),
                }
            }
            if !busy {
                match wake.recv_timeout(MAX_IDLE) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(MAX_IDLE),
                }
            }
        }
        self.checkpoint()?;
        info!(
            next_seq = self.next_seq,
            "reader stopped, checkpoint written"
        );
        Ok(())
    }

    /// Reads every open file once (up to a budget each). Returns whether more data is likely waiting.
    fn read_pass(&mut self, now: Instant) -> Result<bool, AgentError> {
        let full = self.spool.bytes() >= self.opts.spool_max_bytes;
        if full != self.spool_full {
            self.spool_full = full;
            Metrics::set(&self.metrics.spool_full, u64::from(full));
            if full {
                warn!(
                    limit = self.opts.spool_max_bytes,
                    "spool full; reading paused until the indexer catches up"
                );
            } else {
                info!("spool has room again; reading resumed");
            }
        }
        let ids: Vec<String> = self
            .table
            .files
            .values()
            .filter(|t| t.reader.is_some())
            .map(|t| t.state.id.clone())
            .collect();
        let mut busy = false;
        let mut lag = 0;
        let mut open = 0;
        for id in ids {
            open += 1;
            let Some(t) = self.table.files.get_mut(&id) else {
                continue;
            };
            if !ensure_meta(t, &self.enricher, &self.opts, now) {
                lag += t.lag();
                continue;
            }
            if full {
                lag += t.lag();
                continue;
            }
            if t.live_plain() && self.check_truncated(&id, now) {
                busy = true;
                continue;
            }
            if self
                .table
                .files
                .get(&id)
                .and_then(|t| t.handed_at)
                .is_some_and(|at| now - at < LINK_WAIT)
            {
                continue; // events it handed over are not shipped yet
            }
            if !self.link(&id, now) {
                continue; // an earlier file at its path is read to its end first
            }
            let Some(t) = self.table.files.get_mut(&id) else {
                continue;
            };
            let Tracked {
                reader, asm, state, ..
            } = t;
            let (Some(reader), Some(asm)) = (reader.as_mut(), asm.as_mut()) else {
                continue;
            };
            let events = &mut self.events;
            let mut lines = 0u64;
            let head = Some(state.fp);
            let res = reader.read_lines(READ_BUDGET, &mut self.scratch, head, |line| {
                lines += 1;
                asm.push(line, now, events);
            });
            Metrics::add(&self.metrics.lines_read, lines);
            match res {
                Ok(n) => {
                    Metrics::add(&self.metrics.bytes_read, n as u64);
                    if n > 0 {
                        t.last_growth = now;
                        t.dirty = true;
                    }
                    if n >= READ_BUDGET {
                        busy = true;
                    }
                }
                Err(e) if HeadChanged::is(&e) => {
                    self.new_generation(&id, now);
                    busy = true;
                    continue;
                }
                Err(e) => {
                    warn!(file = %t.state.path.display(), error = %e, "read failed; file set aside");
                    if reader.is_gz() {
                        self.gz_failed(&id);
                    } else {
                        // What it holds (events handed over to it too) is shipped before it is set aside.
                        self.flush_all(&id, false);
                        if let Some(t) = self.table.files.get_mut(&id) {
                            t.detach();
                        }
                    }
                    continue;
                }
            }
            let Some(t) = self.table.files.get_mut(&id) else {
                continue;
            };
            emit(
                &mut self.batch,
                t,
                &mut self.events,
                &self.opts,
                &self.metrics,
            );
            if t.reader.as_ref().is_some_and(|r| r.is_gz() && r.gz_done()) {
                if !self.awaits_successor(&id, now) {
                    self.finish(&id, "compressed copy read to its end");
                }
            } else if let Some(t) = self.table.files.get(&id) {
                lag += t.lag();
            }
            if self.batch.body.len() >= self.opts.batch_max_bytes {
                self.seal_logged();
            }
        }
        Metrics::set(&self.metrics.lag_bytes, lag);
        Metrics::set(&self.metrics.files_watched, open);
        Ok(busy && !full)
    }

    /// Detects truncation of an open plain file (size below the read position or head changed).
    fn check_truncated(&mut self, id: &str, now: Instant) -> bool {
        let Some(t) = self.table.files.get_mut(id) else {
            return false;
        };
        let Some(reader) = t.reader.as_ref() else {
            return false;
        };
        let Some(file) = reader.file() else {
            return false;
        };
        let Ok(meta) = file.metadata() else {
            return false;
        };
        let size = meta.len();
        if size == t.checked_size && size >= reader.read_pos() {
            return false;
        }
        let mut truncated = size < reader.read_pos();
        if !truncated {
            if let Ok(head) = read_head(file) {
                if t.state.fp.len > 0 && !t.state.fp.matches(&head) {
                    truncated = true;
                } else if !t.state.fp.is_full() && head.len() > t.state.fp.len as usize {
                    t.state.fp = Fingerprint::of(&head);
                    t.dirty = true;
                }
            }
        }
        t.checked_size = size;
        if truncated {
            self.new_generation(id, now);
        }
        truncated
    }

    /// Flushes multi-line / partial events whose wait expired.
    fn flush_expired(&mut self, now: Instant) {
        for t in self.table.files.values_mut() {
            if t.meta.is_none() {
                continue;
            }
            if let Some(asm) = t.asm.as_mut() {
                // A rotated file's (renamed away, or at no path any more) unfinished event waits for the next
                // file to continue it.
                let rotated = || t.detached_since.is_some() || is_rotated_name(&t.state.path);
                let wait = if asm.has_unfinished() && rotated() {
                    self.opts.multiline_timeout.max(LINK_WAIT)
                } else {
                    self.opts.multiline_timeout
                };
                asm.flush_expired_after(now, wait, &mut self.events);
                if !self.events.is_empty() {
                    emit(
                        &mut self.batch,
                        t,
                        &mut self.events,
                        &self.opts,
                        &self.metrics,
                    );
                }
            }
        }
        if self.batch.body.len() >= self.opts.batch_max_bytes {
            self.seal_logged();
        }
    }

    /// Flushes the file's assembler into the batch (file finished, truncated or given up). `partial_tail`: the
    /// file really ended, so a last line without `\n` is an event too (else it stays unread).
    pub(crate) fn flush_all(&mut self, id: &str, partial_tail: bool) {
        self.drain(id, |r, a, events| {
            if partial_tail {
                let now = Instant::now();
                r.finish_partial(|l| a.push(l, now, events));
            }
            a.flush_all(events);
        });
    }

    /// The file really ended: its last line without `\n` is pushed as a line (what it completes is shipped).
    pub(crate) fn push_tail(&mut self, id: &str) {
        self.drain(id, |r, a, events| {
            let now = Instant::now();
            r.finish_partial(|l| a.push(l, now, events));
        });
    }

    /// Runs `f` on the file's reader and assembler and ships the events it yields.
    fn drain(&mut self, id: &str, f: impl FnOnce(&mut Reader, &mut Assembler, &mut Vec<Event>)) {
        if let Some(t) = self.table.files.get_mut(id) {
            if t.meta.is_none() {
                t.meta = Some(Arc::new(fallback(t, &self.enricher, &self.opts)));
            }
            let Tracked { reader, asm, .. } = t;
            if let (Some(r), Some(a)) = (reader.as_mut(), asm.as_mut()) {
                f(r, a, &mut self.events);
            }
            emit(
                &mut self.batch,
                t,
                &mut self.events,
                &self.opts,
                &self.metrics,
            );
        }
    }

    fn seal_logged(&mut self) {
        if let Err(e) = self.seal() {
            error!(error = %e, "writing batch to spool failed; will retry");
        }
    }

    /// Writes the batch and the states of the files it touched to the spool.
    fn seal(&mut self) -> Result<(), AgentError> {
        if self.batch.records == 0 {
            return Ok(());
        }
        // Events that started in earlier files: those files count them as emitted with this batch.
        for (c, si) in std::mem::take(&mut self.batch.carried) {
            for (file, start, end) in &c.hops {
                if let Some(t) = self.table.files.get_mut(&**file) {
                    t.handed.retain(|h| *h != (si, *start));
                    t.state.last_emitted[si] = t.state.last_emitted[si].max(*end);
                    if !t.handed.iter().any(|h| h.0 == si) {
                        let held = std::mem::take(&mut t.held_emitted[si]);
                        t.state.last_emitted[si] = t.state.last_emitted[si].max(held);
                    }
                    if t.reader.is_none() {
                        t.state.offset = t.state.offset.max(*end);
                    }
                    if t.handed.is_empty() {
                        t.handed_at = None;
                        if std::mem::take(&mut t.finish_pending) {
                            t.state.finished = true;
                        }
                    }
                    t.dirty = true;
                }
            }
        }
        let files: Vec<FileState> = self
            .table
            .files
            .values_mut()
            .filter(|t| t.dirty)
            .map(|t| t.snapshot())
            .collect();
        let header = EntryHeader {
            v: ENTRY_VERSION,
            seq: self.next_seq,
            records: self.batch.records,
            files,
            removed: self.table.removed.clone(),
        };
        let body = self.batch.frames.compress(&self.batch.body);
        self.spool.write(&header, body)?;
        for t in self.table.files.values_mut() {
            t.dirty = false;
        }
        self.table.removed.clear();
        self.next_seq += 1;
        self.batch.body.clear();
        self.batch.records = 0;
        self.batch.started = None;
        self.changed = true;
        Metrics::add(&self.metrics.batches_spooled, 1);
        Ok(())
    }

    /// Seals, then writes the checkpoint of every identity and removes spool entries it covers.
    fn checkpoint(&mut self) -> Result<(), AgentError> {
        self.seal()?;
        let now_unix = crate::files::now_unix();
        let stale: Vec<String> = self
            .table
            .files
            .values()
            .filter(|t| t.reader.is_none() && t.state.seen_unix + FORGET_AFTER_SECS < now_unix)
            .map(|t| t.state.id.clone())
            .collect();
        for id in stale {
            self.table.remove(&id);
        }
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            next_seq: self.next_seq,
            files: self
                .table
                .files
                .values_mut()
                .map(|t| t.snapshot())
                .collect(),
        };
        checkpoint::save(&self.opts.data_dir, &cp)?;
        self.spool.cleanup(self.next_seq)?;
        self.changed = false;
        Metrics::add(&self.metrics.checkpoints, 1);
        Ok(())
    }

    /// Marks state changes that only the checkpoint records.
    pub(crate) fn touch(&mut self) {
        self.changed = true;
    }
}
