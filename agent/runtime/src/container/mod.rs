//! The [`Runtime`]: one state root, the host's cgroup layout, and one file
//! per container operation (`create.rs`, `start.rs`, ...).

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::cgroups::{CgroupLayout, Manager};
use crate::child::{killed_at_birth, reap};
use crate::error::{Error, Result};
use crate::process::clone::{self, Forked};
use crate::process::init::{self, InitPlan};
use crate::state::Record;
use crate::syscall::{Linux, Syscall};

mod channel;
mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod prepare;
mod query;
mod start;
mod update;

pub use create::CreateOptions;
pub use exec::ExecOptions;

/// The default state root.
pub const DEFAULT_ROOT: &str = "/run/berth/runtime";

/// An OCI runtime over one state directory.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    layout: CgroupLayout,
    cgroup_parent: PathBuf,
}

impl Runtime {
    /// A runtime keeping its state under `root` (made if missing, mode
    /// 0700); the cgroup layout is read from `/proc/self/mountinfo`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let layout = CgroupLayout::detect()?;
        Self::with_layout(root, layout)
    }

    /// As [`Runtime::new`] with a given cgroup layout.
    pub fn with_layout(root: impl Into<PathBuf>, layout: CgroupLayout) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700));
        Ok(Runtime {
            root,
            layout,
            cgroup_parent: PathBuf::from(crate::cgroups::BERTH_PARENT),
        })
    }

    /// Puts containers with a relative (or no) `cgroupsPath` under
    /// `parent` instead of [`crate::cgroups::BERTH_PARENT`].
    pub fn set_cgroup_parent(&mut self, parent: impl Into<PathBuf>) -> Result<()> {
        let parent = parent.into();
        if !parent.is_absolute() {
            return Err(Error::Unsupported(format!(
                "cgroup parent {} must be an absolute cgroup path",
                parent.display()
            )));
        }
        self.cgroup_parent = parent;
        Ok(())
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host's cgroup layout.
    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    /// The cgroup of a container.
    pub fn cgroup(&self, id: &str) -> Result<Manager> {
        let rec = Record::load(&self.root, id)?;
        Ok(Manager::new(&self.layout, &rec.cgroup_path)?)
    }

    fn load(&self, id: &str) -> Result<Record> {
        crate::state::validate_id(id)?;
        Record::load(&self.root, id)
    }
}

/// Clones the init and runs `plan` in it. With `pidns`, the clone happens
/// on a short-lived thread that first joins that pid namespace (setns of a
/// pid namespace applies to the caller's future children only).
pub(crate) fn spawn_init(
    plan: &InitPlan,
    clone_flags: libc::c_int,
    cgroup_fd: Option<RawFd>,
    pidns: Option<RawFd>,
) -> Result<(i32, bool)> {
    // The hook state arrives here in the child; allocated now, before the
    // clone, because the child cannot allocate.
    let mut scratch = vec![0u8; 64 * 1024];
    let go = |scratch: &mut [u8]| -> Result<(i32, bool)> {
        // SAFETY: the child branch calls only `init::run`, which does not
        // allocate and ends in execve or _exit.
        match unsafe { clone::clone(clone_flags, cgroup_fd) } {
            Ok(Forked::Child) => init::run(&Linux, plan, scratch),
            Ok(Forked::Parent { pid, in_cgroup }) if in_cgroup && killed_at_birth(pid) => {
                // Linux 6.14+ compares the cgroup.kill generation of the
                // caller's cgroup with the target's on CLONE_INTO_CGROUP,
                // so a caller whose cgroup was ever killed gets a child
                // SIGKILLed before it runs a single instruction. Nothing
                // ran: clone again the plain way; the caller then moves
                // the child into its cgroup.
                reap(pid);
                tracing::debug!("CLONE_INTO_CGROUP child killed at birth; cloning without it");
                // SAFETY: as above.
                match unsafe { clone::clone(clone_flags, None) } {
                    Ok(Forked::Child) => init::run(&Linux, plan, scratch),
                    Ok(Forked::Parent { pid, .. }) => Ok((pid, false)),
                    Err(e) => Err(Error::sys("clone the container init", e)),
                }
            }
            Ok(Forked::Parent { pid, in_cgroup }) => Ok((pid, in_cgroup)),
            Err(e) => Err(Error::sys("clone the container init", e)),
        }
    };
    match pidns {
        None => go(&mut scratch),
        Some(fd) => std::thread::scope(|s| {
            s.spawn(|| {
                Linux
                    .setns(fd, libc::CLONE_NEWPID)
                    .map_err(|e| Error::sys("join the pid namespace", e))?;
                go(&mut scratch)
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Unsupported("the clone thread panicked".into())))
        }),
    }
}
