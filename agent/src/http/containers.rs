//! `/v1/containers`: list, create, inspect, delete, actions and logs.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_api::containers::{
    Container, ContainerAction, ContainerSpec, ContainerState, CreatedContainer,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::AppState;
use super::error::{ApiError, ApiResult, Json};
use crate::containers::{self, parse_signal};
use crate::logs;

/// Default seconds `stop` waits before SIGKILL (Docker's).
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/containers", get(list).post(create))
        .route("/v1/containers/{c}", get(inspect).delete(remove))
        .route("/v1/containers/{c}/logs", get(logs))
        .route("/v1/containers/{c}/{action}", post(action))
}

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

type Params = Query<Vec<(String, String)>>;

fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.0.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bool_param(q: &Params, name: &str) -> ApiResult<bool> {
    match param(q, name) {
        None => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no" | "") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name}={v:?}: expected true or false"
        ))),
    }
}

fn u64_param(q: &Params, name: &str) -> ApiResult<Option<u64>> {
    param(q, name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("{name}={v:?}: expected a whole number"))
            })
        })
        .transpose()
}

/// RFC 3339, or seconds since the epoch.
fn time_param(q: &Params, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(v) = param(q, name) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(secs) = v.parse::<f64>()
        && let Some(t) = DateTime::from_timestamp_millis((secs * 1000.0) as i64)
    {
        return Ok(Some(t));
    }
    Err(ApiError::bad_request(format!(
        "{name}={v:?}: expected an RFC 3339 time or seconds since the epoch"
    )))
}

async fn list(State(s): State<AppState>, q: Params) -> ApiResult<Json<Vec<Container>>> {
    let mut labels = Vec::new();
    let mut state = None;
    for (k, v) in &q.0 {
        match k.as_str() {
            "label" => {
                let (lk, lv) = v.split_once('=').ok_or_else(|| {
                    ApiError::bad_request(format!("label={v:?}: expected key=value"))
                })?;
                labels.push((lk.to_string(), lv.to_string()));
            }
            "state" => state = Some(v.parse::<ContainerState>().map_err(ApiError::bad_request)?),
            _ => {}
        }
    }
    let mut all = s.containers.list(&labels, state);
    if let Some(d) = &s.docker {
        match d.list(&s.auth.host_id().unwrap_or_default()).await {
            Ok(v) => all.extend(
                v.into_iter()
                    .filter(|c| labels.iter().all(|(k, val)| c.labels.get(k) == Some(val)))
                    .filter(|c| state.is_none_or(|st| c.state == st)),
            ),
            Err(e) => tracing::warn!(error = %e, "listing Docker's containers failed"),
        }
    }
    Ok(Json(all))
}

async fn create(
    State(s): State<AppState>,
    q: Params,
    Json(spec): Json<ContainerSpec>,
) -> ApiResult<Response> {
    let start = bool_param(&q, "start")?;
    // The host's bind-mount policy (the server sends the owner's allowlist
    // as `mount_allow` prefixes), on the real filesystem, for both runtimes.
    let mut spec = spec;
    let allow: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "mount_allow")
            .map(|(_, v)| v.clone())
            .collect();
    crate::containers::validate::check_mount_policy(&mut spec, &allow)
        .map_err(ApiError::unprocessable)?;
    let created: CreatedContainer = match (&spec.runtime, &s.docker) {
        (Some(berth_api::containers::RuntimeKind::Docker), Some(d)) => {
            d.create(spec, start).await?
        }
        _ => s.containers.create(spec, start).await?,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn inspect(State(s): State<AppState>, Path(c): Path<String>) -> ApiResult<Json<Container>> {
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

async fn remove(
    State(s): State<AppState>,
    Path(c): Path<String>,
    q: Params,
) -> ApiResult<StatusCode> {
    let force = bool_param(&q, "force")?;
    match s.containers.delete(&c, force).await {
        Ok(()) => {}
        Err(e) => docker_for(&s, e)?.remove(&c, force).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn action(
    State(s): State<AppState>,
    Path((c, action)): Path<(String, String)>,
    q: Params,
) -> ApiResult<Json<Container>> {
    let action: ContainerAction = action.parse().map_err(ApiError::not_found)?;
    let timeout = Duration::from_secs(u64_param(&q, "timeout")?.unwrap_or(DEFAULT_STOP_TIMEOUT));
    if let (Err(e), Some(_)) = (s.containers.resolve_id(&c), &s.docker) {
        let d = docker_for(&s, e)?;
        let sig = match action {
            ContainerAction::Kill => parse_signal(param(&q, "signal").unwrap_or("KILL"))
                .map_err(ApiError::bad_request)?,
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
        ContainerAction::Kill => {
            let sig = parse_signal(param(&q, "signal").unwrap_or("KILL"))
                .map_err(ApiError::bad_request)?;
            s.containers.kill(&c, sig).await?
        }
        ContainerAction::Pause => s.containers.pause(&c).await?,
        ContainerAction::Unpause => s.containers.unpause(&c).await?,
    };
    Ok(Json(view))
}

async fn logs(State(s): State<AppState>, Path(c): Path<String>, q: Params) -> ApiResult<Response> {
    let query = logs::Query {
        tail: u64_param(&q, "tail")?.map(|n| n as usize),
        since: time_param(&q, "since")?,
    };
    let follow = bool_param(&q, "follow")?;
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
