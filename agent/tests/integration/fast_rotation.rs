//! Rotation faster than the agent's scans: every file is renamed over the previous rotated one (Docker with
//! `max-file=2`, no compression), so each is deleted ~80 ms after it was created, usually
//! before a scan ever saw it. The descriptor the change watcher opened at creation keeps every line readable.

use crate::common;

use std::fs;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_deleted_before_any_scan_are_read_whole() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "d".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let log = dd.join(format!("{id}-json.log"));
    let rotated = dd.join(format!("{id}-json.log.1"));
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.poll_interval = Duration::from_secs(2);
    let agent = Agent::start(opts);
    tokio::time::sleep(Duration::from_millis(500)).await; // watching
    let mut want = Vec::new();
    let mut n = 0u64;
    for _ in 0..30 {
        let mut text = String::new();
        for _ in 0..20 {
            n += 1;
            let m = format!("fast rotation line {n}");
            text.push_str(&docker(&m, n));
            want.push(m);
        }
        append(&log, &text);
        tokio::time::sleep(Duration::from_millis(40)).await;
        fs::rename(&log, &rotated).unwrap(); // the previous `.1` is deleted
    }
    let (wait, settle) = (Duration::from_secs(15), Duration::from_millis(500));
    stop_and_check(&recv, agent, &want, wait, settle).await;
}
