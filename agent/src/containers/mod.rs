//! The container service: specs become validated, persisted containers that
//! run through the OCI runtime under a monitor each, and the actions of
//! docs/api.md (start, stop, restart, kill, pause, unpause, delete) with
//! their state rules (409 for the wrong state).
//!
//! Layout of one container, `<data>/containers/<id>/`:
//! ```text
//! container.json         the record (spec, image, restart bookkeeping)
//! bundle/config.json     the OCI runtime config, rebuilt at each start
//! rootfs                 the overlayfs mount of the image (images::overlay)
//! upper, work            the container's writable layer
//! etc/                   hostname, hosts, resolv.conf (bind-mounted)
//! logs/container.log*    its stdout and stderr, JSON lines (the monitor writes)
//! started.json, exited.json, monitor.log   the monitor's reports
//! ```
//! Runtime files (the monitor's socket, the runtime's state) live under the
//! runtime root in /run, so a reboot clears them; the agent then knows from
//! the boot id in `started.json` that nothing it recorded still runs, and
//! applies the restart policies.
//!
//! One module per operation, each adding its methods to [`Containers`]; a
//! module uses only those above it in this table and the pure ones below
//! it, so there is no cycle:
//!
//! | module | what | uses |
//! |---|---|---|
//! | `registry` | [`Containers`], its entries, lookups and views | `record` |
//! | `oci` | blocking work and runtime calls off the async threads | `registry` |
//! | `networking` | a container's network mode, netns, detach and release | `registry`, `bundle` |
//! | `names` | generated names | — |
//! | `files` | a container's dir: made at create, bundle rewritten at each start, removed at delete | `registry`, `networking`, `bundle`, `user` |
//! | `run` | one run: start under a monitor, exit watch, restart policy and back-off | `registry`, `oci`, `files`, `networking` |
//! | `create` | create, step by step | `registry`, `oci`, `networking`, `names`, `files`, `run`, `validate`, `bundle` |
//! | `adopt` | re-adoption after an agent restart | `registry`, `oci`, `networking`, `run` |
//! | `lifecycle` | start, stop, restart, kill, pause, unpause | `registry`, `oci`, `networking`, `run` |
//! | `delete` | delete | `registry`, `oci`, `networking`, `files`, `lifecycle` |
//! | `exec` | an exec's process and its start | `registry` |
//!
//! `record`, `bundle`, `user`, `validate` and `seccomp` are pure: the
//! record file, spec to `config.json`, user lookup in the rootfs, spec
//! checks, Docker's seccomp profile.

mod adopt;
pub mod bundle;
mod create;
mod delete;
mod exec;
mod files;
mod lifecycle;
mod names;
mod networking;
mod oci;
pub mod record;
mod registry;
mod run;
pub mod seccomp;
pub mod user;
pub mod validate;

pub use registry::{Containers, Live, ServiceConfig};

/// `9`, `KILL`, `SIGKILL` or `RTMIN+3`: the runtime's one signal parser.
pub use berth_runtime::signal::parse as parse_signal;

/// Errors of the container service, each with the HTTP status it means.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Image(#[from] crate::images::Error),
    #[error("{0}")]
    Network(#[from] crate::network::Error),
    #[error("{what}: {cause}")]
    Internal { what: String, cause: String },
}

impl Error {
    fn internal(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Internal {
            what: what.into(),
            cause: cause.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert!(parse_signal("NOPE").unwrap_err().contains("unknown signal"));
        assert!(parse_signal("999").is_err());
    }
}
