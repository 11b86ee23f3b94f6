//! Layer snapshots under `snapshots/<diff id hex>/`: each layer unpacked
//! once into `tmp/`, its diff id verified, then renamed into place (a
//! snapshot already there wins); `size` holds its bytes of file content.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::{ImageStore, Lease, TempDir, sync_dir, write_synced};
use crate::images::digest::parse_sha256;
use crate::images::error::{Error, Result};
use crate::images::unpack::{self, Compression};

/// A layer unpacked and verified in `tmp/`, not yet under its final name.
pub(crate) struct PreparedSnapshot {
    hex: String,
    tmp: TempDir,
    size: u64,
}

impl ImageStore {
    /// The directory of snapshot `hex`.
    pub(crate) fn snapshot_dir(&self, hex: &str) -> PathBuf {
        self.inner.root.join("snapshots").join(hex)
    }

    /// The unpacked tree of snapshot `hex`.
    pub(crate) fn snapshot_fs(&self, hex: &str) -> PathBuf {
        self.snapshot_dir(hex).join("fs")
    }

    /// Unpacks layer blob `blob` into the snapshot named by `diff_id` unless
    /// it exists. Returns the snapshot's size.
    pub(crate) fn ensure_snapshot(
        &self,
        diff_id: &str,
        blob: &Path,
        compression: Compression,
        lease: &mut Lease,
    ) -> Result<u64> {
        let hex = parse_sha256(diff_id)?.to_string();
        lease.hold(&hex);
        if let Some(size) = self.snapshot_size(&hex) {
            return Ok(size);
        }
        let file = File::open(blob).map_err(|e| Error::io_path("open", blob, e))?;
        self.unpack_snapshot(diff_id, file, compression)
    }

    /// The size of snapshot `hex` if it is committed.
    pub(crate) fn snapshot_size(&self, hex: &str) -> Option<u64> {
        let dir = self.snapshot_dir(hex);
        dir.join("fs").is_dir().then(|| read_size(&dir))
    }

    /// Unpacks a layer stream into a new snapshot (the caller holds a lease
    /// on the diff id). The snapshot appears under its final name only once
    /// complete and verified.
    pub(crate) fn unpack_snapshot(
        &self,
        diff_id: &str,
        blob: impl io::Read,
        compression: Compression,
    ) -> Result<u64> {
        let prepared = self.prepare_snapshot(diff_id, blob, compression)?;
        self.commit_snapshot(prepared)
    }

    /// Unpacks a layer stream into a temporary directory, checking its diff
    /// id; [`Self::commit_snapshot`] then moves it into place.
    pub(crate) fn prepare_snapshot(
        &self,
        diff_id: &str,
        blob: impl io::Read,
        compression: Compression,
    ) -> Result<PreparedSnapshot> {
        let hex = parse_sha256(diff_id)?.to_string();
        let tmp = self.temp_dir("snapshot")?;
        let fs_dir = tmp.0.join("fs");
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&fs_dir)
            .map_err(|e| Error::io_path("create", &fs_dir, e))?;
        let stats = unpack::unpack_blob(
            blob,
            compression,
            &fs_dir,
            diff_id,
            &self.inner.options.unpack,
        )
        .map_err(|e| e.into_error(diff_id))?;
        write_synced(&tmp.0.join("size"), stats.size.to_string().as_bytes())?;
        Ok(PreparedSnapshot {
            hex,
            tmp,
            size: stats.size,
        })
    }

    /// Moves a prepared snapshot under its final name (a snapshot already
    /// there, from a concurrent pull of the same layer, wins).
    pub(crate) fn commit_snapshot(&self, prepared: PreparedSnapshot) -> Result<u64> {
        // One syncfs instead of an fsync per file.
        if let Ok(dir) = File::open(&prepared.tmp.0) {
            let _ = nix::unistd::syncfs(&dir);
        }
        let dest = self.snapshot_dir(&prepared.hex);
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &prepared.tmp.0,
            nix::fcntl::AT_FDCWD,
            &dest,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {}
            Err(e) => return Err(Error::io_path("commit snapshot", &dest, e)),
        }
        sync_dir(&self.inner.root.join("snapshots"))?;
        Ok(prepared.size)
    }
}

/// The recorded size of a snapshot directory (0 when unreadable).
pub(super) fn read_size(snapshot_dir: &Path) -> u64 {
    fs::read_to_string(snapshot_dir.join("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
