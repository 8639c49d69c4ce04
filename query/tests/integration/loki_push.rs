//! Loki push round trip: JSON, gzip JSON and snappy protobuf (encoded here with our own `prost` structs
//! following Loki's `push.proto`), queried back through `/loki/api/v1/query_range`; labels mapped onto the
//! record, the rest in `fields` (checked through the native search API).

use crate::loki_common;

use loki_common::*;
use serde_json::{json, Value};
use std::io::Write;

const NS: i64 = 1_000_000_000;
const T0: i64 = 1_705_276_800 * NS;

#[derive(Clone, PartialEq, prost::Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<Stream>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Stream {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<Entry>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Ts>,
    #[prost(string, tag = "2")]
    line: String,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<Pair>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Ts {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Pair {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// A snappy-compressed protobuf push body.
fn snappy_of(req: &PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(req))
        .expect("snappy")
}

/// An entry at `seconds` with `line` and no metadata.
fn entry_at(seconds: i64, line: &str) -> Entry {
    Entry {
        timestamp: Some(Ts { seconds, nanos: 0 }),
        line: line.into(),
        structured_metadata: vec![],
    }
}

/// Asserts that `r` is answered `status` with a message containing `needle`.
async fn assert_refused(r: reqwest::Response, status: u16, needle: &str) {
    assert_eq!(r.status().as_u16(), status);
    let msg = r.text().await.unwrap_or_default();
    assert!(msg.contains(needle), "{msg}");
}

/// `body` as gzip-compressed JSON.
fn gzip(body: &Value) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).expect("gzip");
    gz.finish().expect("gzip")
}

async fn query(s: &Server, q: &str) -> Value {
    s.get(
        "/loki/api/v1/query_range",
        &[
            ("query", q.to_string()),
            ("start", T0.to_string()),
            ("end", (T0 + 60 * NS).to_string()),
            ("limit", "100".to_string()),
        ],
    )
    .await
}

#[tokio::test]
async fn push_json_gzip_and_protobuf_then_query_back() {
    let s = start(&[], T0 + 3600 * NS, None).await;
    let push = format!("{}/loki/api/v1/push", s.url);

    // JSON with structured metadata.
    let body = json!({"streams": [{
        "stream": {"namespace": "shop", "service_name": "checkout", "pod": "checkout-7", "env": "prod"},
        "values": [
            [(T0 + NS).to_string(), "payment accepted", {"level": "INFO", "request_id": "r-json", "region": "eu"}],
            [(T0 + NS + 1).to_string(), "payment declined", {"detected_level": "error", "request_id": "r-json"}]
        ]
    }]});
    let r = s.http.post(&push).json(&body).send().await.expect("send");
    assert_eq!(
        r.status().as_u16(),
        204,
        "{}",
        r.text().await.unwrap_or_default()
    );

    // Gzip JSON.
    let body = json!({"streams": [{
        "stream": {"namespace": "shop", "app": "cart", "level": "warn"},
        "values": [[(T0 + 2 * NS).to_string(), "cart is slow"]]
    }]});
    let r = s
        .http
        .post(&push)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);

    // Protobuf in a raw snappy block (Promtail's default).
    let req = PushRequest {
        streams: vec![Stream {
            labels: r#"{namespace="batch", job="billing", node_name="n1", team="payments"}"#.into(),
            entries: (0..3)
                .map(|i| Entry {
                    timestamp: Some(Ts {
                        seconds: T0 / NS + 3,
                        nanos: i,
                    }),
                    line: format!("invoice {i} sent"),
                    structured_metadata: vec![
                        Pair {
                            name: "traceId".into(),
                            value: format!("t-{i}"),
                        },
                        Pair {
                            name: "severity".into(),
                            value: "error".into(),
                        },
                    ],
                })
                .collect(),
        }],
    };
    let raw = prost::Message::encode_to_vec(&req);
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy");
    let r = s
        .http
        .post(&push)
        .header("content-type", "application/x-protobuf")
        .body(compressed)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);

    s.wait_entries(T0, T0 + 60 * NS, 6, None).await;

    // JSON: service_name → app, level normalised, request_id as structured metadata.
    let body = query(&s, r#"{app="checkout"}"#).await;
    let got = entries(&body);
    assert_eq!(got.len(), 2, "{body}");
    let accepted = got
        .iter()
        .find(|e| e.1 == "payment accepted")
        .expect("accepted");
    assert_eq!(accepted.0, T0 + NS);
    assert_eq!(accepted.2["namespace"], "shop");
    assert_eq!(accepted.2["pod"], "checkout-7");
    assert_eq!(accepted.2["level"], "info");
    assert_eq!(accepted.2["request_id"], "r-json");
    let declined = got
        .iter()
        .find(|e| e.1 == "payment declined")
        .expect("declined");
    assert_eq!(declined.0, T0 + NS + 1);
    assert_eq!(declined.2["level"], "error");
    let body = query(
        &s,
        r#"{namespace="shop"} | request_id="r-json" | level="error""#,
    )
    .await;
    assert_eq!(entries(&body).len(), 1);
    let body = query(&s, r#"{service_name="checkout"}"#).await;
    assert_eq!(entries(&body).len(), 2);

    // Gzip JSON.
    let body = query(&s, r#"{app="cart", level="warn"}"#).await;
    assert_eq!(
        entries(&body)
            .iter()
            .map(|e| e.1.as_str())
            .collect::<Vec<_>>(),
        ["cart is slow"]
    );

    // Protobuf: job → app, node_name → node, severity → level, traceId → trace_id, ns preserved.
    let body = query(&s, r#"{app="billing", node="n1"} | level="error""#).await;
    let mut got = entries(&body);
    got.sort_by_key(|e| e.0);
    assert_eq!(got.len(), 3, "{body}");
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.0, T0 + 3 * NS + i as i64);
        assert_eq!(e.1, format!("invoice {i} sent"));
        assert_eq!(e.2["trace_id"], format!("t-{i}"));
        assert_eq!(e.2["namespace"], "batch");
    }

    // Unmapped labels and metadata land in the record's fields.
    let r = s
        .http
        .get(format!("{}/api/v1/search", s.url))
        .query(&[
            ("start", T0.to_string()),
            ("end", (T0 + 60 * NS).to_string()),
            ("limit", "100".to_string()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 6);
    let accepted = events
        .iter()
        .find(|e| e["message"] == "payment accepted")
        .expect("accepted");
    assert_eq!(accepted["fields"]["env"], "prod");
    assert_eq!(accepted["fields"]["region"], "eu");
    let invoice = events
        .iter()
        .find(|e| e["message"] == "invoice 0 sent")
        .expect("invoice");
    assert_eq!(invoice["fields"]["team"], "payments");

    // Malformed pushes are 400s.
    for (ctype, body) in [
        (
            "application/json",
            b"{\"streams\": [{\"values\": [[1, \"x\"]]}]}".to_vec(),
        ),
        ("application/json", b"not json".to_vec()),
        ("application/x-protobuf", b"\xff\xff\xff".to_vec()),
    ] {
        let r = s
            .http
            .post(&push)
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 400);
    }
    s.indexer.shutdown().await.expect("shutdown");
}

/// A push of more entries than `MAX_PUSH_RECORDS` (a few bytes of protobuf each, 384 bytes each once decoded), or
/// of one entry with more structured-metadata pairs, is a 413 that names the limit, counted on the wire before
/// anything is decoded; so is a gzip JSON push of as many values (small on the wire, under the 2 MiB body limit, so
/// the count is what refuses it), counted before it is parsed, and one of as many values nested in an entry. A push
/// whose stream labels would be copied into its entries as more than `MAX_PUSH_FIELD_BYTES` is a 413 too, and a
/// protobuf label string over `MAX_LABELS_BYTES` a 400. Nothing of any of them is stored, and a push after them
/// still lands.
#[tokio::test]
async fn a_push_of_more_entries_than_memory_allows_is_refused_whole() {
    use logmind_query::loki::push::{MAX_LABELS_BYTES, MAX_PUSH_FIELD_BYTES, MAX_PUSH_RECORDS};
    let s = start(&[], T0 + 3600 * NS, None).await;
    let push = format!("{}/loki/api/v1/push", s.url);
    let post = |body: Vec<u8>, ctype: &'static str, gzip: bool| {
        let r = s.http.post(&push).header("content-type", ctype);
        let r = if gzip {
            r.header("content-encoding", "gzip")
        } else {
            r
        };
        r.body(body).send()
    };
    let limit_named = format!("limit of {MAX_PUSH_RECORDS}");

    // Entries with a time inside the queried window: stored, were they accepted.
    let entry = entry_at(T0 / NS + 1, "x");
    let many = PushRequest {
        streams: vec![Stream {
            labels: r#"{namespace="bomb"}"#.into(),
            entries: vec![entry; MAX_PUSH_RECORDS + 1],
        }],
    };
    let snappy = snappy_of(&many);
    assert!(snappy.len() < 1 << 20, "{} bytes on the wire", snappy.len());
    let r = post(snappy, "application/x-protobuf", false)
        .await
        .expect("send");
    assert_refused(r, 413, &limit_named).await;

    // One entry, but more structured-metadata pairs than the limit (2 bytes each when empty).
    let pairs = PushRequest {
        streams: vec![Stream {
            labels: r#"{namespace="bomb"}"#.into(),
            entries: vec![Entry {
                timestamp: Some(Ts {
                    seconds: T0 / NS + 1,
                    nanos: 0,
                }),
                line: "x".into(),
                structured_metadata: vec![Pair::default(); MAX_PUSH_RECORDS + 1],
            }],
        }],
    };
    let snappy = snappy_of(&pairs);
    let r = post(snappy, "application/x-protobuf", false)
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let msg = r.text().await.unwrap_or_default();
    assert!(
        msg.contains(&limit_named) && msg.contains("metadata pairs"),
        "{msg}"
    );

    let values = vec![json!([(T0 + NS).to_string(), "x"]); MAX_PUSH_RECORDS + 1];
    let body = json!({"streams": [{"stream": {"namespace": "bomb"}, "values": values}]});
    let gz = gzip(&body);
    assert!(gz.len() < 1 << 20, "{} bytes on the wire", gz.len());
    let r = post(gz, "application/json", true).await.expect("send");
    assert_refused(r, 413, &limit_named).await;

    // Values nested in a JSON entry count too: one entry whose metadata value is an array of that many zeros.
    let zeros = vec![0; MAX_PUSH_RECORDS];
    let body = json!({"streams": [{"stream": {"namespace": "bomb"},
        "values": [[(T0 + NS).to_string(), "x", {"k": zeros}]]}]});
    let r = post(gzip(&body), "application/json", true)
        .await
        .expect("send");
    assert_refused(r, 413, &limit_named).await;

    // A stream's labels are copied into every entry of it: a 60 kB label on 1,200 entries is 72 MB of fields,
    // and a 1 MB one (JSON labels are not parsed as LogQL, so not capped by length) on 100 entries 100 MB, both
    // over `MAX_PUSH_FIELD_BYTES`.
    let big = "a".repeat(1 << 20);
    let copies_named = format!("limit of {MAX_PUSH_FIELD_BYTES}");
    let labelled = PushRequest {
        streams: vec![Stream {
            labels: format!(r#"{{namespace="bomb", filename="{}"}}"#, &big[..60_000]),
            entries: vec![entry_at(T0 / NS + 1, "x"); 1_200],
        }],
    };
    let snappy = snappy_of(&labelled);
    assert!(snappy.len() < 1 << 20, "{} bytes on the wire", snappy.len());
    let r = post(snappy, "application/x-protobuf", false)
        .await
        .expect("send");
    assert_refused(r, 413, &copies_named).await;
    // A label mapped onto a record field (here `namespace`) is copied into every entry just the same.
    let values = vec![json!([(T0 + NS).to_string(), "x"]); 100];
    let body = json!({"streams": [{"stream": {"namespace": big}, "values": values}]});
    let r = post(gzip(&body), "application/json", true)
        .await
        .expect("send");
    assert_refused(r, 413, &copies_named).await;

    // A protobuf label string is parsed as LogQL: one over `MAX_LABELS_BYTES` is refused before that.
    let long = PushRequest {
        streams: vec![Stream {
            labels: format!(r#"{{namespace="{}"}}"#, "a".repeat(MAX_LABELS_BYTES)),
            entries: vec![entry_at(T0 / NS + 1, "x")],
        }],
    };
    let snappy = snappy_of(&long);
    let r = post(snappy, "application/x-protobuf", false)
        .await
        .expect("send");
    assert_refused(r, 400, &format!("limit of {MAX_LABELS_BYTES}")).await;

    let one = PushRequest {
        streams: vec![Stream {
            labels: r#"{namespace="fine"}"#.into(),
            entries: vec![entry_at(T0 / NS + 5, "after the refused ones")],
        }],
    };
    let snappy = snappy_of(&one);
    let r = post(snappy, "application/x-protobuf", false)
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);
    s.wait_entries(T0, T0 + 60 * NS, 1, None).await;
    let body = query(&s, r#"{namespace=~".+"}"#).await;
    assert_eq!(
        entries(&body).len(),
        1,
        "nothing of the refused pushes was stored: {body}"
    );
    s.indexer.shutdown().await.expect("shutdown");
}
