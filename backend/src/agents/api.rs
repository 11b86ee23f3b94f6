//! The server's side of `berth_api::agent_api`: [`AgentCall`] (a host's
//! client, the user it calls for and a deadline) implements
//! [`AgentApi`], so every call to an agent is one typed method whose path
//! and query come from an [`AgentRequest`] and whose answer is decoded to
//! its berth-api type (an answer that is not that type is a 502 naming the
//! host).

use std::time::Duration;

use berth_api::agent::AgentInfo;
use berth_api::agent_api::{
    ActionQuery, AgentApi, AgentRequest, CreateQuery, ExecQuery, ListQuery, LogsQuery, Method,
    RemoveQuery, WindowQuery,
};
use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::images::{Image, ImportResult, PullRequest, StoreUsage};
use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use berth_api::metrics::{ContainerSample, HostSample};
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::HostClient;
use crate::error::ApiError;

/// The exec WebSocket to an agent.
pub type Upstream = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// How long connecting an exec WebSocket may take.
const EXEC_CONNECT: Duration = Duration::from_secs(5);

/// The tar of an import, streamed to the agent as it arrives.
pub struct ImportUpload {
    pub body: reqwest::Body,
    /// The client's `Content-Length`, passed on when it gave one.
    pub content_length: Option<String>,
}

/// Calls to one host on behalf of `sub`, each within `deadline` (for
/// streams: until the answer's head).
#[derive(Clone, Copy)]
pub struct AgentCall<'a> {
    pub client: &'a HostClient,
    pub sub: &'a str,
    pub deadline: Duration,
}

impl HostClient {
    /// The typed calls of `sub` to this host, within `deadline`.
    pub fn call<'a>(&'a self, sub: &'a str, deadline: Duration) -> AgentCall<'a> {
        AgentCall {
            client: self,
            sub,
            deadline,
        }
    }

    /// The URL of a request.
    pub fn url_of(&self, r: &AgentRequest) -> reqwest::Url {
        self.url(&r.segments(), &r.query)
    }

    /// The key of a request's stream in the shared stream hub: its path
    /// and query, so every viewer of the same stream shares one upstream.
    pub fn stream_path(&self, r: &AgentRequest) -> String {
        let url = self.url_of(r);
        format!("{}?{}", url.path(), url.query().unwrap_or(""))
    }
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Delete => reqwest::Method::DELETE,
    }
}

impl AgentCall<'_> {
    /// A signed request of `r`.
    pub fn request(&self, r: &AgentRequest) -> Result<reqwest::RequestBuilder, ApiError> {
        self.client
            .request(method(r.method()), self.client.url_of(r), self.sub)
    }

    async fn json<T: DeserializeOwned>(&self, r: AgentRequest) -> Result<T, ApiError> {
        self.client.json(self.request(&r)?, self.deadline).await
    }

    async fn json_body<T: DeserializeOwned>(
        &self,
        r: AgentRequest,
        body: &impl serde::Serialize,
    ) -> Result<T, ApiError> {
        let rb = self.request(&r)?.json(body);
        self.client.json(rb, self.deadline).await
    }

    /// A call whose answer has no body (204).
    async fn empty(&self, r: AgentRequest) -> Result<(), ApiError> {
        self.client
            .fetch(self.request(&r)?, self.deadline)
            .await
            .map(drop)
    }

    /// Opens a `text/event-stream` answer: the response once its head came
    /// (a non-success status is the agent's error).
    pub async fn open_stream(&self, r: &AgentRequest) -> Result<reqwest::Response, ApiError> {
        let rb = self
            .request(r)?
            .header(reqwest::header::ACCEPT, "text/event-stream");
        self.client.send(rb, Some(self.deadline)).await
    }

    async fn open_stream_with(
        &self,
        r: &AgentRequest,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, ApiError> {
        let rb = self
            .request(r)?
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        self.client.send(rb, Some(self.deadline)).await
    }
}

impl AgentApi for AgentCall<'_> {
    type Error = ApiError;
    type EventStream = reqwest::Response;
    type ImportBody = ImportUpload;
    type ExecSession = Upstream;

    async fn info(&self) -> Result<AgentInfo, ApiError> {
        self.json(AgentRequest::info()).await
    }

    async fn leave(&self) -> Result<(), ApiError> {
        self.empty(AgentRequest::leave()).await
    }

    async fn list_containers(&self, q: &ListQuery) -> Result<Vec<Container>, ApiError> {
        self.json(AgentRequest::list_containers(q)).await
    }

    async fn create_container(
        &self,
        q: &CreateQuery,
        spec: &ContainerSpec,
    ) -> Result<CreatedContainer, ApiError> {
        self.json_body(AgentRequest::create_container(q), spec)
            .await
    }

    async fn inspect_container(&self, c: &str) -> Result<Container, ApiError> {
        self.json(AgentRequest::inspect_container(c)).await
    }

    async fn remove_container(&self, c: &str, q: &RemoveQuery) -> Result<(), ApiError> {
        self.empty(AgentRequest::remove_container(c, q)).await
    }

    async fn container_action(
        &self,
        c: &str,
        action: ContainerAction,
        q: &ActionQuery,
    ) -> Result<Container, ApiError> {
        self.json(AgentRequest::container_action(c, action, q))
            .await
    }

    async fn logs(&self, c: &str, q: &LogsQuery) -> Result<Vec<LogLine>, ApiError> {
        let q = LogsQuery {
            follow: false,
            ..q.clone()
        };
        self.json(AgentRequest::logs(c, &q)).await
    }

    async fn follow_logs(&self, c: &str, q: &LogsQuery) -> Result<reqwest::Response, ApiError> {
        let q = LogsQuery {
            follow: true,
            ..q.clone()
        };
        self.open_stream(&AgentRequest::logs(c, &q)).await
    }

    async fn stats(&self, c: &str, q: &WindowQuery) -> Result<Vec<ContainerSample>, ApiError> {
        self.json(AgentRequest::stats(c, q)).await
    }

    async fn stats_stream(&self, c: &str) -> Result<reqwest::Response, ApiError> {
        self.open_stream(&AgentRequest::stats_stream(c)).await
    }

    async fn container_namespaces(&self, c: &str) -> Result<Vec<ContainerNamespace>, ApiError> {
        self.json(AgentRequest::container_namespaces(c)).await
    }

    async fn exec(&self, c: &str, q: &ExecQuery) -> Result<Upstream, ApiError> {
        let url = self.client.url_of(&AgentRequest::exec(c, q));
        connect_exec(self.client, url, self.sub).await
    }

    async fn list_images(&self) -> Result<Vec<Image>, ApiError> {
        self.json(AgentRequest::list_images()).await
    }

    async fn image_usage(&self) -> Result<StoreUsage, ApiError> {
        self.json(AgentRequest::image_usage()).await
    }

    async fn pull_image(&self, req: &PullRequest) -> Result<reqwest::Response, ApiError> {
        self.open_stream_with(&AgentRequest::pull_image(), req)
            .await
    }

    async fn import_image(&self, body: ImportUpload) -> Result<ImportResult, ApiError> {
        let mut rb = self
            .request(&AgentRequest::import_image())?
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(body.body);
        if let Some(len) = body.content_length {
            rb = rb.header(reqwest::header::CONTENT_LENGTH, len);
        }
        self.client.json(rb, self.deadline).await
    }

    async fn remove_image(&self, image: &str) -> Result<(), ApiError> {
        self.empty(AgentRequest::remove_image(image)).await
    }

    async fn host_metrics(&self, q: &WindowQuery) -> Result<Vec<HostSample>, ApiError> {
        self.json(AgentRequest::host_metrics(q)).await
    }

    async fn host_metrics_stream(&self) -> Result<reqwest::Response, ApiError> {
        self.open_stream(&AgentRequest::host_metrics_stream()).await
    }

    async fn namespaces(&self) -> Result<Vec<NamespaceEntry>, ApiError> {
        self.json(AgentRequest::namespaces()).await
    }

    async fn cgroups(&self) -> Result<CgroupNode, ApiError> {
        self.json(AgentRequest::cgroups()).await
    }

    async fn prometheus(&self) -> Result<String, ApiError> {
        let (_, _, body) = self
            .client
            .fetch(self.request(&AgentRequest::prometheus())?, self.deadline)
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// Opens the agent's exec WebSocket (HTTP/1.1 over the pinned TLS); a
/// refusal (404, 409, …) is the agent's error, relayed.
async fn connect_exec(c: &HostClient, url: reqwest::Url, sub: &str) -> Result<Upstream, ApiError> {
    let fail = |detail: String| ApiError::Host {
        status: 502,
        host: c.host_id.clone(),
        detail,
    };
    let host = url
        .host_str()
        .ok_or_else(|| fail("the host's address has no host name".into()))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::time::timeout(EXEC_CONNECT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| c.timeout_error(EXEC_CONNECT))?
        .map_err(|e| fail(format!("host {} is unreachable: {e}", c.name)))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.clone())
        .map_err(|e| fail(format!("bad host name {host:?}: {e}")))?;
    let tls = TlsConnector::from(c.ws_tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("TLS with host {} failed: {e}", c.name)))?;
    let mut ws_url = url.clone();
    let _ = ws_url.set_scheme("wss");
    let mut req = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| fail(format!("bad exec URL: {e}")))?;
    let bearer = c.bearer(sub)?;
    req.headers_mut().insert(
        "authorization",
        bearer
            .parse()
            .map_err(|_| ApiError::internal("bearer header"))?,
    );
    match tokio_tungstenite::client_async(req, tls).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            Err(c.answer_error(status, &body))
        }
        Err(e) => Err(fail(format!("exec on host {} failed: {e}", c.name))),
    }
}
