//! The agent as an `AgentService`: each endpoint of
//! `berth_api::agent_api` on this host's state. Requests about one
//! container go to its engine; the rest to `system`, `metrics`,
//! `inventory` and the image store (`crate::images::http`). Errors leave as the problem the
//! client gets.

use axum::response::Response;
use berth_api::Problem;
use berth_api::agent::AgentInfo;
use berth_api::agent_api::{
    ActionQuery, CreateQuery, ExecQuery, ListQuery, LogsQuery, RemoveQuery, WindowQuery,
};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::images::{Image, ImportResult, PullRequest, StoreUsage};
use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use berth_api::metrics::{ContainerSample, HostSample};
use berth_net::agent_service::{
    AgentService, Answer, ByteStream, EventStream, ExecUpgrade, ImageService,
};

use super::error::{ApiError, ApiResult};
use super::{AppState, inventory, metrics, system};

/// The client's problem of an answer.
fn answer<T>(r: ApiResult<T>) -> Answer<T> {
    r.map_err(Problem::from)
}

impl ImageService for AppState {
    async fn list_images(&self) -> Answer<Vec<Image>> {
        self.images.list_images().await
    }
    async fn image_usage(&self) -> Answer<StoreUsage> {
        self.images.image_usage().await
    }
    async fn pull_image(&self, req: PullRequest) -> Answer<EventStream> {
        self.images.pull_image(req).await
    }
    async fn import_image(&self, body: ByteStream) -> Answer<ImportResult> {
        self.images.import_image(body).await
    }
    async fn remove_image(&self, image: String) -> Answer<()> {
        self.images.remove_image(image).await
    }
}

impl AgentService for AppState {
    async fn info(&self) -> Answer<AgentInfo> {
        Ok(system::info(self))
    }

    async fn leave(&self) -> Answer<()> {
        answer(system::leave(self))
    }

    /// Both engines' containers; a failing Docker engine leaves only its
    /// own out (logged).
    async fn list_containers(&self, q: ListQuery) -> Answer<Vec<Container>> {
        let mut all = Vec::new();
        for engine in self.engines.all() {
            match engine.list(&q).await {
                Ok(v) => all.extend(v),
                Err(e) => {
                    tracing::warn!(error = %e, "listing {}'s containers failed", engine.name())
                }
            }
        }
        Ok(all)
    }

    /// The host's bind-mount policy first (the server sends the owner's
    /// allowlist as `mount_allow` prefixes), on the real filesystem, for
    /// both engines.
    async fn create_container(
        &self,
        q: CreateQuery,
        mut spec: ContainerSpec,
    ) -> Answer<CreatedContainer> {
        crate::containers::validate::check_mount_policy(&mut spec, &q.mount_allow)
            .map_err(|d| Problem::from(ApiError::unprocessable(d)))?;
        let engine = self.engines.for_create(&spec);
        answer(engine.create(spec, q.start).await)
    }

    async fn inspect_container(&self, c: String) -> Answer<Container> {
        answer(async { self.engines.engine_for(&c)?.inspect(&c).await }.await)
    }

    async fn remove_container(&self, c: String, q: RemoveQuery) -> Answer<()> {
        answer(async { self.engines.engine_for(&c)?.remove(&c, q.force).await }.await)
    }

    async fn container_action(
        &self,
        c: String,
        action: ContainerAction,
        q: ActionQuery,
    ) -> Answer<Container> {
        answer(async { self.engines.engine_for(&c)?.action(&c, action, &q).await }.await)
    }

    async fn logs(&self, c: String, q: LogsQuery) -> Answer<Vec<LogLine>> {
        answer(async { self.engines.engine_for(&c)?.logs(&c, &q).await }.await)
    }

    async fn follow_logs(&self, c: String, q: LogsQuery) -> Answer<EventStream> {
        answer(async { self.engines.engine_for(&c)?.follow_logs(&c, &q).await }.await)
    }

    async fn stats(&self, c: String, q: WindowQuery) -> Answer<Vec<ContainerSample>> {
        answer(async { self.engines.engine_for(&c)?.stats(&c, q.window()).await }.await)
    }

    async fn stats_stream(&self, c: String) -> Answer<EventStream> {
        answer(metrics::stats_stream(self, &c).await)
    }

    async fn container_namespaces(&self, c: String) -> Answer<Vec<ContainerNamespace>> {
        answer(inventory::container_namespaces(self, &c))
    }

    async fn exec(&self, c: String, q: ExecQuery, ws: ExecUpgrade) -> Answer<Response> {
        answer(async { self.engines.engine_for(&c)?.exec(&c, &q, ws).await }.await)
    }

    async fn host_metrics(&self, q: WindowQuery) -> Answer<Vec<HostSample>> {
        Ok(self.metrics.host(q.window()))
    }

    async fn host_metrics_stream(&self) -> Answer<EventStream> {
        Ok(metrics::host_stream(self))
    }

    async fn namespaces(&self) -> Answer<Vec<NamespaceEntry>> {
        answer(inventory::namespaces(self).await)
    }

    async fn cgroups(&self) -> Answer<CgroupNode> {
        answer(inventory::cgroups(self).await)
    }

    async fn prometheus(&self) -> Answer<String> {
        Ok(metrics::prometheus(self))
    }
}
