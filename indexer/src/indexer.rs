//! [`Indexer`]: opens the store, replays the WAL, runs the WAL writer and indexing threads, and is the one
//! entry point for ingest, commits, retention, snapshots and shutdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use logmind_protocol::{encode_ndjson, IngestResponse, LogRecord};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::auth::AuthTokens;
use crate::error::{IndexerError, Result};
use crate::metrics::Metrics;
use crate::options::{dur_ns, IndexerOptions};
use crate::pipeline::{IndexHealth, Msg, Pipeline};
use crate::retention::RetentionReport;
use crate::snapshot::SnapshotReport;
use crate::store::Store;
use crate::template::TemplateMiner;
use crate::wal_writer::{BatchBody, WalOutcome, WalRequest, WalState, WalWriter};

/// Requests queued for the WAL writer before senders wait.
const WAL_QUEUE: usize = 1024;
/// Longest agent id accepted.
pub const MAX_AGENT_BYTES: usize = 256;

/// The result of one ingest: the protocol answer plus the records refused as too old.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestOutcome {
    /// Records made durable (0 for a duplicate).
    pub accepted: u64,
    /// True when the batch was already durable.
    pub duplicate: bool,
    /// Records older than their namespace's retention, refused (not counted in `accepted`).
    pub rejected_old: u64,
}

impl From<IngestOutcome> for IngestResponse {
    fn from(o: IngestOutcome) -> Self {
        IngestResponse {
            accepted: o.accepted,
            duplicate: o.duplicate,
        }
    }
}

/// The running indexer.
pub struct Indexer {
    pub(crate) opts: IndexerOptions,
    pub(crate) store: Arc<Store>,
    pub(crate) wal: Arc<WalState>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health: Arc<IndexHealth>,
    pub(crate) pending: Arc<AtomicU64>,
    pub(crate) auth: AuthTokens,
    wal_tx: Mutex<Option<mpsc::Sender<WalRequest>>>,
    pipe_tx: Mutex<Option<std::sync::mpsc::Sender<Msg>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
    started_ns: i64,
    /// When records older than retention were last reported in the log (ns; 0 = never).
    old_warned_ns: std::sync::atomic::AtomicI64,
}

/// Refusals of records older than retention are logged at most this often (they are counted always).
const OLD_WARN_EVERY_NS: i64 = 60 * 1_000_000_000;

impl Indexer {
    /// Opens the data dir, replays the WAL past every partition's last commit, and starts the WAL writer,
    /// indexing and retention tasks. Must be called inside a tokio runtime.
    pub async fn open(opts: IndexerOptions) -> Result<Arc<Indexer>> {
        let o = opts.clone();
        let idx = tokio::task::spawn_blocking(move || Self::open_blocking(o))
            .await
            .map_err(|e| IndexerError::Unavailable(format!("open task failed: {e}")))??;
        let idx = Arc::new(idx);
        let weak = Arc::downgrade(&idx);
        let every = opts
            .retention
            .check_interval
            .max(std::time::Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(idx) = weak.upgrade() else { return };
                if idx.closed.load(Ordering::SeqCst) {
                    return;
                }
                idx.run_retention().await;
            }
        });
        Ok(idx)
    }

    fn open_blocking(opts: IndexerOptions) -> Result<Indexer> {
        let dir = &opts.data_dir;
        std::fs::create_dir_all(dir).map_err(IndexerError::io("create data dir", dir))?;
        let templates_path = dir.join("templates.json");
        let miner = TemplateMiner::open(&templates_path)?;
        let store = Arc::new(Store::open(
            dir,
            opts.partition,
            opts.retention.clone(),
            miner,
            opts.clock.clone(),
        )?);
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(IndexHealth::default());
        let pending = Arc::new(AtomicU64::new(0));
        let mut pipeline = Pipeline {
            store: store.clone(),
            wal: None,
            writers: Default::default(),
            last_lsn: 0,
            metrics: metrics.clone(),
            pending: pending.clone(),
            health: health.clone(),
            templates_path,
            writer_heap: opts.writer_heap_bytes,
            writer_idle: opts.writer_idle,
            commit_interval: opts.commit_interval,
            handed_bytes: 0,
            max_handed_bytes: opts.max_pending_bytes,
            seen_lsn: 0,
            failed: None,
            failures: 0,
            faults: opts.faults.clone(),
        };
        let mut replayed = 0u64;
        let lsn_floor = store
            .partitions()
            .iter()
            .map(|p| p.committed_lsn.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0);
        let (wal, file, next_lsn) = WalState::open(dir, lsn_floor, |entry| {
            replayed += pipeline.replay_entry(&entry)?;
            Ok(())
        })?;
        pipeline.last_lsn = pipeline.last_lsn.max(next_lsn - 1);
        pipeline.seen_lsn = pipeline.last_lsn;
        pipeline.wal = Some(wal.clone());
        pipeline.commit()?;
        tracing::info!(data_dir = %dir.display(), replayed, next_lsn, partitions = store.partitions().len(), "indexer opened");

        let (pipe_tx, pipe_rx) = std::sync::mpsc::channel();
        let (wal_tx, wal_rx) = mpsc::channel(WAL_QUEUE);
        let writer = WalWriter {
            state: wal.clone(),
            file,
            next_lsn,
            segment_bytes: opts.wal_segment_bytes,
            metrics: metrics.clone(),
            index_tx: pipe_tx.clone(),
            pending: pending.clone(),
        };
        let spawn = |name: &str| std::thread::Builder::new().name(name.to_string());
        let t1 = spawn("logmind-wal")
            .spawn(move || writer.run(wal_rx))
            .map_err(IndexerError::io("spawn thread", dir))?;
        let t2 = spawn("logmind-index")
            .spawn(move || pipeline.run(pipe_rx))
            .map_err(IndexerError::io("spawn thread", dir))?;
        let auth = AuthTokens {
            ingest: opts.ingest_tokens.clone(),
            query: opts.query_tokens.clone(),
            admin: opts.admin_tokens.clone(),
        };
        let started_ns = opts.clock.now_ns();
        Ok(Indexer {
            opts,
            store,
            wal,
            metrics,
            health,
            pending,
            auth,
            wal_tx: Mutex::new(Some(wal_tx)),
            pipe_tx: Mutex::new(Some(pipe_tx)),
            threads: Mutex::new(vec![t1, t2]),
            closed: AtomicBool::new(false),
            started_ns,
            old_warned_ns: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// The store queries read.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The options it runs with.
    pub fn options(&self) -> &IndexerOptions {
        &self.opts
    }

    /// The configured tokens.
    pub fn auth(&self) -> &AuthTokens {
        &self.auth
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// When it was opened (ns).
    pub fn started_ns(&self) -> i64 {
        self.started_ns
    }

    /// Bytes accepted but not yet indexed.
    pub fn pending_bytes(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Ingests records (same path as HTTP): durable when this returns Ok.
    pub async fn ingest(
        &self,
        agent: &str,
        seq: u64,
        records: Vec<LogRecord>,
    ) -> Result<IngestResponse> {
        let body = BatchBody::from_ndjson(&encode_ndjson(&records));
        self.ingest_batch(agent, seq, body, records)
            .await
            .map(Into::into)
    }

    /// Ingests a decoded batch whose NDJSON body is `body`; answers once it is durable.
    pub async fn ingest_batch(
        &self,
        agent: &str,
        seq: u64,
        body: BatchBody,
        mut records: Vec<LogRecord>,
    ) -> Result<IngestOutcome> {
        if agent.is_empty() || agent.len() > MAX_AGENT_BYTES {
            return Err(IndexerError::BadRequest(format!(
                "agent id must be 1 to {MAX_AGENT_BYTES} bytes, got {}",
                agent.len()
            )));
        }
        if self.health.failed.load(Ordering::SeqCst) {
            // The WAL keeps what was acknowledged; new batches wait at their agents until indexing recovered.
            let why = self.health.error.lock().clone().unwrap_or_default();
            return Err(IndexerError::Unavailable(why));
        }
        let now = self.opts.clock.now_ns();
        let retention = &self.opts.retention;
        let before = records.len();
        let mut newest_old = None;
        records.retain(|r| {
            let keep = r.ts >= now.saturating_sub(dur_ns(retention.period_for(&r.namespace)));
            if !keep {
                newest_old = newest_old.max(Some(r.ts));
            }
            keep
        });
        let rejected_old = (before - records.len()) as u64;
        if let Some(ts) = newest_old {
            self.warn_old(agent, rejected_old, ts, now);
        }
        let size = body.ndjson_len;
        let limit = self.opts.max_pending_bytes;
        let prev = self.pending.fetch_add(size, Ordering::SeqCst);
        if prev > 0 && prev + size > limit {
            self.pending.fetch_sub(size, Ordering::SeqCst);
            self.metrics.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(IndexerError::Overloaded {
                pending_bytes: prev,
                limit,
                retry_after_secs: 1,
            });
        }
        let accepted = records.len() as u64;
        let (reply, rx) = oneshot::channel();
        let req = WalRequest {
            agent: agent.to_string(),
            seq,
            body,
            records,
            pending: size,
            reply,
        };
        let tx = self.wal_tx.lock().clone();
        let sent = match tx {
            Some(tx) => tx.send(req).await.is_ok(),
            None => false,
        };
        if !sent {
            self.pending.fetch_sub(size, Ordering::SeqCst);
            return Err(IndexerError::Unavailable("indexer is shutting down".into()));
        }
        let outcome = rx
            .await
            .map_err(|_| IndexerError::Unavailable("wal writer stopped".into()))??;
        if rejected_old > 0 {
            self.metrics
                .rejected_old
                .fetch_add(rejected_old, Ordering::Relaxed);
        }
        Ok(match outcome {
            WalOutcome::Durable { .. } => IngestOutcome {
                accepted,
                duplicate: false,
                rejected_old,
            },
            WalOutcome::Duplicate => IngestOutcome {
                accepted: 0,
                duplicate: true,
                rejected_old: 0,
            },
        })
    }

    /// Logs (at most once a minute) that records older than retention were refused, with what to do about it.
    fn warn_old(&self, agent: &str, refused: u64, newest_ts: i64, now: i64) {
        let last = self.old_warned_ns.load(Ordering::Relaxed);
        if last != 0 && now - last < OLD_WARN_EVERY_NS {
            return;
        }
        if self
            .old_warned_ns
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let age_h = (now - newest_ts) / 3_600_000_000_000;
        tracing::warn!(
            agent,
            refused,
            newest_refused_age_hours = age_h,
            retention = %logmind_protocol::units::format_duration(self.opts.retention.period),
            "refused records older than the retention period (counted in logmind_ingest_rejected_old_total); \
             a longer retention (--retention) keeps such data, `logmind generate --start now-1h` writes recent data"
        );
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let sent = match &*self.pipe_tx.lock() {
            Some(p) => p.send(make(tx)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(IndexerError::Unavailable("indexer is shut down".into()));
        }
        rx.await
            .map_err(|_| IndexerError::Unavailable("indexing thread stopped".into()))
    }

    /// Commits everything indexed so far (makes it visible); returns the committed LSN.
    pub async fn commit(&self) -> Result<u64> {
        self.ask(Msg::Commit).await?
    }

    /// Runs retention now.
    pub async fn run_retention(&self) -> RetentionReport {
        match self.ask(Msg::Retention).await {
            Ok(r) => r,
            Err(e) => RetentionReport {
                ran_at_ns: self.opts.clock.now_ns(),
                errors: vec![e.to_string()],
                ..Default::default()
            },
        }
    }

    /// Writes a consistent snapshot into `dir` (missing or empty) while ingest continues.
    pub async fn snapshot(&self, dir: &std::path::Path) -> Result<SnapshotReport> {
        let dir = dir.to_path_buf();
        self.ask(|tx| Msg::Snapshot(dir, tx)).await?
    }

    /// True once shut down.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Stops accepting batches, waits for queued ones, commits and stops the threads.
    pub async fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Closing the WAL queue lets the writer finish what is queued and exit.
        drop(self.wal_tx.lock().take());
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
        let mut threads = threads.into_iter();
        let wal_thread = threads.next();
        tokio::task::spawn_blocking(move || wal_thread.map(|t| t.join()))
            .await
            .map_err(|e| IndexerError::Unavailable(format!("shutdown: {e}")))?;
        let res = self.ask(Msg::Shutdown).await;
        drop(self.pipe_tx.lock().take());
        let rest: Vec<JoinHandle<()>> = threads.collect();
        tokio::task::spawn_blocking(move || {
            for t in rest {
                let _ = t.join();
            }
        })
        .await
        .map_err(|e| IndexerError::Unavailable(format!("shutdown: {e}")))?;
        res?
    }
}
