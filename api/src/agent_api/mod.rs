//! The server → agent API, declared once: the routes ([`Endpoint`], with
//! method and path), their typed queries ([`ListQuery`], [`ActionQuery`],
//! …), and [`AgentApi`], every call typed with its request and answer.
//! The agent's router serves [`Endpoint::ALL`] and reads the queries with
//! [`QueryParams::from_pairs`]; the server's client implements [`AgentApi`]
//! by building an [`AgentRequest`] for each call. docs/agent-protocol.md
//! describes the transport (TLS pinning, request signatures, SSE framing)
//! around it.
//!
//! Nothing here needs an async runtime or an HTTP library: the dashboard
//! compiles this crate to wasm.

mod query;
mod routes;

use std::future::Future;

pub use query::{
    ActionQuery, CreateQuery, DEFAULT_EXEC_SHELL, DEFAULT_STOP_TIMEOUT_SECS, ExecQuery,
    LabelFilter, ListQuery, LogsQuery, QueryError, QueryParams, RemoveQuery, Signal, WindowQuery,
};
pub use routes::{AgentRequest, Endpoint, Method};

use crate::agent::AgentInfo;
use crate::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use crate::images::{Image, ImportResult, PullRequest, StoreUsage};
use crate::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use crate::metrics::{ContainerSample, HostSample};

/// Every call the server makes to an agent, one method per [`Endpoint`]
/// (logs have two: the JSON list and the followed stream). Streams, the
/// import body and the exec session are the implementation's own types
/// (the bytes of an SSE answer, a streamed request body, a WebSocket).
pub trait AgentApi {
    type Error;
    /// An answer of `text/event-stream`, as the implementation carries it.
    type EventStream;
    /// The tar of an import, streamed.
    type ImportBody;
    /// An open exec WebSocket.
    type ExecSession;

    fn info(&self) -> impl Future<Output = Result<AgentInfo, Self::Error>> + Send;
    fn leave(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn list_containers(
        &self,
        q: &ListQuery,
    ) -> impl Future<Output = Result<Vec<Container>, Self::Error>> + Send;
    fn create_container(
        &self,
        q: &CreateQuery,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<CreatedContainer, Self::Error>> + Send;
    fn inspect_container(
        &self,
        c: &str,
    ) -> impl Future<Output = Result<Container, Self::Error>> + Send;
    fn remove_container(
        &self,
        c: &str,
        q: &RemoveQuery,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    fn container_action(
        &self,
        c: &str,
        action: ContainerAction,
        q: &ActionQuery,
    ) -> impl Future<Output = Result<Container, Self::Error>> + Send;
    /// `q.follow` is false: the lines there are now.
    fn logs(
        &self,
        c: &str,
        q: &LogsQuery,
    ) -> impl Future<Output = Result<Vec<LogLine>, Self::Error>> + Send;
    /// `q.follow` is true: SSE of `LogLine`, ending with `event: end`.
    fn follow_logs(
        &self,
        c: &str,
        q: &LogsQuery,
    ) -> impl Future<Output = Result<Self::EventStream, Self::Error>> + Send;
    fn stats(
        &self,
        c: &str,
        q: &WindowQuery,
    ) -> impl Future<Output = Result<Vec<ContainerSample>, Self::Error>> + Send;
    /// SSE of `ContainerSample`.
    fn stats_stream(
        &self,
        c: &str,
    ) -> impl Future<Output = Result<Self::EventStream, Self::Error>> + Send;
    fn container_namespaces(
        &self,
        c: &str,
    ) -> impl Future<Output = Result<Vec<ContainerNamespace>, Self::Error>> + Send;
    fn exec(
        &self,
        c: &str,
        q: &ExecQuery,
    ) -> impl Future<Output = Result<Self::ExecSession, Self::Error>> + Send;

    fn list_images(&self) -> impl Future<Output = Result<Vec<Image>, Self::Error>> + Send;
    fn image_usage(&self) -> impl Future<Output = Result<StoreUsage, Self::Error>> + Send;
    /// SSE of `PullProgress`, ending with status `done` or `error`.
    fn pull_image(
        &self,
        req: &PullRequest,
    ) -> impl Future<Output = Result<Self::EventStream, Self::Error>> + Send;
    fn import_image(
        &self,
        body: Self::ImportBody,
    ) -> impl Future<Output = Result<ImportResult, Self::Error>> + Send;
    fn remove_image(&self, image: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    fn host_metrics(
        &self,
        q: &WindowQuery,
    ) -> impl Future<Output = Result<Vec<HostSample>, Self::Error>> + Send;
    /// SSE of `HostSample`.
    fn host_metrics_stream(
        &self,
    ) -> impl Future<Output = Result<Self::EventStream, Self::Error>> + Send;
    fn namespaces(&self) -> impl Future<Output = Result<Vec<NamespaceEntry>, Self::Error>> + Send;
    fn cgroups(&self) -> impl Future<Output = Result<CgroupNode, Self::Error>> + Send;
    /// Prometheus text.
    fn prometheus(&self) -> impl Future<Output = Result<String, Self::Error>> + Send;
}
