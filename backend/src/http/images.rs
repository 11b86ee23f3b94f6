//! Images of one host: list, pull (SSE progress relayed), import (the tar
//! body streamed to the agent, never held in memory) and delete.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use berth_api::List;
use berth_api::images::{Image, ImportResult, PullRequest};
use futures::TryStreamExt;
use reqwest::Method;
use serde_json::Value;

use super::proxy::{self, MUTATION_DEADLINE, client_for};
use crate::audit::AuditCtx;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::rbac::Action;
use crate::state::AppState;

/// How long an import may take.
const IMPORT_DEADLINE: Duration = Duration::from_secs(3600);
/// How long the agent may take to start answering a pull.
const PULL_START_DEADLINE: Duration = Duration::from_secs(60);

#[utoipa::path(get, path = "/api/v1/hosts/{host}/images", tag = "images",
    params(("host" = String, Path, description = "host id")),
    responses((status = 200, body = List<Image>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Path(host): Path<String>,
) -> ApiResult<Json<List<Value>>> {
    let (_, c) = client_for(&state, &p, &host, Action::ViewHost).await?;
    let rb = c.request(Method::GET, c.url(&["v1", "images"], &[]), &p.username)?;
    let items: Vec<Value> = c.json(rb, state.config.fanout_deadline()).await?;
    Ok(Json(List::new(items)))
}

/// Pulls an image; the answer is an SSE stream of PullProgress ending with
/// status `done` or `error`. A registry on an internal address (loopback,
/// link-local, cloud metadata; also when reached by a name, redirect or
/// token realm) is refused (422) unless the host's
/// `allow_internal_registries` is set.
#[utoipa::path(post, path = "/api/v1/hosts/{host}/images/pull", tag = "images",
    params(("host" = String, Path, description = "host id")),
    request_body = PullRequest,
    responses((status = 200, description = "SSE of PullProgress", content_type = "text/event-stream"),
        (status = 400, body = berth_api::Problem), (status = 404, body = berth_api::Problem),
        (status = 422, description = "the registry is internal and the host does not allow it", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn pull(
    State(state): State<AppState>,
    p: Principal,
    audit: AuditCtx,
    Path(host): Path<String>,
    Json(mut req): Json<PullRequest>,
) -> ApiResult<Response> {
    if req.reference.trim().is_empty() {
        return Err(ApiError::Unprocessable(
            "reference must not be empty".into(),
        ));
    }
    let (h, c) = client_for(&state, &p, &host, Action::ManageImages).await?;
    // Only the host's setting (admins) lets a pull reach internal
    // registries; what the caller sent is replaced.
    req.allow_internal_registries = crate::db::host_settings::get(&state.db, &h.id)
        .await?
        .allow_internal_registries;
    audit.set_target(&req.reference);
    let rb = c
        .request(
            Method::POST,
            c.url(&["v1", "images", "pull"], &[]),
            &p.username,
        )?
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&req);
    let resp = c.send(rb, Some(PULL_START_DEADLINE)).await?;
    proxy::relay_stream(&c, resp).await
}

/// The body of an import: the bytes of a tar.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct TarBody(pub Vec<u8>);

/// Imports a `docker save` or OCI-layout tar (the request body, streamed).
#[utoipa::path(post, path = "/api/v1/hosts/{host}/images/import", tag = "images",
    params(("host" = String, Path, description = "host id")),
    request_body(content = TarBody, description = "a docker save or OCI layout tar", content_type = "application/x-tar"),
    responses((status = 201, body = ImportResult), (status = 400, body = berth_api::Problem),
        (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn import(
    State(state): State<AppState>,
    p: Principal,
    Path(host): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (_, c) = client_for(&state, &p, &host, Action::ManageImages).await?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut rb = c
        .request(
            Method::POST,
            c.url(&["v1", "images", "import"], &[]),
            &p.username,
        )?
        .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        rb = rb.header(reqwest::header::CONTENT_LENGTH, len);
    }
    proxy::relay(&c, rb, IMPORT_DEADLINE).await
}

/// Removes an image (409 while a container uses it).
#[utoipa::path(delete, path = "/api/v1/hosts/{host}/images/{image}", tag = "images",
    params(("host" = String, Path, description = "host id"), ("image" = String, Path, description = "image id or reference (percent-encoded)")),
    responses((status = 204, description = "removed"), (status = 404, body = berth_api::Problem),
        (status = 409, description = "a container uses it", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    p: Principal,
    Path((host, image)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, c) = client_for(&state, &p, &host, Action::ManageImages).await?;
    let rb = c.request(
        Method::DELETE,
        c.url(&["v1", "images", &image], &[]),
        &p.username,
    )?;
    proxy::relay(&c, rb, MUTATION_DEADLINE).await
}
