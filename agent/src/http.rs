//! The agent's own HTTP endpoints: `GET /metrics` (Prometheus text) and `GET /health`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::enrich::Enricher;
use crate::error::AgentError;
use crate::metrics::Metrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    /// Agent counters.
    pub metrics: Arc<Metrics>,
    /// Enrichment (for its counters and the Kubernetes sync state).
    pub enricher: Arc<Enricher>,
    /// False once the reader thread stopped.
    pub reader_alive: Arc<AtomicBool>,
}

/// The router serving `/metrics` and `/health`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(state)
}

/// Binds `addr` and serves until `shutdown` turns true.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Listen { addr, source })?;
    tracing::info!(addr = %addr, "agent http endpoints listening");
    let app = router(state);
    tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "agent http server failed");
        }
    });
    Ok(())
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    s.enricher.stats().write_prometheus(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn health(State(s): State<HttpState>) -> impl IntoResponse {
    let reader = s.reader_alive.load(Ordering::Relaxed);
    let spool_full = Metrics::get(&s.metrics.spool_full) == 1;
    let kube = match s.enricher.kube() {
        None => "disabled",
        Some(k) if k.is_synced() => "synced",
        Some(_) => "syncing",
    };
    let body = serde_json::json!({
        "status": if reader { "healthy" } else { "unhealthy" },
        "version": env!("CARGO_PKG_VERSION"),
        "components": {
            "reader": if reader { "running" } else { "stopped" },
            "spool": if spool_full { "full" } else { "ok" },
            "notify": if Metrics::get(&s.metrics.notify_active) == 1 { "active" } else { "polling" },
            "kubernetes": kube,
        }
    });
    let code = if reader {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
