//! A fake agent for tests: the agent protocol's TLS API with a self-signed
//! certificate, checking the server's EdDSA request signatures exactly as a
//! real agent must, and answering from memory as an implementation of
//! `berth_net::agent_service::AgentService` (`fake_routes.rs`), the trait
//! the real agent implements, served by the same router: an endpoint or a
//! method added on one side only does not compile, and requests are read
//! and refused exactly as the agent does. It counts what it sees
//! (requests, open streams, imported bytes) for assertions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use berth_api::Problem;
use berth_api::agent::{AgentRequestClaims, RegisterRequest, RegisterResponse, SERVER_ISSUER};
use berth_api::hosts::{CgroupMode, HostFacts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::TestApp;

/// The fake's `AgentService`.
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
    /// The version it reports at join and in `info` ("0.1.0-fake" when
    /// unset).
    pub version: Mutex<Option<String>>,
}

impl FakeState {
    pub fn version(&self) -> String {
        self.version
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "0.1.0-fake".into())
    }
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
        let router = berth_net::agent_service::router(routes::Fake(st.clone()))
            .layer(axum::middleware::from_fn_with_state(st.clone(), hostile))
            .layer(axum::middleware::from_fn_with_state(st.clone(), auth));
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

    /// Reports `v` as its version from now on (join and health checks).
    pub fn set_version(&self, v: &str) {
        *self.state.version.lock().unwrap() = Some(v.to_string());
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
            agent_version: self.state.version(),
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
