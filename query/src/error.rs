//! The query layer's error type. HTTP status codes are assigned in exactly one place:
//! [`crate::http::error`].

/// Everything a query can fail with.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter could not be understood (bad time, unknown field, bad cursor…).
    #[error("{0}")]
    BadRequest(String),
    /// The full-text query has a syntax error.
    #[error("query {query:?}: syntax error at position {position}: {message}")]
    Syntax {
        /// The query text as given.
        query: String,
        /// Byte offset of the error.
        position: usize,
        /// What is wrong there.
        message: String,
    },
    /// A configured limit was exceeded (time range, lines, regex size, memory).
    #[error("{0}")]
    Limit(String),
    /// Too many requests of a kind at once (live tails); HTTP 429.
    #[error("{0}")]
    Busy(String),
    /// The query ran longer than the configured timeout.
    #[error("query timed out after {0:?}; narrow the time range or add filters")]
    Timeout(std::time::Duration),
    /// The client went away and the query was cancelled.
    #[error("query cancelled")]
    Cancelled,
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Missing or unknown credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials without the right role.
    #[error("{0}")]
    Forbidden(String),
    /// The index could not be read.
    #[error("index read failed: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// Anything else that is our fault (a worker panicked…).
    #[error("internal error: {0}")]
    Internal(String),
}
