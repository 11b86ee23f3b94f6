//! `state`, `list`, `ps` and `stats`.

use oci_spec::runtime::ContainerState;

use super::Runtime;
use crate::cgroups::{CgroupManager, FreezerState, Manager, Stats};
use crate::error::{Error, Result};
use crate::state::{Record, State};

impl Runtime {
    /// The container's state, with its live status.
    pub fn state(&self, id: &str) -> Result<State> {
        let rec = self.load(id)?;
        Ok(self.state_of(&rec))
    }

    fn state_of(&self, rec: &Record) -> State {
        let status = rec.status(&self.root);
        let paused = status == ContainerState::Running
            && Manager::new(&self.layout, &rec.cgroup_path)
                .and_then(|cg| cg.freezer_state())
                .is_ok_and(|f| f == FreezerState::Frozen);
        rec.to_state(status, paused)
    }

    /// Every container under the state root, by id.
    pub fn list(&self) -> Result<Vec<State>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.root, e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            // A directory mid-create has no state.json yet: not listed.
            if let Ok(rec) = Record::load(&self.root, &id) {
                out.push(self.state_of(&rec));
            }
        }
        out.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(out)
    }

    /// The pids in the container's cgroup.
    pub fn processes(&self, id: &str) -> Result<Vec<i32>> {
        let rec = self.load(id)?;
        let cg = Manager::new(&self.layout, &rec.cgroup_path)?;
        if !cg.exists() {
            return Ok(Vec::new());
        }
        Ok(cg.procs()?)
    }

    /// Resource usage of the container's cgroup.
    pub fn stats(&self, id: &str) -> Result<Stats> {
        let rec = self.load(id)?;
        Ok(Manager::new(&self.layout, &rec.cgroup_path)?.stats()?)
    }
}
