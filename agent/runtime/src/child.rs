//! The caller's child processes: the container inits and exec'd processes
//! the runtime clones, and the short-lived helpers it starts (the holder of
//! an id-mapped mount's user namespace). Waiting, reaping, signalling, and
//! telling how one ended, in one place, used by the container operations,
//! the id-mapped mounts and the CLI.
//!
//! `waitpid(2)` and `kill(2)` stay raw here on purpose: nix's `WaitStatus`
//! and `Signal` only know the classic signals, so nix cannot report a
//! process killed by a real-time signal (its `waitpid` fails with EINVAL
//! after the child is already reaped) nor forward one (`kill --signal
//! RTMIN+3`).

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::syscall::Errno;

/// A wait status as a shell shows it: the exit status, or 128 + the signal
/// number; `None` for a stop or continue report.
fn exit_code(status: i32) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

/// `waitpid(pid)` with `flags`, retried on EINTR; the raw status.
fn waitpid_raw(pid: i32, flags: i32) -> Result<Option<i32>, Errno> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out pointer for the call.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        if ret == pid {
            return Ok(Some(status));
        }
        if ret == 0 {
            return Ok(None);
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// Waits for child `pid` (the init or an exec'd process) and answers its
/// exit code as a shell would: the exit status, or 128 + the signal number.
pub fn wait(pid: i32) -> Result<i32> {
    loop {
        let status = waitpid_raw(pid, 0)
            .map_err(|e| Error::sys(format!("waitpid {pid}"), e))?
            .unwrap_or_default();
        if let Some(code) = exit_code(status) {
            return Ok(code);
        }
    }
}

/// Reaps child `pid` if it has ended, without blocking: its exit code as
/// [`wait`] answers it, or `None` while it runs (or is not our child).
pub fn try_wait(pid: i32) -> Option<i32> {
    waitpid_raw(pid, libc::WNOHANG)
        .ok()
        .flatten()
        .and_then(exit_code)
}

pub use crate::signal::kill;

/// Kills and reaps a child that must not live on (a failed init, a helper).
pub(crate) fn reap(pid: i32) {
    let pid = Pid::from_raw(pid);
    let _ = signal::kill(pid, Signal::SIGKILL);
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            // Reaped (a status nix cannot decode is reaped all the same),
            // or not our child.
            _ => return,
        }
    }
}

/// How child `pid` ended, for error messages (` (exit status 1)`): waits
/// for it; empty when that cannot be told.
pub(crate) fn wait_status(pid: i32) -> String {
    let Ok(Some(status)) = waitpid_raw(pid, 0) else {
        return String::new();
    };
    if libc::WIFEXITED(status) {
        format!(" (exit status {})", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!(" (killed by signal {})", libc::WTERMSIG(status))
    } else {
        String::new()
    }
}

/// Whether child `pid`, just cloned, was killed by the kernel before it
/// ran: SIGKILL pending (or already dead of it). The child cannot have
/// died on its own this early; a zombie is checked without reaping it.
pub(crate) fn killed_at_birth(pid: i32) -> bool {
    let Ok(status) = procfs::process::Process::new(pid).and_then(|p| p.status()) else {
        return false;
    };
    let sigkill = 1u64 << (libc::SIGKILL - 1);
    if (status.sigpnd | status.shdpnd) & sigkill != 0 {
        return true;
    }
    if !status.state.starts_with(['Z', 'X']) {
        return false;
    }
    // WNOWAIT leaves the zombie to be reaped by the caller.
    matches!(
        waitid(
            Id::Pid(Pid::from_raw(pid)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        ),
        Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child the tests wait for with this module's own functions.
    #[allow(clippy::zombie_processes)]
    fn spawn(script: &str) -> i32 {
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        i32::try_from(child.id()).unwrap()
    }

    #[test]
    fn exit_codes_read_as_a_shell_does() {
        assert_eq!(wait(spawn("exit 3")).unwrap(), 3);
        assert_eq!(wait(spawn("kill -TERM $$")).unwrap(), 128 + libc::SIGTERM);
        // A real-time signal, which nix's WaitStatus cannot name. qemu-user
        // (scripts/arm64-smoke.sh) keeps host real-time signals for itself
        // and hands the guest a renumbered one: the shell, a host binary,
        // dies of SIGRTMIN+3 and the emulated wait reads SIGRTMIN+1.
        let rt = libc::SIGRTMIN() + 3;
        if std::env::var_os("BERTH_UNDER_QEMU_USER").is_some() {
            berth_testkit::skip("qemu-user renumbers real-time signals in a wait status");
        } else {
            assert_eq!(wait(spawn(&format!("kill -{rt} $$"))).unwrap(), 128 + rt);
        }
        assert!(wait(i32::MAX).is_err());
    }

    #[test]
    fn reap_and_try_wait() {
        let pid = spawn("exec sleep 600");
        assert_eq!(try_wait(pid), None);
        assert!(!killed_at_birth(pid));
        kill(pid, libc::SIGKILL).unwrap();
        // A zombie killed by SIGKILL counts as killed at birth, and is
        // left to be reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !killed_at_birth(pid) {
            assert!(std::time::Instant::now() < deadline, "no SIGKILL seen");
            std::thread::yield_now();
        }
        assert_eq!(
            wait_status(pid),
            format!(" (killed by signal {})", libc::SIGKILL)
        );
        let pid = spawn("exec sleep 600");
        reap(pid);
        assert_eq!(try_wait(pid), None);
        assert_eq!(kill(pid, 0), Err(Errno::ESRCH));
    }
}
