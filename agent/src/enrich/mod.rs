//! Enrichment: where each log file came from (namespace, app, pod, container, restart, node).
//!
//! The path alone gives the origin ([`origin_from_path`]); Kubernetes pod labels come from one pod watch on
//! this node ([`KubeMetadata`]), Docker names and compose labels from `config.v2.json` ([`DockerMetadata`]).
//! [`Enricher`] combines them. Metadata is resolved once per file: for a Kubernetes file whose pod is not cached
//! yet the runtime polls [`Enricher::meta_for`] up to `pod_wait` (or calls [`Enricher::resolve`]), then uses
//! [`Enricher::fallback_for`], whose app is the workload name derived from the pod name. Everything works with
//! no Kubernetes API at all.

pub mod docker;
pub mod kube;
pub mod path;
mod pods;

pub use self::docker::{DockerMetadata, DockerStats};
pub use self::kube::{KubeMetadata, KubeStats};
pub use self::path::{origin_from_path, workload_name, Origin};
pub use self::pods::{APP_LABELS, DELETED_GRACE};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Errors of the enrichment area.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The node name cannot be used in a field selector.
    #[error(
        "enrich: node name {node:?} is not a valid Kubernetes node name (lowercase RFC 1123 subdomain); \
         set --node-name or the NODE_NAME environment variable (downward API spec.nodeName)"
    )]
    InvalidNode {
        /// The rejected node name.
        node: String,
    },
    /// The Kubernetes API URL does not parse.
    #[error("enrich: kubernetes api url {url:?} is invalid: {reason} (expected e.g. http://127.0.0.1:8001)")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No Kubernetes client configuration could be built.
    #[error(
        "enrich: cannot build a kubernetes client{context}: {source} \
         (run in-cluster with a service account, set KUBECONFIG, or disable kubernetes enrichment)"
    )]
    Client {
        /// Where the configuration came from.
        context: String,
        /// The underlying kube error.
        #[source]
        source: ::kube::Error,
    },
}

/// Metadata attached to every record of one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// Kubernetes namespace; Docker: compose project, else `docker`.
    pub namespace: String,
    /// App label / workload name; Docker: compose service, else container name.
    pub app: String,
    /// Pod name; Docker: container name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Docker: the 64-hex id; Kubernetes: `<pod uid>/<container>`.
    pub container_id: String,
    /// Container restart count.
    pub restart: u32,
    /// Node the container ran on.
    pub node: String,
}

/// A source of metadata for origins.
pub trait MetadataSource: Send + Sync {
    /// Metadata if known now (non-blocking).
    fn get(&self, origin: &Origin) -> Option<Meta>;
}

/// Metadata from the path alone: workload name from the pod name; Docker: the short id as name.
pub fn fallback_meta(origin: &Origin, node: &str) -> Meta {
    match origin {
        Origin::Kubernetes {
            namespace,
            pod,
            uid,
            container,
            restart,
        } => Meta {
            namespace: namespace.clone(),
            app: static_pod_base(pod, uid, node)
                .unwrap_or_else(|| workload_name(pod))
                .to_owned(),
            pod: pod.clone(),
            container: container.clone(),
            container_id: format!("{uid}/{container}"),
            restart: *restart,
            node: node.to_owned(),
        },
        Origin::Docker { container_id } => {
            let short = container_id.get(..12).unwrap_or(container_id).to_owned();
            Meta {
                namespace: "docker".to_owned(),
                app: short.clone(),
                pod: short.clone(),
                container: short,
                container_id: container_id.clone(),
                restart: 0,
                node: node.to_owned(),
            }
        }
    }
}

/// A static pod (kubelet manifest) is named `<manifest>-<node>` and its log path carries the manifest's
/// 32-hex config hash instead of a UUID; returns `<manifest>` for those.
fn static_pod_base<'a>(pod: &'a str, uid: &str, node: &str) -> Option<&'a str> {
    let hash_uid = uid.len() == 32 && uid.bytes().all(|b| b.is_ascii_hexdigit());
    if !hash_uid || node.is_empty() {
        return None;
    }
    pod.strip_suffix(node)?
        .strip_suffix('-')
        .filter(|b| !b.is_empty())
}

/// A snapshot of all enrichment counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrichStats {
    /// Whether the pod watch completed its initial list at least once.
    pub kube_synced: bool,
    /// Pods currently cached (including recently deleted ones kept for late log lines).
    pub pods_cached: u64,
    /// Kubernetes lookups answered from the cache.
    pub kube_hits: u64,
    /// Kubernetes lookups that found nothing (the runtime polls, so one file may count several).
    pub kube_misses: u64,
    /// Kubernetes files that fell back to path-derived metadata.
    pub kube_fallbacks: u64,
    /// Watch events applied (list items included).
    pub kube_watch_events: u64,
    /// Watch errors (API down, watch broken); kube's watcher retries with backoff.
    pub kube_watch_errors: u64,
    /// Docker config.v2.json files read and parsed.
    pub docker_configs_read: u64,
    /// Docker lookups answered from the cache.
    pub docker_cache_hits: u64,
    /// Docker lookups whose config.v2.json was missing.
    pub docker_configs_missing: u64,
    /// Docker lookups whose config.v2.json was invalid.
    pub docker_configs_invalid: u64,
}

impl EnrichStats {
    /// Appends these counters in Prometheus text format (`logmind_agent_` prefix, counters end in `_total`).
    pub fn write_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(
                out,
                "# HELP logmind_agent_{name} {help}\n# TYPE logmind_agent_{name} {kind}"
            );
            for (labels, value) in samples {
                let _ = writeln!(out, "logmind_agent_{name}{labels} {value}");
            }
        };
        metric(
            "kube_synced",
            "gauge",
            "1 when the pod watch completed its initial list.",
            &[("", u64::from(self.kube_synced))],
        );
        metric(
            "pods_cached",
            "gauge",
            "Pods in the metadata cache.",
            &[("", self.pods_cached)],
        );
        metric(
            "kube_lookups_total",
            "counter",
            "Pod cache lookups by result.",
            &[
                ("{result=\"hit\"}", self.kube_hits),
                ("{result=\"miss\"}", self.kube_misses),
            ],
        );
        metric(
            "metadata_fallbacks_total",
            "counter",
            "Kubernetes files enriched from their path only.",
            &[("", self.kube_fallbacks)],
        );
        metric(
            "kube_watch_events_total",
            "counter",
            "Pod watch events applied.",
            &[("", self.kube_watch_events)],
        );
        metric(
            "kube_watch_errors_total",
            "counter",
            "Pod watch errors (retried with backoff).",
            &[("", self.kube_watch_errors)],
        );
        metric(
            "docker_config_lookups_total",
            "counter",
            "Docker config.v2.json lookups by result.",
            &[
                ("{result=\"read\"}", self.docker_configs_read),
                ("{result=\"cached\"}", self.docker_cache_hits),
                ("{result=\"missing\"}", self.docker_configs_missing),
                ("{result=\"invalid\"}", self.docker_configs_invalid),
            ],
        );
    }
}

/// How often [`Enricher::resolve`] polls the pod cache.
const RESOLVE_POLL: Duration = Duration::from_millis(20);

/// Combines the Kubernetes pod cache (if any), Docker configs and path-derived fallbacks.
#[derive(Debug)]
pub struct Enricher {
    kube: Option<Arc<KubeMetadata>>,
    docker: DockerMetadata,
    node: String,
    kube_fallbacks: AtomicU64,
}

impl Enricher {
    /// An enricher for `node`; `kube` is `None` when there is no Kubernetes API.
    pub fn new(kube: Option<Arc<KubeMetadata>>, node: String) -> Self {
        Enricher {
            kube,
            docker: DockerMetadata::new(node.clone()),
            node,
            kube_fallbacks: AtomicU64::new(0),
        }
    }

    /// Metadata of the file at `path`; `None` = the pod is not cached yet (wait or use [`Self::fallback_for`]).
    ///
    /// Docker lookups do a `stat` (and a small read when config.v2.json changed): call off the async reactor.
    /// Without a Kubernetes API a Kubernetes origin resolves at once to the fallback.
    pub fn meta_for(&self, path: &Path, origin: &Origin) -> Option<Meta> {
        match origin {
            Origin::Kubernetes { .. } => match &self.kube {
                Some(kube) => kube.get(origin),
                None => Some(self.fallback_for(origin)),
            },
            Origin::Docker { container_id } => match path.parent() {
                Some(dir) => Some(self.docker.lookup(dir, container_id)),
                None => Some(fallback_meta(origin, &self.node)),
            },
        }
    }

    /// Path-derived metadata (counted as a fallback for Kubernetes origins).
    pub fn fallback_for(&self, origin: &Origin) -> Meta {
        if matches!(origin, Origin::Kubernetes { .. }) {
            self.kube_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        fallback_meta(origin, &self.node)
    }

    /// Whether waiting for a Kubernetes origin can help: the pod watch is synced, or still starting and has not
    /// failed yet. When the API is down, waiting per file would only delay reading.
    pub fn worth_waiting(&self, origin: &Origin) -> bool {
        matches!(origin, Origin::Kubernetes { .. })
            && self.kube.as_ref().is_some_and(|k| k.worth_waiting())
    }

    /// Resolves metadata once for a file: [`Self::meta_for`], polled up to `pod_wait` while
    /// [`Self::worth_waiting`], then the fallback. Docker lookups run on a blocking thread.
    pub async fn resolve(
        self: &Arc<Self>,
        path: &Path,
        origin: &Origin,
        pod_wait: Duration,
    ) -> Meta {
        if let Origin::Docker { .. } = origin {
            let (this, path, origin2) = (Arc::clone(self), path.to_owned(), origin.clone());
            let looked_up =
                tokio::task::spawn_blocking(move || this.meta_for(&path, &origin2)).await;
            return match looked_up {
                Ok(Some(meta)) => meta,
                _ => fallback_meta(origin, &self.node),
            };
        }
        let deadline = Instant::now() + pod_wait;
        loop {
            if let Some(meta) = self.meta_for(path, origin) {
                return meta;
            }
            if Instant::now() >= deadline || !self.worth_waiting(origin) {
                return self.fallback_for(origin);
            }
            tokio::time::sleep(RESOLVE_POLL).await;
        }
    }

    /// The Kubernetes pod cache, if any.
    pub fn kube(&self) -> Option<&Arc<KubeMetadata>> {
        self.kube.as_ref()
    }

    /// The Docker config cache.
    pub fn docker(&self) -> &DockerMetadata {
        &self.docker
    }

    /// The node this agent runs on.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// All counters, for `/metrics`.
    pub fn stats(&self) -> EnrichStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = EnrichStats {
            kube_fallbacks: load(&self.kube_fallbacks),
            docker_configs_read: load(&self.docker.stats().configs_read),
            docker_cache_hits: load(&self.docker.stats().cache_hits),
            docker_configs_missing: load(&self.docker.stats().configs_missing),
            docker_configs_invalid: load(&self.docker.stats().configs_invalid),
            ..EnrichStats::default()
        };
        if let Some(kube) = &self.kube {
            let k = kube.stats();
            s.kube_synced = kube.is_synced();
            s.pods_cached = load(&k.pods_cached);
            s.kube_hits = load(&k.lookups_hit);
            s.kube_misses = load(&k.lookups_miss);
            s.kube_watch_events = load(&k.watch_events);
            s.kube_watch_errors = load(&k.watch_errors);
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn without_kube_kubernetes_files_resolve_at_once_to_the_workload_name() {
        let enricher = Enricher::new(None, "node-a".into());
        let path = PathBuf::from(
            "/host/var/log/pods/shop_backend-7d9f8c6b5-x2x4z_uid-1/app/1.log.20240102-150405.gz",
        );
        let origin = origin_from_path(&path).unwrap();
        let meta = enricher.meta_for(&path, &origin).unwrap();
        assert_eq!(
            meta,
            Meta {
                namespace: "shop".into(),
                app: "backend".into(),
                pod: "backend-7d9f8c6b5-x2x4z".into(),
                container: "app".into(),
                container_id: "uid-1/app".into(),
                restart: 1,
                node: "node-a".into(),
            }
        );
        assert!(!enricher.worth_waiting(&origin));
        assert_eq!(enricher.stats().kube_fallbacks, 1);
    }

    #[test]
    fn prometheus_text_has_one_sample_per_counter() {
        let stats = EnrichStats {
            kube_synced: true,
            pods_cached: 7,
            kube_hits: 3,
            docker_configs_invalid: 2,
            ..EnrichStats::default()
        };
        let mut text = String::new();
        stats.write_prometheus(&mut text);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples.len(), 11, "{text}");
        for line in [
            "logmind_agent_kube_synced 1",
            "logmind_agent_pods_cached 7",
            "logmind_agent_kube_lookups_total{result=\"hit\"} 3",
            "logmind_agent_docker_config_lookups_total{result=\"invalid\"} 2",
        ] {
            assert!(samples.contains(&line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn static_pod_fallback_strips_the_node_name() {
        let path = PathBuf::from(
            "/var/log/pods/kube-system_etcd-node-a_0f1e2d3c4b5a69788796a5b4c3d2e1f0/etcd/0.log",
        );
        let origin = origin_from_path(&path).unwrap();
        assert_eq!(fallback_meta(&origin, "node-a").app, "etcd");
        assert_eq!(fallback_meta(&origin, "node-b").app, "etcd-node-a");
        let uuid = PathBuf::from("/var/log/pods/kube-system_etcd-node-a_8f3b2c1a-9d4e/etcd/0.log");
        let origin = origin_from_path(&uuid).unwrap();
        assert_eq!(fallback_meta(&origin, "node-a").app, "etcd-node-a");
    }

    #[test]
    fn docker_fallback_uses_the_short_id() {
        let id = "ab".repeat(32);
        let meta = fallback_meta(
            &Origin::Docker {
                container_id: id.clone(),
            },
            "n",
        );
        assert_eq!(meta.namespace, "docker");
        assert_eq!(meta.app, "abababababab");
        assert_eq!(meta.container_id, id);
    }
}
