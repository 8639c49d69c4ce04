//! The effective configuration printed as TOML, section by section in schema order, so every key appears
//! (unset optional keys as a comment) and tokens show only where they came from.

use crate::schema::{self, KEYS, SECTIONS};
use crate::Config;
use std::fmt::Write;
use toml::Value;

fn lookup<'a>(root: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(root, |v, part| v.get(part))
}

/// Renders `cfg`; see [`Config::to_effective_toml`].
pub(crate) fn render(cfg: &Config) -> String {
    let mut out =
        String::from("# effective logmind configuration: defaults filled in, tokens redacted\n");
    let root = match Value::try_from(cfg) {
        Ok(v) => v,
        // Every field serialises to a string, number, bool, array or table; this cannot happen in practice.
        Err(e) => return format!("{out}# cannot render the configuration: {e}\n"),
    };
    for section in SECTIONS {
        if !section.is_empty() {
            let _ = write!(out, "\n[{section}]\n");
        }
        for key in KEYS
            .iter()
            .filter(|k| schema::section_of(k.name) == *section)
        {
            let leaf = key.name.rsplit('.').next().unwrap_or(key.name);
            let _ = match lookup(&root, key.name) {
                Some(v) => writeln!(out, "{leaf} = {v}"),
                None => writeln!(out, "# {leaf} is not set"),
            };
        }
    }
    out
}
