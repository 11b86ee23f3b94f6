//! The listener: one port for plain HTTP and HTTPS. The first byte of each
//! connection decides (0x16 starts a TLS ClientHello); then hyper-util's auto
//! builder serves HTTP/1.1 or HTTP/2 (with upgrades, for WebSockets) from the
//! axum router. Each request carries a [`ConnInfo`]: the peer address and
//! whether it came over TLS (the session cookie is `Secure` then).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Who is on the other end of a request's connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub tls: bool,
}

/// How long a new connection may take to send its first byte or finish the
/// TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections (streams) to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = TlsAcceptor::from(tls);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let app = app.clone();
                    let acceptor = acceptor.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, remote, app, acceptor, watcher).await {
                            tracing::debug!(%remote, error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing the connections still open after {DRAIN_TIMEOUT:?}");
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    acceptor: TlsAcceptor,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await??;
    if n == 0 {
        return Ok(());
    }
    let tls = first[0] == 0x16;
    let info = ConnInfo { remote, tls };
    let svc = app.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(info);
        req
    });
    let svc = TowerToHyperService::new(svc);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    if tls {
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await??;
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        watcher.watch(conn.into_owned()).await
    } else {
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        watcher.watch(conn.into_owned()).await
    }
}
