//! Retention with an injected clock over real partitions: whole partitions past the longest period dropped,
//! shorter namespace periods applied by deletion, the disk cap evicting oldest first, the current partition kept.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use logmind_indexer::{Indexer, IndexerOptions, ManualClock};

fn opts(dir: &std::path::Path, clock: Arc<ManualClock>) -> IndexerOptions {
    let mut o = IndexerOptions::new(dir);
    o.clock = clock;
    o.commit_interval = Duration::from_millis(100);
    o.retention.period = Duration::from_secs(3 * 86_400);
    o.retention.check_interval = Duration::from_secs(3600);
    o
}

fn kept(idx: &Indexer) -> BTreeSet<(String, i64)> {
    all_records(&idx.store())
        .into_iter()
        .map(|r| (r.namespace, r.ts / (DAY / 10)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periods_per_namespace_drop_and_delete_with_an_injected_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(100 * DAY + DAY / 2));
    let mut o = opts(dir.path(), clock.clone());
    o.retention
        .namespaces
        .insert("audit".into(), Duration::from_secs(10 * 86_400));
    o.retention
        .namespaces
        .insert("debug".into(), Duration::from_secs(86_400));
    let idx = Indexer::open(o).await.expect("open");
    let at = |d: f64| (d * DAY as f64) as i64;
    let recs = vec![
        record(at(100.0), "shop", 1),
        record(at(99.0), "shop", 2),
        record(at(98.0), "shop", 3),
        record(at(100.0), "audit", 4),
        record(at(95.0), "audit", 5),
        record(at(91.0), "audit", 6),
        record(at(100.0), "debug", 7),
        record(at(99.6), "debug", 8),
        record(at(96.0), "shop", 9), // older than shop's 3 days: refused at ingest
    ];
    let out = idx.ingest("a", 1, recs).await.expect("ingest");
    assert_eq!(out.accepted, 8);
    idx.commit().await.expect("commit");
    assert_eq!(idx.store().partitions().len(), 5);
    assert_eq!(idx.store().retention_floor("shop"), at(97.5));
    assert_eq!(idx.store().retention_floor("audit"), at(90.5));

    clock.advance(Duration::from_secs(2 * 86_400)); // now = day 102.5
    let report = idx.run_retention().await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.dropped, vec!["19700402T000000Z".to_string()]); // the day-91 partition
    assert!(report.evicted.is_empty());
    assert_eq!(report.docs_deleted, 4, "{report:?}");
    let left = kept(&idx);
    let want: BTreeSet<(String, i64)> = [("shop", 1000), ("audit", 1000), ("audit", 950)]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    assert_eq!(left, want);
    assert!(!dir.path().join("partitions/19700402T000000Z").exists());
    let m = idx.metrics();
    assert_eq!(
        m.retention_partitions_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        m.retention_docs_deleted
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );

    // a second run finds nothing more to do
    let again = idx.run_retention().await;
    assert_eq!((again.dropped.len(), again.docs_deleted), (0, 0));
    idx.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_cap_evicts_oldest_first_but_never_the_current_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(100 * DAY + DAY / 2));
    let mut o = opts(dir.path(), clock.clone());
    o.retention.period = Duration::from_secs(7 * 86_400);
    o.retention.max_disk_bytes = Some(1);
    let idx = Indexer::open(o).await.expect("open");
    let recs: Vec<_> = (0..3u64)
        .flat_map(|d| {
            (0..50u64).map(move |i| record((100 - d as i64) * DAY + 1000, "shop", d * 100 + i))
        })
        .collect();
    idx.ingest("a", 1, recs).await.expect("ingest");
    idx.commit().await.expect("commit");
    let report = idx.run_retention().await;
    assert_eq!(
        report.evicted,
        vec![
            "19700409T000000Z".to_string(),
            "19700410T000000Z".to_string()
        ]
    );
    assert!(report.bytes_freed > 0);
    let parts: Vec<String> = idx
        .store()
        .partitions()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(parts, vec!["19700411T000000Z".to_string()]);
    assert_eq!(idx.store().num_docs(), 50);
    idx.shutdown().await.expect("shutdown");
}
