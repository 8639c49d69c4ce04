//! Loki's response shapes: `{"status":"success","data":{"resultType":…,"result":…,"stats":…}}`, streams with
//! nanosecond timestamps as strings, matrices and vectors with `[seconds, "value"]` samples.

use super::exec::Line;
use crate::logql::eval::metric::Series;
use crate::logql::eval::Labels;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Formats a sample value as Prometheus does (`2`, `0.25`, `NaN`, `+Inf`, `-Inf`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A sample timestamp in seconds (Prometheus JSON form).
pub fn seconds(ns: i64) -> Value {
    let secs = ns as f64 / 1e9;
    // Keep millisecond precision like Prometheus/Loki encoders.
    json!((secs * 1000.0).round() / 1000.0)
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Summary statistics block (what Grafana's query inspector shows).
pub fn stats(entries: usize, exec_secs: f64) -> Value {
    json!({
        "summary": {
            "bytesProcessedPerSecond": 0,
            "linesProcessedPerSecond": 0,
            "totalBytesProcessed": 0,
            "totalLinesProcessed": entries,
            "execTime": exec_secs,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": entries,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": entries,
            "totalStructuredMetadataBytesProcessed": 0
        }
    })
}

/// The `streams` result. With `categorize`, stream labels are only the indexed stream labels and each value
/// carries a third element `{structuredMetadata, parsed}`; without it, all labels form the stream.
pub fn streams(lines: Vec<Line>, categorize: bool, newest_first: bool) -> Value {
    let mut by_stream: BTreeMap<Labels, Vec<Line>> = BTreeMap::new();
    for l in lines {
        let key = if categorize {
            l.entry.stream.clone()
        } else {
            l.entry.all_labels()
        };
        by_stream.entry(key).or_default().push(l);
    }
    let result: Vec<Value> = by_stream
        .into_iter()
        .map(|(labels, mut lines)| {
            lines.sort_by(|a, b| (a.entry.ts, &a.key).cmp(&(b.entry.ts, &b.key)));
            if newest_first {
                lines.reverse();
            }
            let values: Vec<Value> = lines
                .into_iter()
                .map(|l| {
                    let ts = l.entry.ts.to_string();
                    if categorize {
                        let mut extra = Map::new();
                        if !l.entry.metadata.is_empty() {
                            extra.insert(
                                "structuredMetadata".into(),
                                labels_json(&l.entry.metadata),
                            );
                        }
                        if !l.entry.parsed.is_empty() {
                            extra.insert("parsed".into(), labels_json(&l.entry.parsed));
                        }
                        json!([ts, l.entry.line, Value::Object(extra)])
                    } else {
                        json!([ts, l.entry.line])
                    }
                })
                .collect();
            json!({ "stream": labels_json(&labels), "values": values })
        })
        .collect();
    Value::Array(result)
}

/// A matrix result.
pub fn matrix(series: &[Series]) -> Value {
    Value::Array(
        series
            .iter()
            .map(|s| {
                json!({
                    "metric": labels_json(&s.labels),
                    "values": s.points.iter().map(|(t, v)| json!([seconds(*t), format_value(*v)])).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A vector result: each series' last point.
pub fn vector(series: &[Series]) -> Value {
    Value::Array(
        series
            .iter()
            .filter_map(|s| {
                s.points.last().map(|(t, v)| {
                    json!({ "metric": labels_json(&s.labels), "value": [seconds(*t), format_value(*v)] })
                })
            })
            .collect(),
    )
}

/// Loki's success envelope in Loki's own key order: `status`, then `data`. A `serde_json::Value` object would
/// sort its keys; typed fields keep the order (see [`QueryData`] for why it matters inside `data`).
#[derive(Debug, Serialize)]
pub struct Success<D> {
    status: &'static str,
    data: D,
}

/// Wraps data in the success envelope.
pub fn success<D: Serialize>(data: D) -> Success<D> {
    Success {
        status: "success",
        data,
    }
}

/// A query result: the success envelope around [`QueryData`].
pub type QueryResult = Success<QueryData>;

/// The `data` of a query result, `resultType` before `result` as Loki writes it: Grafana's response converter
/// before grafana/grafana#64693 fails on `result` first (what a sorted `Value` object gives) with "unknown
/// result type".
#[derive(Debug, Serialize)]
pub struct QueryData {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    result: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Value>,
    #[serde(rename = "encodingFlags", skip_serializing_if = "Option::is_none")]
    encoding_flags: Option<[&'static str; 1]>,
}

/// A result without stats (the volume endpoints).
pub fn typed_result(result_type: &'static str, result: Value) -> QueryResult {
    success(QueryData {
        result_type,
        result,
        stats: None,
        encoding_flags: None,
    })
}

/// A query result envelope with `resultType`, `result`, `stats` and optional `encodingFlags`.
pub fn query_result(
    result_type: &'static str,
    result: Value,
    stats: Value,
    categorize: bool,
) -> QueryResult {
    success(QueryData {
        result_type,
        result,
        stats: Some(stats),
        encoding_flags: categorize.then_some(["categorize-labels"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_prometheus() {
        assert_eq!(format_value(2.0), "2");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(seconds(1_700_000_000_123_456_789), json!(1_700_000_000.123));
    }
}
