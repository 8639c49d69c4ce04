//! A rotation in the middle of an event: a line the runtime split into pieces (over 16 KiB), a stack trace. The
//! file that follows at the path finishes what the rotated file left unfinished, and the event is shipped once,
//! whole — also when the rotated file is compressed meanwhile, and across `kill -9` of the agent.

use crate::common;
use crate::crash::{spawn_agent, spawn_agent_with};

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use common::*;

/// How long a test waits for every message, and then for late duplicates.
const WAIT: Duration = Duration::from_secs(15);
const SETTLE: Duration = Duration::from_millis(500);

/// A long message (`len` bytes) that names `n`.
fn long(n: u64, len: usize) -> String {
    let head = format!("long line {n} ");
    let body: String = (0..len.saturating_sub(head.len()))
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    head + &body
}

/// `text` cut into `k` pieces at byte positions (ASCII).
fn pieces(text: &str, k: usize) -> Vec<&str> {
    let step = text.len().div_ceil(k);
    (0..k)
        .map(|i| &text[(i * step).min(text.len())..((i + 1) * step).min(text.len())])
        .collect()
}

fn lines(from: u64, to: u64, docker_fmt: bool, want: &mut Vec<String>) -> String {
    let mut text = String::new();
    for n in from..to {
        let m = format!("plain line {n}");
        text.push_str(&if docker_fmt {
            docker(&m, n)
        } else {
            cri(&m, n)
        });
        want.push(m);
    }
    text
}

/// [`stop_and_check`] for an agent process (killed at the end); long messages are named by their head and length.
async fn kill_and_check(recv: &Receiver, mut child: Child, want: &[String], timeout: Duration) {
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, timeout).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let short = |m: &HashMap<String, usize>| -> HashMap<String, usize> {
        m.iter()
            .map(|(k, v)| (format!("{:.40} ({} bytes)", k, k.len()), *v))
            .collect()
    };
    assert_exactly_once(&short(&recv.messages()), &short(&expected));
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_line_split_by_rotation_is_one_event() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "c".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let log = dd.join(format!("{id}-json.log"));
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts);
    let mut want = Vec::new();
    let big = long(1, 48 * 1024);
    let parts = pieces(&big, 3);
    append(&log, &lines(100, 110, true, &mut want));
    tokio::time::sleep(Duration::from_millis(400)).await; // the agent reads the file before it rotates
                                                          // Docker: the 48 KiB line as three 16 KiB pieces, the file rotated after the second.
    let mut text = docker_piece(parts[0], false, 1);
    text.push_str(&docker_piece(parts[1], false, 2));
    append(&log, &text);
    fs::rename(&log, dd.join(format!("{id}-json.log.1"))).unwrap();
    let mut text = docker_piece(parts[2], true, 3);
    text.push_str(&lines(110, 120, true, &mut Vec::new()));
    want.extend((110..120).map(|n| format!("plain line {n}")));
    append(&log, &text);
    want.push(big.clone());
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
    // Shipped under the rotated file's identity, at the offset of its first piece there.
    let rec = recv
        .records()
        .into_iter()
        .find(|r| r.message == big)
        .unwrap();
    let first_plain = recv
        .records()
        .into_iter()
        .find(|r| r.message == "plain line 100")
        .unwrap();
    assert_eq!(rec.source.file, first_plain.source.file);
    assert_eq!(
        rec.source.offset,
        lines(100, 110, true, &mut Vec::new()).len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_pieces_split_by_kubelet_rotation_then_gzipped_are_one_event() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "shop", "cart-7d9f-abcde", "cart");
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts);
    let mut want = Vec::new();
    for round in 0..3u64 {
        let big = long(round, 40 * 1024);
        let parts = pieces(&big, 4);
        let mut text = lines(round * 100, round * 100 + 5, false, &mut want);
        for (i, p) in parts[..2].iter().enumerate() {
            text.push_str(&cri_piece(p, false, round * 100 + 50 + i as u64));
        }
        append(&d.join("0.log"), &text);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rotated = d.join(format!("0.log.20240501-10000{round}"));
        fs::rename(d.join("0.log"), &rotated).unwrap();
        let mut text = cri_piece(parts[2], false, round * 100 + 52);
        text.push_str(&cri_piece(parts[3], true, round * 100 + 53));
        text.push_str(&lines(round * 100 + 5, round * 100 + 10, false, &mut want));
        append(&d.join("0.log"), &text);
        want.push(big);
        // kubelet compresses the rotated file a little later.
        tokio::time::sleep(Duration::from_millis(300)).await;
        gzip_like_kubelet(&rotated, &d.join(format!("0.log.20240501-10000{round}.gz")));
    }
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_trace_split_by_rotation_is_one_event() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "pay", "api-5f6c-xyz12", "api");
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts);
    let trace = [
        "ERROR charging failed",
        "java.lang.IllegalStateException: payment 42 failed",
        "\tat com.shop.Pay.charge(Pay.java:17)",
        "\tat com.shop.Api.handle(Api.java:88)",
        "Caused by: java.io.IOException: reset",
        "\tat java.net.Socket.read(Socket.java:1)",
        "\t... 12 more",
    ];
    let mut want = Vec::new();
    let mut text = lines(0, 5, false, &mut want);
    for (i, l) in trace[..4].iter().enumerate() {
        text.push_str(&cri(l, 10 + i as u64));
    }
    append(&d.join("0.log"), &text);
    tokio::time::sleep(Duration::from_millis(50)).await; // the rest follows within the flush deadline
    fs::rename(d.join("0.log"), d.join("0.log.20240501-100000")).unwrap();
    let mut text = String::new();
    for (i, l) in trace[4..].iter().enumerate() {
        text.push_str(&cri(l, 20 + i as u64));
    }
    text.push_str(&lines(5, 10, false, &mut want));
    append(&d.join("0.log"), &text);
    want.push(trace.join("\n"));
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
}

/// Long lines split into pieces with rotations between pieces, and `kill -9` of the agent at random points —
/// also between the pieces of a line, before or after the rotated file handed the line over, so that a restarted
/// agent has to hand it over again. (A runtime writes the pieces of a line back to back: the test never leaves a
/// line unfinished for longer than the agent's flush deadline while the agent runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_pieces_loses_and_duplicates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "crash", "split-1", "c");
    let log = d.join("0.log");
    // `LOGMIND_TEST_SEED` varies the sequence (the steps taken are printed: shown when the test fails).
    let seed = std::env::var("LOGMIND_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut next = xorshift(seed.unwrap_or(0x2545_f491_4f6c_dd1d));
    let mut want = Vec::new();
    let mut n = 0u64;
    let mut rotations = 0u64;
    let mut rotate = |log: &Path| {
        rotations += 1;
        fs::rename(log, d.join(format!("0.log.20240501-{rotations:06}"))).unwrap();
        eprintln!("rotated to 0.log.20240501-{rotations:06}");
    };
    // Pieces of a line not written yet when the agent was killed.
    let mut rest: Vec<String> = Vec::new();
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let mut child = spawn_agent(&recv.url(), data.path(), root.path());
        eprintln!(
            "round {round}: agent started, {} pieces of the cut line follow",
            rest.len()
        );
        append(&log, &rest.concat());
        rest.clear();
        let deadline = std::time::Instant::now() + Duration::from_millis(300 + next(500));
        loop {
            n += 1;
            let big = long(n, 20_000 + next(30_000) as usize);
            let parts = pieces(&big, 3 + next(3) as usize);
            let mut lines: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| cri_piece(p, i + 1 == parts.len(), n))
                .collect();
            want.push(big.clone());
            n += 1;
            let m = format!("short line {n} round {round}");
            lines.push(cri(&m, n));
            want.push(m);
            let cut = 1 + next(parts.len() as u64 - 2) as usize;
            eprintln!(
                "line {}: {} bytes in {} pieces, {cut} written",
                n - 1,
                big.len(),
                parts.len()
            );
            append(&log, &lines[..cut].concat());
            let rotated = next(2) == 0;
            if rotated {
                rotate(&log);
            }
            if std::time::Instant::now() >= deadline && round + 1 < ROUNDS {
                // Killed in the middle of the line: right after its first pieces (and the rotation), or once the
                // next file holds one more piece (the rotated file has handed the line over by then, mostly).
                rest = lines[cut..].to_vec();
                if rotated && next(2) == 0 {
                    append(&log, &rest.remove(0));
                    eprintln!("one more piece written");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                break;
            }
            append(&log, &lines[cut..].concat());
            tokio::time::sleep(Duration::from_millis(next(40))).await;
            if std::time::Instant::now() >= deadline {
                break;
            }
        }
        if round + 1 < ROUNDS {
            eprintln!("kill -9");
            child.kill().unwrap();
            child.wait().unwrap();
            continue;
        }
        kill_and_check(&recv, child, &want, Duration::from_secs(20)).await;
    }
    assert!(rotations >= 5, "only {rotations} rotations");
}

/// The rotated file hands its unfinished line over, is compressed and deleted (Docker with compression), and the
/// agent is killed before the line is complete: after the restart the line is read again from the compressed copy
/// and shipped once, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_after_hand_over_then_kill_9_ships_the_line_once() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "crash", "gz-1", "c");
    let log = d.join("0.log");
    let flags = ["--multiline-timeout-ms", "10000"];
    let mut child = spawn_agent_with(&recv.url(), data.path(), root.path(), &flags);
    let mut want = Vec::new();
    append(&log, &lines(0, 5, false, &mut want));
    let big = long(7, 40_000);
    let parts = pieces(&big, 4);
    append(
        &log,
        &(cri_piece(parts[0], false, 70) + &cri_piece(parts[1], false, 71)),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rotated = d.join("0.log.20240501-100000");
    fs::rename(&log, &rotated).unwrap();
    append(&log, &cri_piece(parts[2], false, 72));
    tokio::time::sleep(Duration::from_millis(400)).await; // handed over
    gzip_like_kubelet(&rotated, &d.join("0.log.20240501-100000.gz"));
    tokio::time::sleep(Duration::from_millis(1500)).await; // the rotated file finished, a checkpoint written
    child.kill().unwrap();
    child.wait().unwrap();
    let mut text = cri_piece(parts[3], true, 73);
    text.push_str(&lines(5, 10, false, &mut want));
    append(&log, &text);
    want.push(big);
    let child = spawn_agent_with(&recv.url(), data.path(), root.path(), &flags);
    kill_and_check(&recv, child, &want, Duration::from_secs(15)).await;
}

/// A writer that still appends to the rotated file after the next file continued its line (a process that has
/// not reopened yet): the rotated file waits until the handed-over line is shipped, then its late line follows;
/// nothing is lost or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_write_to_the_rotated_file_after_hand_over() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "late", "w-1", "c");
    let log = d.join("0.log");
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    let mut want = Vec::new();
    append(&log, &lines(0, 5, false, &mut want));
    append(&log, &cri_piece("first half ", false, 50));
    // A runtime writes the rest of a line at once: the agent may read this piece before the rotation, but the
    // rest follows well within the flush deadline.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rotated = d.join("0.log.20240501-100000");
    fs::rename(&log, &rotated).unwrap();
    append(&log, &cri_piece("second half", true, 51));
    want.push("first half second half".to_string());
    // A file this short is taken up once its size settles (a copy in progress is recognised by its head first).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&rotated, &lines(5, 8, false, &mut want));
    append(&log, &lines(8, 12, false, &mut want));
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
}

/// Lines long enough that a new file holding a few is taken up at once.
fn padded(from: u64, to: u64, want: &mut Vec<String>) -> String {
    let mut t = String::new();
    for n in from..to {
        let m = format!("plain line {n} padding padding padding padding");
        t.push_str(&cri(&m, n));
        want.push(m);
    }
    t
}

/// A copytruncate layout on first start: the file at the path keeps an inode born before its copy `0.log.1`, yet
/// it is the newest of the two: a trace it is writing is not handed to the copy (it was split in two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_file_born_before_its_copy_is_still_the_newest() {
    live_copy(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_file_born_after_its_copy() {
    live_copy(false).await
}

async fn live_copy(live_first: bool) {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "ns", "pod-a", "c");
    let mut want = Vec::new();
    let mut t = padded(0, 4, &mut want);
    t.push_str(&cri("plain line 4 padding padding padding padding", 4));
    t.push_str(&cri("java.lang.IllegalStateException: boom", 50));
    if !live_first {
        append(&d.join("0.log.1"), &padded(100, 110, &mut want));
        std::thread::sleep(Duration::from_millis(30));
    }
    append(&d.join("0.log"), &t);
    std::thread::sleep(Duration::from_millis(30));
    if live_first {
        append(&d.join("0.log.1"), &padded(100, 110, &mut want));
    }
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.multiline_timeout = Duration::from_secs(2);
    let agent = Agent::start(opts);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut t = cri("\tat com.x.Foo(Foo.java:1)", 51);
    t.push_str(&padded(5, 8, &mut want));
    append(&d.join("0.log"), &t);
    want.push("plain line 4 padding padding padding padding\njava.lang.IllegalStateException: boom\n\tat com.x.Foo(Foo.java:1)".into());
    stop_and_check(
        &recv,
        agent,
        &want,
        Duration::from_secs(10),
        Duration::from_millis(500),
    )
    .await;
}

/// While the agent is stopped, `copytruncate` copies 0.log (which ends inside a stack trace) to `.000001` and
/// empties it; the app writes the rest of the trace, then 0.log is renamed to `.000002` and a new 0.log begins.
/// The emptied file keeps an inode born before its copy (and before the generation the agent knows the copied
/// content by, which began at an earlier `copytruncate` seen live), yet its content follows the copy's: the
/// trace is one event, the rest is shipped once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_emptied_by_copytruncate_while_stopped_follows_its_copy() {
    emptied_file_follows_its_copy(false).await
}

/// The same with less written after the truncation than a full fingerprint (the new file waits for its size to
/// settle before it is taken up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_file_emptied_by_copytruncate_while_stopped_follows_its_copy() {
    emptied_file_follows_its_copy(true).await
}

async fn emptied_file_follows_its_copy(short: bool) {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "ns", "pod-d", "c");
    let log = d.join("0.log");
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts.clone());
    let mut want = Vec::new();
    append(&log, &padded(0, 5, &mut want));
    assert!(recv.wait_for(&count(want.iter().cloned()), WAIT).await);
    // A first `copytruncate` while the agent runs: what 0.log holds next is a new generation of the inode.
    copytruncate(&log, &d.join("0.log.20240501-000000"));
    tokio::time::sleep(SETTLE).await;
    append(&log, &padded(5, 8, &mut want));
    assert!(recv.wait_for(&count(want.iter().cloned()), WAIT).await);
    tokio::time::sleep(SETTLE).await;
    agent.stop().await;

    let mut t = padded(8, 10, &mut want);
    let last = want.pop().unwrap(); // the message that introduces the trace
    t.push_str(&cri("java.lang.IllegalStateException: boom", 50));
    t.push_str(&cri("\tat com.x.Foo.a(Foo.java:1)", 51));
    append(&log, &t);
    copytruncate(&log, &d.join("0.log.20240501-000001"));
    let mut t = cri("\tat com.x.Foo.b(Foo.java:2)", 52);
    t.push_str(&padded(10, if short { 11 } else { 13 }, &mut want));
    assert_eq!(t.len() < 256, short);
    append(&log, &t);
    fs::rename(&log, d.join("0.log.20240501-000002")).unwrap();
    append(&log, &padded(20, 23, &mut want));
    want.push(format!(
        "{last}\njava.lang.IllegalStateException: boom\n\tat com.x.Foo.a(Foo.java:1)\n\tat com.x.Foo.b(Foo.java:2)"
    ));
    let agent = Agent::start(opts);
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
}

/// A plain copy of a rotated file appears, then the rotated file is deleted while the event it handed over is
/// still unshipped: the copy continues the file at its offset once the event is shipped (it was read again whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_of_a_rotated_file_with_an_event_out_is_continued_not_reread() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "ns", "pod-b", "c");
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.multiline_timeout = Duration::from_secs(3);
    let agent = Agent::start(opts);
    let mut want = Vec::new();
    let mut t = padded(0, 10, &mut want);
    // An exception line continues the line before it (the message that introduces a trace).
    let last = want.pop().unwrap();
    t.push_str(&cri("java.lang.IllegalStateException: boom", 50));
    append(&d.join("0.log"), &t);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rot = d.join("0.log.20240501-000001");
    fs::rename(d.join("0.log"), &rot).unwrap();
    append(&d.join("0.log"), &cri("\tat com.x.Foo(Foo.java:1)", 51));
    tokio::time::sleep(Duration::from_millis(500)).await;
    fs::copy(&rot, d.join("0.log.20240501-000001.bak")).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    fs::remove_file(&rot).unwrap();
    want.push(format!(
        "{last}\njava.lang.IllegalStateException: boom\n\tat com.x.Foo(Foo.java:1)"
    ));
    tokio::time::sleep(Duration::from_millis(6000)).await;
    append(&d.join("0.log"), &padded(20, 22, &mut want));
    stop_and_check(
        &recv,
        agent,
        &want,
        Duration::from_secs(10),
        Duration::from_millis(1500),
    )
    .await;
}

/// An older rotated file at the path that the agent cannot read (never open) does not stand between a rotated
/// file and the one that follows it: the line split by the rotation (the rotated file then gzipped, the new file
/// empty until then) is still handed over and shipped once, whole. The agent runs unprivileged for this (as
/// `nobody` when the test runs as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_older_file_does_not_block_the_hand_over() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let as_root = fs::metadata("/proc/self").unwrap().uid() == 0;
    for (dir, mode) in [(&root, 0o755), (&data, 0o777), (&bin, 0o755)] {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
    }
    // A copy of the harness binary that `nobody` can run wherever the checkout is.
    let exe = bin.path().join("logmind-agent-test");
    fs::copy(env!("CARGO_BIN_EXE_logmind-agent-test"), &exe).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let recv = Receiver::start().await;
    let d = pod_dir(root.path(), "ns", "unreadable-1", "c");
    let old = d.join("0.log.20240101-000000");
    fs::write(&old, cri("a line nobody can read", 1)).unwrap();
    fs::set_permissions(
        &old,
        fs::Permissions::from_mode(if as_root { 0o600 } else { 0 }),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut cmd = crate::crash::agent_command(&exe, &recv.url(), data.path(), root.path());
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    let child = cmd.spawn().unwrap();
    let log = d.join("0.log");
    let mut want = Vec::new();
    append(&log, &lines(0, 3, false, &mut want));
    assert!(recv.wait_for(&count(want.iter().cloned()), WAIT).await);
    let big = long(5, 30_000);
    let (a, b) = big.split_at(20_000);
    append(&log, &cri_piece(a, false, 5));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rotated = d.join("0.log.20240501-000001");
    fs::rename(&log, &rotated).unwrap();
    fs::File::create(&log).unwrap(); // the runtime reopens: a new empty file
    tokio::time::sleep(Duration::from_millis(800)).await;
    gzip_like_kubelet(&rotated, &d.join("0.log.20240501-000001.gz"));
    append(&log, &cri_piece(b, true, 6));
    want.push(big.clone());
    append(&log, &lines(10, 13, false, &mut want));
    kill_and_check(&recv, child, &want, WAIT).await;
}

/// While the agent is stopped the file holding the first pieces of a line is rotated and compressed, then the file
/// holding the rest is too: that one was never seen uncompressed (no known birth), so its place among the files
/// of the path comes from its name (kubelet: later timestamp newer; Docker: smaller counter newer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_pieces_in_files_compressed_while_stopped_are_one_event() {
    pieces_compressed_while_stopped(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_pieces_in_files_compressed_while_stopped_are_one_event() {
    pieces_compressed_while_stopped(true).await
}

async fn pieces_compressed_while_stopped(docker_fmt: bool) {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "d".repeat(64);
    let (dir, name) = if docker_fmt {
        (docker_dir(root.path(), &id), format!("{id}-json.log"))
    } else {
        (
            pod_dir(root.path(), "ns", "pod-p", "c"),
            "0.log".to_string(),
        )
    };
    let log = dir.join(&name);
    let piece = |p: &str, last: bool, n: u64| {
        if docker_fmt {
            docker_piece(p, last, n)
        } else {
            cri_piece(p, last, n)
        }
    };
    // The path's rotated names, oldest first, as the runtime gives them.
    let rotated = |k: u64| {
        if docker_fmt {
            dir.join(format!("{name}.{k}"))
        } else {
            dir.join(format!("{name}.20240501-10000{k}"))
        }
    };
    let gz = |p: &Path| std::path::PathBuf::from(format!("{}.gz", p.display()));
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    // The runtime writes the pieces back to back; here a restart comes between them.
    opts.multiline_timeout = Duration::from_secs(5);
    let agent = Agent::start(opts.clone());
    let mut want = Vec::new();
    let big = long(7, 40 * 1024);
    let parts = pieces(&big, 3);
    let mut text = lines(0, 5, docker_fmt, &mut want);
    text.push_str(&piece(parts[0], false, 50));
    append(&log, &text);
    // (The last line waits for the next event: a continuation line would be part of it.)
    assert!(recv.wait_for(&count(want[..4].iter().cloned()), WAIT).await);
    tokio::time::sleep(SETTLE).await;
    agent.stop().await;

    // Rotated and compressed: the first pieces' file, then the file with the rest.
    let first = if docker_fmt { rotated(1) } else { rotated(0) };
    fs::rename(&log, &first).unwrap();
    gzip_like_kubelet(&first, &gz(&first));
    let mut text = piece(parts[1], false, 51);
    text.push_str(&piece(parts[2], true, 52));
    text.push_str(&lines(5, 8, docker_fmt, &mut want));
    append(&log, &text);
    if docker_fmt {
        // Docker shifts the older files up first: `.1.gz` → `.2.gz`.
        fs::rename(gz(&rotated(1)), gz(&rotated(2))).unwrap();
    }
    let second = rotated(1);
    fs::rename(&log, &second).unwrap();
    gzip_like_kubelet(&second, &gz(&second));
    append(&log, &lines(8, 10, docker_fmt, &mut want));
    want.push(big);
    let agent = Agent::start(opts);
    stop_and_check(&recv, agent, &want, WAIT, SETTLE).await;
}
