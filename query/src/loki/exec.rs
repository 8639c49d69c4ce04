//! Running LogQL against the engine: index-narrowed scans ([`plan`](crate::logql::eval::plan)), log queries
//! in time order with a limit, and the record source of metric queries.

use super::meta::scan_rows;
use crate::catalog::PartitionView;
use crate::engine::scan::{scan, Visitor};
use crate::engine::{Ctx, Engine, TimeRange};
use crate::error::QueryError;
use crate::logql::ast::LogExpr;
use crate::logql::eval::metric::Source;
use crate::logql::eval::pipeline::{compile, CompileLimits, Pipeline};
use crate::logql::eval::plan::{plan, Plan, INDEXED_FIELDS};
use crate::logql::eval::{Entry, EvalError, Labels, METADATA_LABELS, STREAM_LABELS};
use logmind_indexer::schema::LogSchema;
use logmind_protocol::LogRecord;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Searcher, SegmentReader, Term};

/// Compile limits from the engine's options.
pub fn limits(engine: &Engine) -> CompileLimits {
    CompileLimits {
        max_regex_bytes: engine.options().max_regex_bytes,
    }
}

/// Turns an evaluation error into a 400.
pub fn bad(e: EvalError) -> QueryError {
    QueryError::BadRequest(e.0)
}

/// The tantivy query for a plan on one partition (regex matchers expanded over its term dictionaries).
pub fn plan_query(
    schema: &LogSchema,
    plan: &Plan,
    searcher: &Searcher,
) -> Result<Box<dyn Query>, QueryError> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let field = |name: &str| {
        schema
            .keyword(name)
            .ok_or_else(|| QueryError::Internal(format!("plan names unknown field {name}")))
    };
    for (name, value) in &plan.terms {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(field(name)?, value),
                IndexRecordOption::Basic,
            )),
        ));
    }
    for (name, value) in &plan.not_terms {
        clauses.push((
            Occur::MustNot,
            Box::new(TermQuery::new(
                Term::from_field_text(field(name)?, value),
                IndexRecordOption::Basic,
            )),
        ));
    }
    for (name, matcher, negated) in &plan.regexes {
        let f = field(name)?;
        let mut terms = Vec::new();
        for reader in searcher.segment_readers() {
            let inv = reader.inverted_index(f)?;
            let mut stream = inv
                .terms()
                .stream()
                .map_err(|e| QueryError::Internal(format!("term dictionary of {name}: {e}")))?;
            while stream.advance() {
                if let Ok(s) = std::str::from_utf8(stream.key()) {
                    // The matcher is compiled for positive matching; `negated` flips the clause instead.
                    let hit = match matcher {
                        crate::logql::eval::pipeline::CompiledMatcher::Nre(_, r) => r.is_match(s),
                        m => m.matches_value(s),
                    };
                    if hit {
                        terms.push(Term::from_field_text(f, s));
                    }
                }
            }
        }
        terms.sort();
        terms.dedup();
        let set: Box<dyn Query> = Box::new(TermSetQuery::new(terms));
        clauses.push((
            if *negated {
                Occur::MustNot
            } else {
                Occur::Must
            },
            set,
        ));
    }
    if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    Ok(if clauses.len() == 1 {
        clauses.remove(0).1
    } else {
        Box::new(BooleanQuery::new(clauses))
    })
}

struct Collect<'a> {
    seg: u32,
    out: &'a mut Vec<(i64, u32, DocId)>,
    max: usize,
    over: bool,
}

impl Visitor for Collect<'_> {
    fn segment(
        &mut self,
        _part: usize,
        seg: u32,
        _reader: &SegmentReader,
    ) -> Result<(), QueryError> {
        self.seg = seg;
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        if self.out.len() >= self.max {
            self.over = true;
            return;
        }
        self.out.push((ts, self.seg, doc));
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        Ok(())
    }
}

/// Stored documents loaded by LogQL queries since the process started: what index narrowing saves is visible
/// here (and tests assert on it).
pub static DOCS_LOADED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The current value of [`DOCS_LOADED`].
pub fn docs_loaded() -> u64 {
    DOCS_LOADED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Maximum index candidates held per partition while answering one LogQL query.
pub const MAX_CANDIDATES: usize = 20_000_000;

/// A compiled log query: plan, pipeline.
pub struct Compiled {
    /// Index part.
    pub plan: Plan,
    /// Line part.
    pub pipeline: Pipeline,
}

/// Compiles a log expression (its unwrap stage, if any, is ignored here).
pub fn compile_log(engine: &Engine, log: &LogExpr) -> Result<Compiled, QueryError> {
    let plan = plan(log, limits(engine)).map_err(bad)?;
    let (pipeline, _) = compile(&log.pipeline, limits(engine)).map_err(bad)?;
    Ok(Compiled { plan, pipeline })
}

/// Visits the records matching `c.plan` in `range`, partition by partition in the given time order, each
/// partition's records sorted by (ts, doc) in that order; `visit` returns false to stop.
pub fn for_each_record(
    engine: &Engine,
    ctx: &Ctx,
    plan: &Plan,
    range: TimeRange,
    newest_first: bool,
    visit: &mut dyn FnMut(LogRecord) -> bool,
) -> Result<(), QueryError> {
    if plan.impossible || range.start_ns >= range.end_ns {
        return Ok(());
    }
    let catalog = engine.catalog();
    let schema = catalog.schema();
    let mut parts: Vec<PartitionView> = engine.partitions(range);
    if newest_first {
        parts.reverse();
    }
    for part in parts {
        ctx.check()?;
        let query = plan_query(schema, plan, &part.searcher)?;
        let mut cands = Vec::new();
        let mut c = Collect {
            seg: 0,
            out: &mut cands,
            max: MAX_CANDIDATES,
            over: false,
        };
        scan(
            catalog.as_ref(),
            std::slice::from_ref(&part),
            query.as_ref(),
            range,
            ctx,
            &mut c,
        )?;
        if c.over {
            return Err(QueryError::Limit(format!(
                "more than {MAX_CANDIDATES} candidate events in one partition: add label filters or narrow the time range"
            )));
        }
        if newest_first {
            cands.sort_unstable_by(|a, b| b.cmp(a));
        } else {
            cands.sort_unstable();
        }
        let mut loader = schema.loader(&part.searcher);
        for (i, (_, seg, doc)) in cands.into_iter().enumerate() {
            if i % 1024 == 0 {
                ctx.check()?;
            }
            DOCS_LOADED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((r, _)) = loader.load(DocAddress::new(seg, doc), |_, _| ())? else {
                continue;
            };
            if !visit(r) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One matched log line after the pipeline.
pub struct Line {
    /// The entry (labels, line, ts).
    pub entry: Entry,
    /// Source identity for tie-breaking (file, offset).
    pub key: (String, u64),
}

/// Runs a log query: up to `limit` lines of `[start, end)`, newest first when `newest_first`.
pub fn select_lines(
    engine: &Engine,
    ctx: &Ctx,
    log: &LogExpr,
    range: TimeRange,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<Line>, QueryError> {
    let c = compile_log(engine, log)?;
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    // The lines kept take their size, not a fixed estimate: 5,000 lines of 5 MB are 25 GB.
    let max_bytes = engine.options().max_memory_bytes;
    let mut bytes = 0usize;
    for_each_record(engine, ctx, &c.plan, range, newest_first, &mut |r| {
        let mut e = Entry::from_record(&r);
        if c.plan.selector_matches(&e) && c.pipeline.process(&mut e) {
            bytes += 256
                + e.line.len()
                + [&e.stream, &e.metadata, &e.parsed]
                    .iter()
                    .flat_map(|l| l.iter())
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            if bytes > max_bytes {
                return false;
            }
            out.push(Line {
                entry: e,
                key: (r.source.file.clone(), r.source.offset),
            });
        }
        out.len() < limit
    })?;
    if bytes > max_bytes {
        return Err(QueryError::Limit(format!(
            "the {} lines selected so far take over {max_bytes} bytes, the memory limit; lower the limit or \
             narrow the query",
            out.len() + 1
        )));
    }
    Ok(out)
}

/// The record source of metric queries, bound to one running query's context.
pub struct EngineSource<'a> {
    /// Engine.
    pub engine: &'a Engine,
    /// Context (deadline, cancellation).
    pub ctx: &'a Ctx,
    /// The engine error behind a failed fetch (timeout, cancellation, limits, I/O), so it keeps its status
    /// instead of becoming a 400 through [`EvalError`].
    pub failure: std::cell::RefCell<Option<QueryError>>,
}

impl<'a> EngineSource<'a> {
    /// A source bound to one running query.
    pub fn new(engine: &'a Engine, ctx: &'a Ctx) -> Self {
        EngineSource {
            engine,
            ctx,
            failure: std::cell::RefCell::new(None),
        }
    }

    /// Maps an evaluation error: the engine error recorded by `fetch` if there is one, else a 400.
    pub fn error(&self, e: EvalError) -> QueryError {
        self.failure.borrow_mut().take().unwrap_or_else(|| bad(e))
    }
}

impl Source for EngineSource<'_> {
    fn check(&self) -> Result<(), EvalError> {
        self.ctx.check().map_err(|e| {
            let msg = e.to_string();
            *self.failure.borrow_mut() = Some(e);
            EvalError(msg)
        })
    }

    fn fetch(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<(), EvalError> {
        let p = plan(log, limits(self.engine))?;
        let range = TimeRange { start_ns, end_ns };
        for_each_record(self.engine, self.ctx, &p, range, false, &mut |r| {
            if p.selector_matches(&Entry::from_record(&r)) {
                visit(&r)
            } else {
                true
            }
        })
        .map_err(|e| self.fail(e))
    }

    /// Answers from fast fields (keyword columns, `ts`, `size`): no stored document is loaded.
    fn fetch_rows(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(Entry, u64) -> bool,
    ) -> Result<bool, EvalError> {
        let p = plan(log, limits(self.engine))?;
        if start_ns >= end_ns {
            return Ok(true);
        }
        let range = TimeRange { start_ns, end_ns };
        // `scan_rows` cannot be stopped early: after `visit` says stop, the remaining rows are skipped.
        let mut open = true;
        scan_rows(self.engine, self.ctx, Some(&p), range, &mut |row| {
            if !open {
                return;
            }
            let e = row_entry(row.ts, row.values);
            if p.selector_matches(&e) {
                open = visit(e, row.size);
            }
        })
        .map_err(|e| self.fail(e))?;
        Ok(true)
    }
}

impl EngineSource<'_> {
    fn fail(&self, e: QueryError) -> EvalError {
        let msg = EvalError(e.public_message());
        *self.failure.borrow_mut() = Some(e);
        msg
    }
}

/// The entry `Entry::from_record` would build from a record with these keyword values (in
/// [`INDEXED_FIELDS`] order), without its line.
fn row_entry(ts: i64, values: &[String]) -> Entry {
    let mut e = Entry {
        ts,
        line: String::new(),
        stream: Labels::new(),
        metadata: Labels::new(),
        parsed: Labels::new(),
        formatted: 0,
    };
    for (name, v) in INDEXED_FIELDS.iter().zip(values) {
        if v.is_empty() {
            continue;
        }
        if STREAM_LABELS.contains(name) {
            e.stream.insert(name.to_string(), v.clone());
        } else if METADATA_LABELS.contains(name) {
            e.metadata.insert(name.to_string(), v.clone());
        }
    }
    e
}
