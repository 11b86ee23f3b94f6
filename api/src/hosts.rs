//! Hosts: the list, facts, and join tokens (docs/api.md, "Hosts").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest group name.
pub const MAX_GROUP_LEN: usize = 64;
/// Longest host name (after trimming).
pub const MAX_HOST_NAME_LEN: usize = 253;
/// Longest host label key.
pub const MAX_LABEL_KEY_LEN: usize = 63;
/// Longest host label value (characters).
pub const MAX_LABEL_VALUE_LEN: usize = 255;
/// Most entries of a bind-mount allowlist.
pub const MAX_ALLOWLIST: usize = 64;
/// Longest bind-mount allowlist entry (bytes).
pub const MAX_ALLOWLIST_PATH_LEN: usize = 4096;
/// Longest lifetime of a join token, in seconds (30 days).
pub const MAX_JOIN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Is `g` a group name: 1 to [`MAX_GROUP_LEN`] of `[A-Za-z0-9_.-]`?
pub fn is_valid_group(g: &str) -> bool {
    !g.is_empty()
        && g.len() <= MAX_GROUP_LEN
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// [`is_valid_group`] as a regular expression.
pub fn group_pattern() -> String {
    format!("^[A-Za-z0-9_.-]{{1,{MAX_GROUP_LEN}}}$")
}

/// Is `k` a host label key: 1 to [`MAX_LABEL_KEY_LEN`] of `[A-Za-z0-9_.-/]`?
pub fn is_valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_LABEL_KEY_LEN
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

/// [`is_valid_label_key`] as a regular expression.
pub fn label_key_pattern() -> String {
    format!("^[A-Za-z0-9_./-]{{1,{MAX_LABEL_KEY_LEN}}}$")
}

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
    /// The line to run on the new host.
    pub command: String,
    pub expires_at: DateTime<Utc>,
}
