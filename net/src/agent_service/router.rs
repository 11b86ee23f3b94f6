//! The one router of the agent's API: every `Endpoint` declared once,
//! each handler reading its request with [`super::extract`] and rendering
//! the service's answer.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use berth_api::Problem;
use berth_api::agent_api::{
    ActionQuery, CreateQuery, Endpoint, ExecQuery, ListQuery, LogsQuery, Method, RemoveQuery,
    WindowQuery,
};
use berth_api::containers::{ContainerAction, ContainerSpec};
use futures::{StreamExt, TryStreamExt};

use super::extract::{Json, Path, PullBody, Query};
use super::{AgentService, Answer, EventStream, ExecUpgrade, ImageService};

/// The largest JSON body a route reads (a container spec, a pull request):
/// axum's default, spelled out. An import's tar is streamed, not limited.
pub const JSON_BODY_LIMIT: usize = 2 << 20;

/// The content type of the Prometheus text at `/metrics`.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often an SSE answer sends a keep-alive comment when it has nothing
/// else to send.
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Every endpoint of the agent's API, served by `svc`; unknown paths and
/// methods answer a 404 or 405 problem. Authentication is the caller's
/// layer around it.
pub fn router<S: AgentService>(svc: S) -> Router {
    Endpoint::ALL
        .iter()
        .copied()
        .fold(Router::new(), |r, e| r.route(e.pattern(), route::<S>(e)))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(svc)
}

/// The method of an endpoint, for axum's router.
pub fn method_filter(m: Method) -> MethodFilter {
    match m {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// The handler of each endpoint. The match is exhaustive: an endpoint
/// declared in berth-api and not served here does not compile.
fn route<S: AgentService>(e: Endpoint) -> MethodRouter<S> {
    use Endpoint as E;
    let m = method_filter(e.method());
    match e {
        E::Info => on(m, async |State(s): State<S>| json(s.info().await)),
        E::Leave => on(m, async |State(s): State<S>| no_content(s.leave().await)),
        E::ListContainers => on(m, list_containers::<S>),
        E::CreateContainer => on(m, create_container::<S>),
        E::InspectContainer => on(m, inspect_container::<S>),
        E::RemoveContainer => on(m, remove_container::<S>),
        E::ContainerAction => on(m, container_action::<S>),
        E::Logs => on(m, logs::<S>),
        E::Stats => on(m, stats::<S>),
        E::StatsStream => on(m, stats_stream::<S>),
        E::ContainerNamespaces => on(m, container_namespaces::<S>),
        E::Exec => on(m, exec::<S>),
        E::ListImages | E::ImageUsage | E::PullImage | E::ImportImage | E::RemoveImage => {
            image_route::<S>(e).unwrap_or_else(|| on(m, not_found))
        }
        E::HostMetrics => on(m, host_metrics::<S>),
        E::HostMetricsStream => on(m, async |State(s): State<S>| {
            sse(s.host_metrics_stream().await)
        }),
        E::Namespaces => on(m, async |State(s): State<S>| json(s.namespaces().await)),
        E::Cgroups => on(m, async |State(s): State<S>| json(s.cgroups().await)),
        E::Prometheus => on(m, prometheus::<S>),
    }
}

/// The image routes alone, for a service of images only.
pub fn image_routes<S: ImageService>() -> Router<S> {
    Endpoint::ALL
        .iter()
        .filter_map(|&e| image_route::<S>(e).map(|r| (e, r)))
        .fold(Router::new(), |router, (e, r)| router.route(e.pattern(), r))
}

/// The handler of an image endpoint; `None` for every other endpoint.
pub fn image_route<S: ImageService>(e: Endpoint) -> Option<MethodRouter<S>> {
    use Endpoint as E;
    let m = method_filter(e.method());
    Some(match e {
        E::ListImages => on(m, async |State(s): State<S>| json(s.list_images().await)),
        E::ImageUsage => on(m, async |State(s): State<S>| json(s.image_usage().await)),
        E::PullImage => on(m, pull_image::<S>),
        E::ImportImage => on(m, import_image::<S>),
        E::RemoveImage => on(m, remove_image::<S>),
        _ => return None,
    })
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn list_containers<S: AgentService>(
    State(s): State<S>,
    Query(q): Query<ListQuery>,
) -> Response {
    json(s.list_containers(q).await)
}

async fn create_container<S: AgentService>(
    State(s): State<S>,
    Query(q): Query<CreateQuery>,
    Json(spec): Json<ContainerSpec>,
) -> Response {
    created(s.create_container(q, spec).await)
}

async fn inspect_container<S: AgentService>(State(s): State<S>, Path(c): Path<String>) -> Response {
    json(s.inspect_container(c).await)
}

async fn remove_container<S: AgentService>(
    State(s): State<S>,
    Path(c): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Response {
    no_content(s.remove_container(c, q).await)
}

async fn container_action<S: AgentService>(
    State(s): State<S>,
    Path((c, action)): Path<(String, String)>,
    Query(q): Query<ActionQuery>,
) -> Response {
    match action.parse::<ContainerAction>() {
        Ok(action) => json(s.container_action(c, action, q).await),
        Err(e) => problem(StatusCode::NOT_FOUND, e),
    }
}

async fn logs<S: AgentService>(
    State(s): State<S>,
    Path(c): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Response {
    if q.follow {
        sse(s.follow_logs(c, q).await)
    } else {
        json(s.logs(c, q).await)
    }
}

async fn stats<S: AgentService>(
    State(s): State<S>,
    Path(c): Path<String>,
    Query(q): Query<WindowQuery>,
) -> Response {
    json(s.stats(c, q).await)
}

async fn stats_stream<S: AgentService>(State(s): State<S>, Path(c): Path<String>) -> Response {
    sse(s.stats_stream(c).await)
}

async fn container_namespaces<S: AgentService>(
    State(s): State<S>,
    Path(c): Path<String>,
) -> Response {
    json(s.container_namespaces(c).await)
}

async fn exec<S: AgentService>(
    State(s): State<S>,
    Path(c): Path<String>,
    Query(q): Query<ExecQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    answer(s.exec(c, q, ExecUpgrade(ws)).await)
}

async fn pull_image<S: ImageService>(State(s): State<S>, PullBody(req): PullBody) -> Response {
    sse(s.pull_image(req).await)
}

async fn import_image<S: ImageService>(State(s): State<S>, body: Body) -> Response {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    created(s.import_image(Box::pin(stream)).await)
}

async fn remove_image<S: ImageService>(State(s): State<S>, Path(image): Path<String>) -> Response {
    no_content(s.remove_image(image).await)
}

async fn host_metrics<S: AgentService>(
    State(s): State<S>,
    Query(q): Query<WindowQuery>,
) -> Response {
    json(s.host_metrics(q).await)
}

async fn prometheus<S: AgentService>(State(s): State<S>) -> Response {
    match s.prometheus().await {
        Ok(text) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response(),
        Err(p) => crate::problem::response(&p),
    }
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    crate::problem::response(&Problem::new(status.as_u16(), detail))
}

fn answer(a: Answer<Response>) -> Response {
    a.unwrap_or_else(|p| crate::problem::response(&p))
}

/// 200 with the value as JSON.
fn json<T: serde::Serialize>(a: Answer<T>) -> Response {
    answer(a.map(|v| axum::Json(v).into_response()))
}

/// 201 with the value as JSON.
fn created<T: serde::Serialize>(a: Answer<T>) -> Response {
    answer(a.map(|v| (StatusCode::CREATED, axum::Json(v)).into_response()))
}

/// 204.
fn no_content(a: Answer<()>) -> Response {
    answer(a.map(|()| StatusCode::NO_CONTENT.into_response()))
}

/// `text/event-stream`, with a keep-alive comment every [`SSE_KEEP_ALIVE`].
fn sse(a: Answer<EventStream>) -> Response {
    answer(a.map(|events| {
        Sse::new(events.into_inner().map(Ok::<_, Infallible>))
            .keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE))
            .into_response()
    }))
}
