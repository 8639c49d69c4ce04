//! The Grafana provisioning in `deploy/grafana/`: every LogQL expression of the dashboard parses with our
//! parser (dashboard variables substituted with sample values) and runs through the Loki API of a real
//! indexer; the data source is Grafana's Loki type pointed at logmind.

use crate::loki_common;

use logmind_protocol::LogRecord;
use loki_common::*;
use serde_json::Value;
use std::path::PathBuf;

const NS: i64 = 1_000_000_000;
const T0: i64 = 1_705_276_800 * NS;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana")
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

fn substitute(expr: &str) -> String {
    expr.replace("$__auto", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$request_id", "req-0001")
        .replace("$namespace", ".+")
}

#[tokio::test]
async fn dashboard_expressions_parse_and_run() {
    let text = std::fs::read_to_string(deploy().join("dashboards/logmind-operations.json"))
        .expect("read dashboard");
    let dash: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut found = Vec::new();
    exprs(&dash["panels"], &mut found);
    assert!(found.len() >= 6, "{found:?}");
    for needed in [
        "rate(",
        "request_id=\"$request_id\"",
        "topk(",
        "sum by (level)",
    ] {
        assert!(
            found.iter().any(|e| e.contains(needed)),
            "a panel with {needed}: {found:?}"
        );
    }
    for p in dash["panels"].as_array().expect("panels") {
        assert_eq!(p["datasource"]["type"], "loki", "{p}");
        assert_eq!(p["datasource"]["uid"], "logmind", "{p}");
    }
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(vars.contains(&"request_id") && vars.contains(&"namespace"));

    let records: Vec<LogRecord> = (0..50)
        .map(|i| LogRecord {
            ts: T0 + i * NS,
            namespace: "shop".into(),
            app: "api".into(),
            pod: "api-0".into(),
            level: if i % 4 == 0 { "error" } else { "info" }.into(),
            request_id: format!("req-{:04}", i % 5),
            message: format!("line {i}"),
            ..LogRecord::default()
        })
        .collect();
    let s = start(&records, T0 + 3600 * NS, None).await;
    for e in &found {
        let q = substitute(e);
        if let Err(err) = logmind_query::logql::parse(&q) {
            panic!("dashboard expression does not parse: {q}\n  {err}");
        }
        let body = s
            .get(
                "/loki/api/v1/query_range",
                &[
                    ("query", q.clone()),
                    ("start", T0.to_string()),
                    ("end", (T0 + 3600 * NS).to_string()),
                    ("step", "60".to_string()),
                ],
            )
            .await;
        let result = body["data"]["result"].as_array().expect("result");
        assert!(!result.is_empty(), "{q} returned nothing: {body}");
    }
    // The request trace panel finds exactly that request's lines.
    let body = s
        .get(
            "/loki/api/v1/query_range",
            &[
                (
                    "query",
                    substitute(r#"{namespace=~".+"} | request_id="$request_id""#),
                ),
                ("start", T0.to_string()),
                ("end", (T0 + 3600 * NS).to_string()),
            ],
        )
        .await;
    assert_eq!(entries(&body).len(), 10);
    s.indexer.shutdown().await.expect("shutdown");
}

#[test]
fn datasource_is_grafanas_loki_type_pointed_at_logmind() {
    let ds = std::fs::read_to_string(deploy().join("provisioning/datasources/logmind.yaml"))
        .expect("read datasource");
    let lines: Vec<&str> = ds.lines().map(str::trim).collect();
    for want in [
        "apiVersion: 1",
        "type: loki",
        "url: http://logmind:3100",
        "uid: logmind",
        "jsonData:",
    ] {
        assert!(lines.contains(&want), "{want} in datasource provisioning");
    }
    assert!(lines.iter().any(|l| l.starts_with("maxLines: ")));
    let dash = std::fs::read_to_string(deploy().join("provisioning/dashboards/logmind.yaml"))
        .expect("read dashboard provider");
    assert!(dash.contains("type: file") && dash.contains("path: /var/lib/grafana/dashboards"));
    assert!(!dash.contains('\t'), "YAML must not contain tabs");
    assert!(!ds.contains('\t'), "YAML must not contain tabs");
}
