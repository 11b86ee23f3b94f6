//! `/v1/containers`: list, create, inspect, delete, actions and logs.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_api::agent_api::{ActionQuery, CreateQuery, ListQuery, LogsQuery, RemoveQuery};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer};
use futures::StreamExt;

use super::AppState;
use super::error::{ApiError, ApiResult, Json, Query};
use crate::containers::{self, parse_signal};
use crate::logs;

impl From<crate::docker::Error> for ApiError {
    fn from(e: crate::docker::Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        ApiError::new(status, e.to_string())
    }
}

/// The Docker engine, when the container is not one of Berth's.
fn docker_for(
    s: &AppState,
    e: containers::Error,
) -> ApiResult<std::sync::Arc<dyn crate::docker::Engine>> {
    match (e, &s.docker) {
        (containers::Error::NotFound(_), Some(d)) => Ok(d.clone()),
        (e, _) => Err(e.into()),
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

pub(super) async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Container>>> {
    let mut all: Vec<Container> = s
        .containers
        .list(&[], q.state)
        .into_iter()
        .filter(|c| q.matches(&c.labels, c.state))
        .collect();
    if let Some(d) = &s.docker {
        match d.list(&s.auth.host_id().unwrap_or_default()).await {
            Ok(v) => all.extend(v.into_iter().filter(|c| q.matches(&c.labels, c.state))),
            Err(e) => tracing::warn!(error = %e, "listing Docker's containers failed"),
        }
    }
    Ok(Json(all))
}

pub(super) async fn create(
    State(s): State<AppState>,
    Query(q): Query<CreateQuery>,
    Json(spec): Json<ContainerSpec>,
) -> ApiResult<Response> {
    let start = q.start;
    // The host's bind-mount policy (the server sends the owner's allowlist
    // as `mount_allow` prefixes), on the real filesystem, for both runtimes.
    let mut spec = spec;
    crate::containers::validate::check_mount_policy(&mut spec, &q.mount_allow)
        .map_err(ApiError::unprocessable)?;
    let created: CreatedContainer = match (&spec.runtime, &s.docker) {
        (Some(berth_api::containers::RuntimeKind::Docker), Some(d)) => {
            d.create(spec, start).await?
        }
        _ => s.containers.create(spec, start).await?,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(super) async fn inspect(
    State(s): State<AppState>,
    Path(c): Path<String>,
) -> ApiResult<Json<Container>> {
    match s.containers.get(&c) {
        Ok(v) => Ok(Json(v)),
        Err(e) => {
            let d = docker_for(&s, e)?;
            Ok(Json(
                d.get(&c, &s.auth.host_id().unwrap_or_default()).await?,
            ))
        }
    }
}

pub(super) async fn remove(
    State(s): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let force = q.force;
    match s.containers.delete(&c, force).await {
        Ok(()) => {}
        Err(e) => docker_for(&s, e)?.remove(&c, force).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn action(
    State(s): State<AppState>,
    Path((c, action)): Path<(String, String)>,
    Query(q): Query<ActionQuery>,
) -> ApiResult<Json<Container>> {
    let action: ContainerAction = action.parse().map_err(ApiError::not_found)?;
    let timeout = Duration::from_secs(q.timeout_secs());
    let signal = || parse_signal(&q.signal().to_string()).map_err(ApiError::bad_request);
    if let (Err(e), Some(_)) = (s.containers.resolve_id(&c), &s.docker) {
        let d = docker_for(&s, e)?;
        let sig = match action {
            ContainerAction::Kill => signal()?,
            _ => libc::SIGKILL,
        };
        d.action(&c, action, timeout, sig).await?;
        return Ok(Json(
            d.get(&c, &s.auth.host_id().unwrap_or_default()).await?,
        ));
    }
    let view = match action {
        ContainerAction::Start => s.containers.start(&c).await?,
        ContainerAction::Stop => s.containers.stop(&c, timeout).await?,
        ContainerAction::Restart => s.containers.restart(&c, timeout).await?,
        ContainerAction::Kill => s.containers.kill(&c, signal()?).await?,
        ContainerAction::Pause => s.containers.pause(&c).await?,
        ContainerAction::Unpause => s.containers.unpause(&c).await?,
    };
    Ok(Json(view))
}

pub(super) async fn logs(
    State(s): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let query = logs::Query {
        tail: q.tail.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        since: q.since,
    };
    let follow = q.follow;
    let (_, dir, live) = match s.containers.log_source(&c) {
        Ok(v) => v,
        Err(e) => {
            let d = docker_for(&s, e)?;
            // Check it exists first: a 404 is an answer, not a stream.
            d.get(&c, "").await?;
            let lines = d.logs(&c, query.tail, query.since.map(|t| t.timestamp()), follow);
            if !follow {
                let v: Vec<_> = lines.filter_map(|l| async move { l.ok() }).collect().await;
                return Ok(Json(v).into_response());
            }
            let events = lines
                .filter_map(|l| async move { l.ok() })
                .map(|l| Event::default().json_data(&l))
                .filter_map(|e| async move { e.ok() })
                .chain(futures::stream::once(async {
                    Event::default().event("end").data("{}")
                }))
                .map(Ok::<_, Infallible>);
            return Ok(Sse::new(events)
                .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
                .into_response());
        }
    };
    let max_files = s.containers.log_limits().max_files;
    let read_dir = dir.clone();
    let (lines, pos) = tokio::task::spawn_blocking(move || logs::read(&read_dir, max_files, query))
        .await
        .map_err(|e| ApiError::internal("read the log", &e))?;
    if !follow {
        return Ok(Json(lines).into_response());
    }
    let backlog = futures::stream::iter(lines);
    let events = backlog
        .chain(logs::follow(dir, max_files, pos, live))
        .map(|l| Event::default().json_data(&l))
        .filter_map(|e| async move { e.ok() })
        .chain(futures::stream::once(async {
            Event::default().event("end").data("{}")
        }))
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
