//! Images of one host: list, pull (SSE progress relayed), import (the tar
//! body streamed to the agent, never held in memory) and delete.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use berth_api::List;
use berth_api::agent_api::AgentApi;
use berth_api::images::{Image, ImportResult, PullRequest};
use futures::TryStreamExt;

use super::authorize::OnHost;
use super::proxy::{self, MUTATION_DEADLINE};
use crate::agents::ImportUpload;
use crate::audit::AuditCtx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// How long an import may take.
const IMPORT_DEADLINE: Duration = Duration::from_secs(3600);
/// How long the agent may take to start answering a pull.
const PULL_START_DEADLINE: Duration = Duration::from_secs(60);

#[utoipa::path(get, path = "/api/v1/hosts/{host}/images", tag = "images",
    params(("host" = String, Path, description = "host id")),
    responses((status = 200, body = List<Image>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, on: OnHost) -> ApiResult<Json<List<Image>>> {
    let (c, p) = (on.client(&state)?, on.principal);
    let call = c.call(&p.username, state.config.fanout_deadline());
    Ok(Json(List::new(call.list_images().await?)))
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
    on: OnHost,
    audit: AuditCtx,
    Json(mut req): Json<PullRequest>,
) -> ApiResult<Response> {
    if req.reference.trim().is_empty() {
        return Err(ApiError::Unprocessable(
            "reference must not be empty".into(),
        ));
    }
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    // Only the host's setting (admins) lets a pull reach internal
    // registries; what the caller sent is replaced.
    req.allow_internal_registries = crate::db::host_settings::get(&state.db, &h.id)
        .await?
        .allow_internal_registries;
    audit.set_target(&req.reference);
    let resp = c
        .call(&p.username, PULL_START_DEADLINE)
        .pull_image(&req)
        .await?;
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
    on: OnHost,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    let (c, p) = (on.client(&state)?, on.principal);
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let upload = ImportUpload {
        body: reqwest::Body::wrap_stream(stream),
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let call = c.call(&p.username, IMPORT_DEADLINE);
    Ok((StatusCode::CREATED, Json(call.import_image(upload).await?)))
}

/// Removes an image (409 while a container uses it).
#[utoipa::path(delete, path = "/api/v1/hosts/{host}/images/{image}", tag = "images",
    params(("host" = String, Path, description = "host id"), ("image" = String, Path, description = "image id or reference (percent-encoded)")),
    responses((status = 204, description = "removed"), (status = 404, body = berth_api::Problem),
        (status = 409, description = "a container uses it", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, image)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (c, p) = (on.client(&state)?, on.principal);
    c.call(&p.username, MUTATION_DEADLINE)
        .remove_image(&image)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
