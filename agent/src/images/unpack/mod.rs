//! Unpacking a layer tar into a snapshot directory, confined to it whatever
//! the tar says (OCI image-spec "Image Layer Filesystem Changeset").
//!
//! Every path is resolved by the kernel relative to the snapshot root with
//! `openat2(2)` and `RESOLVE_IN_ROOT`: `..` stops at the root and symlinks
//! (absolute or relative) are resolved as if the snapshot were `/`, so neither
//! a crafted name nor a symlink planted by an earlier entry can reach the
//! host. Only the last component of an entry is then created, with `*at`
//! calls on the resolved parent that never follow a symlink (`O_NOFOLLOW`,
//! `O_EXCL`, `AT_SYMLINK_NOFOLLOW`). Host paths are never joined as strings.
//!
//! What the tar can contain and what becomes of it:
//! - `..` and absolute names are cleaned lexically (`/../etc/x` → `etc/x`)
//!   and then resolved in the root, so they land inside;
//! - symlinks are created as they are (their target is just data), hardlink
//!   targets are resolved in the root and must already exist in this layer;
//! - whiteouts become overlayfs whiteouts: `.wh.NAME` → a `0/0` character
//!   device `NAME`, `.wh..wh..opq` → `trusted.overlay.opaque=y` on the
//!   directory (overlayfs(5) "whiteouts and opaque directories");
//! - device nodes and fifos are made (the overlay is mounted `nodev`);
//! - modes keep setuid/setgid/sticky (set after `chown`, which clears them);
//! - `trusted.*` and other privileged xattrs from the tar are dropped, only
//!   `user.*` and `security.capability` are kept;
//! - a truncated entry or stream fails the unpack, and sizes are limited.

//!
//! The parts: `path` cleans names and resolves them in the root,
//! `entry` applies one entry of each kind, `whiteout` makes overlayfs
//! whiteouts, `meta` reads and applies ownership, mode, times and xattrs,
//! `error` says whose fault a failure is; this module decompresses the
//! blob, checks its diff id and runs the layer loop.

mod entry;
mod error;
mod meta;
mod path;
mod whiteout;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use super::digest::HashingReader;
use entry::Unpacker;
pub use entry::{UnpackLimits, UnpackStats};
pub use error::UnpackError;
use error::{Result, host};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From an OCI or Docker layer media type; `None` if it is not a layer
    /// type the store can unpack.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Self::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// From the first bytes of a blob (for `docker save` layers, which carry
    /// no media type).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI media type of a layer so compressed.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Decompresses `blob`, unpacks it into `dest` (an existing empty
/// directory) and checks that the uncompressed stream hashes to `diff_id`.
pub fn unpack_blob<R: Read>(
    blob: R,
    compression: Compression,
    dest: &Path,
    diff_id: &str,
    limits: &UnpackLimits,
) -> Result<UnpackStats> {
    let blob = BufReader::with_capacity(256 << 10, blob);
    let decoder: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(blob)
                .map_err(|e| UnpackError::Archive(format!("bad zstd stream: {e}")))?,
        ),
    };
    let mut hashing = HashingReader::new(decoder);
    let stats = unpack(&mut hashing, dest, limits)?;
    let (actual, _) = hashing
        .finish()
        .map_err(|e| UnpackError::Archive(format!("corrupt data after the tar's end: {e}")))?;
    if actual != diff_id {
        return Err(UnpackError::DiffIdMismatch {
            expected: diff_id.to_string(),
            actual,
        });
    }
    Ok(stats)
}

/// Peeks at a blob's first bytes to guess its compression.
pub fn sniff_file(path: &Path) -> io::Result<Compression> {
    let mut reader = BufReader::new(File::open(path)?);
    Ok(Compression::sniff(reader.fill_buf()?))
}

/// Unpacks an uncompressed tar stream into `dest`, an existing directory.
pub fn unpack<R: Read>(tar_stream: R, dest: &Path, limits: &UnpackLimits) -> Result<UnpackStats> {
    let root = open(
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| host(dest.display().to_string(), e))?;
    let mut unpacker = Unpacker::new(root, *limits);
    let mut archive = tar::Archive::new(tar_stream);
    let entries = archive
        .entries()
        .map_err(|e| UnpackError::Archive(format!("not a tar stream: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| UnpackError::Archive(format!("unreadable tar entry: {e}")))?;
        unpacker.stats.entries += 1;
        if unpacker.stats.entries > limits.max_entries {
            return Err(UnpackError::TooLarge(
                "entry count".to_string(),
                limits.max_entries,
            ));
        }
        unpacker.apply(entry)?;
    }
    unpacker.restore_dir_times();
    Ok(unpacker.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_magic() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type("application/json"), None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
    }
}
