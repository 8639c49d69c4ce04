//! Integration tests of logmind-config: rejections, precedence, secrets, the example file, round trips.

mod example;
mod precedence;
mod rejections;
mod roundtrip;
mod secrets;

use logmind_config::{Config, ConfigErrors, Overrides};

/// No environment at all.
pub fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `text` with no environment and no overrides.
pub fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str(text, &no_env, &Overrides::new())
}

/// Loads `text` expecting failure; returns the whole message (one error per line).
pub fn fail(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("expected a rejection for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The defaults (no file, no environment, no overrides).
pub fn defaults() -> Config {
    Config::load(None, &no_env, &Overrides::new()).expect("defaults are valid")
}
