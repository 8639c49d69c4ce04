//! The query engine: picks the partitions overlapping a time range, scans them on a blocking thread under a
//! deadline and a cancellation flag, and merges the per-partition results.
//!
//! Every scan goes through [`scan::scan`], which applies the time range, deleted documents and the
//! per-namespace retention floor from fast fields, so no answer ever contains a record its namespace's
//! retention has expired.

pub mod counts;
pub mod cursor;
pub mod filter;
pub mod scan;
pub mod search;
pub mod text;
pub mod trace;

use crate::catalog::{Catalog, PartitionView};
use crate::error::QueryError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use counts::{
    ErrorCountRequest, ErrorCountResponse, ErrorTopRequest, ErrorTopResponse, Series, TopGroup,
};
pub use filter::Filters;
pub use search::{Direction, SearchRequest, SearchResponse};
pub use trace::{TraceResponse, TraceSummary, UserEventsResponse};

/// Limits and defaults of the engine.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Longest time range one query may cover.
    pub max_range: Duration,
    /// Most events one response may carry (search page size cap, trace length cap).
    pub max_lines: usize,
    /// Page size when the request names none.
    pub default_limit: usize,
    /// Longest a query may run.
    pub timeout: Duration,
    /// Largest regular expression accepted (bytes of compiled program).
    pub max_regex_bytes: usize,
    /// Most memory a query may hold for candidates and groups (estimated).
    pub max_memory_bytes: usize,
    /// Most buckets an error count may return.
    pub max_buckets: usize,
    /// Look-back when a request names no start (`end - default_range`).
    pub default_range: Duration,
    /// Queries scanning at once; more wait (within their timeout) for a slot.
    pub max_concurrent: usize,
    /// Live tails at once; one more is refused (429).
    pub max_tails: usize,
    /// A live tail pings its client this often, and ends when the client has sent nothing (not even a pong)
    /// for 2.5 times as long: a peer gone without closing would hold its place forever.
    pub tail_ping: Duration,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            max_range: Duration::from_secs(31 * 86_400),
            max_lines: 5_000,
            default_limit: 100,
            timeout: Duration::from_secs(30),
            max_regex_bytes: 64 << 10,
            max_memory_bytes: 512 << 20,
            max_buckets: 11_000,
            default_range: Duration::from_secs(7 * 86_400),
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            max_tails: 10,
            tail_ping: Duration::from_secs(30),
        }
    }
}

/// A resolved time range `[start_ns, end_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First ns included.
    pub start_ns: i64,
    /// First ns excluded.
    pub end_ns: i64,
}

/// Deadline and cancellation flag of one running query, checked between segments and blocks of documents.
#[derive(Debug, Clone)]
pub struct Ctx {
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    timeout: Duration,
}

impl Ctx {
    /// A context that expires after `timeout`.
    pub fn new(timeout: Duration) -> Ctx {
        Ctx {
            cancel: Arc::new(AtomicBool::new(false)),
            deadline: Instant::now() + timeout,
            timeout,
        }
    }
    /// True once the query must stop (cancelled or past its deadline).
    pub fn stopped(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
    /// `Err` once the query must stop.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(QueryError::Cancelled)
        } else if Instant::now() >= self.deadline {
            Err(QueryError::Timeout(self.timeout))
        } else {
            Ok(())
        }
    }
    /// Requests the query to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Sets the cancellation flag when dropped: dropping a request future (client gone) stops its scan.
struct CancelOnDrop(Ctx);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The query engine over a [`Catalog`].
pub struct Engine {
    catalog: Arc<dyn Catalog>,
    opts: QueryOptions,
    slots: Arc<tokio::sync::Semaphore>,
    tails: Arc<tokio::sync::Semaphore>,
}

impl Engine {
    /// An engine over the indexer's store.
    pub fn new(store: Arc<logmind_indexer::Store>, opts: QueryOptions) -> Arc<Self> {
        Self::with_catalog(Arc::new(crate::catalog::StoreCatalog(store)), opts)
    }

    /// An engine over any catalog (tests and benchmarks use [`crate::catalog::DirCatalog`]).
    pub fn with_catalog(catalog: Arc<dyn Catalog>, opts: QueryOptions) -> Arc<Self> {
        use tokio::sync::Semaphore;
        let slots = Arc::new(Semaphore::new(
            opts.max_concurrent.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let tails = Arc::new(Semaphore::new(opts.max_tails.min(Semaphore::MAX_PERMITS)));
        Arc::new(Engine {
            catalog,
            opts,
            slots,
            tails,
        })
    }

    /// A place for one live tail, held as long as it runs; `Busy` when `max_tails` are running.
    pub fn tail_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, QueryError> {
        self.tails.clone().try_acquire_owned().map_err(|_| {
            QueryError::Busy(format!(
                "too many live tails: {} are running (query.max_tails); close one or retry later",
                self.opts.max_tails
            ))
        })
    }

    /// The engine's limits.
    pub fn options(&self) -> &QueryOptions {
        &self.opts
    }

    /// The catalog it reads.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// Current time (the catalog's clock), ns.
    pub fn now_ns(&self) -> i64 {
        self.catalog.now_ns()
    }

    /// Resolves optional `start`/`end` strings (RFC 3339, Unix s/ns, `now-1h`) into a checked range.
    pub fn resolve_range(
        &self,
        start: Option<&str>,
        end: Option<&str>,
    ) -> Result<TimeRange, QueryError> {
        let now = self.now_ns();
        let parse = |s: &str| {
            logmind_protocol::time::parse_time(s, now)
                .map_err(|e| QueryError::BadRequest(e.to_string()))
        };
        let end_ns = match end {
            Some(e) if !e.is_empty() => parse(e)?,
            _ => now.saturating_add(1),
        };
        let start_ns = match start {
            Some(s) if !s.is_empty() => parse(s)?,
            _ => end_ns.saturating_sub(dur_ns(self.opts.default_range)),
        };
        if start_ns >= end_ns {
            return Err(QueryError::BadRequest(format!(
                "start {start_ns} is not before end {end_ns}; give start < end"
            )));
        }
        let max = dur_ns(self.opts.max_range);
        if end_ns.saturating_sub(start_ns) > max {
            return Err(QueryError::Limit(format!(
                "time range of {} exceeds the limit of {}; narrow start/end",
                logmind_protocol::units::format_duration(Duration::from_nanos(
                    u64::try_from(end_ns.saturating_sub(start_ns)).unwrap_or(u64::MAX)
                )),
                logmind_protocol::units::format_duration(self.opts.max_range)
            )));
        }
        Ok(TimeRange { start_ns, end_ns })
    }

    /// Compiles a regular expression within the configured size limit (used by line filters).
    pub fn compile_regex(&self, pattern: &str) -> Result<regex::Regex, QueryError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(self.opts.max_regex_bytes)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => QueryError::Limit(format!(
                    "regex {pattern:?} compiles to more than {limit} bytes; simplify it"
                )),
                other => QueryError::BadRequest(format!("regex {pattern:?}: {other}")),
            })
    }

    /// The partitions overlapping a range, oldest first.
    pub(crate) fn partitions(&self, range: TimeRange) -> Vec<PartitionView> {
        let mut parts = self.catalog.searchers(range.start_ns, range.end_ns);
        parts.retain(|p| p.start_ns < range.end_ns && p.end_ns > range.start_ns);
        parts.sort_by_key(|p| p.start_ns);
        parts
    }

    /// Runs `f` on a blocking thread with a deadline; dropping the returned future cancels it.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine, &Ctx) -> Result<T, QueryError> + Send + 'static,
    {
        let ctx = Ctx::new(self.opts.timeout);
        let guard = CancelOnDrop(ctx.clone());
        let timeout = self.opts.timeout;
        let permit =
            match tokio::time::timeout(timeout, Arc::clone(&self.slots).acquire_owned()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(QueryError::Internal("query slots closed".into())),
                Err(_) => return Err(QueryError::Timeout(timeout)),
            };
        let engine = Arc::clone(self);
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&engine, &ctx)
        });
        // A little grace over the deadline: the scan notices it itself and returns a clean error.
        let out = match tokio::time::timeout(timeout + Duration::from_millis(250), handle).await {
            Err(_) => Err(QueryError::Timeout(timeout)),
            Ok(Err(join)) => Err(QueryError::Internal(format!("query worker failed: {join}"))),
            Ok(Ok(r)) => r,
        };
        drop(guard);
        out
    }
}

/// A duration in ns, saturating.
pub(crate) fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
