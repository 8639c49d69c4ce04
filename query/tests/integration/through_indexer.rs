//! The query layer over the real indexer: records ingested through `Indexer::ingest` (WAL, partitions, the
//! template miner), queried over HTTP on the merged router the binary serves.

use crate::common;

use common::*;
use logmind_indexer::{Indexer, IndexerOptions, ManualClock};
use logmind_protocol::LogRecord;
use logmind_query::{Engine, QueryOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The message with its variable (digit-bearing) words masked: what the miner must group by.
fn kind(message: &str) -> String {
    template(message).1
}

#[tokio::test]
async fn answers_match_records_ingested_through_the_indexer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = T0 + 2 * DAY;
    let opts = IndexerOptions {
        clock: Arc::new(ManualClock::new(now)),
        commit_interval: Duration::from_millis(200),
        ..IndexerOptions::new(dir.path())
    };
    let indexer = Indexer::open(opts).await.expect("open indexer");
    let records = dataset(4_000, 2, 77);
    for (seq, chunk) in records.chunks(500).enumerate() {
        indexer
            .ingest("a1", seq as u64, chunk.to_vec())
            .await
            .expect("ingest");
    }
    indexer.commit().await.expect("commit");

    let engine = Engine::new(indexer.store(), QueryOptions::default());
    let app = indexer
        .router()
        .merge(logmind_query::router(engine, indexer.auth().clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http.get(format!("{url}{path}")).send().await.expect("send");
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.json::<Value>().await.expect("json")
        }
    };
    let range = format!("start={T0}&end={}", T0 + 2 * DAY);

    // Error count by app: exact.
    let body = get(format!("/api/v1/errors/count?by=app&{range}")).await;
    let errors: Vec<&LogRecord> = records.iter().filter(|r| is_error(r)).collect();
    let mut got = BTreeMap::new();
    for s in body["series"].as_array().expect("series") {
        got.insert(
            s["key"]["app"].as_str().unwrap_or("").to_string(),
            s["total"].as_u64().unwrap_or(0),
        );
    }
    assert_eq!(got, count_by(&errors, |r| r.app.clone()));

    // Top templates: the miner groups variable parts, so the groups are the message kinds.
    let body = get(format!("/api/v1/errors/top?n=10&{range}")).await;
    let mut want: Vec<u64> = count_by(&errors, |r| kind(&r.message))
        .into_values()
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    let groups = body["groups"].as_array().expect("groups");
    let counts: Vec<u64> = groups
        .iter()
        .map(|g| g["count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(counts, want, "{body}");
    assert!(
        groups.iter().any(|g| g["template"]
            .as_str()
            .is_some_and(|t| t.contains("not found") && t.contains("<*>"))),
        "{body}"
    );

    // Trace: exact and ordered.
    let id = &records
        .iter()
        .find(|r| !r.request_id.is_empty())
        .expect("a request")
        .request_id;
    let body = get(format!("/api/v1/trace/{id}?{range}")).await;
    let got: Vec<LogRecord> = serde_json::from_value(body["events"].clone()).expect("events");
    assert_eq!(
        got,
        sorted(
            records
                .iter()
                .filter(|r| &r.request_id == id)
                .cloned()
                .collect()
        )
    );

    // Search pagination over the whole set: every record once.
    let mut seen = 0usize;
    let mut cursor = String::new();
    for _ in 0..100 {
        let body = get(format!("/api/v1/search?limit=500&cursor={cursor}&{range}")).await;
        seen += body["events"].as_array().map_or(0, Vec::len);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, records.len());
    indexer.shutdown().await.expect("shutdown");
}
