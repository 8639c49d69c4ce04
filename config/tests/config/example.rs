//! `logmind.example.toml` loads, equals the defaults, and documents every key.

use crate::{defaults, no_env};
use logmind_config::schema::{section_of, KEYS};
use logmind_config::{Config, Overrides};
use std::collections::BTreeSet;
use std::path::Path;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../logmind.example.toml");

/// Dotted keys assigned in `text`, including commented-out assignments (`# key = value`), by section.
fn documented_keys(text: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = h.trim_matches(['[', ']']).trim().to_string();
            continue;
        }
        let l = l.trim_start_matches('#').trim();
        let Some((k, _)) = l.split_once(" = ") else {
            continue;
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        keys.insert(if section.is_empty() {
            k.to_string()
        } else {
            format!("{section}.{k}")
        });
    }
    keys
}

/// Dotted leaf keys of a parsed TOML document (tables in [`logmind_config::schema::SECTIONS`] descended).
fn toml_keys(t: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in t {
        let full = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner)
                if logmind_config::schema::SECTIONS.contains(&full.as_str()) =>
            {
                toml_keys(inner, &full, out)
            }
            _ => {
                out.insert(full);
            }
        }
    }
}

#[test]
fn example_validates_and_equals_defaults() {
    let c = Config::load(Some(Path::new(EXAMPLE)), &no_env, &Overrides::new())
        .expect("example is valid");
    assert_eq!(c, defaults());
}

#[test]
fn every_effective_key_is_documented_in_the_example() {
    let example = std::fs::read_to_string(EXAMPLE).expect("read example");
    let documented = documented_keys(&example);
    let effective: toml::Table = defaults()
        .to_effective_toml()
        .parse()
        .expect("effective TOML parses");
    let mut keys = BTreeSet::new();
    toml_keys(&effective, "", &mut keys);
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys missing from logmind.example.toml: {missing:?}"
    );
}

#[test]
fn every_schema_key_is_documented_and_printed() {
    let example = std::fs::read_to_string(EXAMPLE).expect("read example");
    let documented = documented_keys(&example);
    let effective = defaults().to_effective_toml();
    for key in KEYS {
        assert!(
            documented.contains(key.name),
            "{} missing from logmind.example.toml",
            key.name
        );
        let leaf = key.name.rsplit('.').next().unwrap_or(key.name);
        let section = section_of(key.name);
        let header = if section.is_empty() {
            String::new()
        } else {
            format!("[{section}]\n")
        };
        let start = effective.find(&header).unwrap_or(0);
        let body = &effective[start..];
        assert!(
            body.contains(&format!("\n{leaf} = "))
                || body.contains(&format!("# {leaf} is not set")),
            "{} missing from the effective TOML:\n{effective}",
            key.name
        );
    }
    // Nothing documented that does not exist (stale docs).
    let known: BTreeSet<&str> = KEYS.iter().map(|k| k.name).collect();
    let extra: Vec<&String> = documented
        .iter()
        .filter(|k| !known.contains(k.as_str()))
        .collect();
    assert!(extra.is_empty(), "documented but unknown keys: {extra:?}");
}

#[test]
fn effective_toml_of_defaults_reloads_to_the_same_config() {
    let d = defaults();
    let again =
        Config::from_toml_str(&d.to_effective_toml(), &no_env, &Overrides::new()).expect("reload");
    assert_eq!(again, d);
}
