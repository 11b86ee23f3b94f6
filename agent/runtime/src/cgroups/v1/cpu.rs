//! v1 `cpu` and `cpuacct` controllers (scheduler/sched-bwc.rst,
//! cgroup-v1/cpuacct.rst).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::files::{self, keyed_u64};
use crate::cgroups::{CpuStats, Result};

/// `cpuacct.stat` counts in USER_HZ ticks.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(s) = cpu.shares().filter(|&s| s != 0) {
        files::write(dir, "cpu.shares", s.to_string())?;
    }
    // The period first: the kernel checks the quota against it.
    if let Some(p) = cpu.period().filter(|&p| p != 0) {
        files::write(dir, "cpu.cfs_period_us", p.to_string())?;
    }
    if let Some(q) = cpu.quota().filter(|&q| q != 0) {
        files::write(dir, "cpu.cfs_quota_us", q.to_string())?;
    }
    if let Some(b) = cpu.burst() {
        files::write(dir, "cpu.cfs_burst_us", b.to_string())?;
    }
    if let Some(p) = cpu.realtime_period().filter(|&p| p != 0) {
        files::write(dir, "cpu.rt_period_us", p.to_string())?;
    }
    if let Some(r) = cpu.realtime_runtime().filter(|&r| r != 0) {
        files::write(dir, "cpu.rt_runtime_us", r.to_string())?;
    }
    if let Some(i) = cpu.idle() {
        files::write(dir, "cpu.idle", i.to_string())?;
    }
    Ok(())
}

pub(crate) fn stats(
    cpu_dir: Option<&Path>,
    acct_dir: Option<&Path>,
    out: &mut CpuStats,
) -> Result<()> {
    if let Some(dir) = acct_dir {
        out.usage_ns = files::read_u64_opt(dir, "cpuacct.usage")?.unwrap_or(0);
        if let Some(stat) = files::read_opt(dir, "cpuacct.stat")? {
            out.user_ns = keyed_u64(&stat, "user") * NS_PER_TICK;
            out.system_ns = keyed_u64(&stat, "system") * NS_PER_TICK;
        }
    }
    if let Some(dir) = cpu_dir
        && let Some(stat) = files::read_opt(dir, "cpu.stat")?
    {
        out.periods = keyed_u64(&stat, "nr_periods");
        out.throttled_periods = keyed_u64(&stat, "nr_throttled");
        out.throttled_ns = keyed_u64(&stat, "throttled_time");
    }
    Ok(())
}
