//! Filters on indexed fields are answered from the index: over 100k records, `| request_id="X"` after any
//! parser loads only the matching documents (counted by `exec::docs_loaded`, not timed). One test in this
//! binary so the process-wide counter sees only its own queries.

#[path = "integration/loki_common/mod.rs"]
mod loki_common;

use logmind_protocol::LogRecord;
use logmind_query::loki::exec::docs_loaded;
use loki_common::*;

const NS: i64 = 1_000_000_000;
const T0: i64 = 1_705_276_800 * NS;
const N: usize = 100_000;

fn records() -> Vec<LogRecord> {
    (0..N)
        .map(|i| {
            let req = format!("req-{:06}", i / 4);
            LogRecord {
                ts: T0 + (i as i64) * 10_000_000,
                namespace: "shop".into(),
                app: if i % 3 == 0 { "api" } else { "web" }.into(),
                level: if i % 10 == 0 { "error" } else { "info" }.into(),
                request_id: req.clone(),
                user_id: format!("u{}", i % 1000),
                message: format!(
                    r#"{{"msg":"step {i}","request_id":"{req}","status":{}}}"#,
                    200 + i % 3
                ),
                ..LogRecord::default()
            }
        })
        .collect()
}

#[tokio::test]
async fn indexed_field_filters_load_only_matching_documents() {
    let recs = records();
    let end = T0 + (N as i64) * 10_000_000 + NS;
    let t = std::time::Instant::now();
    let s = start(&recs, T0 + 86_400 * NS, None).await;
    eprintln!("ingested {N} records in {:?}", t.elapsed());
    let target = "req-013337";
    let want = recs.iter().filter(|r| r.request_id == target).count();
    assert_eq!(want, 4);

    let logs = |q: &str| {
        let p = vec![
            ("query", q.to_string()),
            ("start", T0.to_string()),
            ("end", end.to_string()),
            ("limit", "1000".to_string()),
        ];
        let s = &s;
        async move {
            let before = docs_loaded();
            let body = s.get("/loki/api/v1/query_range", &p).await;
            (entries(&body).len(), docs_loaded() - before)
        }
    };
    for q in [
        format!(r#"{{namespace="shop"}} | request_id="{target}""#),
        format!(r#"{{namespace="shop"}} | json | request_id="{target}""#),
        format!(r#"{{namespace="shop"}} | logfmt | json | request_id="{target}" | status >= 200"#),
        format!(
            r#"{{namespace="shop"}} | json | request_id="{target}" | line_format "{{{{.msg}}}}""#
        ),
    ] {
        let (got, loaded) = logs(&q).await;
        assert_eq!(got, want, "{q}");
        assert_eq!(loaded as usize, want, "{q} loaded {loaded} documents");
    }

    // user_id and level after a parser: loaded == matched.
    for (q, want) in [
        (
            r#"{namespace="shop"} | json | user_id="u417""#,
            recs.iter().filter(|r| r.user_id == "u417").count(),
        ),
        (
            r#"{app="api"} | logfmt | level="error" | user_id="u30""#,
            recs.iter()
                .filter(|r| r.app == "api" && r.level == "error" && r.user_id == "u30")
                .count(),
        ),
    ] {
        let (got, loaded) = logs(q).await;
        assert!(want > 0);
        assert_eq!(got, want, "{q}");
        assert_eq!(loaded as usize, want, "{q} loaded {loaded} documents");
    }

    // Metric queries too.
    let before = docs_loaded();
    let body = s
        .get(
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    format!(r#"sum(count_over_time({{app=~"api|web"}} | json | request_id="{target}" [1d]))"#),
                ),
                ("time", end.to_string()),
            ],
        )
        .await;
    assert_eq!(body["data"]["result"][0]["value"][1], want.to_string());
    assert_eq!((docs_loaded() - before) as usize, want);

    // Control: a line filter is not an index lookup, so over the first 20k records' time span the counter sees
    // every one of them loaded.
    let before = docs_loaded();
    let body = s
        .get(
            "/loki/api/v1/query_range",
            &[
                (
                    "query",
                    r#"{namespace="shop"} |= "no such text""#.to_string(),
                ),
                ("start", T0.to_string()),
                ("end", (T0 + 20_000 * 10_000_000).to_string()),
                ("limit", "5000".to_string()),
            ],
        )
        .await;
    let loaded = docs_loaded() - before;
    assert_eq!(entries(&body).len(), 0);
    assert_eq!(loaded, 20_000, "line filters scan");
    s.indexer.shutdown().await.expect("shutdown");
}
