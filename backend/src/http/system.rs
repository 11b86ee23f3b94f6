//! Health, the OpenAPI document and Prometheus metrics.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_api::Health;

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

/// Prometheus metrics, text format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn prometheus(State(state): State<AppState>) -> Response {
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
