//! Every call the dashboard makes to Berth's REST API (docs/api.md), and
//! nothing else: the dashboard has no other way into the system.
//!
//! Requests carry the `berth_session` cookie the server set at login (fetch
//! sends same-origin cookies by default); mutating ones add [`CSRF_HEADER`]
//! `: 1` as the API requires of cookie-authenticated calls. A failed call
//! becomes an [`ApiError`] holding the problem's `detail`, shown as it is.
//! A 401 on any call also tells the app (see [`on_unauthorized`]) so an
//! expired session returns to the login page.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

pub use berth_api::auth::CSRF_HEADER;
use berth_api::auth::{
    ApiToken, AuditEvent, CreateRoleBinding, CreateTeam, CreateToken, CreateUser, CreatedToken,
    LoginRequest, LoginResponse, Me, PatchUser, RoleBinding, SetupRequest, Team, User,
};
use berth_api::containers::{
    Container, ContainerAction, ContainerSpec, CreatedContainer, ExecTicket, ExecTicketRequest,
    LogLine,
};
use berth_api::hosts::{CreateJoinToken, Host, JoinTokenResponse, PatchHost};
use berth_api::images::{Image, ImportResult, PullRequest};
use berth_api::inventory::{CgroupNode, ContainerNamespace, NamespaceEntry};
use berth_api::metrics::{ContainerSample, HostSample, Window};
use berth_api::{Health, List, Problem};
use gloo_net::http::{Method, Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Prefix of every API path.
pub const BASE: &str = "/api/v1";

/// A failed call: the problem the server sent, or what went wrong on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status; 0 when no answer arrived (network down, bad JSON).
    pub status: u16,
    pub title: String,
    pub detail: String,
    /// The host that failed, for fan-out and host-scoped errors.
    pub host: Option<String>,
}

impl ApiError {
    /// An error that happened in the browser, before or after the server.
    pub fn local(detail: impl Into<String>) -> Self {
        Self {
            status: 0,
            title: "Error".into(),
            detail: detail.into(),
            host: None,
        }
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self {
            status: p.status,
            title: p.title,
            detail: p.detail,
            host: p.host,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if self.detail.is_empty() {
            &self.title
        } else {
            &self.detail
        };
        match &self.host {
            Some(h) if !text.contains(h.as_str()) => write!(f, "{text} (host {h})"),
            _ => f.write_str(text),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

type Hook = Rc<dyn Fn(&ApiError)>;

thread_local! {
    static UNAUTHORIZED: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Registers what to do when any call answers 401 (the session ended).
pub fn on_unauthorized(hook: impl Fn(&ApiError) + 'static) {
    UNAUTHORIZED.with(|h| *h.borrow_mut() = Some(Rc::new(hook)));
}

fn notify_unauthorized(e: &ApiError) {
    let hook = UNAUTHORIZED.with(|h| h.borrow().clone());
    if let Some(hook) = hook {
        hook(e);
    }
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// Builds `?k=v&...` from the pairs whose value is not empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

fn builder(method: Method, path: &str) -> RequestBuilder {
    let b = RequestBuilder::new(&url(path))
        .method(method.clone())
        .header("Accept", "application/json");
    if method == Method::GET {
        b
    } else {
        b.header(CSRF_HEADER, "1")
    }
}

/// Turns a failed answer into an [`ApiError`] with the problem's detail.
pub(crate) async fn problem_of(resp: Response) -> ApiError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    problem_from_text(status, &resp.status_text(), &text)
}

pub(crate) fn problem_from_text(status: u16, status_text: &str, text: &str) -> ApiError {
    let err = match serde_json::from_str::<Problem>(text) {
        Ok(p) => ApiError::from(p),
        Err(_) => {
            let body = text.trim();
            let detail = if body.is_empty() || body.starts_with('<') {
                format!("the server answered {status} {status_text}")
            } else {
                body.chars().take(400).collect()
            };
            ApiError {
                status,
                title: berth_api::error::title_for(status).to_string(),
                detail,
                host: None,
            }
        }
    };
    if status == 401 {
        notify_unauthorized(&err);
    }
    err
}

fn network_error(e: gloo_net::Error) -> ApiError {
    ApiError::local(format!("the server could not be reached: {e}"))
}

async fn execute(req: Request) -> ApiResult<Response> {
    let resp = req.send().await.map_err(network_error)?;
    if resp.ok() {
        Ok(resp)
    } else {
        Err(problem_of(resp).await)
    }
}

async fn decode<T: DeserializeOwned>(resp: Response, path: &str) -> ApiResult<T> {
    let text = resp
        .text()
        .await
        .map_err(|e| ApiError::local(format!("reading the answer of {path}: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| ApiError::local(format!("unexpected answer from {path}: {e}")))
}

async fn get_json<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    let req = builder(Method::GET, path)
        .build()
        .map_err(|e| ApiError::local(e.to_string()))?;
    let resp = execute(req).await?;
    decode(resp, path).await
}

async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &B,
) -> ApiResult<T> {
    let req = builder(method, path)
        .json(body)
        .map_err(|e| ApiError::local(e.to_string()))?;
    let resp = execute(req).await?;
    decode(resp, path).await
}

/// A mutating call without a body whose answer is `T`.
async fn send_for<T: DeserializeOwned>(method: Method, path: &str) -> ApiResult<T> {
    let req = builder(method, path)
        .build()
        .map_err(|e| ApiError::local(e.to_string()))?;
    let resp = execute(req).await?;
    decode(resp, path).await
}

/// A mutating call whose answer body does not matter.
async fn send_empty(method: Method, path: &str, body: Option<&serde_json::Value>) -> ApiResult<()> {
    let req = match body {
        Some(b) => builder(method, path).json(b),
        None => builder(method, path).build(),
    }
    .map_err(|e| ApiError::local(e.to_string()))?;
    execute(req).await.map(|_| ())
}

/// A list as the API sends it: `{items, errors}`, tolerating a bare array.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Listish<T> {
    List(List<T>),
    Samples { samples: Vec<T> },
    Plain(Vec<T>),
}

impl<T> From<Listish<T>> for List<T> {
    fn from(l: Listish<T>) -> Self {
        match l {
            Listish::List(l) => l,
            Listish::Samples { samples } => List::new(samples),
            Listish::Plain(v) => List::new(v),
        }
    }
}

async fn get_list<T: DeserializeOwned>(path: &str) -> ApiResult<List<T>> {
    get_json::<Listish<T>>(path).await.map(List::from)
}

// ---- setup and sessions ---------------------------------------------------

pub async fn health() -> ApiResult<Health> {
    get_json("/health").await
}

pub async fn setup(req: &SetupRequest) -> ApiResult<serde_json::Value> {
    send_json(Method::POST, "/setup", req).await
}

pub async fn login(req: &LoginRequest) -> ApiResult<LoginResponse> {
    send_json(Method::POST, "/auth/login", req).await
}

pub async fn logout() -> ApiResult<()> {
    send_empty(Method::POST, "/auth/logout", None).await
}

pub async fn me() -> ApiResult<Me> {
    get_json("/auth/me").await
}

// ---- users, teams, roles, tokens, audit -----------------------------------

pub async fn users() -> ApiResult<List<User>> {
    get_list("/users").await
}

pub async fn create_user(req: &CreateUser) -> ApiResult<User> {
    send_json(Method::POST, "/users", req).await
}

pub async fn patch_user(id: &str, req: &PatchUser) -> ApiResult<User> {
    send_json(Method::PATCH, &format!("/users/{}", enc(id)), req).await
}

pub async fn delete_user(id: &str) -> ApiResult<()> {
    send_empty(Method::DELETE, &format!("/users/{}", enc(id)), None).await
}

pub async fn teams() -> ApiResult<List<Team>> {
    get_list("/teams").await
}

pub async fn create_team(req: &CreateTeam) -> ApiResult<Team> {
    send_json(Method::POST, "/teams", req).await
}

pub async fn delete_team(id: &str) -> ApiResult<()> {
    send_empty(Method::DELETE, &format!("/teams/{}", enc(id)), None).await
}

pub async fn add_member(team: &str, user: &str) -> ApiResult<()> {
    let path = format!("/teams/{}/members/{}", enc(team), enc(user));
    send_empty(Method::PUT, &path, None).await
}

pub async fn remove_member(team: &str, user: &str) -> ApiResult<()> {
    let path = format!("/teams/{}/members/{}", enc(team), enc(user));
    send_empty(Method::DELETE, &path, None).await
}

pub async fn role_bindings() -> ApiResult<List<RoleBinding>> {
    get_list("/role-bindings").await
}

pub async fn create_role_binding(req: &CreateRoleBinding) -> ApiResult<RoleBinding> {
    send_json(Method::POST, "/role-bindings", req).await
}

pub async fn delete_role_binding(id: &str) -> ApiResult<()> {
    send_empty(Method::DELETE, &format!("/role-bindings/{}", enc(id)), None).await
}

pub async fn tokens() -> ApiResult<List<ApiToken>> {
    get_list("/tokens").await
}

pub async fn create_token(req: &CreateToken) -> ApiResult<CreatedToken> {
    send_json(Method::POST, "/tokens", req).await
}

pub async fn delete_token(id: &str) -> ApiResult<()> {
    send_empty(Method::DELETE, &format!("/tokens/{}", enc(id)), None).await
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    pub host: String,
    /// RFC 3339.
    pub since: String,
    pub limit: String,
}

pub async fn audit(f: &AuditFilter) -> ApiResult<List<AuditEvent>> {
    let q = query(&[
        ("actor", &f.actor),
        ("action", &f.action),
        ("host", &f.host),
        ("since", &f.since),
        ("limit", &f.limit),
    ]);
    get_list(&format!("/audit{q}")).await
}

// ---- hosts ----------------------------------------------------------------

pub async fn hosts() -> ApiResult<List<Host>> {
    get_list("/hosts").await
}

pub async fn host(id: &str) -> ApiResult<Host> {
    get_json(&format!("/hosts/{}", enc(id))).await
}

pub async fn patch_host(id: &str, req: &PatchHost) -> ApiResult<Host> {
    send_json(Method::PATCH, &format!("/hosts/{}", enc(id)), req).await
}

pub async fn delete_host(id: &str) -> ApiResult<()> {
    send_empty(Method::DELETE, &format!("/hosts/{}", enc(id)), None).await
}

pub async fn join_token(req: &CreateJoinToken) -> ApiResult<JoinTokenResponse> {
    send_json(Method::POST, "/hosts/join-tokens", req).await
}

pub async fn host_metrics(host: &str, w: Window) -> ApiResult<List<HostSample>> {
    let path = format!("/hosts/{}/metrics?window={}", enc(host), w.as_str());
    get_list(&path).await
}

pub fn host_metrics_stream_path(host: &str) -> String {
    format!("/hosts/{}/metrics/stream", enc(host))
}

pub async fn host_namespaces(host: &str) -> ApiResult<List<NamespaceEntry>> {
    get_list(&format!("/hosts/{}/namespaces", enc(host))).await
}

/// The cgroup tree; the root node, or a list of roots (one per hierarchy).
pub async fn host_cgroups(host: &str) -> ApiResult<Vec<CgroupNode>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Tree {
        One(CgroupNode),
        Many(Listish<CgroupNode>),
    }
    match get_json::<Tree>(&format!("/hosts/{}/cgroups", enc(host))).await? {
        Tree::One(n) => Ok(vec![n]),
        Tree::Many(l) => Ok(List::from(l).items),
    }
}

// ---- containers -----------------------------------------------------------

/// Filters of `GET /api/v1/containers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    pub host: String,
    pub label: String,
    pub state: String,
}

pub async fn containers(f: &ContainerFilter) -> ApiResult<List<Container>> {
    let q = query(&[("host", &f.host), ("label", &f.label), ("state", &f.state)]);
    get_list(&format!("/containers{q}")).await
}

fn container_path(host: &str, c: &str) -> String {
    format!("/hosts/{}/containers/{}", enc(host), enc(c))
}

pub async fn create_container(
    host: &str,
    spec: &ContainerSpec,
    start: bool,
) -> ApiResult<CreatedContainer> {
    let q = if start { "?start=true" } else { "" };
    send_json(
        Method::POST,
        &format!("/hosts/{}/containers{q}", enc(host)),
        spec,
    )
    .await
}

pub async fn container(host: &str, c: &str) -> ApiResult<Container> {
    get_json(&container_path(host, c)).await
}

pub async fn delete_container(host: &str, c: &str, force: bool) -> ApiResult<()> {
    let q = if force { "?force=true" } else { "" };
    send_empty(
        Method::DELETE,
        &format!("{}{q}", container_path(host, c)),
        None,
    )
    .await
}

/// Runs `action`; returns the container as it now is (its `host` set to
/// `host`), for callers to show instead of fetching again.
pub async fn container_action(
    host: &str,
    c: &str,
    action: ContainerAction,
) -> ApiResult<Container> {
    let path = format!("{}/{}", container_path(host, c), action.as_str());
    let mut got: Container = send_for(Method::POST, &path).await?;
    got.host = host.to_string();
    Ok(got)
}

/// The last `tail` lines of a container's log (`tail` empty: all of it).
pub async fn logs(host: &str, c: &str, tail: &str) -> ApiResult<Vec<LogLine>> {
    let path = format!(
        "{}/logs{}",
        container_path(host, c),
        query(&[("tail", tail)])
    );
    let req = builder(Method::GET, &path)
        .build()
        .map_err(|e| ApiError::local(e.to_string()))?;
    let resp = execute(req).await?;
    let text = resp
        .text()
        .await
        .map_err(|e| ApiError::local(format!("reading the log: {e}")))?;
    parse_log_body(&text).map_err(|e| ApiError::local(format!("unexpected log answer: {e}")))
}

/// A log answer is a JSON list, or JSON lines as the agent stores them.
pub fn parse_log_body(text: &str) -> Result<Vec<LogLine>, serde_json::Error> {
    if let Ok(l) = serde_json::from_str::<Listish<LogLine>>(text) {
        return Ok(List::from(l).items);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str::<LogLine>)
        .collect()
}

pub fn logs_follow_path(host: &str, c: &str, tail: u32) -> String {
    format!("{}/logs?follow=true&tail={tail}", container_path(host, c))
}

pub async fn container_stats(host: &str, c: &str, w: Window) -> ApiResult<List<ContainerSample>> {
    let path = format!("{}/stats?window={}", container_path(host, c), w.as_str());
    get_list(&path).await
}

pub fn container_stats_stream_path(host: &str, c: &str) -> String {
    format!("{}/stats/stream", container_path(host, c))
}

/// The multiplexed live stats of several containers, `(host, container)`
/// each (`GET /api/v1/stats/stream`): one connection however many graphs.
pub fn stats_stream_path(containers: &[(String, String)]) -> String {
    let q: Vec<String> = containers
        .iter()
        .map(|(h, c)| format!("container={}", enc(&format!("{h}/{c}"))))
        .collect();
    format!("/stats/stream?{}", q.join("&"))
}

pub async fn container_namespaces(host: &str, c: &str) -> ApiResult<List<ContainerNamespace>> {
    get_list(&format!("{}/namespaces", container_path(host, c))).await
}

/// A single-use ticket for one exec WebSocket (the session cookie alone
/// does not open one): valid 30 s, for exactly this `cmd` with a terminal.
pub async fn exec_ticket(host: &str, c: &str, cmd: &str) -> ApiResult<ExecTicket> {
    let path = format!("{}/exec-ticket", container_path(host, c));
    let req = ExecTicketRequest {
        cmd: Some(cmd.to_string()),
        tty: Some(true),
    };
    send_json(Method::POST, &path, &req).await
}

/// The WebSocket URL of an exec session, on the page's own origin, with
/// its ticket (see [`exec_ticket`]).
pub fn exec_url(host: &str, c: &str, cmd: &str, ticket: &str) -> String {
    let loc = web_sys::window()
        .map(|w| w.location())
        .expect("a browser window");
    let proto = if loc.protocol().unwrap_or_default() == "https:" {
        "wss:"
    } else {
        "ws:"
    };
    let origin_host = loc.host().unwrap_or_default();
    format!(
        "{proto}//{origin_host}{BASE}{}/exec?cmd={}&tty=true&ticket={}",
        container_path(host, c),
        enc(cmd),
        enc(ticket)
    )
}

// ---- images ---------------------------------------------------------------

pub async fn images(host: &str) -> ApiResult<List<Image>> {
    get_list(&format!("/hosts/{}/images", enc(host))).await
}

pub async fn delete_image(host: &str, image: &str) -> ApiResult<()> {
    let path = format!("/hosts/{}/images/{}", enc(host), enc(image));
    send_empty(Method::DELETE, &path, None).await
}

pub fn pull_path(host: &str) -> String {
    format!("/hosts/{}/images/pull", enc(host))
}

pub fn pull_body(req: &PullRequest) -> String {
    serde_json::to_string(req).unwrap_or_default()
}

pub fn import_url(host: &str) -> String {
    url(&format!("/hosts/{}/images/import", enc(host)))
}

/// Parses the answer of an import.
pub fn parse_import(text: &str) -> Result<ImportResult, serde_json::Error> {
    serde_json::from_str(text)
}

/// Full URL of an API path, for streams and downloads.
pub fn full_url(path: &str) -> String {
    url(path)
}
