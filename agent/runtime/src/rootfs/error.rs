//! The rootfs module's errors: planning errors (a bad mount or device in
//! the spec, a missing bind source, an id-mapped mount the kernel refuses)
//! and, allocation-free, the step of the init's filesystem setup that
//! failed. Both become the crate's [`crate::Error`] (the planning errors
//! directly, the init's failures through the init's message) where they
//! leave this module.

use std::io;
use std::path::PathBuf;

use crate::syscall::Errno;

/// An error while planning the container's filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for something impossible; `field` is the JSON path.
    #[error("invalid config.json: {field}: {reason}")]
    Config { field: String, reason: String },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("{what}: {err}")]
    Sys { what: String, err: Errno },
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, err: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            err,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, err: Errno) -> Self {
        Error::Sys {
            what: what.into(),
            err,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { field, reason } => crate::Error::Config {
                file: "config.json",
                field,
                reason,
            },
            Error::Io { op, path, err } => crate::Error::Io { op, path, err },
            Error::Sys { what, err } => crate::Error::Sys { what, err },
        }
    }
}

/// The result type of rootfs planning.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A step of the init's filesystem setup ([`super::RootfsPlan::mount_all`],
/// `pivot`, `finish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    RootPropagation,
    RootBind,
    OpenRoot,
    MountTarget,
    Mount,
    Remount,
    Propagation,
    /// proc or sysfs asked onto something that is not a directory.
    NotDirectory,
    Device,
    DevSymlink,
    PivotRoot,
    Masked,
    Readonly,
    ReadonlyRoot,
}

/// A failed step of the init's filesystem setup: the step, the index of
/// the mount, device or path it was at, and the errno. Plain data, made
/// without allocating; the init sends it to the runtime, which names the
/// mount with [`super::RootfsPlan::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    pub index: u32,
    pub errno: Errno,
}

impl Failure {
    pub(crate) fn new(step: Step, index: usize, errno: Errno) -> Failure {
        Failure {
            step,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            errno,
        }
    }
}
