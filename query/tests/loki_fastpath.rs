//! Metric queries whose pipeline needs no line (counts and bytes, label filters on indexed fields, `drop`/`keep`)
//! are answered from fast fields: the results equal the document-loading path exactly, and no stored document
//! is loaded (counted by `exec::docs_loaded`). One test in this binary so the process-wide counter sees only
//! its own queries. `LOKI_FASTPATH_N` sets the record count (default 20k).

#[path = "integration/loki_common/mod.rs"]
mod loki_common;

use logmind_protocol::LogRecord;
use logmind_query::engine::Ctx;
use logmind_query::logql::ast::LogExpr;
use logmind_query::logql::eval::metric::{self, Source, Val};
use logmind_query::logql::eval::EvalError;
use logmind_query::logql::{parse, Expr};
use logmind_query::loki::exec::{docs_loaded, limits, EngineSource};
use logmind_query::{Engine, QueryOptions};
use std::time::{Duration, Instant};

const NS: i64 = 1_000_000_000;
const T0: i64 = 1_705_276_800 * NS;
/// Records are spread over this many seconds (several share a timestamp).
const SPAN_S: i64 = 900;

fn records(n: usize) -> Vec<LogRecord> {
    (0..n)
        .map(|i| LogRecord {
            ts: T0 + (i as i64 * SPAN_S * NS / n as i64) / 1_000_000 * 1_000_000,
            namespace: if i % 5 == 0 { "y" } else { "x" }.into(),
            app: ["a", "b", "c"][i % 3].into(),
            pod: if i % 7 == 0 {
                String::new()
            } else {
                format!("pod-{}", i % 4)
            },
            level: ["error", "info", "warn", ""][i % 4].into(),
            request_id: format!("r{}", i % 50),
            user_id: format!("u{}", i % 13),
            message: format!("line {i} é {}", "x".repeat(i % 17)),
            ..LogRecord::default()
        })
        .collect()
}

/// The engine source without its fast path: every record goes through `fetch`.
struct Slow<'a>(EngineSource<'a>);

impl Source for Slow<'_> {
    fn fetch(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<(), EvalError> {
        self.0.fetch(log, start_ns, end_ns, visit)
    }
}

fn eval(engine: &Engine, q: &str, slow: bool) -> (Val, u64, Duration) {
    let Ok(Expr::Metric(expr)) = parse(q) else {
        panic!("not a metric query: {q}");
    };
    let ctx = Ctx::new(Duration::from_secs(60));
    let p = metric::Params {
        start_ns: T0,
        end_ns: T0 + SPAN_S * NS,
        step_ns: 30 * NS,
        limits: limits(engine),
        max_samples: 50_000_000,
        points: Default::default(),
    };
    let before = docs_loaded();
    let t = Instant::now();
    let src = EngineSource::new(engine, &ctx);
    let v = if slow {
        metric::eval(&expr, &p, &Slow(src))
    } else {
        metric::eval(&expr, &p, &src)
    }
    .unwrap_or_else(|e| panic!("{q}: {e}"));
    (v, docs_loaded() - before, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_and_bytes_queries_are_answered_from_fast_fields() {
    let n: usize = std::env::var("LOKI_FASTPATH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let recs = records(n);
    let server = loki_common::start(&recs, T0 + SPAN_S * NS, None).await;
    let engine = Engine::new(
        server.indexer.store(),
        QueryOptions {
            max_range: Duration::from_secs(40 * 86_400),
            ..QueryOptions::default()
        },
    );
    let queries = [
        r#"sum by (level) (count_over_time({namespace=~".+"} | drop __error__, __error_details__ [1m]))"#,
        r#"sum by (app) (rate({namespace="x"} | level="error" [5m]))"#,
        r#"bytes_over_time({app="a"}[1m])"#,
        r#"bytes_rate({app="b"} | drop __error__ [2m])"#,
        r#"count_over_time({app="a"} | request_id="r1" [1m])"#,
        r#"count_over_time({app="a"} | pod=~"pod-[12]" or level!="info" [1m])"#,
        r#"sum by (request_id) (count_over_time({app="a"}[1m]))"#,
        r#"sum by (service_name, detected_level) (count_over_time({namespace="y"} | keep app, level [1m]))"#,
    ];
    for q in queries {
        let (fast, fast_docs, fast_t) = eval(&engine, q, false);
        let (slow, slow_docs, slow_t) = eval(&engine, q, true);
        println!("{q}\n  fast: {fast_docs} docs, {fast_t:?}; slow: {slow_docs} docs, {slow_t:?}");
        let Val::Vector(series) = &fast else {
            panic!("{q}: not a vector");
        };
        assert!(!series.is_empty(), "{q}: no series");
        assert_eq!(fast, slow, "{q}: fast path differs from the slow path");
        assert_eq!(fast_docs, 0, "{q}: fast path loaded documents");
        assert!(slow_docs > 0, "{q}: slow path loaded nothing");
    }
    // A line filter needs the lines: still correct, through the documents.
    let q = r#"count_over_time({app="a"} |= "é" [1m])"#;
    let (v, docs, _) = eval(&engine, q, false);
    assert_eq!(v, eval(&engine, q, true).0);
    assert!(docs > 0);
}
