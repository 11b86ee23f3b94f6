//! The namespace and cgroup views (docs/api.md, hosts' namespaces and
//! cgroups; containers' namespaces).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::Pressure;

/// The seven namespace types a container can have, in `lsns` spelling.
pub const NAMESPACE_TYPES: [&str; 7] = ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup"];

/// One namespace of the host, as `lsns` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceEntry {
    pub inode: u64,
    /// `mnt`, `uts`, `ipc`, `pid`, `net`, `user`, `cgroup` or `time`.
    #[serde(rename = "type")]
    pub ns_type: String,
    pub nprocs: u64,
    /// The lowest pid in it.
    pub pid: u32,
    /// User name (or uid) of that process.
    pub user: String,
    /// That process's command line. For callers whose role on the host is
    /// below deployer, only its executable (argv\[0\]): arguments can hold
    /// secrets.
    pub command: String,
    /// The container (id) it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// One of a container's namespaces next to the host's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerNamespace {
    #[serde(rename = "type")]
    pub ns_type: String,
    pub inode: u64,
    pub host_inode: u64,
    pub shared_with_host: bool,
}

/// A node of the cgroup tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CgroupNode {
    pub path: String,
    pub controllers: Vec<String>,
    /// e.g. `memory.max`, `pids.max`, `cpu.max`: value as the kernel writes it.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
    /// e.g. `memory_bytes`, `pids`, `cpu_usec`.
    #[serde(default)]
    pub usage: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
    /// The container (id) this cgroup holds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub children: Vec<CgroupNode>,
}
