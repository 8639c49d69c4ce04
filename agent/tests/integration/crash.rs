//! `kill -9` of a real agent process at random points, repeatedly, while files are written and rotated; after
//! the final restart the receiver (which dedups by (agent, sequence)) holds every line exactly once.

use crate::common;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

pub(crate) fn spawn_agent(server: &str, data: &std::path::Path, root: &std::path::Path) -> Child {
    spawn_agent_with(server, data, root, &[])
}

/// The agent's stderr: appended to `LOGMIND_AGENT_LOGFILE` when set (with `LOGMIND_AGENT_LOG=logmind_agent=debug`
/// to trace a failure), else discarded.
pub(crate) fn agent_log() -> Stdio {
    match std::env::var_os("LOGMIND_AGENT_LOGFILE") {
        Some(f) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .unwrap(),
        ),
        None => Stdio::null(),
    }
}

/// [`spawn_agent`] with more flags.
pub(crate) fn spawn_agent_with(
    server: &str,
    data: &std::path::Path,
    root: &std::path::Path,
    extra: &[&str],
) -> Child {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_logmind-agent-test"));
    agent_command(exe, server, data, root)
        .args(extra)
        .spawn()
        .unwrap()
}

/// The harness binary `exe` set up for `server`, `data` and `root` (not started).
pub(crate) fn agent_command(
    exe: &std::path::Path,
    server: &str,
    data: &std::path::Path,
    root: &std::path::Path,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args([
        "--server",
        server,
        "--agent-id",
        "crash-agent",
        "--node-name",
        "n1",
        "--batch-max-bytes",
        "2048",
    ])
    .arg("--data-dir")
    .arg(data)
    .arg("--host-root")
    .arg(root)
    .stdout(Stdio::null())
    .stderr(agent_log());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let dirs = [
        pod_dir(root.path(), "crash", "a-1", "c"),
        pod_dir(root.path(), "crash", "b-1", "c"),
    ];
    let mut want = Vec::new();
    let mut n = 0u64;
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut rotations = 0;
    for round in 0..7 {
        let mut child = spawn_agent(&recv.url(), data.path(), root.path());
        let live_ms = 150 + next(700);
        let deadline = std::time::Instant::now() + Duration::from_millis(live_ms);
        while std::time::Instant::now() < deadline {
            let d = &dirs[next(2) as usize];
            let mut text = String::new();
            for _ in 0..1 + next(40) {
                n += 1;
                let m = format!("crash line {n} round {round}");
                text.push_str(&cri(&m, n));
                want.push(m);
            }
            append(&d.join("0.log"), &text);
            if next(10) == 0 {
                rotations += 1;
                fs::rename(
                    d.join("0.log"),
                    d.join(format!("0.log.2024050{round}-{rotations:06}")),
                )
                .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(next(30))).await;
        }
        // kill -9
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines written while the agent is down.
        for _ in 0..next(30) {
            n += 1;
            let m = format!("crash line {n} down {round}");
            append(&dirs[0].join("0.log"), &cri(&m, n));
            want.push(m);
        }
    }
    let mut child = spawn_agent(&recv.url(), data.path(), root.path());
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ok, "lines lost after kill -9");
    assert_exactly_once(&recv.messages(), &expected);
    assert!(
        recv.state
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            > 7
    );
}
