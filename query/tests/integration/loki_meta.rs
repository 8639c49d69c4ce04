//! The Loki metadata endpoints (`labels`, `label/{name}/values`, `series`, `index/stats`, `index/volume*`,
//! `patterns`, `detected_*`) answer in Loki's shapes over the fixture of the query tests.

use crate::loki_api::{records, NS, T0};
use crate::loki_common::*;
use logmind_protocol::LogRecord;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[tokio::test]
async fn metadata_endpoints_have_loki_shapes() {
    let recs = records();
    let s = start(&recs, T0 + 3600 * NS, None).await;
    let span = |extra: &[(&'static str, &str)]| {
        let mut p = vec![
            ("start", T0.to_string()),
            ("end", (T0 + 300 * NS).to_string()),
        ];
        p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        p
    };

    let body = s.get("/loki/api/v1/labels", &span(&[])).await;
    assert_eq!(body["status"], "success");
    let names: Vec<&str> = body["data"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for n in ["app", "namespace", "pod", "level", "service_name"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }

    let body = s.get("/loki/api/v1/label/app/values", &span(&[])).await;
    assert_eq!(body["data"], json!(["backend", "frontend"]));
    let body = s
        .get(
            "/loki/api/v1/label/pod/values",
            &span(&[("query", r#"{app="frontend"}"#)]),
        )
        .await;
    assert_eq!(
        body["data"],
        json!(["frontend-0", "frontend-1", "frontend-2"])
    );

    let body = s
        .get(
            "/loki/api/v1/series",
            &span(&[("match[]", r#"{namespace="shop"}"#)]),
        )
        .await;
    let series = body["data"].as_array().expect("series");
    assert_eq!(series.len(), 3, "{body}");
    for st in series {
        assert_eq!(st["app"], "frontend");
        assert_eq!(st["container"], "frontend");
    }

    let body = s
        .get(
            "/loki/api/v1/index/stats",
            &span(&[("query", r#"{app="backend"}"#)]),
        )
        .await;
    let backend: Vec<&LogRecord> = recs.iter().filter(|r| r.app == "backend").collect();
    assert_eq!(body["entries"], backend.len());
    assert_eq!(body["streams"], 3);
    assert_eq!(
        body["bytes"],
        backend.iter().map(|r| r.message.len()).sum::<usize>()
    );
    assert!(body["chunks"].is_number());

    let body = s
        .get(
            "/loki/api/v1/index/volume",
            &span(&[
                ("query", r#"{namespace=~"shop|core"}"#),
                ("targetLabels", "app"),
            ]),
        )
        .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let mut vols = BTreeMap::new();
    for v in body["data"]["result"].as_array().expect("result") {
        vols.insert(
            v["metric"]["app"].as_str().expect("app").to_string(),
            v["value"][1].as_str().expect("value").to_string(),
        );
    }
    let mut want = BTreeMap::new();
    for r in &recs {
        *want.entry(r.app.clone()).or_insert(0usize) += r.message.len();
    }
    let want: BTreeMap<String, String> =
        want.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(vols, want);

    let body = s
        .get(
            "/loki/api/v1/index/volume_range",
            &span(&[("query", r#"{app="frontend"}"#), ("step", "60")]),
        )
        .await;
    assert_eq!(body["data"]["resultType"], "matrix");
    let total: f64 = body["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            v[1].as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum();
    let want: usize = recs
        .iter()
        .filter(|r| r.app == "frontend")
        .map(|r| r.message.len())
        .sum();
    assert_eq!(total as usize, want);

    let body = s
        .get(
            "/loki/api/v1/patterns",
            &span(&[("query", r#"{app="frontend"}"#), ("step", "60")]),
        )
        .await;
    let pats = body["data"].as_array().expect("patterns");
    assert!(!pats.is_empty(), "{body}");
    let mut n = 0;
    for p in pats {
        assert!(p["pattern"].is_string());
        for sample in p["samples"].as_array().expect("samples") {
            assert!(sample[0].is_i64(), "{sample}");
            n += sample[1].as_u64().expect("count");
        }
    }
    assert_eq!(n as usize, recs.len() / 2);

    // A step finer than 11,000 points over the range is refused (it bucketed every row on its own before).
    for path in ["/loki/api/v1/patterns", "/loki/api/v1/index/volume_range"] {
        let (status, body) = s
            .get_raw(
                path,
                &span(&[("query", r#"{app="frontend"}"#), ("step", "0.001")]),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("maximum resolution"), "{path}: {body}");
    }

    let body = s
        .get(
            "/loki/api/v1/detected_labels",
            &span(&[("query", r#"{namespace="shop"}"#)]),
        )
        .await;
    let dl = body["detectedLabels"].as_array().expect("detectedLabels");
    let pod = dl.iter().find(|l| l["label"] == "pod").expect("pod label");
    assert_eq!(pod["cardinality"], 3);

    let body = s
        .get(
            "/loki/api/v1/detected_fields",
            &span(&[("query", r#"{namespace="shop"}"#)]),
        )
        .await;
    let fields = body["fields"].as_array().expect("fields");
    let status = fields
        .iter()
        .find(|f| f["label"] == "status")
        .unwrap_or_else(|| panic!("status field in {body}"));
    assert_eq!(status["cardinality"], 2);
    assert_eq!(status["parsers"], json!(["logfmt"]));
    assert!(fields
        .iter()
        .any(|f| f["label"] == "duration" && f["type"] == "duration"));

    let body = s
        .get(
            "/loki/api/v1/detected_field/status/values",
            &span(&[("query", r#"{namespace="shop"}"#)]),
        )
        .await;
    assert_eq!(body["values"], json!(["200", "500"]));

    let body = s.get("/loki/api/v1/status/buildinfo", &[]).await;
    assert!(body["version"].is_string());
    let body = s
        .get(
            "/loki/api/v1/format_query",
            &[("query", r#"{app="x"} |= "y""#.to_string())],
        )
        .await;
    assert_eq!(body["status"], "success");
    s.indexer.shutdown().await.expect("shutdown");
}
