//! Health, the OpenAPI document and Prometheus metrics.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_api::Health;

use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// Liveness; no auth.
#[utoipa::path(get, path = "/api/v1/health", tag = "system",
    responses((status = 200, description = "the server is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_string(),
        version: berth_api::VERSION.to_string(),
    })
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "the OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    let mut r = crate::openapi::document_json().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Equal strings, in time that does not depend on where they differ (both
/// are hashed first, so on their lengths neither).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Prometheus metrics, text format. On the main port it needs
/// `Authorization: Bearer <BERTH_METRICS_TOKEN>`; without a configured token
/// it is not served here (use `--metrics-listen` for a separate listener).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "missing or wrong metrics token", body = berth_api::Problem),
        (status = 404, description = "no metrics token is configured", body = berth_api::Problem)),
    security(("bearer" = [])))]
pub async fn prometheus(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(want) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return ApiError::NotFound(
            "metrics are not served on this port: set BERTH_METRICS_TOKEN (then send it as a bearer token) or --metrics-listen"
                .into(),
        )
        .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    if given.is_empty() || !constant_time_eq(given, want) {
        return ApiError::Unauthorized(
            "GET /metrics needs Authorization: Bearer <the BERTH_METRICS_TOKEN>".into(),
        )
        .into_response();
    }
    prometheus_unauthenticated(State(state)).await
}

/// `/metrics` of the `--metrics-listen` listener: no auth.
pub async fn prometheus_unauthenticated(State(state): State<AppState>) -> Response {
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    r
}
