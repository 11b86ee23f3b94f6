//! The HTTP error of every handler: one enum that maps to a status code and an
//! RFC 9457 `application/problem+json` body (docs/api.md, "Errors").
//!
//! Internal causes (database, I/O, crypto) are logged with `tracing` and never
//! sent to the client; the client sees a generic 500 detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api::Problem;

/// Result of a handler.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{detail}")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    /// A host answered with an error, failed (502) or timed out (504).
    #[error("host {host}: {detail}")]
    Host {
        status: u16,
        host: String,
        detail: String,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Host { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            ApiError::Database(e) if is_unique_violation(e) => StatusCode::CONFLICT,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem body sent to the client.
    pub fn problem(&self) -> Problem {
        let status = self.status().as_u16();
        match self {
            ApiError::Host { host, detail, .. } => {
                Problem::new(status, detail.clone()).with_host(host)
            }
            ApiError::Database(e) if is_unique_violation(e) => {
                Problem::new(status, "that name is already taken")
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                Problem::new(status, "internal error; the server log has the cause")
            }
            other => Problem::new(status, other.to_string()),
        }
    }
}

/// Is this a unique-constraint violation (SQLite or PostgreSQL)?
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() && !matches!(self, ApiError::Host { .. }) {
            tracing::error!(error = %self, "request failed");
        }
        let retry = match &self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut resp = problem_response(&self.problem());
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A problem+json response (the agent answers the same way).
pub use berth_net::problem::response as problem_response;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_stay_private() {
        let e = ApiError::internal("disk /secret/path failed");
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("/secret/path"));
    }

    #[test]
    fn host_errors_name_the_host() {
        let e = ApiError::Host {
            status: 504,
            host: "h1".into(),
            detail: "timed out after 3s".into(),
        };
        assert_eq!(e.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.problem().host.as_deref(), Some("h1"));
    }

    #[test]
    fn too_many_requests_has_retry_after() {
        let r = ApiError::TooManyRequests {
            retry_after_secs: 7,
            detail: "slow down".into(),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            berth_api::error::PROBLEM_JSON
        );
    }
}
