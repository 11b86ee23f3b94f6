//! The host's counters from procfs (proc(5)): /proc/stat for CPU, meminfo,
//! loadavg, net/dev (every interface but lo) and diskstats (whole disks).
//!
//! net/dev is read by the agent's one reader ([`NetStats`], on procfs) and
//! diskstats line by line by procfs's `DiskStat`. Three files stay parsed
//! here, each for a reason procfs does not fit:
//! - /proc/stat: the sampler needs the `cpu` line's jiffies only (a ratio of
//!   jiffies), while procfs's `KernelStats` also requires the `ctxt`,
//!   `btime` and `processes` lines and the tick rate;
//! - meminfo: procfs's `Meminfo` fails unless some twenty fields are there,
//!   and the sampler (and `facts`, through [`meminfo_bytes`]) needs two;
//! - loadavg: procfs's `LoadAverage` holds `f32`, so a load of 0.15 would
//!   be reported as 0.15000000596.

use std::path::{Path, PathBuf};

use berth_api::metrics::HostSample;
use chrono::{DateTime, Utc};
use procfs::DiskStat;

use super::num::f64_of;
use crate::network::NetStats;

/// Reads host samples; keeps the previous CPU counters for the percentage.
pub struct HostReader {
    proc: PathBuf,
    sys_block: PathBuf,
    cpus: f64,
    last_cpu: Option<(u64, u64)>,
}

impl HostReader {
    pub fn new(proc: impl Into<PathBuf>, sys_block: impl Into<PathBuf>, cpus: u32) -> Self {
        Self {
            proc: proc.into(),
            sys_block: sys_block.into(),
            cpus: f64::from(cpus.max(1)),
            last_cpu: None,
        }
    }

    pub fn sample(&mut self, t: DateTime<Utc>) -> HostSample {
        let cpu = read(&self.proc.join("stat")).and_then(|s| cpu_busy_total(&s));
        let cpu_percent = match (cpu, self.last_cpu) {
            (Some((busy, total)), Some((pb, pt))) if total > pt => {
                f64_of(busy.saturating_sub(pb)) / f64_of(total - pt) * self.cpus * 100.0
            }
            _ => 0.0,
        };
        if cpu.is_some() {
            self.last_cpu = cpu;
        }
        let mem = read(&self.proc.join("meminfo")).unwrap_or_default();
        let total = meminfo_bytes(&mem, "MemTotal").unwrap_or(0);
        let available = meminfo_bytes(&mem, "MemAvailable").unwrap_or(0);
        let load1 = read(&self.proc.join("loadavg"))
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let net = NetStats::read(&self.proc.join("net/dev")).unwrap_or_default();
        let (dr, dw) = read(&self.proc.join("diskstats"))
            .map(|s| disk_totals(&s, &self.sys_block))
            .unwrap_or_default();
        HostSample {
            t,
            cpu_percent: round2(cpu_percent),
            memory_bytes: total.saturating_sub(available),
            memory_total_bytes: total,
            load1,
            net_rx_bytes: net.rx_bytes,
            net_tx_bytes: net.tx_bytes,
            disk_read_bytes: dr,
            disk_write_bytes: dw,
        }
    }
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// (busy, total) jiffies from /proc/stat's `cpu` line.
pub fn cpu_busy_total(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// A field of meminfo text (`MemTotal`, `MemAvailable`), in bytes.
pub fn meminfo_bytes(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(':')?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?
            .checked_mul(1024)
    })
}

/// Bytes read and written by whole disks (those under /sys/block, not
/// loop or ram devices); a line procfs cannot parse is skipped.
pub fn disk_totals(text: &str, sys_block: &Path) -> (u64, u64) {
    let mut t: (u64, u64) = (0, 0);
    for d in text.lines().filter_map(|l| DiskStat::from_line(l).ok()) {
        let name = d.name.as_str();
        if name.starts_with("loop") || name.starts_with("ram") || !sys_block.join(name).exists() {
            continue;
        }
        t.0 = t.0.saturating_add(d.sectors_read.saturating_mul(512));
        t.1 = t.1.saturating_add(d.sectors_written.saturating_mul(512));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            cpu_busy_total("cpu  10 0 5 80 5 0 0 0 0 0\ncpu0 1 2 3 4\n"),
            Some((15, 100))
        );
        let dev = "Inter-|\n face |\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0\n";
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("net")).unwrap();
        std::fs::write(d.path().join("net/dev"), dev).unwrap();
        let s = HostReader::new(d.path(), d.path(), 1).sample(Utc::now());
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (500, 700));
        std::fs::create_dir(d.path().join("vda")).unwrap();
        let disks = "252 0 vda 10 0 8 0 20 0 16 0 0 0 0\n252 1 vda1 10 0 8 0 20 0 16 0 0 0 0\n7 0 loop0 1 0 2 0 1 0 2 0 0 0 0\n";
        assert_eq!(disk_totals(disks, d.path()), (8 * 512, 16 * 512));
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        let d = tempfile::tempdir().unwrap();
        let stat = d.path().join("stat");
        let mut r = HostReader::new(d.path(), d.path(), 2);
        std::fs::write(&stat, "cpu  0 0 0 0 0 0 0 0\n").unwrap();
        r.sample(Utc::now());
        // One of two cores busy for the whole interval: 100 %, not 50 or 200.
        std::fs::write(&stat, "cpu  100 0 0 100 0 0 0 0\n").unwrap();
        assert_eq!(r.sample(Utc::now()).cpu_percent, 100.0);
    }
}
