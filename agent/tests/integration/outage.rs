//! The indexer unreachable, busy (503/429 with Retry-After) or refusing a batch (400): nothing is lost, refused
//! batches are set aside and counted; `/metrics` and `/health` tell what happened.

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexer_unreachable_then_busy_then_back_loses_nothing() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = free_addr();
    let listen = free_addr();
    let pd = pod_dir(root.path(), "ns", "web-1", "web");
    let mut want = Vec::new();
    for i in 0..200u64 {
        let m = format!("while down {i}");
        append(&pd.join("0.log"), &cri(&m, i));
        want.push(m);
    }
    let mut opts = test_options(&format!("http://{server}"), data.path(), root.path());
    opts.listen = Some(listen);
    opts.batch_max_bytes = 4096;
    let agent = Agent::start(opts);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, text) = http_get(listen, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metric(&text, "logmind_agent_batches_retried_total").unwrap() > 0,
        "{text}"
    );
    assert!(metric(&text, "logmind_agent_spool_bytes").unwrap() > 0);
    assert_eq!(metric(&text, "logmind_agent_events_shipped_total"), Some(0));
    assert_eq!(
        metric(&text, "logmind_agent_pods_cached"),
        Some(0),
        "{text}"
    );
    for l in text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
    {
        assert!(
            l.split(' ').nth(2).unwrap().ends_with("_total"),
            "counter without _total: {l}"
        );
    }
    let (code, health) = http_get(listen, "/health").await;
    assert_eq!(code, 200);
    let h: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["components"]["reader"], "running");

    // Back, but busy for a while.
    let recv = Receiver::start_on(server, Default::default()).await;
    recv.state
        .mode
        .store(MODE_503, std::sync::atomic::Ordering::Relaxed);
    for i in 0..100u64 {
        let m = format!("while busy {i}");
        append(&pd.join("0.log"), &cri(&m, 1000 + i));
        want.push(m);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    recv.state
        .mode
        .store(MODE_429, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        recv.state
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    recv.state
        .mode
        .store(MODE_OK, std::sync::atomic::Ordering::Relaxed);
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, text) = http_get(listen, "/metrics").await;
    agent.stop().await;
    assert!(ok, "lines lost during the outage");
    assert_exactly_once(&recv.messages(), &expected);
    assert_eq!(
        metric(&text, "logmind_agent_events_shipped_total"),
        Some(300)
    );
    assert_eq!(metric(&text, "logmind_agent_lag_bytes"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_go_to_rejected_and_are_counted_never_retried_forever() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    recv.state
        .mode
        .store(MODE_400, std::sync::atomic::Ordering::Relaxed);
    let listen = free_addr();
    let pd = pod_dir(root.path(), "ns", "bad-1", "c");
    for i in 0..5u64 {
        append(&pd.join("0.log"), &cri(&format!("refused {i}"), i));
    }
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.listen = Some(listen);
    let agent = Agent::start(opts);
    let rejected = data.path().join("spool/rejected");
    let mut found = false;
    for _ in 0..100 {
        if std::fs::read_dir(&rejected)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, text) = http_get(listen, "/metrics").await;
    // Accepted again: later lines flow, the refused ones are not resent.
    recv.state
        .mode
        .store(MODE_OK, std::sync::atomic::Ordering::Relaxed);
    append(&pd.join("0.log"), &cri("accepted later", 99));
    let expected = count(std::iter::once("accepted later".to_string()));
    let ok = recv.wait_for(&expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.stop().await;
    assert!(found, "refused batch not moved to spool/rejected");
    assert!(
        text.contains("logmind_agent_given_up_total{reason=\"rejected\",unit=\"events\"} 5"),
        "{text}"
    );
    assert!(ok);
    assert_exactly_once(&recv.messages(), &expected);
}
