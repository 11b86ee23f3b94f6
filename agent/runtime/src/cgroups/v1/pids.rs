//! `pids` controller, the same files in v1 and v2 (cgroup-v1/pids.rst).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::cgroups::{PidsStats, Result, files};

pub(crate) fn apply(dir: &Path, pids: &LinuxPids) -> Result<()> {
    // As runc: a limit of 0 or below means no limit.
    let value = if pids.limit() > 0 {
        pids.limit().to_string()
    } else {
        "max".to_string()
    };
    files::write(dir, "pids.max", value)
}

pub(crate) fn stats(dir: &Path, out: &mut PidsStats) -> Result<()> {
    out.current = files::read_u64_opt(dir, "pids.current")?.unwrap_or(0);
    out.limit = files::read_u64_opt(dir, "pids.max")?;
    Ok(())
}
