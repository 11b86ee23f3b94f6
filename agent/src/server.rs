//! The HTTPS listener: TLS only (servers connect with the pinned
//! certificate), served by `berth_net::serve` (shared with the server: the
//! accept loop, connection limit, HTTP/1.1 and h2, drain on shutdown). Each
//! request carries the peer address as `ConnectInfo` so refusals can be
//! logged with it.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Connections the agent serves at once (its servers' calls and streams);
/// beyond it new ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;

/// Serves `router` on `listener` until `shutdown` fires, then waits (at most
/// a few seconds) for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
) {
    let opts = berth_net::serve::Options {
        allow_plain: false,
        max_connections: MAX_CONNECTIONS,
        ..Default::default()
    };
    berth_net::serve::serve(listener, tls, router, shutdown, opts).await;
}
