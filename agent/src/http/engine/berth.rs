//! Berth's own containers as an [`Engine`]: [`Containers`] for the
//! lifecycle and exec, the log files for logs, the sampler's history for
//! stats.

use std::path::PathBuf;
use std::time::Duration;

use axum::response::Response;
use berth_api::agent_api::{ActionQuery, ExecQuery, ListQuery, LogsQuery};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::metrics::{ContainerSample, Window};
use berth_net::agent_service::{EventStream, ExecUpgrade};
use futures::StreamExt;

use super::{BoxFuture, Engine};
use crate::containers::{Containers, parse_signal};
use crate::http::error::{ApiError, ApiResult};
use crate::http::exec;
use crate::logs;
use crate::metrics::Metrics;

/// The containers this agent runs itself.
pub struct BerthEngine {
    containers: Containers,
    metrics: Metrics,
}

/// What a log read found: the lines, where the live file was left, the
/// log directory and the container's liveness.
type LogRead = (
    Vec<LogLine>,
    Option<(u64, u64)>,
    PathBuf,
    tokio::sync::watch::Receiver<crate::containers::Live>,
);

impl BerthEngine {
    pub fn new(containers: Containers, metrics: Metrics) -> Self {
        Self {
            containers,
            metrics,
        }
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    /// The lines of `key`'s log that `q` asks for, read off the async
    /// threads.
    async fn read_log(&self, key: &str, q: &LogsQuery) -> ApiResult<LogRead> {
        let (_, dir, live) = self.containers.log_source(key)?;
        let query = logs::Query {
            tail: q.tail.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            since: q.since,
        };
        let max_files = self.containers.log_limits().max_files;
        let read_dir = dir.clone();
        let (lines, pos) =
            tokio::task::spawn_blocking(move || logs::read(&read_dir, max_files, query))
                .await
                .map_err(|e| ApiError::internal("read the log", &e))?;
        Ok((lines, pos, dir, live))
    }
}

impl Engine for BerthEngine {
    fn name(&self) -> &'static str {
        "Berth"
    }

    fn list<'a>(&'a self, q: &'a ListQuery) -> BoxFuture<'a, ApiResult<Vec<Container>>> {
        Box::pin(async move {
            Ok(self
                .containers
                .list(&[], q.state)
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
        Box::pin(async move { Ok(self.containers.create(spec, start).await?) })
    }

    fn inspect<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<Container>> {
        Box::pin(async move { Ok(self.containers.get(key)?) })
    }

    fn remove<'a>(&'a self, key: &'a str, force: bool) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { Ok(self.containers.delete(key, force).await?) })
    }

    fn action<'a>(
        &'a self,
        key: &'a str,
        action: ContainerAction,
        q: &'a ActionQuery,
    ) -> BoxFuture<'a, ApiResult<Container>> {
        Box::pin(async move {
            let c = &self.containers;
            let timeout = Duration::from_secs(q.timeout_secs());
            Ok(match action {
                ContainerAction::Start => c.start(key).await?,
                ContainerAction::Stop => c.stop(key, timeout).await?,
                ContainerAction::Restart => c.restart(key, timeout).await?,
                ContainerAction::Kill => {
                    let signal =
                        parse_signal(&q.signal().to_string()).map_err(ApiError::bad_request)?;
                    c.kill(key, signal).await?
                }
                ContainerAction::Pause => c.pause(key).await?,
                ContainerAction::Unpause => c.unpause(key).await?,
            })
        })
    }

    fn logs<'a>(
        &'a self,
        key: &'a str,
        q: &'a LogsQuery,
    ) -> BoxFuture<'a, ApiResult<Vec<LogLine>>> {
        Box::pin(async move { Ok(self.read_log(key, q).await?.0) })
    }

    fn follow_logs<'a>(
        &'a self,
        key: &'a str,
        q: &'a LogsQuery,
    ) -> BoxFuture<'a, ApiResult<EventStream>> {
        Box::pin(async move {
            let (lines, pos, dir, live) = self.read_log(key, q).await?;
            let max_files = self.containers.log_limits().max_files;
            let lines = futures::stream::iter(lines).chain(logs::follow(dir, max_files, pos, live));
            Ok(EventStream::json(lines).then_end())
        })
    }

    fn stats<'a>(
        &'a self,
        key: &'a str,
        window: Window,
    ) -> BoxFuture<'a, ApiResult<Vec<ContainerSample>>> {
        Box::pin(async move {
            let id = self.containers.resolve_id(key)?;
            Ok(self.metrics.container(&id, window))
        })
    }

    fn sampled_id<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ApiResult<String>> {
        Box::pin(async move { Ok(self.containers.resolve_id(key)?) })
    }

    fn exec<'a>(
        &'a self,
        key: &'a str,
        q: &'a ExecQuery,
        ws: ExecUpgrade,
    ) -> BoxFuture<'a, ApiResult<Response>> {
        Box::pin(async move {
            let tty = q.tty;
            let (id, process) = self.containers.exec_process(key, q.argv(), tty)?;
            let containers = self.containers.clone();
            Ok(ws.on_upgrade(move |socket| async move {
                if let Err(e) = exec::session(containers, id, process, tty, socket).await {
                    tracing::warn!(error = %e, "exec session ended with an error");
                }
            })?)
        })
    }
}
