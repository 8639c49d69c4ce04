//! Ingest over real HTTP on 127.0.0.1 into real tantivy partitions in a temp dir.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use logmind_indexer::IndexerOptions;
use logmind_protocol::time::now_nanos;
use logmind_protocol::{encode_ndjson, lz4_compress};

fn opts(dir: &std::path::Path) -> IndexerOptions {
    let mut o = IndexerOptions::new(dir);
    o.commit_interval = Duration::from_millis(200);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_durable_searchable_fast_and_deduplicated_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let now = now_nanos();
    let (idx, base, server) = serve(opts(dir.path())).await;
    let recs: Vec<_> = (0..100)
        .map(|i| record(now - i as i64 * NS, "shop", i))
        .collect();
    let started = Instant::now();
    let (st, _, body) = post(
        &client,
        &base,
        Some("a1"),
        Some(1),
        encode_ndjson(&recs),
        &[],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["accepted"], 100);
    assert_eq!(body["duplicate"], false);
    assert_eq!(
        wait_docs(&idx.store(), 100, Duration::from_secs(5)).await,
        100
    );
    let visible_after = started.elapsed();
    assert!(
        visible_after < Duration::from_secs(3),
        "visible after {visible_after:?}"
    );

    // lz4 body, next sequence
    let recs2: Vec<_> = (100..150).map(|i| record(now, "shop", i)).collect();
    let (st, _, body) = post(
        &client,
        &base,
        Some("a1"),
        Some(2),
        lz4_compress(&encode_ndjson(&recs2)),
        &[("Content-Encoding", "lz4")],
    )
    .await;
    assert_eq!((st, body["accepted"].as_u64()), (200, Some(50)), "{body}");

    // same (agent, seq) again: duplicate, nothing indexed
    let (st, _, body) = post(
        &client,
        &base,
        Some("a1"),
        Some(1),
        encode_ndjson(&recs),
        &[],
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["accepted"], 0);

    idx.shutdown().await.expect("shutdown");
    server.abort();
    drop(idx);

    // restart: still a duplicate, data still there, exactly once
    let (idx, base, server) = serve(opts(dir.path())).await;
    assert_eq!(idx.store().num_docs(), 150);
    let (st, _, body) = post(
        &client,
        &base,
        Some("a1"),
        Some(1),
        encode_ndjson(&recs),
        &[],
    )
    .await;
    assert_eq!((st, body["duplicate"].as_bool()), (200, Some(true)));
    let (st, _, body) = post(
        &client,
        &base,
        Some("a1"),
        Some(2),
        encode_ndjson(&recs2),
        &[],
    )
    .await;
    assert_eq!((st, body["duplicate"].as_bool()), (200, Some(true)));
    let offsets: BTreeSet<u64> = all_records(&idx.store())
        .iter()
        .map(|r| r.source.offset)
        .collect();
    assert_eq!(offsets, (0..150).collect());
    // every record carries a template id and the miner knows it
    let r = &all_records(&idx.store())[0];
    let t = idx.store().templates().assign(&r.message);
    assert!(idx.store().templates().text(t).is_some());
    idx.shutdown().await.expect("shutdown");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_whole_with_json_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let now = now_nanos();
    let mut o = opts(dir.path());
    o.max_body_bytes = 64 << 10;
    o.max_decompressed_bytes = 256 << 10;
    let (idx, base, server) = serve(o).await;

    let mut body = encode_ndjson(&[record(now, "shop", 1)]);
    body.extend_from_slice(b"{\"ts\": not json}\n");
    let (st, _, j) = post(&client, &base, Some("a"), Some(1), body, &[]).await;
    assert_eq!(st, 400);
    let msg = j["error"].as_str().expect("error string");
    assert!(msg.contains("line 2"), "{msg}");

    let ok = encode_ndjson(&[record(now, "shop", 2)]);
    let (st, _, j) = post(&client, &base, None, Some(1), ok.clone(), &[]).await;
    assert_eq!(st, 400);
    assert!(j["error"]
        .as_str()
        .expect("msg")
        .contains("X-Logmind-Agent"));
    let (st, _, j) = post(&client, &base, Some("a"), None, ok.clone(), &[]).await;
    assert_eq!(st, 400);
    assert!(j["error"]
        .as_str()
        .expect("msg")
        .contains("X-Logmind-Batch"));
    let (st, _, _) = post(
        &client,
        &base,
        Some("a"),
        None,
        ok.clone(),
        &[("X-Logmind-Batch", "x")],
    )
    .await;
    assert_eq!(st, 400);

    // over the body limit
    let big: Vec<_> = (0..2000).map(|i| record(now, "shop", i)).collect();
    let (st, _, j) = post(&client, &base, Some("a"), Some(2), encode_ndjson(&big), &[]).await;
    assert_eq!(st, 413, "{j}");
    assert!(j["error"].is_string());
    // an lz4 bomb: small on the wire, over the decompressed cap
    let bomb = lz4_compress(&vec![b' '; 4 << 20]);
    assert!(bomb.len() < 64 << 10);
    let (st, _, j) = post(
        &client,
        &base,
        Some("a"),
        Some(3),
        bomb,
        &[("Content-Encoding", "lz4")],
    )
    .await;
    assert_eq!(st, 413, "{j}");
    let (st, _, _) = post(
        &client,
        &base,
        Some("a"),
        Some(4),
        b"garbage".to_vec(),
        &[("Content-Encoding", "lz4")],
    )
    .await;
    assert_eq!(st, 400);

    // records older than retention are refused and counted, the rest accepted
    let mixed = vec![record(now, "shop", 10), record(now - 30 * DAY, "shop", 11)];
    let (st, _, j) = post(
        &client,
        &base,
        Some("a"),
        Some(5),
        encode_ndjson(&mixed),
        &[],
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (j["accepted"].as_u64(), j["rejected_old"].as_u64()),
        (Some(1), Some(1))
    );

    idx.commit().await.expect("commit");
    let offsets: Vec<u64> = all_records(&idx.store())
        .iter()
        .map(|r| r.source.offset)
        .collect();
    assert_eq!(
        offsets,
        vec![10],
        "nothing of the refused batches was stored"
    );
    idx.shutdown().await.expect("shutdown");
    server.abort();
}

/// A body of tiny records (`{}` is 3 bytes; a decoded record 384) within every byte limit would take over a
/// hundred times its size in memory: one batch holds at most as many records as the larger of
/// `max_pending_bytes` and `max_decompressed_bytes` has room for, and more is a 413 that names the limit, with
/// nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_more_records_than_memory_allows_is_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let now = now_nanos();
    let per_record = std::mem::size_of::<logmind_protocol::LogRecord>();
    let mut o = opts(dir.path());
    o.max_pending_bytes = (per_record * 100) as u64;
    o.max_decompressed_bytes = per_record * 50;
    let (idx, base, server) = serve(o).await;

    // 101 minimal records, lz4-compressed like a bomb: refused.
    let line = format!("{{\"ts\":{now},\"message\":\"m\"}}\n");
    let body = lz4_compress(line.repeat(101).as_bytes());
    let (st, _, j) = post(
        &client,
        &base,
        Some("a"),
        Some(1),
        body,
        &[("Content-Encoding", "lz4")],
    )
    .await;
    assert_eq!(st, 413, "{j}");
    let msg = j["error"].as_str().expect("error string");
    assert!(msg.contains("more than 100 records"), "{msg}");
    // Blank lines are not records: 100 records among them are accepted.
    let body = format!("{}\n\n", line).repeat(100);
    let (st, _, j) = post(&client, &base, Some("a"), Some(2), body.into_bytes(), &[]).await;
    assert_eq!((st, j["accepted"].as_u64()), (200, Some(100)), "{j}");
    idx.commit().await.expect("commit");
    assert_eq!(
        all_records(&idx.store()).len(),
        100,
        "nothing of the refused batch was stored"
    );
    idx.shutdown().await.expect("shutdown");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_per_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let mut o = opts(dir.path());
    o.ingest_tokens = vec!["ing".into()];
    o.query_tokens = vec!["qry".into()];
    o.admin_tokens = vec!["adm".into()];
    let (idx, base, server) = serve(o).await;
    let body = encode_ndjson(&[record(now_nanos(), "shop", 1)]);
    let (st, _, j) = post(&client, &base, Some("a"), Some(1), body.clone(), &[]).await;
    assert_eq!(st, 401, "{j}");
    assert!(j["error"].is_string());
    let (st, _, _) = post(
        &client,
        &base,
        Some("a"),
        Some(1),
        body.clone(),
        &[("Authorization", "Bearer qry")],
    )
    .await;
    assert_eq!(st, 403);
    let (st, _, _) = post(
        &client,
        &base,
        Some("a"),
        Some(1),
        body.clone(),
        &[("Authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(st, 401);
    let (st, _, _) = post(
        &client,
        &base,
        Some("a"),
        Some(1),
        body.clone(),
        &[("Authorization", "Bearer ing")],
    )
    .await;
    assert_eq!(st, 200);
    let r = client
        .post(format!("{base}/api/v1/admin/retention"))
        .bearer_auth("ing")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 403);
    let r = client
        .post(format!("{base}/api/v1/admin/retention"))
        .bearer_auth("adm")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let r = client
        .get(format!("{base}/api/v1/stats"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    idx.shutdown().await.expect("shutdown");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_share_fsyncs_and_observability_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let now = now_nanos();
    let (idx, base, server) = serve(opts(dir.path())).await;
    let mut tasks = Vec::new();
    for a in 0..16u64 {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut acc = 0;
            for s in 0..10u64 {
                let recs: Vec<_> = (0..20)
                    .map(|i| record(now, "shop", a * 10_000 + s * 100 + i))
                    .collect();
                let (st, _, j) = post(
                    &client,
                    &base,
                    Some(&format!("agent-{a}")),
                    Some(s),
                    encode_ndjson(&recs),
                    &[],
                )
                .await;
                assert_eq!(st, 200, "{j}");
                acc += j["accepted"].as_u64().unwrap_or(0);
            }
            acc
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, 16 * 10 * 20);
    assert_eq!(
        wait_docs(&idx.store(), total, Duration::from_secs(10)).await,
        total
    );

    let m = idx.metrics();
    let fsyncs = m.fsyncs.load(std::sync::atomic::Ordering::Relaxed);
    let batches = m.fsync_batches.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "group commit: {batches} batches in {fsyncs} fsyncs ({:.2} per fsync)",
        batches as f64 / fsyncs as f64
    );
    assert_eq!(batches, 160);
    assert!(
        fsyncs < batches,
        "16 concurrent senders never shared an fsync"
    );

    let h = get(&client, &base, "/health").await;
    assert_eq!(h.status().as_u16(), 200);
    let h: serde_json::Value = h.json().await.expect("json");
    assert_eq!(h["status"], "healthy");
    for c in ["wal", "index", "retention", "disk"] {
        assert!(h["components"][c].is_object(), "component {c} missing: {h}");
    }
    assert_eq!(h["components"]["index"]["docs"], total);
    let r = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(r.status().as_u16(), 200);
    let text = get(&client, &base, "/metrics")
        .await
        .text()
        .await
        .expect("text");
    for name in [
        "logmind_ingest_bytes_total",
        "logmind_ingest_records_total 3200",
        "logmind_ingest_batches_total 160",
        "logmind_ingest_duplicates_total 0",
        "logmind_wal_fsync_seconds_bucket",
        "logmind_commit_seconds_count",
        "logmind_partitions",
        "logmind_docs 3200",
        "logmind_index_bytes",
        "logmind_retention_partitions_dropped_total",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    let s: serde_json::Value = client
        .get(format!("{base}/api/v1/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(s["docs"], total);
    assert!(s["partitions"].as_array().is_some_and(|p| !p.is_empty()));
    idx.shutdown().await.expect("shutdown");
    let r = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(r.status().as_u16(), 503);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_429_with_retry_after_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let now = now_nanos();
    let mut o = opts(dir.path());
    o.max_pending_bytes = 1;
    let (idx, base, server) = serve(o).await;
    let mut tasks = Vec::new();
    for a in 0..24u64 {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let recs: Vec<_> = (0..400)
                .map(|i| record(now, "shop", a * 1000 + i))
                .collect();
            post(
                &client,
                &base,
                Some("a"),
                Some(a),
                encode_ndjson(&recs),
                &[],
            )
            .await
        }));
    }
    let (mut ok, mut throttled) = (0u64, 0u64);
    for t in tasks {
        let (st, h, j) = t.await.expect("task");
        match st {
            200 => ok += j["accepted"].as_u64().unwrap_or(0),
            429 => {
                assert!(h.get("retry-after").is_some(), "429 without Retry-After");
                assert!(j["error"].is_string());
                throttled += 1;
            }
            other => panic!("unexpected status {other}: {j}"),
        }
    }
    eprintln!("overload: {throttled} of 24 batches throttled");
    assert!(
        throttled > 0,
        "no batch was throttled with a 1-byte pending limit"
    );
    assert_eq!(
        wait_docs(&idx.store(), ok, Duration::from_secs(10)).await,
        ok
    );
    idx.shutdown().await.expect("shutdown");
    server.abort();
}
