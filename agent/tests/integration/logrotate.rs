//! The real `logrotate` binary (Debian/Ubuntu package `logrotate`) in `copytruncate` and `create` (+ compress)
//! modes against a running agent. Skipped, loudly, when `logrotate` is not installed.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn logrotate_available() -> bool {
    let found = Command::new("logrotate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("\n!!! SKIPPED: `logrotate` is not installed (apt-get install logrotate) — rotation by the real tool untested !!!\n");
    }
    found
}

fn label(directives: &str) -> String {
    directives.split_whitespace().collect::<Vec<_>>().join("+")
}

fn rotate(conf: &Path, state: &Path) {
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(state)
        .arg(conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logrotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scenario(directives: &str) {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("app.log");
    let conf = dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 3\n  missingok\n  {directives}\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("logrotate.state");
    let mut opts = test_options(&recv.url(), data.path(), dir.path());
    opts.include = vec![format!("{}/*.log*", logs.display())];
    let agent = Agent::start(opts);
    let mut want = Vec::new();
    let mut n = 0u64;
    for round in 0..6 {
        for _ in 0..(20 + round * 7) {
            n += 1;
            let m = format!("logrotate {} line {n}", label(directives));
            append(&log, &cri(&m, n));
            want.push(m);
        }
        if round % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        rotate(&conf, &state);
    }
    for _ in 0..10 {
        n += 1;
        let m = format!("logrotate {} line {n}", label(directives));
        append(&log, &cri(&m, n));
        want.push(m);
    }
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.stop().await;
    if !ok {
        let got = recv.messages();
        let mut missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
        missing.sort();
        panic!(
            "{} lines lost with logrotate {directives}: {:?}",
            missing.len(),
            &missing[..missing.len().min(8)]
        );
    }
    assert_exactly_once(&recv.messages(), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logrotate_copytruncate() {
    if logrotate_available() {
        scenario("copytruncate").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logrotate_create_with_compress() {
    if logrotate_available() {
        scenario("create\n  compress\n  delaycompress").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logrotate_copytruncate_with_compress() {
    if logrotate_available() {
        scenario("copytruncate\n  compress").await;
    }
}
