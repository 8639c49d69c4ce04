//! Loading: read the TOML file, lay `LOGMIND_*` environment variables and then command-line overrides over
//! its value tree, type-check the tree against the schema, deserialise the builder and validate it.
//!
//! Precedence is therefore flag > environment > file > default, and every value, whatever its origin,
//! goes through the same checks under the same dotted key. Environment variable names are
//! `LOGMIND_` + the dotted key upper-cased with `.` → `_` (`indexer.retention.period` →
//! `LOGMIND_INDEXER_RETENTION_PERIOD`). Lists are comma-separated (`a,b`), namespace retention is
//! `dev=1d,audit=30d`, booleans accept `true/false/1/0/yes/no/on/off`, and an empty value unsets an optional
//! key. A token list set from the environment (`LOGMIND_AUTH_INGEST_TOKENS`) is one token read from that
//! variable. `agent.multiline.custom` can only be set in the file. Other `LOGMIND_*` variables (such as the
//! CLI's `LOGMIND_SERVER` and `LOGMIND_TOKEN`) are not configuration keys and are ignored.

use crate::error::{ConfigError, ConfigErrors};
use crate::schema::{self, Key, Kind};
use crate::{Config, ConfigBuilder};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Value;

/// Command-line overrides keyed by dotted key (`"indexer.listen"`, `"data_dir"`, `"agent.host_root"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(pub BTreeMap<String, String>);

impl Overrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one override; returns `self` for chaining.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Sets `key` only when `value` is `Some` (maps an optional command-line flag); returns `self`.
    pub fn with_opt<T: std::fmt::Display>(
        mut self,
        key: impl Into<String>,
        value: Option<T>,
    ) -> Self {
        if let Some(v) = value {
            self.set(key, v.to_string());
        }
        self
    }

    /// Builder-style [`Overrides::set`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }
}

/// Reads the process environment; pass `&logmind_config::process_env` to [`Config::load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where an overridden key's value came from, for error messages.
type Origins = BTreeMap<String, String>;

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Converts an environment/flag string into the TOML value of `key`; `Ok(None)` unsets the key.
fn from_text(
    key: &Key,
    text: &str,
    token_source: &str,
    token_ref: &str,
) -> Result<Option<Value>, String> {
    if key.optional && text.trim().is_empty() {
        return Ok(None);
    }
    let s = || Value::String(text.to_string());
    let v = match key.kind {
        Kind::Str | Kind::Duration | Kind::Size | Kind::Mode => s(),
        // Unparsable numbers stay strings: the type check then names the key and the expected form.
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .unwrap_or_else(|_| s()),
        Kind::Bool => parse_bool(text).map(Value::Boolean).unwrap_or_else(s),
        Kind::StrList => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        ),
        Kind::DurationMap => {
            let mut t = toml::Table::new();
            for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((ns, d)) = pair.split_once('=') else {
                    return Err(format!(
                        "expected NAMESPACE=DURATION pairs separated by commas (e.g. dev=1d,audit=30d), got {pair:?}"
                    ));
                };
                t.insert(ns.trim().to_string(), Value::String(d.trim().to_string()));
            }
            Value::Table(t)
        }
        Kind::Tokens => {
            let mut t = toml::Table::new();
            t.insert(
                token_source.to_string(),
                Value::String(token_ref.to_string()),
            );
            Value::Array(vec![Value::Table(t)])
        }
        Kind::MultilineRules => {
            return Err(
                "can only be set in the config file (add [[agent.multiline.custom]] entries there)"
                    .into(),
            )
        }
    };
    Ok(Some(v))
}

/// Sets (or with `None` removes) the dotted `key` in `tree`, creating sections as needed.
fn set_path(tree: &mut toml::Table, key: &str, value: Option<Value>) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(leaf) = parts.pop() else { return };
    let mut t = tree;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(toml::Table::new());
        }
        let Value::Table(inner) = entry else { return };
        t = inner;
    }
    match value {
        Some(v) => {
            t.insert(leaf.to_string(), v);
        }
        None => {
            t.remove(leaf);
        }
    }
}

fn apply(
    tree: &mut toml::Table,
    key: &Key,
    text: &str,
    origin: String,
    token: (&str, &str),
    origins: &mut Origins,
    errors: &mut Vec<ConfigError>,
) {
    match from_text(key, text, token.0, token.1) {
        Ok(v) => set_path(tree, key.name, v),
        Err(problem) => {
            let shown = if key.kind == Kind::Tokens {
                "<redacted>".to_string()
            } else {
                schema::render(&Value::String(text.to_string()))
            };
            errors.push(ConfigError::FromOverride {
                origin: origin.clone(),
                inner: Box::new(ConfigError::invalid(key.name, shown, problem)),
            });
        }
    }
    origins.insert(key.name.to_string(), origin);
}

fn apply_env(
    tree: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
    origins: &mut Origins,
    errors: &mut Vec<ConfigError>,
) {
    for key in schema::KEYS
        .iter()
        .filter(|k| k.kind != Kind::MultilineRules)
    {
        let var = schema::env_var(key.name);
        if let Some(text) = env(&var) {
            apply(
                tree,
                key,
                &text,
                var.clone(),
                ("env", &var),
                origins,
                errors,
            );
        }
    }
}

fn apply_overrides(
    tree: &mut toml::Table,
    overrides: &Overrides,
    origins: &mut Origins,
    errors: &mut Vec<ConfigError>,
) {
    for (name, text) in &overrides.0 {
        let origin = format!("command-line flag for {name}");
        match schema::key(name) {
            Some(key) => apply(tree, key, text, origin, ("value", text), origins, errors),
            None => errors.push(ConfigError::FromOverride {
                origin,
                inner: Box::new(schema::unknown_key(name)),
            }),
        }
    }
}

/// Sorts the errors in schema order and wraps those about keys set by the environment or a flag so the
/// message says where the value came from.
fn annotate(mut errors: Vec<ConfigError>, origins: &Origins) -> Vec<ConfigError> {
    sort_by_schema(&mut errors);
    errors
        .into_iter()
        .map(|e| {
            if matches!(e, ConfigError::FromOverride { .. }) {
                return e;
            }
            let origin = e.key().and_then(|k| {
                origins.iter().find_map(|(o, src)| {
                    let rest = k.strip_prefix(o.as_str())?;
                    (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
                        .then(|| src.clone())
                })
            });
            match origin {
                Some(origin) => ConfigError::FromOverride {
                    origin,
                    inner: Box::new(e),
                },
                None => e,
            }
        })
        .collect()
}

/// Orders errors like the schema (file order of a documented config), keeping the order of equal keys.
fn sort_by_schema(errors: &mut [ConfigError]) {
    let rank = |e: &ConfigError| -> usize {
        let Some(k) = e.key() else { return 0 };
        let matches = |name: &str| {
            k.strip_prefix(name).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        };
        let section = schema::section_of(k);
        schema::KEYS
            .iter()
            .position(|key| matches(key.name))
            .or_else(|| {
                schema::KEYS
                    .iter()
                    .position(|key| schema::section_of(key.name) == section)
            })
            .or_else(|| {
                schema::KEYS
                    .iter()
                    .position(|key| key.name.starts_with(&format!("{k}.")))
            })
            .map_or(usize::MAX, |i| i + 1)
    };
    errors.sort_by_key(rank);
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses TOML text into a table; errors name the file, line and column.
pub(crate) fn parse_toml(text: &str, label: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| {
        let at = e.span().map(|s| line_col(text, s.start));
        ConfigError::Toml {
            path: match at {
                Some((l, c)) => format!("{label}:{l}:{c}"),
                None => label.to_string(),
            },
            message: e.message().trim().replace('\n', "; "),
        }
    })
}

/// The whole pipeline over an already-parsed file tree.
pub(crate) fn load_tree(
    mut tree: toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut origins = Origins::new();
    apply_env(&mut tree, env, &mut origins, &mut errors);
    apply_overrides(&mut tree, overrides, &mut origins, &mut errors);
    schema::check_tree(&mut tree, "", &mut errors);
    let builder: ConfigBuilder = match Value::Table(tree).try_into() {
        Ok(b) => b,
        Err(e) => {
            errors.push(ConfigError::Deserialize(e.to_string().trim().to_string()));
            return Err(ConfigErrors(annotate(errors, &origins)));
        }
    };
    let validated = builder.validate(env);
    match validated {
        Ok(cfg) if errors.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigErrors(annotate(errors, &origins))),
        Err(more) => {
            errors.extend(more);
            Err(ConfigErrors(annotate(errors, &origins)))
        }
    }
}

/// Reads and loads `file` (or nothing), then the environment, then `overrides`.
pub(crate) fn load(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<Config, ConfigErrors> {
    let tree = match file {
        None => toml::Table::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            parse_toml(&text, &path.display().to_string())?
        }
    };
    load_tree(tree, env, overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_creates_and_removes() {
        let mut t = toml::Table::new();
        set_path(
            &mut t,
            "indexer.retention.period",
            Some(Value::String("3d".into())),
        );
        assert_eq!(t["indexer"]["retention"]["period"].as_str(), Some("3d"));
        set_path(&mut t, "indexer.retention.period", None);
        assert!(t["indexer"]["retention"]
            .as_table()
            .is_some_and(|r| r.is_empty()));
    }

    #[test]
    fn text_conversion_by_kind() {
        let k = |n| schema::key(n).copied().expect("key");
        assert_eq!(
            from_text(&k("query.max_lines"), "12", "", ""),
            Ok(Some(Value::Integer(12)))
        );
        assert_eq!(
            from_text(&k("agent.multiline.go"), "off", "", ""),
            Ok(Some(Value::Boolean(false)))
        );
        assert_eq!(from_text(&k("agent.host_root"), "", "", ""), Ok(None));
        let v = from_text(
            &k("indexer.retention.namespaces"),
            "dev=1d, audit=30d",
            "",
            "",
        );
        assert_eq!(
            v.ok().flatten().and_then(|v| v.get("audit").cloned()),
            Some(Value::String("30d".into()))
        );
        assert!(from_text(&k("indexer.retention.namespaces"), "dev", "", "").is_err());
        assert_eq!(line_col("a\nbc\nd", 4), (2, 3));
    }
}
