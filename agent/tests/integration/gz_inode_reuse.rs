//! Files that reuse an inode: ext4 gives a deleted file's inode to the next file created, so the `.1.gz` written
//! right after the oldest `.gz` is deleted often has the inode of a `.gz` the agent already handled, and Docker
//! creates `.1.gz` before it writes it: either way the new content must be read. And a `copytruncate` copy made
//! while the agent is stopped can get the inode of a file the agent saw empty: it must be taken for the copy it
//! is (its content was read already), not for the empty file grown.

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::*;

fn gz_bytes(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn lines(tag: &str, from: u64, n: u64, want: &mut Vec<String>) -> String {
    let mut text = String::new();
    for i in from..from + n {
        let m = format!("{tag} line {i}");
        text.push_str(&docker(&m, i));
        want.push(m);
    }
    text
}

/// Replaces `path` (a `.gz` the agent has seen) by a new compressed file, trying to get the same inode the way
/// a rotation does: delete, create (under an excluded `.tmp` name), rename into place, all between two scans.
/// Returns whether the inode was reused.
fn replace_reusing_inode(path: &Path, bytes: &[u8]) -> bool {
    let old = fs::metadata(path).unwrap().ino();
    let tmp = path.with_extension("gz.tmp");
    fs::remove_file(path).unwrap();
    fs::write(&tmp, bytes).unwrap();
    let reused = fs::metadata(&tmp).unwrap().ino() == old;
    fs::rename(&tmp, path).unwrap();
    reused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_gz_at_a_reused_inode_is_read() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "e".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let gz = dd.join(format!("{id}-json.log.1.gz"));
    let mut want = Vec::new();
    fs::write(&gz, gz_bytes(&lines("first", 0, 20, &mut want))).unwrap();
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    assert!(
        recv.wait_for(&count(want.iter().cloned()), Duration::from_secs(10))
            .await,
        "the first compressed file was not read"
    );
    let mut reused = 0;
    for round in 1..=6u64 {
        let text = lines(
            &format!("round {round}"),
            round * 100,
            10 + round,
            &mut want,
        );
        if replace_reusing_inode(&gz, &gz_bytes(&text)) {
            reused += 1;
        }
        let ok = recv
            .wait_for(&count(want.iter().cloned()), Duration::from_secs(10))
            .await;
        assert!(ok, "round {round}: the new compressed file was not read");
    }
    eprintln!("{reused} of 6 replacements reused the inode");
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.stop().await;
    assert_exactly_once(&recv.messages(), &count(want.iter().cloned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gz_seen_empty_then_written_in_place_is_read() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "f".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let log = dd.join(format!("{id}-json.log"));
    let mut want = Vec::new();
    append(&log, &lines("current", 0, 5, &mut want));
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    assert!(
        recv.wait_for(&count(want.iter().cloned()), Duration::from_secs(10))
            .await,
        "the current file was not read"
    );
    // Docker's compression: create `.1.gz`, then write it (the plain `.1` was never seen here).
    let gz = dd.join(format!("{id}-json.log.1.gz"));
    let file = fs::File::create(&gz).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // scanned (polled) several times while empty
    let bytes = gz_bytes(&lines("rotated", 100, 30, &mut want));
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    (&file).write_all(head).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // and while half written
    (&file).write_all(tail).unwrap();
    drop(file);
    let ok = recv
        .wait_for(&count(want.iter().cloned()), Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.stop().await;
    assert!(ok, "the compressed file written in place was not read");
    assert_exactly_once(&recv.messages(), &count(want.iter().cloned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_at_the_inode_of_a_file_seen_empty_is_not_read_again() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let dir = pod_dir(root.path(), "reuse", "app-abc12", "main");
    let log = dir.join("0.log");
    let empty = dir.join("0.log.20240501-000001");
    let mut want = Vec::new();
    append(&log, &cri_lines("before the copy", 0..20, &mut want));
    fs::write(&empty, b"").unwrap(); // e.g. a rotated file of a container that logged nothing
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts.clone());
    assert!(
        recv.wait_for(&count(want.iter().cloned()), Duration::from_secs(10))
            .await
    );
    // The empty file is taken up once its size has settled (300 ms) and saved with the next checkpoint.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    agent.stop().await;

    // While the agent is stopped: the empty file is deleted, then logrotate's `copytruncate` copies 0.log (the
    // copy is created right after the delete, so it usually gets the freed inode) and truncates it.
    let old = fs::metadata(&empty).unwrap().ino();
    fs::remove_file(&empty).unwrap();
    let copy = dir.join("0.log.20240501-000002");
    // Copies under excluded `.tmp` names until one gets the freed inode (or 50 tries); the others are removed.
    let mut tries = Vec::new();
    let reused = (0..50).any(|i| {
        let tmp = dir.join(format!("copy-{i}.tmp"));
        fs::copy(&log, &tmp).unwrap();
        tries.push(tmp.clone());
        fs::metadata(&tmp).unwrap().ino() == old
    });
    let tmp = tries.pop().unwrap();
    fs::rename(&tmp, &copy).unwrap();
    for t in tries {
        fs::remove_file(t).unwrap();
    }
    truncate(&log);
    append(&log, &cri_lines("after the copy", 20..30, &mut want));
    eprintln!("the copy reused the empty file's inode: {reused}");

    let agent = Agent::start(opts);
    let (wait, settle) = (Duration::from_secs(10), Duration::from_millis(800));
    stop_and_check(&recv, agent, &want, wait, settle).await;
}
