//! The HTTP error: every failure leaves as `application/problem+json` with the
//! status codes of docs/api.md. Internal causes are logged, never sent.
//! The errors of the containers and of the Docker bridge convert into it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::Problem;

use crate::containers;

/// An HTTP failure: a status and a detail a person can act on.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    /// A failure of the agent itself: the cause goes to the log, the client
    /// gets a generic detail naming what was attempted.
    pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed on the agent; its log has the cause"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

/// Renders a problem body with `status` and `detail`.
pub fn problem_response(status: StatusCode, detail: impl Into<String>) -> Response {
    berth_net::problem::response(&Problem::new(status.as_u16(), detail))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(self.status, self.detail)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The problem the client gets.
impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        Problem::new(e.status.as_u16(), e.detail)
    }
}

/// A refusal of `berth_net::agent_service` (a missing WebSocket upgrade).
impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, p.detail)
    }
}

impl From<crate::docker::Error> for ApiError {
    fn from(e: crate::docker::Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        ApiError::new(status, e.to_string())
    }
}

impl From<containers::Error> for ApiError {
    fn from(e: containers::Error) -> Self {
        use containers::Error as E;
        match e {
            E::NotFound(c) => ApiError::not_found(format!("no such container: {c}")),
            E::Conflict(d) => ApiError::conflict(d),
            E::Invalid(d) => ApiError::unprocessable(d),
            E::Image(i) => {
                let p = i.to_problem();
                let status =
                    StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    tracing::error!(error = %i, "image store");
                }
                ApiError::new(status, p.detail)
            }
            E::Network(n) => {
                let status =
                    StatusCode::from_u16(n.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    ApiError::internal("container networking", &n)
                } else if status == StatusCode::BAD_REQUEST {
                    ApiError::unprocessable(n.to_string())
                } else {
                    ApiError::new(status, n.to_string())
                }
            }
            E::Internal { what, cause } => ApiError::internal(&what, &cause),
        }
    }
}
