//! `[agent]` and `[agent.kubernetes]`: what the per-node agent tails, how it batches and where it ships.

use crate::check::{Checker, RawSize, Zero};
use crate::extract::{ExtractBuilder, ExtractConfig, MultilineBuilder, MultilineConfig};
use crate::url::HttpUrl;
use logmind_protocol::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Placeholder in `agent.include` replaced by `agent.host_root` (or by nothing).
pub const HOST_ROOT_PLACEHOLDER: &str = "{host_root}";

/// `[agent]` as written in the file (strings not yet parsed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentBuilder {
    /// Indexer URL.
    pub server: String,
    /// Metrics/health listen address.
    pub listen: String,
    /// Agent id.
    pub id: Option<String>,
    /// Host filesystem mount.
    pub host_root: Option<String>,
    /// Globs to tail.
    pub include: Vec<String>,
    /// Globs to skip.
    pub exclude: Vec<String>,
    /// Where to start in files never seen before.
    pub read_from: String,
    /// File poll interval.
    pub poll_interval: String,
    /// File-system notifications (false: poll only).
    pub notify: bool,
    /// Batch size limit.
    pub batch_max_bytes: RawSize,
    /// Batch time limit.
    pub batch_max_wait: String,
    /// Spool limit.
    pub spool_max_bytes: RawSize,
    /// Event size limit.
    pub max_event_bytes: RawSize,
    /// Partial multi-line event timeout.
    pub multiline_timeout: String,
    /// Deleted-file grace.
    pub deleted_file_grace: String,
    /// Retry backoff ceiling.
    pub retry_max_backoff: String,
    /// `[agent.kubernetes]`.
    pub kubernetes: KubernetesBuilder,
    /// `[agent.extract]`.
    pub extract: ExtractBuilder,
    /// `[agent.multiline]`.
    pub multiline: MultilineBuilder,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder {
            server: "http://127.0.0.1:3100".into(),
            listen: "127.0.0.1:3101".into(),
            id: None,
            host_root: None,
            include: vec![
                "{host_root}/var/log/pods/*/*/*.log*".into(),
                "{host_root}/var/lib/docker/containers/*/*-json.log*".into(),
            ],
            exclude: Vec::new(),
            read_from: "beginning".into(),
            poll_interval: "250ms".into(),
            notify: true,
            batch_max_bytes: "1MiB".into(),
            batch_max_wait: "200ms".into(),
            spool_max_bytes: "1GiB".into(),
            max_event_bytes: "256KiB".into(),
            multiline_timeout: "1s".into(),
            deleted_file_grace: "60s".into(),
            retry_max_backoff: "30s".into(),
            kubernetes: KubernetesBuilder::default(),
            extract: ExtractBuilder::default(),
            multiline: MultilineBuilder::default(),
        }
    }
}

/// `enabled` as written: a word or a boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawMode {
    /// `true` / `false`.
    Bool(bool),
    /// `"auto"`, `"on"`, `"off"`.
    Text(String),
}

/// `[agent.kubernetes]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesBuilder {
    /// Metadata lookups.
    pub enabled: RawMode,
    /// Wait for pod metadata.
    pub pod_wait: String,
}

impl Default for KubernetesBuilder {
    fn default() -> Self {
        KubernetesBuilder {
            enabled: RawMode::Text("auto".into()),
            pod_wait: "2s".into(),
        }
    }
}

/// Whether the agent asks the Kubernetes API for pod labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesMode {
    /// Use the API when running in a cluster (service account present), else not.
    Auto,
    /// Always use it; failing to reach the API is an error.
    On,
    /// Never use it (names come from log paths only).
    Off,
}

/// Where the agent starts reading a file it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// From the first byte (nothing already written is lost).
    Beginning,
    /// From the current end (only new lines).
    End,
}

/// Validated `[agent.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubernetesConfig {
    /// Metadata lookups: auto, on or off.
    pub enabled: KubernetesMode,
    /// How long a line of a new pod waits for its metadata before it is shipped without labels.
    pub pod_wait: HumanDuration,
}

/// Validated `[agent]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentConfig {
    /// Indexer base URL batches are posted to.
    pub server: HttpUrl,
    /// Address of the agent's own `/metrics` and `/health`.
    pub listen: SocketAddr,
    /// Stable agent id sent as `X-Logmind-Agent` (default: the node name).
    pub id: String,
    /// Where the host filesystem is mounted (e.g. `/host` in a DaemonSet); none = `/`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::ser_opt_path"
    )]
    pub host_root: Option<PathBuf>,
    /// Globs of files to tail, may contain `{host_root}`; use [`AgentConfig::include_globs`].
    pub include: Vec<String>,
    /// Globs of files never tailed (matched against the expanded path).
    pub exclude: Vec<String>,
    /// Where to start in a file without checkpoint.
    pub read_from: ReadFrom,
    /// How often files are checked for new data, rotation and new files.
    pub poll_interval: HumanDuration,
    /// Wake on file-system notifications (inotify) between polls; false polls only (file systems whose changes
    /// inotify does not report, such as NFS).
    pub notify: bool,
    /// A batch is sent once its NDJSON reaches this size.
    pub batch_max_bytes: ByteSize,
    /// …or once its first line is this old.
    pub batch_max_wait: HumanDuration,
    /// Unacknowledged batches kept on disk while the indexer is unreachable; above it tailing pauses.
    pub spool_max_bytes: ByteSize,
    /// Longer events (after multi-line merging) are truncated to this size.
    pub max_event_bytes: ByteSize,
    /// A multi-line event with no new line for this long is emitted as is.
    pub multiline_timeout: HumanDuration,
    /// A deleted file is still read for this long (0 = close at once).
    pub deleted_file_grace: HumanDuration,
    /// Ceiling of the exponential retry backoff toward the indexer.
    pub retry_max_backoff: HumanDuration,
    /// Kubernetes metadata.
    pub kubernetes: KubernetesConfig,
    /// Identifier extraction.
    pub extract: ExtractConfig,
    /// Multi-line merging.
    pub multiline: MultilineConfig,
}

impl Default for AgentConfig {
    /// The built-in defaults for a node named `localhost` (so the id is `localhost`).
    fn default() -> Self {
        AgentBuilder::default()
            .validate(&mut Checker::default(), Some("localhost"))
            .expect("built-in agent defaults are valid (tested)")
    }
}

impl AgentConfig {
    /// `include` with `{host_root}` replaced by `host_root` (without trailing `/`), or by `""` when unset.
    pub fn include_globs(&self) -> Vec<String> {
        let root = self
            .host_root
            .as_ref()
            .map(|p| p.to_string_lossy().trim_end_matches('/').to_string())
            .unwrap_or_default();
        self.include
            .iter()
            .map(|g| g.replace(HOST_ROOT_PLACEHOLDER, &root))
            .collect()
    }
}

fn valid_id_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.' | ':')
}

/// The default agent id for a node: the node name with characters unfit for an HTTP header replaced by `-`.
pub fn default_agent_id(node_name: &str) -> String {
    node_name
        .chars()
        .map(|c| if valid_id_char(c) { c } else { '-' })
        .collect()
}

impl AgentBuilder {
    /// Parses and checks every value, recording each problem in `c`; `node_name` gives the default id.
    pub fn validate(&self, c: &mut Checker, node_name: Option<&str>) -> Option<AgentConfig> {
        let server = HttpUrl::check(c, "agent.server", &self.server);
        let listen = c.socket_addr("agent.listen", &self.listen, "127.0.0.1:3101");
        let id = match &self.id {
            Some(id) if id.is_empty() || !id.chars().all(valid_id_char) => {
                c.invalid("agent.id", id, "must be non-empty and use only letters, digits, '-', '_', '.', ':' (e.g. \"node-1\")");
                None
            }
            Some(id) => Some(id.clone()),
            None => node_name.map(default_agent_id),
        };
        let host_root = match &self.host_root {
            Some(r) if r.trim().is_empty() => {
                c.invalid("agent.host_root", r, "must not be empty (remove the key to read the host paths directly, or use e.g. \"/host\")");
                None
            }
            Some(r) => Some(Some(PathBuf::from(r))),
            None => Some(None),
        };
        let mut globs_ok = true;
        if self.include.is_empty() {
            c.push(crate::ConfigError::invalid(
                "agent.include",
                "[]",
                "no file would be tailed (list at least one glob, e.g. \"{host_root}/var/log/pods/*/*/*.log*\")",
            ));
            globs_ok = false;
        }
        for (key, list) in [
            ("agent.include", &self.include),
            ("agent.exclude", &self.exclude),
        ] {
            for (i, g) in list.iter().enumerate() {
                if g.trim().is_empty() {
                    c.invalid(
                        &format!("{key}[{i}]"),
                        g,
                        "empty glob (remove it or write a pattern like \"/var/log/*.log\")",
                    );
                    globs_ok = false;
                }
            }
        }
        let read_from = c.one_of(
            "agent.read_from",
            &self.read_from,
            &[("beginning", ReadFrom::Beginning), ("end", ReadFrom::End)],
        );
        let poll_interval = c.duration("agent.poll_interval", &self.poll_interval, Zero::Refuse);
        let batch_max_bytes = c.size("agent.batch_max_bytes", &self.batch_max_bytes, Zero::Refuse);
        let batch_max_wait = c.duration("agent.batch_max_wait", &self.batch_max_wait, Zero::Refuse);
        let spool_max_bytes = c.size("agent.spool_max_bytes", &self.spool_max_bytes, Zero::Refuse);
        let max_event_bytes = c.size("agent.max_event_bytes", &self.max_event_bytes, Zero::Refuse);
        let multiline_timeout = c.duration(
            "agent.multiline_timeout",
            &self.multiline_timeout,
            Zero::Refuse,
        );
        let deleted_file_grace = c.duration(
            "agent.deleted_file_grace",
            &self.deleted_file_grace,
            Zero::Allow,
        );
        let retry_max_backoff = c.duration(
            "agent.retry_max_backoff",
            &self.retry_max_backoff,
            Zero::Refuse,
        );
        let kubernetes = self.kubernetes.validate(c);
        let extract = self.extract.validate(c);
        let multiline = self.multiline.validate(c);

        if let (Some(ev), Some(batch)) = (max_event_bytes, batch_max_bytes) {
            if ev > batch {
                c.invalid(
                    "agent.max_event_bytes",
                    &ev.to_string(),
                    format!("larger than agent.batch_max_bytes \"{batch}\" (an event must fit in a batch: lower it or raise agent.batch_max_bytes)"),
                );
            }
        }
        if let (Some(spool), Some(batch)) = (spool_max_bytes, batch_max_bytes) {
            if spool < batch {
                c.invalid(
                    "agent.spool_max_bytes",
                    &spool.to_string(),
                    format!("smaller than agent.batch_max_bytes \"{batch}\" (the spool must hold at least one batch)"),
                );
            }
        }
        Some(AgentConfig {
            server: server?,
            listen: listen?,
            id: id?,
            host_root: host_root?,
            include: globs_ok.then(|| self.include.clone())?,
            exclude: self.exclude.clone(),
            read_from: read_from?,
            poll_interval: poll_interval?,
            notify: self.notify,
            batch_max_bytes: batch_max_bytes?,
            batch_max_wait: batch_max_wait?,
            spool_max_bytes: spool_max_bytes?,
            max_event_bytes: max_event_bytes?,
            multiline_timeout: multiline_timeout?,
            deleted_file_grace: deleted_file_grace?,
            retry_max_backoff: retry_max_backoff?,
            kubernetes: kubernetes?,
            extract: extract?,
            multiline: multiline?,
        })
    }
}

impl KubernetesBuilder {
    fn validate(&self, c: &mut Checker) -> Option<KubernetesConfig> {
        let enabled = match &self.enabled {
            RawMode::Bool(true) => Some(KubernetesMode::On),
            RawMode::Bool(false) => Some(KubernetesMode::Off),
            RawMode::Text(s) => c.one_of(
                "agent.kubernetes.enabled",
                s,
                &[
                    ("auto", KubernetesMode::Auto),
                    ("on", KubernetesMode::On),
                    ("off", KubernetesMode::Off),
                    ("true", KubernetesMode::On),
                    ("false", KubernetesMode::Off),
                ],
            ),
        };
        let pod_wait = c.duration("agent.kubernetes.pod_wait", &self.pod_wait, Zero::Allow);
        Some(KubernetesConfig {
            enabled: enabled?,
            pod_wait: pod_wait?,
        })
    }
}
