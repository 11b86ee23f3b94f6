//! `start`: open the exec fifo for reading, which releases the init blocked
//! on its other end into `execve`; then the poststart hooks.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{PollFd, PollFlags, poll};
use oci_spec::runtime::ContainerState;

use super::Runtime;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{EXEC_FIFO, Record};

impl Runtime {
    /// Runs the user process of a created container.
    pub fn start(&self, id: &str) -> Result<()> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if status != ContainerState::Created {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: status.to_string(),
                action: "start (only a created container can start)",
            });
        }
        let fifo = Record::dir(&self.root, id).join(EXEC_FIFO);
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo)
            .map_err(|e| Error::io("open", &fifo, e))?;
        loop {
            let mut pfd = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut pfd, 50u16).unwrap_or(0);
            if ready > 0
                && pfd[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                let mut b = [0u8; 1];
                if nix::unistd::read(&f, &mut b) == Ok(1) {
                    break;
                }
            }
            if !rec.init_alive() {
                return Err(Error::InitDied {
                    detail: " while waiting for start".into(),
                });
            }
        }
        drop(f);
        // Its absence is what says "running" from now on.
        fs::remove_file(&fifo).map_err(|e| Error::io("remove", &fifo, e))?;
        if let Some(hs) = rec
            .config
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().clone())
        {
            let state = rec.to_state(ContainerState::Running, false);
            let json = serde_json::to_vec(&state.oci).unwrap_or_default();
            if let Err(e) = hooks::run("poststart", &hs, &json) {
                // runtime.md: a failing poststart hook is a warning only.
                tracing::warn!(container = id, "{e}");
            }
        }
        Ok(())
    }
}
