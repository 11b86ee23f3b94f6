//! Metric history and streams: `/v1/metrics` (host), `/v1/containers/{c}/stats`,
//! their `/stream` SSE variants, and Prometheus text at `/metrics`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_api::agent_api::WindowQuery;
use berth_api::containers::ContainerState;
use berth_api::metrics::{ContainerSample, HostSample};
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::AppState;
use super::error::{ApiResult, Json, Query};

pub(super) async fn host(
    State(s): State<AppState>,
    Query(q): Query<WindowQuery>,
) -> Json<Vec<HostSample>> {
    Json(s.metrics.host(q.window()))
}

pub(super) async fn host_stream(State(s): State<AppState>) -> Response {
    let events = BroadcastStream::new(s.metrics.subscribe_host())
        .filter_map(|r| async move { r.ok() })
        .filter_map(|h| async move { Event::default().json_data(&h).ok() })
        .map(Ok::<_, Infallible>);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

pub(super) async fn stats(
    State(s): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Json<Vec<ContainerSample>>> {
    let w = q.window();
    match s.containers.resolve_id(&c) {
        Ok(id) => Ok(Json(s.metrics.container(&id, w))),
        Err(e) => match (e, &s.docker) {
            // Docker's are sampled into the same history; until the first
            // round has seen one, the engine's sample of now.
            (crate::containers::Error::NotFound(_), Some(d)) => {
                let id = d.resolve_id(&c).await?;
                let history = s.metrics.container(&id, w);
                if history.is_empty() {
                    Ok(Json(vec![d.stats(&id).await?]))
                } else {
                    Ok(Json(history))
                }
            }
            (e, _) => Err(e.into()),
        },
    }
}

pub(super) async fn stats_stream(
    State(s): State<AppState>,
    Path(c): Path<String>,
) -> ApiResult<Response> {
    let id = match s.containers.resolve_id(&c) {
        Ok(id) => id,
        Err(e) => match (e, &s.docker) {
            (crate::containers::Error::NotFound(_), Some(d)) => d.resolve_id(&c).await?,
            (e, _) => return Err(e.into()),
        },
    };
    let events = BroadcastStream::new(s.metrics.subscribe_containers())
        .filter_map(move |r| {
            let id = id.clone();
            async move {
                match r {
                    Ok((cid, sample)) if cid == id => Some(sample),
                    _ => None,
                }
            }
        })
        .filter_map(|c| async move { Event::default().json_data(&c).ok() })
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

pub(super) async fn prometheus(State(s): State<AppState>) -> Response {
    let (host, containers) = s.metrics.latest();
    let list = s.containers.list(&[], None);
    let states: Vec<(&str, usize)> = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Stopped,
    ]
    .into_iter()
    .map(|st| (st.as_str(), list.iter().filter(|c| c.state == st).count()))
    .collect();
    let text = crate::metrics::prometheus::render(
        host.as_ref(),
        &containers,
        &states,
        &s.metrics.stream_subscribers(),
        s.metrics.last_round().as_secs_f64(),
    );
    (
        [(
            header::CONTENT_TYPE,
            crate::metrics::prometheus::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}
