//! `/loki/api/v1/tail` over a real WebSocket: the backlog since `start`, then lines ingested afterwards, each
//! once, in Loki's tail frame shape; a metric query is refused before the upgrade.

use crate::loki_common;

use futures::StreamExt;
use logmind_protocol::LogRecord;
use loki_common::*;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const NS: i64 = 1_000_000_000;
const T0: i64 = 1_705_276_800 * NS;

fn record(i: i64, app: &str) -> LogRecord {
    LogRecord {
        ts: T0 + i * NS,
        namespace: "shop".into(),
        app: app.into(),
        message: format!("{app} line {i}"),
        ..LogRecord::default()
    }
}

#[tokio::test]
async fn tail_streams_backlog_then_new_lines_once() {
    let first: Vec<LogRecord> = (0..5)
        .map(|i| record(i, if i % 2 == 0 { "api" } else { "web" }))
        .collect();
    // "now" is after everything the test ingests.
    let s = start(&first, T0 + 100 * NS, None).await;
    let ws_url = format!(
        "{}/loki/api/v1/tail?query={}&start={}",
        s.url.replace("http://", "ws://"),
        "%7Bapp%3D%22api%22%7D",
        T0
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("websocket connect");
    let mut lines: Vec<(i64, String)> = Vec::new();
    let mut ingested = false;
    for _ in 0..40 {
        let msg = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(other) => panic!("websocket ended: {other:?}"),
            Err(_) => {
                if !ingested {
                    let more: Vec<LogRecord> = (5..10)
                        .map(|i| record(i, if i % 2 == 0 { "api" } else { "web" }))
                        .collect();
                    s.indexer.ingest("fixture", 99, more).await.expect("ingest");
                    s.indexer.commit().await.expect("commit");
                    ingested = true;
                }
                continue;
            }
        };
        let Message::Text(text) = msg else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).expect("frame JSON");
        assert!(frame.get("dropped_entries").is_some(), "{frame}");
        for st in frame["streams"].as_array().expect("streams") {
            assert_eq!(st["stream"]["app"], "api");
            for v in st["values"].as_array().expect("values") {
                let ts: i64 = v[0].as_str().and_then(|t| t.parse().ok()).expect("ns");
                lines.push((ts, v[1].as_str().expect("line").to_string()));
            }
        }
        if lines.len() >= 5 && ingested {
            break;
        }
    }
    // Nothing is sent twice: another poll (about a second) brings no more lines.
    if let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(1500), ws.next()).await
    {
        let frame: Value = serde_json::from_str(text.as_str()).expect("frame JSON");
        for st in frame["streams"].as_array().expect("streams") {
            for v in st["values"].as_array().expect("values") {
                let ts: i64 = v[0].as_str().and_then(|t| t.parse().ok()).expect("ns");
                lines.push((ts, v[1].as_str().expect("line").to_string()));
            }
        }
    }
    let want: Vec<(i64, String)> = (0..10)
        .filter(|i| i % 2 == 0)
        .map(|i| (T0 + i * NS, format!("api line {i}")))
        .collect();
    lines.sort();
    assert_eq!(lines, want);
    let _ = ws.close(None).await;

    let bad = format!(
        "{}/loki/api/v1/tail?query={}",
        s.url.replace("http://", "ws://"),
        "count_over_time(%7Bapp%3D%22api%22%7D%5B1m%5D)"
    );
    assert!(tokio_tungstenite::connect_async(&bad).await.is_err());
    s.indexer.shutdown().await.expect("shutdown");
}

/// A server with one stored line, `max_tails` and `tail_ping` set, and the URL of a tail of `{app="api"}`.
async fn tail_server(max_tails: usize, tail_ping: Duration) -> (Server, String) {
    let opts = logmind_query::QueryOptions {
        max_range: Duration::from_secs(40 * 86_400),
        max_tails,
        tail_ping,
        ..logmind_query::QueryOptions::default()
    };
    let s = start_with(&[record(0, "api")], T0 + 100 * NS, None, opts, true).await;
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22api%22%7D&start={T0}",
        s.url.replace("http://", "ws://")
    );
    (s, url)
}

/// Live tails are capped (`max_tails`, Loki's `max_concurrent_tail_requests`): one more is refused with 429
/// before the upgrade, and a closed tail frees its place.
#[tokio::test]
async fn tails_beyond_the_limit_are_refused_until_one_closes() {
    let (s, url) = tail_server(2, Duration::from_secs(30)).await;
    let first = tokio_tungstenite::connect_async(&url)
        .await
        .expect("first tail")
        .0;
    let second = tokio_tungstenite::connect_async(&url)
        .await
        .expect("second tail")
        .0;
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
            assert!(body.contains("query.max_tails"), "{body}");
        }
        other => panic!("a third tail was not refused: {other:?}"),
    }
    drop(second);
    drop(first);
    // The server notices the closed sockets within its poll (about a second).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok(_) => break,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "no place freed: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.indexer.shutdown().await.expect("shutdown");
}

/// A client that stops answering (no pong, no frame: a peer gone without closing its connection) loses its tail
/// after 2.5 ping intervals, and its place is free again.
#[tokio::test]
async fn a_tail_whose_client_stops_answering_is_ended() {
    let (s, url) = tail_server(1, Duration::from_millis(200)).await;
    // Never read: tungstenite answers pings only while the stream is read.
    let silent = tokio_tungstenite::connect_async(&url)
        .await
        .expect("first tail")
        .0;
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "the only place is taken"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut answering = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => break ws,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "never freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A client that reads (and so answers the pings) keeps its tail well past 2.5 intervals.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(100), answering.next()).await {
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(other) => panic!("an answering tail ended: {other:?}"),
        }
    }
    drop(silent);
    s.indexer.shutdown().await.expect("shutdown");
}
