//! A fake Kubernetes API server (axum on 127.0.0.1) for the enrichment tests: `GET /api/v1/pods` answers a
//! LIST with a real `PodList` (honouring `fieldSelector=spec.nodeName=<node>`) and a WATCH (`watch=true|1`,
//! `resourceVersion=N`) with a kept-open stream of newline-delimited watch events newer than N. Every request is
//! recorded (raw URI and decoded query) so tests can assert what kube's watcher asked for.
#![allow(clippy::unwrap_used, dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// One stored watch event.
#[derive(Clone)]
struct WatchEv {
    rv: u64,
    kind: &'static str,
    object: Value,
}

/// The fake API's state: pods by node, an event log with resource versions, and every request seen.
pub struct FakeApi {
    pods: Mutex<Vec<Value>>,
    events: Mutex<Vec<WatchEv>>,
    rv: Mutex<u64>,
    notify: tokio::sync::watch::Sender<usize>,
    /// Raw request URI and its decoded query, in arrival order.
    requests: Mutex<Vec<(String, HashMap<String, String>)>>,
}

pub fn pod_json(ns: &str, name: &str, uid: &str, node: &str, labels: Value) -> Value {
    json!({
        "metadata": {
            "name": name, "namespace": ns, "uid": uid, "resourceVersion": "1",
            "creationTimestamp": "2024-05-01T10:00:00Z", "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T09:59:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "owner-uid",
                                 "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                               "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "registry.example/app:1.4.2", "resources": {},
                            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "schedulerName": "default-scheduler", "priority": 0
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.5", "podIP": "10.244.1.17", "qosClass": "BestEffort",
            "startTime": "2024-05-01T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
                            "lastTransitionTime": "2024-05-01T10:00:05Z"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
                                   "image": "registry.example/app:1.4.2", "imageID": "registry.example/app@sha256:0123",
                                   "containerID": "containerd://4f5e6d", "lastState": {},
                                   "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}}}]
        }
    })
}

fn node_of(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or("")
}

impl FakeApi {
    pub fn new(pods: Vec<Value>) -> Arc<Self> {
        Arc::new(FakeApi {
            pods: Mutex::new(pods),
            events: Mutex::new(Vec::new()),
            rv: Mutex::new(100),
            notify: tokio::sync::watch::channel(0).0,
            requests: Mutex::new(Vec::new()),
        })
    }

    /// Records an event (as the API server would) and wakes open watches.
    pub fn push(&self, kind: &'static str, mut object: Value) {
        let rv = {
            let mut rv = self.rv.lock();
            *rv += 1;
            *rv
        };
        if kind == "ERROR" {
            let mut events = self.events.lock();
            events.push(WatchEv { rv, kind, object });
            self.notify.send_replace(events.len());
            return;
        }
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if kind != "BOOKMARK" {
            object["apiVersion"] = json!("v1");
            object["kind"] = json!("Pod");
            let mut pods = self.pods.lock();
            let uid = object["metadata"]["uid"].clone();
            pods.retain(|p| p["metadata"]["uid"] != uid);
            if kind != "DELETED" {
                pods.push(object.clone());
            }
        }
        let mut events = self.events.lock();
        events.push(WatchEv { rv, kind, object });
        self.notify.send_replace(events.len());
    }

    /// Changes the stored pods without any watch event (what a watcher misses while disconnected).
    pub fn replace_pods_silently(&self, pods: Vec<Value>) {
        *self.pods.lock() = pods;
        *self.rv.lock() += 10;
    }

    pub fn requests(&self) -> Vec<(String, HashMap<String, String>)> {
        self.requests.lock().clone()
    }
}

async fn pods_handler(
    State(api): State<Arc<FakeApi>>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    eprintln!("fake kube api: GET {uri}");
    api.requests.lock().push((uri.to_string(), q.clone()));
    let node = q
        .get("fieldSelector")
        .and_then(|s| s.strip_prefix("spec.nodeName="))
        .map(str::to_owned);
    let on_node = move |pod: &Value| node.as_deref().is_none_or(|n| node_of(pod) == n);
    let watching = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    if !watching {
        let items: Vec<Value> = api
            .pods
            .lock()
            .iter()
            .filter(|p| on_node(p))
            .cloned()
            .collect();
        let rv = *api.rv.lock();
        // Pagination as the API server does it: `limit` items, `continue` token, `remainingItemCount`.
        let offset = q
            .get("continue")
            .and_then(|c| c.strip_prefix("page-"))
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let end = offset.saturating_add(limit).min(items.len());
        let page = items.get(offset..end).unwrap_or_default().to_vec();
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if end < items.len() {
            meta["continue"] = json!(format!("page-{end}"));
            meta["remainingItemCount"] = json!(items.len() - end);
        }
        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": meta, "items": page});
        return (
            [(header::CONTENT_TYPE, "application/json")],
            list.to_string(),
        )
            .into_response();
    }
    let Some(since) = q.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()) else {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "message": "watch without resourceVersion not supported here", "code": 400});
        return (StatusCode::BAD_REQUEST, status.to_string()).into_response();
    };
    let rx = api.notify.subscribe();
    let stream = futures::stream::unfold((api, 0usize, rx), move |(api, mut idx, mut rx)| {
        let on_node = on_node.clone();
        async move {
            loop {
                let next = api.events.lock().get(idx).cloned();
                let Some(ev) = next else {
                    rx.changed().await.ok()?;
                    continue;
                };
                idx += 1;
                let pod_event = matches!(ev.kind, "ADDED" | "MODIFIED" | "DELETED");
                if ev.rv <= since || (pod_event && !on_node(&ev.object)) {
                    continue;
                }
                let line = format!("{}\n", json!({"type": ev.kind, "object": ev.object}));
                return Some((Ok::<_, Infallible>(Bytes::from(line)), (api, idx, rx)));
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

pub async fn serve(api: Arc<FakeApi>, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/api/v1/pods", get(pods_handler))
        .with_state(api);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}
