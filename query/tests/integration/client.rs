//! The CLI commands against a real server on 127.0.0.1: output, exit codes and server errors.

use crate::common;

use common::*;
use logmind_indexer::AuthTokens;
use logmind_protocol::LogRecord;
use logmind_query::client::commands::{
    count_to, errors_to, query_to, search_to, tail_to, trace_to, user_to,
};
use logmind_query::client::{
    ClientError, CommonArgs, CountArgs, Output, OutputFormat, QueryArgs, SearchArgs, TailArgs,
};
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
impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
    }
}

fn out() -> (Buf, Output) {
    let b = Buf::default();
    (b.clone(), Output::plain(Box::new(b)))
}

async fn setup(auth: AuthTokens) -> (tempfile::TempDir, Vec<LogRecord>, CommonArgs) {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = dataset(3_000, 1, 11);
    let engine = Engine::with_catalog(Arc::new(catalog(dir.path(), &records, T0 + DAY)), options());
    let url = serve(engine, auth).await;
    let common = CommonArgs {
        server: url,
        from: Some(T0.to_string()),
        to: Some((T0 + DAY).to_string()),
        ..CommonArgs::default()
    };
    (dir, records, common)
}

#[tokio::test]
async fn trace_prints_events_and_exit_codes() {
    let (_d, records, common) = setup(AuthTokens::default()).await;
    let id = records
        .iter()
        .find(|r| !r.request_id.is_empty())
        .map(|r| r.request_id.clone())
        .expect("id");
    let (buf, mut o) = out();
    assert_eq!(trace_to(&common, &id, &mut o).await.expect("trace"), 0);
    let text = buf.text();
    let n = records.iter().filter(|r| r.request_id == id).count();
    assert!(
        text.starts_with(&format!("request {id}: {n} events")),
        "{text}"
    );
    assert!(text.contains("TIME"));
    assert!(!text.contains("\x1b["), "no colour when not a terminal");

    let (_, mut o) = out();
    assert_eq!(
        trace_to(&common, "req-none", &mut o).await.expect("trace"),
        1
    );

    let (buf, mut o) = out();
    let nd = CommonArgs {
        output: OutputFormat::Ndjson,
        ..common.clone()
    };
    assert_eq!(trace_to(&nd, &id, &mut o).await.expect("trace"), 0);
    let lines: Vec<LogRecord> = buf
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    assert_eq!(
        lines,
        sorted(
            records
                .iter()
                .filter(|r| r.request_id == id)
                .cloned()
                .collect()
        )
    );
}

#[tokio::test]
async fn user_errors_count_and_search() {
    let (_d, records, common) = setup(AuthTokens::default()).await;
    let user = records
        .iter()
        .find(|r| !r.user_id.is_empty())
        .map(|r| r.user_id.clone())
        .expect("user");
    let (buf, mut o) = out();
    assert_eq!(
        user_to(&common, &user, Some(5), &mut o)
            .await
            .expect("user"),
        0
    );
    let n = records.iter().filter(|r| r.user_id == user).count();
    assert!(
        buf.text().starts_with(&format!("user {user}: {n} events")),
        "{}",
        buf.text()
    );
    let (_, mut o) = out();
    assert_eq!(
        user_to(&common, "nobody", None, &mut o)
            .await
            .expect("user"),
        1
    );

    let (buf, mut o) = out();
    assert_eq!(errors_to(&common, 3, &mut o).await.expect("errors"), 0);
    let errors = records.iter().filter(|r| is_error(r)).count();
    assert!(
        buf.text().starts_with(&format!("{errors} errors in ")),
        "{}",
        buf.text()
    );
    assert_eq!(buf.text().lines().count(), 2 + 3);

    let (buf, mut o) = out();
    let args = CountArgs {
        by: Some("app".into()),
        step: Some("1h".into()),
    };
    assert_eq!(count_to(&common, &args, &mut o).await.expect("count"), 0);
    assert!(
        buf.text().starts_with(&format!("{errors} errors from")),
        "{}",
        buf.text()
    );
    assert!(buf.text().contains("APP"));

    let (buf, mut o) = out();
    let nd = CommonArgs {
        output: OutputFormat::Ndjson,
        app: Some("payments".into()),
        ..common.clone()
    };
    let args = SearchArgs {
        text: Some("failed".into()),
        limit: Some(1000),
        ..SearchArgs::default()
    };
    assert_eq!(search_to(&nd, &args, &mut o).await.expect("search"), 0);
    let want = records
        .iter()
        .filter(|r| r.app == "payments" && r.message.contains("failed"))
        .count();
    assert_eq!(buf.text().lines().count(), want);
    assert!(want > 0);
}

#[tokio::test]
async fn server_errors_carry_the_server_message() {
    let auth = AuthTokens {
        query: vec!["secret".into()],
        ..AuthTokens::default()
    };
    let (_d, _records, common) = setup(auth).await;
    let (_, mut o) = out();
    match search_to(&common, &SearchArgs::default(), &mut o).await {
        Err(ClientError::Server {
            status: 401,
            message,
        }) => assert!(message.contains("unauthorized"), "{message}"),
        other => panic!("{other:?}"),
    }
    let with = CommonArgs {
        token: Some("secret".into()),
        ..common.clone()
    };
    let (_, mut o) = out();
    assert_eq!(
        search_to(&with, &SearchArgs::default(), &mut o)
            .await
            .expect("search"),
        0
    );
    let (_, mut o) = out();
    let bad = SearchArgs {
        text: Some("a (".into()),
        ..SearchArgs::default()
    };
    match search_to(&with, &bad, &mut o).await {
        Err(e @ ClientError::Server { status: 400, .. }) => {
            assert!(e.to_string().contains("position 3"), "{e}");
            assert_eq!(e.exit_code(), 2);
        }
        other => panic!("{other:?}"),
    }
    let (_, mut o) = out();
    let unreachable = CommonArgs {
        server: "http://127.0.0.1:9".into(),
        ..CommonArgs::default()
    };
    assert!(matches!(
        errors_to(&unreachable, 3, &mut o).await,
        Err(ClientError::Connect { .. })
    ));
    let (_, mut o) = out();
    let q = QueryArgs {
        query: "{app=\"x\"}".into(),
        ..QueryArgs::default()
    };
    assert!(matches!(
        query_to(&with, &q, &mut o).await,
        Err(ClientError::Server { status: 404, .. })
    ));
}

#[tokio::test]
async fn tail_prints_each_event_once_across_polls() {
    let (_d, records, common) = setup(AuthTokens::default()).await;
    let (buf, mut o) = out();
    let nd = CommonArgs {
        output: OutputFormat::Ndjson,
        app: Some("worker".into()),
        ..common.clone()
    };
    let args = TailArgs {
        max_polls: Some(40),
        interval: std::time::Duration::from_millis(1),
        ..TailArgs::default()
    };
    assert_eq!(tail_to(&nd, &args, &mut o).await.expect("tail"), 0);
    let got: Vec<LogRecord> = buf
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    let want = sorted(
        records
            .iter()
            .filter(|r| r.app == "worker")
            .cloned()
            .collect(),
    );
    assert!(want.len() < 40 * 1000);
    assert_eq!(got, want);
}

#[tokio::test]
async fn tail_reconnects_when_the_server_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = dataset(500, 1, 3);
    let engine = Engine::with_catalog(Arc::new(catalog(dir.path(), &records, T0 + DAY)), options());
    // Reserve a port, free it: the server is "down" when tail starts.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let common = CommonArgs {
        server: format!("http://127.0.0.1:{port}"),
        from: Some(T0.to_string()),
        to: Some((T0 + DAY).to_string()),
        output: OutputFormat::Ndjson,
        ..CommonArgs::default()
    };
    let (buf, mut o) = out();
    let args = TailArgs {
        max_polls: Some(8),
        interval: std::time::Duration::from_millis(1),
        ..TailArgs::default()
    };
    let tail = tokio::spawn(async move {
        tail_to(&common, &args, &mut o)
            .await
            .map_err(|e| e.to_string())
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind");
    let app = logmind_query::router(engine, AuthTokens::default());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    assert_eq!(tail.await.expect("join"), Ok(0));
    let got: Vec<LogRecord> = buf
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(got, sorted(records));
}
