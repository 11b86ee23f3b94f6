//! berth-server: Berth's control plane (docs/architecture.md, "The backend").
//!
//! [`app`] builds the router (API, docs, dashboard) over an [`AppState`];
//! [`run`] does everything `berth-server` does: open the database, first-run
//! setup, serve HTTP and HTTPS on one port, check hosts' health and, with
//! `--local-agent`, run and supervise an agent on this machine.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod packages;
pub mod rbac;
pub mod server;
pub mod state;
pub mod streams;
pub mod tls;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::from_fn_with_state;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use state::AppState;

/// The Content-Security-Policy of every answer: only this origin, plus
/// WebAssembly compilation for the dashboard.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a handler panicked");
    error::problem_response(&berth_api::Problem::new(
        500,
        "internal error; the server log has the cause",
    ))
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    // Each route carries its audit, origin check and authorization (see
    // `http::route`).
    let api = http::api_router(&state).method_not_allowed_fallback(http::method_not_allowed);
    Router::new()
        .merge(api)
        .merge(dashboard::docs_router())
        .merge(packages::http::router())
        .fallback(dashboard::fallback)
        .layer(axum::middleware::from_fn(http::guard::api_headers))
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::layer))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(from_fn_with_state(state.clone(), http::guard::https_only))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// The router of `--metrics-listen`: only `GET /metrics`, no auth.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(http::system::prometheus_unauthenticated),
        )
        .layer(axum::middleware::from_fn(http::guard::api_headers))
        .with_state(state)
}

/// The URL to open the dashboard at: the public URL, or the plain HTTP
/// one on the listen address when plain HTTP is allowed.
pub fn dashboard_url(config: &Config) -> String {
    if !config.allow_plain_http {
        return format!("{}/", config.public_url());
    }
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}/")
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        });
    }
    run_until(config, shutdown).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run_until(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    use anyhow::Context;
    let state = AppState::new(config)
        .await
        .context("starting berth-server")?;
    let cfg = state.config.clone();
    tracing::info!(
        database = state.db.kind.as_str(),
        data_dir = %cfg.data_dir.display(),
        fingerprint = %state.fingerprint(),
        "berth-server {}",
        berth_api::VERSION
    );
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let url = dashboard_url(&cfg);
    match http::setup::first_run(&state)
        .await
        .context("first-run setup")?
    {
        http::setup::FirstRun::SetupToken(token) => {
            let file = cfg.data_dir.join(http::setup::SETUP_TOKEN_FILE);
            // The token goes to the terminal only, never into the log.
            tracing::info!(file = %file.display(), "no user yet: the one-time setup token is printed on the terminal and in the file");
            println!(
                "Berth is ready: open {url} (HTTP and HTTPS on {}).",
                cfg.listen
            );
            println!("First run: create the owner at {url}setup with this one-time setup token:");
            println!();
            println!("    {token}");
            println!();
            println!("(also in {}, readable by root only)", file.display());
        }
        http::setup::FirstRun::AdminCreated => {
            tracing::info!("created the owner \"admin\" from the configured password");
            println!("Berth is ready: open {url} and log in as admin.");
        }
        http::setup::FirstRun::Done => println!("Berth is ready: open {url}"),
    }
    let tls = state.identity.server_config().context("TLS")?;
    let metrics_server = match cfg.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?;
            tracing::info!(%addr, "serving GET /metrics (no auth) on a separate listener");
            let app = metrics_app(state.clone());
            let stop = shutdown.clone();
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
            }))
        }
        None => None,
    };
    let health = tokio::spawn(agents::health::run(state.clone(), shutdown.clone()));
    tokio::spawn(packages::rebuild_on_sighup(
        state.packages.clone(),
        shutdown.clone(),
    ));
    let local = cfg
        .local_agent
        .then(|| tokio::spawn(agents::local::supervise(state.clone(), shutdown.clone())));
    // Migrated and listening: systemd (Type=notify) may start what follows.
    berth_net::daemon::notify_ready();
    server::serve(listener, app(state.clone()), tls, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(local) = local {
        let _ = tokio::time::timeout(Duration::from_secs(15), local).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), health).await;
    if let Some(m) = metrics_server {
        let _ = tokio::time::timeout(Duration::from_secs(5), m).await;
    }
    state.db.pool.close().await;
    Ok(())
}
