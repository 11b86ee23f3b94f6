//! Usage counters of one cgroup, the same shape for v1 and v2.
//!
//! Reading them costs a handful of small file reads, so the agent can sample
//! hundreds of cgroups a second.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files;

/// Counters and limits of one cgroup. Counters that the host's cgroup
/// version lacks stay zero (or `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Per page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Pressure stall information, where the kernel exposes it for this cgroup.
    pub pressure: Option<PressureStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time, nanoseconds.
    pub usage_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    /// CFS bandwidth periods elapsed and throttled, and the time throttled.
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage in bytes (page cache included).
    pub usage: u64,
    /// Peak usage, where the kernel tracks it.
    pub max_usage: Option<u64>,
    /// The limit; `None` when unlimited.
    pub limit: Option<u64>,
    pub swap_usage: Option<u64>,
    pub swap_limit: Option<u64>,
    /// Page cache (`file` in v2, `total_cache` in v1).
    pub cache: u64,
    /// Anonymous memory (`anon` in v2, `total_rss` in v1).
    pub rss: u64,
    /// Usage minus inactive file pages: what `docker stats` shows.
    pub working_set: u64,
    /// Times the limit was hit (v1 failcnt, v2 `max` events).
    pub failcnt: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugetlbStats {
    pub usage: u64,
    pub max_usage: Option<u64>,
    pub failcnt: u64,
}

/// PSI for the three resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureStats {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
}

/// One `*.pressure` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub some: PressureLine,
    pub full: Option<PressureLine>,
}

/// `avg10=.. avg60=.. avg300=.. total=..` (averages in percent, total in µs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// Parses a PSI file's text.
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let kind = parts.next()?;
        let mut pl = PressureLine::default();
        for kv in parts {
            let (k, v) = kv.split_once('=')?;
            match k {
                "avg10" => pl.avg10 = v.parse().ok()?,
                "avg60" => pl.avg60 = v.parse().ok()?,
                "avg300" => pl.avg300 = v.parse().ok()?,
                "total" => pl.total_us = v.parse().ok()?,
                _ => {}
            }
        }
        match kind {
            "some" => some = Some(pl),
            "full" => full = Some(pl),
            _ => {}
        }
    }
    Some(Pressure { some: some?, full })
}

/// Reads `cpu.pressure`, `memory.pressure` and `io.pressure` from a cgroup2
/// directory; `None` when the kernel has no PSI there.
pub(crate) fn read_pressure(dir: &Path) -> Option<PressureStats> {
    let read = |f: &str| {
        files::read_opt(dir, f)
            .ok()
            .flatten()
            .and_then(|t| parse_pressure(&t))
    };
    let p = PressureStats {
        cpu: read("cpu.pressure"),
        memory: read("memory.pressure"),
        io: read("io.pressure"),
    };
    (p.cpu.is_some() || p.memory.is_some() || p.io.is_some()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_parses() {
        let p = parse_pressure(
            "some avg10=1.50 avg60=0.20 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        )
        .unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total_us, 1234);
        assert_eq!(p.full.unwrap().total_us, 7);
        assert!(parse_pressure("garbage").is_none());
    }
}
