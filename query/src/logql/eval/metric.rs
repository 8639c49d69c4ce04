//! Metric queries: range aggregations over log samples, vector aggregations, binary operations.
//!
//! Semantics follow Loki: a range aggregation at time `t` covers the window `(t - range - offset, t - offset]`;
//! `rate` is `count / range` with no extrapolation; series are keyed by the entry's labels after the pipeline.

use super::pipeline::{compile, compile_regex, CompileLimits, CompiledUnwrap, Pipeline};
use super::plan::is_indexed;
use super::{canonical_label, Entry, EvalError, Labels};
use crate::logql::ast::*;
use logmind_protocol::LogRecord;
use std::collections::BTreeMap;

/// Where records come from: the engine answers a log query's selector (and any index-answerable filters) for
/// `[start_ns, end_ns)`, calling `visit` for each record in any order; `visit` returns false to stop.
pub trait Source {
    /// Streams the records of `log`'s selector in `[start_ns, end_ns)`.
    fn fetch(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<(), EvalError>;

    /// Streams the same records as [`Source::fetch`] without loading their lines: each as an entry with an
    /// empty line (stream labels and metadata from the index) plus the line's length in bytes. Returns false
    /// when the source cannot do this (the caller then uses `fetch`).
    fn fetch_rows(
        &self,
        _log: &LogExpr,
        _start_ns: i64,
        _end_ns: i64,
        _visit: &mut dyn FnMut(Entry, u64) -> bool,
    ) -> Result<bool, EvalError> {
        Ok(false)
    }
}

/// True when a range aggregation can be computed from index rows (labels + line length), without the lines:
/// a count or byte function, and a pipeline of only label filters on indexed fields and `drop`/`keep`, with
/// every label the series are grouped by indexed.
fn rows_suffice(
    func: RangeFunc,
    log: &LogExpr,
    grouping: Option<&Grouping>,
    keep_ids: &[String],
) -> bool {
    fn filter_ok(f: &LabelFilter) -> bool {
        match f {
            LabelFilter::And(a, b) | LabelFilter::Or(a, b) => filter_ok(a) && filter_ok(b),
            LabelFilter::String(m) => is_indexed(&m.name),
            _ => false,
        }
    }
    let func_ok = matches!(
        func,
        RangeFunc::CountOverTime
            | RangeFunc::Rate
            | RangeFunc::BytesOverTime
            | RangeFunc::BytesRate
    );
    let stages_ok = log.pipeline.iter().all(|s| match s {
        Stage::LabelFilter(f) => filter_ok(f),
        Stage::Drop(_) | Stage::Keep(_) => true,
        _ => false,
    });
    let grouped = grouping.map(|g| g.labels.as_slice()).unwrap_or_default();
    func_ok && stages_ok && grouped.iter().chain(keep_ids).all(|l| is_indexed(l))
}

/// A labelled series of `(ts ns, value)` points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: Labels,
    /// Points.
    pub points: Vec<(i64, f64)>,
}

/// The value of a metric expression over the evaluation steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A plain number (same at every step).
    Scalar(f64),
    /// Labelled series.
    Vector(Vec<Series>),
}

/// Evaluation parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// First evaluation time, ns.
    pub start_ns: i64,
    /// Last evaluation time (inclusive), ns.
    pub end_ns: i64,
    /// Step, ns (> 0).
    pub step_ns: i64,
    /// Compile limits.
    pub limits: CompileLimits,
    /// Maximum samples held in memory by one query.
    pub max_samples: usize,
}

/// Maximum evaluation points per series, as in Loki.
pub const MAX_POINTS: i64 = 11_000;

impl Params {
    fn steps(&self) -> impl Iterator<Item = i64> + '_ {
        let n = if self.end_ns < self.start_ns {
            0
        } else {
            (self.end_ns - self.start_ns) / self.step_ns + 1
        };
        (0..n).map(move |i| self.start_ns + i * self.step_ns)
    }
}

/// Evaluates a metric expression.
pub fn eval(expr: &MetricExpr, p: &Params, src: &dyn Source) -> Result<Val, EvalError> {
    if p.step_ns <= 0 {
        return Err(EvalError("step must be positive".into()));
    }
    // Loki refuses only above the limit: 11,000 steps (11,001 points) still answer.
    if (p.end_ns - p.start_ns) / p.step_ns > MAX_POINTS {
        return Err(EvalError(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries: try increasing the step or reducing the range"
        )));
    }
    eval_inner(expr, p, src, &[])
}

fn eval_inner(
    expr: &MetricExpr,
    p: &Params,
    src: &dyn Source,
    keep_ids: &[String],
) -> Result<Val, EvalError> {
    match expr {
        MetricExpr::Literal(v) => Ok(Val::Scalar(*v)),
        MetricExpr::VectorLit(v) => Ok(Val::Vector(vec![Series {
            labels: Labels::new(),
            points: p.steps().map(|t| (t, *v)).collect(),
        }])),
        MetricExpr::Range {
            func,
            param,
            log,
            range_ns,
            offset_ns,
            grouping,
        } => range_agg(
            *func,
            *param,
            log,
            *range_ns,
            *offset_ns,
            grouping.as_ref(),
            p,
            src,
            keep_ids,
        ),
        MetricExpr::Vector {
            op,
            param,
            grouping,
            expr,
        } => {
            let wanted: Vec<String> = grouping
                .as_ref()
                .filter(|g| !g.without)
                .map(|g| {
                    g.labels
                        .iter()
                        .map(|l| canonical_label(l).to_string())
                        .collect()
                })
                .unwrap_or_default();
            let inner = eval_inner(expr, p, src, &wanted)?;
            let series = match inner {
                Val::Vector(s) => s,
                Val::Scalar(_) => {
                    return Err(EvalError(
                        "a vector aggregation needs a vector, not a scalar".into(),
                    ))
                }
            };
            Ok(Val::Vector(vector_agg(
                *op,
                *param,
                grouping.as_ref(),
                series,
            )?))
        }
        MetricExpr::Binary {
            op,
            return_bool,
            matching,
            lhs,
            rhs,
        } => {
            let l = eval_inner(lhs, p, src, keep_ids)?;
            let r = eval_inner(rhs, p, src, keep_ids)?;
            binary(*op, *return_bool, matching.as_ref(), l, r)
        }
        MetricExpr::LabelReplace {
            expr,
            dst,
            replacement,
            src: src_label,
            regex,
        } => {
            let re = compile_regex(regex, true, p.limits)?;
            let inner = eval_inner(expr, p, src, keep_ids)?;
            let Val::Vector(mut series) = inner else {
                return Err(EvalError("label_replace needs a vector".into()));
            };
            for s in &mut series {
                let v = s.labels.get(src_label).cloned().unwrap_or_default();
                if let Some(caps) = re.captures(&v) {
                    let mut out = String::new();
                    caps.expand(replacement, &mut out);
                    if out.is_empty() {
                        s.labels.remove(dst);
                    } else {
                        s.labels.insert(dst.clone(), out);
                    }
                }
            }
            Ok(Val::Vector(merge_same_labels(series)))
        }
    }
}

fn merge_same_labels(series: Vec<Series>) -> Vec<Series> {
    let mut map: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for s in series {
        map.entry(s.labels).or_default().extend(s.points);
    }
    map.into_iter()
        .map(|(labels, mut points)| {
            points.sort_by_key(|(t, _)| *t);
            points.dedup_by_key(|(t, _)| *t);
            Series { labels, points }
        })
        .collect()
}

fn group_key(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    match grouping {
        None => Labels::new(),
        Some(g) if g.without => {
            let mut l = labels.clone();
            for name in &g.labels {
                l.remove(canonical_label(name));
                l.remove(name.as_str());
            }
            l
        }
        Some(g) => g
            .labels
            .iter()
            .filter_map(|name| {
                labels
                    .get(name.as_str())
                    .or_else(|| labels.get(canonical_label(name)))
                    .map(|v| (name.clone(), v.clone()))
            })
            .collect(),
    }
}

struct Sample {
    ts: i64,
    value: f64,
}

#[allow(clippy::too_many_arguments)]
fn range_agg(
    func: RangeFunc,
    param: Option<f64>,
    log: &LogExpr,
    range_ns: i64,
    offset_ns: i64,
    grouping: Option<&Grouping>,
    p: &Params,
    src: &dyn Source,
    keep_ids: &[String],
) -> Result<Val, EvalError> {
    if range_ns <= 0 {
        return Err(EvalError("range must be positive".into()));
    }
    let (pipeline, unwrap): (Pipeline, Option<CompiledUnwrap>) = compile(&log.pipeline, p.limits)?;
    let mut keep: Vec<String> = keep_ids.to_vec();
    if let Some(g) = grouping.filter(|g| !g.without) {
        keep.extend(g.labels.iter().map(|l| canonical_label(l).to_string()));
    }
    let mut series: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    let mut count = 0usize;
    let mut overflow = false;
    // Window of the first step starts at start - offset - range (exclusive); fetch is [a, b).
    let fetch_start = p.start_ns - offset_ns - range_ns + 1;
    let fetch_end = p.end_ns - offset_ns + 1;
    let mut on_entry = |mut e: Entry, bytes: Option<u64>| {
        if !pipeline.process(&mut e) {
            return true;
        }
        let value = match (&unwrap, func) {
            (Some(u), _) => match u.value(&mut e) {
                Some(v) => v,
                None => return true,
            },
            (None, RangeFunc::BytesOverTime | RangeFunc::BytesRate) => {
                bytes.unwrap_or(e.line.len() as u64) as f64
            }
            (None, _) => 1.0,
        };
        let mut labels = e.series_labels(&keep);
        if unwrap.is_some() {
            labels.remove(super::parsers::ERROR_LABEL);
            labels.remove(super::parsers::ERROR_DETAILS_LABEL);
        }
        let labels = if grouping.is_some() {
            group_key(&labels, grouping)
        } else {
            labels
        };
        series
            .entry(labels)
            .or_default()
            .push(Sample { ts: e.ts, value });
        count += 1;
        if count > p.max_samples {
            overflow = true;
            return false;
        }
        true
    };
    let fast = unwrap.is_none()
        && rows_suffice(func, log, grouping, keep_ids)
        && src.fetch_rows(log, fetch_start, fetch_end, &mut |e, bytes| {
            on_entry(e, Some(bytes))
        })?;
    if !fast {
        src.fetch(log, fetch_start, fetch_end, &mut |r| {
            on_entry(Entry::from_record(r), None)
        })?;
    }
    if overflow {
        return Err(EvalError(format!(
            "query would hold more than {} samples in memory: narrow the selector or the time range",
            p.max_samples
        )));
    }
    if func == RangeFunc::AbsentOverTime {
        let mut all: Vec<i64> = series.values().flatten().map(|s| s.ts).collect();
        all.sort_unstable();
        let present: Vec<bool> = p
            .steps()
            .map(|t| {
                let hi_ts = t - offset_ns;
                all.partition_point(|&x| x <= hi_ts - range_ns)
                    < all.partition_point(|&x| x <= hi_ts)
            })
            .collect();
        return Ok(Val::Vector(absent(log, p, &present)));
    }
    let range_secs = range_ns as f64 / 1e9;
    let mut out = Vec::new();
    for (labels, mut samples) in series {
        samples.sort_by_key(|s| s.ts);
        let mut points = Vec::new();
        for t in p.steps() {
            let hi_ts = t - offset_ns; // inclusive
            let lo_ts = hi_ts - range_ns; // exclusive
            let lo = samples.partition_point(|s| s.ts <= lo_ts);
            let hi = samples.partition_point(|s| s.ts <= hi_ts);
            if lo >= hi {
                continue;
            }
            let w = &samples[lo..hi];
            let vals = || w.iter().map(|s| s.value);
            let n = w.len() as f64;
            let sum: f64 = vals().sum();
            let v = match func {
                RangeFunc::CountOverTime => n,
                RangeFunc::Rate if unwrap.is_some() => sum / range_secs,
                RangeFunc::Rate => n / range_secs,
                RangeFunc::BytesOverTime | RangeFunc::SumOverTime => sum,
                RangeFunc::BytesRate => sum / range_secs,
                RangeFunc::AvgOverTime => sum / n,
                RangeFunc::MinOverTime => vals().fold(f64::INFINITY, f64::min),
                RangeFunc::MaxOverTime => vals().fold(f64::NEG_INFINITY, f64::max),
                RangeFunc::StdvarOverTime | RangeFunc::StddevOverTime => {
                    let mean = sum / n;
                    let var = vals().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    if func == RangeFunc::StddevOverTime {
                        var.sqrt()
                    } else {
                        var
                    }
                }
                RangeFunc::QuantileOverTime => quantile(param.unwrap_or(0.5), vals().collect()),
                RangeFunc::FirstOverTime => w[0].value,
                RangeFunc::LastOverTime => w[w.len() - 1].value,
                RangeFunc::RateCounter => {
                    let mut inc = 0.0;
                    for pair in w.windows(2) {
                        let d = pair[1].value - pair[0].value;
                        inc += if d < 0.0 { pair[1].value } else { d };
                    }
                    inc / range_secs
                }
                RangeFunc::AbsentOverTime => 1.0,
            };
            points.push((t, v));
        }
        if !points.is_empty() {
            out.push(Series { labels, points });
        }
    }
    Ok(Val::Vector(out))
}

fn absent(log: &LogExpr, p: &Params, present: &[bool]) -> Vec<Series> {
    let labels: Labels = log
        .selector
        .iter()
        .filter(|m| m.op == MatchOp::Eq)
        .map(|m| (canonical_label(&m.name).to_string(), m.value.clone()))
        .collect();
    let points: Vec<(i64, f64)> = p
        .steps()
        .zip(present)
        .filter(|(_, &has)| !has)
        .map(|(t, _)| (t, 1.0))
        .collect();
    if points.is_empty() {
        Vec::new()
    } else {
        vec![Series { labels, points }]
    }
}

fn quantile(q: f64, mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = q * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let w = rank - lo as f64;
    v[lo] * (1.0 - w) + v[hi] * w
}

fn vector_agg(
    op: VecOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    series: Vec<Series>,
) -> Result<Vec<Series>, EvalError> {
    if matches!(op, VecOp::Sort | VecOp::SortDesc) {
        let mut s = series;
        let last = |x: &Series| x.points.last().map_or(f64::NAN, |p| p.1);
        s.sort_by(|a, b| last(a).total_cmp(&last(b)));
        if op == VecOp::SortDesc {
            s.reverse();
        }
        return Ok(s);
    }
    if matches!(op, VecOp::Topk | VecOp::Bottomk) {
        let k = param.unwrap_or(1.0);
        if k < 1.0 {
            return Err(EvalError(format!("topk/bottomk: k must be ≥ 1, got {k}")));
        }
        let k = k as usize;
        // Per timestamp, per group: keep the k largest (smallest) series.
        let mut by_ts: BTreeMap<i64, BTreeMap<Labels, Vec<(usize, f64)>>> = BTreeMap::new();
        for (i, s) in series.iter().enumerate() {
            let g = group_key(&s.labels, grouping);
            for &(t, v) in &s.points {
                by_ts
                    .entry(t)
                    .or_default()
                    .entry(g.clone())
                    .or_default()
                    .push((i, v));
            }
        }
        let mut kept: BTreeMap<usize, Vec<(i64, f64)>> = BTreeMap::new();
        for (t, groups) in by_ts {
            for (_, mut members) in groups {
                members.sort_by(|a, b| {
                    if op == VecOp::Topk {
                        b.1.total_cmp(&a.1)
                    } else {
                        a.1.total_cmp(&b.1)
                    }
                });
                for (i, v) in members.into_iter().take(k) {
                    kept.entry(i).or_default().push((t, v));
                }
            }
        }
        return Ok(kept
            .into_iter()
            .map(|(i, points)| Series {
                labels: series[i].labels.clone(),
                points,
            })
            .collect());
    }
    let mut groups: BTreeMap<Labels, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
    for s in &series {
        let g = group_key(&s.labels, grouping);
        let entry = groups.entry(g).or_default();
        for &(t, v) in &s.points {
            entry.entry(t).or_default().push(v);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(labels, pts)| Series {
            labels,
            points: pts
                .into_iter()
                .map(|(t, vs)| {
                    let n = vs.len() as f64;
                    let sum: f64 = vs.iter().sum();
                    let v = match op {
                        VecOp::Sum => sum,
                        VecOp::Avg => sum / n,
                        VecOp::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
                        VecOp::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        VecOp::Count => n,
                        VecOp::Stddev | VecOp::Stdvar => {
                            let mean = sum / n;
                            let var = vs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                            if op == VecOp::Stddev {
                                var.sqrt()
                            } else {
                                var
                            }
                        }
                        VecOp::Topk | VecOp::Bottomk | VecOp::Sort | VecOp::SortDesc => sum,
                    };
                    (t, v)
                })
                .collect(),
        })
        .collect())
}

fn arith(op: BinOp, a: f64, b: f64, return_bool: bool) -> Option<f64> {
    Some(match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Cmp(c) => {
            let t = c.apply(a, b);
            if return_bool {
                if t {
                    1.0
                } else {
                    0.0
                }
            } else if t {
                a
            } else {
                return None;
            }
        }
        BinOp::And | BinOp::Or | BinOp::Unless => return None,
    })
}

fn match_key(labels: &Labels, m: Option<&VectorMatching>) -> Labels {
    match m {
        None => labels.clone(),
        Some(vm) if vm.on => labels
            .iter()
            .filter(|(k, _)| vm.labels.iter().any(|l| l == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(vm) => labels
            .iter()
            .filter(|(k, _)| !vm.labels.iter().any(|l| l == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn binary(
    op: BinOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    l: Val,
    r: Val,
) -> Result<Val, EvalError> {
    let set_op = matches!(op, BinOp::And | BinOp::Or | BinOp::Unless);
    match (l, r) {
        (Val::Scalar(a), Val::Scalar(b)) => {
            if set_op {
                return Err(EvalError("and/or/unless need vectors on both sides".into()));
            }
            match op {
                BinOp::Cmp(_) if !return_bool => Err(EvalError(
                    "comparisons between scalars must use the bool modifier".into(),
                )),
                _ => Ok(Val::Scalar(arith(op, a, b, true).unwrap_or(f64::NAN))),
            }
        }
        (Val::Vector(vs), Val::Scalar(b)) | (Val::Scalar(b), Val::Vector(vs)) if set_op => {
            let _ = (vs, b);
            Err(EvalError("and/or/unless need vectors on both sides".into()))
        }
        (Val::Vector(vs), Val::Scalar(b)) => Ok(Val::Vector(map_points(vs, |a| {
            arith(op, a, b, return_bool)
        }))),
        (Val::Scalar(a), Val::Vector(vs)) => Ok(Val::Vector(map_points(vs, |b| {
            // For comparisons the vector's value is kept (a filter), as in Prometheus.
            match op {
                BinOp::Cmp(_) if !return_bool => arith(op, a, b, false).map(|_| b),
                _ => arith(op, a, b, return_bool),
            }
        }))),
        (Val::Vector(ls), Val::Vector(rs)) => {
            let rmap: BTreeMap<Labels, &Series> = rs
                .iter()
                .map(|s| (match_key(&s.labels, matching), s))
                .collect();
            let mut out = Vec::new();
            match op {
                BinOp::And | BinOp::Unless => {
                    for s in ls {
                        let other = rmap.get(&match_key(&s.labels, matching));
                        let points: Vec<(i64, f64)> = s
                            .points
                            .iter()
                            .copied()
                            .filter(|(t, _)| {
                                let has = other.is_some_and(|o| {
                                    o.points.binary_search_by_key(t, |p| p.0).is_ok()
                                });
                                has == (op == BinOp::And)
                            })
                            .collect();
                        if !points.is_empty() {
                            out.push(Series {
                                labels: s.labels,
                                points,
                            });
                        }
                    }
                }
                BinOp::Or => {
                    let lkeys: Vec<Labels> =
                        ls.iter().map(|s| match_key(&s.labels, matching)).collect();
                    out.extend(ls);
                    for s in rs {
                        if !lkeys.contains(&match_key(&s.labels, matching)) {
                            out.push(s);
                        }
                    }
                }
                _ => {
                    for s in ls {
                        let key = match_key(&s.labels, matching);
                        let Some(o) = rmap.get(&key) else { continue };
                        let points: Vec<(i64, f64)> = s
                            .points
                            .iter()
                            .filter_map(|&(t, a)| {
                                let b = o
                                    .points
                                    .binary_search_by_key(&t, |p| p.0)
                                    .ok()
                                    .map(|i| o.points[i].1)?;
                                arith(op, a, b, return_bool).map(|v| (t, v))
                            })
                            .collect();
                        if !points.is_empty() {
                            let labels = if matches!(op, BinOp::Cmp(_)) && !return_bool {
                                s.labels
                            } else {
                                key
                            };
                            out.push(Series { labels, points });
                        }
                    }
                }
            }
            Ok(Val::Vector(out))
        }
    }
}

fn map_points(series: Vec<Series>, f: impl Fn(f64) -> Option<f64>) -> Vec<Series> {
    series
        .into_iter()
        .filter_map(|s| {
            let points: Vec<(i64, f64)> = s
                .points
                .into_iter()
                .filter_map(|(t, v)| f(v).map(|x| (t, x)))
                .collect();
            (!points.is_empty()).then_some(Series {
                labels: s.labels,
                points,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
