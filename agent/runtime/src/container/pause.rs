//! `pause` and `resume`: the cgroup freezer.

use oci_spec::runtime::ContainerState;

use super::Runtime;
use crate::cgroups::{CgroupManager, FreezerState, Manager};
use crate::error::{Error, Result};

impl Runtime {
    /// Freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.freeze(
            id,
            FreezerState::Frozen,
            "pause (only a running container can pause)",
        )
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.freeze(
            id,
            FreezerState::Thawed,
            "resume (only a paused container can resume)",
        )
    }

    fn freeze(&self, id: &str, want: FreezerState, action: &'static str) -> Result<()> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        let cg = Manager::new(&self.layout, &rec.cgroup_path)?;
        let now = cg.freezer_state()?;
        let ok = match want {
            FreezerState::Frozen => {
                status == ContainerState::Running && now == FreezerState::Thawed
            }
            FreezerState::Thawed => {
                status == ContainerState::Running && now == FreezerState::Frozen
            }
        };
        if !ok {
            let shown = if now == FreezerState::Frozen {
                "paused".to_string()
            } else {
                status.to_string()
            };
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: shown,
                action,
            });
        }
        cg.set_freezer(want)?;
        Ok(())
    }
}
