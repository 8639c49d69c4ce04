//! Binary operations: arithmetic and comparisons between scalars and vectors (with `bool` and `on`/`ignoring`
//! vector matching), and the set operators `and`, `or`, `unless`.

use super::{Series, Val};
use crate::logql::ast::{BinOp, VectorMatching};
use crate::logql::eval::{EvalError, Labels};
use std::collections::BTreeMap;

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

pub(super) fn binary(
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
                    let lkeys: std::collections::BTreeSet<Labels> =
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
