//! `[auth]`: bearer tokens for ingest, query and admin, read from the file, an environment variable or a
//! secret file, resolved once at load. A resolved token never prints: `Debug` and `Serialize` redact it.

use crate::check::Checker;
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest accepted token file; a larger file is certainly not a token.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// One token source as written: `"tok"`, `{ value = "tok" }`, `{ env = "VAR" }` or `{ file = "/path" }`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenSourceBuilder {
    /// A bare string: the token itself.
    Bare(String),
    /// A table with exactly one of its keys.
    Table(TokenTable),
}

/// The table form of a token source.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenTable {
    /// The token itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Name of an environment variable holding the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file holding the token (surrounding whitespace is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSourceBuilder::Bare(_) => f.write_str("Bare(<redacted>)"),
            TokenSourceBuilder::Table(t) => f
                .debug_struct("TokenTable")
                .field("value", &t.value.as_ref().map(|_| "<redacted>"))
                .field("env", &t.env)
                .field("file", &t.file)
                .finish(),
        }
    }
}

/// `[auth]` as written in the file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthBuilder {
    /// Tokens accepted by `POST /api/v1/ingest` and Loki push.
    pub ingest_tokens: Vec<TokenSourceBuilder>,
    /// Tokens accepted by the query APIs.
    pub query_tokens: Vec<TokenSourceBuilder>,
    /// Tokens accepted everywhere.
    pub admin_tokens: Vec<TokenSourceBuilder>,
}

/// A token value. `Debug` and `Serialize` print `<redacted>`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The token itself. Use only to compare or to send it; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `presented` in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Where a token came from (safe to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Written in the config file (or given as a flag).
    Value,
    /// Read from this environment variable.
    Env(String),
    /// Read from this file.
    File(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Value => f.write_str("value"),
            TokenSource::Env(v) => write!(f, "env {v}"),
            TokenSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// A resolved token and where it came from; serialises as `"<redacted: env VAR>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its origin.
    pub source: TokenSource,
    /// The token.
    pub secret: Secret,
}

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{REDACTED_PREFIX} {}>", self.source))
    }
}

const REDACTED_PREFIX: &str = "<redacted:";

/// Which API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Agent ingest and Loki push.
    Ingest,
    /// Search, errors, trace, users, Loki query APIs.
    Query,
    /// Administrative endpoints.
    Admin,
}

/// Validated `[auth]`. An empty list leaves that scope open; admin tokens are accepted for every scope.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AuthConfig {
    /// Tokens for ingest.
    pub ingest_tokens: Vec<Token>,
    /// Tokens for queries.
    pub query_tokens: Vec<Token>,
    /// Tokens for everything.
    pub admin_tokens: Vec<Token>,
}

impl AuthConfig {
    fn list(&self, scope: Scope) -> &[Token] {
        match scope {
            Scope::Ingest => &self.ingest_tokens,
            Scope::Query => &self.query_tokens,
            Scope::Admin => &self.admin_tokens,
        }
    }

    /// True when requests of `scope` must present a token (its list is not empty).
    pub fn is_required(&self, scope: Scope) -> bool {
        !self.list(scope).is_empty()
    }

    /// True when `presented` (a bearer token, or none) grants `scope`.
    pub fn allows(&self, scope: Scope, presented: Option<&str>) -> bool {
        if !self.is_required(scope) {
            return true;
        }
        let Some(p) = presented else { return false };
        // Check every token (no early exit) so timing does not reveal which list matched.
        let hits = self
            .list(scope)
            .iter()
            .chain(&self.admin_tokens)
            .filter(|t| t.secret.matches(p))
            .count();
        hits > 0
    }
}

fn read_token_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, too large for a token",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

fn resolve_one(
    c: &mut Checker,
    key: &str,
    src: &TokenSourceBuilder,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Token> {
    let (source, value, shown) = match src {
        TokenSourceBuilder::Bare(v) => (
            TokenSource::Value,
            v.clone(),
            "<redacted: value>".to_string(),
        ),
        TokenSourceBuilder::Table(TokenTable {
            value: Some(v),
            env: None,
            file: None,
        }) => (
            TokenSource::Value,
            v.clone(),
            "<redacted: value>".to_string(),
        ),
        TokenSourceBuilder::Table(TokenTable {
            value: None,
            env: Some(var),
            file: None,
        }) => {
            let shown = format!("{{ env = {var:?} }}");
            match env(var) {
                Some(v) => (TokenSource::Env(var.clone()), v, shown),
                None => {
                    let p = format!("environment variable {var} is not set (export it, or use {{ file = \"/path\" }})");
                    c.push(ConfigError::invalid(key, shown, p));
                    return None;
                }
            }
        }
        TokenSourceBuilder::Table(TokenTable {
            value: None,
            env: None,
            file: Some(path),
        }) => {
            let shown = format!("{{ file = {path:?} }}");
            match read_token_file(Path::new(path)) {
                Ok(v) => (TokenSource::File(PathBuf::from(path)), v, shown),
                Err(e) => {
                    let p = format!(
                        "cannot read token file: {e} (check the path and that logmind may read it)"
                    );
                    c.push(ConfigError::invalid(key, shown, p));
                    return None;
                }
            }
        }
        TokenSourceBuilder::Table(_) => {
            let p =
                "needs exactly one of value, env or file (e.g. { env = \"LOGMIND_INGEST_TOKEN\" })";
            c.push(ConfigError::invalid(key, "{ … }", p));
            return None;
        }
    };
    let token = value.trim();
    if token.is_empty() {
        c.push(ConfigError::invalid(
            key,
            shown,
            "the token is empty (put a non-empty token there)",
        ));
        return None;
    }
    if token.starts_with(REDACTED_PREFIX) || token == "<redacted>" {
        let p = "this is a redacted placeholder copied from `logmind config check`, not a token (use { env = \"VAR\" } or { file = \"/path\" })";
        c.push(ConfigError::invalid(key, shown, p));
        return None;
    }
    if token
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control())
    {
        c.push(ConfigError::invalid(
            key,
            shown,
            "the token contains whitespace (it is sent in an HTTP header: remove it)",
        ));
        return None;
    }
    Some(Token {
        source,
        secret: Secret(token.to_string()),
    })
}

impl AuthBuilder {
    /// Resolves every token source, recording each problem (without the secret) in `c`.
    pub fn validate(
        &self,
        c: &mut Checker,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<AuthConfig> {
        let mut resolve = |name: &str, list: &[TokenSourceBuilder]| -> Option<Vec<Token>> {
            let out: Vec<Option<Token>> = list
                .iter()
                .enumerate()
                .map(|(i, s)| resolve_one(c, &format!("auth.{name}[{i}]"), s, env))
                .collect();
            out.into_iter().collect()
        };
        let ingest = resolve("ingest_tokens", &self.ingest_tokens);
        let query = resolve("query_tokens", &self.query_tokens);
        let admin = resolve("admin_tokens", &self.admin_tokens);
        Some(AuthConfig {
            ingest_tokens: ingest?,
            query_tokens: query?,
            admin_tokens: admin?,
        })
    }
}
