//! berth-agent: the host daemon. It joins a server, serves a signed-request
//! API over TLS, and runs containers through an OCI runtime with a monitor
//! process each, so containers outlive the agent (docs/architecture.md).
//!
//! `main.rs` parses flags and calls [`Agent::open`] then [`Agent::serve`];
//! tests do the same in-process.

pub mod auth;
pub mod config;
pub mod containers;
pub mod docker;
pub mod facts;
pub mod fsutil;
pub mod http;
pub mod images;
pub mod inventory;
pub mod join;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod network;
pub mod runtime;
pub mod server;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::containers::{Containers, ServiceConfig};

/// The runtimes this agent offers: Berth's, and Docker's when its engine
/// answers on `docker_socket`.
pub async fn runtimes_available(docker_socket: &std::path::Path) -> Vec<String> {
    let mut v = vec!["berth".to_string()];
    if docker::DockerBridge::connect(docker_socket).await.is_some() {
        v.push("docker".to_string());
    }
    v
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Join(#[from] join::Error),
    #[error(transparent)]
    Tls(#[from] tls::Error),
    #[error("the server key in join.json is unusable: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
    #[error("open the image store: {0}")]
    Images(#[from] images::Error),
    #[error("open the containers: {0}")]
    Containers(#[from] containers::Error),
    #[error("{0}")]
    Setup(String),
}

/// The longest path a Unix socket may have (`sun_path` holds 108 bytes
/// with the closing NUL).
const SOCKET_PATH_MAX: usize = 107;

/// Refuses a runtime root so long that a container's monitor socket,
/// `<root>/m/<64 hex>.sock`, could not be bound: every start would fail.
fn check_runtime_root(root: &std::path::Path) -> Result<(), StartError> {
    let longest = root.join("m").join(format!("{}.sock", "0".repeat(64)));
    let len = longest.as_os_str().len();
    if len > SOCKET_PATH_MAX {
        return Err(StartError::Setup(format!(
            "the runtime root {} is too long: container sockets under it would be {len} bytes, \
             over the {SOCKET_PATH_MAX} a Unix socket path may have; use a root of at most {} bytes \
             (BERTH_AGENT_RUNTIME_ROOT)",
            root.display(),
            root.as_os_str().len() - (len - SOCKET_PATH_MAX)
        )));
    }
    Ok(())
}

/// Binaries the agent runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Runs `monitor` (the agent binary itself).
    pub monitor: PathBuf,
    /// A runc-compatible OCI runtime binary; `None` runs containers with
    /// the runtime library in-process (the default).
    pub runtime: Option<PathBuf>,
}

impl Binaries {
    /// The running agent binary, and `runtime` when given.
    pub fn locate(runtime: Option<PathBuf>) -> Result<Self, StartError> {
        let monitor = std::env::current_exe()
            .map_err(|e| StartError::Setup(format!("find the agent binary: {e}")))?;
        if let Some(r) = &runtime
            && !r.is_file()
        {
            return Err(StartError::Setup(format!(
                "--oci-runtime {}: no such file",
                r.display()
            )));
        }
        Ok(Self { monitor, runtime })
    }
}

/// A configured agent, ready to serve.
pub struct Agent {
    state: http::AppState,
    identity: tls::Identity,
    cpus: u32,
}

impl Agent {
    /// Loads (or makes) the TLS identity, the join, the image store and the
    /// containers, and re-adopts running containers.
    pub async fn open(config: Config, bins: Binaries) -> Result<Self, StartError> {
        let paths = config.paths();
        check_runtime_root(&paths.runtime_root)?;
        for d in [&paths.data, &paths.runtime_root] {
            tls::create_dir_private(d)?;
        }
        let identity = tls::load_or_create(&paths.tls_dir(), &[config.host_name()])?;
        let auth = auth::Auth::default();
        match join::JoinState::load(&paths.join_file())? {
            Some(j) => auth.set(&j)?,
            None => tracing::warn!(
                "not joined to a server: every request is refused until `berth-agent join <token>`"
            ),
        }
        let images = images::ImageStore::open(paths.images_dir())?;
        let service = ServiceConfig {
            paths: paths.clone(),
            cgroup_parent: config.cgroup_parent.clone(),
            monitor_bin: bins.monitor,
            runtime_bin: bins.runtime,
            cpus: facts::host_facts().cpus,
            host_resolv: PathBuf::from("/etc/resolv.conf"),
            log_limits: monitor::logfile::Limits::default(),
        };
        let cpus = service.cpus;
        let network = open_network(&config, &paths).await;
        let containers = Containers::open(service, images.clone(), network, auth.clone())?;
        containers.adopt().await;
        let metrics = metrics::Metrics::open(paths.metrics_dir());
        let docker: Option<Arc<dyn docker::Engine>> = match docker::DockerBridge::connect(
            &config.docker_socket,
        )
        .await
        {
            Some(d) => {
                tracing::info!(socket = %config.docker_socket.display(), "Docker engine found: its containers are bridged");
                Some(Arc::new(d))
            }
            None => None,
        };
        Ok(Self {
            state: http::AppState::new(auth, containers, images, metrics, docker, Arc::new(config)),
            identity,
            cpus,
        })
    }

    /// The certificate the server pins.
    pub fn identity(&self) -> &tls::Identity {
        &self.identity
    }

    /// The HTTP API (signed requests only).
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Serves HTTPS on `listener` until `shutdown`. Containers keep running
    /// after it returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let tls = self.identity.server_config()?;
        let router = self.router();
        let sampler = tokio::spawn(self.state.metrics.clone().run(
            self.state.containers.clone(),
            self.state.docker.clone(),
            self.cpus,
            shutdown.clone(),
        ));
        server::serve(listener, tls, router, shutdown).await;
        // The sampler saves the history when it stops.
        let _ = sampler.await;
        Ok(())
    }
}

/// Opens container networking; `None` (logged) when the host cannot have
/// it, so that the rest of the agent still runs.
async fn open_network(config: &Config, paths: &config::Paths) -> Option<network::Network> {
    let mut cfg = network::NetworkConfig::new(&paths.data, &paths.runtime_root);
    cfg.bridge = config.bridge.clone();
    cfg.table = config.nft_table.clone();
    match config.subnet.parse() {
        Ok(s) => cfg.subnet = s,
        Err(e) => {
            tracing::error!(subnet = %config.subnet, error = %e, "bad --subnet: container networking is off");
            return None;
        }
    }
    let opened = match &config.network_netns {
        None => network::Network::open(cfg).await,
        Some(path) => open_network_in(path, cfg),
    };
    match opened {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::error!(error = %e, "container networking is off: only none and host work");
            None
        }
    }
}

/// `Network::open` takes the namespace of the thread that calls it: run it,
/// to completion, on this thread moved into `path` for the time.
fn open_network_in(
    path: &std::path::Path,
    cfg: network::NetworkConfig,
) -> network::Result<network::Network> {
    use nix::sched::{CloneFlags, setns};
    let io = |what: &str, e: std::io::Error| network::Error::Invalid(format!("{what}: {e}"));
    let target =
        std::fs::File::open(path).map_err(|e| io(&format!("open {}", path.display()), e))?;
    let own =
        std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| io("open the own netns", e))?;
    tokio::task::block_in_place(|| {
        setns(&target, CloneFlags::CLONE_NEWNET)
            .map_err(|e| io(&format!("enter {}", path.display()), e.into()))?;
        let r = tokio::runtime::Handle::current().block_on(network::Network::open(cfg));
        let back = setns(&own, CloneFlags::CLONE_NEWNET);
        if let Err(e) = back {
            // A worker thread left in another namespace would be wrong for
            // every later task on it: better to stop.
            panic!("could not return to the agent's network namespace: {e}");
        }
        r
    })
}

#[cfg(test)]
mod start_tests {
    use super::*;

    #[test]
    fn a_runtime_root_too_long_for_sockets_is_refused() {
        assert!(check_runtime_root(std::path::Path::new("/run/berth/0123456789ab")).is_ok());
        let max = std::path::PathBuf::from(format!("/{}", "r".repeat(34)));
        assert!(check_runtime_root(&max).is_ok());
        let over = std::path::PathBuf::from(format!("/{}", "r".repeat(35)));
        let e = check_runtime_root(&over).unwrap_err().to_string();
        assert!(
            e.contains("too long") && e.contains("at most 35 bytes"),
            "{e}"
        );
    }
}
