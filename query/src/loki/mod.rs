//! The Loki-compatible HTTP API under `/loki/api/v1/`, so Grafana's built-in Loki data source, logcli and the
//! shippers that speak Loki's push protocol work with logmind unmodified.
//!
//! Request → parameter parsing as Loki does it ([`params`]) → LogQL parse → [`exec`] (index-narrowed scan, then
//! the pipeline) or the metric evaluator → response in Loki's exact JSON shapes ([`response`]). Metadata
//! endpoints ([`meta`]) answer from fast fields; [`push`] accepts JSON and snappy-protobuf pushes; [`tail`]
//! streams new lines over WebSocket.

pub mod detected;
pub mod exec;
pub mod meta;
pub mod params;
pub mod push;
pub mod query;
pub mod response;
pub mod tail;

use crate::engine::Engine;
use crate::error::QueryError;
use crate::http::auth_error;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use logmind_indexer::{check_token, AuthTokens, Indexer, Role};
use std::sync::Arc;

/// Shared state of the Loki routes.
#[derive(Clone)]
pub struct LokiState {
    /// The query engine.
    pub engine: Arc<Engine>,
    /// Configured tokens.
    pub auth: Arc<AuthTokens>,
    /// Where pushes go (None: push answers 503).
    pub indexer: Option<Arc<Indexer>>,
}

/// A Loki-route error: status from the one mapping in [`crate::http::error`], body in plain text as Loki does.
#[derive(Debug)]
pub struct LokiError(pub QueryError);

impl From<QueryError> for LokiError {
    fn from(e: QueryError) -> Self {
        LokiError(e)
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "loki api request failed");
        }
        let mut body = self.0.public_message();
        body.push('\n');
        (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

/// The Loki routes (merge with the indexer's and the native query routes on one listener).
pub fn router(engine: Arc<Engine>, auth: AuthTokens, indexer: Option<Arc<Indexer>>) -> Router {
    let state = LokiState {
        engine,
        auth: Arc::new(auth),
        indexer,
    };
    let read = Router::new()
        .route(
            "/loki/api/v1/query",
            get(query::instant).post(query::instant),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::range).post(query::range),
        )
        .route("/loki/api/v1/labels", get(meta::labels).post(meta::labels))
        .route("/loki/api/v1/label", get(meta::labels))
        .route("/loki/api/v1/label/{name}/values", get(meta::label_values))
        .route("/loki/api/v1/series", get(meta::series).post(meta::series))
        .route(
            "/loki/api/v1/index/stats",
            get(meta::stats).post(meta::stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(meta::volume).post(meta::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(meta::volume_range).post(meta::volume_range),
        )
        .route("/loki/api/v1/patterns", get(meta::patterns))
        .route(
            "/loki/api/v1/detected_labels",
            get(detected::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(detected::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(detected::detected_field_values),
        )
        .route("/loki/api/v1/tail", get(tail::tail))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require(Role::Query),
        ));
    let write = Router::new()
        .route("/loki/api/v1/push", post(push::push))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require(Role::Ingest),
        ));
    Router::new()
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/loki/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .merge(read)
        .merge(write)
        .with_state(state)
}

type AuthFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

fn require(
    role: Role,
) -> impl Fn(State<LokiState>, Request, Next) -> AuthFuture + Clone + Send + Sync + 'static {
    move |State(state): State<LokiState>, req: Request, next: Next| {
        Box::pin(async move {
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if let Some(tenant) = req
                .headers()
                .get("x-scope-orgid")
                .and_then(|v| v.to_str().ok())
            {
                tracing::trace!(tenant, "loki request for tenant (single-tenant store)");
            }
            match check_token(&state.auth, role, header) {
                Ok(()) => next.run(req).await,
                Err(e) => LokiError(auth_error(e)).into_response(),
            }
        })
    }
}

async fn buildinfo() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "version": "3.4.0",
            "revision": "logmind",
            "branch": "main",
            "buildUser": "logmind",
            "buildDate": "",
            "goVersion": "",
            "logmind": env!("CARGO_PKG_VERSION"),
        })),
    )
        .into_response()
}
