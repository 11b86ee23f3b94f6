//! v2 `memory` controller (cgroup-v2.rst, "Memory").

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::files::{self, keyed_u64};
use crate::cgroups::{Error, MemoryStats, Result};

fn value(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

pub(crate) fn apply(dir: &Path, mem: &LinuxMemory) -> Result<()> {
    if let Some(l) = mem.limit() {
        files::write(dir, "memory.max", value(l))?;
    }
    if let Some(r) = mem.reservation() {
        files::write(dir, "memory.low", value(r))?;
    }
    if let Some(swap) = mem.swap() {
        // The spec's swap is memory+swap (v1's memsw); v2 limits swap alone.
        let v2_swap = match (swap, mem.limit()) {
            (s, _) if s < 0 => "max".to_string(),
            (s, Some(l)) if l >= 0 => {
                if s < l {
                    return Err(Error::Unsupported(format!(
                        "linux.resources.memory.swap ({s}) must not be below memory.limit ({l})"
                    )));
                }
                (s - l).to_string()
            }
            (s, _) => s.to_string(),
        };
        if dir.join("memory.swap.max").exists() {
            files::write(dir, "memory.swap.max", v2_swap)?;
        }
    }
    if mem.disable_oom_killer() == Some(true) {
        return Err(Error::Unsupported(
            "linux.resources.memory.disableOOMKiller is not available on cgroup v2".into(),
        ));
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut MemoryStats) -> Result<()> {
    out.usage = files::read_u64_opt(dir, "memory.current")?.unwrap_or(0);
    out.max_usage = files::read_u64_opt(dir, "memory.peak")?;
    out.limit = files::read_u64_opt(dir, "memory.max")?;
    out.swap_usage = files::read_u64_opt(dir, "memory.swap.current")?;
    out.swap_limit = files::read_u64_opt(dir, "memory.swap.max")?;
    if let Some(stat) = files::read_opt(dir, "memory.stat")? {
        out.cache = keyed_u64(&stat, "file");
        out.rss = keyed_u64(&stat, "anon");
        out.working_set = out.usage.saturating_sub(keyed_u64(&stat, "inactive_file"));
    }
    if let Some(ev) = files::read_opt(dir, "memory.events")? {
        out.failcnt = keyed_u64(&ev, "max");
        out.oom_kills = keyed_u64(&ev, "oom_kill");
    }
    Ok(())
}
