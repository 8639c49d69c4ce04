//! Indexer configuration ([`IndexerOptions`], [`RetentionPolicy`]) and the injected [`Clock`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Source of "now" (ns since the epoch); injected so retention and partitioning are testable.
pub trait Clock: Send + Sync + 'static {
    /// Current time in ns since the Unix epoch.
    fn now_ns(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        logmind_protocol::time::now_nanos()
    }
}

/// A manually driven clock for tests.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock showing `now_ns`.
    pub fn new(now_ns: i64) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(now_ns))
    }
    /// Sets the time.
    pub fn set(&self, now_ns: i64) {
        self.0.store(now_ns, std::sync::atomic::Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        self.0
            .fetch_add(dur_ns(by), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A duration in ns, saturating at `i64::MAX`.
pub fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// What to keep and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPolicy {
    /// Global retention period (default 7 days).
    pub period: Duration,
    /// Per-namespace periods (shorter or longer than the global one).
    pub namespaces: BTreeMap<String, Duration>,
    /// Disk cap over all partitions: the oldest partitions are evicted first past it.
    pub max_disk_bytes: Option<u64>,
    /// How often retention runs on its own.
    pub check_interval: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            period: Duration::from_secs(7 * 86_400),
            namespaces: BTreeMap::new(),
            max_disk_bytes: None,
            check_interval: Duration::from_secs(300),
        }
    }
}

impl RetentionPolicy {
    /// The retention period of a namespace.
    pub fn period_for(&self, namespace: &str) -> Duration {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.period)
    }
    /// The longest period of any namespace (a partition is dropped whole only past it).
    pub fn longest(&self) -> Duration {
        self.namespaces
            .values()
            .copied()
            .fold(self.period, Duration::max)
    }
}

/// Everything the indexer needs to run.
#[derive(Clone)]
pub struct IndexerOptions {
    /// Root of the WAL, partitions, templates and dedup state.
    pub data_dir: PathBuf,
    /// Length of one time partition (default one day, aligned on the epoch, i.e. UTC days).
    pub partition: Duration,
    /// How often new data is committed (made visible to queries).
    pub commit_interval: Duration,
    /// Retention policy.
    pub retention: RetentionPolicy,
    /// Largest request body accepted (compressed size), else 413.
    pub max_body_bytes: usize,
    /// Largest decompressed batch accepted, else 413.
    pub max_decompressed_bytes: usize,
    /// Bytes accepted but not yet indexed above which ingest answers 429.
    pub max_pending_bytes: u64,
    /// tantivy writer heap per open partition.
    pub writer_heap_bytes: usize,
    /// Size after which a WAL segment is closed and a new one started.
    pub wal_segment_bytes: u64,
    /// Partitions not written for this long have their writer closed.
    pub writer_idle: Duration,
    /// Bearer tokens allowed to ingest (empty: ingest is open).
    pub ingest_tokens: Vec<String>,
    /// Bearer tokens allowed to query (empty: queries are open).
    pub query_tokens: Vec<String>,
    /// Bearer tokens allowed everything (empty: admin endpoints are open).
    pub admin_tokens: Vec<String>,
    /// Source of time.
    pub clock: Arc<dyn Clock>,
    /// Fault injection for tests (off unless a test arms it).
    #[doc(hidden)]
    pub faults: Faults,
}

/// Fault injection for tests. While `drop_documents` is set, the indexing thread's hand-over of documents to
/// tantivy fails and the documents are dropped, as they are when a tantivy worker fails (disk full, I/O error).
/// While `fail_commits_after` is armed, partition commits fail after that many more have succeeded.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Faults {
    drop_documents: Arc<std::sync::atomic::AtomicBool>,
    /// Partition commits still allowed before they fail; negative: off.
    commits_left: Arc<std::sync::atomic::AtomicI64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_documents: Default::default(),
            commits_left: Arc::new(std::sync::atomic::AtomicI64::new(-1)),
        }
    }
}

impl Faults {
    /// Arms or disarms the hand-over failure.
    pub fn drop_documents(&self, on: bool) {
        self.drop_documents
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the hand-over fails now.
    pub(crate) fn dropping_documents(&self) -> bool {
        self.drop_documents
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Lets `n` more partition commits succeed, then fails every one until disarmed (`None`).
    pub fn fail_commits_after(&self, n: Option<u32>) {
        self.commits_left
            .store(n.map_or(-1, i64::from), std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether this partition commit fails (counts the ones allowed).
    pub(crate) fn commit_fails(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        match self.commits_left.load(SeqCst) {
            n if n < 0 => false,
            0 => true,
            n => {
                self.commits_left.store(n - 1, SeqCst);
                false
            }
        }
    }
}

impl std::fmt::Debug for IndexerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexerOptions")
            .field("data_dir", &self.data_dir)
            .field("partition", &self.partition)
            .field("commit_interval", &self.commit_interval)
            .field("retention", &self.retention)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_decompressed_bytes", &self.max_decompressed_bytes)
            .field("max_pending_bytes", &self.max_pending_bytes)
            .field("writer_heap_bytes", &self.writer_heap_bytes)
            .field("wal_segment_bytes", &self.wal_segment_bytes)
            .field("ingest_tokens", &self.ingest_tokens.len())
            .field("query_tokens", &self.query_tokens.len())
            .field("admin_tokens", &self.admin_tokens.len())
            .finish()
    }
}

impl Default for IndexerOptions {
    fn default() -> Self {
        IndexerOptions {
            data_dir: PathBuf::from("data"),
            partition: Duration::from_secs(86_400),
            commit_interval: Duration::from_secs(1),
            retention: RetentionPolicy::default(),
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: logmind_protocol::DEFAULT_MAX_DECOMPRESSED,
            max_pending_bytes: 256 << 20,
            writer_heap_bytes: 32 << 20,
            wal_segment_bytes: 64 << 20,
            writer_idle: Duration::from_secs(120),
            ingest_tokens: Vec::new(),
            query_tokens: Vec::new(),
            admin_tokens: Vec::new(),
            clock: Arc::new(SystemClock),
            faults: Faults::default(),
        }
    }
}

impl IndexerOptions {
    /// Options with defaults rooted at `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        IndexerOptions {
            data_dir: data_dir.into(),
            ..Default::default()
        }
    }
}
