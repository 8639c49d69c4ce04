//! Compressed rotated files that reuse an inode: ext4 gives a deleted file's inode to the next file created, so
//! the `.1.gz` written right after the oldest `.gz` is deleted often has the inode of a `.gz` the agent already
//! handled; and Docker creates `.1.gz` before it writes it. Either way the new content must be read.

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
