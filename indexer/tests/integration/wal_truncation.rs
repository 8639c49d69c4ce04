//! WAL segments are deleted once committed, and duplicate detection still works after a restart (the dedup
//! table is saved before segments go).

use crate::common;

use std::time::Duration;

use common::*;
use logmind_indexer::{Indexer, IndexerOptions};
use logmind_protocol::time::now_nanos;

fn opts(dir: &std::path::Path) -> IndexerOptions {
    let mut o = IndexerOptions::new(dir);
    o.commit_interval = Duration::from_millis(100);
    o.wal_segment_bytes = 16 << 10;
    o
}

fn wal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("wal"))
        .expect("wal dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_segments_are_deleted_and_dedup_survives_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_nanos();
    let idx = Indexer::open(opts(dir.path())).await.expect("open");
    for seq in 0..60u64 {
        let recs: Vec<_> = (0..20)
            .map(|i| record(now, "shop", seq * 100 + i))
            .collect();
        let out = idx.ingest("agent", seq, recs).await.expect("ingest");
        assert_eq!(out.accepted, 20);
    }
    idx.commit().await.expect("commit");
    // more than 60 batches × ~8 KiB went through 16 KiB segments; only the active one may remain
    assert!(
        wal_files(dir.path()) <= 2,
        "{} wal segments left",
        wal_files(dir.path())
    );
    assert!(dir.path().join("dedup.json").exists());
    idx.shutdown().await.expect("shutdown");
    drop(idx);

    let idx = Indexer::open(opts(dir.path())).await.expect("reopen");
    assert_eq!(idx.store().num_docs(), 1200);
    for seq in [0u64, 1, 30, 59] {
        let recs: Vec<_> = (0..20)
            .map(|i| record(now, "shop", seq * 100 + i))
            .collect();
        let out = idx.ingest("agent", seq, recs).await.expect("resend");
        assert!(
            out.duplicate,
            "batch {seq} accepted twice after its segment was deleted"
        );
    }
    let out = idx
        .ingest("agent", 60, vec![record(now, "shop", 6000)])
        .await
        .expect("new batch");
    assert!(!out.duplicate);
    idx.commit().await.expect("commit");
    assert_eq!(idx.store().num_docs(), 1201);
    idx.shutdown().await.expect("shutdown");
}

/// Documents handed to tantivy wait in its queue until indexed, outside the pending bound. Past
/// `max_pending_bytes` of them since the last commit the indexer commits at once instead of waiting for the timer
/// (here an hour), which bounds that queue: large messages become searchable batch by batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_documents_are_committed_before_the_timer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = IndexerOptions::new(dir.path());
    o.commit_interval = Duration::from_secs(3600);
    o.max_pending_bytes = 1 << 20;
    let idx = Indexer::open(o).await.expect("open");
    let now = now_nanos();
    let big = "x".repeat(64 << 10);
    for seq in 0..3u64 {
        // 10 messages of 64 KiB: about 1.3 MB of documents, over the 1 MiB bound.
        let recs: Vec<_> = (0..10)
            .map(|i| {
                let mut r = record(now, "shop", seq * 100 + i);
                r.message = format!("{big} {seq} {i}");
                r
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match idx.ingest("agent", seq, recs.clone()).await {
                Ok(out) => {
                    assert_eq!(out.accepted, 10);
                    break;
                }
                // The previous batch is still being indexed (pending above the bound): retry.
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.to_string().contains("pending"), "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("batch {seq} never accepted: {e}"),
            }
        }
        let want = 10 * (seq + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while idx.store().num_docs() < want {
            assert!(
                std::time::Instant::now() < deadline,
                "batch {seq}: {} of {want} documents searchable without a commit",
                idx.store().num_docs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    idx.shutdown().await.expect("shutdown");
}
