//! Golden shapes of every Loki endpoint, over a real indexer fed through `Indexer::ingest` and queried over
//! HTTP on the merged router the binary serves.

use crate::loki_common;

use logmind_protocol::{LogRecord, Source};
use loki_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub(crate) const NS: i64 = 1_000_000_000;
/// 2024-01-15T00:00:00Z
pub(crate) const T0: i64 = 1_705_276_800 * NS;

/// 240 records over 4 minutes: groups of 6 share one timestamp; two apps in two namespaces; every 5th is an
/// error; request ids shared by 3 consecutive records; logfmt lines with a duration and a status.
pub(crate) fn records() -> Vec<LogRecord> {
    (0..240usize)
        .map(|i| {
            let app = if i % 2 == 0 { "frontend" } else { "backend" };
            let level = if i % 5 == 0 { "error" } else { "info" };
            LogRecord {
                ts: T0 + (i / 6) as i64 * NS + 7,
                namespace: if app == "frontend" { "shop" } else { "core" }.into(),
                app: app.into(),
                pod: format!("{app}-{}", i % 3),
                container: app.into(),
                node: "node-1".into(),
                stream: "stdout".into(),
                level: level.into(),
                request_id: format!("req-{:04}", i / 3),
                user_id: format!("u{}", i % 7),
                message: format!(
                    "level={level} msg=\"handled request {i}\" duration={}ms status={}",
                    10 + i,
                    if level == "error" { 500 } else { 200 }
                ),
                source: Source {
                    agent: "fixture".into(),
                    file: "app.log".into(),
                    offset: i as u64 * 100,
                },
                ..LogRecord::default()
            }
        })
        .collect()
}

fn range_params(q: &str, start: i64, end: i64) -> Vec<(&'static str, String)> {
    vec![
        ("query", q.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", "1000".to_string()),
    ]
}

#[tokio::test]
async fn query_range_streams_matrices_and_vectors() {
    let recs = records();
    let s = start(&recs, T0 + 3600 * NS, None).await;
    let (lo, hi) = (T0, T0 + 300 * NS);

    // Streams: ns timestamps as strings, 2-element values, every label in the stream.
    let body = s
        .get(
            "/loki/api/v1/query_range",
            &range_params(r#"{app="frontend"}"#, lo, hi),
        )
        .await;
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "streams");
    assert!(body["data"]["stats"]["summary"].is_object(), "{body}");
    assert!(body["data"].get("encodingFlags").is_none());
    let got = entries(&body);
    let want: Vec<&LogRecord> = recs.iter().filter(|r| r.app == "frontend").collect();
    assert_eq!(got.len(), want.len());
    for s in body["data"]["result"].as_array().expect("result") {
        assert_eq!(s["stream"]["app"], "frontend");
        assert!(
            s["stream"]["level"].is_string(),
            "metadata in the stream: {s}"
        );
        for v in s["values"].as_array().expect("values") {
            assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
        }
    }
    let got_lines: BTreeSet<(i64, String)> = got.iter().map(|(t, l, _)| (*t, l.clone())).collect();
    let want_lines: BTreeSet<(i64, String)> =
        want.iter().map(|r| (r.ts, r.message.clone())).collect();
    assert_eq!(got_lines, want_lines);

    // categorize-labels: encodingFlags, stream labels only, 3-element values with structured metadata.
    let r = s
        .http
        .get(format!("{}/loki/api/v1/query_range", s.url))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .query(&range_params(
            r#"{app="frontend"} | logfmt | status >= 500"#,
            lo,
            hi,
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]));
    let errors = recs
        .iter()
        .filter(|r| r.app == "frontend" && r.level == "error")
        .count();
    assert_eq!(entries(&body).len(), errors);
    for st in body["data"]["result"].as_array().expect("result") {
        assert!(st["stream"].get("level").is_none(), "{st}");
        assert_eq!(st["stream"]["namespace"], "shop");
        for v in st["values"].as_array().expect("values") {
            assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
            assert_eq!(v[2]["structuredMetadata"]["level"], "error", "{v}");
            assert_eq!(v[2]["parsed"]["status"], "500", "{v}");
        }
    }

    // Direction, case-insensitive: FORWARD gives ascending values, Backward descending.
    for (dir, ascending) in [("FORWARD", true), ("Backward", false)] {
        let mut p = range_params(
            r#"{app="backend", pod="backend-1"} | drop request_id, user_id"#,
            lo,
            hi,
        );
        p.push(("direction", dir.to_string()));
        let body = s.get("/loki/api/v1/query_range", &p).await;
        assert!(!entries(&body).is_empty());
        // Values are ordered within each stream (streams themselves are unordered, as in Loki).
        for st in body["data"]["result"].as_array().expect("result") {
            let ts: Vec<i64> = st["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|v| v[0].as_str().and_then(|t| t.parse().ok()).expect("ns"))
                .collect();
            assert!(ts.len() > 5, "{st}");
            let mut sorted = ts.clone();
            sorted.sort_unstable();
            if !ascending {
                sorted.reverse();
            }
            assert_eq!(ts, sorted, "direction {dir}");
        }
    }

    // Matrix: [seconds, "value"], counts over Loki's (t - range, t] windows.
    let mut p = range_params(
        r#"sum by (app) (count_over_time({namespace=~"shop|core"}[30s]))"#,
        T0,
        T0 + 60 * NS,
    );
    p.push(("step", "30".to_string()));
    let body = s.get("/loki/api/v1/query_range", &p).await;
    assert_eq!(body["data"]["resultType"], "matrix");
    let mut seen = 0;
    for series in body["data"]["result"].as_array().expect("result") {
        let app = series["metric"]["app"].as_str().expect("app label");
        assert_eq!(series["metric"].as_object().map(|m| m.len()), Some(1));
        for v in series["values"].as_array().expect("values") {
            let t = v[0].as_f64().expect("seconds as a number");
            let t_ns = (t * 1e9).round() as i64;
            let want = recs
                .iter()
                .filter(|r| r.app == app && r.ts > t_ns - 30 * NS && r.ts <= t_ns)
                .count();
            assert_eq!(
                v[1].as_str(),
                Some(want.to_string().as_str()),
                "{app} at {t}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 4, "{body}");

    // Instant metric: vector shape, exact count.
    let body = s
        .get(
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    r#"sum(count_over_time({app="backend"} | level="error" [1h]))"#.to_string(),
                ),
                ("time", (T0 + 600 * NS).to_string()),
            ],
        )
        .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let want = recs
        .iter()
        .filter(|r| r.app == "backend" && r.level == "error")
        .count();
    assert_eq!(body["data"]["result"][0]["value"][1], want.to_string());
    assert_eq!(
        body["data"]["result"][0]["value"][0],
        json!(1_705_277_400.0)
    );

    // vector(1)+vector(1): one sample "2".
    let body = s
        .get(
            "/loki/api/v1/query",
            &[("query", "vector(1)+vector(1)".to_string())],
        )
        .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let result = body["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{body}");
    assert_eq!(result[0]["value"][1], "2");

    // Instant log query: streams.
    let body = s
        .get(
            "/loki/api/v1/query",
            &[
                ("query", r#"{app="frontend"} |= "request 4""#.to_string()),
                ("time", hi.to_string()),
                ("limit", "1000".to_string()),
            ],
        )
        .await;
    assert_eq!(body["data"]["resultType"], "streams");
    let want = recs
        .iter()
        .filter(|r| r.app == "frontend" && r.message.contains("request 4"))
        .count();
    assert_eq!(entries(&body).len(), want);
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn start_inclusive_end_exclusive_at_ns() {
    let recs = records();
    let s = start(&recs, T0 + 3600 * NS, None).await;
    let x = recs[0].ts; // six records share this timestamp
    let count = |start: i64, end: i64| {
        let p = range_params(r#"{node="node-1"}"#, start, end);
        let s = &s;
        async move { entries(&s.get("/loki/api/v1/query_range", &p).await).len() }
    };
    assert_eq!(count(x, x + 1).await, 6);
    assert_eq!(count(x + 1, x + NS + 1).await, 6);
    assert_eq!(count(x - NS, x).await, 0);
    assert_eq!(count(x, x + NS).await, 6);
    assert_eq!(count(x, x + NS + 1).await, 12);
    s.indexer.shutdown().await.expect("shutdown");
}

/// logcli's batching (pkg/logcli/query/query.go `DoQuery`/`printStream`): the next backward batch ends at the
/// oldest timestamp + 1ns (forward: starts at the newest), the batch size grows by the number of entries kept
/// from the boundary timestamp, and entries at that timestamp whose line was already printed are skipped.
async fn logcli(
    s: &Server,
    q: &str,
    limit: usize,
    batch: usize,
    forward: bool,
) -> Vec<(i64, String)> {
    let (mut start, mut end) = (T0, T0 + 300 * NS);
    let mut last: Vec<(i64, String)> = Vec::new();
    let mut printed_all = Vec::new();
    let mut total = 0usize;
    for _ in 0..1000 {
        if total >= limit {
            break;
        }
        let bs = if limit - total < batch {
            limit - total + last.len()
        } else {
            batch
        };
        let body = s
            .get(
                "/loki/api/v1/query_range",
                &[
                    ("query", q.to_string()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("limit", bs.to_string()),
                    (
                        "direction",
                        if forward { "forward" } else { "backward" }.to_string(),
                    ),
                ],
            )
            .await;
        let mut all: Vec<(i64, String)> =
            entries(&body).into_iter().map(|(t, l, _)| (t, l)).collect();
        if all.is_empty() {
            break;
        }
        all.sort_by_key(|e| e.0);
        if !forward {
            all.reverse();
        }
        let mut printed = 0;
        for e in &all {
            if last.first().is_some_and(|l| l.0 == e.0) && last.iter().any(|l| l.1 == e.1) {
                continue;
            }
            printed_all.push(e.clone());
            printed += 1;
        }
        let boundary = all[all.len() - 1].0;
        last = all.iter().filter(|e| e.0 == boundary).cloned().collect();
        if printed == 0 || printed == limit {
            break;
        }
        assert!(last.len() < batch, "batch {batch} too small for ties");
        total += printed;
        if forward {
            start = boundary;
        } else {
            end = boundary + 1;
        }
    }
    printed_all
}

#[tokio::test]
async fn logcli_pagination_neither_skips_nor_repeats() {
    let recs = records();
    let s = start(&recs, T0 + 3600 * NS, None).await;
    for (q, pred) in [
        (
            r#"{node="node-1"}"#,
            (|_: &LogRecord| true) as fn(&LogRecord) -> bool,
        ),
        (r#"{app="frontend"} |= "request""#, |r: &LogRecord| {
            r.app == "frontend"
        }),
    ] {
        let mut want: Vec<(i64, String)> = recs
            .iter()
            .filter(|r| pred(r))
            .map(|r| (r.ts, r.message.clone()))
            .collect();
        for (batch, forward) in [(7, false), (10, false), (13, true), (8, true)] {
            let got = logcli(&s, q, 10_000, batch, forward).await;
            want.sort();
            if !forward {
                want.reverse();
            }
            // Same multiset, same timestamp order (ties may come in any order).
            let mut g = got.clone();
            g.sort();
            let mut w = want.clone();
            w.sort();
            assert_eq!(g, w, "{q} batch {batch} forward {forward}");
            let ts: Vec<i64> = got.iter().map(|e| e.0).collect();
            let wts: Vec<i64> = want.iter().map(|e| e.0).collect();
            assert_eq!(ts, wts);
        }
        // A limit smaller than the total stops exactly at it.
        let got = logcli(&s, q, 25, 7, false).await;
        assert_eq!(got.len(), 25);
    }
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn malformed_and_unsupported_queries_are_400_with_the_position() {
    let s = start(&records(), T0 + 3600 * NS, None).await;
    for q in [
        r#"{app="frontend""#,
        r#"{app="frontend"} | unknownstage"#,
        r#"sum by (app) (rate({app="x"}))"#,
        r#"{app="x"} |= "a" or"#,
        r#"topk(foo, rate({app="x"}[1m]))"#,
        r#"{}"#,
        r#"{app=""}"#,
        r#"sum_over_time({app="x"}[5m])"#,
        r#"{app="x"} + 1"#,
        r#"sum by (app) count_over_time({a="b"}[1m])"#,
        r#"{app="x"} | line_format"#,
        r#"quantile_over_time({app="x"} | unwrap v [5m])"#,
        "0\u{80}",
        "{app=\"x\"} | logfmt | d > 1\u{c2}",
    ] {
        for path in ["/loki/api/v1/query_range", "/loki/api/v1/query"] {
            let (status, body) = s.get_raw(path, &[("query", q.to_string())]).await;
            assert_eq!(status, 400, "{q}: {body}");
            assert!(body.contains("parse error at line 1, col "), "{q}: {body}");
        }
    }
    // Nesting the parser would recurse into once per character: refused, and the server (whose stack it would
    // have overflowed, taking every request down with it) answers the next query.
    for q in [
        "(".repeat(20_000),
        format!("{}1", "-".repeat(50_000)),
        format!(r#"{{app="x"}} | {}x="1""#, "(".repeat(20_000)),
    ] {
        let (status, body) = s.get_raw("/loki/api/v1/query_range", &[("query", q)]).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("nested too deeply"), "{body}");
    }
    // Long operator chains (a tree one level deeper per operator) likewise; the longest allowed one evaluates.
    for q in [
        format!("1{}", "*1".repeat(3_000)),
        format!(r#"{{app="x"}} | a=1{}"#, ",a=1".repeat(3_000)),
    ] {
        let (status, body) = s.get_raw("/loki/api/v1/query", &[("query", q)]).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("more than 256 operators"), "{body}");
    }
    let q = format!(
        "{}1{}{}",
        "(".repeat(60),
        "+0".repeat(logmind_query::logql::parser::MAX_OPERATORS),
        ")".repeat(60)
    );
    let (status, body) = s.get_raw("/loki/api/v1/query", &[("query", q)]).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["data"]["result"][1], "1", "{body}");
    let (status, body) = s
        .get_raw("/loki/api/v1/query", &[("query", "1".to_string())])
        .await;
    assert_eq!(status, 200, "{body}");
    // An evaluation-time problem (bad regex) is a 400 too.
    let (status, body) = s
        .get_raw(
            "/loki/api/v1/query_range",
            &[("query", r#"{app="frontend"} |~ "(unclosed""#.to_string())],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s
        .get_raw(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{app="frontend"}"#.to_string()),
                ("direction", "sideways".to_string()),
            ],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = s.get_raw("/loki/api/v1/query_range", &[]).await;
    assert_eq!(status, 400);
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn tokens_are_enforced_and_tenant_header_accepted() {
    let recs = records();
    let s = start(&recs, T0 + 3600 * NS, Some(("ingest-token", "query-token"))).await;
    let q = range_params(r#"{app="frontend"}"#, T0, T0 + 300 * NS);
    let url = format!("{}/loki/api/v1/query_range", s.url);
    let r = s.http.get(&url).query(&q).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .http
        .get(&url)
        .query(&q)
        .bearer_auth("nope")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .http
        .get(&url)
        .query(&q)
        .bearer_auth("ingest-token")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    for token in ["query-token", "admin-token"] {
        let r = s
            .http
            .get(&url)
            .query(&q)
            .bearer_auth(token)
            .header("X-Scope-OrgID", "tenant-1")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.expect("json");
        assert_eq!(entries(&body).len(), recs.len() / 2);
    }
    let push = format!("{}/loki/api/v1/push", s.url);
    let payload =
        json!({"streams": [{"stream": {"app": "x"}, "values": [[T0.to_string(), "hi"]]}]});
    let r = s
        .http
        .post(&push)
        .bearer_auth("query-token")
        .json(&payload)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let r = s
        .http
        .post(&push)
        .json(&payload)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .http
        .post(&push)
        .bearer_auth("ingest-token")
        .json(&payload)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);
    // buildinfo stays open, like Loki's.
    let r = s
        .http
        .get(format!("{}/loki/api/v1/status/buildinfo", s.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    s.indexer.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn engine_timeouts_are_504_not_400() {
    let opts = logmind_query::QueryOptions {
        timeout: std::time::Duration::ZERO,
        max_range: std::time::Duration::from_secs(40 * 86_400),
        ..logmind_query::QueryOptions::default()
    };
    let s = start_with(&records(), T0 + 3600 * NS, None, opts, false).await;
    for q in [
        r#"{app="frontend"}"#,
        r#"sum by (app) (count_over_time({app="frontend"}[1m]))"#,
        r#"count_over_time({app="frontend"}[1m]) / count_over_time({app="backend"}[1m])"#,
    ] {
        let (status, body) = s
            .get_raw(
                "/loki/api/v1/query_range",
                &range_params(q, T0, T0 + 300 * NS),
            )
            .await;
        assert_eq!(status, 504, "{q}: {body}");
    }
    s.indexer.shutdown().await.expect("shutdown");
}
