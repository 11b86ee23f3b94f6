//! A host's metrics (history and live), namespaces and cgroup tree, relayed
//! from its agent.

use axum::extract::State;
use axum::response::Response;
use berth_api::List;
use berth_api::agent_api::{AgentApi, AgentRequest};
use berth_api::inventory::{CgroupNode, NamespaceEntry};
use berth_api::metrics::HostSample;

use super::authorize::OnHost;
use super::containers::{WindowQuery, redact_command, sees_secrets};
use super::proxy;
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::state::AppState;

/// The host's resource history.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/metrics", tag = "hosts",
    params(("host" = String, Path, description = "host id"), WindowQuery),
    responses((status = 200, body = List<HostSample>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    on: OnHost,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Json<List<HostSample>>> {
    let (c, p) = (on.client(&state)?, on.principal);
    let call = c.call(&p.username, state.config.fanout_deadline());
    Ok(Json(List::new(call.host_metrics(&q.to_agent()).await?)))
}

/// Live host metrics, one sample a second (SSE of HostSample), shared by viewers.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/metrics/stream", tag = "hosts",
    params(("host" = String, Path, description = "host id")),
    responses((status = 200, description = "SSE of HostSample", content_type = "text/event-stream"),
        (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn metrics_stream(State(state): State<AppState>, on: OnHost) -> ApiResult<Response> {
    let (c, p) = (on.client(&state)?, on.principal);
    proxy::shared_stream(&state, &p, c, AgentRequest::host_metrics_stream(), 1).await
}

/// The host's namespaces, as `lsns` shows them (below deployer, each
/// process's command line is cut to its executable).
#[utoipa::path(get, path = "/api/v1/hosts/{host}/namespaces", tag = "hosts",
    params(("host" = String, Path, description = "host id")),
    responses((status = 200, body = List<NamespaceEntry>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn namespaces(
    State(state): State<AppState>,
    on: OnHost,
) -> ApiResult<Json<List<NamespaceEntry>>> {
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    let call = c.call(&p.username, state.config.fanout_deadline());
    let mut items = call.namespaces().await?;
    if !sees_secrets(&p, &h) {
        for it in &mut items {
            it.command = redact_command(&it.command);
        }
    }
    Ok(Json(List::new(items)))
}

/// The host's cgroup tree with limits, usage and pressure.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/cgroups", tag = "hosts",
    params(("host" = String, Path, description = "host id")),
    responses((status = 200, body = CgroupNode), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn cgroups(State(state): State<AppState>, on: OnHost) -> ApiResult<Json<CgroupNode>> {
    let (c, p) = (on.client(&state)?, on.principal);
    let call = c.call(&p.username, state.config.fanout_deadline());
    Ok(Json(call.cgroups().await?))
}
