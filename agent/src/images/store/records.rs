//! What the store records (`state.json`: images, their layers, references
//! and users) and what it answers ([`ResolvedImage`], [`GcReport`],
//! [`NewImage`] from import and pull), and [`find`], which names an image
//! in the index by id, id prefix or reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use berth_api::images::Image;
use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use crate::images::error::{Error, Result};
use crate::images::reference;

/// One layer of an image as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as distributed (compressed or not).
    pub digest: String,
    pub media_type: String,
    /// Size of the blob.
    pub size: u64,
    /// Digest of the uncompressed tar: names the snapshot.
    pub diff_id: String,
}

/// One image as stored in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<config digest>`.
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub layers: Vec<LayerRecord>,
    pub references: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub used_by: BTreeSet<String>,
    /// Unpacked size of its layers.
    pub size_bytes: u64,
}

impl ImageRecord {
    pub(super) fn to_api(&self) -> Image {
        Image {
            id: self.id.clone(),
            references: self.references.iter().cloned().collect(),
            size_bytes: self.size_bytes,
            created_at: self.created_at,
            layers: self.layers.iter().map(|l| l.diff_id.clone()).collect(),
            used_by: self.used_by.iter().cloned().collect(),
            architecture: self.architecture.clone(),
            os: self.os.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) images: BTreeMap<String, ImageRecord>,
}

/// An image ready to run: what the container service needs.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:<config digest>`.
    pub id: String,
    pub references: Vec<String>,
    /// The image config: `config()` holds Entrypoint, Cmd, Env, WorkingDir,
    /// User.
    pub config: ImageConfiguration,
    /// Snapshot directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    /// Diff ids, bottom layer first.
    pub diff_ids: Vec<String>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_removed: u64,
    pub snapshots_removed: u64,
    pub bytes_freed: u64,
}

/// What an import or pull has gathered for one image, its blobs committed.
pub(crate) struct NewImage {
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub config: ImageConfiguration,
    pub layers: Vec<LayerRecord>,
    pub references: Vec<String>,
}

/// The id of the image `reference_or_id` names.
pub(super) fn find(state: &State, reference_or_id: &str) -> Result<String> {
    let wanted = reference_or_id.trim();
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    if hex.len() >= 12 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        let matches: Vec<&String> = state
            .images
            .keys()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(hex))
            .collect();
        match matches.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            _ => {
                return Err(Error::BadReference {
                    reference: reference_or_id.to_string(),
                    reason: "the id prefix matches several images".to_string(),
                });
            }
        }
        if wanted.starts_with("sha256:") || hex.len() == 64 {
            return Err(Error::NotFound(reference_or_id.to_string()));
        }
    }
    let normalised = reference::normalise(wanted)?;
    state
        .images
        .values()
        .find(|i| i.references.contains(&normalised))
        .map(|i| i.id.clone())
        .ok_or_else(|| Error::NotFound(reference_or_id.to_string()))
}
