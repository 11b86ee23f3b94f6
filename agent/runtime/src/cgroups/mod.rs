//! Control groups: one [`CgroupManager`] trait over cgroup v1, v2 and the
//! hybrid layout (v1 controllers plus a cgroup2 hierarchy beside them).
//!
//! [`CgroupLayout::detect`] reads `/proc/self/mountinfo` once; a [`Manager`]
//! built from it for one cgroup path costs no system call, so the agent's
//! sampler can call [`Manager::stats`] for any path every second.
//!
//! Paths: a container's `linux.cgroupsPath` is a path inside each hierarchy.
//! Relative paths (and no path at all) are placed under [`BERTH_PARENT`],
//! never under the caller's own cgroup; see [`resolve_path`].
//!
//! Kernel docs: `Documentation/admin-guide/cgroup-v1/*.rst` and
//! `Documentation/admin-guide/cgroup-v2.rst`.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

mod devices;
mod files;
mod layout;
pub mod stats;
pub mod v1;
pub mod v2;

pub use devices::{DEFAULT_ALLOWED_DEVICES, DeviceRule};
pub use layout::{CgroupLayout, CgroupMode, V1Hierarchy};
pub use stats::{
    BlkioStats, CpuStats, HugetlbStats, MemoryStats, PidsStats, Pressure, PressureLine,
    PressureStats, Stats,
};

/// The cgroup under which relative `cgroupsPath`s are created.
pub const BERTH_PARENT: &str = "/berth";

/// Errors of the cgroup layer; each names the file and value involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cgroup hierarchy is mounted (read {0})")]
    NoHierarchy(PathBuf),
    #[error("read {path}: {err}")]
    Read { path: PathBuf, err: io::Error },
    #[error("write {value:?} to {path}: {err}")]
    Write {
        path: PathBuf,
        value: String,
        err: io::Error,
    },
    #[error("create cgroup {path}: {err}")]
    Create { path: PathBuf, err: io::Error },
    #[error("remove cgroup {path}: {err}")]
    Remove { path: PathBuf, err: io::Error },
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("cgroup {path} still has processes after {waited:?}")]
    Busy { path: PathBuf, waited: Duration },
    #[error("parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

/// The cgroup layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The freezer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// What every cgroup implementation offers the runtime.
pub trait CgroupManager {
    /// The cgroup's path inside its hierarchies (e.g. `/berth/web`).
    fn path(&self) -> &Path;
    /// Creates the cgroup in every hierarchy (parents included).
    fn create(&self) -> Result<()>;
    /// Writes the limits of `resources` (only the files they need).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Moves a process into the cgroup.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// The processes in the cgroup.
    fn procs(&self) -> Result<Vec<i32>>;
    /// Freezes or thaws, waiting until the kernel reports the new state.
    fn set_freezer(&self, state: FreezerState) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Usage counters and limits.
    fn stats(&self) -> Result<Stats>;
    /// Sends `signal` to every process in the cgroup.
    fn signal_all(&self, signal: i32) -> Result<()>;
    /// Thaws, kills what is left, waits until empty, removes the cgroup.
    fn destroy(&self) -> Result<()>;
    /// A directory fd for `clone3(CLONE_INTO_CGROUP)` (the cgroup2 part).
    fn clone_into_fd(&self) -> Result<Option<std::os::fd::OwnedFd>>;
    /// v1 `tasks` files the new process writes "0" to, moving itself.
    ///
    /// Why: moving another process (a pid into `cgroup.procs`) takes the
    /// global threadgroup lock for writing, which waits for an RCU grace
    /// period: 5-15 ms on this kind of host, most of a container start. A
    /// single-threaded process moving itself through `tasks` skips that
    /// lock (kernel/cgroup/cgroup.c, `cgroup_procs_write_start`).
    fn self_join_files(&self) -> Vec<PathBuf>;
    /// Whether the cgroup exists.
    fn exists(&self) -> bool;
}

/// The cgroup implementation picked for the host's layout.
#[derive(Debug, Clone)]
pub enum Manager {
    /// v1 controllers; in the hybrid layout it also joins the cgroup2
    /// hierarchy (for PSI and the controllers only v2 has).
    V1(v1::V1Manager),
    /// Pure cgroup v2.
    V2(v2::V2Manager),
}

impl Manager {
    /// A manager for `path` in `layout`. Costs no system call.
    pub fn new(layout: &CgroupLayout, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        check_path(&path)?;
        Ok(match layout.mode {
            CgroupMode::Unified => {
                let unified = layout
                    .unified
                    .as_ref()
                    .ok_or_else(|| Error::NoHierarchy(layout.mountinfo.clone()))?;
                Manager::V2(v2::V2Manager::new(unified, &path))
            }
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                Manager::V1(v1::V1Manager::new(layout, &path))
            }
        })
    }

    fn inner(&self) -> &dyn CgroupManager {
        match self {
            Manager::V1(m) => m,
            Manager::V2(m) => m,
        }
    }
}

impl CgroupManager for Manager {
    fn path(&self) -> &Path {
        self.inner().path()
    }
    fn create(&self) -> Result<()> {
        self.inner().create()
    }
    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        self.inner().apply(resources)
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        self.inner().add_task(pid)
    }
    fn procs(&self) -> Result<Vec<i32>> {
        self.inner().procs()
    }
    fn set_freezer(&self, state: FreezerState) -> Result<()> {
        self.inner().set_freezer(state)
    }
    fn freezer_state(&self) -> Result<FreezerState> {
        self.inner().freezer_state()
    }
    fn stats(&self) -> Result<Stats> {
        self.inner().stats()
    }
    fn signal_all(&self, signal: i32) -> Result<()> {
        self.inner().signal_all(signal)
    }
    fn destroy(&self) -> Result<()> {
        self.inner().destroy()
    }
    fn clone_into_fd(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        self.inner().clone_into_fd()
    }
    fn self_join_files(&self) -> Vec<PathBuf> {
        self.inner().self_join_files()
    }
    fn exists(&self) -> bool {
        self.inner().exists()
    }
}

/// The cgroup path for a container: `cgroups_path` if absolute, else
/// [`BERTH_PARENT`]`/<cgroups_path or id>`.
pub fn resolve_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    resolve_path_under(Path::new(BERTH_PARENT), cgroups_path, id)
}

/// As [`resolve_path`] with another parent for relative paths.
pub fn resolve_path_under(parent: &Path, cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    let path = match cgroups_path {
        Some(p) if p.as_os_str().is_empty() => parent.join(id),
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => parent.join(p),
        None => parent.join(id),
    };
    check_path(&path)?;
    Ok(path)
}

fn check_path(path: &Path) -> Result<()> {
    let text = path.to_string_lossy();
    let invalid = |reason| Error::InvalidPath {
        path: text.to_string(),
        reason,
    };
    if !path.is_absolute() {
        return Err(invalid("must be absolute"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(invalid("must not contain \"..\""));
    }
    if text.contains(['\n', '\0']) || text.contains(':') && text.matches(':').count() == 2 {
        return Err(invalid(
            "looks like a systemd slice path (slice:prefix:name); systemd cgroups are not supported",
        ));
    }
    if path == Path::new("/") {
        return Err(invalid("must not be the root cgroup"));
    }
    Ok(())
}

/// Polls `done` with a growing sleep until it answers true or `timeout`
/// passes; answers whether it finished.
pub(crate) fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub(crate) fn kill_pid(pid: i32, signal: i32) {
    // Signal numbers may be real-time ones, which nix's `Signal` cannot
    // name: the one raw kill(2) is `signal::kill`. The pids come from the
    // container's own cgroup, which holds only processes the runtime started.
    let _ = crate::signal::kill(pid, signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_go_under_berth() {
        assert_eq!(resolve_path(None, "c1").unwrap(), Path::new("/berth/c1"));
        assert_eq!(
            resolve_path(Some(Path::new("team/c1")), "x").unwrap(),
            Path::new("/berth/team/c1")
        );
        assert_eq!(
            resolve_path(Some(Path::new("/custom/c1")), "x").unwrap(),
            Path::new("/custom/c1")
        );
        assert_eq!(
            resolve_path(Some(Path::new("")), "c2").unwrap(),
            Path::new("/berth/c2")
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["/a/../b", "../x", "/", "system.slice:berth:x"] {
            let err = resolve_path(Some(Path::new(bad)), "x").unwrap_err();
            assert!(
                err.to_string().contains("invalid cgroupsPath"),
                "{bad}: {err}"
            );
        }
    }
}
