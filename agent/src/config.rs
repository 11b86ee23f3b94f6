//! The agent's configuration: one clap struct shared by `join`, `run` and the
//! paths derived from it, and the command line ([`Cli`]) around it. Every
//! flag is also read from the environment and from the config file
//! `/etc/berth/agent.toml` (keys are the flags in snake_case; flag > env >
//! file > default, see `berth_net::daemon::config_file` and
//! docs/install-debian.md).
//!
//! Every host path is a parameter with a default, never a constant buried in
//! a function, so tests run agents side by side in temp dirs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The file read when neither `--config` nor `BERTH_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/agent.toml";

/// The daemon's filter when no `log_filter` is given.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// `berth-agent`'s command line.
#[derive(Debug, clap::Parser)]
#[command(name = "berth-agent", version, about = "Berth's host daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Join the server named by a join token, then exit.
    Join {
        token: String,
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        daemon: berth_net::daemon::DaemonArgs,
    },
    /// Serve the agent API (joining first when --join-token is given and the
    /// agent has not joined yet).
    Run {
        /// The single-use join token (from the dashboard) to join with when
        /// the agent has not joined yet.
        #[arg(long, env = "BERTH_AGENT_JOIN_TOKEN", hide_env_values = true)]
        join_token: Option<String>,
        /// A runc-compatible OCI runtime binary (default: the built-in runtime library).
        #[arg(long, env = "BERTH_AGENT_OCI_RUNTIME")]
        oci_runtime: Option<PathBuf>,
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        daemon: berth_net::daemon::DaemonArgs,
    },
    /// Internal: the per-container monitor.
    #[command(hide = true)]
    Monitor(crate::monitor::MonitorArgs),
}

impl Cli {
    /// Where the configuration comes from: `argv` (program name first), the
    /// environment and the config file (not for `monitor`, which has no
    /// `--config`).
    pub fn source(argv: Vec<std::ffi::OsString>) -> berth_net::daemon::Source {
        use clap::CommandFactory;
        berth_net::daemon::Source::new(Cli::command(), argv, DEFAULT_CONFIG_FILE)
    }

    /// The command line of a loaded configuration.
    pub fn from_loaded(loaded: &berth_net::daemon::Loaded) -> Result<Cli, clap::Error> {
        use clap::FromArgMatches;
        Cli::from_arg_matches(&loaded.matches)
    }
}

/// Flags common to `join` and `run` (each also read from the environment).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Where the agent keeps its state: TLS identity, join, containers, logs.
    #[arg(
        long,
        env = "BERTH_AGENT_DATA_DIR",
        default_value = "/var/lib/berth-agent"
    )]
    pub data_dir: PathBuf,
    /// Address the agent's HTTPS API listens on.
    #[arg(long, env = "BERTH_AGENT_LISTEN", default_value = "0.0.0.0:7443")]
    pub listen: SocketAddr,
    /// The URL the server should use to reach this agent
    /// (default: https://<listen>, with 127.0.0.1 for 0.0.0.0).
    #[arg(long, env = "BERTH_AGENT_ADVERTISE")]
    pub advertise: Option<String>,
    /// The host's name as the server shows it (default: the hostname).
    #[arg(long, env = "BERTH_AGENT_NAME")]
    pub name: Option<String>,
    /// Runtime state (container state, monitor sockets). Defaults to
    /// /run/berth/<short hash of the data dir>: cleared on reboot, and two
    /// agents on one machine never collide.
    #[arg(long, env = "BERTH_AGENT_RUNTIME_ROOT")]
    pub runtime_root: Option<PathBuf>,
    /// Parent cgroup of the containers (relative to each hierarchy's root).
    #[arg(long, env = "BERTH_AGENT_CGROUP_PARENT", default_value = "/berth")]
    pub cgroup_parent: String,
    /// The bridge containers in `bridge` mode attach to.
    #[arg(long, env = "BERTH_AGENT_BRIDGE", default_value = crate::network::DEFAULT_BRIDGE)]
    pub bridge: String,
    /// The bridge's subnet (the gateway is its first address).
    #[arg(long, env = "BERTH_AGENT_SUBNET", default_value = crate::network::DEFAULT_SUBNET)]
    pub subnet: String,
    /// Berth's own nftables table (family ip); unique per agent on one kernel.
    #[arg(long, env = "BERTH_AGENT_NFT_TABLE", default_value = crate::network::DEFAULT_TABLE)]
    pub nft_table: String,
    /// Build container networking inside this network namespace (a path such
    /// as /run/netns/NAME) instead of the agent's own: for several agents on
    /// one machine, and tests.
    #[arg(long, env = "BERTH_AGENT_NETWORK_NETNS")]
    pub network_netns: Option<PathBuf>,
    /// A Docker engine's socket: when it answers, its containers show too.
    #[arg(
        long,
        env = "BERTH_AGENT_DOCKER_SOCKET",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: PathBuf,
}

impl Config {
    /// A config with every default, rooted at `data_dir` (for tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([0, 0, 0, 0], 7443)),
            advertise: None,
            name: None,
            runtime_root: None,
            cgroup_parent: "/berth".to_string(),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            bridge: crate::network::DEFAULT_BRIDGE.to_string(),
            subnet: crate::network::DEFAULT_SUBNET.to_string(),
            nft_table: crate::network::DEFAULT_TABLE.to_string(),
            network_netns: None,
        }
    }

    /// The URL to advertise to the server.
    pub fn advertise_url(&self) -> String {
        if let Some(a) = &self.advertise {
            return a.trim_end_matches('/').to_string();
        }
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("https://{addr}")
    }

    /// The host name to register with.
    pub fn host_name(&self) -> String {
        self.name.clone().unwrap_or_else(crate::facts::hostname)
    }

    /// Every path the agent uses, derived once.
    pub fn paths(&self) -> Paths {
        let runtime_root = self
            .runtime_root
            .clone()
            .unwrap_or_else(|| default_runtime_root(&self.data_dir));
        Paths {
            data: self.data_dir.clone(),
            runtime_root,
        }
    }
}

/// `/run/berth/<first 12 hex of sha256(canonical data dir)>`.
pub fn default_runtime_root(data_dir: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    PathBuf::from("/run/berth").join(&hex::encode(digest)[..12])
}

/// The agent's files, all under the data dir or the runtime root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data: PathBuf,
    pub runtime_root: PathBuf,
}

impl Paths {
    pub fn tls_dir(&self) -> PathBuf {
        self.data.join("tls")
    }
    pub fn join_file(&self) -> PathBuf {
        self.data.join("join.json")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.data.join("containers")
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }
    pub fn images_dir(&self) -> PathBuf {
        self.data.join("images")
    }
    pub fn metrics_dir(&self) -> PathBuf {
        self.data.join("metrics")
    }
    /// State of the OCI runtime library (its `--root`).
    pub fn oci_root(&self) -> PathBuf {
        self.runtime_root.join("runtime")
    }
    /// Per-container runtime files: the monitor's socket and pid.
    pub fn monitor_dir(&self, id: &str) -> PathBuf {
        self.runtime_root.join("monitors").join(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertise_defaults_to_loopback_for_unspecified() {
        let c = Config::with_data_dir("/tmp/x");
        assert_eq!(c.advertise_url(), "https://127.0.0.1:7443");
        let mut c = Config::with_data_dir("/tmp/x");
        c.listen = "10.1.2.3:9000".parse().unwrap();
        assert_eq!(c.advertise_url(), "https://10.1.2.3:9000");
        c.advertise = Some("https://h.example:1/".into());
        assert_eq!(c.advertise_url(), "https://h.example:1");
    }

    #[test]
    fn runtime_roots_differ_per_data_dir() {
        let a = default_runtime_root(Path::new("/var/lib/a"));
        let b = default_runtime_root(Path::new("/var/lib/b"));
        assert_ne!(a, b);
        assert!(a.starts_with("/run/berth"));
        assert_eq!(a.file_name().unwrap().len(), 12);
    }
}
