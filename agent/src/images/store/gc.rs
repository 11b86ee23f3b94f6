//! Garbage collection (every blob and snapshot no image references and no
//! lease holds) and the store's disk use.

use std::collections::BTreeSet;
use std::fs;

use berth_api::images::StoreUsage;

use super::ImageStore;
use super::records::{GcReport, State};
use super::snapshots::read_size;
use crate::images::error::{Error, Result};

impl ImageStore {
    /// Removes every blob and snapshot that no image references and no pull
    /// or import in progress holds.
    pub fn gc(&self) -> Result<GcReport> {
        let state = self.state();
        self.gc_locked(&state)
    }

    /// [`Self::gc`] with the index already locked.
    pub(super) fn gc_locked(&self, state: &State) -> Result<GcReport> {
        let leases = self.leases();
        let mut blobs = BTreeSet::new();
        let mut snapshots = BTreeSet::new();
        for image in state.images.values() {
            for digest in [&image.manifest_digest, &image.id] {
                blobs.insert(digest.trim_start_matches("sha256:").to_string());
            }
            for layer in &image.layers {
                blobs.insert(layer.digest.trim_start_matches("sha256:").to_string());
                snapshots.insert(layer.diff_id.trim_start_matches("sha256:").to_string());
            }
        }
        let mut report = GcReport::default();
        let blob_dir = self.inner.root.join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir).map_err(|e| Error::io_path("read", &blob_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &blob_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if blobs.contains(&name) || leases.contains_key(&name) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(entry.path())
                .map_err(|e| Error::io_path("remove", &entry.path(), e))?;
            report.blobs_removed += 1;
            report.bytes_freed += size;
        }
        let snap_dir = self.inner.root.join("snapshots");
        for entry in fs::read_dir(&snap_dir).map_err(|e| Error::io_path("read", &snap_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &snap_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if snapshots.contains(&name) || leases.contains_key(&name) {
                continue;
            }
            let size = read_size(&entry.path());
            fs::remove_dir_all(entry.path())
                .map_err(|e| Error::io_path("remove", &entry.path(), e))?;
            report.snapshots_removed += 1;
            report.bytes_freed += size;
        }
        if report.blobs_removed + report.snapshots_removed > 0 {
            tracing::info!(
                blobs = report.blobs_removed,
                snapshots = report.snapshots_removed,
                bytes = report.bytes_freed,
                "image store garbage collected"
            );
        }
        Ok(report)
    }

    /// Disk use of the whole store.
    pub fn usage(&self) -> Result<StoreUsage> {
        let images = self.state().images.len() as u64;
        let mut usage = StoreUsage {
            blobs_bytes: 0,
            snapshots_bytes: 0,
            images,
        };
        let blob_dir = self.inner.root.join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir).map_err(|e| Error::io_path("read", &blob_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &blob_dir, e))?;
            usage.blobs_bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        let snap_dir = self.inner.root.join("snapshots");
        for entry in fs::read_dir(&snap_dir).map_err(|e| Error::io_path("read", &snap_dir, e))? {
            let entry = entry.map_err(|e| Error::io_path("read", &snap_dir, e))?;
            usage.snapshots_bytes += read_size(&entry.path());
        }
        Ok(usage)
    }
}
