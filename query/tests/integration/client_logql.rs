//! `logmind query 'LOGQL'` against the Loki-compatible routes on 127.0.0.1: log streams and metric matrices.

use crate::common;

use common::*;
use logmind_indexer::AuthTokens;
use logmind_query::client::commands::query_to;
use logmind_query::client::{CommonArgs, Output, OutputFormat, QueryArgs};
use logmind_query::Engine;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn query_prints_streams_and_matrices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = dataset(2_000, 1, 21);
    let engine = Engine::with_catalog(Arc::new(catalog(dir.path(), &records, T0 + DAY)), options());
    let app = logmind_query::router(engine.clone(), AuthTokens::default()).merge(
        logmind_query::loki::router(engine, AuthTokens::default(), None),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let common = CommonArgs {
        server: url,
        from: Some(T0.to_string()),
        to: Some((T0 + DAY).to_string()),
        ..CommonArgs::default()
    };

    // Log query, table output: one line per event.
    let buf = Buf::default();
    let mut out = Output::plain(Box::new(buf.clone()));
    let args = QueryArgs {
        query: "{app=\"payments\"} |= \"failed\"".into(),
        limit: Some(1000),
        step: None,
    };
    assert_eq!(query_to(&common, &args, &mut out).await.expect("query"), 0);
    let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
    let want: Vec<&LogRecord> = records
        .iter()
        .filter(|r| r.app == "payments" && r.message.contains("failed"))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(text.lines().count(), want.len(), "{text}");
    assert!(want.iter().all(|r| text.contains(&r.message)));

    // Metric query, ndjson output: one series per app.
    let buf = Buf::default();
    let mut out = Output::plain(Box::new(buf.clone()));
    let nd = CommonArgs {
        output: OutputFormat::Ndjson,
        ..common.clone()
    };
    let args = QueryArgs {
        query: "sum by (app) (count_over_time({namespace=\"shop\"}[1h]))".into(),
        limit: None,
        step: Some("1h".into()),
    };
    assert_eq!(query_to(&nd, &args, &mut out).await.expect("query"), 0);
    let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
    let apps: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r.namespace == "shop")
        .map(|r| r.app.as_str())
        .collect();
    assert_eq!(text.lines().count(), apps.len(), "{text}");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert!(
            apps.contains(v["metric"]["app"].as_str().unwrap_or("")),
            "{line}"
        );
    }
}

use logmind_protocol::LogRecord;
