//! The one HTTP listener of the server and the agent: accept TCP (at most
//! [`Options::max_connections`] at once), handshake TLS (or, where plain
//! HTTP is allowed, serve it when the first byte is not a TLS ClientHello),
//! then serve the axum router with hyper-util's auto builder (HTTP/1.1 with
//! upgrades for WebSockets, or h2) until shutdown, then drain.
//!
//! Each request carries a [`ConnInfo`] (peer address, TLS or not) and axum's
//! `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Who is on the other end of a request's connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub tls: bool,
}

/// How a listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Serve plain HTTP on the same port (a connection whose first byte is
    /// not 0x16, a TLS ClientHello). Otherwise every connection must
    /// handshake TLS.
    pub allow_plain: bool,
    /// Connections served at once. When that many are open, accepting waits
    /// (the kernel's backlog holds new ones) until one closes.
    pub max_connections: usize,
    /// How long a new connection may take to send its first byte, finish
    /// the TLS handshake or send its request headers.
    pub handshake_timeout: Duration,
    /// How long shutdown waits for open connections (streams) to finish.
    pub drain_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_plain: false,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then waits at most
/// `drain_timeout` for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: CancellationToken,
    opts: Options,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            _ = shutdown.cancelled() => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let conn = Conn {
                        app: app.clone(),
                        acceptor: acceptor.clone(),
                        watcher: graceful.watcher(),
                        opts,
                        _permit: permit,
                    };
                    tokio::spawn(async move {
                        if let Err(e) = conn.run(stream, remote).await {
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
    if tokio::time::timeout(opts.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            "closing the connections still open after {:?}",
            opts.drain_timeout
        );
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One accepted connection and what it needs; the permit frees its slot
/// when the connection ends.
struct Conn {
    app: Router,
    acceptor: TlsAcceptor,
    watcher: Watcher,
    opts: Options,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    async fn run(self, stream: TcpStream, remote: SocketAddr) -> Result<(), BoxError> {
        let timeout = self.opts.handshake_timeout;
        let _ = stream.set_nodelay(true);
        let tls = if self.opts.allow_plain {
            let mut first = [0u8; 1];
            if tokio::time::timeout(timeout, stream.peek(&mut first)).await?? == 0 {
                return Ok(());
            }
            first[0] == 0x16
        } else {
            true
        };
        let info = ConnInfo { remote, tls };
        let svc = self
            .app
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(info);
                req.extensions_mut().insert(ConnectInfo(remote));
                req
            });
        let svc = TowerToHyperService::new(svc);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
        if tls {
            let stream = tokio::time::timeout(timeout, self.acceptor.accept(stream)).await??;
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            self.watcher.watch(conn.into_owned()).await
        } else {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            self.watcher.watch(conn.into_owned()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::tls::{Identity, PinnedCert};

    async fn start(opts: Options) -> (SocketAddr, String, CancellationToken) {
        crate::install_providers();
        let d = tempfile::tempdir().unwrap();
        let id =
            Identity::load_or_generate(&d.path().join("c"), &d.path().join("k"), vec![]).unwrap();
        let app = Router::new().route(
            "/",
            axum::routing::get(|axum::Extension(c): axum::Extension<ConnInfo>| async move {
                format!("tls={}", c.tls)
            }),
        );
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stop = CancellationToken::new();
        let tls = id.server_config().unwrap();
        tokio::spawn(serve(l, tls, app, stop.clone(), opts));
        (addr, id.fingerprint().to_string(), stop)
    }

    fn plain_get(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    async fn tls_get(addr: SocketAddr, fp: &str) -> String {
        let cfg = PinnedCert::new(fp).client_config().unwrap();
        let c = reqwest::Client::builder()
            .tls_backend_preconfigured(cfg)
            .build()
            .unwrap();
        c.get(format!("https://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn plain_http_is_served_only_when_allowed() {
        let (addr, fp, stop) = start(Options {
            allow_plain: true,
            ..Options::default()
        })
        .await;
        let a = tokio::task::spawn_blocking(move || plain_get(addr)).await;
        assert!(a.unwrap().unwrap().ends_with("tls=false"));
        assert_eq!(tls_get(addr, &fp).await, "tls=true");
        stop.cancel();

        let (addr, fp, stop) = start(Options::default()).await;
        let a = tokio::task::spawn_blocking(move || plain_get(addr)).await;
        let answered = a.unwrap().unwrap_or_default();
        assert!(!answered.contains("tls="), "{answered}");
        assert_eq!(tls_get(addr, &fp).await, "tls=true");
        stop.cancel();
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_for_a_slot() {
        let (addr, fp, stop) = start(Options {
            max_connections: 1,
            handshake_timeout: Duration::from_secs(30),
            ..Options::default()
        })
        .await;
        // One idle connection holds the only slot: a second client is not
        // served until it closes.
        let idle = std::net::TcpStream::connect(addr).unwrap();
        let second = tokio::spawn({
            let fp = fp.clone();
            async move { tls_get(addr, &fp).await }
        });
        let waited = tokio::time::timeout(Duration::from_millis(800), async {
            while !second.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            waited.is_err(),
            "the second connection was served past the limit"
        );
        drop(idle);
        let got = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("served once the slot was free")
            .unwrap();
        assert_eq!(got, "tls=true");
        stop.cancel();
    }
}
