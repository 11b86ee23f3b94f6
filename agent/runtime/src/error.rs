//! The runtime's error type: every variant names the container, file, field
//! or step involved, so a caller can show it to a person as it is.

use std::io;
use std::path::PathBuf;

use crate::cgroups;
use crate::syscall::Errno;

/// Errors of the runtime library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {id} is {status}: cannot {action}")]
    InvalidState {
        id: String,
        status: String,
        action: &'static str,
    },
    /// config.json (or a process.json) is malformed or asks for something
    /// impossible; `field` is the JSON path of the culprit.
    #[error("invalid {file}: {field}: {reason}")]
    Config {
        file: &'static str,
        field: String,
        reason: String,
    },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("{what}: {err}")]
    Sys { what: String, err: Errno },
    /// A step of the container's init failed before the user process ran.
    #[error("container init failed: {step}: {err}")]
    Init { step: String, err: Errno },
    #[error("container init exited before it was ready{detail}")]
    InitDied { detail: String },
    #[error("hook {stage} {path}: {reason}")]
    Hook {
        stage: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    #[error("corrupt state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            err: source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: Errno) -> Self {
        Error::Sys {
            what: what.into(),
            err: source,
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            file: "config.json",
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
