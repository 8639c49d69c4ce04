//! Engine mechanics: cancellation when the request future is dropped, the per-query timeout, partition
//! pruning by time range.

use crate::common;

use common::*;
use logmind_query::engine::SearchRequest;
use logmind_query::{Engine, QueryError, QueryOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn dropping_the_request_cancels_the_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::with_catalog(
        Arc::new(catalog(dir.path(), &dataset(10, 1, 1), T0 + DAY)),
        options(),
    );
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&saw_cancel);
    let fut = engine.run(move |_, ctx| {
        // Stands in for a long scan: it only stops when told to.
        for _ in 0..2_000 {
            if ctx.check().is_err() {
                seen.store(true, Ordering::SeqCst);
                return Err(QueryError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    });
    // The client goes away after 50 ms.
    assert!(tokio::time::timeout(Duration::from_millis(50), fut)
        .await
        .is_err());
    for _ in 0..200 {
        if saw_cancel.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the blocking scan never saw the cancellation");
}

#[tokio::test]
async fn a_query_over_its_time_budget_fails_with_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = QueryOptions {
        timeout: Duration::ZERO,
        ..options()
    };
    let engine = Engine::with_catalog(
        Arc::new(catalog(dir.path(), &dataset(100, 1, 1), T0 + DAY)),
        opts,
    );
    let r = engine
        .search(SearchRequest {
            start: Some(T0.to_string()),
            ..Default::default()
        })
        .await;
    assert!(matches!(r, Err(QueryError::Timeout(_))), "{r:?}");
}

#[tokio::test]
async fn only_overlapping_partitions_are_searched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = dataset(300, 3, 5);
    let cat = catalog(dir.path(), &records, T0 + 4 * DAY);
    use logmind_query::Catalog;
    assert_eq!(cat.searchers(T0 + DAY + 1, T0 + DAY + 2).len(), 1);
    assert_eq!(cat.searchers(T0, T0 + 3 * DAY).len(), 3);
    let engine = Engine::with_catalog(Arc::new(cat), options());
    let (s, e) = (T0 + DAY + 3600 * NS, T0 + 2 * DAY - 3600 * NS);
    let page = engine
        .search(SearchRequest {
            start: Some(s.to_string()),
            end: Some(e.to_string()),
            limit: Some(5000),
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(
        page.events.len(),
        records.iter().filter(|r| r.ts >= s && r.ts < e).count()
    );
}

#[test]
fn regex_size_is_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = QueryOptions {
        max_regex_bytes: 1000,
        ..options()
    };
    let engine = Engine::with_catalog(
        Arc::new(catalog(dir.path(), &dataset(5, 1, 1), T0 + DAY)),
        opts,
    );
    assert!(engine.compile_regex("time(out)?").is_ok());
    assert!(matches!(
        engine.compile_regex("\\w{1000}"),
        Err(QueryError::Limit(_))
    ));
    assert!(matches!(
        engine.compile_regex("("),
        Err(QueryError::BadRequest(_))
    ));
}

#[tokio::test]
async fn queries_beyond_the_concurrency_limit_wait_for_a_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = QueryOptions {
        max_concurrent: 1,
        timeout: Duration::from_secs(5),
        ..options()
    };
    let engine = Engine::with_catalog(
        Arc::new(catalog(dir.path(), &dataset(5, 1, 1), T0 + DAY)),
        opts,
    );
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let job = || {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        engine.run(move |_, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
    };
    let (a, b, c) = tokio::join!(job(), job(), job());
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never more than one scan at once"
    );
}
