//! Rotation scenarios over real files with an in-process agent and a real HTTP receiver.

use crate::common;

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use common::*;

fn expect(msgs: &[String]) -> HashMap<String, usize> {
    count(msgs.iter().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_and_docker_lines_are_shipped_enriched_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let pd = pod_dir(root.path(), "shop", "checkout-7d4b9c-x2x9z", "web");
    let did = "a".repeat(64);
    let dd = docker_dir(root.path(), &did);
    let mut want = Vec::new();
    for i in 0..50 {
        let m = format!("cri message {i} level=info request_id=req-{i}");
        append(&pd.join("0.log"), &cri(&m, i));
        want.push(m);
        let d = format!("docker message {i}");
        append(&dd.join(format!("{did}-json.log")), &docker(&d, i));
        want.push(d);
    }
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    let expected = expect(&want);
    assert!(
        recv.wait_for(&expected, Duration::from_secs(15)).await,
        "not all lines arrived"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly_once(&recv.messages(), &expected);
    let recs = recv.records();
    let r = recs
        .iter()
        .find(|r| r.message.starts_with("cri message 7 "))
        .unwrap();
    assert_eq!(r.namespace, "shop");
    assert_eq!(r.pod, "checkout-7d4b9c-x2x9z");
    assert_eq!(r.container, "web");
    assert_eq!(r.node, "node-1");
    assert_eq!(r.stream, "stdout");
    assert_eq!(r.request_id, "req-7");
    assert_eq!(r.source.agent, "agent-test");
    let sources: std::collections::HashSet<_> = recs
        .iter()
        .map(|r| (r.source.file.clone(), r.source.offset))
        .collect();
    assert_eq!(
        sources.len(),
        recs.len(),
        "source (file, offset) must be unique per line"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelet_rotation_with_gzip_half_read_is_finished_from_the_compressed_copy() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let pd = pod_dir(root.path(), "ns", "api-5f6d7-abcde", "api");
    let log = pd.join("0.log");
    let mut want = Vec::new();
    let mut n = 0;
    let mut write = |count: usize, want: &mut Vec<String>| {
        for _ in 0..count {
            n += 1;
            let m = format!("kubelet line {n}");
            append(&log, &cri(&m, n));
            want.push(m);
        }
    };
    write(100, &mut want);
    let opts = test_options(&recv.url(), data.path(), root.path());
    let agent = Agent::start(opts.clone());
    assert!(recv.wait_for(&expect(&want), Duration::from_secs(10)).await);
    // Stop the agent, write more, rotate and gzip while it is down: the rest must come from the .gz.
    agent.stop().await;
    write(100, &mut want);
    let rotated = pd.join("0.log.20240501-100000");
    fs::rename(&log, &rotated).unwrap();
    write(20, &mut want);
    gzip_like_kubelet(&rotated, &pd.join("0.log.20240501-100000.gz"));
    let agent = Agent::start(opts.clone());
    // While running: another rotation, gzip after the agent has seen it.
    write(30, &mut want);
    let expected = expect(&want);
    assert!(recv.wait_for(&expected, Duration::from_secs(10)).await);
    let rotated2 = pd.join("0.log.20240501-110000");
    fs::rename(&log, &rotated2).unwrap();
    write(25, &mut want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    gzip_like_kubelet(&rotated2, &pd.join("0.log.20240501-110000.gz"));
    write(5, &mut want);
    let expected = expect(&want);
    assert!(
        recv.wait_for(&expected, Duration::from_secs(10)).await,
        "lines missing after rotation"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.stop().await;
    assert_exactly_once(&recv.messages(), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_rotation_with_numbered_and_gzipped_files() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "b".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let log = dd.join(format!("{id}-json.log"));
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    let mut want = Vec::new();
    let mut n = 0u64;
    for round in 0..4 {
        for _ in 0..40 {
            n += 1;
            let m = format!("docker rot {n}");
            append(&log, &docker(&m, n));
            want.push(m);
        }
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        // Docker: .1 -> .2(.gz), current -> .1, new current.
        let p1 = dd.join(format!("{id}-json.log.1"));
        let p2gz = dd.join(format!("{id}-json.log.2.gz"));
        if p1.exists() {
            let _ = fs::remove_file(&p2gz);
            gzip_like_kubelet(&p1, &p2gz);
        }
        fs::rename(&log, &p1).unwrap();
    }
    for _ in 0..10 {
        n += 1;
        let m = format!("docker rot {n}");
        append(&log, &docker(&m, n));
        want.push(m);
    }
    let expected = expect(&want);
    let ok = recv.wait_for(&expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.stop().await;
    assert!(ok, "lines missing");
    assert_exactly_once(&recv.messages(), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_and_deletion_while_open() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let pd = pod_dir(root.path(), "ns", "db-0", "db");
    let log = pd.join("0.log");
    let mut want = Vec::new();
    let mut n = 0u64;
    let mut write = |count: usize, want: &mut Vec<String>| {
        for _ in 0..count {
            n += 1;
            let m = format!("ct line {n}");
            append(&log, &cri(&m, n));
            want.push(m);
        }
    };
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    write(60, &mut want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    write(60, &mut want);
    // copytruncate: copy then truncate immediately (the agent may not have read the last lines yet).
    let copy = pd.join("0.log.20240501-120000");
    copytruncate(&log, &copy);
    write(30, &mut want);
    let expected = expect(&want);
    assert!(
        recv.wait_for(&expected, Duration::from_secs(10)).await,
        "lines lost at copytruncate"
    );
    // Deletion while open: the copy is removed; more lines in a rotated file deleted at once.
    fs::remove_file(&copy).unwrap();
    let rot = pd.join("0.log.20240501-130000");
    fs::rename(&log, &rot).unwrap();
    write(10, &mut want);
    let mut f = fs::OpenOptions::new().append(true).open(&rot).unwrap();
    use std::io::Write;
    for i in 0..20 {
        let m = format!("late line {i}");
        f.write_all(cri(&m, 1000 + i).as_bytes()).unwrap();
        want.push(m);
    }
    drop(f);
    tokio::time::sleep(Duration::from_millis(400)).await;
    fs::remove_file(&rot).unwrap();
    let expected = expect(&want);
    let ok = recv.wait_for(&expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.stop().await;
    assert!(ok, "lines missing");
    assert_exactly_once(&recv.messages(), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_lines_with_json_escapes_and_bodies_arrive_intact() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let id = "c".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let log = dd.join(format!("{id}-json.log"));
    let mut want = Vec::new();
    for i in 0..40u64 {
        let msg = match i % 4 {
            0 => format!("level=info msg=\"request served\" request_id=req-{i} status=200"),
            1 => format!("{{\"level\":\"error\",\"msg\":\"payment failed\",\"request_id\":\"req-{i}\",\"code\":502}}"),
            2 => format!("2024-05-01 10:00:00,123 INFO [worker-{i}] processed batch {i} in 12ms"),
            _ => format!("GET /api/v1/items/{i} HTTP/1.1 200 512 \"-\" \"curl/8.0\" path=C:\\tmp"),
        };
        let esc = msg.replace('\\', "\\\\").replace('"', "\\\"");
        append(
            &log,
            &format!("{{\"log\":\"{esc}\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.{i:09}Z\"}}\n"),
        );
        want.push(msg);
    }
    let agent = Agent::start(test_options(&recv.url(), data.path(), root.path()));
    let expected = expect(&want);
    let ok = recv.wait_for(&expected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.stop().await;
    if !ok {
        let got = recv.messages();
        let mut extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
        extra.sort();
        panic!(
            "missing; received instead e.g. {:?}",
            &extra[..extra.len().min(4)]
        );
    }
    assert_exactly_once(&recv.messages(), &expected);
}
