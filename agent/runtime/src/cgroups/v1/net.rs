//! v1 `net_cls` and `net_prio` controllers (cgroup-v1/net_cls.rst,
//! net_prio.rst).

use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::cgroups::{Result, files};

pub(crate) fn apply(
    cls_dir: Option<&Path>,
    prio_dir: Option<&Path>,
    net: &LinuxNetwork,
) -> Result<()> {
    if let (Some(dir), Some(id)) = (cls_dir, net.class_id()) {
        files::write(dir, "net_cls.classid", id.to_string())?;
    }
    if let Some(dir) = prio_dir {
        for p in net.priorities().iter().flatten() {
            files::write(
                dir,
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}
