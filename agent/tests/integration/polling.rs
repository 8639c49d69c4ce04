//! Without file-system notifications (`notify = false`, as on NFS; the same path the agent takes when inotify is
//! unavailable or its watch limit is reached) every kind of rotation is still followed, by polling alone.

use crate::common;

use std::fs;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_alone_follows_rename_gzip_copytruncate_and_docker_rotation() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let listen = free_addr();
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.notify = false;
    opts.poll_interval = Duration::from_millis(150);
    opts.listen = Some(listen);
    let agent = Agent::start(opts);
    let pod = pod_dir(root.path(), "poll", "web-1", "web");
    let id = "e".repeat(64);
    let dd = docker_dir(root.path(), &id);
    let dlog = dd.join(format!("{id}-json.log"));
    let mut want = Vec::new();
    let mut n = 0u64;
    let mut write = |path: &std::path::Path, docker_fmt: bool, k: u64, want: &mut Vec<String>| {
        let mut text = String::new();
        for _ in 0..k {
            n += 1;
            let m = format!("polled line {n}");
            text.push_str(&if docker_fmt {
                docker(&m, n)
            } else {
                cri(&m, n)
            });
            want.push(m);
        }
        append(path, &text);
    };
    for round in 0..4 {
        write(&pod.join("0.log"), false, 30, &mut want);
        write(&dlog, true, 30, &mut want);
        tokio::time::sleep(Duration::from_millis(400)).await;
        // kubelet: rename, new file, the rotated one compressed later.
        let rotated = pod.join(format!("0.log.20240501-10000{round}"));
        fs::rename(pod.join("0.log"), &rotated).unwrap();
        write(&pod.join("0.log"), false, 20, &mut want);
        // Docker: `.1` → `.2`, live → `.1`.
        if dd.join(format!("{id}-json.log.1")).exists() {
            fs::rename(
                dd.join(format!("{id}-json.log.1")),
                dd.join(format!("{id}-json.log.2")),
            )
            .unwrap();
        }
        fs::rename(&dlog, dd.join(format!("{id}-json.log.1"))).unwrap();
        write(&dlog, true, 20, &mut want);
        tokio::time::sleep(Duration::from_millis(400)).await;
        gzip_like_kubelet(
            &rotated,
            &pod.join(format!("0.log.20240501-10000{round}.gz")),
        );
    }
    // copytruncate: copy, truncate in place, keep writing.
    let app = pod_dir(root.path(), "poll", "legacy-1", "app");
    write(&app.join("0.log"), false, 50, &mut want);
    tokio::time::sleep(Duration::from_millis(500)).await;
    copytruncate(&app.join("0.log"), &app.join("0.log.1"));
    write(&app.join("0.log"), false, 20, &mut want);

    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = http_get(listen, "/metrics").await;
    agent.stop().await;
    let got = recv.messages();
    assert_exactly_once(&got, &expected);
    assert!(ok);
    assert_eq!(metric(&metrics, "logmind_agent_notify_active"), Some(0));
    assert!(metric(&metrics, "logmind_agent_rotations_total").unwrap() >= 8);
}
