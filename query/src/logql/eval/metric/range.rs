//! Range aggregations (`count_over_time`, `rate`, `quantile_over_time`, `absent_over_time`, …): collecting
//! samples from the [`Source`] through the pipeline and folding each step's window.

use super::{group_key, Params, Series, Source, Val, MAX_RESULT_POINTS};
use crate::logql::ast::*;
use crate::logql::eval::pipeline::{compile, CompiledUnwrap, Pipeline};
use crate::logql::eval::plan::is_indexed;
use crate::logql::eval::{canonical_label, parsers, Entry, EvalError, Labels};
use std::collections::BTreeMap;

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
    // `without` only removes labels: nothing beyond the row's own needs loading.
    let grouped = grouping
        .filter(|g| !g.without)
        .map(|g| g.labels.as_slice())
        .unwrap_or_default();
    func_ok && stages_ok && grouped.iter().chain(keep_ids).all(|l| is_indexed(l))
}

struct Sample {
    ts: i64,
    value: f64,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn range_agg(
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
    let fetch_start = p
        .start_ns
        .saturating_sub(offset_ns)
        .saturating_sub(range_ns)
        .saturating_add(1);
    let fetch_end = p.end_ns.saturating_sub(offset_ns).saturating_add(1);
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
            labels.remove(parsers::ERROR_LABEL);
            labels.remove(parsers::ERROR_DETAILS_LABEL);
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
                let hi_ts = t.saturating_sub(offset_ns);
                all.partition_point(|&x| x <= hi_ts.saturating_sub(range_ns))
                    < all.partition_point(|&x| x <= hi_ts)
            })
            .collect();
        return Ok(Val::Vector(absent(log, p, &present)));
    }
    let range_secs = range_ns as f64 / 1e9;
    let mut out = Vec::new();
    let mut total = p.points.get();
    for (labels, mut samples) in series {
        src.check()?;
        samples.sort_by_key(|s| s.ts);
        let mut points = Vec::new();
        // The deadline is checked by work done: a step's window may hold millions of samples (a quantile sorts a
        // copy of them), or none.
        let mut work = 0usize;
        for t in p.steps() {
            work += 1;
            if work >= 1 << 16 {
                src.check()?;
                work = 0;
            }
            let hi_ts = t.saturating_sub(offset_ns); // inclusive
            let lo_ts = hi_ts.saturating_sub(range_ns); // exclusive
            let lo = samples.partition_point(|s| s.ts <= lo_ts);
            let hi = samples.partition_point(|s| s.ts <= hi_ts);
            if lo >= hi {
                continue;
            }
            let w = &samples[lo..hi];
            work += w.len();
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
            total += 1;
            if total > MAX_RESULT_POINTS {
                return Err(EvalError(format!(
                    "query would hold more than {MAX_RESULT_POINTS} points (series × steps) in one range \
                     aggregation: narrow the selector, use a larger step, or sum it (sum by (…) of count, rate, \
                     bytes or sum_over_time is computed per group)"
                )));
            }
        }
        if !points.is_empty() {
            out.push(Series { labels, points });
        }
    }
    p.points.set(total);
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
