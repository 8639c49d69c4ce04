//! `search`: filtered full-text search, newest (or oldest) first, with exact cursor pagination.

use crate::catalog::PartitionView;
use crate::engine::cursor::EventKey;
use crate::engine::filter::{self, Filters};
use crate::engine::scan::{scan, Visitor};
use crate::engine::{Ctx, Engine, TimeRange};
use crate::error::QueryError;
use logmind_protocol::LogRecord;
use serde::{Deserialize, Serialize};
use tantivy::query::Query;
use tantivy::{DocAddress, DocId, SegmentReader};

/// Result order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Newest first (default).
    #[default]
    Backward,
    /// Oldest first.
    Forward,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Keyword filters.
    pub filters: Filters,
    /// Full-text query on `message`.
    pub q: Option<String>,
    /// Start/end as typed (`None` → defaults).
    pub start: Option<String>,
    /// End as typed.
    pub end: Option<String>,
    /// Page size (`None` → default).
    pub limit: Option<usize>,
    /// Order.
    pub direction: Direction,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The events, in the requested order.
    pub events: Vec<LogRecord>,
    /// Pass back as `cursor` for the next page; `null` when this page was not full (no more events).
    pub next_cursor: Option<String>,
    /// Cursor after the last event returned (or the one given when none were): follow live data with
    /// `direction=forward` by passing it back even when the page was not full.
    pub tail_cursor: Option<String>,
}

/// Estimated bytes held per candidate (address + ts).
const CANDIDATE_BYTES: usize = 24;
/// Estimated bytes per loaded record.
const RECORD_BYTES: usize = 2048;

/// Candidate addresses, keeping the best `k` by ts plus every tie of the k-th.
pub(crate) struct TopTs {
    k: usize,
    forward: bool,
    part: u32,
    seg: u32,
    pub(crate) hits: Vec<(i64, u32, u32, DocId)>,
    threshold: Option<i64>,
    max_hits: usize,
}

impl TopTs {
    pub(crate) fn new(k: usize, forward: bool, max_memory: usize) -> TopTs {
        TopTs {
            k: k.max(1),
            forward,
            part: 0,
            seg: 0,
            hits: Vec::new(),
            threshold: None,
            max_hits: (max_memory / CANDIDATE_BYTES).max(1024),
        }
    }
    fn better_or_eq(&self, a: i64, b: i64) -> bool {
        if self.forward {
            a <= b
        } else {
            a >= b
        }
    }
    pub(crate) fn prune(&mut self) {
        if self.hits.len() <= self.k {
            return;
        }
        let forward = self.forward;
        let k = self.k;
        self.hits.select_nth_unstable_by(k - 1, |a, b| {
            if forward {
                a.0.cmp(&b.0)
            } else {
                b.0.cmp(&a.0)
            }
        });
        let kth = self.hits[k - 1].0;
        self.hits
            .retain(|h| if forward { h.0 <= kth } else { h.0 >= kth });
        self.threshold = Some(kth);
    }
}

impl Visitor for TopTs {
    fn segment(&mut self, part: usize, seg: u32, _r: &SegmentReader) -> Result<(), QueryError> {
        self.part = part as u32;
        self.seg = seg;
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        if let Some(t) = self.threshold {
            if !self.better_or_eq(ts, t) {
                return;
            }
        }
        self.hits.push((ts, self.part, self.seg, doc));
        if self.hits.len() >= 2 * self.k + 1024 {
            self.prune();
        }
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        if self.hits.len() > self.max_hits {
            return Err(QueryError::Limit(format!(
                "more than {} events share one timestamp; narrow the query",
                self.max_hits
            )));
        }
        Ok(())
    }
}

/// Every match (bounded by `max`).
pub(crate) struct AllHits {
    part: u32,
    seg: u32,
    pub(crate) hits: Vec<(i64, u32, u32, DocId)>,
    max: usize,
    overflow: bool,
}

impl AllHits {
    pub(crate) fn new(max: usize) -> AllHits {
        AllHits {
            part: 0,
            seg: 0,
            hits: Vec::new(),
            max,
            overflow: false,
        }
    }
    /// True when more than `max` matched (only the first `max` are kept).
    pub(crate) fn overflowed(&self) -> bool {
        self.overflow
    }
}

impl Visitor for AllHits {
    fn segment(&mut self, part: usize, seg: u32, _r: &SegmentReader) -> Result<(), QueryError> {
        self.part = part as u32;
        self.seg = seg;
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        if self.hits.len() < self.max {
            self.hits.push((ts, self.part, self.seg, doc));
        } else {
            self.overflow = true;
        }
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        Ok(())
    }
}

/// Loads the records of `hits` with their keys.
pub(crate) fn load(
    engine: &Engine,
    parts: &[PartitionView],
    hits: &[(i64, u32, u32, DocId)],
    ctx: &Ctx,
) -> Result<Vec<(EventKey, LogRecord)>, QueryError> {
    load_beside(engine, parts, hits, ctx, 0)
}

/// What a loaded record takes, as [`load`] counts it.
fn record_bytes(rec: &LogRecord) -> usize {
    RECORD_BYTES
        + rec.message.len()
        + rec
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// [`load`] while `held` bytes of records loaded before are still held: together they stay within the limit.
fn load_beside(
    engine: &Engine,
    parts: &[PartitionView],
    hits: &[(i64, u32, u32, DocId)],
    ctx: &Ctx,
    held: usize,
) -> Result<Vec<(EventKey, LogRecord)>, QueryError> {
    if hits.len().saturating_mul(RECORD_BYTES).saturating_add(held)
        > engine.options().max_memory_bytes
    {
        return Err(QueryError::Limit(format!(
            "query would load {} events, over the memory limit; narrow it",
            hits.len()
        )));
    }
    let schema = engine.catalog().schema();
    let mut loaders: Vec<_> = parts.iter().map(|p| schema.loader(&p.searcher)).collect();
    let mut out = Vec::with_capacity(hits.len());
    // What the records really take (the estimate above assumes small ones; 150 messages of 5 MB held 1.5 GB).
    let mut bytes = held;
    for (i, &(_, part, seg, doc)) in hits.iter().enumerate() {
        if i % 256 == 0 {
            ctx.check()?;
        }
        let Some(loader) = loaders.get_mut(part as usize) else {
            continue;
        };
        let Some((rec, key)) = loader.load(DocAddress::new(seg, doc), EventKey::of)? else {
            tracing::warn!(
                part,
                seg,
                doc,
                "stored record is missing or not valid json; skipped"
            );
            continue;
        };
        bytes += record_bytes(&rec);
        if bytes > engine.options().max_memory_bytes {
            return Err(QueryError::Limit(format!(
                "the {} events loaded so far take {bytes} bytes, over the memory limit of {}; narrow the \
                 query or lower its limit",
                out.len() + 1,
                engine.options().max_memory_bytes
            )));
        }
        out.push((key, rec));
    }
    Ok(out)
}

impl Engine {
    /// Runs a search (blocking; see [`Engine::run`]).
    pub fn search_blocking(
        &self,
        req: &SearchRequest,
        ctx: &Ctx,
    ) -> Result<SearchResponse, QueryError> {
        let range = self.resolve_range(req.start.as_deref(), req.end.as_deref())?;
        let limit = self.check_limit(req.limit)?;
        let schema = self.catalog().schema();
        let query = filter::build(schema, &req.filters, req.q.as_deref(), Vec::new())?;
        let cursor = req
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(EventKey::decode)
            .transpose()?;
        let (events, last) = self.page(
            range,
            query.as_ref(),
            limit,
            req.direction,
            cursor.as_ref(),
            ctx,
        )?;
        let full = events.len() == limit;
        let tail_cursor = match &last {
            Some(k) => Some(k.encode()),
            None => req.cursor.clone().filter(|c| !c.is_empty()),
        };
        let next_cursor = if full { last.map(|k| k.encode()) } else { None };
        Ok(SearchResponse {
            events,
            next_cursor,
            tail_cursor,
        })
    }

    /// The page size to use: `limit` (or the default), refused above `max_lines`.
    pub(crate) fn check_limit(&self, limit: Option<usize>) -> Result<usize, QueryError> {
        let limit = limit
            .filter(|l| *l > 0)
            .unwrap_or(self.options().default_limit);
        if limit > self.options().max_lines {
            return Err(QueryError::Limit(format!(
                "limit {limit} exceeds the maximum of {} lines per response; paginate with the cursor",
                self.options().max_lines
            )));
        }
        Ok(limit)
    }

    /// One page of `query` in `range` after `cursor`; returns the events and the key of the last one.
    pub(crate) fn page(
        &self,
        range: TimeRange,
        query: &dyn Query,
        limit: usize,
        direction: Direction,
        cursor: Option<&EventKey>,
        ctx: &Ctx,
    ) -> Result<(Vec<LogRecord>, Option<EventKey>), QueryError> {
        let forward = direction == Direction::Forward;
        let parts = self.partitions(range);
        let catalog = self.catalog().as_ref();
        let mut keyed: Vec<(EventKey, LogRecord)> = Vec::new();
        let mut main = range;
        if let Some(c) = cursor {
            // Events at exactly the cursor's ts that come after it in the requested order.
            let tie = TimeRange {
                start_ns: c.ts,
                end_ns: c.ts.saturating_add(1),
            };
            if tie.start_ns >= range.start_ns && tie.start_ns < range.end_ns {
                let mut all = AllHits::new(self.options().max_memory_bytes / RECORD_BYTES);
                scan(catalog, &parts, query, tie, ctx, &mut all)?;
                if all.overflowed() {
                    return Err(QueryError::Limit(format!(
                        "too many events share timestamp {}; narrow the query",
                        c.ts
                    )));
                }
                keyed = load(self, &parts, &all.hits, ctx)?;
                keyed.retain(|(k, _)| if forward { k > c } else { k < c });
            }
            if forward {
                main.start_ns = main.start_ns.max(c.ts.saturating_add(1));
            } else {
                main.end_ns = main.end_ns.min(c.ts);
            }
        }
        if keyed.len() < limit && main.start_ns < main.end_ns {
            let mut top = TopTs::new(
                limit - keyed.len(),
                forward,
                self.options().max_memory_bytes,
            );
            scan(catalog, &parts, query, main, ctx, &mut top)?;
            top.prune();
            // The events of the cursor's timestamp are still held: both loads share the memory limit.
            let held = keyed.iter().map(|(_, r)| record_bytes(r)).sum();
            keyed.extend(load_beside(self, &parts, &top.hits, ctx, held)?);
        }
        if forward {
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
        } else {
            keyed.sort_by(|a, b| b.0.cmp(&a.0));
        }
        keyed.truncate(limit);
        let next = keyed.last().map(|(k, _)| k.clone());
        Ok((keyed.into_iter().map(|(_, r)| r).collect(), next))
    }

    /// Runs a search on a blocking thread.
    pub async fn search(
        self: &std::sync::Arc<Self>,
        req: SearchRequest,
    ) -> Result<SearchResponse, QueryError> {
        self.run(move |e, ctx| e.search_blocking(&req, ctx)).await
    }
}
