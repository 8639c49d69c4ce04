//! Grafana's "detected" endpoints (`detected_labels`, `detected_fields`, `detected_field/{name}/values`):
//! label cardinalities from fast fields, fields found by parsing a sample of the newest lines.

use super::exec;
use super::meta::{field_index, range_of, scan_rows, selector, BROWSABLE, MAX_VALUES};
use super::params::Params;
use super::query::LokiReq;
use super::{LokiError, LokiState};
use crate::error::QueryError;
use crate::logql::eval::plan::INDEXED_FIELDS;
use crate::logql::eval::Entry;
use crate::logql::parse_log;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `GET /loki/api/v1/detected_labels`.
pub async fn detected_labels(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<Value>, LokiError> {
    let range = range_of(&state, &req.params)?;
    let plan = selector(&state.engine, req.params.get("query"))?;
    let out = state
        .engine
        .run(move |engine, ctx| {
            let mut sets: Vec<BTreeSet<String>> = vec![BTreeSet::new(); INDEXED_FIELDS.len()];
            scan_rows(engine, ctx, plan.as_ref(), range, &mut |row| {
                for (i, v) in row.values.iter().enumerate() {
                    if !v.is_empty() && sets[i].len() < MAX_VALUES && !sets[i].contains(v) {
                        sets[i].insert(v.clone());
                    }
                }
            })?;
            Ok(BROWSABLE
                .iter()
                .filter_map(|l| {
                    let n = sets[field_index(l)?].len();
                    (n > 0).then(|| json!({"label": l, "cardinality": n}))
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "detectedLabels": out })))
}

fn infer_type(values: &BTreeSet<String>) -> &'static str {
    let all = |f: &dyn Fn(&str) -> bool| values.iter().all(|v| f(v));
    if all(&|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(&|v| v == "true" || v == "false") {
        "boolean"
    } else if all(&|v| {
        v.chars().any(|c| c.is_ascii_alphabetic())
            && crate::logql::lexer::parse_go_duration(v).is_some()
    }) {
        "duration"
    } else if all(&|v| {
        crate::logql::eval::pipeline::convert(v, crate::logql::ast::UnwrapConv::Bytes).is_some()
            && v.chars().any(|c| c.is_ascii_alphabetic())
    }) {
        "bytes"
    } else {
        "string"
    }
}

struct Detected {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
}

async fn detect(state: &LokiState, p: &Params) -> Result<BTreeMap<String, Detected>, QueryError> {
    let range = range_of(state, p)?;
    let log = parse_log(p.required("query")?).map_err(|e| QueryError::BadRequest(e.to_string()))?;
    let line_limit = p
        .usize("line_limit", 1000)?
        .min(state.engine.options().max_lines.max(1000));
    let lines = state
        .engine
        .run(move |engine, ctx| exec::select_lines(engine, ctx, &log, range, true, line_limit))
        .await?;
    let mut out: BTreeMap<String, Detected> = BTreeMap::new();
    for l in lines {
        let mut probe = Entry {
            parsed: Default::default(),
            formatted: 0,
            ..l.entry.clone()
        };
        let parser = if probe.line.trim_start().starts_with('{') {
            crate::logql::eval::parsers::json(&mut probe, &[]);
            "json"
        } else {
            crate::logql::eval::parsers::logfmt(&mut probe, false, false, &[]);
            "logfmt"
        };
        if probe
            .parsed
            .contains_key(crate::logql::eval::parsers::ERROR_LABEL)
        {
            probe.parsed.clear();
        }
        for (k, v) in probe.parsed {
            let d = out.entry(k).or_insert_with(|| Detected {
                values: BTreeSet::new(),
                parsers: BTreeSet::new(),
            });
            d.parsers.insert(parser);
            if d.values.len() < MAX_VALUES {
                d.values.insert(v);
            }
        }
        for (k, v) in &l.entry.metadata {
            let d = out.entry(k.clone()).or_insert_with(|| Detected {
                values: BTreeSet::new(),
                parsers: BTreeSet::new(),
            });
            if d.values.len() < MAX_VALUES {
                d.values.insert(v.clone());
            }
        }
    }
    Ok(out)
}

/// `GET /loki/api/v1/detected_fields`: fields found by parsing a sample of the newest lines.
pub async fn detected_fields(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<Value>, LokiError> {
    let limit = req.params.usize("limit", 1000)?;
    let found = detect(&state, &req.params).await?;
    let fields: Vec<Value> = found
        .iter()
        .take(limit)
        .map(|(k, d)| {
            let parsers: Option<Vec<&str>> =
                (!d.parsers.is_empty()).then(|| d.parsers.iter().copied().collect());
            json!({
                "label": k,
                "type": infer_type(&d.values),
                "cardinality": d.values.len(),
                "parsers": parsers,
            })
        })
        .collect();
    Ok(Json(json!({ "fields": fields, "limit": limit })))
}

/// `GET /loki/api/v1/detected_field/{name}/values`.
pub async fn detected_field_values(
    State(state): State<LokiState>,
    Path(name): Path<String>,
    req: LokiReq,
) -> Result<Json<Value>, LokiError> {
    let found = detect(&state, &req.params).await?;
    let values: Vec<String> = found
        .get(&name)
        .map(|d| d.values.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Json(json!({ "values": values })))
}
