//! Metric queries through the Loki API checked against counts computed independently from the generated
//! records (the ground truth): per app, per level, errors, bytes, rate, and topk.

use crate::common;
use crate::loki_common;

use common::{dataset, DAY, NS, T0};
use logmind_protocol::LogRecord;
use serde_json::Value;
use std::collections::BTreeMap;

/// `(labels → (t_seconds → value))` of a matrix result.
fn matrix(body: &Value, label: &str) -> BTreeMap<String, BTreeMap<i64, f64>> {
    assert_eq!(body["data"]["resultType"], "matrix", "{body}");
    let mut out = BTreeMap::new();
    for s in body["data"]["result"].as_array().expect("result") {
        let key = s["metric"][label].as_str().unwrap_or("").to_string();
        let points: BTreeMap<i64, f64> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| {
                (
                    v[0].as_f64().expect("seconds") as i64,
                    v[1].as_str()
                        .and_then(|x| x.parse().ok())
                        .expect("value string"),
                )
            })
            .collect();
        out.insert(key, points);
    }
    out
}

/// Ground truth: for each step t in [start, end], the records with key in (t - range, t].
fn truth(
    recs: &[LogRecord],
    start: i64,
    end: i64,
    step: i64,
    range: i64,
    key: impl Fn(&LogRecord) -> Option<String>,
    value: impl Fn(&LogRecord) -> f64,
) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut t = start;
    while t <= end {
        for r in recs.iter().filter(|r| r.ts > t - range && r.ts <= t) {
            if let Some(k) = key(r) {
                *out.entry(k).or_default().entry(t / NS).or_default() += value(r);
            }
        }
        t += step;
    }
    out
}

#[tokio::test]
async fn metric_queries_match_the_ground_truth() {
    let recs = dataset(12_000, 2, 4242);
    let s = loki_common::start(&recs, T0 + 3 * DAY, None).await;
    let (start, end, step) = (T0, T0 + 2 * DAY, 3600 * NS);
    let run = |q: &str| {
        let q = q.to_string();
        let s = &s;
        async move {
            s.get(
                "/loki/api/v1/query_range",
                &[
                    ("query", q),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", "3600".to_string()),
                ],
            )
            .await
        }
    };

    let got = matrix(
        &run(r#"sum by (app) (count_over_time({namespace=~".+"}[1h]))"#).await,
        "app",
    );
    let want = truth(
        &recs,
        start,
        end,
        step,
        step,
        |r| Some(r.app.clone()),
        |_| 1.0,
    );
    assert_eq!(got, want, "count_over_time by app");

    let got = matrix(
        &run(r#"sum by (level) (count_over_time({namespace=~"shop|batch"} [2h]))"#).await,
        "level",
    );
    let want = truth(
        &recs,
        start,
        end,
        step,
        2 * step,
        |r| Some(r.level.clone()),
        |_| 1.0,
    );
    assert_eq!(got, want, "count_over_time by level");

    let got = matrix(
        &run(r#"sum by (app) (count_over_time({namespace="shop"} | level=~"error|fatal" [1h]))"#)
            .await,
        "app",
    );
    let want = truth(
        &recs,
        start,
        end,
        step,
        step,
        |r| (r.namespace == "shop" && common::is_error(r)).then(|| r.app.clone()),
        |_| 1.0,
    );
    assert_eq!(got, want, "errors by app");

    let got = matrix(
        &run(r#"sum by (app) (bytes_over_time({namespace=~".+"}[1h]))"#).await,
        "app",
    );
    let want = truth(
        &recs,
        start,
        end,
        step,
        step,
        |r| Some(r.app.clone()),
        |r| r.message.len() as f64,
    );
    assert_eq!(got, want, "bytes_over_time by app");

    // rate = count / range seconds (no extrapolation).
    let got = matrix(
        &run(r#"sum by (app) (rate({app="payments"} |= "failed" [1h]))"#).await,
        "app",
    );
    let want = truth(
        &recs,
        start,
        end,
        step,
        step,
        |r| (r.app == "payments" && r.message.contains("failed")).then(|| r.app.clone()),
        |_| 1.0 / 3600.0,
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, pts) in &want {
        for (t, v) in pts {
            let g = got[k].get(t).copied().unwrap_or(f64::NAN);
            assert!((g - v).abs() < 1e-9, "rate {k} at {t}: {g} vs {v}");
        }
    }

    // Instant topk over the whole range: the two busiest apps with their exact totals.
    let body = s
        .get(
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    r#"topk(2, sum by (app) (count_over_time({namespace=~".+"}[2d])))"#.to_string(),
                ),
                ("time", end.to_string()),
            ],
        )
        .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.ts > end - 2 * DAY && r.ts <= end) {
        *totals.entry(r.app.clone()).or_default() += 1;
    }
    let mut want: Vec<(String, u64)> = totals.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(2);
    let mut got: Vec<(String, u64)> = body["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|v| {
            (
                v["metric"]["app"].as_str().expect("app").to_string(),
                v["value"][1]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .expect("value"),
            )
        })
        .collect();
    got.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(got, want);
    s.indexer.shutdown().await.expect("shutdown");
}
