//! v2 `cpu` and `cpuset` controllers (cgroup-v2.rst, "CPU", "Cpuset").

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::files::{self, keyed_u64};
use crate::cgroups::{CpuStats, Error, Result};

const DEFAULT_PERIOD: u64 = 100_000;

/// v1 shares (2..262144) to v2 weight (1..10000), as runc and crun do.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(s) = cpu.shares().filter(|&s| s != 0) {
        files::write(dir, "cpu.weight", shares_to_weight(s).to_string())?;
    }
    let quota = cpu.quota().filter(|&q| q != 0);
    let period = cpu.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        files::write(
            dir,
            "cpu.max",
            format!("{q} {}", period.unwrap_or(DEFAULT_PERIOD)),
        )?;
    }
    if let Some(b) = cpu.burst() {
        files::write(dir, "cpu.max.burst", b.to_string())?;
    }
    if let Some(i) = cpu.idle() {
        files::write(dir, "cpu.idle", i.to_string())?;
    }
    if cpu.realtime_runtime().is_some_and(|r| r != 0)
        || cpu.realtime_period().is_some_and(|p| p != 0)
    {
        return Err(Error::Unsupported(
            "linux.resources.cpu.realtimeRuntime/realtimePeriod are not available on cgroup v2"
                .into(),
        ));
    }
    if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
        files::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
        files::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut CpuStats) -> Result<()> {
    if let Some(stat) = files::read_opt(dir, "cpu.stat")? {
        out.usage_ns = keyed_u64(&stat, "usage_usec") * 1000;
        out.user_ns = keyed_u64(&stat, "user_usec") * 1000;
        out.system_ns = keyed_u64(&stat, "system_usec") * 1000;
        out.periods = keyed_u64(&stat, "nr_periods");
        out.throttled_periods = keyed_u64(&stat, "nr_throttled");
        out.throttled_ns = keyed_u64(&stat, "throttled_usec") * 1000;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_map_to_weights() {
        assert_eq!(super::shares_to_weight(2), 1);
        assert_eq!(super::shares_to_weight(1024), 39);
        assert_eq!(super::shares_to_weight(262_144), 10_000);
    }
}
