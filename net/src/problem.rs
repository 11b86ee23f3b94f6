//! The error answer of the server and the agent: an RFC 9457
//! `application/problem+json` body ([`berth_api::Problem`]) with its status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api::Problem;
use berth_api::error::PROBLEM_JSON;

/// A problem+json response; a status that is not an HTTP status is a 500.
pub fn response(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(p).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_status_and_type() {
        let r = response(&Problem::new(409, "busy").with_host("h1"));
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let p: Problem = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (p.status, p.detail.as_str(), p.host.as_deref()),
            (409, "busy", Some("h1"))
        );
        assert_eq!(p.title, "Conflict");
    }
}
