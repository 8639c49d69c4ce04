//! Enrichment end to end: the in-process agent tails real pod and Docker log files, looks pods up through a
//! fake Kubernetes API (list + watch), reads Docker's config.v2.json, and ships to the protocol-exact test
//! receiver; the shipped records carry the labels' app, the path fallback, or the compose names.

use crate::common;
use crate::enrich_fake_api;

use common::{append, cri, docker, init_tracing, test_options, Agent, Receiver};
use enrich_fake_api::{pod_json, serve, FakeApi};
use logmind_agent::options::KubeMode;
use logmind_protocol::LogRecord;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODE: &str = "node-1";
const DOCKER_ID: &str = "7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f";

fn pod_log(root: &Path, ns: &str, pod: &str, uid: &str, container: &str) -> PathBuf {
    let dir = root.join(format!("var/log/pods/{ns}_{pod}_{uid}/{container}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("0.log")
}

async fn wait_records(recv: &Receiver, want: usize, timeout: Duration) -> Vec<LogRecord> {
    let deadline = Instant::now() + timeout;
    loop {
        let recs = recv.records();
        if recs.len() >= want || Instant::now() >= deadline {
            return recs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_message<'a>(recs: &'a [LogRecord], prefix: &str) -> &'a LogRecord {
    recs.iter()
        .find(|r| r.message.starts_with(prefix))
        .unwrap_or_else(|| panic!("no record starting with {prefix:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_records_carry_pod_labels_fallbacks_and_compose_names() {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let api = FakeApi::new(vec![pod_json(
        "shop",
        "checkout-7d4b9c6f5-x2x9z",
        "uid-checkout",
        NODE,
        json!({"app.kubernetes.io/name": "checkout", "app": "legacy"}),
    )]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", listener.local_addr().unwrap());
    serve(Arc::clone(&api), listener).await;
    let recv = Receiver::start().await;

    // Files present at start: a listed pod, a pod the API never hears of, a compose container.
    let listed = pod_log(
        root.path(),
        "shop",
        "checkout-7d4b9c6f5-x2x9z",
        "uid-checkout",
        "web",
    );
    let unknown = pod_log(
        root.path(),
        "batch",
        "report-28391234-q7w2k",
        "uid-report",
        "main",
    );
    let ddir = root
        .path()
        .join("var/lib/docker/containers")
        .join(DOCKER_ID);
    std::fs::create_dir_all(&ddir).unwrap();
    std::fs::write(
        ddir.join("config.v2.json"),
        format!(
            r#"{{"ID":"{DOCKER_ID}","Name":"/shop-cache-1","RestartCount":0,"Config":{{"Image":"redis:7","Labels":{{"com.docker.compose.project":"shop","com.docker.compose.service":"cache"}}}},"State":{{"Running":true}}}}"#
        ),
    )
    .unwrap();
    for i in 0..5 {
        append(&listed, &cri(&format!("listed {i}"), i));
        append(&unknown, &cri(&format!("unknown {i}"), i));
        append(
            &ddir.join(format!("{DOCKER_ID}-json.log")),
            &docker(&format!("compose {i}"), i),
        );
    }

    let mut opts = test_options(&recv.url(), data.path(), root.path());
    opts.node_name = NODE.into();
    opts.kubernetes = KubeMode::On;
    opts.kube_api_url = Some(api_url);
    opts.pod_wait = Duration::from_secs(3);
    let agent = Agent::start(opts);

    // A pod that starts after the agent: its file appears before the watch event does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = pod_log(
        root.path(),
        "jobs",
        "worker-5f6c7d8b9-k2j4h",
        "uid-worker",
        "app",
    );
    for i in 0..5 {
        append(&late, &cri(&format!("late {i}"), i));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.push(
        "ADDED",
        pod_json(
            "jobs",
            "worker-5f6c7d8b9-k2j4h",
            "uid-worker",
            NODE,
            json!({"app": "queue-worker"}),
        ),
    );

    let recs = wait_records(&recv, 20, Duration::from_secs(20)).await;
    assert_eq!(
        recs.len(),
        20,
        "{:?}",
        recs.iter().map(|r| &r.message).collect::<Vec<_>>()
    );

    let r = by_message(&recs, "listed 3");
    assert_eq!(
        (r.namespace.as_str(), r.app.as_str(), r.pod.as_str()),
        ("shop", "checkout", "checkout-7d4b9c6f5-x2x9z")
    );
    assert_eq!(
        (r.container.as_str(), r.container_id.as_str()),
        ("web", "uid-checkout/web")
    );
    assert_eq!(r.node, NODE);

    let r = by_message(&recs, "late 0");
    assert_eq!(
        (r.namespace.as_str(), r.app.as_str()),
        ("jobs", "queue-worker")
    );

    let r = by_message(&recs, "unknown 4");
    assert_eq!((r.namespace.as_str(), r.app.as_str()), ("batch", "report"));
    assert_eq!(r.container_id, "uid-report/main");

    let r = by_message(&recs, "compose 2");
    assert_eq!((r.namespace.as_str(), r.app.as_str()), ("shop", "cache"));
    assert_eq!(
        (r.container.as_str(), r.container_id.as_str()),
        ("shop-cache-1", DOCKER_ID)
    );

    // Every line of one file carries the same metadata (resolved once per file).
    for prefix in ["listed", "late", "unknown", "compose"] {
        let apps: std::collections::HashSet<_> = recs
            .iter()
            .filter(|r| r.message.starts_with(prefix))
            .map(|r| r.app.clone())
            .collect();
        assert_eq!(apps.len(), 1, "{prefix}: {apps:?}");
    }
    agent.stop().await;
}
