//! v1 `memory` controller (cgroup-v1/memory.rst).

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::files::{self, keyed_u64};
use crate::cgroups::{MemoryStats, Result};

/// v1 reports "no limit" as a huge page-aligned number.
const UNLIMITED_ABOVE: u64 = 1 << 62;

fn limit_value(v: i64) -> String {
    if v < 0 { "-1".into() } else { v.to_string() }
}

pub(crate) fn apply(dir: &Path, mem: &LinuxMemory) -> Result<()> {
    match (mem.limit(), mem.swap()) {
        (limit, Some(swap)) if dir.join("memory.memsw.limit_in_bytes").exists() => {
            // memsw (memory+swap) must never drop below the memory limit, so
            // the order of the two writes depends on the direction.
            let current = files::read_u64_opt(dir, "memory.memsw.limit_in_bytes")?.unwrap_or(0);
            let swap_first = swap < 0 || u64::try_from(swap).is_ok_and(|s| s > current);
            if swap_first {
                files::write(dir, "memory.memsw.limit_in_bytes", limit_value(swap))?;
            }
            if let Some(l) = limit {
                files::write(dir, "memory.limit_in_bytes", limit_value(l))?;
            }
            if !swap_first {
                files::write(dir, "memory.memsw.limit_in_bytes", limit_value(swap))?;
            }
        }
        (Some(l), _) => files::write(dir, "memory.limit_in_bytes", limit_value(l))?,
        _ => {}
    }
    if let Some(r) = mem.reservation() {
        files::write(dir, "memory.soft_limit_in_bytes", limit_value(r))?;
    }
    if let Some(t) = mem.kernel_tcp() {
        files::write(dir, "memory.kmem.tcp.limit_in_bytes", limit_value(t))?;
    }
    if let Some(s) = mem.swappiness() {
        files::write(dir, "memory.swappiness", s.to_string())?;
    }
    if let Some(true) = mem.disable_oom_killer() {
        files::write(dir, "memory.oom_control", "1")?;
    }
    if let Some(h) = mem.use_hierarchy() {
        files::write(dir, "memory.use_hierarchy", if h { "1" } else { "0" })?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut MemoryStats) -> Result<()> {
    let limit = |v: Option<u64>| v.filter(|&l| l < UNLIMITED_ABOVE);
    out.usage = files::read_u64_opt(dir, "memory.usage_in_bytes")?.unwrap_or(0);
    out.max_usage = files::read_u64_opt(dir, "memory.max_usage_in_bytes")?;
    out.limit = limit(files::read_u64_opt(dir, "memory.limit_in_bytes")?);
    out.failcnt = files::read_u64_opt(dir, "memory.failcnt")?.unwrap_or(0);
    if let Some(memsw) = files::read_u64_opt(dir, "memory.memsw.usage_in_bytes")? {
        out.swap_usage = Some(memsw.saturating_sub(out.usage));
        out.swap_limit = limit(files::read_u64_opt(dir, "memory.memsw.limit_in_bytes")?);
    }
    if let Some(stat) = files::read_opt(dir, "memory.stat")? {
        out.cache = keyed_u64(&stat, "total_cache");
        out.rss = keyed_u64(&stat, "total_rss");
        out.working_set = out
            .usage
            .saturating_sub(keyed_u64(&stat, "total_inactive_file"));
    }
    if let Some(oom) = files::read_opt(dir, "memory.oom_control")? {
        out.oom_kills = keyed_u64(&oom, "oom_kill");
    }
    Ok(())
}
