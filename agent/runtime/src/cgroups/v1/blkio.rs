//! v1 `blkio` controller (cgroup-v1/blkio-controller.rst).

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgroups::{BlkioStats, Result, files};

pub(crate) fn apply(dir: &Path, io: &LinuxBlockIo) -> Result<()> {
    // CFQ is gone from current kernels; BFQ offers the same knobs under
    // another name.
    let weight_file = |name: &str| {
        if dir.join(format!("blkio.{name}")).exists() {
            format!("blkio.{name}")
        } else {
            format!("blkio.bfq.{name}")
        }
    };
    if let Some(w) = io.weight() {
        files::write(dir, &weight_file("weight"), w.to_string())?;
    }
    if let Some(w) = io.leaf_weight() {
        files::write(dir, "blkio.leaf_weight", w.to_string())?;
    }
    for d in io.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let file = weight_file("weight_device");
            files::write(dir, &file, format!("{}:{} {w}", d.major(), d.minor()))?;
        }
        if let Some(w) = d.leaf_weight() {
            let value = format!("{}:{} {w}", d.major(), d.minor());
            files::write(dir, "blkio.leaf_weight_device", value)?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            io.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            io.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            io.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            io.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in throttles {
        for d in devices.iter().flatten() {
            files::write(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// Sums `Read`/`Write` lines of a blkio `*_recursive` file.
fn sum_rw(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => r += v,
            "Write" => w += v,
            _ => {}
        }
    }
    (r, w)
}

pub(crate) fn stats(dir: &Path, out: &mut BlkioStats) -> Result<()> {
    if let Some(t) = files::read_opt(dir, "blkio.throttle.io_service_bytes_recursive")? {
        (out.read_bytes, out.write_bytes) = sum_rw(&t);
    }
    if let Some(t) = files::read_opt(dir, "blkio.throttle.io_serviced_recursive")? {
        (out.read_ops, out.write_ops) = sum_rw(&t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_write_lines_are_summed() {
        let t = "8:0 Read 100\n8:0 Write 5\n8:16 Read 1\n8:0 Sync 7\nTotal 106\n";
        assert_eq!(super::sum_rw(t), (101, 5));
    }
}
