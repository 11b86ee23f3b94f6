//! The container engines behind the API: Berth's own containers
//! ([`BerthEngine`]) and, when a dockerd answers, Docker's
//! ([`DockerEngine`]), two implementations of [`Engine`]. A request about
//! one container goes to [`Engines::engine_for`] it: Berth's when Berth
//! knows the name, id or id prefix, else Docker's, so the "try Berth, else
//! Docker" rule is written once.

mod berth;
mod docker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::response::Response;
use berth_api::agent_api::{ActionQuery, ExecQuery, ListQuery, LogsQuery};
use berth_api::containers::{
    Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine, RuntimeKind,
};
use berth_api::metrics::{ContainerSample, Window};
use berth_net::agent_service::{EventStream, ExecUpgrade};

use super::error::ApiResult;
use crate::auth::Auth;
use crate::containers::{self, Containers};
use crate::metrics::Metrics;

pub use berth::BerthEngine;
pub use docker::DockerEngine;

/// A future of an [`Engine`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the API does with the containers of one engine. `key` is a
/// container's name, id or id prefix.
pub trait Engine: Send + Sync {
    /// Its name in the log ("Berth", "Docker").
    fn name(&self) -> &'static str;
    /// Its containers that pass `q`.
    fn list<'a>(&'a self, q: &'a ListQuery) -> BoxFuture<'a, ApiResult<Vec<Container>>>;
    fn create(
        &self,
        spec: ContainerSpec,
        start: bool,
    ) -> BoxFuture<'_, ApiResult<CreatedContainer>>;
    fn inspect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<Container>>;
    fn remove<'a>(&'a self, key: &'a str, force: bool) -> BoxFuture<'a, ApiResult<()>>;
    /// Runs the action; the container as it is after it.
    fn action<'a>(
        &'a self,
        key: &'a str,
        action: ContainerAction,
        q: &'a ActionQuery,
    ) -> BoxFuture<'a, ApiResult<Container>>;
    /// The lines there are now.
    fn logs<'a>(&'a self, key: &'a str, q: &'a LogsQuery)
    -> BoxFuture<'a, ApiResult<Vec<LogLine>>>;
    /// The lines there are, then new ones until the container stops, then
    /// `event: end`.
    fn follow_logs<'a>(
        &'a self,
        key: &'a str,
        q: &'a LogsQuery,
    ) -> BoxFuture<'a, ApiResult<EventStream>>;
    /// The sampled history over `window`.
    fn stats<'a>(
        &'a self,
        key: &'a str,
        window: Window,
    ) -> BoxFuture<'a, ApiResult<Vec<ContainerSample>>>;
    /// The id the sampler publishes the container's samples under.
    fn sampled_id<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<String>>;
    /// Starts `q`'s command in the container and bridges it to the
    /// WebSocket (docs/agent-protocol.md); 404 or 409 before the upgrade.
    fn exec<'a>(
        &'a self,
        key: &'a str,
        q: &'a ExecQuery,
        ws: ExecUpgrade,
    ) -> BoxFuture<'a, ApiResult<Response>>;
}

/// The engines of this host.
#[derive(Clone)]
pub struct Engines {
    berth: Arc<BerthEngine>,
    docker: Option<Arc<DockerEngine>>,
}

impl Engines {
    /// Berth's containers, and Docker's through `docker` when one answers.
    /// `auth` names the host in Docker containers' views.
    pub fn new(
        containers: Containers,
        metrics: Metrics,
        docker: Option<Arc<dyn crate::docker::Engine>>,
        auth: Auth,
    ) -> Self {
        Self {
            berth: Arc::new(BerthEngine::new(containers, metrics.clone())),
            docker: docker.map(|d| Arc::new(DockerEngine::new(d, metrics, auth))),
        }
    }

    /// The engine that holds `key`: Berth's when it knows the container,
    /// else Docker's when there is one; a 404 otherwise.
    pub fn engine_for(&self, key: &str) -> ApiResult<&dyn Engine> {
        match (self.berth.containers().resolve_id(key), &self.docker) {
            (Ok(_), _) => Ok(self.berth.as_ref()),
            (Err(containers::Error::NotFound(_)), Some(d)) => Ok(d.as_ref()),
            (Err(e), _) => Err(e.into()),
        }
    }

    /// The engine a new container goes to: Docker's when the spec asks for
    /// it and there is one, else Berth's.
    pub fn for_create(&self, spec: &ContainerSpec) -> &dyn Engine {
        match (&spec.runtime, &self.docker) {
            (Some(RuntimeKind::Docker), Some(d)) => d.as_ref(),
            _ => self.berth.as_ref(),
        }
    }

    /// Every engine, Berth's first.
    pub fn all(&self) -> Vec<&dyn Engine> {
        let mut v: Vec<&dyn Engine> = vec![self.berth.as_ref()];
        if let Some(d) = &self.docker {
            v.push(d.as_ref());
        }
        v
    }
}
