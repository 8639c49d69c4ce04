//! Spool full: reading stops (the log files are the buffer), says so in metrics and health, resumes without
//! loss. A deleted file that cannot be drained within `deleted_file_grace` is given up and counted exactly.
//! `read_from_end` on first start skips old content.

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_full_pauses_reading_and_resumes_without_loss() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = free_addr();
    let listen = free_addr();
    let pd = pod_dir(root.path(), "ns", "full-1", "c");
    let mut want = Vec::new();
    let mut opts = test_options(&format!("http://{server}"), data.path(), root.path());
    opts.listen = Some(listen);
    opts.spool_max_bytes = 1;
    opts.batch_max_bytes = 2048;
    let agent = Agent::start(opts);
    for i in 0..300u64 {
        let m = format!("backpressure line {i}");
        append(&pd.join("0.log"), &cri(&m, i));
        want.push(m);
        if i == 10 {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, text) = http_get(listen, "/metrics").await;
    assert_eq!(metric(&text, "logmind_agent_spool_full"), Some(1), "{text}");
    assert!(
        metric(&text, "logmind_agent_lag_bytes").unwrap() > 0,
        "{text}"
    );
    let (_, health) = http_get(listen, "/health").await;
    assert!(health.contains(r#""spool":"full""#), "{health}");
    let recv = Receiver::start_on(server, Default::default()).await;
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(15)).await;
    // Acknowledged entries leave the spool once a checkpoint covers them; then reading is no longer paused.
    let mut full = None;
    for _ in 0..50 {
        let (_, text) = http_get(listen, "/metrics").await;
        full = metric(&text, "logmind_agent_spool_full");
        if full == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;
    assert!(ok, "lines lost after the spool was full");
    assert_exactly_once(&recv.messages(), &expected);
    assert_eq!(full, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_file_not_drained_within_grace_is_given_up_and_counted_exactly() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = free_addr();
    let listen = free_addr();
    let pd = pod_dir(root.path(), "ns", "gone-1", "c");
    let log = pd.join("0.log");
    // Larger than one read budget (1 MiB), so the spool fills before the file is read to its end.
    let mut lines = Vec::new();
    let mut text = String::new();
    for i in 0..20_000u64 {
        let m = format!("grace line {i} {}", "y".repeat(40));
        text.push_str(&cri(&m, i));
        lines.push(m);
    }
    append(&log, &text);
    let size = text.len() as u64;
    let mut opts = test_options(&format!("http://{server}"), data.path(), root.path());
    opts.listen = Some(listen);
    opts.spool_max_bytes = 1;
    opts.batch_max_bytes = 4096;
    opts.deleted_file_grace = Duration::from_millis(500);
    let agent = Agent::start(opts);
    tokio::time::sleep(Duration::from_millis(800)).await;
    std::fs::remove_file(&log).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let recv = Receiver::start_on(server, Default::default()).await;
    let mut given_up = 0;
    for _ in 0..100 {
        let (_, m) = http_get(listen, "/metrics").await;
        let shipped = metric(&m, "logmind_agent_events_shipped_total").unwrap();
        let batched = metric(&m, "logmind_agent_events_batched_total").unwrap();
        given_up = m
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "logmind_agent_given_up_total{reason=\"deleted_file_grace\",unit=\"bytes\"} ",
                )
            })
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap();
        if shipped == batched && given_up > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;
    let got = recv.messages();
    assert!(given_up > 0, "nothing counted as given up");
    assert!(got.values().all(|n| *n == 1), "duplicates");
    // What arrived is exactly a prefix of the file; the rest is exactly what was counted as given up.
    let k = got.len();
    assert!(k > 0 && k < lines.len(), "received {k} of {}", lines.len());
    for m in &lines[..k] {
        assert!(
            got.contains_key(m),
            "gap: {m} missing inside the shipped prefix"
        );
    }
    let prefix_bytes: u64 = (0..k as u64)
        .map(|i| cri(&lines[i as usize], i).len() as u64)
        .sum();
    assert_eq!(given_up, size - prefix_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_from_end_on_first_start_skips_old_content_only() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let pd = pod_dir(root.path(), "ns", "end-1", "c");
    for i in 0..50u64 {
        append(
            &pd.join("0.log"),
            &cri(&format!("old line {i} {}", "z".repeat(20)), i),
        );
    }
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.read_from_end = true;
    let agent = Agent::start(opts);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut want = Vec::new();
    for i in 0..20u64 {
        let m = format!("new line {i}");
        append(&pd.join("0.log"), &cri(&m, 100 + i));
        want.push(m);
    }
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.stop().await;
    assert!(ok);
    assert_exactly_once(&recv.messages(), &expected);
}
