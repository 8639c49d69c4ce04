//! flag > LOGMIND_* environment > file > default, over a real file.

use crate::{defaults, no_env};
use logmind_config::{Config, KubernetesMode, Overrides};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(f.path(), text).expect("write");
    f
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let file = write_file("data_dir = \"/from/file\"\n[indexer]\nlisten = \"127.0.0.1:4000\"\n[indexer.retention]\nperiod = \"14d\"\n");
    let path = Some(file.path());

    assert_eq!(defaults().indexer.listen, addr("127.0.0.1:3100"));
    assert_eq!(defaults().data_dir, PathBuf::from("./data"));

    let c = Config::load(path, &no_env, &Overrides::new()).expect("file");
    assert_eq!(c.indexer.listen, addr("127.0.0.1:4000"));
    assert_eq!(c.data_dir, PathBuf::from("/from/file"));
    assert_eq!(
        c.indexer.retention.period.0,
        Duration::from_secs(14 * 86_400)
    );

    let env = env_of(&[
        ("LOGMIND_INDEXER_LISTEN", "127.0.0.1:5000"),
        ("LOGMIND_DATA_DIR", "/from/env"),
        ("LOGMIND_INDEXER_RETENTION_PERIOD", "3d"),
    ]);
    let c = Config::load(path, &env, &Overrides::new()).expect("env");
    assert_eq!(c.indexer.listen, addr("127.0.0.1:5000"));
    assert_eq!(c.data_dir, PathBuf::from("/from/env"));
    assert_eq!(
        c.indexer.retention.period.0,
        Duration::from_secs(3 * 86_400)
    );

    let flags = Overrides::new()
        .with("indexer.listen", "127.0.0.1:6000")
        .with("data_dir", "/from/flag");
    let c = Config::load(path, &env, &flags).expect("flags");
    assert_eq!(c.indexer.listen, addr("127.0.0.1:6000"));
    assert_eq!(c.data_dir, PathBuf::from("/from/flag"));
    // Not overridden by a flag: the environment still wins over the file.
    assert_eq!(
        c.indexer.retention.period.0,
        Duration::from_secs(3 * 86_400)
    );
}

#[test]
fn env_beats_default_without_file() {
    let env = env_of(&[("LOGMIND_AGENT_SERVER", "https://logs.example.com:8443")]);
    let c = Config::load(None, &env, &Overrides::new()).expect("env only");
    assert_eq!(c.agent.server.as_str(), "https://logs.example.com:8443");
    assert!(c.agent.server.is_https());
}

#[test]
fn env_values_are_typed_by_key() {
    let env = env_of(&[
        (
            "LOGMIND_AGENT_EXCLUDE",
            "/var/log/pods/kube-system_*/*/*.log, /x/*.log",
        ),
        ("LOGMIND_AGENT_MULTILINE_JAVA", "false"),
        ("LOGMIND_QUERY_MAX_LINES", "20000"),
        ("LOGMIND_INDEXER_RETENTION_NAMESPACES", "dev=1d,audit=30d"),
        ("LOGMIND_INDEXER_RETENTION_MAX_DISK_BYTES", "50GiB"),
        ("LOGMIND_AGENT_KUBERNETES_ENABLED", "off"),
        ("LOGMIND_AGENT_BATCH_MAX_BYTES", "2097152"),
    ]);
    let c = Config::load(None, &env, &Overrides::new()).expect("typed env");
    assert_eq!(
        c.agent.exclude,
        vec!["/var/log/pods/kube-system_*/*/*.log", "/x/*.log"]
    );
    assert!(!c.agent.multiline.java);
    assert_eq!(c.query.max_lines, 20_000);
    assert_eq!(
        c.indexer.retention.period_for("audit").0,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(
        c.indexer.retention.period_for("prod").0,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(
        c.indexer.retention.max_period().0,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(
        c.indexer.retention.max_disk_bytes.map(|b| b.0),
        Some(50 << 30)
    );
    assert_eq!(c.agent.kubernetes.enabled, KubernetesMode::Off);
    assert_eq!(c.agent.batch_max_bytes.0, 2 << 20);
}

#[test]
fn empty_env_unsets_optional_key() {
    let file = write_file("[agent]\nhost_root = \"/host\"\n");
    let env = env_of(&[("LOGMIND_AGENT_HOST_ROOT", "")]);
    let c = Config::load(Some(file.path()), &env, &Overrides::new()).expect("unset");
    assert_eq!(c.agent.host_root, None);
}

#[test]
fn host_root_flag_expands_include_globs() {
    let c = defaults();
    assert_eq!(
        c.agent.include_globs(),
        vec![
            "/var/log/pods/*/*/*.log*",
            "/var/lib/docker/containers/*/*-json.log*"
        ]
    );
    let flags = Overrides::new().with("agent.host_root", "/host/");
    let c = Config::load(None, &no_env, &flags).expect("host root");
    assert_eq!(c.agent.host_root, Some(PathBuf::from("/host/")));
    assert_eq!(
        c.agent.include_globs(),
        vec![
            "/host/var/log/pods/*/*/*.log*",
            "/host/var/lib/docker/containers/*/*-json.log*"
        ]
    );
}

#[test]
fn cli_variables_are_not_config_keys() {
    let env = env_of(&[
        ("LOGMIND_SERVER", "not a url"),
        ("LOGMIND_TOKEN", "whatever"),
        ("LOGMIND_SOMETHING_ELSE", "x"),
    ]);
    let c = Config::load(None, &env, &Overrides::new()).expect("ignored");
    assert_eq!(c, defaults());
}

#[test]
fn agent_id_defaults_from_node_name() {
    let c = crate::load("node_name = \"worker 7/a\"\n").expect("node");
    assert_eq!(c.node_name, "worker 7/a");
    assert_eq!(c.agent.id, "worker-7-a");
    let c = crate::load("node_name = \"n1\"\n[agent]\nid = \"agent-x\"\n").expect("id");
    assert_eq!(c.agent.id, "agent-x");
    assert!(!defaults().node_name.is_empty());
}
