//! Docker's containers as an [`Engine`], through the bridge
//! ([`crate::docker::Engine`]); stats come from the sampler's history like
//! Berth's, until its first round has seen the container.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use berth_api::agent_api::{ActionQuery, ExecQuery, ListQuery, LogsQuery};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::metrics::{ContainerSample, Window};
use berth_net::agent_service::{EventStream, ExecUpgrade};
use futures::StreamExt;

use super::{BoxFuture, Engine};
use crate::auth::Auth;
use crate::containers::parse_signal;
use crate::docker::{self, BoxStream};
use crate::http::error::{ApiError, ApiResult};
use crate::http::exec;
use crate::metrics::Metrics;

/// The containers of the host's dockerd.
pub struct DockerEngine {
    bridge: Arc<dyn docker::Engine>,
    metrics: Metrics,
    /// Names this host in the containers' views.
    auth: Auth,
}

impl DockerEngine {
    pub fn new(bridge: Arc<dyn docker::Engine>, metrics: Metrics, auth: Auth) -> Self {
        Self {
            bridge,
            metrics,
            auth,
        }
    }

    fn host(&self) -> String {
        self.auth.host_id().unwrap_or_default()
    }

    /// The log lines `q` asks for; a 404 first when there is no such
    /// container (an answer, not an empty stream).
    async fn log_lines(&self, key: &str, q: &LogsQuery) -> ApiResult<BoxStream<LogLine>> {
        self.bridge.get(key, "").await?;
        let tail = q.tail.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let since = q.since.map(|t| t.timestamp());
        let lines = self.bridge.logs(key, tail, since, q.follow);
        Ok(Box::pin(lines.filter_map(|l| async move { l.ok() })))
    }
}

impl Engine for DockerEngine {
    fn name(&self) -> &'static str {
        "Docker"
    }

    fn list<'a>(&'a self, q: &'a ListQuery) -> BoxFuture<'a, ApiResult<Vec<Container>>> {
        Box::pin(async move {
            let all = self.bridge.list(&self.host()).await?;
            Ok(all
                .into_iter()
                .filter(|c| q.matches(&c.labels, c.state))
                .collect())
        })
    }

    fn create(
        &self,
        spec: ContainerSpec,
        start: bool,
    ) -> BoxFuture<'_, ApiResult<CreatedContainer>> {
        Box::pin(async move { Ok(self.bridge.create(spec, start).await?) })
    }

    fn inspect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<Container>> {
        Box::pin(async move { Ok(self.bridge.get(key, &self.host()).await?) })
    }

    fn remove<'a>(&'a self, key: &'a str, force: bool) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { Ok(self.bridge.remove(key, force).await?) })
    }

    fn action<'a>(
        &'a self,
        key: &'a str,
        action: ContainerAction,
        q: &'a ActionQuery,
    ) -> BoxFuture<'a, ApiResult<Container>> {
        Box::pin(async move {
            let timeout = Duration::from_secs(q.timeout_secs());
            let signal = match action {
                ContainerAction::Kill => {
                    parse_signal(&q.signal().to_string()).map_err(ApiError::bad_request)?
                }
                _ => libc::SIGKILL,
            };
            self.bridge.action(key, action, timeout, signal).await?;
            Ok(self.bridge.get(key, &self.host()).await?)
        })
    }

    fn logs<'a>(
        &'a self,
        key: &'a str,
        q: &'a LogsQuery,
    ) -> BoxFuture<'a, ApiResult<Vec<LogLine>>> {
        Box::pin(async move { Ok(self.log_lines(key, q).await?.collect().await) })
    }

    fn follow_logs<'a>(
        &'a self,
        key: &'a str,
        q: &'a LogsQuery,
    ) -> BoxFuture<'a, ApiResult<EventStream>> {
        Box::pin(async move { Ok(EventStream::json(self.log_lines(key, q).await?).then_end()) })
    }

    fn stats<'a>(
        &'a self,
        key: &'a str,
        window: Window,
    ) -> BoxFuture<'a, ApiResult<Vec<ContainerSample>>> {
        Box::pin(async move {
            // Docker's are sampled into the same history; until the first
            // round has seen one, the engine's sample of now.
            let id = self.bridge.resolve_id(key).await?;
            let history = self.metrics.container(&id, window);
            if history.is_empty() {
                Ok(vec![self.bridge.stats(&id).await?])
            } else {
                Ok(history)
            }
        })
    }

    fn sampled_id<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<String>> {
        Box::pin(async move { Ok(self.bridge.resolve_id(key).await?) })
    }

    fn exec<'a>(
        &'a self,
        key: &'a str,
        q: &'a ExecQuery,
        ws: ExecUpgrade,
    ) -> BoxFuture<'a, ApiResult<Response>> {
        Box::pin(async move {
            let session = self.bridge.exec(key, q.argv(), q.tty).await?;
            Ok(ws.on_upgrade(move |socket| exec::docker_session(session, socket))?)
        })
    }
}
