//! Test harness: a fresh `berth-server` app per test on a temp SQLite file,
//! or a fresh PostgreSQL database when `BERTH_TEST_POSTGRES_URL` is set
//! (`db_test!` runs a test body on every backend), request helpers, users
//! with given roles, and a fake agent (TLS, signed requests) to join.

#![allow(dead_code)]

pub mod fake_agent;
pub mod real_agent;
pub mod replica;
pub mod tarball;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use berth_api::auth::{Role, Scope, Subject};
use berth_server::auth::session::{SESSION_ISSUER, SessionClaims};
use berth_server::server::ConnInfo;
use berth_server::{AppState, Config, app, db};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Password of every test user.
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// SQLite always; PostgreSQL too when `BERTH_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var("BERTH_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => v.push(Backend::Postgres(u)),
        // The SQLite half still runs; the PostgreSQL half is a skip.
        _ => berth_testkit::skip(
            "BERTH_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test does not run (scripts/test.sh sets it)",
        ),
    }
    v
}

/// Runs the body once per backend, each time on a fresh app.
#[macro_export]
macro_rules! db_test {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for backend in common::backends() {
                eprintln!("--- {} on {:?}", stringify!($name), backend);
                let t = common::TestApp::new(backend).await;
                let f = $body;
                f(t).await;
            }
        }
    };
}

/// A database that a test made (and drops again).
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Makes an empty PostgreSQL database; returns its URL.
pub async fn fresh_pg_database(admin_url: &str) -> (String, PgDatabase) {
    use sqlx::Connection;
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "berth_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        hex::encode(rand::random::<[u8; 3]>())
    );
    let mut c = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to BERTH_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut c)
        .await
        .expect("create database");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map(|j| j + 2).unwrap_or(0) => &base[..i],
        _ => base,
    };
    let url = format!("{base}/{name}{query}");
    (
        url,
        PgDatabase {
            admin_url: admin_url.to_string(),
            name,
        },
    )
}

pub struct TestApp {
    pub state: AppState,
    pub app: Router,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    _pg: Option<Box<dyn std::any::Any + Send>>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The problem's detail, checking it is a problem+json.
    pub fn detail(&self) -> String {
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/problem+json"),
            "{} body: {}",
            self.status,
            self.text()
        );
        let v = self.json();
        assert_eq!(v["status"].as_u64(), Some(u64::from(self.status.as_u16())));
        v["detail"].as_str().unwrap_or_default().to_string()
    }
}

/// A user made for a test, with a session token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub token: String,
}

fn password_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(berth_server::auth::password::hash(PASSWORD))
                .expect("hash")
        })
        .join()
        .expect("hash thread")
    })
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        Self::with_config(backend, |_| {}).await
    }

    pub async fn with_config(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.dashboard_dir = Some(dir.path().join("dist"));
        // Tests send plain HTTP (ConnInfo tls: false); the redirect to HTTPS
        // is tested on its own.
        config.allow_plain_http = true;
        let mut pg: Option<Box<dyn std::any::Any + Send>> = None;
        if let Backend::Postgres(admin) = &backend {
            let (url, guard) = fresh_pg_database(admin).await;
            config.database_url = Some(url);
            pg = Some(Box::new(guard));
        }
        tweak(&mut config);
        let state = AppState::new(config).await.expect("state");
        TestApp {
            app: app(state.clone()),
            state,
            backend,
            dir,
            _pg: pg,
        }
    }

    /// Sends a request as if from 127.0.0.1 over plain HTTP.
    pub async fn send(&self, mut req: Request<Body>) -> Resp {
        if req.extensions().get::<ConnInfo>().is_none() {
            req.extensions_mut().insert(ConnInfo {
                remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
                tls: false,
            });
        }
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// A user with these grants (bindings made directly) and a session.
    pub async fn user(&self, username: &str, grants: &[(Role, Scope)]) -> TestUser {
        let u = db::users::create(&self.state.db, username, password_hash())
            .await
            .expect("create user");
        for (role, scope) in grants {
            db::bindings::create(&self.state.db, &Subject::User(u.id.clone()), *role, scope)
                .await
                .expect("binding");
        }
        let token = self.session_for(&u.id).await;
        TestUser {
            id: u.id,
            username: username.to_string(),
            token,
        }
    }

    /// A fresh session token for a user.
    pub async fn session_for(&self, user_id: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let sid = hex::encode(rand::random::<[u8; 16]>());
        db::sessions::create(&self.state.db, &sid, user_id, (now + 3600) * 1000, "test")
            .await
            .expect("session");
        self.state
            .sessions
            .issue(&SessionClaims {
                iss: SESSION_ISSUER.to_string(),
                sub: user_id.to_string(),
                sid,
                iat: now,
                exp: now + 3600,
            })
            .expect("issue")
    }

    /// The global owner.
    pub async fn owner(&self) -> TestUser {
        let _ = db::settings::get_or_insert(&self.state.db, "setup_done", "test").await;
        self.user("owner", &[(Role::Owner, Scope::Global)]).await
    }
}

/// The app served on a real socket (HTTP and HTTPS on one port) until
/// dropped.
pub struct Running {
    pub port: u16,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `cond` (every 20 ms) until it holds; panics naming `what` when it
/// still does not after `within`. For synchronisation on a condition
/// instead of a fixed sleep.
pub async fn wait_until<F, Fut>(what: &str, within: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if cond().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Serves `t`'s app on 127.0.0.1 with its TLS identity.
pub async fn serve(t: &TestApp) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(berth_server::server::serve(
        listener,
        t.app.clone(),
        t.state.identity.server_config().unwrap(),
        shutdown.clone(),
    ));
    Running { port, shutdown }
}
