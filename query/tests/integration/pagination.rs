//! Cursor pagination never skips or repeats events, even when many share one timestamp (property test over
//! real tantivy partitions, several segments and two partitions).

use crate::common;

use common::*;
use logmind_protocol::{LogRecord, Source};
use logmind_query::engine::{Direction, SearchRequest};
use logmind_query::Engine;
use proptest::prelude::*;
use std::sync::Arc;

fn records(n: usize, distinct_ts: u64, seed: u64) -> Vec<LogRecord> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|i| LogRecord {
            // A few timestamps, straddling the partition boundary at T0 + 1d.
            ts: T0 + DAY - 2 * NS + (rng.below(distinct_ts) as i64) * NS,
            namespace: "shop".into(),
            app: if i % 2 == 0 { "a".into() } else { "b".into() },
            level: "info".into(),
            message: format!("event {i}"),
            // Identical files and offsets across agents: the key must still be total.
            source: Source {
                agent: format!("ag{}", rng.below(2)),
                file: format!("f{}", rng.below(2)),
                offset: rng.below(5),
            },
            ..LogRecord::default()
        })
        .collect()
}

fn walk(
    engine: &Arc<Engine>,
    limit: usize,
    direction: Direction,
    app: Option<&str>,
) -> Vec<LogRecord> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let mut req = SearchRequest {
            start: Some((T0).to_string()),
            end: Some((T0 + 2 * DAY).to_string()),
            limit: Some(limit),
            direction,
            cursor: cursor.clone(),
            ..SearchRequest::default()
        };
        req.filters.app = app.map(String::from);
        let page = rt.block_on(engine.search(req)).expect("page");
        assert!(page.events.len() <= limit);
        out.extend(page.events);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn pages_cover_every_event_once_in_order(n in 1usize..400, distinct in 1u64..5, limit in 1usize..60, seed in any::<u64>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let recs = records(n, distinct, seed);
        let engine = Engine::with_catalog(Arc::new(catalog(dir.path(), &recs, T0 + 3 * DAY)), options());
        let fwd = walk(&engine, limit, Direction::Forward, None);
        let mut back = walk(&engine, limit, Direction::Backward, None);
        prop_assert_eq!(fwd.len(), n);
        back.reverse();
        prop_assert_eq!(&fwd, &back, "forward and reversed backward agree");
        // Every inserted record exactly once (messages are unique).
        let mut got: Vec<String> = fwd.iter().map(|r| r.message.clone()).collect();
        got.sort();
        let mut want: Vec<String> = recs.iter().map(|r| r.message.clone()).collect();
        want.sort();
        prop_assert_eq!(got, want);
        prop_assert!(fwd.windows(2).all(|w| w[0].ts <= w[1].ts));
        // With a filter too.
        let only_a = walk(&engine, limit, Direction::Backward, Some("a"));
        prop_assert_eq!(only_a.len(), recs.iter().filter(|r| r.app == "a").count());
    }
}

/// The records a page loads are counted at their real size against `max_memory_bytes`, and a page after a
/// cursor counts the events of the cursor's timestamp it holds together with the ones it loads after them.
#[test]
fn pages_load_at_most_the_memory_limit_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 16 events of 120 KB: 8 share one timestamp, 8 come a second later.
    let recs: Vec<LogRecord> = (0..16)
        .map(|i| LogRecord {
            ts: T0 + if i < 8 { 0 } else { NS },
            namespace: "shop".into(),
            app: "a".into(),
            message: format!("event {i:02} {}", "x".repeat(120_000)),
            source: Source {
                agent: "ag".into(),
                file: "f".into(),
                offset: i,
            },
            ..LogRecord::default()
        })
        .collect();
    let opts = logmind_query::QueryOptions {
        max_memory_bytes: 1 << 20,
        ..options()
    };
    let engine = Engine::with_catalog(Arc::new(catalog(dir.path(), &recs, T0 + DAY)), opts);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let page = |limit: usize, cursor: Option<String>| {
        rt.block_on(engine.search(SearchRequest {
            start: Some(T0.to_string()),
            end: Some((T0 + DAY).to_string()),
            limit: Some(limit),
            direction: Direction::Forward,
            cursor,
            ..SearchRequest::default()
        }))
    };
    // 8 events (0.96 MB) fit, 9 do not.
    assert_eq!(page(8, None).expect("8 events").events.len(), 8);
    // (Only the count is printed on failure: the events are 120 KB each.)
    let refused =
        |res: Result<logmind_query::engine::SearchResponse, logmind_query::QueryError>,
         what: &str| match res {
            Ok(p) => panic!("{what}: answered with {} events", p.events.len()),
            Err(e) => assert!(e.to_string().contains("memory limit"), "{what}: {e}"),
        };
    refused(page(9, None), "9 events are over 1 MiB");
    // After the first event: 7 of its timestamp are held while 3 more are loaded (1.2 MB together).
    let first = page(1, None).expect("first");
    refused(
        page(10, first.next_cursor),
        "held and loaded together are over 1 MiB",
    );
}
