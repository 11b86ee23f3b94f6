//! Why an unpack failed, and which side is to blame: the layer (a bad
//! entry, a corrupt stream, a layer over its limits) or the host (disk
//! full, I/O error).

use std::io;

use nix::errno::Errno;

use crate::images::error::Error;

/// Why an unpack failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream is not a readable tar (truncated, corrupt compression...).
    #[error("{0}")]
    Archive(String),
    /// One entry cannot be applied.
    #[error("entry {path:?}: {reason}")]
    Entry { path: String, reason: String },
    /// The layer is larger than the limits.
    #[error("{0}")]
    TooLarge(String, u64),
    /// The uncompressed stream's digest is not the diff id.
    #[error("uncompressed digest is {actual}, expected {expected}")]
    DiffIdMismatch { expected: String, actual: String },
    /// A host-side failure (disk full...).
    #[error("failed to write {path:?}: {source}")]
    Host { path: String, source: io::Error },
}

impl UnpackError {
    /// The store error for this failure of layer `layer`.
    pub fn into_error(self, layer: &str) -> Error {
        match self {
            UnpackError::Host { path, source } => Error::io(
                format!("failed to unpack layer {layer} at {path:?}"),
                source,
            ),
            UnpackError::TooLarge(what, limit) => Error::TooLarge {
                what: format!("layer {layer} ({what})"),
                limit,
            },
            UnpackError::DiffIdMismatch { expected, actual } => Error::DigestMismatch {
                what: format!("uncompressed layer {layer}"),
                expected,
                actual,
            },
            other => Error::BadLayer {
                layer: layer.to_string(),
                reason: other.to_string(),
            },
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, UnpackError>;

/// One entry the layer got wrong.
pub(super) fn entry_err(path: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Entry {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// What [`classify`] says of a failed system call on an entry.
pub(super) fn entry_errno(path: &str, what: &str, e: Errno) -> UnpackError {
    classify(path, what, e)
}

/// Errors caused by what the tar asks for are the layer's fault; running out
/// of space or a failing disk are the host's.
pub(super) fn classify(path: &str, what: &str, e: Errno) -> UnpackError {
    match e {
        Errno::ENOSPC | Errno::EDQUOT | Errno::EIO | Errno::EROFS | Errno::ENOMEM => host(path, e),
        e => entry_err(path, format!("{what}: {}", e.desc())),
    }
}

/// A host-side failure at `path`.
pub(super) fn host(path: impl Into<String>, e: impl Into<io::Error>) -> UnpackError {
    UnpackError::Host {
        path: path.into(),
        source: e.into(),
    }
}
