//! What the runtime remembers about a container: `<root>/<id>/state.json`,
//! and the live status worked out from the init's pid (checked against its
//! start time, so a recycled pid is not mistaken for the container) and the
//! exec fifo (present until `start`).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use oci_spec::runtime::{ContainerState, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file name of the exec fifo inside a container's state directory.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// The persisted record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    pub id: String,
    pub pid: i32,
    /// `starttime` of /proc/<pid>/stat when the init was made.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    pub cgroup_path: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The uid that created the container.
    pub owner: u32,
    /// The config the container was created from (hooks, namespaces and
    /// seccomp for later `exec`s).
    pub config: Spec,
}

/// A container's state as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The OCI state (runtime.md "State"): ociVersion, id, status, pid,
    /// bundle, annotations.
    pub oci: oci_spec::runtime::State,
    pub created: DateTime<Utc>,
    /// The cgroup path inside each hierarchy (e.g. `/berth/web`).
    pub cgroup_path: PathBuf,
    pub rootfs: PathBuf,
    /// Frozen by `pause`.
    pub paused: bool,
    pub owner: u32,
}

impl State {
    pub fn id(&self) -> &str {
        self.oci.id()
    }
    pub fn status(&self) -> ContainerState {
        *self.oci.status()
    }
    /// The init's pid (0 once stopped and unknown).
    pub fn pid(&self) -> i32 {
        self.oci.pid().unwrap_or(0)
    }
    /// runc's name for the status: `paused` when frozen.
    pub fn status_str(&self) -> String {
        if self.paused {
            "paused".into()
        } else {
            self.status().to_string()
        }
    }
}

impl Record {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &str) -> Result<Record> {
        let path = Self::dir(root, id).join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()));
            }
            Err(e) => return Err(Error::io("read", path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes atomically (temp file + rename).
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Self::dir(root, &self.id);
        let tmp = dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(self).map_err(|e| Error::State {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&bytes)
            .map_err(|e| Error::io("write", &tmp, e))?;
        let path = dir.join(STATE_FILE);
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))
    }

    /// Whether the init is still the process we started.
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && proc_start_time(self.pid)
                .is_some_and(|(start, alive)| alive && start == self.pid_start)
    }

    /// The live OCI status.
    pub fn status(&self, root: &Path) -> ContainerState {
        if !self.init_alive() {
            ContainerState::Stopped
        } else if Self::dir(root, &self.id).join(EXEC_FIFO).exists() {
            ContainerState::Created
        } else {
            ContainerState::Running
        }
    }

    pub fn to_state(&self, status: ContainerState, paused: bool) -> State {
        let mut oci = oci_spec::runtime::State::default();
        oci.set_version(oci_spec::runtime::VERSION.to_string());
        oci.set_id(self.id.clone());
        oci.set_status(status);
        oci.set_pid(match status {
            ContainerState::Stopped => None,
            _ => Some(self.pid),
        });
        oci.set_bundle(self.bundle.clone());
        oci.set_annotations((!self.annotations.is_empty()).then(|| self.annotations.clone()));
        State {
            oci,
            created: self.created,
            cgroup_path: self.cgroup_path.clone(),
            rootfs: self.rootfs.clone(),
            paused,
            owner: self.owner,
        }
    }
}

/// `(starttime, alive)` of a process from /proc/<pid>/stat; a zombie is not
/// alive.
pub(crate) fn proc_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some((stat.starttime, !matches!(stat.state, 'Z' | 'X' | 'x')))
}

/// Checks a container id: what runc accepts, `[A-Za-z0-9_.+-]`, not `.`/`..`.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| Error::InvalidId {
        id: id.to_string(),
        reason,
    };
    if id.is_empty() {
        return Err(bad("must not be empty"));
    }
    if id.len() > 1024 {
        return Err(bad("is longer than 1024 bytes"));
    }
    if id == "." || id == ".." {
        return Err(bad("must not be . or .."));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
    {
        return Err(bad("may hold only letters, digits and _ . + -"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("web-1.a_b+c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time_reads() {
        let (start, alive) = proc_start_time(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(alive);
        assert!(start > 0);
        assert!(proc_start_time(i32::MAX).is_none());
    }
}
