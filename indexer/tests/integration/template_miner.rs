//! Template miner behaviour: grouping, multi-line messages, id stability (generalisation, restart, two miners),
//! persistence errors, the cluster bound and concurrent use.

use std::collections::HashSet;

use proptest::prelude::*;
use std::sync::Arc;

use logmind_indexer::template::{
    header_line, MinerOptions, TemplateError, TemplateMiner, MAX_LINE_BYTES,
};

fn miner() -> TemplateMiner {
    TemplateMiner::new(MinerOptions::default())
}

#[test]
fn user_123_and_user_456_not_found_are_one_group() {
    let m = miner();
    let a = m.assign("user 123 not found");
    let b = m.assign("user 456 not found");
    assert_eq!(a, b);
    assert_eq!(m.text(a).as_deref(), Some("user <*> not found"));
    let other = m.assign("user 123 logged in");
    assert_ne!(other, a);
    assert_eq!(m.len(), 2);
}

#[test]
fn similar_messages_generalise_the_template_and_keep_the_id() {
    let m = miner();
    let id = m.assign("connection to db-primary refused after retry");
    assert_eq!(
        m.text(id).as_deref(),
        Some("connection to db-primary refused after retry")
    );
    assert_eq!(m.assign("connection to db-replica refused after retry"), id);
    assert_eq!(
        m.text(id).as_deref(),
        Some("connection to <*> refused after retry")
    );
    // The first message still maps to the generalised cluster.
    assert_eq!(m.assign("connection to db-primary refused after retry"), id);
    assert_eq!(m.len(), 1);
}

#[test]
fn unrelated_messages_get_different_ids() {
    let m = miner();
    let ids: HashSet<u64> = [
        "payment failed for order 17",
        "refund issued to customer 18",
        "cache miss for key user:42",
        "GET /api/v1/users/42 200 12ms",
        "POST /api/v1/orders 500 230ms",
    ]
    .iter()
    .map(|s| m.assign(s))
    .collect();
    assert_eq!(ids.len(), 5, "{:?}", m.templates());
}

#[test]
fn stack_traces_group_by_their_exception_header() {
    let m = miner();
    let npe1 =
        "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null\n\
                \tat com.shop.Cart.total(Cart.java:42)\n\tat com.shop.Api.handle(Api.java:7)";
    let npe2 = "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null\n\
                \tat com.shop.User.greet(User.java:9)\n\tat com.shop.Api.handle(Api.java:7)\n\t... 3 more";
    let ise =
        "java.lang.IllegalStateException: cart is closed\n\tat com.shop.Cart.add(Cart.java:10)";
    let a = m.assign(npe1);
    assert_eq!(m.assign(npe2), a);
    assert_ne!(m.assign(ise), a);
    let text = m.text(a).unwrap_or_default();
    assert!(
        text.starts_with("java.lang.NullPointerException:"),
        "{text}"
    );
    assert!(
        !text.contains("Cart.java"),
        "template must not include stack frames: {text}"
    );
}

#[test]
fn python_tracebacks_group_by_their_exception_line() {
    let m = miner();
    let tb = |file: &str, line: u32, value: &str| {
        format!(
            "Traceback (most recent call last):\n  File \"{file}\", line {line}, in main\n    run()\n\
             ValueError: invalid literal for int() with base 10: '{value}'"
        )
    };
    let a = m.assign(&tb("/app/a.py", 3, "abc"));
    assert_eq!(m.assign(&tb("/app/b.py", 99, "x y")), a);
    let key = "Traceback (most recent call last):\n  File \"/app/a.py\", line 3, in main\nKeyError: 'user'";
    assert_ne!(m.assign(key), a);
    assert_eq!(header_line(key), "KeyError: 'user'");
}

#[test]
fn ids_are_stable_across_save_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("templates.json");
    let msgs = [
        "user 1 not found",
        "user 2 not found",
        "disk /dev/sda1 at 91% capacity",
        "worker alpha started",
        "worker beta started",
        "request 550e8400-e29b-41d4-a716-446655440000 took 35ms",
    ];
    let m = miner();
    let ids: Vec<u64> = msgs.iter().map(|s| m.assign(s)).collect();
    assert!(m.is_dirty());
    m.save(&path).expect("save");
    assert!(!m.is_dirty());
    assert!(!dir.path().join("templates.json.tmp").exists());

    let reopened = TemplateMiner::open(&path).expect("open");
    assert_eq!(reopened.len(), m.len());
    assert_eq!(reopened.templates(), m.templates());
    let again: Vec<u64> = msgs.iter().map(|s| reopened.assign(s)).collect();
    assert_eq!(again, ids);
    assert!(
        !reopened.is_dirty(),
        "known messages must not change templates"
    );

    // A new cluster after reload gets a fresh id, never one already used.
    let fresh = reopened.assign("shutting down scheduler");
    assert!(!ids.contains(&fresh));
    assert_eq!(reopened.len(), m.len() + 1);
    reopened.save(&path).expect("save again");
    let third = TemplateMiner::open(&path).expect("open again");
    assert_eq!(third.assign("shutting down scheduler"), fresh);
    assert_eq!(third.assign("user 77 not found"), ids[0]);
}

#[test]
fn reload_rebuilds_wildcard_routing_of_a_full_tree_node() {
    // With max_children 2 only the first first-token gets its own child; the others share the `<*>` child,
    // where their clusters merge and generalise. A reload must route every message to the same cluster.
    let opts = MinerOptions {
        max_children: 2,
        ..MinerOptions::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.json");
    let m = TemplateMiner::new(opts.clone());
    let msgs = [
        "alpha task done quickly",
        "beta task done quickly",
        "gamma task done quickly",
        "alpha job failed badly",
        "delta job failed badly",
    ];
    let ids: Vec<u64> = msgs.iter().map(|s| m.assign(s)).collect();
    assert_eq!(ids[1], ids[2]);
    assert_eq!(m.text(ids[1]).as_deref(), Some("<*> task done quickly"));
    m.save(&path).expect("save");
    let r = TemplateMiner::open_with(&path, opts).expect("open");
    let again: Vec<u64> = msgs.iter().map(|s| r.assign(s)).collect();
    assert_eq!(again, ids);
    assert_eq!(r.len(), m.len());
}

#[test]
fn two_miners_fed_the_same_data_agree_on_ids() {
    let lines: Vec<String> = (0..200)
        .map(|i| match i % 4 {
            0 => format!("user {i} not found"),
            1 => format!("order {i} shipped to 10.0.0.{}", i % 250),
            2 => format!("cache hit ratio {}.{}%", i % 100, i % 10),
            _ => format!("GET /api/items/{i} 200 {}ms", i % 50),
        })
        .collect();
    let (a, b) = (miner(), miner());
    let ia: Vec<u64> = lines.iter().map(|l| a.assign(l)).collect();
    let ib: Vec<u64> = lines.iter().map(|l| b.assign(l)).collect();
    assert_eq!(ia, ib);
    assert_eq!(a.len(), 4, "{:?}", a.templates());
}

#[test]
fn open_of_a_missing_file_is_empty_and_bad_files_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = TemplateMiner::open(&dir.path().join("nope.json")).expect("missing is empty");
    assert!(missing.is_empty());

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{not json").expect("write");
    let err = TemplateMiner::open(&garbage).expect_err("garbage");
    assert!(matches!(err, TemplateError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("garbage.json"), "{err}");

    let future = dir.path().join("future.json");
    std::fs::write(&future, br#"{"version":99,"options":{},"clusters":[]}"#).expect("write");
    let err = TemplateMiner::open(&future).expect_err("version");
    assert!(err.to_string().contains("version 99"), "{err}");

    let dup = dir.path().join("dup.json");
    std::fs::write(
        &dup,
        br#"{"version":1,"options":{},"clusters":[{"id":7,"template":["a"],"route":[]},{"id":7,"template":["b"],"route":[]}]}"#,
    )
    .expect("write");
    let err = TemplateMiner::open(&dup).expect_err("dup");
    assert!(err.to_string().contains("appears twice"), "{err}");

    let unwritable = dir.path().join("no/such/dir/t.json");
    let err = missing
        .save(&unwritable)
        .expect_err("save into a missing dir");
    assert!(matches!(err, TemplateError::Io { .. }), "{err}");
}

#[test]
fn past_max_clusters_new_messages_get_hash_ids_without_growing() {
    let m = TemplateMiner::new(MinerOptions {
        max_clusters: 3,
        ..MinerOptions::default()
    });
    for w in ["alpha", "beta", "gamma"] {
        m.assign(&format!("{w} service ready"));
    }
    assert_eq!(m.len(), 3);
    let mut overflow = HashSet::new();
    for w in ["delta", "epsilon", "zeta", "eta", "theta"] {
        let msg = format!("{w} went {w} away");
        let id = m.assign(&msg);
        assert_eq!(m.assign(&msg), id, "overflow ids are deterministic");
        assert_eq!(m.text(id), None);
        overflow.insert(id);
    }
    assert_eq!(overflow.len(), 5);
    assert_eq!(m.len(), 3);
    // Known clusters still match (and generalise) past the bound.
    let ready = m.assign("alpha service ready");
    assert_eq!(m.assign("alpha service up"), ready);
    assert_eq!(m.text(ready).as_deref(), Some("alpha service <*>"));
    // The overflow id is the id a fresh miner would give that message as a new cluster.
    let fresh = miner();
    assert!(overflow.contains(&fresh.assign("delta went delta away")));
}

#[test]
fn huge_and_empty_messages_are_bounded_and_stable() {
    let m = miner();
    let huge = "word ".repeat(300_000);
    let a = m.assign(&huge);
    assert_eq!(m.assign(&huge), a);
    assert!(m.text(a).unwrap_or_default().len() <= MAX_LINE_BYTES);
    let e = m.assign("");
    assert_eq!(m.assign("   \n"), e);
    assert_ne!(e, 0);
}

#[test]
fn concurrent_assignment_is_consistent() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TemplateMiner>();
    let m = Arc::new(miner());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                (0..2000)
                    .map(|i| {
                        let msg =
                            format!("shard {} flushed {} rows in {}ms", (i + t) % 3, i, i % 17);
                        (msg.clone(), m.assign(&msg))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for h in handles {
        for (msg, id) in h.join().expect("thread") {
            assert_eq!(m.assign(&msg), id, "{msg}");
            seen.insert(id);
        }
    }
    assert_eq!(seen.len(), 1, "{:?}", m.templates());
}

/// Determinism and steady state over one message sequence.
fn check_sequence(msgs: &[String]) -> Result<(), TestCaseError> {
    let (a, b) = (miner(), miner());
    let ia: Vec<u64> = msgs.iter().map(|m| a.assign(m)).collect();
    let ib: Vec<u64> = msgs.iter().map(|m| b.assign(m)).collect();
    prop_assert_eq!(&ia, &ib);
    // Once everything was seen, every message is covered by a cluster: re-assigning creates nothing and
    // answers the same twice.
    let len = a.len();
    let again: Vec<u64> = msgs.iter().map(|m| a.assign(m)).collect();
    let twice: Vec<u64> = msgs.iter().map(|m| a.assign(m)).collect();
    prop_assert_eq!(a.len(), len);
    prop_assert_eq!(again, twice);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_messages_never_panic_and_get_deterministic_ids(
        msgs in proptest::collection::vec(any::<String>(), 1..20)
    ) {
        check_sequence(&msgs)?;
    }

    #[test]
    fn overlapping_log_like_messages_reach_a_steady_state(
        msgs in proptest::collection::vec(
            "(user|order|job|alpha|beta|[0-9]{1,3})( (user|order|failed|not|found|alpha|beta|[0-9]{1,3})){1,5}",
            1..60,
        )
    ) {
        check_sequence(&msgs)?;
    }
}
