//! Snapshot while ingest continues, restore into an empty data dir, compare contents.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use logmind_indexer::{restore, Indexer, IndexerOptions};
use logmind_protocol::time::now_nanos;
use logmind_protocol::LogRecord;

fn opts(dir: &std::path::Path) -> IndexerOptions {
    let mut o = IndexerOptions::new(dir);
    o.commit_interval = Duration::from_millis(100);
    o.wal_segment_bytes = 32 << 10;
    o
}

fn batch(seq: u64, now: i64) -> Vec<LogRecord> {
    (0..30)
        .map(|i| record(now - (seq % 2) as i64 * DAY, "shop", seq * 1000 + i))
        .collect()
}

fn offsets(idx: &Indexer) -> Vec<u64> {
    let mut v: Vec<u64> = all_records(&idx.store())
        .iter()
        .map(|r| r.source.offset)
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_during_ingest_restores_the_same_records() {
    let src = tempfile::tempdir().expect("tempdir");
    let snap = tempfile::tempdir().expect("tempdir");
    let snap_dir = snap.path().join("snap");
    let now = now_nanos();
    let idx = Indexer::open(opts(src.path())).await.expect("open");
    for seq in 0..20 {
        idx.ingest("a", seq, batch(seq, now)).await.expect("ingest");
    }
    // keep ingesting while the snapshot runs
    let stop = Arc::new(AtomicBool::new(false));
    let (i2, s2) = (idx.clone(), stop.clone());
    let bg = tokio::spawn(async move {
        let mut seq = 20;
        while !s2.load(Ordering::SeqCst) && seq < 400 {
            i2.ingest("a", seq, batch(seq, now)).await.expect("ingest");
            seq += 1;
        }
        seq
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = idx.snapshot(&snap_dir).await.expect("snapshot");
    stop.store(true, Ordering::SeqCst);
    let sent = bg.await.expect("bg");
    assert!(report.docs >= 600, "{report:?}");
    assert!(!report.partitions.is_empty());
    // a snapshot never overwrites
    let err = idx.snapshot(&snap_dir).await.expect_err("non-empty dir");
    assert!(err.to_string().contains("not empty"), "{err}");
    idx.commit().await.expect("commit");
    let original = offsets(&idx);
    idx.shutdown().await.expect("shutdown");

    // restore refuses a non-empty data dir
    let err = restore(&snap_dir, src.path()).expect_err("non-empty");
    assert!(err.to_string().contains("not empty"), "{err}");
    let dst = tempfile::tempdir().expect("tempdir");
    let restored_dir = dst.path().join("data");
    restore(&snap_dir, &restored_dir).expect("restore");
    let r = Indexer::open(opts(&restored_dir))
        .await
        .expect("open restored");
    let restored = offsets(&r);
    // every batch acknowledged before the snapshot is in it, exactly once; nothing that was never sent
    let distinct: BTreeSet<u64> = restored.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        restored.len(),
        "duplicates in the restored store"
    );
    assert!(restored.len() as u64 >= report.docs);
    for seq in 0..20u64 {
        assert!(distinct.contains(&(seq * 1000)), "batch {seq} missing");
    }
    assert!(distinct.iter().all(|o| original.binary_search(o).is_ok()));
    // the restored dedup table agrees with the restored data: resending everything fills exactly the gap
    for seq in 0..sent {
        let out = r.ingest("a", seq, batch(seq, now)).await.expect("resend");
        let had = distinct.contains(&(seq * 1000));
        assert_eq!(
            out.duplicate, had,
            "batch {seq}: duplicate={} but present={had}",
            out.duplicate
        );
    }
    r.commit().await.expect("commit");
    assert_eq!(offsets(&r), original);
    r.shutdown().await.expect("shutdown");
}
