//! Images: list, pull with progress, import, delete (docs/api.md, "Images").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/hosts/{host}/images` items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Image {
    /// `sha256:<hex>` of the image config (as `docker images --no-trunc`).
    pub id: String,
    /// Normalised references, e.g. `docker.io/library/busybox:latest`.
    pub references: Vec<String>,
    /// Unpacked size of its layers.
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
    /// Layer digests (`sha256:<hex>`, uncompressed diff ids), bottom first.
    pub layers: Vec<String>,
    /// Ids of the containers that use it.
    #[serde(default)]
    pub used_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
}

/// Registry credentials: `{username, password}` or `{token}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum RegistryAuth {
    Basic { username: String, password: String },
    Bearer { token: String },
}

/// `POST /api/v1/hosts/{host}/images/pull`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// An image reference (`busybox`, `registry:5000/team/app:1.2`,
    /// `name@sha256:<hex>`).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::image_reference))]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RegistryAuth>,
    /// Allow plain HTTP for this reference's registry.
    #[serde(default)]
    pub insecure: bool,
    /// May the pull connect to internal addresses (loopback, link-local,
    /// cloud metadata)? Set by the server from the host's
    /// `allow_internal_registries` setting: what a caller of the public API
    /// sends here is replaced by that setting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_internal_registries: bool,
}

/// One SSE event of a pull: per-layer progress, then a final event whose
/// `status` is `done` (with `image`) or `error` (with `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullProgress {
    /// Layer digest, or empty (or absent) for whole-image events.
    #[serde(default)]
    pub layer: String,
    #[serde(default)]
    pub current: u64,
    #[serde(default)]
    pub total: u64,
    /// `resolving`, `waiting`, `downloading`, `verifying`, `extracting`,
    /// `exists`, `complete`, `done`, `error`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Problem>,
}

/// Answer to an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResult {
    pub images: Vec<Image>,
}

/// Disk use of a host's image store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreUsage {
    pub blobs_bytes: u64,
    pub snapshots_bytes: u64,
    pub images: u64,
}
