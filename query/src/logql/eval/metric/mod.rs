//! Metric queries: range aggregations over log samples, vector aggregations, binary operations.
//!
//! Semantics follow Loki: a range aggregation at time `t` covers the window `(t - range - offset, t - offset]`;
//! `rate` is `count / range` with no extrapolation; series are keyed by the entry's labels after the pipeline.
//!
//! This module holds the values ([`Val`], [`Series`]), the [`Source`] of records and the evaluator [`eval`];
//! each operation has its own submodule: `range` (range aggregations), `aggregate` (vector aggregations) and
//! `binary` (arithmetic, comparison and set operators).

mod aggregate;
mod binary;
mod range;

use super::pipeline::{compile_regex, CompileLimits};
use super::{canonical_label, Entry, EvalError, Labels};
use crate::logql::ast::*;
use aggregate::vector_agg;
use binary::binary;
use logmind_protocol::LogRecord;
use range::range_agg;
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

    /// `Err` once the query must stop (past its deadline, cancelled): checked in long evaluation loops.
    fn check(&self) -> Result<(), EvalError> {
        Ok(())
    }
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
#[derive(Debug, Clone)]
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
    /// Points the range aggregations of this query have made so far (bounded by [`MAX_RESULT_POINTS`] over the
    /// whole query: a binary operator holds one side's result while it evaluates the other).
    pub points: std::cell::Cell<usize>,
}

/// Maximum evaluation points per series, as in Loki.
pub const MAX_POINTS: i64 = 11_000;

/// Most points the range aggregations of one query may produce over all their series (16 bytes each, 320 MB at
/// most; the input samples are bounded by `Params::max_samples`). The aggregations above it (`sum`, …) take its whole output, so
/// this bounds the series × steps of the streams a query selects: 2,000 series over 11,000 steps took gigabytes
/// before it.
pub const MAX_RESULT_POINTS: usize = 20_000_000;

/// Longest label value `label_replace` may make: three nested ones with `$1` repeated 5,000 times each asked
/// for hundreds of GB.
pub const MAX_LABEL_REPLACE_BYTES: usize = 64 << 10;

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
            let inner = match (op, expr.as_ref()) {
                // `sum` of a function that adds up its samples (count, rate, bytes, sum_over_time) is that function
                // over the samples grouped by the sum's key: one series per group instead of one per stream, the
                // same values (counts and bytes exactly; rates and unwrapped sums up to floating-point rounding,
                // as they are added in another order). The aggregation below is then the identity on them.
                (
                    VecOp::Sum,
                    MetricExpr::Range {
                        func:
                            func @ (RangeFunc::CountOverTime
                            | RangeFunc::Rate
                            | RangeFunc::BytesOverTime
                            | RangeFunc::BytesRate
                            | RangeFunc::SumOverTime),
                        param: range_param,
                        log,
                        range_ns,
                        offset_ns,
                        grouping: None,
                    },
                ) => {
                    let by_key = grouping.clone().unwrap_or(Grouping {
                        without: false,
                        labels: Vec::new(),
                    });
                    range_agg(
                        *func,
                        *range_param,
                        log,
                        *range_ns,
                        *offset_ns,
                        Some(&by_key),
                        p,
                        src,
                        &wanted,
                    )?
                }
                _ => eval_inner(expr, p, src, &wanted)?,
            };
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
            let dollars = replacement.bytes().filter(|&b| b == b'$').count();
            for s in &mut series {
                let v = s.labels.get(src_label).cloned().unwrap_or_default();
                // An upper bound of the expansion: every `$` a copy of the whole value.
                if replacement
                    .len()
                    .saturating_add(dollars.saturating_mul(v.len()))
                    > MAX_LABEL_REPLACE_BYTES
                {
                    return Err(EvalError(format!(
                        "label_replace could make a label value of more than {MAX_LABEL_REPLACE_BYTES} bytes \
                         ({dollars} references to a {}-byte value)",
                        v.len()
                    )));
                }
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

#[cfg(test)]
mod tests;
