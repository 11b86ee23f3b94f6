//! Hosts: the list, facts, and join tokens (docs/api.md, "Hosts").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// The limits and name shapes are declared in `limits` (the OpenAPI
// schemas read them there); they are part of this module's API.
pub use crate::limits::{
    MAX_ALLOWLIST, MAX_ALLOWLIST_PATH_LEN, MAX_GROUP_LEN, MAX_HOST_NAME_LEN, MAX_JOIN_TTL_SECS,
    MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN, group_pattern, is_valid_group, is_valid_label_key,
    label_key_pattern,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Online,
    Offline,
}

/// How the host mounts its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only v1 controller hierarchies.
    V1,
    /// One unified v2 hierarchy.
    V2,
    /// v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified.
    Hybrid,
}

/// What an agent reports about its machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostFacts {
    /// Kernel release, as `uname -r`.
    pub kernel: String,
    /// PRETTY_NAME of /etc/os-release.
    pub os: String,
    pub cgroup: CgroupMode,
    pub cpus: u32,
    pub memory_bytes: u64,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub arch: String,
}

/// `GET /api/v1/hosts` items and `GET /api/v1/hosts/{host}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Host {
    pub id: String,
    pub name: String,
    /// The agent's API base URL, e.g. `https://10.0.0.5:7443`.
    pub address: String,
    pub status: HostStatus,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub facts: HostFacts,
    /// `"berth"`, and `"docker"` when a Docker engine answers on the host.
    #[serde(default)]
    pub runtimes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// The agent's version is older than the server's (`version` of
    /// `GET /api/v1/health`), compared as SemVer (build metadata ignored; a
    /// Debian revision such as `-1` dropped). False when it is the same,
    /// newer, or unknown (missing or not a version).
    #[serde(default)]
    pub agent_outdated: bool,
    /// Pulls on this host may reach internal registries (loopback,
    /// link-local, cloud metadata addresses). Default false; admins change it.
    #[serde(default)]
    pub allow_internal_registries: bool,
    /// Host path prefixes bind mounts may use (the owner sets them). Empty:
    /// any path but the built-in denylist (`/`, `/etc`, `/root`, `/proc`,
    /// `/sys`, `/dev`, `/boot`, `/var/lib/berth*`, the Docker and containerd
    /// sockets); otherwise only paths under a prefix, still minus the
    /// denylist unless a prefix names a denied path itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind_mount_allowlist: Vec<String>,
}

/// `PATCH /api/v1/hosts/{host}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatchHost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::host_name))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::groups))]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::host_labels))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Let pulls reach internal registries (admins of the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_internal_registries: Option<bool>,
    /// Replace the bind-mount allowlist (the owner only): absolute paths, at
    /// most 64 of at most 4096 bytes; `[]` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::bind_mount_allowlist))]
    pub bind_mount_allowlist: Option<Vec<String>>,
}

/// `POST /api/v1/hosts/join-tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateJoinToken {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::groups))]
    pub groups: Vec<String>,
    /// Lifetime in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::join_ttl))]
    pub expires_in: Option<u64>,
}

/// Answer to `POST /api/v1/hosts/join-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinTokenResponse {
    pub token: String,
    /// The line to run on a host where berth-agent is installed already.
    pub command: String,
    /// The one line that installs berth-agent on a fresh Debian host and
    /// joins it: `curl --pinnedpubkey 'sha256//<base64 SHA-256 of the
    /// server certificate's public key>' [--insecure] -fsSL
    /// <server>/install/agent.sh | sh -s -- <token>`. The pin is what makes
    /// it safe: curl refuses any other server before a byte is sent (with a
    /// self-signed certificate `--insecure` skips only the CA check).
    #[serde(default)]
    pub install_command: String,
    pub expires_at: DateTime<Utc>,
}
