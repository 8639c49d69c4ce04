//! `GET /loki/api/v1/tail` over WebSocket: new lines of a log query as Loki's tail frames
//! (`{"streams":[…],"dropped_entries":null}`), polled from the index about once a second.

use super::exec::{self, Line};
use super::query::{parse_query, LokiReq};
use super::response;
use super::{LokiError, LokiState};
use crate::engine::TimeRange;
use crate::error::QueryError;
use crate::logql::Expr;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

/// Lines sent per poll at most.
const MAX_PER_POLL: usize = 1000;

/// How far behind the present a poll that found nothing leaves the cursor at least, for lines that become
/// searchable late (agents' retries, a restart's replay); three commit intervals when that is longer. Without it a
/// tail whose query matched nothing rescanned from its start every second, forever.
const IDLE_LOOKBACK_NS: i64 = 120_000_000_000;

/// A frame the client does not take within this long ends the tail.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `msg`; false when the client is gone or does not take it in [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

/// Upgrades to a WebSocket and streams the query's new lines.
pub async fn tail(
    State(state): State<LokiState>,
    ws: WebSocketUpgrade,
    req: LokiReq,
) -> Result<Response, LokiError> {
    let p = req.params;
    let now = state.engine.now_ns();
    let Expr::Log(log) = parse_query(&p)? else {
        return Err(QueryError::BadRequest(
            "tail needs a log query (stream selector), not a metric query".into(),
        )
        .into());
    };
    exec::compile_log(&state.engine, &log)?;
    let start = p.time("start", now)?.unwrap_or(now - 3_600_000_000_000);
    let limit = p.usize("limit", 100)?.clamp(1, MAX_PER_POLL);
    let delay_ns = p.duration("delay_for")?.unwrap_or(0).min(5_000_000_000);
    let categorize = req.categorize;
    let permit = state.engine.tail_permit()?;
    Ok(ws.on_upgrade(move |socket| async move {
        follow(state, socket, log, start, limit, delay_ns, categorize).await;
        drop(permit);
    }))
}

async fn follow(
    state: LokiState,
    mut socket: WebSocket,
    log: crate::logql::ast::LogExpr,
    start: i64,
    first_limit: usize,
    delay_ns: i64,
    categorize: bool,
) {
    let mut cursor = start;
    let mut seen_at_cursor: HashSet<(String, u64)> = HashSet::new();
    let lookback = state
        .indexer
        .as_ref()
        .map(|i| crate::engine::dur_ns(i.options().commit_interval).saturating_mul(3))
        .unwrap_or(0)
        .max(IDLE_LOOKBACK_NS);
    let mut limit = first_limit;
    // A ping every `tail_ping`; a client that sends nothing back (not even the pong every client answers a ping
    // with) for 2.5 pings is gone: a peer that vanished without closing would hold its tail place forever.
    let ping_every = state.engine.options().tail_ping;
    let dead_after = ping_every.saturating_mul(5) / 2;
    let mut heard = tokio::time::Instant::now();
    let mut pinged = heard;
    loop {
        if heard.elapsed() >= dead_after {
            return;
        }
        if pinged.elapsed() >= ping_every {
            if !send(&mut socket, Message::Ping(Default::default())).await {
                return;
            }
            pinged = tokio::time::Instant::now();
        }
        let end = state.engine.now_ns() - delay_ns + 1;
        if end > cursor {
            let l = log.clone();
            let range = TimeRange {
                start_ns: cursor,
                end_ns: end,
            };
            let lines: Result<Vec<Line>, QueryError> = state
                .engine
                .run(move |engine, ctx| {
                    exec::select_lines(engine, ctx, &l, range, false, limit + 1000)
                })
                .await;
            match lines {
                Ok(lines) => {
                    let complete = lines.len() < limit + 1000;
                    let fresh: Vec<Line> = lines
                        .into_iter()
                        .filter(|l| !(l.entry.ts == cursor && seen_at_cursor.contains(&l.key)))
                        .take(limit)
                        .collect();
                    if let Some(max_ts) = fresh.iter().map(|l| l.entry.ts).max() {
                        if max_ts > cursor {
                            seen_at_cursor.clear();
                            cursor = max_ts;
                        }
                        for l in fresh.iter().filter(|l| l.entry.ts == cursor) {
                            seen_at_cursor.insert(l.key.clone());
                        }
                        let frame = json!({
                            "streams": response::streams(fresh, categorize, false),
                            "dropped_entries": null,
                        });
                        if !send(&mut socket, Message::Text(frame.to_string().into())).await {
                            return;
                        }
                    } else if complete && end.saturating_sub(lookback) > cursor {
                        // Nothing new up to `end`: the next poll need not look further back than this.
                        cursor = end.saturating_sub(lookback);
                        seen_at_cursor.clear();
                    }
                }
                Err(e) => {
                    let error = json!({"error": e.public_message()}).to_string();
                    if send(&mut socket, Message::Text(error.into())).await {
                        send(&mut socket, Message::Close(None)).await;
                    }
                    return;
                }
            }
            limit = MAX_PER_POLL;
        }
        // Wait a second, but notice a client that closes meanwhile.
        tokio::select! {
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => heard = tokio::time::Instant::now(),
            },
            _ = tokio::time::sleep(Duration::from_secs(1).min(ping_every)) => {}
        }
    }
}
