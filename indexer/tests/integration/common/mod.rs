//! Shared helpers for the indexer integration tests: in-process server on 127.0.0.1, records, posting.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use logmind_indexer::{Indexer, IndexerOptions, Store};
use logmind_protocol::{LogRecord, Source};

pub const NS: i64 = 1_000_000_000;
pub const DAY: i64 = 86_400 * NS;

/// Starts an indexer and serves its router on an ephemeral loopback port.
pub async fn serve(opts: IndexerOptions) -> (Arc<Indexer>, String, tokio::task::JoinHandle<()>) {
    let idx = Indexer::open(opts).await.expect("open indexer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = idx.router();
    let h = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (idx, format!("http://{addr}"), h)
}

/// A realistic record: unique `source.offset`, an id inside the message.
pub fn record(ts: i64, namespace: &str, offset: u64) -> LogRecord {
    LogRecord {
        ts,
        namespace: namespace.into(),
        app: "checkout".into(),
        pod: "checkout-7d9f-abc12".into(),
        container: "app".into(),
        node: "node-1".into(),
        stream: "stdout".into(),
        level: if offset.is_multiple_of(7) {
            "error"
        } else {
            "info"
        }
        .into(),
        request_id: format!("req-{:08x}", offset * 2654435761 % 0xffff_ffff),
        user_id: format!("user-{}", offset % 50),
        message: format!(
            "payment {} for order {} took {}ms request_id={:08x}",
            if offset.is_multiple_of(7) {
                "failed"
            } else {
                "succeeded"
            },
            offset * 31,
            offset % 900,
            offset * 2654435761 % 0xffff_ffff
        ),
        source: Source {
            agent: "agent-1".into(),
            file: "f1".into(),
            offset,
        },
        ..Default::default()
    }
}

/// Posts an NDJSON body; returns (status, headers, json body).
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    agent: Option<&str>,
    seq: Option<u64>,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = client.post(format!("{base}/api/v1/ingest")).body(body);
    if let Some(a) = agent {
        req = req.header("X-Logmind-Agent", a);
    }
    if let Some(s) = seq {
        req = req.header("X-Logmind-Batch", s.to_string());
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// `GET {base}{path}`.
pub async fn get(client: &reqwest::Client, base: &str, path: &str) -> reqwest::Response {
    client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// All stored records of every partition (committed view).
pub fn all_records(store: &Store) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for ps in store.searchers(i64::MIN, i64::MAX) {
        let s = &ps.searcher;
        let mut loader = store.schema().loader(s);
        for (ord, seg) in s.segment_readers().iter().enumerate() {
            let alive = seg.alive_bitset();
            for doc in 0..seg.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                let (r, _) = loader
                    .load(tantivy::DocAddress::new(ord as u32, doc), |_, _| ())
                    .expect("doc")
                    .expect("record");
                out.push(r);
            }
        }
    }
    out
}

/// Waits until the store holds `n` docs (or the timeout passes); returns the count seen.
pub async fn wait_docs(store: &Store, n: u64, timeout: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let c = store.num_docs();
        if c >= n || tokio::time::Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (template id from the `template` fast field, message) of every live document.
pub fn all_templates(store: &Store) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for ps in store.searchers(i64::MIN, i64::MAX) {
        let s = &ps.searcher;
        for (ord, seg) in s.segment_readers().iter().enumerate() {
            let col = logmind_indexer::schema::TemplateColumn::open(seg)
                .expect("template column")
                .expect("template fast field");
            let alive = seg.alive_bitset();
            for doc in 0..seg.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                let (r, _) = store
                    .schema()
                    .loader(s)
                    .load(tantivy::DocAddress::new(ord as u32, doc), |_, _| ())
                    .expect("doc")
                    .expect("record");
                let msg = r.message;
                out.push((col.first(doc).expect("template value"), msg));
            }
        }
    }
    out
}
