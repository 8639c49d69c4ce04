//! The HTTP client behind the CLI commands (`logmind trace`, `user`, `errors`, `count`, `search`, `tail`,
//! `query`). The binary parses flags into [`CommonArgs`] and calls one `run_*` function, which prints to
//! stdout (aligned, coloured tables on a terminal; plain when piped or with `NO_COLOR`; or JSON/NDJSON) and
//! returns the process exit code: 0 ok, 1 when the one thing asked for does not exist, 2 on usage or server
//! errors (returned as [`ClientError`], whose message carries the server's).

pub mod commands;
pub mod logql;
pub mod output;

pub use commands::{
    run_count, run_errors, run_query, run_search, run_tail, run_trace, run_user, CountArgs,
    QueryArgs, SearchArgs, TailArgs,
};
pub use output::{Output, OutputFormat};

use serde::de::DeserializeOwned;
use std::time::Duration;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the one thing asked for does not exist.
pub const EXIT_NOT_FOUND: i32 = 1;
/// Exit code: usage or server error.
pub const EXIT_ERROR: i32 = 2;

/// Why a CLI command failed (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the connection failed.
    #[error("cannot reach logmind at {server}: {source} (is it running? set --server or LOGMIND_SERVER)")]
    Connect {
        /// Server base URL.
        server: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's `error` message (or body).
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("unexpected answer from {url}: {message}")]
    Decode {
        /// The URL asked.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed (e.g. closed pipe).
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        EXIT_ERROR
    }
}

/// Flags every query command shares.
#[derive(Debug, Clone, Default)]
pub struct CommonArgs {
    /// Server base URL (`--server` / `LOGMIND_SERVER`, default `http://127.0.0.1:3100`).
    pub server: String,
    /// Bearer token (`--token` / `LOGMIND_TOKEN`).
    pub token: Option<String>,
    /// Look-back (`--since 1h`); ignored when `from` is set.
    pub since: Option<String>,
    /// Range start (`--from`): RFC 3339, Unix s/ns, `now-2h`.
    pub from: Option<String>,
    /// Range end (`--to`).
    pub to: Option<String>,
    /// `--namespace`.
    pub namespace: Option<String>,
    /// `--app`.
    pub app: Option<String>,
    /// `--pod`.
    pub pod: Option<String>,
    /// `--level` (comma-separated list allowed).
    pub level: Option<String>,
    /// `--output table|json|ndjson`.
    pub output: OutputFormat,
}

/// Default server address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:3100";

impl CommonArgs {
    /// Query parameters for the range and filters.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut add = |k: &str, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                p.push((k.to_string(), v.to_string()));
            }
        };
        if self.from.as_deref().is_some_and(|f| !f.is_empty()) {
            add("start", &self.from);
        } else {
            add("since", &self.since);
        }
        add("end", &self.to);
        add("namespace", &self.namespace);
        add("app", &self.app);
        add("pod", &self.pod);
        add("level", &self.level);
        p
    }

    fn base(&self) -> String {
        let s = if self.server.is_empty() {
            DEFAULT_SERVER
        } else {
            &self.server
        };
        s.trim_end_matches('/').to_string()
    }
}

/// A small JSON-over-HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the server and token of `common`.
    pub fn new(common: &CommonArgs) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ClientError::Usage(format!("http client: {e}")))?;
        let token = common.token.clone().filter(|t| !t.is_empty()).or_else(|| {
            std::env::var("LOGMIND_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        });
        Ok(Client {
            http,
            base: common.base(),
            token,
        })
    }

    /// `GET path?params`, decoded from JSON; non-2xx statuses become [`ClientError::Server`] (404 included:
    /// callers that treat it as "not found" match on it).
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(String, String)],
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.get(&url).query(params);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|source| ClientError::Connect {
            server: self.base.clone(),
            source,
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|source| ClientError::Connect {
            server: self.base.clone(),
            source,
        })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<logmind_protocol::ErrorBody>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(500).collect());
            return Err(ClientError::Server {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url,
            message: e.to_string(),
        })
    }
}

/// Percent-encodes a path segment.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
