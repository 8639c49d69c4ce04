//! Docker metadata from `<containers>/<id>/config.v2.json`: container name, compose project (→ namespace) and
//! compose service (→ app). Cached per container id and re-read when the file's mtime or size changes. A missing
//! or unreadable file gives the path-derived fallback; a garbage file is counted, logged once per change and
//! also falls back.

use super::{fallback_meta, Meta, MetadataSource, Origin};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use tracing::{debug, warn};

/// Name of Docker's per-container configuration file.
pub const CONFIG_FILE: &str = "config.v2.json";
/// Largest config.v2.json read (real ones are a few KiB to a few hundred KiB).
const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// Entries kept before the cache is cleared (containers come and go; this bounds memory).
const MAX_CACHED: usize = 16_384;
/// Compose label carrying the project name (→ namespace).
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Compose label carrying the service name (→ app).
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The few fields of config.v2.json that matter here.
#[derive(Debug, Deserialize)]
struct ConfigV2 {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "RestartCount", default)]
    restart_count: Option<u32>,
    #[serde(rename = "Config", default)]
    config: Option<ContainerConfig>,
}

#[derive(Debug, Deserialize)]
struct ContainerConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
}

/// Parses the bytes of a config.v2.json into metadata for container `id` on `node`.
pub fn parse_config(bytes: &[u8], id: &str, node: &str) -> Result<Meta, serde_json::Error> {
    let cfg: ConfigV2 = serde_json::from_slice(bytes)?;
    let fallback = fallback_meta(
        &Origin::Docker {
            container_id: id.to_owned(),
        },
        node,
    );
    let name = cfg
        .name
        .as_deref()
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or(fallback.container);
    let labels = cfg.config.and_then(|c| c.labels).unwrap_or_default();
    let label = |key: &str| labels.get(key).filter(|v| !v.is_empty()).cloned();
    Ok(Meta {
        namespace: label(COMPOSE_PROJECT).unwrap_or_else(|| "docker".to_owned()),
        app: label(COMPOSE_SERVICE).unwrap_or_else(|| name.clone()),
        pod: name.clone(),
        container: name,
        container_id: id.to_owned(),
        restart: cfg.restart_count.unwrap_or(0),
        node: node.to_owned(),
    })
}

/// Counters of [`DockerMetadata`], plain atomics.
#[derive(Debug, Default)]
pub struct DockerStats {
    /// config.v2.json files read and parsed.
    pub configs_read: AtomicU64,
    /// Lookups answered from the cache (file unchanged).
    pub cache_hits: AtomicU64,
    /// Lookups whose config.v2.json was missing or unreadable (fallback used).
    pub configs_missing: AtomicU64,
    /// Lookups whose config.v2.json was not valid JSON of the expected shape (fallback used).
    pub configs_invalid: AtomicU64,
}

#[derive(Debug)]
struct Cached {
    mtime: Option<SystemTime>,
    len: u64,
    meta: Meta,
}

/// Docker container metadata, read from config.v2.json next to the log file and cached per container id.
#[derive(Debug)]
pub struct DockerMetadata {
    node: String,
    containers_dir: Option<PathBuf>,
    cache: Mutex<HashMap<String, Cached>>,
    stats: DockerStats,
}

impl DockerMetadata {
    /// Metadata source for `node`; lookups go through [`DockerMetadata::lookup`] with the log file's directory.
    pub fn new(node: impl Into<String>) -> Self {
        DockerMetadata {
            node: node.into(),
            containers_dir: None,
            cache: Mutex::new(HashMap::new()),
            stats: DockerStats::default(),
        }
    }

    /// Also answer [`MetadataSource::get`] by looking under `<containers_dir>/<id>/`.
    pub fn with_containers_dir(mut self, containers_dir: impl Into<PathBuf>) -> Self {
        self.containers_dir = Some(containers_dir.into());
        self
    }

    /// Counters.
    pub fn stats(&self) -> &DockerStats {
        &self.stats
    }

    /// Metadata of container `id` whose files live in `container_dir` (blocking: one `stat`, and a small read
    /// when the file changed). Never fails: a missing or invalid config gives the fallback.
    pub fn lookup(&self, container_dir: &Path, id: &str) -> Meta {
        let path = container_dir.join(CONFIG_FILE);
        let stat = match std::fs::metadata(&path) {
            Ok(stat) => stat,
            Err(err) => {
                debug!(file = %path.display(), error = %err, "docker config not readable, using fallback");
                self.stats.configs_missing.fetch_add(1, Ordering::Relaxed);
                self.cache.lock().remove(id);
                return self.fallback(id);
            }
        };
        let mtime = stat.modified().ok();
        if let Some(hit) = self.cache.lock().get(id) {
            if hit.mtime.is_some() && hit.mtime == mtime && hit.len == stat.len() {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return hit.meta.clone();
            }
        }
        let meta = match read_capped(&path) {
            Err(err) => {
                debug!(file = %path.display(), error = %err, "docker config not readable, using fallback");
                self.stats.configs_missing.fetch_add(1, Ordering::Relaxed);
                return self.fallback(id);
            }
            Ok(bytes) => match parse_config(&bytes, id, &self.node) {
                Ok(meta) => {
                    self.stats.configs_read.fetch_add(1, Ordering::Relaxed);
                    meta
                }
                Err(err) => {
                    warn!(file = %path.display(), error = %err, "docker config is not valid json, using fallback");
                    self.stats.configs_invalid.fetch_add(1, Ordering::Relaxed);
                    self.fallback(id)
                }
            },
        };
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            id.to_owned(),
            Cached {
                mtime,
                len: stat.len(),
                meta: meta.clone(),
            },
        );
        meta
    }

    fn fallback(&self, id: &str) -> Meta {
        fallback_meta(
            &Origin::Docker {
                container_id: id.to_owned(),
            },
            &self.node,
        )
    }
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl MetadataSource for DockerMetadata {
    fn get(&self, origin: &Origin) -> Option<Meta> {
        match (origin, &self.containers_dir) {
            (Origin::Docker { container_id }, Some(dir)) => {
                Some(self.lookup(&dir.join(container_id), container_id))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "3f4e9a1b2c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

    /// Abridged from a real `docker compose up` container's config.v2.json (Docker 24).
    fn real_config(name: &str, labels: &str) -> String {
        format!(
            r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"RemovalInProgress":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2024-05-01T10:00:00.123456789Z","FinishedAt":"0001-01-01T00:00:00Z","Health":null}},"ID":"{ID}","Created":"2024-05-01T09:59:59.987654321Z","Managed":false,"Path":"/docker-entrypoint.sh","Args":["nginx","-g","daemon off;"],"Config":{{"Hostname":"3f4e9a1b2c5d","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{{"80/tcp":{{}}}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.25.4"],"Cmd":["nginx","-g","daemon off;"],"Image":"nginx:1.25","Volumes":null,"WorkingDir":"","Entrypoint":["/docker-entrypoint.sh"],"OnBuild":null,"Labels":{labels},"StopSignal":"SIGQUIT"}},"Image":"sha256:a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6","ImageManifest":null,"NetworkSettings":{{"Bridge":"","SandboxID":"","HairpinMode":false,"Networks":{{}}}},"LogPath":"/var/lib/docker/containers/{ID}/{ID}-json.log","Name":"{name}","Driver":"overlay2","OS":"linux","RestartCount":2,"HasBeenStartedBefore":true,"HasBeenManuallyStopped":false,"MountPoints":{{}},"SecretReferences":null,"ConfigReferences":null,"AppArmorProfile":"docker-default","HostnamePath":"/var/lib/docker/containers/{ID}/hostname","HostsPath":"/var/lib/docker/containers/{ID}/hosts","ShmPath":"","ResolvConfPath":"/var/lib/docker/containers/{ID}/resolv.conf","SeccompProfile":"","NoNewPrivileges":false,"LocalLogCacheMeta":{{"HaveNotifyEnabled":false}}}}"#
        )
    }

    #[test]
    fn compose_labels_give_namespace_and_app() {
        let labels = r#"{"com.docker.compose.config-hash":"9a1b","com.docker.compose.container-number":"1","com.docker.compose.oneoff":"False","com.docker.compose.project":"shop","com.docker.compose.project.working_dir":"/srv/shop","com.docker.compose.service":"web","com.docker.compose.version":"2.24.6","maintainer":"NGINX Docker Maintainers"}"#;
        let meta =
            parse_config(real_config("/shop-web-1", labels).as_bytes(), ID, "node-a").unwrap();
        assert_eq!(meta.namespace, "shop");
        assert_eq!(meta.app, "web");
        assert_eq!(meta.container, "shop-web-1");
        assert_eq!(meta.pod, "shop-web-1");
        assert_eq!(meta.container_id, ID);
        assert_eq!(meta.restart, 2);
        assert_eq!(meta.node, "node-a");
    }

    #[test]
    fn without_compose_namespace_is_docker_and_app_the_name() {
        for labels in [r#"{"maintainer":"x"}"#, "{}", "null"] {
            let meta =
                parse_config(real_config("/quirky_turing", labels).as_bytes(), ID, "n").unwrap();
            assert_eq!(meta.namespace, "docker");
            assert_eq!(meta.app, "quirky_turing");
            assert_eq!(meta.container, "quirky_turing");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_config(b"{not json", ID, "n").is_err());
        assert!(parse_config(b"[1,2]", ID, "n").is_err());
        assert!(parse_config(b"", ID, "n").is_err());
    }
}
