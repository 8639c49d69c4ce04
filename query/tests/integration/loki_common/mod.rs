//! Shared fixture of the Loki API tests: a real indexer in a temp dir fed through `Indexer::ingest`, served
//! with the native and the Loki routers on 127.0.0.1, plus small HTTP helpers.
#![allow(dead_code)]

use logmind_indexer::{Indexer, IndexerOptions, ManualClock};
use logmind_protocol::LogRecord;
use logmind_query::{Engine, QueryOptions};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One running server over a real indexer.
pub struct Server {
    /// Base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// The indexer (for shutdown and direct ingest).
    pub indexer: Arc<Indexer>,
    /// Keeps the data dir alive.
    pub dir: tempfile::TempDir,
    /// HTTP client.
    pub http: reqwest::Client,
}

/// Options with the given tokens (empty: open).
pub fn options(dir: &std::path::Path, now: i64, tokens: Option<(&str, &str)>) -> IndexerOptions {
    let mut o = IndexerOptions {
        clock: Arc::new(ManualClock::new(now)),
        commit_interval: Duration::from_millis(100),
        ..IndexerOptions::new(dir)
    };
    if let Some((ingest, query)) = tokens {
        o.ingest_tokens = vec![ingest.to_string()];
        o.query_tokens = vec![query.to_string()];
        o.admin_tokens = vec!["admin-token".to_string()];
    }
    o
}

/// Opens an indexer, ingests `records` through `Indexer::ingest`, serves the merged routers and waits until
/// every record is searchable (bounded).
pub async fn start(records: &[LogRecord], now: i64, tokens: Option<(&str, &str)>) -> Server {
    let opts = QueryOptions {
        max_range: Duration::from_secs(40 * 86_400),
        ..QueryOptions::default()
    };
    start_with(records, now, tokens, opts, true).await
}

/// [`start`] with explicit query options; `wait` polls until the records are searchable.
pub async fn start_with(
    records: &[LogRecord],
    now: i64,
    tokens: Option<(&str, &str)>,
    query: QueryOptions,
    wait: bool,
) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let indexer = Indexer::open(options(dir.path(), now, tokens))
        .await
        .expect("open indexer");
    for (seq, chunk) in records.chunks(1000).enumerate() {
        indexer
            .ingest("fixture", seq as u64, chunk.to_vec())
            .await
            .expect("ingest");
    }
    indexer.commit().await.expect("commit");
    let engine = Engine::new(indexer.store(), query);
    let auth = indexer.auth().clone();
    let app = indexer
        .router()
        .merge(logmind_query::router(engine.clone(), auth.clone()))
        .merge(logmind_query::loki::router(
            engine,
            auth,
            Some(indexer.clone()),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let s = Server {
        url,
        indexer,
        dir,
        http: reqwest::Client::new(),
    };
    if wait && !records.is_empty() {
        let (lo, hi) = records.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
            (lo.min(r.ts), hi.max(r.ts))
        });
        s.wait_entries(lo, hi + 1, records.len() as u64, tokens.map(|t| t.1))
            .await;
    }
    s
}

impl Server {
    /// Polls `/loki/api/v1/index/stats` until `want` entries are visible in `[start, end)` (at most ~10 s).
    pub async fn wait_entries(&self, start: i64, end: i64, want: u64, token: Option<&str>) {
        let mut last = Value::Null;
        for _ in 0..200 {
            let mut req = self
                .http
                .get(format!("{}/loki/api/v1/index/stats", self.url))
                .query(&[
                    ("query", "{namespace=~\".+\"}".to_string()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                ]);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Ok(r) = req.send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["entries"].as_u64() == Some(want) {
                        return;
                    }
                    last = v;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("records never became searchable: want {want} entries, last stats {last}");
    }

    /// GET with query parameters; returns status and body text.
    pub async fn get_raw(&self, path: &str, params: &[(&str, String)]) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// GET expecting 200 JSON.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> Value {
        let (status, body) = self.get_raw(path, params).await;
        assert_eq!(status, 200, "{path} {params:?}: {body}");
        serde_json::from_str(&body).expect("json body")
    }
}

/// Every `(ts, line, stream labels)` of a `streams` result.
pub fn entries(body: &Value) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    for s in body["data"]["result"].as_array().expect("result array") {
        for v in s["values"].as_array().expect("values") {
            let ts: i64 = v[0]
                .as_str()
                .expect("ns timestamp as a string")
                .parse()
                .expect("integer ns");
            out.push((
                ts,
                v[1].as_str().expect("line").to_string(),
                s["stream"].clone(),
            ));
        }
    }
    out
}
