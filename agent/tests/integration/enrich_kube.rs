//! Kubernetes enrichment against a small fake API server on 127.0.0.1 that answers exactly what kube's watcher
//! asks: a paginated LIST of pods (`limit=500`, `fieldSelector=spec.nodeName=<node>`) returning a real
//! `PodList`, then a WATCH (`watch=true`, `resourceVersion=<list rv>`, `allowWatchBookmarks=true`) streaming
//! newline-delimited `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK` events, kept open.

use crate::enrich_fake_api;

use enrich_fake_api::{pod_json, serve, FakeApi};
use logmind_agent::enrich::{origin_from_path, Enricher, KubeMetadata, Meta, Origin};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODE: &str = "node-a";

fn pod_path(ns: &str, pod: &str, uid: &str) -> (PathBuf, Origin) {
    let path = PathBuf::from(format!("/host/var/log/pods/{ns}_{pod}_{uid}/app/0.log"));
    let origin = origin_from_path(&path).expect("valid pod log path");
    (path, origin)
}

async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<Meta>) -> Meta {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(m) = f() {
            return m;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn initial_pods() -> Vec<Value> {
    vec![
        pod_json(
            "shop",
            "backend-7d9f8c6b5-x2x4z",
            "uid-backend",
            NODE,
            json!({"app.kubernetes.io/name": "checkout-backend", "app": "backend", "pod-template-hash": "7d9f8c6b5"}),
        ),
        pod_json(
            "kube-system",
            "coredns-5d78c9869d-q2w4e",
            "uid-coredns",
            NODE,
            json!({"k8s-app": "kube-dns"}),
        ),
        pod_json(
            "shop",
            "elsewhere-6b7c8d9f5-q2w4e",
            "uid-elsewhere",
            "node-b",
            json!({"app.kubernetes.io/name": "elsewhere"}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_then_watch_resolves_labels_and_unknown_pods_fall_back() {
    let api = FakeApi::new(initial_pods());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    serve(Arc::clone(&api), listener).await;

    let kube = KubeMetadata::connect(&format!("http://{addr}"), NODE.into())
        .await
        .unwrap();
    let enricher = Arc::new(Enricher::new(Some(Arc::clone(&kube)), NODE.into()));
    assert!(
        kube.wait_synced(Duration::from_secs(10)).await,
        "initial list never completed"
    );

    // A pod present in the list: app from app.kubernetes.io/name, uid/container id from the path.
    let (path, origin) = pod_path("shop", "backend-7d9f8c6b5-x2x4z", "uid-backend");
    let meta = enricher
        .meta_for(&path, &origin)
        .expect("listed pod is cached");
    assert_eq!(
        meta,
        Meta {
            namespace: "shop".into(),
            app: "checkout-backend".into(),
            pod: "backend-7d9f8c6b5-x2x4z".into(),
            container: "app".into(),
            container_id: "uid-backend/app".into(),
            restart: 0,
            node: NODE.into(),
        }
    );
    let (path, origin) = pod_path("kube-system", "coredns-5d78c9869d-q2w4e", "uid-coredns");
    assert_eq!(enricher.meta_for(&path, &origin).unwrap().app, "kube-dns");
    // The field selector was honoured: another node's pod is not cached.
    let (path, origin) = pod_path("shop", "elsewhere-6b7c8d9f5-q2w4e", "uid-elsewhere");
    assert_eq!(enricher.meta_for(&path, &origin), None);

    // A pod added later resolves after its ADDED event (not to the path-derived "worker").
    let (wpath, worigin) = pod_path("jobs", "worker-5f6c7d8b9-k2j4h", "uid-worker");
    assert_eq!(enricher.meta_for(&wpath, &worigin), None);
    api.push(
        "BOOKMARK",
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {}}),
    );
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
    let meta = enricher
        .resolve(&wpath, &worigin, Duration::from_secs(10))
        .await;
    assert_eq!(meta.app, "queue-worker");
    assert_eq!(enricher.stats().kube_fallbacks, 0);

    // MODIFIED relabels; DELETED keeps the pod for late lines (grace period).
    api.push(
        "MODIFIED",
        pod_json(
            "jobs",
            "worker-5f6c7d8b9-k2j4h",
            "uid-worker",
            NODE,
            json!({"app": "queue-worker-v2"}),
        ),
    );
    eventually("modified label", Duration::from_secs(10), || {
        enricher
            .meta_for(&wpath, &worigin)
            .filter(|m| m.app == "queue-worker-v2")
    })
    .await;
    let coredns = pod_json(
        "kube-system",
        "coredns-5d78c9869d-q2w4e",
        "uid-coredns",
        NODE,
        json!({"k8s-app": "kube-dns"}),
    );
    api.push("DELETED", coredns);
    let deadline = Instant::now() + Duration::from_secs(10);
    while enricher.stats().kube_watch_events < 5 {
        assert!(
            Instant::now() < deadline,
            "delete event not applied: {:?}",
            enricher.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (path, origin) = pod_path("kube-system", "coredns-5d78c9869d-q2w4e", "uid-coredns");
    assert_eq!(enricher.meta_for(&path, &origin).unwrap().app, "kube-dns");

    // A pod the API does not know: waits pod_wait, then the path-derived workload name.
    let (path, origin) = pod_path("shop", "payments-7f8d9c6b5-k2j4h", "uid-payments");
    let started = Instant::now();
    let meta = enricher
        .resolve(&path, &origin, Duration::from_millis(300))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (meta.app.as_str(), meta.namespace.as_str()),
        ("payments", "shop")
    );
    let stats = enricher.stats();
    assert_eq!(stats.kube_fallbacks, 1);
    assert!(stats.kube_synced);
    assert_eq!(stats.pods_cached, 3, "{stats:?}");
    assert!(stats.kube_hits >= 5 && stats.kube_misses >= 3, "{stats:?}");

    // What kube's watcher actually asked for: one LIST (limit, field selector), then WATCHes from its rv.
    let requests = api.requests();
    for (raw, _) in &requests {
        assert!(raw.starts_with("/api/v1/pods?"), "{raw}");
    }
    let parsed: Vec<&HashMap<String, String>> = requests.iter().map(|(_, q)| q).collect();
    for q in &parsed {
        assert_eq!(
            q.get("fieldSelector").map(String::as_str),
            Some("spec.nodeName=node-a"),
            "{q:?}"
        );
        assert!(!q.contains_key("sendInitialEvents"), "{q:?}");
    }
    let lists: Vec<_> = parsed.iter().filter(|q| !q.contains_key("watch")).collect();
    let watches: Vec<_> = parsed.iter().filter(|q| q.contains_key("watch")).collect();
    assert_eq!(lists.len(), 1, "{requests:?}");
    assert_eq!(lists[0].get("limit").map(String::as_str), Some("500"));
    assert!(!watches.is_empty(), "{requests:?}");
    assert_eq!(watches[0].get("watch").map(String::as_str), Some("true"));
    assert_eq!(
        watches[0].get("resourceVersion").map(String::as_str),
        Some("100")
    );
    assert_eq!(
        watches[0].get("allowWatchBookmarks").map(String::as_str),
        Some("true")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_down_at_start_does_not_block_and_is_picked_up_when_it_comes_up() {
    // Reserve a port, then free it: nothing listens there when the agent starts.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let kube = KubeMetadata::connect(&format!("http://{addr}"), NODE.into())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "start blocked on the API"
    );
    let enricher = Arc::new(Enricher::new(Some(Arc::clone(&kube)), NODE.into()));

    let deadline = Instant::now() + Duration::from_secs(10);
    while kube
        .stats()
        .watch_errors
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "no watch error reported while the API is down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!kube.is_synced());
    // While down, a file does not wait pod_wait: it falls back at once.
    let (path, origin) = pod_path("shop", "backend-7d9f8c6b5-x2x4z", "uid-backend");
    let t = Instant::now();
    let meta = enricher
        .resolve(&path, &origin, Duration::from_secs(20))
        .await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "waited although the API is down"
    );
    assert_eq!(meta.app, "backend");

    // The API comes up on the same address; the watcher's backoff retry finds it.
    let api = FakeApi::new(initial_pods());
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot rebind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    serve(Arc::clone(&api), listener).await;
    assert!(
        kube.wait_synced(Duration::from_secs(25)).await,
        "never synced after the API came up"
    );
    let meta = enricher
        .resolve(&path, &origin, Duration::from_secs(5))
        .await;
    assert_eq!(meta.app, "checkout-backend");
    assert!(api
        .requests()
        .iter()
        .any(|(raw, _)| raw.contains("fieldSelector=spec.nodeName%3Dnode-a")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_watch_410_relists_and_reconciles_missed_changes() {
    let api = FakeApi::new(initial_pods());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(Arc::clone(&api), listener).await;
    let kube = KubeMetadata::connect(&format!("http://{addr}"), NODE.into())
        .await
        .unwrap();
    let enricher = Arc::new(Enricher::new(Some(Arc::clone(&kube)), NODE.into()));
    assert!(kube.wait_synced(Duration::from_secs(10)).await);

    // While "disconnected" coredns went away and a new pod appeared; no events for either. Then the watch
    // gets 410 Gone (resourceVersion too old), so kube's watcher must re-list.
    let mut pods = initial_pods();
    pods.retain(|p| p["metadata"]["uid"] != "uid-coredns");
    pods.push(pod_json(
        "shop",
        "cart-0",
        "uid-cart",
        NODE,
        json!({"app.kubernetes.io/name": "cart"}),
    ));
    api.replace_pods_silently(pods);
    api.push(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "too old resource version: 100 (111)", "reason": "Expired", "code": 410}),
    );

    let (path, origin) = pod_path("shop", "cart-0", "uid-cart");
    let meta = eventually("re-list after 410", Duration::from_secs(15), || {
        enricher.meta_for(&path, &origin)
    })
    .await;
    assert_eq!(meta.app, "cart");
    assert_eq!(
        kube.stats()
            .relists
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert!(
        kube.stats()
            .watch_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // The vanished pod is kept for late lines (deleted grace), the rest still resolves.
    let (path, origin) = pod_path("kube-system", "coredns-5d78c9869d-q2w4e", "uid-coredns");
    assert_eq!(enricher.meta_for(&path, &origin).unwrap().app, "kube-dns");
    let lists = api
        .requests()
        .iter()
        .filter(|(_, q)| !q.contains_key("watch"))
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test]
async fn bad_urls_and_node_names_are_rejected_and_https_clients_build() {
    use logmind_agent::enrich::EnrichError;
    let err = KubeMetadata::connect("not a url", NODE.into())
        .await
        .unwrap_err();
    assert!(matches!(err, EnrichError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("not a url"), "{err}");
    let err = KubeMetadata::connect("http://127.0.0.1:9", "Node_A".into())
        .await
        .unwrap_err();
    assert!(matches!(err, EnrichError::InvalidNode { .. }), "{err}");
    assert!(err.to_string().contains("--node-name"), "{err}");
    // TLS client construction (rustls, ring provider) works and does not block either.
    let kube = KubeMetadata::connect("https://127.0.0.1:9", NODE.into())
        .await
        .unwrap();
    assert!(!kube.is_synced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_more_pods_than_one_list_page_is_fully_cached() {
    let pods: Vec<Value> = (0..620)
        .map(|i| {
            pod_json(
                "bulk",
                &format!("svc{i}-0"),
                &format!("uid-{i}"),
                NODE,
                json!({"app": format!("svc{i}")}),
            )
        })
        .collect();
    let api = FakeApi::new(pods);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(Arc::clone(&api), listener).await;
    let kube = KubeMetadata::connect(&format!("http://{addr}"), NODE.into())
        .await
        .unwrap();
    let enricher = Enricher::new(Some(Arc::clone(&kube)), NODE.into());
    assert!(kube.wait_synced(Duration::from_secs(15)).await);
    for i in [0, 499, 500, 619] {
        let (path, origin) = pod_path("bulk", &format!("svc{i}-0"), &format!("uid-{i}"));
        assert_eq!(
            enricher.meta_for(&path, &origin).unwrap().app,
            format!("svc{i}")
        );
    }
    assert_eq!(enricher.stats().pods_cached, 620);
    let lists: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|(_, q)| !q.contains_key("watch"))
        .map(|(_, q)| q)
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert_eq!(
        lists[1].get("continue").map(String::as_str),
        Some("page-500")
    );
}
