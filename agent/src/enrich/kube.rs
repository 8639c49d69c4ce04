//! Kubernetes pod metadata: ONE watch on the pods of this node (`spec.nodeName=<node>`) through kube's
//! `watcher` (list, then watch from the list's resourceVersion, with bookmarks, re-list on 410, backoff on every
//! error), cached in memory by namespace/name and by uid.
//!
//! Startup never blocks on the API: [`KubeMetadata::start`] spawns the watch and returns; while the API is down
//! the watcher keeps retrying (800 ms doubling to 30 s, jittered) and [`MetadataSource::get`] answers from
//! whatever is cached. Deleted pods stay cached for [`super::DELETED_GRACE`] so the last lines of a pod that just went
//! away still get its labels.

use super::pods::{name_key, PodCache, PodInfo};
use super::{EnrichError, Meta, MetadataSource, Origin};
use ::kube::api::Api;
use ::kube::runtime::watcher::{self, Event};
use ::kube::runtime::WatchStreamExt;
use ::kube::Client;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How often expired deleted pods are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Counters of [`KubeMetadata`], plain atomics.
#[derive(Debug, Default)]
pub struct KubeStats {
    /// Pods currently cached (including deleted ones within the grace period).
    pub pods_cached: AtomicU64,
    /// Lookups answered from the cache.
    pub lookups_hit: AtomicU64,
    /// Lookups that found nothing.
    pub lookups_miss: AtomicU64,
    /// Watch events applied (initial list items included).
    pub watch_events: AtomicU64,
    /// Watch errors; the watcher retries with backoff after each.
    pub watch_errors: AtomicU64,
    /// Initial lists started (1 at start, +1 per re-list after a desync).
    pub relists: AtomicU64,
}

/// Pod metadata of this node from the Kubernetes API, cached; implements [`MetadataSource`].
#[derive(Debug)]
pub struct KubeMetadata {
    node: String,
    cache: RwLock<PodCache>,
    stats: KubeStats,
    synced: AtomicBool,
    failed_before_sync: AtomicBool,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl KubeMetadata {
    /// Starts the pod watch for `node` in the background and returns at once (never waits for the API).
    ///
    /// Must be called inside a tokio runtime. The watch stops when the returned `Arc` is dropped.
    pub async fn start(client: Client, node: String) -> Result<Arc<Self>, EnrichError> {
        if !valid_node_name(&node) {
            return Err(EnrichError::InvalidNode { node });
        }
        let this = Arc::new(KubeMetadata {
            node: node.clone(),
            cache: RwLock::new(PodCache::default()),
            stats: KubeStats::default(),
            synced: AtomicBool::new(false),
            failed_before_sync: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        let api: Api<Pod> = Api::all(client);
        let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
        let stream = watcher::watcher(api, config).default_backoff();
        let weak = Arc::downgrade(&this);
        let handle = tokio::spawn(run_watch(stream, weak));
        *this.task.lock() = Some(handle.abort_handle());
        info!(node = %node, "kubernetes pod watch started");
        Ok(this)
    }

    /// Starts with a client for an API URL without authentication (plain HTTP; HTTPS gets kube's default
    /// TLS), e.g. `kubectl proxy`'s `http://127.0.0.1:8001` or a test server.
    pub async fn connect(url: &str, node: String) -> Result<Arc<Self>, EnrichError> {
        let uri = parse_display_err(url).map_err(|reason| EnrichError::InvalidUrl {
            url: url.to_owned(),
            reason,
        })?;
        let client =
            Client::try_from(::kube::Config::new(uri)).map_err(|source| EnrichError::Client {
                context: format!(" for {url}"),
                source,
            })?;
        Self::start(client, node).await
    }

    /// Starts with the in-cluster service account, else the kubeconfig (`KUBECONFIG`, `~/.kube/config`).
    pub async fn from_env(node: String) -> Result<Arc<Self>, EnrichError> {
        let client = Client::try_default()
            .await
            .map_err(|source| EnrichError::Client {
                context: " from the in-cluster environment or kubeconfig".to_owned(),
                source,
            })?;
        Self::start(client, node).await
    }

    /// The node whose pods are watched.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Counters.
    pub fn stats(&self) -> &KubeStats {
        &self.stats
    }

    /// Whether the initial pod list completed at least once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Whether waiting for a pod to appear can help: synced, or starting and not failed yet.
    pub fn worth_waiting(&self) -> bool {
        self.is_synced() || !self.failed_before_sync.load(Ordering::Acquire)
    }

    /// Waits until the initial list completed or `timeout` passed; returns [`Self::is_synced`].
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_synced() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_synced()
    }

    fn handle(&self, event: Result<Event<Pod>, watcher::Error>) {
        let now = Instant::now();
        let mut cache = self.cache.write();
        match event {
            Ok(Event::Init) => {
                self.stats.relists.fetch_add(1, Ordering::Relaxed);
                cache.listing = Some(HashSet::new());
            }
            Ok(Event::InitApply(pod)) => {
                if let Some(info) = PodInfo::from_pod(&pod) {
                    if let Some(seen) = cache.listing.as_mut() {
                        seen.insert(info.uid.clone());
                    }
                    cache.apply(info);
                }
                self.stats.watch_events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::InitDone) => {
                // Pods missing from the new list were deleted while we were not watching.
                if let Some(seen) = cache.listing.take() {
                    // by_uid, not by_name: an old instance of a re-created pod is only there.
                    let gone: HashSet<String> = cache
                        .by_uid
                        .values()
                        .filter(|i| !seen.contains(&i.uid))
                        .map(|i| i.uid.clone())
                        .collect();
                    for uid in gone {
                        cache.mark_deleted(uid, now);
                    }
                }
                if !self.synced.swap(true, Ordering::AcqRel) {
                    info!(node = %self.node, pods = cache.by_name.len(), "kubernetes pod watch synced");
                }
            }
            Ok(Event::Apply(pod)) => {
                if let Some(info) = PodInfo::from_pod(&pod) {
                    debug!(namespace = %info.namespace, pod = %info.name, app = %info.app, "pod applied");
                    cache.apply(info);
                }
                self.stats.watch_events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid {
                    cache.mark_deleted(uid, now);
                }
                self.stats.watch_events.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                let errors = self.stats.watch_errors.fetch_add(1, Ordering::Relaxed);
                if !self.is_synced() {
                    self.failed_before_sync.store(true, Ordering::Release);
                }
                if errors == 0 || errors.is_power_of_two() {
                    warn!(
                        node = %self.node,
                        error = %err,
                        errors = errors + 1,
                        "kubernetes pod watch failed, retrying with backoff; serving cached metadata"
                    );
                } else {
                    debug!(error = %err, "kubernetes pod watch failed again");
                }
            }
        }
        cache.prune(now);
        self.stats.pods_cached.store(cache.len(), Ordering::Relaxed);
    }

    fn prune(&self, now: Instant) {
        let mut cache = self.cache.write();
        cache.prune(now);
        self.stats.pods_cached.store(cache.len(), Ordering::Relaxed);
    }
}

impl Drop for KubeMetadata {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

impl MetadataSource for KubeMetadata {
    fn get(&self, origin: &Origin) -> Option<Meta> {
        let Origin::Kubernetes {
            namespace,
            pod,
            uid,
            container,
            restart,
        } = origin
        else {
            return None;
        };
        let found = {
            let cache = self.cache.read();
            // By uid first (exact instance); by name for a static pod whose mirror lacks the annotation.
            cache
                .by_uid
                .get(uid)
                .or_else(|| cache.by_name.get(&name_key(namespace, pod)))
                .cloned()
        };
        let Some(info) = found else {
            self.stats.lookups_miss.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        self.stats.lookups_hit.fetch_add(1, Ordering::Relaxed);
        Some(Meta {
            namespace: info.namespace.clone(),
            app: info.app.clone(),
            pod: info.name.clone(),
            container: container.clone(),
            container_id: format!("{uid}/{container}"),
            restart: *restart,
            node: info.node.clone().unwrap_or_else(|| self.node.clone()),
        })
    }
}

async fn run_watch<S>(stream: S, weak: Weak<KubeMetadata>)
where
    S: futures::Stream<Item = Result<Event<Pod>, watcher::Error>> + Send,
{
    let mut stream = std::pin::pin!(stream);
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            event = stream.next() => {
                let (Some(event), Some(this)) = (event, weak.upgrade()) else { break };
                this.handle(event);
            }
            _ = tick.tick() => {
                let Some(this) = weak.upgrade() else { break };
                this.prune(Instant::now());
            }
        }
    }
    debug!("kubernetes pod watch stopped");
}

/// `str::parse` with the error rendered, so the target type (`http::Uri`) is inferred, not named.
fn parse_display_err<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|err| err.to_string())
}

/// Node names are RFC 1123 subdomains; anything else would break the field selector.
fn valid_node_name(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= 253
        && node.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::enrich::DELETED_GRACE;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn detached() -> KubeMetadata {
        KubeMetadata {
            node: "node-a".into(),
            cache: RwLock::new(PodCache::default()),
            stats: KubeStats::default(),
            synced: AtomicBool::new(false),
            failed_before_sync: AtomicBool::new(false),
            task: Mutex::new(None),
        }
    }

    fn db0(uid: &str) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "db-0", "namespace": "db", "uid": uid, "labels": {"app": "postgres"}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "pg"}]}
        }))
    }

    fn origin(uid: &str) -> Origin {
        Origin::Kubernetes {
            namespace: "db".into(),
            pod: "db-0".into(),
            uid: uid.into(),
            container: "pg".into(),
            restart: 0,
        }
    }

    #[test]
    fn relist_expires_instances_whose_delete_was_missed() {
        let kube = detached();
        assert!(kube.worth_waiting());
        kube.handle(Err(watcher::Error::NoResourceVersion));
        assert!(
            !kube.worth_waiting(),
            "api failing before the first sync: do not wait"
        );
        kube.handle(Ok(Event::Init));
        kube.handle(Ok(Event::InitApply(db0("old"))));
        kube.handle(Ok(Event::InitDone));
        assert!(kube.is_synced() && kube.worth_waiting());
        // Re-created while disconnected: the old instance's DELETED event was never seen.
        kube.handle(Ok(Event::Apply(db0("new"))));
        kube.handle(Ok(Event::Init));
        kube.handle(Ok(Event::InitApply(db0("new"))));
        kube.handle(Ok(Event::InitDone));
        assert_eq!(
            kube.get(&origin("old")).unwrap().app,
            "postgres",
            "kept for the grace period"
        );
        kube.cache.write().prune(Instant::now() + DELETED_GRACE);
        assert!(!kube.cache.read().by_uid.contains_key("old"));
        // The old instance's files still resolve by name (same StatefulSet), the new one by uid.
        assert_eq!(kube.get(&origin("old")).unwrap().container_id, "old/pg");
        assert_eq!(kube.get(&origin("new")).unwrap().node, "node-a");
        assert_eq!(kube.stats().relists.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn node_names() {
        assert!(valid_node_name("node-a"));
        assert!(valid_node_name("ip-10-0-1-2.eu-west-1.compute.internal"));
        for bad in ["", "Node", "a,b", "a=b", "-a", "a..b", "a b"] {
            assert!(!valid_node_name(bad), "{bad}");
        }
    }
}
