//! Tokens: resolved from a value, an environment variable or a file, never printed.

use crate::{defaults, no_env};
use logmind_config::{Config, Overrides, Scope, TokenSource};
use std::path::PathBuf;

const ENV_SECRET: &str = "s3cr3t-from-env-7f1c";
const FILE_SECRET: &str = "s3cr3t-from-file-91ab";
const VALUE_SECRET: &str = "s3cr3t-inline-55d0";

fn env(k: &str) -> Option<String> {
    (k == "LOGMIND_INGEST_TOKEN").then(|| ENV_SECRET.to_string())
}

fn assert_hidden(c: &Config) {
    let shown = [
        c.to_effective_toml(),
        format!("{c:?}"),
        format!("{:?}", c.auth),
    ];
    for s in &shown {
        for secret in [ENV_SECRET, FILE_SECRET, VALUE_SECRET] {
            assert!(!s.contains(secret), "secret leaked in:\n{s}");
        }
    }
}

#[test]
fn token_from_env_and_file_and_value() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("query-token");
    std::fs::write(&path, format!("{FILE_SECRET}\n")).expect("write token");
    let text = format!(
        "[auth]\ningest_tokens = [{{ env = \"LOGMIND_INGEST_TOKEN\" }}]\nquery_tokens = [{{ file = {:?} }}]\nadmin_tokens = [\"{VALUE_SECRET}\", {{ value = \"{VALUE_SECRET}-2\" }}]\n",
        path.display().to_string()
    );
    let c = Config::from_toml_str(&text, &env, &Overrides::new()).expect("tokens");
    assert_eq!(c.auth.ingest_tokens[0].secret.expose(), ENV_SECRET);
    assert_eq!(
        c.auth.ingest_tokens[0].source,
        TokenSource::Env("LOGMIND_INGEST_TOKEN".into())
    );
    assert_eq!(
        c.auth.query_tokens[0].secret.expose(),
        FILE_SECRET,
        "file token is trimmed"
    );
    assert_eq!(
        c.auth.query_tokens[0].source,
        TokenSource::File(path.clone())
    );
    assert_eq!(c.auth.admin_tokens.len(), 2);
    assert_hidden(&c);

    let eff = c.to_effective_toml();
    assert!(
        eff.contains("ingest_tokens = [\"<redacted: env LOGMIND_INGEST_TOKEN>\"]"),
        "{eff}"
    );
    assert!(
        eff.contains(&format!(
            "query_tokens = [\"<redacted: file {}>\"]",
            path.display()
        )),
        "{eff}"
    );
    assert!(
        eff.contains("admin_tokens = [\"<redacted: value>\", \"<redacted: value>\"]"),
        "{eff}"
    );

    assert!(c.auth.allows(Scope::Ingest, Some(ENV_SECRET)));
    assert!(!c.auth.allows(Scope::Ingest, Some(FILE_SECRET)));
    assert!(!c.auth.allows(Scope::Ingest, None));
    assert!(
        c.auth.allows(Scope::Query, Some(VALUE_SECRET)),
        "admin tokens are accepted everywhere"
    );
    assert!(!c.auth.allows(Scope::Admin, Some(ENV_SECRET)));
}

#[test]
fn no_tokens_leaves_scopes_open() {
    let c = defaults();
    assert!(!c.auth.is_required(Scope::Ingest));
    assert!(c.auth.allows(Scope::Query, None));
}

#[test]
fn token_list_from_env_variable() {
    let e = |k: &str| (k == "LOGMIND_AUTH_QUERY_TOKENS").then(|| ENV_SECRET.to_string());
    let c = Config::load(None, &e, &Overrides::new()).expect("env tokens");
    assert_eq!(c.auth.query_tokens[0].secret.expose(), ENV_SECRET);
    let eff = c.to_effective_toml();
    assert!(
        eff.contains("query_tokens = [\"<redacted: env LOGMIND_AUTH_QUERY_TOKENS>\"]"),
        "{eff}"
    );
    assert_hidden(&c);
}

#[test]
fn missing_env_token_is_an_error_naming_the_key() {
    let text = "[auth]\ningest_tokens = [{ env = \"NOPE_NOT_SET\" }]\n";
    let e = Config::from_toml_str(text, &no_env, &Overrides::new())
        .expect_err("unset")
        .to_string();
    assert!(e.starts_with("auth.ingest_tokens[0] { env = \"NOPE_NOT_SET\" }: environment variable NOPE_NOT_SET is not set"), "{e}");
    assert!(e.contains("export it"), "{e}");
}

#[test]
fn unreadable_token_file_is_an_error_naming_the_key() {
    let text = "[auth]\nadmin_tokens = [\"ok-token\", { file = \"/nonexistent/token\" }]\n";
    let e = Config::from_toml_str(text, &no_env, &Overrides::new())
        .expect_err("missing file")
        .to_string();
    assert!(
        e.starts_with(
            "auth.admin_tokens[1] { file = \"/nonexistent/token\" }: cannot read token file"
        ),
        "{e}"
    );
    assert!(e.contains("check the path"), "{e}");
}

#[test]
fn bad_tokens_never_echo_the_value() {
    let text = format!(
        "[auth]\ningest_tokens = [\"{VALUE_SECRET} x\", {{ value = \"a\", env = \"B\" }}]\n"
    );
    let e = Config::from_toml_str(&text, &no_env, &Overrides::new())
        .expect_err("bad")
        .to_string();
    assert!(!e.contains(VALUE_SECRET), "{e}");
    assert!(
        e.contains("auth.ingest_tokens[0] <redacted: value>: the token contains whitespace"),
        "{e}"
    );
    assert!(
        e.contains("auth.ingest_tokens[1] { env, value }: expected exactly one of"),
        "{e}"
    );
}

#[test]
fn token_list_of_wrong_type_does_not_echo_it() {
    let e = crate::fail(&format!("[auth]\nadmin_tokens = \"{VALUE_SECRET}\"\n"));
    assert!(!e.contains(VALUE_SECRET), "{e}");
    assert!(
        e.starts_with("auth.admin_tokens string: expected an array of \"token\""),
        "{e}"
    );
}

#[test]
fn redacted_placeholder_is_refused() {
    let e = crate::fail("[auth]\nquery_tokens = [\"<redacted: env X>\"]\n");
    assert!(
        e.contains("auth.query_tokens[0]") && e.contains("redacted placeholder"),
        "{e}"
    );
}

#[test]
fn effective_toml_with_tokens_reloads_only_after_fixing_them() {
    let dir = tempfile::tempdir().expect("dir");
    let path: PathBuf = dir.path().join("t");
    std::fs::write(&path, FILE_SECRET).expect("write");
    let text = format!(
        "[auth]\ningest_tokens = [{{ file = {:?} }}]\n",
        path.display().to_string()
    );
    let c = Config::from_toml_str(&text, &no_env, &Overrides::new()).expect("ok");
    assert!(Config::from_toml_str(&c.to_effective_toml(), &no_env, &Overrides::new()).is_err());
}
