//! `logmind query 'LOGQL'`: the client side of the Loki-compatible `/loki/api/v1/query_range`.

use crate::client::output::{Output, OutputFormat};
use crate::client::{Client, ClientError, CommonArgs, EXIT_OK};
use logmind_protocol::time::{format_rfc3339_millis, now_nanos, parse_time};
use serde_json::Value;

/// `logmind query` options.
#[derive(Debug, Clone, Default)]
pub struct QueryArgs {
    /// The LogQL query.
    pub query: String,
    /// Most lines (log queries).
    pub limit: Option<usize>,
    /// Step of metric queries (`1m`).
    pub step: Option<String>,
}

/// `logmind query 'LOGQL'`: calls the Loki-compatible `/loki/api/v1/query_range` and prints streams
/// (log lines) or matrices/vectors (metric values).
pub async fn run_query(common: &CommonArgs, args: &QueryArgs) -> Result<i32, ClientError> {
    query_to(common, args, &mut Output::stdout()).await
}

fn labels(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return "{}".into();
    };
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v)).collect();
    format!("{{{}}}", inner.join(", "))
}

/// [`run_query`] into `out`.
pub async fn query_to(
    common: &CommonArgs,
    args: &QueryArgs,
    out: &mut Output,
) -> Result<i32, ClientError> {
    if args.query.trim().is_empty() {
        return Err(ClientError::Usage(
            "query: give a LogQL expression, e.g. '{app=\"backend\"} |= \"error\"'".into(),
        ));
    }
    let client = Client::new(common)?;
    let now = now_nanos();
    let time = |s: &str| parse_time(s, now).map_err(|e| ClientError::Usage(e.to_string()));
    let end = match common.to.as_deref() {
        Some(t) => time(t)?,
        None => now,
    };
    let start = match (common.from.as_deref(), common.since.as_deref()) {
        (Some(f), _) => time(f)?,
        (None, Some(s)) => time(&format!("now-{s}"))?,
        (None, None) => now - 3_600_000_000_000,
    };
    let mut params = vec![
        ("query".to_string(), args.query.clone()),
        ("start".to_string(), start.to_string()),
        ("end".to_string(), end.to_string()),
    ];
    if let Some(l) = args.limit {
        params.push(("limit".into(), l.to_string()));
    }
    if let Some(s) = &args.step {
        params.push(("step".into(), s.clone()));
    }
    let body: Value = client.get("/loki/api/v1/query_range", &params).await?;
    let data = &body["data"];
    let result = data["result"].as_array().cloned().unwrap_or_default();
    match common.output {
        OutputFormat::Json => out.json_pretty(&body)?,
        OutputFormat::Ndjson => {
            for r in &result {
                out.json_line(r)?;
            }
        }
        OutputFormat::Table => match data["resultType"].as_str() {
            Some("streams") => {
                for s in &result {
                    let l = labels(&s["stream"]);
                    for v in s["values"].as_array().into_iter().flatten() {
                        let ts = v[0]
                            .as_str()
                            .and_then(|t| t.parse::<i64>().ok())
                            .unwrap_or(0);
                        let line = v[1].as_str().unwrap_or("");
                        out.line(&format!(
                            "{} {} {line}",
                            out.paint(&format_rfc3339_millis(ts), "2"),
                            out.paint(&l, "36")
                        ))?;
                    }
                }
            }
            Some("matrix") | Some("vector") => {
                for s in &result {
                    out.line(&out.paint(&labels(&s["metric"]), "36"))?;
                    let values: Vec<Value> = match s["values"].as_array() {
                        Some(v) => v.clone(),
                        None => vec![s["value"].clone()],
                    };
                    for v in values {
                        let secs = v[0].as_f64().unwrap_or(0.0);
                        out.line(&format!(
                            "  {}  {}",
                            format_rfc3339_millis((secs * 1e9) as i64),
                            v[1].as_str().unwrap_or("")
                        ))?;
                    }
                }
            }
            other => {
                return Err(ClientError::Decode {
                    url: "/loki/api/v1/query_range".into(),
                    message: format!("unknown resultType {other:?}"),
                })
            }
        },
    }
    out.flush()?;
    Ok(EXIT_OK)
}
