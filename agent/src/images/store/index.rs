//! The image index: listing, finding and resolving images, their users
//! and references, removing them, and recording new ones (a reference
//! moves to the image that takes it, as a tag does in Docker).

use std::collections::BTreeSet;
use std::io;

use berth_api::images::Image;
use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;

use super::ImageStore;
use super::records::{ImageRecord, NewImage, ResolvedImage, find};
use crate::images::digest::parse_sha256;
use crate::images::error::{Error, Result};
use crate::images::reference;

impl ImageStore {
    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let state = self.state();
        let mut images: Vec<Image> = state.images.values().map(ImageRecord::to_api).collect();
        images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(images)
    }

    /// One image as the API shows it.
    pub fn get(&self, reference_or_id: &str) -> Result<Image> {
        let state = self.state();
        let id = find(&state, reference_or_id)?;
        Ok(state.images[&id].to_api())
    }

    /// Finds an image by id (`sha256:<hex>`, `<hex>`, or a unique prefix of
    /// at least 12 hex digits) or by reference (normalised, `busybox` works),
    /// and returns what a container needs to run it.
    pub fn resolve(&self, reference_or_id: &str) -> Result<ResolvedImage> {
        let record = {
            let state = self.state();
            let id = find(&state, reference_or_id)?;
            state.images[&id].clone()
        };
        let config_hex = parse_sha256(&record.id)?;
        let config_path = self.blob_path(config_hex);
        let config = ImageConfiguration::from_file(&config_path).map_err(|e| {
            Error::io_path(
                "read image config",
                &config_path,
                io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            )
        })?;
        let mut layers = Vec::with_capacity(record.layers.len());
        for layer in &record.layers {
            let dir = self.snapshot_fs(parse_sha256(&layer.diff_id)?);
            if !dir.is_dir() {
                return Err(Error::io_path(
                    "find snapshot",
                    &dir,
                    io::Error::from(io::ErrorKind::NotFound),
                ));
            }
            layers.push(dir);
        }
        Ok(ResolvedImage {
            id: record.id.clone(),
            references: record.references.iter().cloned().collect(),
            config,
            diff_ids: record.layers.iter().map(|l| l.diff_id.clone()).collect(),
            layers,
        })
    }

    /// Records that container `container_id` uses the image (persisted; a
    /// used image cannot be removed).
    pub fn add_user(&self, image: &str, container_id: &str) -> Result<()> {
        let mut state = self.state();
        let id = find(&state, image)?;
        if let Some(record) = state.images.get_mut(&id)
            && record.used_by.insert(container_id.to_string())
        {
            self.save(&state)?;
        }
        Ok(())
    }

    /// Forgets that `container_id` uses the image. Unknown images and
    /// containers are fine (idempotent).
    pub fn remove_user(&self, image: &str, container_id: &str) -> Result<()> {
        let mut state = self.state();
        let Ok(id) = find(&state, image) else {
            return Ok(());
        };
        if let Some(record) = state.images.get_mut(&id)
            && record.used_by.remove(container_id)
        {
            self.save(&state)?;
        }
        Ok(())
    }

    /// Removes a reference, or a whole image. By reference, when the image
    /// has other references, only that reference goes (like `docker rmi` of
    /// a tag). The image itself goes when its last reference or its id is
    /// removed, unless containers use it ([`Error::InUse`]). Blobs and
    /// snapshots nothing else uses are then collected.
    pub fn remove(&self, reference_or_id: &str) -> Result<()> {
        let mut state = self.state();
        let id = find(&state, reference_or_id)?;
        let by_reference = reference::normalise(reference_or_id)
            .ok()
            .filter(|r| state.images[&id].references.contains(r));
        let Some(record) = state.images.get_mut(&id) else {
            return Err(Error::NotFound(reference_or_id.to_string()));
        };
        if let Some(r) = &by_reference
            && record.references.len() > 1
        {
            record.references.remove(r);
            self.save(&state)?;
            return Ok(());
        }
        if !record.used_by.is_empty() {
            return Err(Error::InUse {
                image: id.clone(),
                containers: record.used_by.iter().cloned().collect(),
            });
        }
        state.images.remove(&id);
        self.save(&state)?;
        self.gc_locked(&state)?;
        Ok(())
    }

    /// Records a new image (or new references of a known one). References
    /// move from the image that had them, as a tag moves in Docker.
    pub(crate) fn record_image(
        &self,
        new: NewImage,
        created_fallback: DateTime<Utc>,
    ) -> Result<Image> {
        let id = new.config_digest.clone();
        let mut size = 0;
        for layer in &new.layers {
            size += self
                .snapshot_size(parse_sha256(&layer.diff_id)?)
                .unwrap_or(0);
        }
        let created_at = new
            .config
            .created()
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc))
            .unwrap_or(created_fallback);
        let mut state = self.state();
        for reference in &new.references {
            for other in state.images.values_mut() {
                if other.id != id {
                    other.references.remove(reference);
                }
            }
        }
        let record = state
            .images
            .entry(id.clone())
            .or_insert_with(|| ImageRecord {
                id: id.clone(),
                manifest_digest: new.manifest_digest.clone(),
                manifest_media_type: new.manifest_media_type.clone(),
                layers: new.layers.clone(),
                references: BTreeSet::new(),
                created_at,
                architecture: Some(new.config.architecture().to_string()),
                os: Some(new.config.os().to_string()),
                used_by: BTreeSet::new(),
                size_bytes: size,
            });
        record.references.extend(new.references.iter().cloned());
        let image = record.to_api();
        self.save(&state)?;
        Ok(image)
    }
}
