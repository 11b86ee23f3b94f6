//! Errors of the network module, each with the HTTP status it means to the
//! agent's API (`status`): bad input is 400, a taken port or a wrong state
//! 409, everything else is the host's fault (500, never sent to a client in
//! detail by the agent's HTTP layer).

use std::path::PathBuf;

/// What went wrong, naming the input or the path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or impossible (bad port, ports with a mode
    /// that cannot publish, an id that cannot name a file).
    #[error("{0}")]
    Invalid(String),
    /// A host port is taken, the address pool is exhausted, or a container is
    /// in the wrong state (e.g. `container:<id>` whose network is not up).
    #[error("{0}")]
    Conflict(String),
    /// No reservation for this container: call `reserve` first.
    #[error("container {0} has no network reservation")]
    NotReserved(String),
    /// Another process (an agent) already uses this network state directory.
    #[error(
        "the network state {path} is locked by another process: is another agent running with the same data dir?"
    )]
    Locked { path: PathBuf },
    /// A file or kernel interface failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// `nft` refused a ruleset or could not run.
    #[error("nft: {0}")]
    Nft(String),
    /// A persisted state file is unreadable.
    #[error("corrupt network state {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

impl Error {
    /// The HTTP status this error means: 400, 409 or 500.
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::Conflict(_) | Error::NotReserved(_) => 409,
            _ => 500,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn errno(what: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::io(what, std::io::Error::from(errno))
    }

    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        Error::Netlink {
            what: what.into(),
            source,
        }
    }
}

/// The module's result type.
pub type Result<T> = std::result::Result<T, Error>;
