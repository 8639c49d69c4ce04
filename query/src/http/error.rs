//! The one place where query errors become HTTP status codes (like Quickwit's `SearchError::error_code`).
//! Bodies are `{"error": "..."}`; internal details go to the log, never to the client.

use crate::error::QueryError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use logmind_protocol::ErrorBody;

impl QueryError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            QueryError::BadRequest(_) | QueryError::Syntax { .. } | QueryError::Limit(_) => {
                StatusCode::BAD_REQUEST
            }
            QueryError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            QueryError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            // nginx's "client closed request": nobody reads it, but logs stay meaningful.
            QueryError::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            QueryError::NotFound(_) => StatusCode::NOT_FOUND,
            QueryError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            QueryError::Forbidden(_) => StatusCode::FORBIDDEN,
            QueryError::Index(_) | QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown to the client.
    pub fn public_message(&self) -> String {
        match self {
            QueryError::Index(_) | QueryError::Internal(_) => {
                "internal error while running the query; see the server log".to_string()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "query failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "query refused");
        }
        (
            status,
            Json(ErrorBody {
                error: self.public_message(),
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(QueryError::BadRequest("x".into()).status(), 400);
        assert_eq!(
            QueryError::Syntax {
                query: "a (".into(),
                position: 2,
                message: "m".into()
            }
            .status(),
            400
        );
        assert_eq!(QueryError::Limit("x".into()).status(), 400);
        assert_eq!(QueryError::NotFound("x".into()).status(), 404);
        assert_eq!(QueryError::Unauthorized("x".into()).status(), 401);
        assert_eq!(QueryError::Forbidden("x".into()).status(), 403);
        assert_eq!(
            QueryError::Timeout(std::time::Duration::from_secs(1)).status(),
            504
        );
        let internal = QueryError::Internal("panic at src/x.rs:1".into());
        assert_eq!(internal.status(), 500);
        assert!(!internal.public_message().contains("src/x.rs"));
    }
}
