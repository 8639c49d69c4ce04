//! The crate's error type.

use std::path::PathBuf;

/// Why a workload could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A file or directory could not be created, written, renamed, compressed or removed.
    #[error("workload: {op} {path:?}: {source} (check that the root directory is writable and the disk is not full)")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The options are inconsistent.
    #[error("workload: invalid option {option}: {reason}")]
    Options {
        /// Which option.
        option: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// The manifest could not be serialised.
    #[error("workload: serialising {what}: {source}")]
    Json {
        /// What was being serialised.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl GenerateError {
    /// An I/O error on `path` while doing `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> GenerateError {
        GenerateError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
