//! `/loki/api/v1/query` and `/loki/api/v1/query_range`.

use super::exec::{self, EngineSource};
use super::params::{self, Params};
use super::response;
use super::{LokiError, LokiState};
use crate::engine::TimeRange;
use crate::error::QueryError;
use crate::logql::eval::metric::{self, Val};
use crate::logql::{parse, Expr};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::Method;
use axum::{Form, Json};
use serde_json::{json, Value};
use std::time::Instant;

/// Loki request parameters (query string + form body) and the response encoding flags.
#[derive(Debug)]
pub struct LokiReq {
    /// Parameters.
    pub params: Params,
    /// `X-Loki-Response-Encoding-Flags: categorize-labels` was sent.
    pub categorize: bool,
}

impl<S: Send + Sync> FromRequest<S> for LokiReq {
    type Rejection = LokiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let categorize = req
            .headers()
            .get_all("x-loki-response-encoding-flags")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
        let mut pairs: Vec<(String, String)> =
            Query::<Vec<(String, String)>>::try_from_uri(req.uri())
                .map(|q| q.0)
                .map_err(|e| {
                    LokiError(QueryError::BadRequest(format!("invalid query string: {e}")))
                })?;
        let is_form = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && is_form {
            let Form(body) = Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(|e| {
                    LokiError(QueryError::BadRequest(format!("invalid form body: {e}")))
                })?;
            pairs.extend(body);
        }
        Ok(LokiReq {
            params: Params::from_pairs(pairs),
            categorize,
        })
    }
}

/// Parses the `query` parameter.
pub fn parse_query(p: &Params) -> Result<Expr, QueryError> {
    parse(p.required("query")?).map_err(|e| QueryError::BadRequest(e.to_string()))
}

fn check_limit(state: &LokiState, limit: usize) -> Result<(), QueryError> {
    let max = state.engine.options().max_lines;
    if limit > max {
        return Err(QueryError::Limit(format!(
            "max entries limit per query exceeded, limit > max_entries_limit ({limit} > {max})"
        )));
    }
    Ok(())
}

fn check_range(state: &LokiState, start: i64, end: i64) -> Result<(), QueryError> {
    let max = i64::try_from(state.engine.options().max_range.as_nanos()).unwrap_or(i64::MAX);
    if end.saturating_sub(start) > max {
        return Err(QueryError::Limit(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            logmind_protocol::units::format_duration(std::time::Duration::from_nanos(
                u64::try_from(end - start).unwrap_or(0)
            )),
            logmind_protocol::units::format_duration(state.engine.options().max_range)
        )));
    }
    Ok(())
}

/// Loki's default step: range / 250, at least one second.
pub fn default_step(start: i64, end: i64) -> i64 {
    let secs = ((end - start) / 250 / 1_000_000_000).max(1);
    secs * 1_000_000_000
}

async fn run_metric(
    state: &LokiState,
    expr: crate::logql::ast::MetricExpr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<Val, QueryError> {
    state
        .engine
        .run(move |engine, ctx| {
            let src = EngineSource::new(engine, ctx);
            let p = metric::Params {
                start_ns: start,
                end_ns: end,
                step_ns: step,
                limits: exec::limits(engine),
                max_samples: 50_000_000,
                points: Default::default(),
            };
            metric::eval(&expr, &p, &src).map_err(|e| src.error(e))
        })
        .await
}

async fn run_log(
    state: &LokiState,
    log: crate::logql::ast::LogExpr,
    range: TimeRange,
    backward: bool,
    limit: usize,
) -> Result<Vec<exec::Line>, QueryError> {
    state
        .engine
        .run(move |engine, ctx| exec::select_lines(engine, ctx, &log, range, backward, limit))
        .await
}

/// `GET|POST /loki/api/v1/query_range`.
pub async fn range(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::QueryResult>, LokiError> {
    let t0 = Instant::now();
    let p = &req.params;
    let now = state.engine.now_ns();
    let expr = parse_query(p)?;
    let (start, end) = params::range(p, now)?;
    check_range(&state, start, end)?;
    let limit = p.usize("limit", 100)?;
    let backward = p.backward()?;
    match expr {
        Expr::Log(log) => {
            check_limit(&state, limit)?;
            let lines = run_log(
                &state,
                log,
                TimeRange {
                    start_ns: start,
                    end_ns: end,
                },
                backward,
                limit,
            )
            .await?;
            let n = lines.len();
            Ok(Json(response::query_result(
                "streams",
                response::streams(lines, req.categorize, backward),
                response::stats(n, t0.elapsed().as_secs_f64()),
                req.categorize,
            )))
        }
        Expr::Metric(m) => {
            let step = p
                .duration("step")?
                .filter(|s| *s > 0)
                .unwrap_or_else(|| default_step(start, end));
            let series = match run_metric(&state, m, start, end, step).await? {
                Val::Vector(s) => s,
                Val::Scalar(v) => vec![crate::logql::eval::metric::Series {
                    labels: Default::default(),
                    points: (0..=((end - start) / step))
                        .map(|i| (start + i * step, v))
                        .collect(),
                }],
            };
            Ok(Json(response::query_result(
                "matrix",
                response::matrix(&series),
                response::stats(0, t0.elapsed().as_secs_f64()),
                false,
            )))
        }
    }
}

/// `GET|POST /loki/api/v1/query` (instant).
pub async fn instant(
    State(state): State<LokiState>,
    req: LokiReq,
) -> Result<Json<response::QueryResult>, LokiError> {
    let t0 = Instant::now();
    let p = &req.params;
    let now = state.engine.now_ns();
    let expr = parse_query(p)?;
    let time = p.time("time", now)?.unwrap_or(now);
    let limit = p.usize("limit", 100)?;
    let backward = p.backward()?;
    match expr {
        Expr::Log(log) => {
            check_limit(&state, limit)?;
            let since = p.duration("since")?.unwrap_or(3_600_000_000_000);
            let range = TimeRange {
                start_ns: time - since,
                end_ns: time,
            };
            let lines = run_log(&state, log, range, backward, limit).await?;
            let n = lines.len();
            Ok(Json(response::query_result(
                "streams",
                response::streams(lines, req.categorize, backward),
                response::stats(n, t0.elapsed().as_secs_f64()),
                req.categorize,
            )))
        }
        Expr::Metric(m) => match run_metric(&state, m, time, time, 1).await? {
            Val::Scalar(v) => Ok(Json(response::query_result(
                "scalar",
                json!([response::seconds(time), response::format_value(v)]),
                response::stats(0, t0.elapsed().as_secs_f64()),
                false,
            ))),
            Val::Vector(series) => Ok(Json(response::query_result(
                "vector",
                response::vector(&series),
                response::stats(0, t0.elapsed().as_secs_f64()),
                false,
            ))),
        },
    }
}

/// `GET|POST /loki/api/v1/format_query`: validates and echoes the query.
pub async fn format_query(req: LokiReq) -> Result<Json<response::Success<Value>>, LokiError> {
    parse_query(&req.params)?;
    let q = req.params.required("query")?.trim().to_string();
    Ok(Json(response::success(Value::String(q))))
}
