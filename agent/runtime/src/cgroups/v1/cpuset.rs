//! v1 `cpuset` controller (cgroup-v1/cpusets.rst).
//!
//! A new v1 cpuset starts with empty `cpus` and `mems` and refuses tasks
//! until both are set, so freshly made parents get their parent's values
//! and `cgroup.clone_children`, which makes the kernel copy them into every
//! later child: a container's own cgroup then needs no cpuset write at all.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::{Result, files};

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        files::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        files::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Fills `cpus`/`mems` of a directory just made, from its parent.
pub(crate) fn init_created(dir: &Path, is_leaf: bool) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if files::read(dir, file)?.trim().is_empty() {
            files::write(dir, file, files::read(parent, file)?.trim())?;
        }
    }
    if !is_leaf {
        files::write(dir, "cgroup.clone_children", "1")?;
    }
    Ok(())
}
