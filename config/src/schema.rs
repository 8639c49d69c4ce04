//! The list of every configuration key, its TOML type and its environment variable, and the type check
//! that walks a parsed TOML tree against it (unknown keys and wrong types are all reported, with the key).

use crate::error::ConfigError;
use toml::Value;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "LOGMIND_";

/// What a key accepts in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// A non-negative integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A duration string such as `"250ms"` or `"7d"`.
    Duration,
    /// A size string such as `"16MiB"`, or an integer number of bytes.
    Size,
    /// `"auto"`, `"on"`, `"off"` (or a boolean).
    Mode,
    /// An array of strings (comma-separated in environment variables and flags).
    StrList,
    /// A table of name → duration (`NAME=DUR,NAME=DUR` in environment variables and flags).
    DurationMap,
    /// An array of token sources: `"tok"`, `{ value = "tok" }`, `{ env = "VAR" }`, `{ file = "/path" }`.
    Tokens,
    /// An array of `{ start = "regex", continue = "regex" }` tables (file only).
    MultilineRules,
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Full dotted key, e.g. `indexer.retention.period`.
    pub name: &'static str,
    /// What it accepts.
    pub kind: Kind,
    /// True when the key has no default value (unset means "none").
    pub optional: bool,
}

const fn k(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        optional: false,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        optional: true,
    }
}

/// Sections (TOML tables), in the order the effective configuration prints them.
pub const SECTIONS: &[&str] = &[
    "",
    "agent",
    "agent.kubernetes",
    "agent.extract",
    "agent.multiline",
    "indexer",
    "indexer.retention",
    "query",
    "auth",
];

/// Every key, grouped by section in [`SECTIONS`] order.
pub const KEYS: &[Key] = &[
    k("data_dir", Kind::Str),
    opt("node_name", Kind::Str),
    k("log_level", Kind::Str),
    k("log_format", Kind::Str),
    k("agent.server", Kind::Str),
    k("agent.listen", Kind::Str),
    opt("agent.id", Kind::Str),
    opt("agent.host_root", Kind::Str),
    k("agent.include", Kind::StrList),
    k("agent.exclude", Kind::StrList),
    k("agent.read_from", Kind::Str),
    k("agent.poll_interval", Kind::Duration),
    k("agent.notify", Kind::Bool),
    k("agent.batch_max_bytes", Kind::Size),
    k("agent.batch_max_wait", Kind::Duration),
    k("agent.spool_max_bytes", Kind::Size),
    k("agent.max_event_bytes", Kind::Size),
    k("agent.multiline_timeout", Kind::Duration),
    k("agent.deleted_file_grace", Kind::Duration),
    k("agent.retry_max_backoff", Kind::Duration),
    k("agent.kubernetes.enabled", Kind::Mode),
    k("agent.kubernetes.pod_wait", Kind::Duration),
    k("agent.extract.request_id_keys", Kind::StrList),
    k("agent.extract.user_id_keys", Kind::StrList),
    k("agent.extract.trace_id_keys", Kind::StrList),
    k("agent.extract.patterns", Kind::StrList),
    k("agent.multiline.python", Kind::Bool),
    k("agent.multiline.java", Kind::Bool),
    k("agent.multiline.go", Kind::Bool),
    k("agent.multiline.custom", Kind::MultilineRules),
    k("indexer.listen", Kind::Str),
    k("indexer.partition", Kind::Duration),
    k("indexer.commit_interval", Kind::Duration),
    k("indexer.max_batch_bytes", Kind::Size),
    k("indexer.max_decompressed_bytes", Kind::Size),
    k("indexer.wal_segment_bytes", Kind::Size),
    k("indexer.writer_heap_bytes", Kind::Size),
    k("indexer.max_pending_bytes", Kind::Size),
    k("indexer.retention.period", Kind::Duration),
    k("indexer.retention.check_interval", Kind::Duration),
    opt("indexer.retention.max_disk_bytes", Kind::Size),
    k("indexer.retention.namespaces", Kind::DurationMap),
    k("query.max_range", Kind::Duration),
    k("query.max_lines", Kind::Int),
    k("query.default_limit", Kind::Int),
    k("query.timeout", Kind::Duration),
    k("query.max_regex_bytes", Kind::Size),
    k("query.max_tails", Kind::Int),
    k("auth.ingest_tokens", Kind::Tokens),
    k("auth.query_tokens", Kind::Tokens),
    k("auth.admin_tokens", Kind::Tokens),
];

/// Looks a key up by its dotted name.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The environment variable that sets `key`: `LOGMIND_` + upper-case key with `.` → `_`.
pub fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// The section a dotted key belongs to (`""` for the top level).
pub fn section_of(key: &str) -> &str {
    key.rsplit_once('.').map_or("", |(s, _)| s)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn section_label(section: &str) -> String {
    if section.is_empty() {
        "the top level".to_string()
    } else {
        format!("section [{section}]")
    }
}

/// Names (last component) of the keys and sub-sections directly inside `section`.
fn children(section: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = KEYS
        .iter()
        .map(|k| k.name)
        .chain(SECTIONS.iter().copied().filter(|s| !s.is_empty()))
        .filter(|n| section_of(n) == section)
        .map(|n| n.rsplit('.').next().unwrap_or(n))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The error for an unknown key, with a "did you mean" or the list of known keys of its section.
pub fn unknown_key(full: &str) -> ConfigError {
    let section = section_of(full);
    let leaf = full.rsplit('.').next().unwrap_or(full);
    let known = children(section);
    let best = known
        .iter()
        .map(|c| (edit_distance(leaf, c), *c))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, c)| *d <= 2.max(c.len() / 3));
    let hint = match best {
        Some((_, c)) => format!(" (did you mean `{}`?)", join(section, c)),
        None => format!(" (remove it; known keys there: {})", known.join(", ")),
    };
    ConfigError::UnknownKey {
        key: full.to_string(),
        section: section_label(section),
        hint,
    }
}

/// Renders a value for an error message (TOML inline syntax), shortened when long.
pub fn render(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn type_error(key: &str, found: &Value, expected: &str) -> ConfigError {
    ConfigError::Type {
        key: key.to_string(),
        found: render(found),
        expected: expected.to_string(),
    }
}

/// Checks every key of `table` (the section `prefix`), pushes one error per problem and removes the bad
/// entries, so that the rest can still be deserialised and validated (all errors are reported at once).
pub fn check_tree(table: &mut toml::Table, prefix: &str, errors: &mut Vec<ConfigError>) {
    table.retain(|name, value| {
        let full = join(prefix, name);
        if SECTIONS.contains(&full.as_str()) {
            match value {
                Value::Table(t) => {
                    check_tree(t, &full, errors);
                    true
                }
                other => {
                    errors.push(type_error(
                        &full,
                        other,
                        &format!("a table (write it as [{full}])"),
                    ));
                    false
                }
            }
        } else if let Some(key) = key(&full) {
            check_value(&full, key.kind, value, errors)
        } else {
            errors.push(unknown_key(&full));
            false
        }
    });
}

/// Checks one value; false when it must be dropped.
fn check_value(key: &str, kind: Kind, v: &mut Value, errors: &mut Vec<ConfigError>) -> bool {
    let before = errors.len();
    let expected = match kind {
        Kind::Str => (!v.is_str()).then_some("a string".to_string()),
        Kind::Int => match v {
            Value::Integer(i) if *i >= 0 => None,
            _ => Some("a non-negative integer, e.g. 100".to_string()),
        },
        Kind::Bool => (!v.is_bool()).then_some("true or false".to_string()),
        Kind::Duration => (!v.is_str()).then_some(
            "a duration string with a unit, e.g. \"30s\" (use ms, s, m, h, d, w)".to_string(),
        ),
        Kind::Size => match v {
            Value::String(_) => None,
            Value::Integer(i) if *i >= 0 => None,
            _ => Some("a size string such as \"16MiB\" or a number of bytes".to_string()),
        },
        Kind::Mode => {
            (!(v.is_str() || v.is_bool())).then_some("\"auto\", \"on\" or \"off\"".to_string())
        }
        Kind::StrList => match v {
            Value::Array(a) if a.iter().all(Value::is_str) => None,
            _ => Some("an array of strings, e.g. [\"a\", \"b\"]".to_string()),
        },
        Kind::DurationMap => match v {
            Value::Table(t) => {
                t.retain(|name, d| {
                    let ok = d.is_str();
                    if !ok {
                        let k = format!("{key}.{name}");
                        errors.push(type_error(
                            &k,
                            d,
                            "a duration string with a unit, e.g. \"1d\"",
                        ));
                    }
                    ok
                });
                return true;
            }
            _ => Some(
                "a table of namespace = duration, e.g. { dev = \"1d\", audit = \"30d\" }"
                    .to_string(),
            ),
        },
        // Bad elements are dropped inside; the rest of the list stays to be validated.
        Kind::Tokens | Kind::MultilineRules => {
            let each = if kind == Kind::Tokens {
                check_token
            } else {
                check_rule
            };
            match check_array(key, v, errors, each) {
                None => return true,
                some => some,
            }
        }
    };
    match expected {
        // A token list written as something else may hold a token: show only its type.
        Some(_) if kind == Kind::Tokens => errors.push(ConfigError::Type {
            key: key.to_string(),
            found: v.type_str().to_string(),
            expected: format!("an array of {TOKEN_FORMS}"),
        }),
        Some(expected) => errors.push(type_error(key, v, &expected)),
        None => {}
    }
    errors.len() == before
}

/// Checks each element; bad elements are reported and dropped so the good ones are still validated.
fn check_array(
    key: &str,
    v: &mut Value,
    errors: &mut Vec<ConfigError>,
    each: fn(&str, &Value, &mut Vec<ConfigError>) -> bool,
) -> Option<String> {
    match v {
        Value::Array(items) => {
            let mut i = 0;
            items.retain(|item| {
                let ok = each(&format!("{key}[{i}]"), item, errors);
                i += 1;
                ok
            });
            None
        }
        _ => Some("an array".to_string()),
    }
}

const TOKEN_FORMS: &str =
    "\"token\", { value = \"token\" }, { env = \"VAR\" } or { file = \"/path\" }";

fn check_token(key: &str, v: &Value, errors: &mut Vec<ConfigError>) -> bool {
    let ok = match v {
        Value::String(_) => true,
        Value::Table(t) => {
            t.len() == 1
                && t.iter()
                    .all(|(k, v)| matches!(k.as_str(), "value" | "env" | "file") && v.is_str())
        }
        _ => false,
    };
    if !ok {
        // Never echo a token value: render only the shape.
        let shape = match v {
            Value::Table(t) => {
                format!("{{ {} }}", t.keys().cloned().collect::<Vec<_>>().join(", "))
            }
            other => other.type_str().to_string(),
        };
        errors.push(ConfigError::Type {
            key: key.to_string(),
            found: shape,
            expected: format!("exactly one of {TOKEN_FORMS}"),
        });
    }
    ok
}

fn check_rule(key: &str, v: &Value, errors: &mut Vec<ConfigError>) -> bool {
    let ok = match v {
        Value::Table(t) => {
            t.len() == 2
                && ["start", "continue"]
                    .iter()
                    .all(|k| t.get(*k).is_some_and(Value::is_str))
        }
        _ => false,
    };
    if !ok {
        errors.push(type_error(
            key,
            v,
            "a table { start = \"regex\", continue = \"regex\" } with exactly these two keys",
        ));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_unique_and_mapped() {
        let mut names: Vec<String> = KEYS.iter().map(|k| env_var(k.name)).collect();
        assert_eq!(
            env_var("indexer.retention.period"),
            "LOGMIND_INDEXER_RETENTION_PERIOD"
        );
        assert_eq!(env_var("data_dir"), "LOGMIND_DATA_DIR");
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(!names
            .iter()
            .any(|n| n == "LOGMIND_SERVER" || n == "LOGMIND_TOKEN"));
    }

    #[test]
    fn keys_are_grouped_in_section_order() {
        let order: Vec<usize> = KEYS
            .iter()
            .map(|k| {
                SECTIONS
                    .iter()
                    .position(|s| *s == section_of(k.name))
                    .unwrap_or(usize::MAX)
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        assert!(!order.contains(&usize::MAX));
    }

    #[test]
    fn suggests_close_keys() {
        let e = unknown_key("agent.pol_interval").to_string();
        assert!(
            e.contains("section [agent]") && e.contains("agent.poll_interval"),
            "{e}"
        );
        let e = unknown_key("zzzzzzzz").to_string();
        assert!(e.contains("the top level") && e.contains("data_dir"), "{e}");
    }
}
