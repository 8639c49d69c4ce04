//! The one loop every query runs: for each partition and segment, match the query, drop deleted documents,
//! documents outside the time range and documents below their namespace's retention floor, and hand the
//! rest (doc id + ts from the fast field) to a [`Visitor`].

use crate::catalog::{Catalog, PartitionView};
use crate::engine::{Ctx, TimeRange};
use crate::error::QueryError;
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{EnableScoring, Query};
use tantivy::{DocId, SegmentReader};

/// Receives the matching documents of one scan.
pub trait Visitor {
    /// A new segment starts (`part` indexes the partition list, `seg` the segment in its searcher).
    fn segment(&mut self, part: usize, seg: u32, reader: &SegmentReader) -> Result<(), QueryError>;
    /// A matching, visible document and its ts.
    fn doc(&mut self, doc: DocId, ts: i64);
    /// The segment is done; a visitor reports a limit it hit here.
    fn finish_segment(&mut self) -> Result<(), QueryError>;
}

/// Per-segment retention floors by namespace ordinal.
struct Floors {
    ns: Option<Column<u64>>,
    by_ord: Vec<i64>,
    none: i64,
    max: i64,
}

impl Floors {
    fn new(reader: &SegmentReader, catalog: &dyn Catalog) -> Result<Floors, QueryError> {
        let none = catalog.retention_floor("");
        let mut by_ord = Vec::new();
        let mut ns = None;
        if let Some(col) = reader.fast_fields().str("namespace")? {
            let mut s = String::new();
            for ord in 0..col.num_terms() as u64 {
                s.clear();
                col.ord_to_str(ord, &mut s)
                    .map_err(|e| QueryError::Internal(format!("namespace dictionary: {e}")))?;
                by_ord.push(catalog.retention_floor(&s));
            }
            ns = Some(col.ords().clone());
        }
        let max = by_ord.iter().copied().fold(none, i64::max);
        Ok(Floors {
            ns,
            by_ord,
            none,
            max,
        })
    }

    fn keep(&self, doc: DocId, ts: i64) -> bool {
        if ts >= self.max {
            return true;
        }
        let floor = match self.ns.as_ref().and_then(|c| c.first(doc)) {
            Some(ord) => self.by_ord.get(ord as usize).copied().unwrap_or(self.none),
            None => self.none,
        };
        ts >= floor
    }
}

/// Scans `parts` for `query` within `range`, feeding `visitor`.
pub fn scan(
    catalog: &dyn Catalog,
    parts: &[PartitionView],
    query: &dyn Query,
    range: TimeRange,
    ctx: &Ctx,
    visitor: &mut dyn Visitor,
) -> Result<(), QueryError> {
    for (pi, part) in parts.iter().enumerate() {
        ctx.check()?;
        let weight = query.weight(EnableScoring::disabled_from_searcher(&part.searcher))?;
        let whole = part.start_ns >= range.start_ns && part.end_ns <= range.end_ns;
        for (si, reader) in part.searcher.segment_readers().iter().enumerate() {
            ctx.check()?;
            let ts_col: Column<i64> = reader.fast_fields().i64("ts")?;
            if !whole {
                // Skip segments entirely outside the range without touching postings.
                let (min, max) = (ts_col.min_value(), ts_col.max_value());
                if max < range.start_ns || min >= range.end_ns {
                    continue;
                }
            }
            let floors = Floors::new(reader, catalog)?;
            visitor.segment(pi, si as u32, reader)?;
            let alive = reader.alive_bitset();
            let mut stopped = false;
            weight.for_each_no_score(reader, &mut |docs: &[DocId]| {
                if stopped || ctx.stopped() {
                    stopped = true;
                    return;
                }
                for &d in docs {
                    if alive.is_some_and(|a| a.is_deleted(d)) {
                        continue;
                    }
                    let Some(ts) = ts_col.first(d) else { continue };
                    if ts < range.start_ns || ts >= range.end_ns || !floors.keep(d, ts) {
                        continue;
                    }
                    visitor.doc(d, ts);
                }
            })?;
            ctx.check()?;
            visitor.finish_segment()?;
        }
    }
    Ok(())
}

/// A keyword fast column of a segment with its dictionary, for group-by (absent field → `None`).
pub fn keyword_column(
    reader: &SegmentReader,
    field: &str,
) -> Result<Option<StrColumn>, QueryError> {
    Ok(reader.fast_fields().str(field)?)
}

/// The string of an ordinal of a keyword column.
pub fn ord_str(col: &StrColumn, ord: u64) -> Result<String, QueryError> {
    let mut s = String::new();
    col.ord_to_str(ord, &mut s)
        .map_err(|e| QueryError::Internal(format!("keyword dictionary: {e}")))?;
    Ok(s)
}
