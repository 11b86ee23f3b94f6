//! The five capability sets of `process.capabilities` as bit masks
//! (capabilities(7)).

use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// The five sets, bit N = capability N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The calling process's bounding set.
pub fn current_bounding() -> u64 {
    procfs::process::Process::myself()
        .and_then(|p| p.status())
        .ok()
        .and_then(|s| s.capbnd)
        .unwrap_or(u64::MAX)
}

fn mask(set: Option<&Capabilities>, field: &str, last_cap: u8) -> Result<u64> {
    let mut m = 0u64;
    for cap in set.into_iter().flatten() {
        let name = format!("CAP_{cap}");
        let c = caps::Capability::from_str(&name).map_err(|_| {
            Error::config(
                format!("process.capabilities.{field}"),
                format!("unknown capability {name}"),
            )
        })?;
        // A capability newer than the running kernel cannot be granted; as
        // runc, leave it out rather than fail.
        if c.index() <= last_cap {
            m |= 1u64 << c.index();
        }
    }
    Ok(m)
}

impl CapMasks {
    /// Converts the spec's sets. Capabilities the host's own bounding set
    /// lacks (`host_bounding`) are dropped: no process could hold them.
    pub fn from_spec(c: &LinuxCapabilities, last_cap: u8, host_bounding: u64) -> Result<Self> {
        let all = if last_cap >= 63 {
            u64::MAX
        } else {
            (1u64 << (last_cap + 1)) - 1
        };
        let keep = all & host_bounding;
        Ok(CapMasks {
            bounding: mask(c.bounding().as_ref(), "bounding", last_cap)? & keep,
            effective: mask(c.effective().as_ref(), "effective", last_cap)? & keep,
            permitted: mask(c.permitted().as_ref(), "permitted", last_cap)? & keep,
            inheritable: mask(c.inheritable().as_ref(), "inheritable", last_cap)? & keep,
            ambient: mask(c.ambient().as_ref(), "ambient", last_cap)? & keep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_become_masks() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],"effective":["CAP_CHOWN","CAP_NET_BIND_SERVICE"]}"#,
        )
        .unwrap();
        let m = CapMasks::from_spec(&c, 40, u64::MAX).unwrap();
        assert_eq!(m.bounding, (1 << 0) | (1 << 10));
        assert_eq!(m.effective, m.bounding);
        assert_eq!(m.ambient, 0);
        let without_chown = CapMasks::from_spec(&c, 40, !1).unwrap();
        assert_eq!(without_chown.bounding, 1 << 10);
    }
}
