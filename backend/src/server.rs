//! The listener: one port for plain HTTP and HTTPS (the first byte of a
//! connection decides; `http::guard` redirects plain HTTP to HTTPS unless
//! `--allow-plain-http`). The accept loop, connection limit and drain are
//! `berth_net::serve`'s, shared with the agent. Each request carries a
//! [`ConnInfo`]: the peer address and whether it came over TLS (the session
//! cookie is `Secure` then).

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use berth_net::serve::ConnInfo;

/// Connections the server serves at once (dashboards, scripts, streams);
/// beyond it new ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves `app` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    let opts = berth_net::serve::Options {
        allow_plain: true,
        max_connections: MAX_CONNECTIONS,
        ..Default::default()
    };
    berth_net::serve::serve(listener, tls, app, shutdown, opts).await;
}
