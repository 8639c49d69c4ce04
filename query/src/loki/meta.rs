//! Loki's metadata endpoints, answered from fast fields: labels, label values, series, index stats and volume,
//! patterns (from the template miner), detected labels and fields.

use super::exec::{self, limits, plan_query};
use super::params::{self, Params};
use super::query::LokiReq;
use super::response;
use super::{LokiError, LokiState};
use crate::catalog::PartitionView;
use crate::engine::scan::{scan, Visitor};
use crate::engine::{Ctx, Engine, TimeRange};
use crate::error::QueryError;
use crate::logql::ast::LogExpr;
use crate::logql::eval::pipeline::CompiledMatcher;
use crate::logql::eval::plan::{plan, Plan, INDEXED_FIELDS};
use crate::logql::eval::{canonical_label, Labels, STREAM_LABELS};
use crate::logql::Expr;
use axum::extract::{Path, State};
use axum::Json;
use logmind_indexer::schema::TemplateColumn;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{AllQuery, Query};
use tantivy::{DocId, SegmentReader};

/// Labels offered to the label browser (stream labels plus `level`).
pub const BROWSABLE: [&str; 7] = [
    "namespace",
    "app",
    "pod",
    "container",
    "node",
    "stream",
    "level",
];

/// One matched document's keyword values (in the requested field order), ts, template and size.
pub struct Row<'a> {
    /// ts, ns.
    pub ts: i64,
    /// Values of the requested fields ("" when absent).
    pub values: &'a [String],
    /// Template id.
    pub template: u64,
    /// Message bytes.
    pub size: u64,
}

struct RowVisitor<'f> {
    fields: Vec<&'static str>,
    cols: Vec<Option<StrColumn>>,
    cache: Vec<HashMap<u64, String>>,
    template: Option<TemplateColumn>,
    size: Option<Column<u64>>,
    buf: Vec<String>,
    residual: &'f [(usize, CompiledMatcher)],
    f: &'f mut dyn FnMut(Row<'_>),
}

impl Visitor for RowVisitor<'_> {
    fn segment(
        &mut self,
        _part: usize,
        _seg: u32,
        reader: &SegmentReader,
    ) -> Result<(), QueryError> {
        self.cols = self
            .fields
            .iter()
            .map(|f| reader.fast_fields().str(f))
            .collect::<Result<_, _>>()?;
        self.cache = vec![HashMap::new(); self.fields.len()];
        self.template = TemplateColumn::open(reader)?;
        self.size = reader.fast_fields().u64("size").ok();
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        self.buf.resize(self.fields.len(), String::new());
        for (i, col) in self.cols.iter().enumerate() {
            let v = match col
                .as_ref()
                .and_then(|c| c.ords().first(doc).map(|o| (c, o)))
            {
                Some((c, ord)) => self.cache[i]
                    .entry(ord)
                    .or_insert_with(|| {
                        let mut s = String::new();
                        let _ = c.ord_to_str(ord, &mut s);
                        s
                    })
                    .clone(),
                None => String::new(),
            };
            self.buf[i] = v;
        }
        if !self
            .residual
            .iter()
            .all(|(i, m)| m.matches_value(&self.buf[*i]))
        {
            return;
        }
        let template = self
            .template
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(0);
        let size = self.size.as_ref().and_then(|c| c.first(doc)).unwrap_or(0);
        (self.f)(Row {
            ts,
            values: &self.buf,
            template,
            size,
        });
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        Ok(())
    }
}

/// Field index of a name in [`INDEXED_FIELDS`].
pub(super) fn field_index(name: &str) -> Option<usize> {
    INDEXED_FIELDS
        .iter()
        .position(|f| *f == canonical_label(name))
}

/// Scans the docs matching `plan` (all docs when None) in `range`, reading every indexed keyword field.
pub fn scan_rows(
    engine: &Engine,
    ctx: &Ctx,
    plan: Option<&Plan>,
    range: TimeRange,
    f: &mut dyn FnMut(Row<'_>),
) -> Result<(), QueryError> {
    if plan.is_some_and(|p| p.impossible) {
        return Ok(());
    }
    // Selector matchers re-checked on the values (covers the ones the index could not take).
    let residual: Vec<(usize, CompiledMatcher)> = plan
        .map(|p| {
            p.selector
                .iter()
                .filter_map(|m| field_index(m.name()).map(|i| (i, m.clone())))
                .collect()
        })
        .unwrap_or_default();
    let catalog = engine.catalog();
    let parts: Vec<PartitionView> = catalog.searchers(range.start_ns, range.end_ns);
    for part in parts {
        ctx.check()?;
        let query: Box<dyn Query> = match plan {
            Some(p) => plan_query(catalog.schema(), p, &part.searcher)?,
            None => Box::new(AllQuery),
        };
        let mut v = RowVisitor {
            fields: INDEXED_FIELDS.to_vec(),
            cols: Vec::new(),
            cache: Vec::new(),
            template: None,
            size: None,
            buf: Vec::new(),
            residual: &residual,
            f,
        };
        scan(
            catalog.as_ref(),
            std::slice::from_ref(&part),
            query.as_ref(),
            range,
            ctx,
            &mut v,
        )?;
    }
    Ok(())
}

pub(super) fn selector(engine: &Engine, q: Option<&str>) -> Result<Option<Plan>, QueryError> {
    let Some(q) = q else { return Ok(None) };
    let log: LogExpr = match crate::logql::parse(q)
        .map_err(|e| QueryError::BadRequest(e.to_string()))?
    {
        Expr::Log(l) => l,
        Expr::Metric(_) => {
            return Err(QueryError::BadRequest(
                "expected a stream selector like {app=\"backend\"}, found a metric query".into(),
            ))
        }
    };
    plan(&log, limits(engine)).map(Some).map_err(exec::bad)
}

/// The request's `[start, end]`, its start clamped to `max_range` before its end (metadata endpoints scan every
/// row in range: `start=0` would read the whole store).
pub(super) fn range_of(state: &LokiState, p: &Params) -> Result<TimeRange, QueryError> {
    let (start, end) = params::range(p, state.engine.now_ns())?;
    let max = crate::engine::dur_ns(state.engine.options().max_range);
    Ok(TimeRange {
        start_ns: start.max(end.saturating_sub(max)),
        end_ns: end.saturating_add(1),
    })
}

/// 400 when `[start, end]` at `step` has more than Loki's 11,000 points per series.
fn check_step(start: i64, end: i64, step: i64) -> Result<(), QueryError> {
    let max = crate::logql::eval::metric::MAX_POINTS;
    if end.saturating_sub(start) / step.max(1) > max {
        return Err(QueryError::BadRequest(format!(
            "exceeded maximum resolution of {max} points per timeseries: try increasing the step or reducing \
             the range"
        )));
    }
    Ok(())
}

/// Distinct stream label sets.
fn stream_key(values: &[String]) -> Labels {
    STREAM_LABELS
        .iter()
        .filter_map(|l| {
            let i = field_index(l)?;
            let v = &values[i];
            (!v.is_empty()).then(|| (l.to_string(), v.clone()))
        })
        .collect()
}

pub(super) const MAX_VALUES: usize = 10_000;

/// `GET /loki/api/v1/labels`.
pub async fn labels(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::Success<Value>>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let plan = selector(&state.engine, req.params.get("query"))?;
    let names = state
        .engine
        .run(move |engine, ctx| {
            let mut seen = [false; INDEXED_FIELDS.len()];
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                for (i, v) in row.values.iter().enumerate() {
                    seen[i] |= !v.is_empty();
                }
            })?;
            let mut names: Vec<String> = BROWSABLE
                .iter()
                .filter(|l| field_index(l).is_some_and(|i| seen[i]))
                .map(|l| l.to_string())
                .collect();
            if names.iter().any(|n| n == "app") {
                names.push("service_name".into());
            }
            names.sort();
            Ok(names)
        })
        .await?;
    Ok(Json(response::success(json!(names))))
}

/// `GET /loki/api/v1/label/{name}/values`.
pub async fn label_values(
    State(state): State<LokiState>,
    Path(name): Path<String>,
    req: LokiReq,
) -> Result<Json<response::Success<Value>>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let plan = selector(&state.engine, req.params.get("query"))?;
    let Some(idx) = field_index(&name) else {
        return Ok(Json(response::success(json!([]))));
    };
    let values = state
        .engine
        .run(move |engine, ctx| {
            let mut set = BTreeSet::new();
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                let v = &row.values[idx];
                if !v.is_empty() && set.len() < MAX_VALUES && !set.contains(v) {
                    set.insert(v.clone());
                }
            })?;
            Ok(set)
        })
        .await?;
    Ok(Json(response::success(json!(values))))
}

/// `GET|POST /loki/api/v1/series?match[]=…`.
pub async fn series(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::Success<Value>>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let mut matches: Vec<String> = req
        .params
        .all("match[]")
        .into_iter()
        .map(str::to_string)
        .collect();
    matches.extend(req.params.all("match").into_iter().map(str::to_string));
    // As Loki: no matcher, or only `{}` (what `logcli series '{}'` sends), selects every series.
    matches.retain(|m| !m.chars().all(|c| c.is_whitespace() || c == '{' || c == '}'));
    let plans = matches
        .iter()
        .map(|m| selector(&state.engine, Some(m)))
        .collect::<Result<Vec<_>, _>>()?;
    let plans = if plans.is_empty() { vec![None] } else { plans };
    let set = state
        .engine
        .run(move |engine, ctx| {
            let mut set = BTreeSet::new();
            for p in &plans {
                scan_rows(engine, ctx, p.as_ref(), range, &mut |row| {
                    if set.len() < MAX_VALUES {
                        set.insert(stream_key(row.values));
                    }
                })?;
            }
            Ok(set)
        })
        .await?;
    Ok(Json(response::success(json!(set
        .into_iter()
        .collect::<Vec<_>>()))))
}

#[derive(Default)]
struct Totals {
    streams: BTreeSet<Labels>,
    entries: u64,
    bytes: u64,
}

/// `GET|POST /loki/api/v1/index/stats`.
pub async fn stats(State(state): State<LokiState>, req: LokiReq) -> Result<Json<Value>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let plan = selector(&state.engine, req.params.get("query"))?;
    let t = state
        .engine
        .run(move |engine, ctx| {
            let mut t = Totals::default();
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                t.entries += 1;
                t.bytes += row.size;
                if t.streams.len() < MAX_VALUES {
                    t.streams.insert(stream_key(row.values));
                }
            })?;
            Ok(t)
        })
        .await?;
    Ok(Json(json!({
        "streams": t.streams.len(),
        "chunks": t.streams.len(),
        "entries": t.entries,
        "bytes": t.bytes,
    })))
}

/// The volume key: the target labels when given (`aggregateBy=labels` or `series`), else the stream labels.
fn volume_key(values: &[String], targets: &[String]) -> Labels {
    let base = stream_key(values);
    if targets.is_empty() {
        return base;
    }
    targets
        .iter()
        .filter_map(|t| {
            let i = field_index(t)?;
            let v = &values[i];
            (!v.is_empty()).then(|| (t.clone(), v.clone()))
        })
        .collect()
}

async fn volume_series(
    state: &LokiState,
    p: &Params,
    step: Option<i64>,
) -> Result<(Vec<crate::logql::eval::metric::Series>, TimeRange), QueryError> {
    let range = range_of(state, p)?;
    let plan = selector(&state.engine, Some(p.required("query")?))?;
    let limit = p.usize("limit", 100)?;
    let targets: Vec<String> = p
        .get("targetLabels")
        .map(|s| {
            s.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let end = range.end_ns - 1;
    let series = state
        .engine
        .run(move |engine, ctx| {
            let mut acc: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                let key = volume_key(row.values, &targets);
                let bucket = match step {
                    Some(s) => range.start_ns + (row.ts - range.start_ns) / s * s,
                    None => end,
                };
                *acc.entry(key).or_default().entry(bucket).or_default() += row.size as f64;
            })?;
            let mut series: Vec<crate::logql::eval::metric::Series> = acc
                .into_iter()
                .map(|(labels, pts)| crate::logql::eval::metric::Series {
                    labels,
                    points: pts.into_iter().collect(),
                })
                .collect();
            let total =
                |s: &crate::logql::eval::metric::Series| s.points.iter().map(|p| p.1).sum::<f64>();
            series.sort_by(|a, b| total(b).total_cmp(&total(a)));
            series.truncate(limit.max(1));
            Ok(series)
        })
        .await?;
    Ok((series, range))
}

/// `GET|POST /loki/api/v1/index/volume`: bytes per series (or per target label) in the range.
pub async fn volume(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::QueryResult>, LokiError> {
    let (series, _) = volume_series(&state, &req.params, None).await?;
    Ok(Json(response::typed_result(
        "vector",
        response::vector(&series),
    )))
}

/// `GET|POST /loki/api/v1/index/volume_range`: the same, bucketed by `step`.
pub async fn volume_range(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::QueryResult>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let (start, end) = (range.start_ns, range.end_ns - 1);
    let step = req
        .params
        .duration("step")?
        .filter(|s| *s > 0)
        .unwrap_or_else(|| super::query::default_step(start, end));
    check_step(start, end, step)?;
    let (series, _) = volume_series(&state, &req.params, Some(step)).await?;
    Ok(Json(response::typed_result(
        "matrix",
        response::matrix(&series),
    )))
}

/// `GET /loki/api/v1/patterns`: the template miner's groups for the selected streams, counted per step.
pub async fn patterns(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::Success<Value>>, LokiError> {
    let p = &req.params;
    let range = range_of(&state, p)?;
    let plan = selector(&state.engine, Some(p.required("query")?))?;
    let step = p
        .duration("step")?
        .filter(|s| *s > 0)
        .unwrap_or_else(|| super::query::default_step(range.start_ns, range.end_ns));
    check_step(range.start_ns, range.end_ns - 1, step)?;
    let out = state
        .engine
        .run(move |engine, ctx| {
            let mut acc: HashMap<u64, BTreeMap<i64, u64>> = HashMap::new();
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                let b = range.start_ns + (row.ts - range.start_ns) / step * step;
                *acc.entry(row.template).or_default().entry(b).or_default() += 1;
            })?;
            let mut groups: Vec<(u64, BTreeMap<i64, u64>)> = acc.into_iter().collect();
            groups.sort_by_key(|(id, b)| (std::cmp::Reverse(b.values().sum::<u64>()), *id));
            groups.truncate(200);
            Ok(groups
                .into_iter()
                .map(|(id, buckets)| {
                    let text = engine
                        .catalog()
                        .template_text(id)
                        .unwrap_or_else(|| format!("template {id}"))
                        .replace("<*>", "<_>");
                    json!({
                        "pattern": text,
                        "samples": buckets.into_iter().map(|(t, c)| json!([t / 1_000_000_000, c])).collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(response::success(json!(out))))
}
