//! A failure inside tantivy (a worker that dropped the documents it had queued: disk full, I/O error) must not
//! lose acknowledged batches. The indexer keeps the failure until it has indexed every batch since the last
//! commit again from the WAL; until then it refuses ingest with 503 and commits nothing, so no later commit can
//! record a dropped batch as committed and let the WAL delete it.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use logmind_indexer::{Faults, IndexerOptions};
use logmind_protocol::encode_ndjson;
use logmind_protocol::time::now_nanos;

fn batch(now: i64, seq: u64) -> Vec<u8> {
    let recs: Vec<_> = (0..20)
        .map(|i| record(now, "shop", seq * 100 + i))
        .collect();
    encode_ndjson(&recs)
}

/// Options with a fault hook. Commits only when asked (and when recovering): the documents handed to tantivy
/// before a fault are uncommitted when it strikes. ~8 KiB batches in 16 KiB segments: commits delete segments.
fn options(dir: &std::path::Path) -> (IndexerOptions, Faults) {
    let faults = Faults::default();
    let mut o = IndexerOptions::new(dir);
    o.commit_interval = Duration::from_secs(3600);
    o.wal_segment_bytes = 16 << 10;
    o.faults = faults.clone();
    (o, faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_dropped_by_a_failed_writer_are_indexed_again_from_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, faults) = options(dir.path());
    let (idx, base, server) = serve(o.clone()).await;
    let client = reqwest::Client::new();
    let now = now_nanos();
    let mut acked = Vec::new();
    let mut seq = 0u64;
    for _ in 0..10 {
        let (st, _, _) = post(&client, &base, Some("a"), Some(seq), batch(now, seq), &[]).await;
        assert_eq!(st, 200);
        acked.push(seq);
        seq += 1;
    }
    idx.commit().await.expect("commit");
    assert_eq!(idx.store().num_docs(), 200);
    // Handed to tantivy, not committed.
    for _ in 0..5 {
        let (st, _, _) = post(&client, &base, Some("a"), Some(seq), batch(now, seq), &[]).await;
        assert_eq!(st, 200);
        acked.push(seq);
        seq += 1;
    }

    // The writer drops what it is handed. Batches are still acknowledged (they are in the WAL) until the
    // indexing thread has seen the failure; from then on ingest answers 503 with Retry-After.
    faults.drop_documents(true);
    let refused_at = loop {
        let (st, headers, body) =
            post(&client, &base, Some("a"), Some(seq), batch(now, seq), &[]).await;
        match st {
            200 => acked.push(seq),
            503 => {
                assert!(headers.contains_key("retry-after"), "{headers:?}");
                let msg = body["error"].as_str().unwrap_or_default().to_string();
                assert!(msg.contains("indexing failed"), "{msg}");
                break seq;
            }
            other => panic!("status {other}: {body}"),
        }
        seq += 1;
        assert!(
            seq < 1_000,
            "ingest never refused while documents were dropped"
        );
    };
    assert!(
        acked.len() > 15,
        "no batch was acknowledged after the fault"
    );
    let health = get(&client, &base, "/health").await;
    assert_eq!(health.status().as_u16(), 503);
    let err = idx.commit().await.expect_err("a commit while failed");
    assert_eq!(err.status(), 503, "{err}");
    // Queries still answer from what was committed.
    assert_eq!(idx.store().num_docs(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Once the writer works again the indexer recovers by itself: it indexes the WAL since the last commit.
    faults.drop_documents(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (st, _, body) = post(
            &client,
            &base,
            Some("a"),
            Some(refused_at),
            batch(now, refused_at),
            &[],
        )
        .await;
        if st == 200 {
            acked.push(refused_at);
            break;
        }
        assert_eq!(st, 503, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recovered: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in refused_at + 1..refused_at + 5 {
        let (st, _, _) = post(&client, &base, Some("a"), Some(s), batch(now, s), &[]).await;
        assert_eq!(st, 200);
        acked.push(s);
    }
    idx.commit().await.expect("commit after recovery");
    let expect: BTreeMap<u64, usize> = acked
        .iter()
        .flat_map(|s| (0..20).map(move |i| (s * 100 + i, 1)))
        .collect();
    let count = |idx: &logmind_indexer::Indexer| {
        let mut seen = BTreeMap::new();
        for r in all_records(&idx.store()) {
            *seen.entry(r.source.offset).or_insert(0usize) += 1;
        }
        seen
    };
    assert_eq!(
        count(&idx),
        expect,
        "every acknowledged record exactly once"
    );
    let wal_files = std::fs::read_dir(dir.path().join("wal"))
        .expect("wal dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        })
        .count();
    assert!(
        wal_files <= 2,
        "{wal_files} wal segments left after the commit"
    );
    let metrics = get(&client, &base, "/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("logmind_index_recoveries_total 1"),
        "{metrics}"
    );
    let health = get(&client, &base, "/health").await;
    assert_eq!(health.status().as_u16(), 200);
    idx.shutdown().await.expect("shutdown");
    server.abort();
    drop(idx);

    // A restart replays nothing twice.
    let idx = logmind_indexer::Indexer::open(o.clone())
        .await
        .expect("reopen");
    assert_eq!(count(&idx), expect);

    // Failed again and stopped before it recovered: the next open indexes the WAL.
    faults.drop_documents(true);
    let mut expect = expect;
    let mut seq = refused_at + 5;
    loop {
        match idx
            .ingest(
                "a",
                seq,
                (0..20)
                    .map(|i| record(now, "shop", seq * 100 + i))
                    .collect(),
            )
            .await
        {
            Ok(out) => {
                assert_eq!(out.accepted, 20);
                expect.extend((0..20).map(|i| (seq * 100 + i, 1)));
            }
            Err(e) => {
                assert_eq!(e.status(), 503, "{e}");
                break;
            }
        }
        seq += 1;
        assert!(seq < refused_at + 1_000, "ingest never refused");
    }
    assert!(
        idx.shutdown().await.is_err(),
        "a failed indexer cannot commit at shutdown"
    );
    drop(idx);
    faults.drop_documents(false);
    let idx = logmind_indexer::Indexer::open(o)
        .await
        .expect("reopen after the failure");
    assert_eq!(count(&idx), expect);
    idx.shutdown().await.expect("shutdown");
}

/// A commit that fails after some partitions have committed: those keep their commit (the replay must not add
/// their documents again), the others index their uncommitted batches again from the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_halfway_through_the_partitions_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, faults) = options(dir.path());
    let idx = logmind_indexer::Indexer::open(o.clone())
        .await
        .expect("open");
    let now = now_nanos();
    // Every batch writes today's and yesterday's partition.
    let batch = |seq: u64| -> Vec<_> {
        (0..20)
            .map(|i| record(now - (i % 2) as i64 * DAY, "shop", seq * 100 + i))
            .collect()
    };
    let mut expect = BTreeMap::new();
    let mut ingest = |seq: u64| {
        expect.extend((0..20).map(|i| (seq * 100 + i, 1usize)));
        batch(seq)
    };
    for seq in 0..5 {
        idx.ingest("a", seq, ingest(seq)).await.expect("ingest");
    }
    idx.commit().await.expect("commit");
    for seq in 5..10 {
        idx.ingest("a", seq, ingest(seq)).await.expect("ingest");
    }
    // One partition commits, the other fails.
    faults.fail_commits_after(Some(1));
    let err = idx
        .commit()
        .await
        .expect_err("the second partition's commit fails");
    assert!(err.to_string().contains("injected fault"), "{err}");
    let refused = idx
        .ingest("a", 10, batch(10))
        .await
        .expect_err("ingest while failed");
    assert_eq!(refused.status(), 503);
    faults.fail_commits_after(None);
    // An explicit commit recovers at once (the timer would after the backoff).
    idx.commit().await.expect("recovered");
    for seq in 10..12 {
        idx.ingest("a", seq, ingest(seq)).await.expect("ingest");
    }
    idx.commit().await.expect("commit");
    let count = |idx: &logmind_indexer::Indexer| {
        let mut seen = BTreeMap::new();
        for r in all_records(&idx.store()) {
            *seen.entry(r.source.offset).or_insert(0usize) += 1;
        }
        seen
    };
    assert_eq!(idx.store().partitions().len(), 2);
    assert_eq!(
        count(&idx),
        expect,
        "every acknowledged record exactly once"
    );
    idx.shutdown().await.expect("shutdown");
    drop(idx);
    let idx = logmind_indexer::Indexer::open(o).await.expect("reopen");
    assert_eq!(count(&idx), expect, "and after a restart");
    idx.shutdown().await.expect("shutdown");
}
