//! The native HTTP API. Every route requires `Authorization: Bearer <query or admin token>` when query tokens
//! are configured (401 missing/unknown, 403 other role). Errors are `{"error": "..."}` ([`error`]).
//!
//! Common parameters: `start`, `end` (RFC 3339, Unix s or ns, `now-1h`; default `end = now`,
//! `start = end - default_range`), `since` (`1h`, used when `start` is absent), and exact keyword filters
//! `namespace`, `app`, `pod`, `container`, `node`, `stream`, `level` (comma list allowed), `request_id`,
//! `user_id`, `trace_id`.
//!
//! - `GET /api/v1/search?q=&limit=&direction=backward|forward&cursor=` → `{"events": [record…],
//!   "next_cursor": "…"|null, "tail_cursor": "…"|null}`. `q`: terms (AND), `"phrases"`, `prefix*`,
//!   `AND`/`OR`/`NOT`/`-term`, `( )`, `field:value`; a syntax error is a 400 naming the byte position.
//! - `GET /api/v1/errors/count?step=5m&by=app` → `{"start","end","step","total","series":[{"key":{"app":"x"},
//!   "total","buckets":[[ts_ns,count]…]}]}`; `level=any` counts every event, `level=warn` only warnings.
//! - `GET /api/v1/errors/top?n=10` → `{"start","end","total","templates","groups":[{"template_id","template",
//!   "count","share","example","first_seen","last_seen","apps","pods"}]}`.
//! - `GET /api/v1/trace/{request_id}` → `{"request_id","summary":{"services","events","first_ts","last_ts",
//!   "duration_ns","error_count","first_error","matched_by","truncated"},"events":[…]}` (ascending); 404 when
//!   nothing matched.
//! - `GET /api/v1/users/{user_id}/events?limit=&cursor=` → `{"user_id","counts":{"total","by_app",
//!   "by_level"},"events":[…],"next_cursor"}`.

pub mod error;

use crate::engine::{
    Direction, Engine, ErrorCountRequest, ErrorCountResponse, ErrorTopRequest, ErrorTopResponse,
    Filters, SearchRequest, SearchResponse, TraceResponse, UserEventsResponse,
};
use crate::error::QueryError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use logmind_indexer::{check_token, AuthError, AuthTokens, Role};
use serde::Deserialize;
use std::sync::Arc;

/// Shared state of the query routes.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Configured tokens.
    pub auth: Arc<AuthTokens>,
}

/// The query routes (merge them with the indexer's router on one listener).
pub fn router(engine: Arc<Engine>, auth: AuthTokens) -> Router {
    let state = AppState {
        engine,
        auth: Arc::new(auth),
    };
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/errors/count", get(error_count))
        .route("/api/v1/errors/top", get(error_top))
        .route("/api/v1/trace/{request_id}", get(trace))
        .route("/api/v1/users/{user_id}/events", get(user_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_query_token,
        ))
        .with_state(state)
}

/// Maps an authorisation failure to the query error type.
pub fn auth_error(e: AuthError) -> QueryError {
    match e {
        AuthError::Unauthorized(_) => QueryError::Unauthorized(e.to_string()),
        AuthError::Forbidden(_) => QueryError::Forbidden(e.to_string()),
    }
}

/// Middleware: `Authorization: Bearer <query or admin token>` when query tokens are configured.
pub async fn require_query_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, QueryError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    check_token(&state.auth, Role::Query, header).map_err(auth_error)?;
    Ok(next.run(req).await)
}

/// Query-string parameters shared by the endpoints (numbers arrive as strings: `flatten` needs it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    #[serde(flatten)]
    filters: Filters,
    q: Option<String>,
    query: Option<String>,
    start: Option<String>,
    end: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    direction: Option<String>,
    cursor: Option<String>,
    step: Option<String>,
    by: Option<String>,
    n: Option<String>,
}

fn number(name: &str, v: &Option<String>) -> Result<Option<usize>, QueryError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>().map_err(|_| {
                QueryError::BadRequest(format!("{name}={s:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

impl Params {
    fn from(q: Result<Query<Params>, QueryRejection>) -> Result<Params, QueryError> {
        q.map(|Query(p)| p)
            .map_err(|e| QueryError::BadRequest(format!("query string: {e}")))
    }
    fn start(&self) -> Option<String> {
        match (&self.start, &self.since) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(since)) if !since.is_empty() => Some(format!("now-{since}")),
            _ => None,
        }
    }
    fn search(self) -> Result<SearchRequest, QueryError> {
        let direction = match self
            .direction
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("backward") | Some("desc") => Direction::Backward,
            Some("forward") | Some("asc") => Direction::Forward,
            Some(other) => {
                return Err(QueryError::BadRequest(format!(
                    "direction={other:?}: use backward or forward"
                )))
            }
        };
        Ok(SearchRequest {
            limit: number("limit", &self.limit)?,
            start: self.start(),
            end: self.end.clone(),
            q: self.q.clone().or(self.query.clone()),
            direction,
            cursor: self.cursor.clone(),
            filters: self.filters,
        })
    }
}

async fn search(
    State(s): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<SearchResponse>, QueryError> {
    let req = Params::from(q)?.search()?;
    Ok(Json(s.engine.search(req).await?))
}

async fn error_count(
    State(s): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<ErrorCountResponse>, QueryError> {
    let p = Params::from(q)?;
    let req = ErrorCountRequest {
        start: p.start(),
        end: p.end.clone(),
        step: p.step.clone(),
        by: p.by.clone().filter(|b| !b.is_empty()),
        filters: p.filters,
    };
    Ok(Json(s.engine.error_count(req).await?))
}

async fn error_top(
    State(s): State<AppState>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<ErrorTopResponse>, QueryError> {
    let p = Params::from(q)?;
    let req = ErrorTopRequest {
        start: p.start(),
        end: p.end.clone(),
        n: number("n", &p.n)?.or(number("limit", &p.limit)?),
        filters: p.filters,
    };
    Ok(Json(s.engine.error_top(req).await?))
}

async fn trace(
    State(s): State<AppState>,
    Path(request_id): Path<String>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<TraceResponse>, QueryError> {
    let p = Params::from(q)?;
    Ok(Json(
        s.engine.trace(request_id, p.start(), p.end.clone()).await?,
    ))
}

async fn user_events(
    State(s): State<AppState>,
    Path(user_id): Path<String>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<UserEventsResponse>, QueryError> {
    let req = Params::from(q)?.search()?;
    Ok(Json(s.engine.user_events(user_id, req).await?))
}
