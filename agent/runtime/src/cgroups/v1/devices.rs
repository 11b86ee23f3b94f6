//! v1 `devices` controller (cgroup-v1/devices.rst): the spec's allow/deny
//! rules in order, then the devices every container gets
//! ([`crate::cgroups::DEFAULT_ALLOWED_DEVICES`]).

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgroups::{DeviceRule, Result, files};

pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for rule in DeviceRule::with_defaults(rules) {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        files::write(dir, file, rule.to_string())?;
    }
    Ok(())
}
