//! The ground-truth manifest: what was written, counted the way the agent must count it.
//!
//! Counting rules: an *event* is what the agent must produce as one record (a multi-line traceback is
//! one event); `lines` are the application's lines (a traceback of 6 lines counts 6); `file_lines`
//! are the physical lines in the files (a long line split into `P`/`F` pieces counts each piece);
//! `bytes` are the bytes of the log files, framing included, before any gzip. Totals and breakdowns
//! count every event ever written, including events later deleted by keep-N rotation; those are also
//! listed in [`Deleted`] so retained = total − deleted.

use crate::fleet::{Container, Service};
use logmind_protocol::Level;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts keyed by a name.
pub type Counts = BTreeMap<String, u64>;

/// The manifest file (JSON). Deserialize it with `serde_json::from_slice::<Manifest>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// Format version of this manifest (1).
    pub version: u32,
    /// Seed the workload was generated from.
    pub seed: u64,
    /// `batch` or `continuous`.
    pub mode: String,
    /// False while a continuous run is still writing (intermediate manifests).
    pub complete: bool,
    /// Node name used in the pod list.
    pub node_name: String,
    /// Timestamp (ns) of the first event.
    pub start_ns: i64,
    /// Timestamp (ns) of the last physical line written.
    pub end_ns: i64,
    /// CRI/Docker maximum line piece length used for `P`/`F` splitting.
    pub max_line_bytes: usize,
    /// Overall totals.
    pub totals: Totals,
    /// Events by namespace.
    pub by_namespace: Counts,
    /// Events by app.
    pub by_app: Counts,
    /// Events by level (`""` = no level).
    pub by_level: Counts,
    /// Events by namespace → app → level.
    pub by_namespace_app_level: BTreeMap<String, BTreeMap<String, Counts>>,
    /// Every container (Kubernetes pod container or Docker container).
    pub containers: Vec<ContainerTruth>,
    /// Requests in start order (at most `GenerateOptions::manifest_requests` of them). In batch mode
    /// every request is complete; a continuous run may end with requests still in flight.
    pub requests: Vec<RequestTruth>,
    /// Per user id: the events whose text carries that `user_id`.
    pub users: BTreeMap<String, UserTruth>,
    /// Error templates over events of level `error` or `fatal`, most frequent first.
    pub error_templates: Vec<TemplateTruth>,
    /// Log files present at the end (current, rotated, gzipped), sorted by path.
    pub files: Vec<FileTruth>,
    /// Other files written (`config.v2.json`, `k8s-pods.json`), relative to the root.
    pub aux_files: Vec<String>,
    /// What keep-N rotation deleted.
    pub deleted: Deleted,
}

/// Overall totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Events (multi-line events count once).
    pub events: u64,
    /// Application lines.
    pub lines: u64,
    /// Physical lines in the files (each `P`/`F` or Docker piece counts).
    pub file_lines: u64,
    /// Bytes written to log files (uncompressed, framing included).
    pub bytes: u64,
    /// Multi-line events (tracebacks, stack traces, panics).
    pub multiline_events: u64,
    /// Events whose line was longer than `max_line_bytes` (split into pieces).
    pub long_events: u64,
    /// Events of level `error` or `fatal`.
    pub error_events: u64,
    /// Requests started.
    pub requests: u64,
    /// Requests with an error or fatal event.
    pub requests_with_error: u64,
    /// Kubernetes container restarts (each adds an `N.log`).
    pub restarts: u64,
    /// File rotations performed.
    pub rotations: u64,
}

/// One event as the agent must report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventRef {
    /// Global sequence number in write order (0-based).
    pub seq: u64,
    /// Timestamp (ns) of the event's first line.
    pub ts: i64,
    /// Namespace.
    pub namespace: String,
    /// App.
    pub app: String,
    /// Pod name (Kubernetes) or empty.
    pub pod: String,
    /// Container name (Docker: the container name).
    pub container: String,
    /// Level (`""` = none).
    pub level: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Request id carried in the text, or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// User id carried in the text, or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    /// Number of application lines.
    pub lines: u32,
    /// First line of the message.
    pub first_line: String,
}

/// One container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerTruth {
    /// `kubernetes` or `docker`.
    pub runtime: String,
    /// Namespace.
    pub namespace: String,
    /// App.
    pub app: String,
    /// Pod name or empty.
    pub pod: String,
    /// Pod uid or empty.
    pub pod_uid: String,
    /// Container name.
    pub container: String,
    /// 64-hex container id.
    pub container_id: String,
    /// Restarts (Kubernetes), i.e. the highest `N` of `N.log`.
    pub restarts: u32,
    /// Log directory relative to the root.
    pub log_dir: String,
    /// Events written.
    pub events: u64,
}

/// One request across services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestTruth {
    /// Request id.
    pub request_id: String,
    /// User id.
    pub user_id: String,
    /// Distinct apps in order of first appearance.
    pub apps: Vec<String>,
    /// Whether an event of level error/fatal occurred.
    pub has_error: bool,
    /// Its events in time order.
    pub events: Vec<EventRef>,
}

/// One user's activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserTruth {
    /// Events carrying this user id.
    pub events: u64,
    /// By app.
    pub by_app: Counts,
    /// By level.
    pub by_level: Counts,
}

/// One error template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateTruth {
    /// Template text, `<*>` for each variable token.
    pub template: String,
    /// Error/fatal events carrying it.
    pub count: u64,
    /// By app.
    pub by_app: Counts,
    /// By level (`error`, `fatal`).
    pub by_level: Counts,
    /// First line of the first event carrying it.
    pub example: String,
}

/// One log file present at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileTruth {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// `cri` or `docker`.
    pub format: String,
    /// Gzip-compressed.
    pub compressed: bool,
    /// Namespace of its container.
    pub namespace: String,
    /// App of its container.
    pub app: String,
    /// Events it holds.
    pub events: u64,
    /// Application lines it holds.
    pub lines: u64,
    /// Physical lines (after decompression).
    pub file_lines: u64,
    /// Bytes (after decompression).
    pub bytes: u64,
}

/// What keep-N rotation deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deleted {
    /// Events deleted.
    pub events: u64,
    /// Application lines deleted.
    pub lines: u64,
    /// Physical lines deleted.
    pub file_lines: u64,
    /// Bytes deleted (uncompressed).
    pub bytes: u64,
    /// Files deleted, relative to the root.
    pub files: Vec<String>,
    /// Deleted events by app.
    pub by_app: Counts,
    /// Deleted events by level.
    pub by_level: Counts,
    /// The deleted events (batch mode only; continuous runs record the counts above).
    pub list: Vec<EventRef>,
}

/// The level's manifest name (`""` for none).
pub fn level_name(level: Option<Level>) -> &'static str {
    level.map(Level::as_str).unwrap_or("")
}

/// Dense per-event counters, turned into a [`Manifest`] at the end.
#[derive(Debug, Clone)]
pub struct Tally {
    n_services: usize,
    n_templates: usize,
    /// `[service][level slot]`, slot 0 = none, 1..=6 = trace..fatal.
    pub by_service_level: Vec<u64>,
    /// `[user][service][level slot]`.
    pub users: Vec<u64>,
    /// `[template][service][level slot]`.
    pub templates: Vec<u64>,
    /// First instance of each template.
    pub examples: Vec<String>,
    /// Totals.
    pub totals: Totals,
}

/// The dense slot of a level.
pub fn slot(level: Option<Level>) -> usize {
    level.map(|l| l as usize + 1).unwrap_or(0)
}

fn slot_level(slot: usize) -> Option<Level> {
    slot.checked_sub(1).and_then(|i| Level::ALL.get(i).copied())
}

impl Tally {
    /// Empty counters for this fleet.
    pub fn new(n_services: usize, n_users: usize, n_templates: usize) -> Tally {
        Tally {
            n_services,
            n_templates,
            by_service_level: vec![0; n_services * 7],
            users: vec![0; n_users * n_services * 7],
            templates: vec![0; n_templates * n_services * 7],
            examples: vec![String::new(); n_templates],
            totals: Totals::default(),
        }
    }

    /// Makes room for `n` templates (true groups are discovered as framings appear).
    pub fn grow_templates(&mut self, n: usize) {
        if n > self.n_templates {
            self.n_templates = n;
            self.templates.resize(n * self.n_services * 7, 0);
            self.examples.resize(n, String::new());
        }
    }

    /// Counts one event.
    pub fn count(
        &mut self,
        service: usize,
        level: Option<Level>,
        user: Option<usize>,
        template: Option<usize>,
    ) {
        let s = slot(level);
        self.by_service_level[service * 7 + s] += 1;
        if let Some(u) = user {
            self.users[(u * self.n_services + service) * 7 + s] += 1;
        }
        if let Some(t) = template {
            self.grow_templates(t + 1);
            self.templates[(t * self.n_services + service) * 7 + s] += 1;
        }
    }

    /// Fills the count sections of `m` from the counters.
    pub fn fill(
        &self,
        services: &[Service],
        user_ids: &[String],
        template_texts: &[String],
        m: &mut Manifest,
    ) {
        m.totals = self.totals.clone();
        m.by_namespace.clear();
        m.by_app.clear();
        m.by_level.clear();
        m.by_namespace_app_level.clear();
        for (si, s) in services.iter().enumerate() {
            for sl in 0..7 {
                let n = self.by_service_level[si * 7 + sl];
                if n == 0 {
                    continue;
                }
                let lvl = level_name(slot_level(sl)).to_string();
                *m.by_namespace.entry(s.namespace.to_string()).or_default() += n;
                *m.by_app.entry(s.app.to_string()).or_default() += n;
                *m.by_level.entry(lvl.clone()).or_default() += n;
                *m.by_namespace_app_level
                    .entry(s.namespace.to_string())
                    .or_default()
                    .entry(s.app.to_string())
                    .or_default()
                    .entry(lvl)
                    .or_default() += n;
            }
        }
        m.users.clear();
        for (ui, uid) in user_ids.iter().enumerate() {
            let mut truth = UserTruth::default();
            for (si, s) in services.iter().enumerate() {
                for sl in 0..7 {
                    let n = self.users[(ui * self.n_services + si) * 7 + sl];
                    if n > 0 {
                        truth.events += n;
                        *truth.by_app.entry(s.app.to_string()).or_default() += n;
                        *truth
                            .by_level
                            .entry(level_name(slot_level(sl)).to_string())
                            .or_default() += n;
                    }
                }
            }
            if truth.events > 0 {
                m.users.insert(uid.clone(), truth);
            }
        }
        m.error_templates.clear();
        for (ti, text) in template_texts.iter().enumerate() {
            let mut t = TemplateTruth {
                template: text.clone(),
                example: self.examples[ti].clone(),
                ..Default::default()
            };
            for (si, s) in services.iter().enumerate() {
                for sl in 0..7 {
                    let n = self.templates[(ti * self.n_services + si) * 7 + sl];
                    if n > 0 {
                        t.count += n;
                        *t.by_app.entry(s.app.to_string()).or_default() += n;
                        *t.by_level
                            .entry(level_name(slot_level(sl)).to_string())
                            .or_default() += n;
                    }
                }
            }
            if t.count > 0 {
                m.error_templates.push(t);
            }
        }
        m.error_templates.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.template.cmp(&b.template))
        });
    }
}

/// Describes the containers for the manifest.
pub fn container_truths(
    services: &[Service],
    containers: &[Container],
    restarts: &[u32],
    events: &[u64],
    log_dirs: &[String],
) -> Vec<ContainerTruth> {
    containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = &services[c.service];
            let k8s = s.runtime == crate::fleet::Runtime::Kubernetes;
            ContainerTruth {
                runtime: if k8s { "kubernetes" } else { "docker" }.to_string(),
                namespace: s.namespace.to_string(),
                app: s.app.to_string(),
                pod: c.pod.clone(),
                pod_uid: c.pod_uid.clone(),
                container: if k8s {
                    s.container.to_string()
                } else {
                    c.docker_name.clone()
                },
                container_id: c.id.clone(),
                restarts: restarts.get(i).copied().unwrap_or(0),
                log_dir: log_dirs.get(i).cloned().unwrap_or_default(),
                events: events.get(i).copied().unwrap_or(0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::all_services;

    #[test]
    fn tally_fills_breakdowns_consistently() {
        let services = all_services();
        let mut t = Tally::new(services.len(), 2, 3);
        t.count(0, None, None, None);
        t.count(1, Some(Level::Error), Some(1), Some(2));
        t.count(1, Some(Level::Info), Some(1), None);
        t.examples[2] = "x".into();
        let mut m = Manifest::default();
        t.fill(
            &services,
            &["u1".into(), "u2".into()],
            &["a".into(), "b".into(), "c <*>".into()],
            &mut m,
        );
        assert_eq!(m.by_app["gateway"], 1);
        assert_eq!(m.by_app["backend"], 2);
        assert_eq!(m.by_level[""], 1);
        assert_eq!(m.by_namespace["shop-prod"], 3);
        assert_eq!(m.by_namespace_app_level["shop-prod"]["backend"]["error"], 1);
        assert_eq!(m.users.len(), 1);
        assert_eq!(m.users["u2"].by_level["info"], 1);
        assert_eq!(m.error_templates.len(), 1);
        assert_eq!(m.error_templates[0].template, "c <*>");
        let json = serde_json::to_string(&m).expect("ser");
        let back: Manifest = serde_json::from_str(&json).expect("de");
        assert_eq!(back, m);
    }
}
