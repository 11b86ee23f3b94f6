//! v2 `io` controller (cgroup-v2.rst, "IO").

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgroups::{BlkioStats, Result, files};

/// blkio weight (10..1000) to io weight (1..10000).
fn weight(w: u16) -> u64 {
    1 + (u64::from(w).clamp(10, 1000) - 10) * 9999 / 990
}

pub(crate) fn apply(dir: &Path, io: &LinuxBlockIo) -> Result<()> {
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = io.weight() {
        if bfq {
            files::write(dir, "io.bfq.weight", w.to_string())?;
        } else {
            files::write(dir, "io.weight", format!("default {}", weight(w)))?;
        }
    }
    for d in io.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (file, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", weight(w))
            };
            files::write(dir, file, format!("{}:{} {v}", d.major(), d.minor()))?;
        }
    }
    let throttles = [
        ("rbps", io.throttle_read_bps_device()),
        ("wbps", io.throttle_write_bps_device()),
        ("riops", io.throttle_read_iops_device()),
        ("wiops", io.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            files::write(
                dir,
                "io.max",
                format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut BlkioStats) -> Result<()> {
    let Some(text) = files::read_opt(dir, "io.stat")? else {
        return Ok(());
    };
    for line in text.lines() {
        for kv in line.split_whitespace().skip(1) {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => out.read_bytes += v,
                "wbytes" => out.write_bytes += v,
                "rios" => out.read_ops += v,
                "wios" => out.write_ops += v,
                _ => {}
            }
        }
    }
    Ok(())
}
