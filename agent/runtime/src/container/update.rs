//! `update`: new resource limits for a running container's cgroup.

use oci_spec::runtime::LinuxResources;

use super::Runtime;
use crate::cgroups::{CgroupManager, Manager};
use crate::error::{Error, Result};

impl Runtime {
    /// Writes `resources` to the container's cgroup (only what is set).
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let rec = self.load(id)?;
        let cg = Manager::new(&self.layout, &rec.cgroup_path)?;
        if !cg.exists() {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: "stopped".into(),
                action: "update (the container has no cgroup any more)",
            });
        }
        cg.apply(resources)?;
        Ok(())
    }
}
