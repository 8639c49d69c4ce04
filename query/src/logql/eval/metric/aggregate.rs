//! Vector aggregations (`sum`, `avg`, `min`, `max`, `count`, `stddev`, `stdvar`, `topk`, `bottomk`, `sort`,
//! `sort_desc`) over series, with `by`/`without` grouping.

use super::{group_key, Series};
use crate::logql::ast::{Grouping, VecOp};
use crate::logql::eval::{EvalError, Labels};
use std::collections::BTreeMap;

pub(super) fn vector_agg(
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
