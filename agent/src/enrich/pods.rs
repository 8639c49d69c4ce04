//! The in-memory pod cache behind [`super::KubeMetadata`]: what is kept of each pod (namespace, name, uid, app
//! resolved from labels, node), indexed by `namespace/name` and by uid (plus a static pod's mirror hash), with
//! deleted pods kept for a grace period. Pure data, no I/O; only the watch task writes it.

use super::workload_name;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a deleted pod stays cached, for log lines read after its deletion.
pub const DELETED_GRACE: Duration = Duration::from_secs(600);
/// Pod labels giving the app, in order of preference.
pub const APP_LABELS: [&str; 3] = ["app.kubernetes.io/name", "app", "k8s-app"];
/// Annotation of a static pod's mirror pod holding the uid the kubelet uses in log paths.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What is kept of one pod.
#[derive(Debug)]
pub(super) struct PodInfo {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) uid: String,
    pub(super) mirror_uid: Option<String>,
    pub(super) app: String,
    pub(super) node: Option<String>,
}

impl PodInfo {
    pub(super) fn from_pod(pod: &Pod) -> Option<PodInfo> {
        let namespace = pod.metadata.namespace.clone()?;
        let name = pod.metadata.name.clone()?;
        let uid = pod.metadata.uid.clone()?;
        let labels = pod.labels();
        let mirror_uid = pod.annotations().get(MIRROR_ANNOTATION).cloned();
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let app = APP_LABELS
            .iter()
            .find_map(|key| labels.get(*key).filter(|v| !v.is_empty()))
            .cloned()
            .unwrap_or_else(|| {
                // A static pod is named `<manifest name>-<node>`.
                let static_base = match (&mirror_uid, &node) {
                    (Some(_), Some(node)) => name
                        .strip_suffix(node.as_str())
                        .and_then(|n| n.strip_suffix('-'))
                        .filter(|n| !n.is_empty()),
                    _ => None,
                };
                static_base
                    .unwrap_or_else(|| workload_name(&name))
                    .to_owned()
            });
        Some(PodInfo {
            mirror_uid,
            node,
            namespace,
            name,
            uid,
            app,
        })
    }

    pub(super) fn key(&self) -> String {
        name_key(&self.namespace, &self.name)
    }
}

pub(super) fn name_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The cache proper; only the watch task writes it.
#[derive(Debug, Default)]
pub(super) struct PodCache {
    pub(super) by_name: HashMap<String, Arc<PodInfo>>,
    pub(super) by_uid: HashMap<String, Arc<PodInfo>>,
    /// (expiry, uid) of deleted pods, oldest first.
    pub(super) deleted: VecDeque<(Instant, String)>,
    /// Uids seen since the last `Init`, while an initial list is in progress.
    pub(super) listing: Option<HashSet<String>>,
}

impl PodCache {
    pub(super) fn apply(&mut self, info: PodInfo) {
        let info = Arc::new(info);
        if let Some(alias) = &info.mirror_uid {
            self.by_uid.insert(alias.clone(), Arc::clone(&info));
        }
        self.by_uid.insert(info.uid.clone(), Arc::clone(&info));
        // A pod re-created under the same name (StatefulSet) replaces the name entry; the old uid entry stays
        // until its own deletion expires.
        self.by_name.insert(info.key(), info);
    }

    pub(super) fn mark_deleted(&mut self, uid: String, now: Instant) {
        self.deleted.push_back((now + DELETED_GRACE, uid));
    }

    pub(super) fn prune(&mut self, now: Instant) {
        while let Some((expiry, _)) = self.deleted.front() {
            if *expiry > now {
                break;
            }
            let Some((_, uid)) = self.deleted.pop_front() else {
                break;
            };
            let Some(info) = self.by_uid.remove(&uid) else {
                continue;
            };
            if let Some(alias) = &info.mirror_uid {
                self.by_uid.remove(alias);
            }
            let key = info.key();
            if self.by_name.get(&key).is_some_and(|cur| cur.uid == uid) {
                self.by_name.remove(&key);
            }
        }
    }

    pub(super) fn len(&self) -> u64 {
        let aliases = self
            .by_uid
            .values()
            .filter(|i| i.mirror_uid.is_some())
            .count();
        (self.by_uid.len() - aliases / 2) as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn app_label_precedence_and_workload_fallback() {
        let cases = [
            (
                serde_json::json!({"app.kubernetes.io/name": "a", "app": "b", "k8s-app": "c"}),
                "a",
            ),
            (serde_json::json!({"app": "b", "k8s-app": "c"}), "b"),
            (serde_json::json!({"k8s-app": "c"}), "c"),
            (
                serde_json::json!({"app.kubernetes.io/name": "", "tier": "x"}),
                "backend",
            ),
            (serde_json::json!(null), "backend"),
        ];
        for (labels, want) in cases {
            let p = pod(serde_json::json!({
                "metadata": {"name": "backend-7d9f8c6b5-x2x4z", "namespace": "shop", "uid": "u1", "labels": labels},
                "spec": {"nodeName": "node-a", "containers": [{"name": "app"}]}
            }));
            assert_eq!(PodInfo::from_pod(&p).unwrap().app, want);
        }
    }

    #[test]
    fn deleted_pods_expire_after_the_grace_period_and_recreated_names_survive() {
        let info = |uid: &str| PodInfo {
            namespace: "db".into(),
            name: "db-0".into(),
            uid: uid.into(),
            mirror_uid: None,
            app: "db".into(),
            node: None,
        };
        let mut cache = PodCache::default();
        let t0 = Instant::now();
        cache.apply(info("old"));
        cache.mark_deleted("old".into(), t0);
        cache.apply(info("new"));
        cache.prune(t0 + DELETED_GRACE / 2);
        assert!(cache.by_uid.contains_key("old"));
        cache.prune(t0 + DELETED_GRACE);
        assert!(!cache.by_uid.contains_key("old"));
        assert_eq!(
            cache.by_name.get("db/db-0").map(|i| i.uid.as_str()),
            Some("new")
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn static_pods_are_found_by_their_mirror_hash_and_counted_once() {
        let mirror = pod(serde_json::json!({
            "metadata": {"name": "kube-apiserver-node-a", "namespace": "kube-system", "uid": "api-uid",
                         "labels": {"component": "kube-apiserver"},
                         "annotations": {"kubernetes.io/config.mirror": "0f1e2d3c4b5a6978",
                                         "kubernetes.io/config.source": "file"}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "kube-apiserver"}]}
        }));
        let mut cache = PodCache::default();
        cache.apply(PodInfo::from_pod(&mirror).unwrap());
        let by_hash = cache.by_uid.get("0f1e2d3c4b5a6978").unwrap();
        assert_eq!(
            by_hash.app, "kube-apiserver",
            "static pod name minus the node suffix"
        );
        assert_eq!(cache.len(), 1);
        cache.mark_deleted("api-uid".into(), Instant::now());
        cache.prune(Instant::now() + DELETED_GRACE);
        assert!(cache.by_uid.is_empty() && cache.by_name.is_empty());
        assert_eq!(cache.len(), 0);
    }
}
