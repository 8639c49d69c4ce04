//! Requests shaped as Grafana's Loki data source and `logcli` send them, where a detail of Loki's own behaviour
//! matters to the client: the key order of query results, `series` without a matcher, the 11,000-point limit,
//! the default window when `end` lies in the future, and Basic auth carrying the token.

use crate::loki_common::{entries, start};
use logmind_protocol::LogRecord;
use serde_json::Value;

const NS: i64 = 1_000_000_000;
/// 2024-01-15T00:00:00Z
const T0: i64 = 1_705_276_800 * NS;
/// The server's clock: one hour after the records.
const NOW: i64 = T0 + 3600 * NS;

/// 60 records over a minute just before `NOW`, in two apps.
fn records() -> Vec<LogRecord> {
    (0..60usize)
        .map(|i| LogRecord {
            ts: NOW - 120 * NS + i as i64 * NS,
            namespace: "shop".into(),
            app: if i % 2 == 0 { "web" } else { "db" }.into(),
            pod: format!("pod-{}", i % 3),
            level: if i % 4 == 0 { "error" } else { "info" }.into(),
            message: format!("line {i}"),
            ..LogRecord::default()
        })
        .collect()
}

/// Byte offset of `key` (quoted) in a response body.
fn at(body: &str, key: &str) -> usize {
    body.find(&format!("\"{key}\""))
        .unwrap_or_else(|| panic!("no {key:?} in {body}"))
}

#[tokio::test]
async fn result_type_precedes_result_as_in_loki() {
    let s = start(&records(), NOW, None).await;
    let range = |q: &str| {
        vec![
            ("query", q.to_string()),
            ("start", (NOW - 600 * NS).to_string()),
            ("end", NOW.to_string()),
            ("step", "60".to_string()),
        ]
    };
    let cases = [
        (
            "/loki/api/v1/query_range",
            range(r#"{app="web"}"#),
            "streams",
        ),
        (
            "/loki/api/v1/query_range",
            range(r#"sum by (app) (count_over_time({namespace="shop"}[1m]))"#),
            "matrix",
        ),
        (
            "/loki/api/v1/query",
            vec![
                ("query", "vector(1)+vector(1)".to_string()),
                ("time", "4000000000".to_string()),
            ],
            // Grafana's data-source health check.
            "vector",
        ),
        (
            "/loki/api/v1/query",
            vec![
                ("query", r#"count_over_time({app="db"}[10m])"#.to_string()),
                ("time", NOW.to_string()),
            ],
            "vector",
        ),
        (
            "/loki/api/v1/index/volume",
            range(r#"{namespace="shop"}"#),
            "vector",
        ),
        (
            "/loki/api/v1/index/volume_range",
            range(r#"{namespace="shop"}"#),
            "matrix",
        ),
    ];
    for (path, params, want) in cases {
        let (status, body) = s.get_raw(path, &params).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(at(&body, "status") < at(&body, "data"), "{path}: {body}");
        assert!(
            at(&body, "resultType") < at(&body, "result"),
            "{path}: resultType must come first: {body}"
        );
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["data"]["resultType"], want, "{path}");
        assert!(!v["data"]["result"].is_null(), "{path}");
    }
    // The metadata endpoints share the envelope and its order.
    let window = vec![
        ("start", (NOW - 600 * NS).to_string()),
        ("end", NOW.to_string()),
    ];
    for path in ["/loki/api/v1/labels", "/loki/api/v1/series"] {
        let (status, body) = s.get_raw(path, &window).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(at(&body, "status") < at(&body, "data"), "{path}: {body}");
    }
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn series_without_a_matcher_or_with_braces_lists_every_series() {
    let s = start(&records(), NOW, None).await;
    let window = vec![
        ("start", (NOW - 600 * NS).to_string()),
        ("end", NOW.to_string()),
    ];
    let apps = |v: &Value| {
        let mut a: Vec<String> = v["data"]
            .as_array()
            .expect("data array")
            .iter()
            .map(|s| s["app"].as_str().expect("app label").to_string())
            .collect();
        a.sort();
        a.dedup();
        a
    };
    let none = s.get("/loki/api/v1/series", &window).await;
    let mut braces = window.clone();
    braces.push(("match", "{}".to_string()));
    let braces = s.get("/loki/api/v1/series", &braces).await;
    let mut one = window.clone();
    one.push(("match[]", r#"{app="db"}"#.to_string()));
    let one = s.get("/loki/api/v1/series", &one).await;
    assert_eq!(apps(&none), ["db", "web"]);
    assert_eq!(none["data"].as_array().map(Vec::len), Some(6), "{none}");
    assert_eq!(braces, none);
    assert_eq!(apps(&one), ["db"]);
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn eleven_thousand_steps_answer_and_one_more_is_refused() {
    let s = start(&records(), NOW, None).await;
    let q = |steps: i64| {
        vec![
            ("query", r#"count_over_time({app="web"}[1m])"#.to_string()),
            ("start", (NOW - steps * NS).to_string()),
            ("end", NOW.to_string()),
            ("step", "1".to_string()),
        ]
    };
    let ok = s.get("/loki/api/v1/query_range", &q(11_000)).await;
    assert_eq!(ok["data"]["resultType"], "matrix");
    let (status, body) = s.get_raw("/loki/api/v1/query_range", &q(11_001)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("maximum resolution"), "{body}");
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_end_in_the_future_still_shows_the_last_hour() {
    let recs = records();
    let s = start(&recs, NOW, None).await;
    // Grafana and logcli may send an `end` past the server's clock and no `start`: Loki's window is then
    // [min(end, now) - 1h, end], not [end - 1h, end].
    let body = s
        .get(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{namespace="shop"}"#.to_string()),
                ("end", (NOW + 2 * 3600 * NS).to_string()),
                ("limit", "1000".to_string()),
            ],
        )
        .await;
    assert_eq!(entries(&body).len(), recs.len());
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn basic_auth_carries_the_token_as_its_password() {
    let s = start(&records(), NOW, Some(("ingest-token", "query-token"))).await;
    let url = format!("{}/loki/api/v1/labels", s.url);
    let status = |user: &'static str, password: &'static str| {
        let r = s.http.get(&url).basic_auth(user, Some(password)).send();
        async move { r.await.expect("send").status().as_u16() }
    };
    assert_eq!(status("grafana", "query-token").await, 200);
    assert_eq!(status("", "admin-token").await, 200);
    assert_eq!(status("query-token", "wrong").await, 401);
    assert_eq!(status("grafana", "ingest-token").await, 403);
    s.indexer.shutdown().await.expect("shutdown");
}
