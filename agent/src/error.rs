//! [`AgentError`]: what can stop the agent, each naming the input and what to do.

use std::path::PathBuf;

/// Errors that stop the agent (per-file and per-batch problems are logged and counted instead).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A configured value is unusable.
    #[error("agent options: {0}")]
    Options(String),
    /// A glob pattern does not parse.
    #[error("agent: glob {pattern:?} is invalid: {reason} (fix the include/exclude pattern)")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What globset said.
        reason: String,
    },
    /// Disk I/O on the agent's own data (checkpoint, spool) failed.
    #[error("agent: {what} {path}: {source} (check that the data dir is writable and not full)")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or spool file is corrupt or of an unknown version.
    #[error("agent: {path}: {reason} (move the file away to start over from the logs)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP listener could not start.
    #[error("agent: cannot listen on {addr}: {source} (pick another --listen address)")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Kubernetes client could not be built though Kubernetes mode is `On`.
    #[error("agent: kubernetes: {0}")]
    Kube(String),
    /// A worker thread or task ended abnormally.
    #[error("agent: internal: {0}")]
    Internal(String),
}

impl AgentError {
    /// An [`AgentError::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
