//! [`AgentOptions`]: everything `run` needs, with defaults matching ARCHITECTURE.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::parse::ExtractOptions;

/// Whether to use the Kubernetes API for pod metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeMode {
    /// Use it when in-cluster environment or a kubeconfig is present, else run without.
    #[default]
    Auto,
    /// Always use it (start fails when no client can be built).
    On,
    /// Never use it: metadata comes from paths and Docker configs only.
    Off,
}

/// Everything the agent needs to run; see the field docs for defaults.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Indexer base URL, e.g. `http://127.0.0.1:3100`.
    pub server: String,
    /// Directory of the checkpoint and spool.
    pub data_dir: PathBuf,
    /// Prefix of the default log locations (e.g. `/host`).
    pub host_root: Option<PathBuf>,
    /// Node this agent runs on.
    pub node_name: String,
    /// Stable agent id (sent as `X-Logmind-Agent`).
    pub agent_id: String,
    /// Include globs; empty = the defaults under `host_root`.
    pub include: Vec<String>,
    /// Exclude globs.
    pub exclude: Vec<String>,
    /// Listen address of `/metrics` and `/health`; `None` = not served.
    pub listen: Option<SocketAddr>,
    /// Files found at the first start are read from their end instead of their beginning.
    pub read_from_end: bool,
    /// Rescan / poll interval (safety net behind file-system notifications).
    pub poll_interval: Duration,
    /// Use file-system notifications; false polls only.
    pub notify: bool,
    /// A batch is sealed when its NDJSON body reaches this many bytes.
    pub batch_max_bytes: usize,
    /// A non-empty batch is sealed after this long.
    pub batch_max_wait: Duration,
    /// Reading stops while the spool holds this many bytes.
    pub spool_max_bytes: u64,
    /// Longest event message kept; longer ones are truncated and counted.
    pub max_event_bytes: usize,
    /// How long an unfinished partial or multi-line event waits for its next line.
    pub multiline_timeout: Duration,
    /// How long a deleted (or rotated-away) file is held open to be drained before it is given up.
    pub deleted_file_grace: Duration,
    /// Kubernetes API use.
    pub kubernetes: KubeMode,
    /// How long a file of a pod not yet in the cache waits for its metadata before the path fallback is used.
    pub pod_wait: Duration,
    /// For tests: talk to a Kubernetes API at this URL without TLS or auth.
    pub kube_api_url: Option<String>,
    /// Identifier and field extraction.
    pub extract: ExtractOptions,
    /// Bearer token sent on ingest.
    pub token: Option<String>,
    /// Longest wait between two delivery attempts of a batch.
    pub retry_max_backoff: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            server: "http://127.0.0.1:3100".to_string(),
            data_dir: PathBuf::from("/var/lib/logmind-agent"),
            host_root: None,
            node_name: String::new(),
            agent_id: String::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 3101))),
            read_from_end: false,
            notify: true,
            poll_interval: Duration::from_secs(1),
            batch_max_bytes: 1 << 20,
            batch_max_wait: Duration::from_millis(200),
            spool_max_bytes: 1 << 30,
            max_event_bytes: 256 * 1024,
            multiline_timeout: Duration::from_secs(1),
            deleted_file_grace: Duration::from_secs(60),
            kubernetes: KubeMode::Auto,
            pod_wait: Duration::from_secs(2),
            kube_api_url: None,
            extract: ExtractOptions::default(),
            token: None,
            retry_max_backoff: Duration::from_secs(30),
        }
    }
}

impl AgentOptions {
    /// The include globs in effect: the configured ones, else the two default locations under `host_root`.
    pub fn effective_include(&self) -> Vec<String> {
        if !self.include.is_empty() {
            return self.include.clone();
        }
        let root = self
            .host_root
            .as_ref()
            .map(|p| p.to_string_lossy().trim_end_matches('/').to_string())
            .unwrap_or_default();
        vec![
            format!("{root}/var/log/pods/*/*/*.log*"),
            format!("{root}/var/lib/docker/containers/*/*-json.log*"),
        ]
    }
}
