//! The network's configuration: names, subnet and paths, their defaults
//! and checks, and the record of what a state directory was made for.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Ipv4Network;
use super::error::{Error, Result};
use super::ipam::Ipam;
use super::state::Record;

/// The bridge's default name.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// The default bridge subnet.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";
/// The default nftables table (`ip berth`).
pub const DEFAULT_TABLE: &str = "berth";
/// The name of a container's interface inside its namespace.
pub const CONTAINER_IFNAME: &str = "eth0";

/// Where the module keeps its state and what it builds.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Persistent state: `<agent data>/network`.
    pub state_dir: PathBuf,
    /// Persistent namespace files: `<agent runtime root>/netns` (tmpfs, so
    /// a reboot clears them with the namespaces they pinned).
    pub netns_dir: PathBuf,
    /// The bridge (at most 15 bytes).
    pub bridge: String,
    /// The bridge subnet; the gateway is its first host address.
    pub subnet: Ipv4Network,
    /// The nftables table (family `ip`).
    pub table: String,
    /// The `nft` binary.
    pub nft: PathBuf,
    /// The host resolv.conf to take DNS servers from; `None` picks
    /// systemd-resolved's upstream list when present, else /etc/resolv.conf.
    pub resolv_conf: Option<PathBuf>,
}

impl NetworkConfig {
    /// The defaults for an agent with data dir `data_dir` and runtime root
    /// `runtime_root`.
    pub fn new(data_dir: &Path, runtime_root: &Path) -> Self {
        Self {
            state_dir: data_dir.join("network"),
            netns_dir: runtime_root.join("netns"),
            bridge: DEFAULT_BRIDGE.into(),
            subnet: DEFAULT_SUBNET
                .parse()
                .unwrap_or_else(|_| Ipv4Network::from(Ipv4Addr::new(10, 88, 0, 0))),
            table: DEFAULT_TABLE.into(),
            nft: default_nft(),
            resolv_conf: None,
        }
    }

    /// Checks names and the subnet.
    pub fn validate(&self) -> Result<()> {
        let b = &self.bridge;
        if b.is_empty()
            || b.len() > 15
            || b.chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
        {
            return Err(Error::Invalid(format!(
                "bridge name {b:?}: 1-15 characters without '/', ':' or spaces"
            )));
        }
        let t = &self.table;
        if t.is_empty()
            || t.len() > 64
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::Invalid(format!(
                "nftables table name {t:?}: 1-64 characters of letters, digits, '_' and '-'"
            )));
        }
        if self.subnet.prefix() > 30 {
            return Err(Error::Invalid(format!(
                "subnet {}: needs at least a /30",
                self.subnet
            )));
        }
        if self.subnet.ip() != self.subnet.network() {
            return Err(Error::Invalid(format!(
                "subnet {}: give the network address ({}/{})",
                self.subnet,
                self.subnet.network(),
                self.subnet.prefix()
            )));
        }
        Ok(())
    }
}

fn default_nft() -> PathBuf {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("nft"))
}

/// Persisted beside the records: what the state was made for.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct StateConfig {
    bridge: String,
    subnet: Ipv4Network,
    table: String,
}

/// Refuses to reuse a state made for another subnet, bridge or table while
/// containers still hold it (their addresses would be wrong); records the
/// current one otherwise.
pub(super) fn check_state_config(
    cfg: &NetworkConfig,
    ipam: &Ipam,
    map: &BTreeMap<String, Record>,
) -> Result<()> {
    let path = cfg.state_dir.join("config.json");
    let now = StateConfig {
        bridge: cfg.bridge.clone(),
        subnet: cfg.subnet,
        table: cfg.table.clone(),
    };
    if let Ok(bytes) = std::fs::read(&path) {
        let before: StateConfig = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let in_use = !map.is_empty() || !ipam.allocations()?.is_empty();
        if before != now && in_use {
            return Err(Error::Invalid(format!(
                "the network state in {} was made for bridge {} subnet {} table {}; delete its containers before changing to bridge {} subnet {} table {}",
                cfg.state_dir.display(),
                before.bridge,
                before.subnet,
                before.table,
                now.bridge,
                now.subnet,
                now.table
            )));
        }
        if before == now {
            return Ok(());
        }
    }
    let json = serde_json::to_vec_pretty(&now).map_err(|e| Error::Corrupt {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    std::fs::write(&path, json).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// The mark of the agent whose state lives in `state_dir` (which exists):
/// 16 hex digits of the SHA-256 of its canonical path.
pub(super) fn owner_mark(state_dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let canonical = state_dir
        .canonicalize()
        .map_err(|e| Error::io(format!("resolve {}", state_dir.display()), e))?;
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    Ok(hex::encode(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_checks() {
        let c = NetworkConfig::new(Path::new("/d"), Path::new("/r"));
        assert_eq!(c.state_dir, PathBuf::from("/d/network"));
        assert_eq!(c.netns_dir, PathBuf::from("/r/netns"));
        assert_eq!(c.subnet.to_string(), DEFAULT_SUBNET);
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.bridge = "a-very-long-bridge-name".into();
        assert!(bad.validate().is_err());
        let mut bad = c.clone();
        bad.table = "x;y".into();
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.subnet = "10.88.0.5/16".parse().unwrap();
        assert!(bad.validate().is_err());
    }
}
