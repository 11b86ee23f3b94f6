//! Content-addressed blobs (manifests, configs, layers) under
//! `blobs/sha256/<hex>`, committed by fsync then hard link, so a blob is
//! never seen half written under its name.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::{ImageStore, Lease, sync_dir, write_synced};
use crate::images::digest::{is_hex64, parse_sha256, sha256_of};
use crate::images::error::{Error, Result};

impl ImageStore {
    /// The directory of the committed blobs.
    fn blob_dir(&self) -> PathBuf {
        self.inner.root.join("blobs/sha256")
    }

    /// Where blob `hex` is (or would be) stored.
    pub(crate) fn blob_path(&self, hex: &str) -> PathBuf {
        self.blob_dir().join(hex)
    }

    /// True when the blob is committed with the expected size.
    pub(crate) fn has_blob(&self, hex: &str, size: Option<u64>) -> bool {
        match fs::metadata(self.blob_path(hex)) {
            Ok(m) => size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// Commits a fully written and verified file as blob `hex`: fsync, then
    /// hard-link into place (an existing blob with that digest wins, it has
    /// the same content). The file itself stays where it is.
    pub(crate) fn commit_blob_file(&self, file: &Path, hex: &str) -> Result<PathBuf> {
        debug_assert!(is_hex64(hex));
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io_path("sync", file, e))?;
        let dest = self.blob_path(hex);
        match fs::hard_link(file, &dest) {
            Ok(()) => sync_dir(&self.blob_dir())?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io_path("commit blob", &dest, e)),
        }
        Ok(dest)
    }

    /// Writes bytes as a blob and returns its digest.
    pub(crate) fn commit_blob_bytes(&self, bytes: &[u8], lease: &mut Lease) -> Result<String> {
        let digest = sha256_of(bytes);
        let hex = parse_sha256(&digest)?.to_string();
        lease.hold(&hex);
        if !self.has_blob(&hex, Some(bytes.len() as u64)) {
            let tmp = self.temp_path("blob");
            write_synced(&tmp, bytes)?;
            let res = self.commit_blob_file(&tmp, &hex);
            let _ = fs::remove_file(&tmp);
            res?;
        }
        Ok(digest)
    }
}
