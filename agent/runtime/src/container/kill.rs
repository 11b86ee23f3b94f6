//! `kill`: a signal to the init, or with `all` to every process in the
//! container's cgroup.

use oci_spec::runtime::ContainerState;

use super::Runtime;
use crate::cgroups::{CgroupManager, Manager};
use crate::error::{Error, Result};
use crate::syscall::Errno;

impl Runtime {
    /// Sends `signal` to the container's init (or, with `all`, to all its
    /// processes).
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let rec = self.load(id)?;
        if all {
            let cg = Manager::new(&self.layout, &rec.cgroup_path)?;
            if cg.exists() {
                cg.signal_all(signal)?;
            }
            return Ok(());
        }
        let status = rec.status(&self.root);
        if status == ContainerState::Stopped {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: status.to_string(),
                action: "kill (the container is not running)",
            });
        }
        // The pid was checked to still be the container's init (by its
        // start time) just above.
        if let Err(e) = crate::child::kill(rec.pid, signal)
            && e != Errno::ESRCH
        {
            return Err(Error::sys(
                format!("kill {} with signal {signal}", rec.pid),
                e,
            ));
        }
        Ok(())
    }
}
