//! A fake agent for tests: the agent protocol's TLS API with a self-signed
//! certificate, checking the server's EdDSA request signatures exactly as a
//! real agent must, and answering the routes of
//! `berth_api::agent_api::Endpoint` from memory (an exhaustive match: an
//! endpoint added to berth-api and not here does not compile), reading
//! their queries with the same types as the agent. It counts what it sees
//! (requests, open streams, imported bytes) for assertions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::Problem;
use berth_api::agent::{
    AgentInfo, AgentRequestClaims, RegisterRequest, RegisterResponse, SERVER_ISSUER,
};
use berth_api::agent_api::{
    ActionQuery, CreateQuery, Endpoint, ExecQuery, ListQuery, LogsQuery, RemoveQuery, WindowQuery,
};
use berth_api::containers::{Container, ContainerAction};
use berth_api::hosts::{CgroupMode, HostFacts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::TestApp;
use routes::Q;

/// The routes and the typed query extractor.
#[path = "fake_routes.rs"]
mod routes;

#[derive(Default)]
pub struct FakeState {
    pub host_id: Mutex<String>,
    pub server_key: Mutex<Option<Vec<u8>>>,
    pub containers: Mutex<BTreeMap<String, Value>>,
    /// Added before every answer.
    pub delay: Mutex<Duration>,
    /// Streams opened, and open now.
    pub streams_opened: AtomicUsize,
    pub streams_open: AtomicUsize,
    pub imported_bytes: AtomicU64,
    pub left: AtomicBool,
    /// `METHOD path?query sub` of every authorized request.
    pub requests: Mutex<Vec<String>>,
    pub refused: AtomicUsize,
    /// Peer ports seen: one per TCP connection from the server.
    pub peers: Mutex<std::collections::HashSet<u16>>,
    /// A hostile agent: every (non-WebSocket) answer becomes this body, with
    /// the given content type and status 200.
    pub hostile: Mutex<Option<(&'static str, &'static str)>>,
    /// The `command` of the host namespaces' answer ("init" when unset).
    pub namespace_command: Mutex<Option<String>>,
    /// Bodies of the pull requests received.
    pub pull_bodies: Mutex<Vec<Value>>,
    /// Bodies of the create requests received.
    pub create_bodies: Mutex<Vec<Value>>,
}

pub struct FakeAgent {
    pub addr: SocketAddr,
    pub cert_pem: String,
    pub state: Arc<FakeState>,
    shutdown: CancellationToken,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn facts() -> HostFacts {
    HostFacts {
        kernel: "6.1.0-test".into(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        cgroup: CgroupMode::Hybrid,
        cpus: 2,
        memory_bytes: 8 << 30,
        hostname: "fake".into(),
        arch: "x86_64".into(),
    }
}

fn problem(status: u16, detail: &str) -> Response {
    berth_server::error::problem_response(&Problem::new(status, detail))
}

async fn hostile(State(st): State<Arc<FakeState>>, req: Request, next: Next) -> Response {
    let mode = *st.hostile.lock().unwrap();
    match mode {
        Some((ct, body)) if !req.headers().contains_key(header::UPGRADE) => {
            let mut r = Response::new(Body::from(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        _ => next.run(req).await,
    }
}

async fn auth(State(st): State<Arc<FakeState>>, req: Request, next: Next) -> Response {
    if let Some(c) = req.extensions().get::<berth_server::server::ConnInfo>() {
        st.peers.lock().unwrap().insert(c.remote.port());
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let key = st.server_key.lock().unwrap().clone();
    let host = st.host_id.lock().unwrap().clone();
    let (Some(token), Some(key)) = (token, key) else {
        st.refused.fetch_add(1, Ordering::Relaxed);
        return problem(401, "no signature");
    };
    if st.left.load(Ordering::Relaxed) {
        st.refused.fetch_add(1, Ordering::Relaxed);
        return problem(401, "this agent left its server");
    }
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&[host.as_str()]);
    v.set_issuer(&[SERVER_ISSUER]);
    v.leeway = 30;
    let claims = match jsonwebtoken::decode::<AgentRequestClaims>(
        &token,
        &DecodingKey::from_ed_der(&key),
        &v,
    ) {
        Ok(d) if d.claims.exp - d.claims.iat <= 300 => d.claims,
        _ => {
            st.refused.fetch_add(1, Ordering::Relaxed);
            return problem(401, "bad signature");
        }
    };
    st.requests.lock().unwrap().push(format!(
        "{} {} {}",
        req.method(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
        claims.sub
    ));
    let delay = *st.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

fn container(host: &str, name: &str, state: &str) -> Value {
    let id = hex::encode(sha2_digest(name.as_bytes()));
    json!({
        "id": id, "name": name, "host": host, "runtime": "berth", "image": "busybox:latest",
        "state": state, "created_at": "2026-01-01T00:00:00Z", "limits": {}, "ports": [],
        "labels": {"app": name}, "restart_count": 0
    })
}

fn sha2_digest(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

async fn info(State(st): State<Arc<FakeState>>) -> Response {
    axum::Json(AgentInfo {
        host_id: st.host_id.lock().unwrap().clone(),
        version: "0.1.0-fake".into(),
        facts: facts(),
        runtimes: vec!["berth".into()],
        started_at: chrono::Utc::now(),
    })
    .into_response()
}

async fn leave(State(st): State<Arc<FakeState>>) -> StatusCode {
    st.left.store(true, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn list(State(st): State<Arc<FakeState>>, Q(q): Q<ListQuery>) -> Response {
    let items: Vec<Value> = st
        .containers
        .lock()
        .unwrap()
        .values()
        .filter(|c| {
            serde_json::from_value::<Container>((*c).clone())
                .is_ok_and(|c| q.matches(&c.labels, c.state))
        })
        .cloned()
        .collect();
    axum::Json(items).into_response()
}

async fn create(State(st): State<Arc<FakeState>>, Q(q): Q<CreateQuery>, req: Request) -> Response {
    let start = q.start;
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let spec: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return problem(400, &format!("bad spec: {e}")),
    };
    st.create_bodies.lock().unwrap().push(spec.clone());
    let image = spec["image"].as_str().unwrap_or_default();
    if !is_stored_image(image) {
        return problem(
            422,
            &format!("image {image:?} is not on this host: pull or import it first"),
        );
    }
    let name = spec["name"].as_str().unwrap_or("auto").to_string();
    let host = st.host_id.lock().unwrap().clone();
    let mut map = st.containers.lock().unwrap();
    if map.contains_key(&name) {
        return problem(409, &format!("a container named {name} exists"));
    }
    let c = container(&host, &name, if start { "running" } else { "created" });
    let id = c["id"].clone();
    map.insert(name.clone(), c);
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "name": name})),
    )
        .into_response()
}

async fn inspect(State(st): State<Arc<FakeState>>, Path(c): Path<String>) -> Response {
    match st.containers.lock().unwrap().get(&c) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => problem(404, &format!("no container {c}")),
    }
}

async fn remove(
    State(st): State<Arc<FakeState>>,
    Path(c): Path<String>,
    Q(q): Q<RemoveQuery>,
) -> Response {
    let mut map = st.containers.lock().unwrap();
    match map.get(&c) {
        Some(v) if v["state"] == "running" && !q.force => {
            problem(409, &format!("container {c} is running: stop it or force"))
        }
        Some(_) => {
            map.remove(&c);
            StatusCode::NO_CONTENT.into_response()
        }
        None => problem(404, &format!("no container {c}")),
    }
}

async fn action(
    State(st): State<Arc<FakeState>>,
    Path((c, action)): Path<(String, String)>,
    Q(_): Q<ActionQuery>,
) -> Response {
    let Ok(action) = action.parse::<ContainerAction>() else {
        return problem(404, "no such action");
    };
    let mut map = st.containers.lock().unwrap();
    let Some(v) = map.get_mut(&c) else {
        return problem(404, &format!("no container {c}"));
    };
    // The real agent's conflicts: stop, kill and pause need a running
    // container, unpause a paused one.
    let (running, paused) = (v["state"] == "running", v["state"] == "paused");
    use ContainerAction as A;
    let next = match action {
        A::Start if running || paused => return problem(409, "already running"),
        A::Stop | A::Kill | A::Pause if !running => {
            return problem(409, &format!("container {c} is not running"));
        }
        A::Unpause if !paused => return problem(409, &format!("container {c} is not paused")),
        A::Start | A::Restart | A::Unpause => "running",
        A::Stop | A::Kill => "stopped",
        A::Pause => "paused",
    };
    v["state"] = json!(next);
    axum::Json(v.clone()).into_response()
}

/// Counts a stream while its body lives.
struct Open(Arc<FakeState>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn sse(st: Arc<FakeState>, every: Duration, limit: Option<usize>) -> Response {
    st.streams_opened.fetch_add(1, Ordering::Relaxed);
    st.streams_open.fetch_add(1, Ordering::Relaxed);
    let guard = Open(st);
    let s = futures::stream::unfold((0usize, guard), move |(n, g)| async move {
        if limit.is_some_and(|l| n > l) {
            return None;
        }
        if limit == Some(n) {
            return Some((
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(
                    b"event: end\ndata: {}\n\n",
                )),
                (n + 1, g),
            ));
        }
        if n > 0 {
            tokio::time::sleep(every).await;
        }
        let ev = format!(
            "data: {{\"t\":\"{}\",\"cpu_percent\":1.5,\"memory_bytes\":{},\"pids\":1}}\n\n",
            chrono::Utc::now().to_rfc3339(),
            n
        );
        Some((Ok(bytes::Bytes::from(ev)), (n + 1, g)))
    });
    let mut r = Response::new(Body::from_stream(s));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

async fn stats_stream(State(st): State<Arc<FakeState>>, Path(c): Path<String>) -> Response {
    if !st.containers.lock().unwrap().contains_key(&c) {
        return problem(404, &format!("no container {c}"));
    }
    sse(st, Duration::from_millis(50), None)
}

async fn logs(
    State(st): State<Arc<FakeState>>,
    Path(c): Path<String>,
    Q(q): Q<LogsQuery>,
) -> Response {
    if !st.containers.lock().unwrap().contains_key(&c) {
        return problem(404, &format!("no container {c}"));
    }
    if q.follow {
        return sse(st, Duration::from_millis(20), Some(5));
    }
    axum::Json(json!([
        {"stream": "stdout", "time": "2026-01-01T00:00:00Z", "text": "hello"},
        {"stream": "stderr", "time": "2026-01-01T00:00:01Z", "text": "world"}
    ]))
    .into_response()
}

async fn samples(Q(_): Q<WindowQuery>) -> Response {
    let t = "2026-01-01T00:00:00Z";
    axum::Json(json!([{"t": t, "cpu_percent": 1.0, "memory_bytes": 1, "pids": 1}])).into_response()
}

async fn host_samples(Q(_): Q<WindowQuery>) -> Response {
    axum::Json(json!([{"t": "2026-01-01T00:00:00Z", "cpu_percent": 1.0, "memory_bytes": 1,
        "load1": 0.5, "net_rx_bytes": 1, "net_tx_bytes": 1, "disk_read_bytes": 1, "disk_write_bytes": 1}]))
    .into_response()
}

async fn container_namespaces() -> Response {
    let ns = json!({"type": "pid", "inode": 4026532001u64, "host_inode": 4026531836u64, "shared_with_host": false});
    axum::Json(json!([ns])).into_response()
}

async fn metrics_stream(State(st): State<Arc<FakeState>>) -> Response {
    sse(st, Duration::from_millis(50), None)
}

async fn namespaces(State(st): State<Arc<FakeState>>) -> Response {
    let command = st
        .namespace_command
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| "init".into());
    axum::Json(json!([{"inode": 4026531836u64, "type": "pid", "nprocs": 1, "pid": 1, "user": "root", "command": command}])).into_response()
}

async fn cgroups() -> Response {
    axum::Json(
        json!({"path": "/", "controllers": ["memory"], "limits": {}, "usage": {}, "children": []}),
    )
    .into_response()
}

async fn images() -> Response {
    axum::Json(json!([{"id": "sha256:ab", "references": ["busybox:latest"], "size_bytes": 1, "created_at": "2026-01-01T00:00:00Z", "layers": []}])).into_response()
}

async fn pull(State(st): State<Arc<FakeState>>, body: bytes::Bytes) -> Response {
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        st.pull_bodies.lock().unwrap().push(v);
    }
    let events = "data: {\"layer\":\"\",\"current\":0,\"total\":0,\"status\":\"resolving\"}\n\n\
                  data: {\"layer\":\"\",\"current\":1,\"total\":1,\"status\":\"done\"}\n\n\
                  event: end\ndata: {}\n\n";
    let mut r = Response::new(Body::from(events));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

/// Refuses what a real agent refuses before it looks at the images (not a
/// tar, or neither manifest.json nor index.json in it); counts the bytes.
async fn import(State(st): State<Arc<FakeState>>, body: Body) -> Response {
    match super::tarball::check_import(body).await {
        Ok(n) => {
            st.imported_bytes.fetch_add(n, Ordering::Relaxed);
            (StatusCode::CREATED, axum::Json(json!({"images": []}))).into_response()
        }
        Err(detail) => problem(400, &detail),
    }
}

/// The one image the fake holds (`images`), by id or reference.
fn is_stored_image(r: &str) -> bool {
    matches!(
        r,
        "sha256:ab" | "busybox" | "busybox:latest" | "docker.io/library/busybox:latest"
    )
}

async fn delete_image(Path(image): Path<String>) -> Response {
    if image == "in-use" {
        return problem(409, "a container uses it");
    }
    if !is_stored_image(&image) {
        return problem(404, &format!("no such image: {image}"));
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn exec(Q(_): Q<ExecQuery>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(m)) = socket.recv().await {
            let reply = match m {
                Message::Binary(b) => Message::Binary(b),
                Message::Text(t) => Message::Text(format!("resized {}", t.as_str()).into()),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

async fn image_usage() -> Response {
    axum::Json(json!({"blobs_bytes": 1, "snapshots_bytes": 1, "images": 1})).into_response()
}

impl FakeAgent {
    pub async fn start() -> FakeAgent {
        berth_server::tls::install_default_provider();
        let st = Arc::new(FakeState::default());
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let cert_pem = ck.cert.pem();
        let cfg = rustls::ServerConfig::builder_with_provider(berth_server::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![ck.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
            )
            .unwrap();
        let mut cfg = cfg;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let router = Endpoint::ALL
            .iter()
            .copied()
            .fold(Router::new(), |r, e| r.route(e.pattern(), routes::route(e)))
            .layer(axum::middleware::from_fn_with_state(st.clone(), hostile))
            .layer(axum::middleware::from_fn_with_state(st.clone(), auth))
            .with_state(st.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(berth_server::server::serve(
            listener,
            router,
            Arc::new(cfg),
            shutdown.clone(),
        ));
        FakeAgent {
            addr,
            cert_pem,
            state: st,
            shutdown,
        }
    }

    pub fn address(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn host_id(&self) -> String {
        self.state.host_id.lock().unwrap().clone()
    }

    pub fn add_container(&self, name: &str, state: &str) {
        let host = self.host_id();
        self.state
            .containers
            .lock()
            .unwrap()
            .insert(name.to_string(), container(&host, name, state));
    }

    /// Joins `app` as `name` with a join token made by `token`'s user (for
    /// `groups`), then runs one health check so the host is online.
    pub async fn join(&self, app: &TestApp, token: &str, name: &str, groups: &[&str]) -> String {
        let r = app
            .post(
                "/api/v1/hosts/join-tokens",
                token,
                json!({"groups": groups}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let payload =
            berth_server::agents::join::decode_token(r.json()["token"].as_str().unwrap()).unwrap();
        assert_eq!(payload.fingerprint, app.state.fingerprint());
        self.register(app, &payload.secret, name)
            .await
            .expect("register")
    }

    /// Registers with a join secret; the host id, or the refusal.
    pub async fn register(
        &self,
        app: &TestApp,
        secret: &str,
        name: &str,
    ) -> Result<String, super::Resp> {
        let req = RegisterRequest {
            secret: secret.to_string(),
            name: name.to_string(),
            address: self.address(),
            facts: facts(),
            runtimes: vec!["berth".into()],
            certificate_pem: self.cert_pem.clone(),
            agent_version: "0.1.0-fake".into(),
        };
        let r = app
            .call(
                axum::http::Method::POST,
                "/api/v1/hosts/register",
                None,
                Some(serde_json::to_value(&req).unwrap()),
            )
            .await;
        if r.status != 200 {
            return Err(r);
        }
        let resp: RegisterResponse = serde_json::from_slice(&r.body).unwrap();
        *self.state.host_id.lock().unwrap() = resp.host_id.clone();
        let pem = resp.server_public_key_pem;
        let der = {
            use ed25519_dalek::pkcs8::DecodePublicKey;
            ed25519_dalek::VerifyingKey::from_public_key_pem(&pem)
                .unwrap()
                .to_bytes()
                .to_vec()
        };
        *self.state.server_key.lock().unwrap() = Some(der);
        let host = berth_server::db::hosts::get(&app.state.db, &resp.host_id)
            .await
            .unwrap()
            .unwrap();
        berth_server::agents::health::check(&app.state, &host, Duration::from_secs(5))
            .await
            .expect("first health check");
        Ok(resp.host_id)
    }
}
