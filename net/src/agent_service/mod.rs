//! The agent's side of the server → agent API: [`AgentService`], one method
//! per `berth_api::agent_api::Endpoint` with typed inputs and answers, and
//! [`router`], the one axum router that serves any implementation of it.
//!
//! The real agent (`berth-agent`) and the fake agent of the server's tests
//! both implement [`AgentService`]; [`router`] declares every endpoint once
//! (an exhaustive match over `Endpoint`), reads path parameters, typed
//! queries ([`extract::Query`]) and JSON bodies ([`extract::Json`],
//! [`extract::PullBody`]) the same way for both, and answers bad input with
//! the same problem+json. An endpoint added to berth-api without a route
//! here, or a method added to the trait without an implementation on either
//! side, does not compile.
//!
//! What the router adds around an answer: the status (201 for a create or
//! an import, 204 for an empty success), JSON encoding, SSE framing of an
//! [`EventStream`] (with a keep-alive comment every 15 s), the Prometheus
//! content type, and problem+json for an `Err(Problem)`. The caller wraps
//! the router in its own authentication layer (docs/agent-protocol.md).

pub mod extract;
mod router;

use std::future::Future;
use std::pin::Pin;

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::Response;
use axum::response::sse::Event;
use berth_api::Problem;
use berth_api::agent::AgentInfo;
use berth_api::agent_api::{
    ActionQuery, CreateQuery, ExecQuery, ListQuery, LogsQuery, RemoveQuery, WindowQuery,
};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::images::{Image, ImportResult, PullRequest, StoreUsage};
use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use berth_api::metrics::{ContainerSample, HostSample};
use bytes::Bytes;
use futures::{Stream, StreamExt};

pub use router::{
    JSON_BODY_LIMIT, PROMETHEUS_CONTENT_TYPE, SSE_KEEP_ALIVE, image_route, image_routes,
    method_filter, router,
};

/// An answer of the service: the value, or the problem the client gets.
pub type Answer<T> = Result<T, Problem>;

/// A request body as it arrives, chunk by chunk (an image import).
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The events of a `text/event-stream` answer; [`router`] frames each as
/// SSE (`data: <json>\n\n`, or `event: end\ndata: {}\n\n`).
pub struct EventStream(Pin<Box<dyn Stream<Item = Event> + Send>>);

impl EventStream {
    /// Events as they are.
    pub fn new(events: impl Stream<Item = Event> + Send + 'static) -> Self {
        Self(Box::pin(events))
    }

    /// One `data:` event per value, its JSON (a value that does not
    /// serialise is left out).
    pub fn json<T: serde::Serialize + Send + 'static>(
        values: impl Stream<Item = T> + Send + 'static,
    ) -> Self {
        Self::new(values.filter_map(|v| async move { Event::default().json_data(&v).ok() }))
    }

    /// The same events, then `event: end` (a stream that ends on its own:
    /// a followed log whose container stopped, a finished pull).
    pub fn then_end(self) -> Self {
        Self::new(self.0.chain(futures::stream::once(async { end_event() })))
    }

    fn into_inner(self) -> Pin<Box<dyn Stream<Item = Event> + Send>> {
        self.0
    }
}

/// The last event of a stream that ends on its own.
pub fn end_event() -> Event {
    Event::default().event("end").data("{}")
}

/// The WebSocket upgrade of an exec, or why the request can't have one.
/// The service looks at the container first (a 404 or 409 comes before a
/// missing upgrade) and then calls [`ExecUpgrade::on_upgrade`].
pub struct ExecUpgrade(Result<WebSocketUpgrade, WebSocketUpgradeRejection>);

impl ExecUpgrade {
    /// Switches protocols and runs `session` on the socket; a 400 when the
    /// request was not a WebSocket upgrade.
    pub fn on_upgrade<F, Fut>(self, session: F) -> Answer<Response>
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match self.0 {
            Ok(ws) => Ok(ws.on_upgrade(session)),
            Err(e) => Err(Problem::new(
                400,
                format!("exec needs a WebSocket upgrade: {e}"),
            )),
        }
    }
}

/// The image endpoints of an agent (`ListImages`, `ImageUsage`,
/// `PullImage`, `ImportImage`, `RemoveImage`), apart so that the agent's
/// image store can be served alone ([`image_routes`], in its tests).
pub trait ImageService: Clone + Send + Sync + 'static {
    fn list_images(&self) -> impl Future<Output = Answer<Vec<Image>>> + Send;
    fn image_usage(&self) -> impl Future<Output = Answer<StoreUsage>> + Send;
    /// `PullProgress` events, ending with `done` or `error`, then
    /// `event: end`. Refusals known before the pull starts are an `Err`.
    fn pull_image(&self, req: PullRequest) -> impl Future<Output = Answer<EventStream>> + Send;
    /// 201.
    fn import_image(&self, body: ByteStream) -> impl Future<Output = Answer<ImportResult>> + Send;
    /// 204.
    fn remove_image(&self, image: String) -> impl Future<Output = Answer<()>> + Send;
}

/// A shared service is the service.
impl<T: ImageService> ImageService for std::sync::Arc<T> {
    async fn list_images(&self) -> Answer<Vec<Image>> {
        T::list_images(self).await
    }
    async fn image_usage(&self) -> Answer<StoreUsage> {
        T::image_usage(self).await
    }
    async fn pull_image(&self, req: PullRequest) -> Answer<EventStream> {
        T::pull_image(self, req).await
    }
    async fn import_image(&self, body: ByteStream) -> Answer<ImportResult> {
        T::import_image(self, body).await
    }
    async fn remove_image(&self, image: String) -> Answer<()> {
        T::remove_image(self, image).await
    }
}

/// Everything an agent serves, one method per `Endpoint` (logs have two:
/// the JSON list and the followed stream, as in `AgentApi`); the image
/// endpoints are those of its [`ImageService`]. Path parameters come as
/// `String`s, queries and bodies already read and checked by [`router`].
pub trait AgentService: ImageService {
    /// `AgentInfo`; also the server's health check.
    fn info(&self) -> impl Future<Output = Answer<AgentInfo>> + Send;
    /// Forget the server (204).
    fn leave(&self) -> impl Future<Output = Answer<()>> + Send;

    fn list_containers(&self, q: ListQuery) -> impl Future<Output = Answer<Vec<Container>>> + Send;
    /// 201.
    fn create_container(
        &self,
        q: CreateQuery,
        spec: ContainerSpec,
    ) -> impl Future<Output = Answer<CreatedContainer>> + Send;
    fn inspect_container(&self, c: String) -> impl Future<Output = Answer<Container>> + Send;
    /// 204.
    fn remove_container(
        &self,
        c: String,
        q: RemoveQuery,
    ) -> impl Future<Output = Answer<()>> + Send;
    fn container_action(
        &self,
        c: String,
        action: ContainerAction,
        q: ActionQuery,
    ) -> impl Future<Output = Answer<Container>> + Send;
    /// `q.follow` is false: the lines there are now.
    fn logs(&self, c: String, q: LogsQuery) -> impl Future<Output = Answer<Vec<LogLine>>> + Send;
    /// `q.follow` is true: `LogLine`s, then `event: end`.
    fn follow_logs(
        &self,
        c: String,
        q: LogsQuery,
    ) -> impl Future<Output = Answer<EventStream>> + Send;
    fn stats(
        &self,
        c: String,
        q: WindowQuery,
    ) -> impl Future<Output = Answer<Vec<ContainerSample>>> + Send;
    /// `ContainerSample`s as they are taken.
    fn stats_stream(&self, c: String) -> impl Future<Output = Answer<EventStream>> + Send;
    fn container_namespaces(
        &self,
        c: String,
    ) -> impl Future<Output = Answer<Vec<ContainerNamespace>>> + Send;
    /// The upgrade's answer (101), after the container was found.
    fn exec(
        &self,
        c: String,
        q: ExecQuery,
        ws: ExecUpgrade,
    ) -> impl Future<Output = Answer<Response>> + Send;

    fn host_metrics(&self, q: WindowQuery) -> impl Future<Output = Answer<Vec<HostSample>>> + Send;
    /// `HostSample`s as they are taken.
    fn host_metrics_stream(&self) -> impl Future<Output = Answer<EventStream>> + Send;
    fn namespaces(&self) -> impl Future<Output = Answer<Vec<NamespaceEntry>>> + Send;
    fn cgroups(&self) -> impl Future<Output = Answer<CgroupNode>> + Send;
    /// Prometheus text ([`PROMETHEUS_CONTENT_TYPE`]).
    fn prometheus(&self) -> impl Future<Output = Answer<String>> + Send;
}

#[cfg(test)]
mod tests;
