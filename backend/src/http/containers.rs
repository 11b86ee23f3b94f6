//! Containers: the fan-out list over every visible host, and the host-level
//! calls relayed to the host's agent (create, inspect, remove, actions, logs,
//! stats, namespaces). Streams (logs that follow, live stats) are shared
//! between viewers (see `streams`).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use berth_api::List;
use berth_api::agent_api::{self, AgentApi, AgentRequest, LabelFilter};
use berth_api::containers::{
    Container, ContainerAction, ContainerSpec, ContainerState, CreatedContainer, LogLine,
    NetworkMode, validate_container_name,
};
use berth_api::inventory::ContainerNamespace;
use berth_api::metrics::ContainerSample;

use super::authorize::OnHost;
use super::proxy::{self, MUTATION_DEADLINE};
use crate::agents::AgentCall;

pub use super::container_queries::*;
use crate::audit::AuditCtx;
use crate::auth::Principal;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::fanout::fan_out;
use crate::rbac::{self, Action, authorize};
use crate::state::AppState;

/// The agent's list query of a `label` filter (`key=value`, or just `key`
/// for any value) and a `state`.
fn list_query(label: Option<&str>, state: Option<&str>) -> ApiResult<agent_api::ListQuery> {
    let labels = label
        .map(str::parse::<LabelFilter>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let state = state
        .map(str::parse::<ContainerState>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    Ok(agent_api::ListQuery {
        labels: labels.into_iter().collect(),
        state,
    })
}

/// May the caller see secrets on this host: env values and whole command
/// lines (deployers and up)? Below that, views are redacted.
pub fn sees_secrets(p: &Principal, h: &db::hosts::HostRecord) -> bool {
    authorize(p, Action::ReadSecrets, rbac::host_target(h)).is_ok()
}

/// A command line cut to its executable (argv\[0\]): everything after the
/// first space goes.
pub fn redact_command(cmd: &str) -> String {
    cmd.split(' ').next().unwrap_or_default().to_string()
}

/// Withholds a container view's secrets: `spec.env` values become `""`
/// (names stay), `cmd` and `spec.cmd` keep only argv\[0\], and
/// `redacted: true` says so.
pub fn redact_container(c: &mut Container) {
    c.cmd.truncate(1);
    if let Some(spec) = &mut c.spec {
        spec.env.values_mut().for_each(String::clear);
        if let Some(cmd) = &mut spec.cmd {
            cmd.truncate(1);
        }
    }
    c.redacted = true;
}

/// A container view from an agent, redacted unless the caller may see
/// secrets on the host.
fn shown(p: &Principal, h: &db::hosts::HostRecord, mut c: Container) -> Json<Container> {
    if !sees_secrets(p, h) {
        redact_container(&mut c);
    }
    Json(c)
}

/// A host's containers, each with its `host` set to the host's id.
async fn fetch_list(call: AgentCall<'_>, q: &agent_api::ListQuery) -> ApiResult<Vec<Container>> {
    let mut items = call.list_containers(q).await?;
    for it in &mut items {
        it.host = call.client.host_id.clone();
    }
    Ok(items)
}

/// Every container on every host the caller may see, from all hosts at once.
#[utoipa::path(get, path = "/api/v1/containers", tag = "containers",
    params(ListAllQuery),
    responses((status = 200, description = "containers; `errors` names hosts that failed or timed out", body = List<Container>),
        (status = 400, body = berth_api::Problem),
        (status = 404, description = "`host` names no host the caller may see", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list_all(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListAllQuery>,
) -> ApiResult<Json<List<Container>>> {
    let query = list_query(q.label.as_deref(), q.state.as_deref())?;
    let mut hosts: Vec<_> = db::hosts::list(&state.db)
        .await?
        .into_iter()
        .filter(|h| rbac::can_see(&p, h))
        .collect();
    if let Some(only) = q.host.as_deref().filter(|s| !s.is_empty()) {
        hosts.retain(|h| h.id == only || h.name == only);
        if hosts.is_empty() {
            return Err(ApiError::NotFound(format!("no host {only}")));
        }
    }
    let username = p.username.clone();
    let (answers, errors) = fan_out(&state, hosts, |h, deadline| {
        let state = state.clone();
        let query = query.clone();
        let username = username.clone();
        async move {
            let c = state.agents.client(&h)?;
            fetch_list(c.call(&username, deadline), &query).await
        }
    })
    .await;
    let mut items = Vec::new();
    for (h, list) in answers {
        let mut list = list;
        if !sees_secrets(&p, &h) {
            list.iter_mut().for_each(redact_container);
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        items.extend(list.into_iter().map(|c| (h.name.clone(), c)));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Json(List {
        items: items.into_iter().map(|(_, c)| c).collect(),
        errors,
    }))
}

/// The containers of one host.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers", tag = "containers",
    params(("host" = String, Path, description = "host id"), HostListQuery),
    responses((status = 200, body = List<Container>), (status = 404, body = berth_api::Problem),
        (status = 502, body = berth_api::Problem), (status = 504, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    on: OnHost,
    Query(q): Query<HostListQuery>,
) -> ApiResult<Json<List<Container>>> {
    let query = list_query(q.label.as_deref(), q.state.as_deref())?;
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    let call = c.call(&p.username, state.config.fanout_deadline());
    let mut items = fetch_list(call, &query).await?;
    if !sees_secrets(&p, &h) {
        items.iter_mut().for_each(redact_container);
    }
    Ok(Json(List::new(items)))
}

/// Creates a container (deployers; host bind mounts and the host's network
/// (`network: host`, or `container:<c>` of a container on it) need admin).
/// Bind-mount sources are checked by the agent on the host's filesystem
/// (symlinks and `..` resolved): `/`, `/etc`, `/root`, `/proc`, `/sys`,
/// `/dev`, `/boot`, `/var/lib/berth*`, the Docker and containerd sockets
/// (and directories holding them) are refused (422) unless the owner lists
/// them in the host's `bind_mount_allowlist`; with an allowlist, only paths
/// under its prefixes are accepted.
#[utoipa::path(post, path = "/api/v1/hosts/{host}/containers", tag = "containers",
    params(("host" = String, Path, description = "host id"), CreateQuery),
    request_body = ContainerSpec,
    responses((status = 201, body = CreatedContainer), (status = 400, body = berth_api::Problem),
        (status = 403, body = berth_api::Problem), (status = 404, body = berth_api::Problem),
        (status = 409, description = "name taken", body = berth_api::Problem),
        (status = 422, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    on: OnHost,
    audit: AuditCtx,
    Query(q): Query<CreateQuery>,
    Json(spec): Json<ContainerSpec>,
) -> ApiResult<Response> {
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    if !spec.mounts.is_empty() {
        authorize(&p, Action::BindMount, rbac::host_target(&h))?;
    }
    check_network(&state, &p, &h, &c, &spec).await?;
    if spec.image.trim().is_empty() {
        return Err(ApiError::Unprocessable("image must not be empty".into()));
    }
    if let Some(name) = &spec.name {
        validate_container_name(name).map_err(ApiError::Unprocessable)?;
        audit.set_target(name);
    }
    audit.set_host(&h.id);
    let mut query = agent_api::CreateQuery {
        start: q.start.unwrap_or(false),
        mount_allow: Vec::new(),
    };
    if !spec.mounts.is_empty() {
        // The agent enforces the host's bind-mount policy on its filesystem.
        let settings = db::host_settings::get(&state.db, &h.id).await?;
        query.mount_allow = settings.bind_mount_allowlist.unwrap_or_default();
    }
    let created = c
        .call(&p.username, MUTATION_DEADLINE)
        .create_container(&query, &spec)
        .await?;
    if spec.name.is_none() {
        audit.set_detail(format!("image {}", spec.image));
    }
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// How many `container:<c>` links are followed to find whose network a new
/// container would join.
const MAX_NETWORK_LINKS: usize = 8;

/// `network: host` needs the admin role, and so does joining the network of
/// a container that (directly or through further `container:` links) is on
/// the host's network: either way the new container shares the host's
/// network namespace (its loopback services, and raw sockets on its
/// interfaces). The runtime that will resolve the name must be the one the
/// target runs under, else the name could mean another container there.
async fn check_network(
    state: &AppState,
    p: &Principal,
    h: &db::hosts::HostRecord,
    c: &crate::agents::HostClient,
    spec: &ContainerSpec,
) -> ApiResult<()> {
    let target = rbac::host_target(h);
    let admin = || authorize(p, Action::HostNetwork, target);
    let mut link = match &spec.network {
        Some(NetworkMode::Host) => return admin(),
        Some(NetworkMode::Container(other)) => other.clone(),
        _ => return Ok(()),
    };
    if admin().is_ok() {
        return Ok(());
    }
    let runtime = spec.runtime.unwrap_or_default();
    for _ in 0..MAX_NETWORK_LINKS {
        let call = c.call(&p.username, state.config.fanout_deadline());
        let other: Container = match call.inspect_container(&link).await {
            Ok(o) => o,
            Err(ApiError::Host { status: 404, .. }) => {
                return Err(ApiError::Unprocessable(format!(
                    "network \"container:{link}\": no such container on this host"
                )));
            }
            Err(e) => return Err(e),
        };
        if other.runtime != runtime {
            return Err(ApiError::Unprocessable(format!(
                "network \"container:{link}\": that container runs under another runtime"
            )));
        }
        match other.network {
            NetworkMode::Host => {
                return admin().map_err(|e| match e {
                    ApiError::Forbidden(d) => ApiError::Forbidden(format!(
                        "network \"container:{link}\" is the host's network: {d}"
                    )),
                    e => e,
                });
            }
            NetworkMode::Container(next) => link = next,
            _ => return Ok(()),
        }
    }
    Err(ApiError::Unprocessable(format!(
        "network: more than {MAX_NETWORK_LINKS} container: links"
    )))
}

/// One container (by id or name).
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name")),
    responses((status = 200, body = Container), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, c)): Path<(String, String)>,
) -> ApiResult<Json<Container>> {
    let client = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    let call = client.call(&p.username, state.config.fanout_deadline());
    Ok(shown(&p, &h, call.inspect_container(&c).await?))
}

/// Removes a container (deployers).
#[utoipa::path(delete, path = "/api/v1/hosts/{host}/containers/{c}", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"), DeleteQuery),
    responses((status = 204, description = "removed"), (status = 404, body = berth_api::Problem),
        (status = 409, description = "running; use force=true", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    let (c, p) = (on.client(&state)?, on.principal);
    let query = agent_api::RemoveQuery {
        force: q.force.unwrap_or(false),
    };
    c.call(&p.username, MUTATION_DEADLINE)
        .remove_container(&name, &query)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// start, stop, restart, kill, pause or unpause (operators).
#[utoipa::path(post, path = "/api/v1/hosts/{host}/containers/{c}/{action}", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"),
        ("action" = ContainerAction, Path, description = "start, stop, restart, kill, pause or unpause"), ActionQuery),
    responses((status = 200, body = Container), (status = 404, body = berth_api::Problem),
        (status = 409, description = "wrong state (e.g. starting a running container)", body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn action(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name, action)): Path<(String, String, String)>,
    Query(q): Query<ActionQuery>,
) -> ApiResult<Json<Container>> {
    let c = on.client(&state)?;
    let OnHost {
        host: h,
        principal: p,
    } = on;
    let action: ContainerAction = action.parse().map_err(ApiError::NotFound)?;
    if q.timeout.is_some() && !matches!(action, ContainerAction::Stop | ContainerAction::Restart) {
        return Err(ApiError::BadRequest(format!(
            "timeout does not apply to {}",
            action.as_str()
        )));
    }
    if q.signal.is_some() && action != ContainerAction::Kill {
        return Err(ApiError::BadRequest(format!(
            "signal does not apply to {}",
            action.as_str()
        )));
    }
    let deadline = MUTATION_DEADLINE + Duration::from_secs(u64::from(q.timeout.unwrap_or(0)));
    let query = agent_api::ActionQuery {
        timeout: q.timeout.map(u64::from),
        signal: q
            .signal
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?,
    };
    let call = c.call(&p.username, deadline);
    Ok(shown(
        &p,
        &h,
        call.container_action(&name, action, &query).await?,
    ))
}

/// Lines kept for viewers who join a followed log late, when no tail is given.
const DEFAULT_REPLAY_LINES: usize = 100;
const MAX_REPLAY_LINES: usize = 5000;

/// A container's log (operators): JSON, or SSE with `follow=true`.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/logs", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"), LogsQuery),
    responses((status = 200, description = "the lines; with follow=true an SSE stream of LogLine",
            content((List<LogLine> = "application/json"), ("text/event-stream"))),
        (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn logs(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    // `tail`: the agent's (every line when not given or `all`); the replay
    // kept for viewers who join a followed log late.
    let (tail, replay) = match q.tail.as_deref() {
        None | Some("") => (None, DEFAULT_REPLAY_LINES),
        Some("all") => (None, MAX_REPLAY_LINES),
        Some(n) => {
            let n = n.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("tail: {n:?} is neither a number nor \"all\""))
            })?;
            let replay = usize::try_from(n).unwrap_or(MAX_REPLAY_LINES);
            (Some(n), replay.clamp(1, MAX_REPLAY_LINES))
        }
    };
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    ApiError::BadRequest(format!("since: {s:?} is not an RFC 3339 time: {e}"))
                })?
                .with_timezone(&chrono::Utc),
        ),
    };
    let (c, p) = (on.client(&state)?, on.principal);
    let query = agent_api::LogsQuery {
        tail,
        since,
        follow: q.follow.unwrap_or(false),
    };
    if query.follow {
        let request = AgentRequest::logs(&name, &query);
        return proxy::shared_stream(&state, &p, c, request, replay).await;
    }
    let call = c.call(&p.username, state.config.fanout_deadline());
    let lines = call.logs(&name, &query).await?;
    Ok(Json(List::new(lines)).into_response())
}

impl WindowQuery {
    /// The agent's query of the same window.
    pub fn to_agent(&self) -> agent_api::WindowQuery {
        agent_api::WindowQuery {
            window: self.window,
        }
    }
}

/// A container's resource history.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/stats", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name"), WindowQuery),
    responses((status = 200, body = List<ContainerSample>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name)): Path<(String, String)>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Json<List<ContainerSample>>> {
    let (c, p) = (on.client(&state)?, on.principal);
    let call = c.call(&p.username, state.config.fanout_deadline());
    Ok(Json(List::new(call.stats(&name, &q.to_agent()).await?)))
}

/// Live stats, one sample a second (SSE of ContainerSample); one upstream
/// stream per container, whatever the number of viewers.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/stats/stream", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name")),
    responses((status = 200, description = "SSE of ContainerSample", content_type = "text/event-stream"),
        (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn stats_stream(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (c, p) = (on.client(&state)?, on.principal);
    proxy::shared_stream(&state, &p, c, AgentRequest::stats_stream(&name), 1).await
}

/// A container's namespaces next to the host's.
#[utoipa::path(get, path = "/api/v1/hosts/{host}/containers/{c}/namespaces", tag = "containers",
    params(("host" = String, Path, description = "host id"), ("c" = String, Path, description = "container id or name")),
    responses((status = 200, body = List<ContainerNamespace>), (status = 404, body = berth_api::Problem)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn namespaces(
    State(state): State<AppState>,
    on: OnHost,
    Path((_host, name)): Path<(String, String)>,
) -> ApiResult<Json<List<ContainerNamespace>>> {
    let (c, p) = (on.client(&state)?, on.principal);
    let call = c.call(&p.username, state.config.fanout_deadline());
    Ok(Json(List::new(call.container_namespaces(&name).await?)))
}
