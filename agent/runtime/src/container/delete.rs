//! `delete`: kill what is left (thaw, kill, wait for the cgroup to empty),
//! remove the cgroup and the state, run the poststop hooks.
//!
//! A failing poststop hook stops the hooks after it and makes `delete`
//! fail, as runc (1.2 and later) and youki do and as the conformance suite
//! checks; the container is gone by then either way (cgroup, mounts and
//! state are removed first), so the error only reports the hook.

use std::fs;

use oci_spec::runtime::ContainerState;

use super::Runtime;
use crate::cgroups::{CgroupManager, Manager};
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::Record;

/// How long a non-forced `delete` waits for a running container to stop.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

impl Runtime {
    /// Deletes a stopped (or created) container; `force` also kills a
    /// running one.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let rec = self.load(id)?;
        let mut status = rec.status(&self.root);
        if status == ContainerState::Running && !force {
            // A process that has done its work may still be on its way
            // out (its output is there, its exit is not yet): give it a
            // moment before refusing, rather than failing on a race.
            let deadline = std::time::Instant::now() + EXIT_GRACE;
            while status == ContainerState::Running && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
                status = rec.status(&self.root);
            }
        }
        if status == ContainerState::Running && !force {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: status.to_string(),
                action: "delete (stop it first, or force)",
            });
        }
        if status != ContainerState::Stopped {
            // The pid is the container's init, checked by start time in
            // `status`.
            let _ = crate::child::kill(rec.pid, libc::SIGKILL);
        }
        let cg = Manager::new(&self.layout, &rec.cgroup_path)?;
        cg.destroy()?;
        // Without a mount namespace of its own the container's mounts sit
        // in ours, on its rootfs: take them down.
        let own_mntns = rec
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Mount)
            });
        if !own_mntns {
            // EINVAL (not mounted) is fine.
            let _ = nix::mount::umount2(&rec.rootfs, nix::mount::MntFlags::MNT_DETACH);
        }
        let dir = Record::dir(&self.root, id);
        fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        if let Some(hs) = rec
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
        {
            let state = rec.to_state(ContainerState::Stopped, false);
            let json = serde_json::to_vec(&state.oci).unwrap_or_default();
            if let Err(e) = hooks::run("poststop", &hs, &json) {
                tracing::warn!(container = id, "{e}");
                return Err(e);
            }
        }
        Ok(())
    }
}
