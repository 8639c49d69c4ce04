//! The indexer's error type and its HTTP mapping.

use crate::auth::AuthError;
use crate::template::TemplateError;

/// Everything that can go wrong in the indexer.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The request is malformed (bad header, bad line); HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request is too large; HTTP 413.
    #[error("{0}")]
    TooLarge(String),
    /// Indexing is behind: retry after the given seconds; HTTP 429.
    #[error("indexing is behind ({pending_bytes} bytes pending, limit {limit}); retry in {retry_after_secs}s")]
    Overloaded {
        /// Bytes accepted but not yet indexed.
        pending_bytes: u64,
        /// The configured limit.
        limit: u64,
        /// Suggested back-off.
        retry_after_secs: u64,
    },
    /// The indexer cannot accept data right now (WAL failed, shutting down); HTTP 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Not authorised; HTTP 401/403.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tantivy operation failed.
    #[error("index {op} {path}: {source}")]
    Index {
        /// What was being done.
        op: &'static str,
        /// The partition directory.
        path: String,
        /// tantivy's error.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The template store failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A data file is not in the expected format.
    #[error("corrupt {what} {path}: {reason}")]
    Corrupt {
        /// Which kind of file.
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Restore target or snapshot source is not usable.
    #[error("{0}")]
    Invalid(String),
}

impl IndexerError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            IndexerError::BadRequest(_) | IndexerError::Invalid(_) => 400,
            IndexerError::TooLarge(_) => 413,
            IndexerError::Overloaded { .. } => 429,
            IndexerError::Unavailable(_) => 503,
            IndexerError::Auth(a) => a.status(),
            _ => 500,
        }
    }

    /// Builds an [`IndexerError::Io`] mapper for `op` on `path`.
    pub fn io(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| IndexerError::Io { op, path, source }
    }

    /// Builds an [`IndexerError::Index`] mapper for `op` on `path`.
    pub fn index(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(tantivy::TantivyError) -> Self {
        let path = path.display().to_string();
        move |source| IndexerError::Index { op, path, source }
    }
}

/// Result alias for the indexer.
pub type Result<T, E = IndexerError> = std::result::Result<T, E>;
