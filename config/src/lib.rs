//! Typed, validated configuration for every part of logmind.
//!
//! One TOML file with the sections `[agent]` (with `[agent.kubernetes]`, `[agent.extract]`,
//! `[agent.multiline]`), `[indexer]` (with `[indexer.retention]`), `[query]` and `[auth]`; every key has a
//! default and is documented in `logmind.example.toml`. Loading follows Quickwit's pipeline:
//!
//! 1. the file is parsed into a TOML tree, `LOGMIND_*` environment variables and then command-line
//!    [`Overrides`] are laid over it (precedence flag > environment > file > default, see [`load`]);
//! 2. the tree is checked against the key list ([`schema`]): unknown keys and wrong types are reported;
//! 3. it is deserialised into [`ConfigBuilder`] (serde, `deny_unknown_fields`, defaults; durations and
//!    sizes still strings);
//! 4. [`ConfigBuilder::validate`] parses every value once into typed form ([`HumanDuration`], [`ByteSize`],
//!    `SocketAddr`, [`HttpUrl`], compiled regexes, resolved [`Token`]s) and checks the relations between
//!    them, giving the [`Config`] the rest of the code uses.
//!
//! Every problem from every step is collected and returned together in [`ConfigErrors`], one per line, each
//! naming the dotted key, the bad value and the fix. [`Config::to_effective_toml`] prints the result with
//! secrets redacted (`logmind config check`).

pub mod agent;
pub mod auth;
pub mod check;
mod effective;
pub mod error;
pub mod extract;
pub mod indexer;
pub mod load;
pub mod query;
pub mod schema;
pub mod url;

pub use agent::{AgentBuilder, AgentConfig, KubernetesConfig, KubernetesMode, ReadFrom};
pub use auth::{AuthBuilder, AuthConfig, Scope, Secret, Token, TokenSource};
pub use check::Pattern;
pub use error::{ConfigError, ConfigErrors};
pub use extract::{ExtractConfig, ExtractPattern, IdField, MultilineConfig, MultilineRule};
pub use indexer::{IndexerBuilder, IndexerConfig, RetentionConfig};
pub use load::{process_env, Overrides};
pub use logmind_protocol::units::{ByteSize, HumanDuration};
pub use query::{QueryBuilder, QueryConfig};
pub use url::HttpUrl;

use check::Checker;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole file as written (strings not yet parsed), with defaults for every missing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigBuilder {
    /// Data directory.
    pub data_dir: String,
    /// Node name (default from the host name).
    pub node_name: Option<String>,
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: String,
    /// `[agent]`.
    pub agent: AgentBuilder,
    /// `[indexer]`.
    pub indexer: IndexerBuilder,
    /// `[query]`.
    pub query: QueryBuilder,
    /// `[auth]`.
    pub auth: AuthBuilder,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            data_dir: "./data".into(),
            node_name: None,
            log_level: "info".into(),
            log_format: "text".into(),
            agent: AgentBuilder::default(),
            indexer: IndexerBuilder::default(),
            query: QueryBuilder::default(),
            auth: AuthBuilder::default(),
        }
    }
}

/// How logmind writes its own logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated configuration the rest of logmind uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Where partitions, the write-ahead log and agent checkpoints/spool live.
    #[serde(serialize_with = "ser_path")]
    pub data_dir: PathBuf,
    /// This node's name (the `node` field of records from this agent).
    pub node_name: String,
    /// `tracing` filter: a level (`info`) or directives (`info,logmind_indexer=debug`).
    pub log_level: String,
    /// Format of logmind's own logs.
    pub log_format: LogFormat,
    /// `[agent]`.
    pub agent: AgentConfig,
    /// `[indexer]`.
    pub indexer: IndexerConfig,
    /// `[query]`.
    pub query: QueryConfig,
    /// `[auth]`.
    pub auth: AuthConfig,
}

impl Config {
    /// Loads `file` (none = defaults only), then `LOGMIND_*` variables read through `env`, then `overrides`.
    ///
    /// Pass `&logmind_config::process_env` for the real environment. Returns every problem found.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigErrors> {
        load::load(file, env, overrides)
    }

    /// Like [`Config::load`] with the file's content given as text.
    pub fn from_toml_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigErrors> {
        let tree = load::parse_toml(text, "<config>")?;
        load::load_tree(tree, env, overrides)
    }

    /// The effective configuration as TOML: every key, defaults filled in, tokens redacted.
    pub fn to_effective_toml(&self) -> String {
        effective::render(self)
    }
}

impl Default for Config {
    /// The built-in defaults with the node name of this host ([`default_node_name`]); no file, no environment.
    fn default() -> Self {
        ConfigBuilder::default()
            .validate(&process_env)
            .expect("built-in defaults are valid (tested)")
    }
}

pub(crate) fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

pub(crate) fn ser_opt_path<S: serde::Serializer>(
    p: &Option<PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => ser_path(p, s),
        None => s.serialize_none(),
    }
}

/// The default node name: `/etc/hostname`, else `$HOSTNAME`, else `localhost`.
pub fn default_node_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    let from_file = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    from_file
        .or_else(|| {
            env("HOSTNAME")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string())
}

const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// Checks a `tracing` filter: comma-separated `LEVEL` or `target=LEVEL` directives.
fn check_log_level(c: &mut Checker, raw: &str) -> Option<String> {
    let fix = "use trace, debug, info, warn, error or off, optionally with target=LEVEL directives, e.g. \"info,logmind_indexer=debug\"";
    let directives: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let bad = directives.is_empty()
        || directives.iter().any(|d| {
            let (target, level) = d.rsplit_once('=').unwrap_or(("", d));
            let target_ok = target.is_empty() && !d.contains('=')
                || !target.is_empty()
                    && target
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "_:-.".contains(ch));
            !target_ok || !LEVELS.contains(&level.to_ascii_lowercase().as_str())
        });
    if bad {
        c.invalid("log_level", raw, format!("not a log filter ({fix})"));
        None
    } else {
        Some(raw.trim().to_string())
    }
}

impl ConfigBuilder {
    /// Parses every value once into typed form, resolves tokens through `env`, and returns every problem.
    pub fn validate(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut c = Checker::default();
        let data_dir = c
            .non_empty("data_dir", &self.data_dir, "\"./data\"")
            .map(PathBuf::from);
        let node_name = match &self.node_name {
            Some(n) => c.non_empty("node_name", n, "\"node-1\""),
            None => Some(default_node_name(env)),
        };
        let log_level = check_log_level(&mut c, &self.log_level);
        let log_format = c.one_of(
            "log_format",
            &self.log_format,
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        );
        let agent = self.agent.validate(&mut c, node_name.as_deref());
        let indexer = self.indexer.validate(&mut c);
        let query = self.query.validate(&mut c);
        let auth = self.auth.validate(&mut c, env);
        let built = (|| {
            Some(Config {
                data_dir: data_dir?,
                node_name: node_name?,
                log_level: log_level?,
                log_format: log_format?,
                agent: agent?,
                indexer: indexer?,
                query: query?,
                auth: auth?,
            })
        })();
        match built {
            Some(cfg) if c.errors.is_empty() => Ok(cfg),
            _ if c.errors.is_empty() => Err(vec![ConfigError::Deserialize(
                "validation failed without a message (please report this)".into(),
            )]),
            _ => Err(c.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_an_empty_file() {
        let c = Config::default();
        assert_eq!(c.indexer, IndexerConfig::default());
        assert_eq!(c.query, QueryConfig::default());
        let agent = AgentConfig::default();
        assert_eq!(agent.id, "localhost");
        assert_eq!(
            AgentConfig {
                id: c.agent.id.clone(),
                ..agent
            },
            c.agent
        );
        let empty = Config::from_toml_str("", &|_| None, &Overrides::new()).expect("empty file");
        assert_eq!(empty.indexer, c.indexer);
        assert_eq!(empty.indexer.listen.to_string(), "127.0.0.1:3100");
    }

    #[test]
    fn log_levels() {
        let mut c = Checker::default();
        for ok in [
            "info",
            "DEBUG",
            "info,logmind_indexer=debug",
            "warn, tantivy=off",
        ] {
            assert!(check_log_level(&mut c, ok).is_some(), "{ok}");
        }
        for bad in ["", "inf", "info,=debug", "x=verbose", "a b=info"] {
            assert!(check_log_level(&mut c, bad).is_none(), "{bad}");
        }
        assert!(c.errors[0].to_string().contains("log_level"));
    }
}
