//! Health, the OpenAPI document and Prometheus metrics.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use berth_api::Health;

use crate::extract::Json;
use crate::openapi::Document;
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
pub async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    let mut r = doc.0.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Prometheus metrics, text format. On the main port it needs
/// `Authorization: Bearer <BERTH_METRICS_TOKEN>`; without a configured token
/// it is not served here (use `--metrics-listen` for a separate listener).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "missing or wrong metrics token", body = berth_api::Problem),
        (status = 404, description = "no metrics token is configured", body = berth_api::Problem)),
    security(("bearer" = [])))]
pub async fn prometheus(state: State<AppState>) -> Response {
    // The token is checked by the authorize middleware (`Access::MetricsToken`).
    prometheus_unauthenticated(state).await
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
