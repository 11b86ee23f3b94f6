//! The process's credentials: capability bounding set, groups, uid and
//! gid, the capability sets and ambient capabilities, and its seccomp
//! filter (config.md "User", config-linux.md "Capabilities", "Seccomp").

use std::os::fd::RawFd;

use libc::c_int;

use super::ProcessPlan;
use super::sync::{Msg, Step, fail};
use crate::seccomp::SeccompProgram;
use crate::syscall::{CapSets, Errno, Syscall};

const PR_CAPBSET_DROP: c_int = 24;
const PR_SET_KEEPCAPS: c_int = 8;
const PR_CAP_AMBIENT: c_int = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;

pub(super) fn set_credentials<S: Syscall>(sys: &S, p: &ProcessPlan) -> Result<(), Msg> {
    let caps = &p.caps;
    for cap in 0..=u32::from(p.last_cap) {
        if caps.bounding & (1u64 << cap) == 0 {
            match sys.prctl(PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0) {
                Ok(_) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(Msg::error(Step::Bounding, cap, e)),
            }
        }
    }
    // Keep the permitted set across the uid change; the exact sets are set
    // right after.
    sys.prctl(PR_SET_KEEPCAPS, 1, 0)
        .map_err(fail(Step::Capabilities, 0))?;
    sys.setgroups(&p.additional_gids)
        .map_err(fail(Step::Groups, 0))?;
    sys.setresgid(p.gid).map_err(fail(Step::Setgid, 0))?;
    sys.setresuid(p.uid).map_err(fail(Step::Setuid, 0))?;
    sys.prctl(PR_SET_KEEPCAPS, 0, 0)
        .map_err(fail(Step::Capabilities, 0))?;
    sys.capset(CapSets {
        effective: caps.effective,
        permitted: caps.permitted,
        inheritable: caps.inheritable,
    })
    .map_err(fail(Step::Capabilities, 1))?;
    let _ = sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
    for cap in 0..=u32::from(p.last_cap) {
        if caps.ambient & (1u64 << cap) != 0 {
            // The kernel raises an ambient capability only when it is both
            // permitted and inheritable (capabilities(7)) and refuses the
            // rest with EPERM. runc and crun run such a spec (runc's own
            // template lists ambient capabilities without inheritable
            // ones) and the process starts without them: so does berth.
            // Any other error is the runtime's.
            match sys.prctl(
                PR_CAP_AMBIENT,
                PR_CAP_AMBIENT_RAISE,
                libc::c_ulong::from(cap),
            ) {
                Ok(_) | Err(Errno::EPERM) => {}
                Err(e) => return Err(Msg::error(Step::Ambient, cap, e)),
            }
        }
    }
    Ok(())
}

/// Installs the filter; a listener fd goes to the runtime over `sync_fd`.
pub(super) fn load_seccomp<S: Syscall>(
    sys: &S,
    prog: Option<&SeccompProgram>,
    sync_fd: RawFd,
) -> Result<(), Msg> {
    let Some(prog) = prog else {
        return Ok(());
    };
    let fd = sys
        .seccomp_filter(prog.flags, &prog.filter)
        .map_err(fail(Step::Seccomp, 0))?;
    if prog.notify {
        sys.send_fd(sync_fd, fd, &Msg::new(Msg::SECCOMP_FD).to_bytes())
            .map_err(fail(Step::Seccomp, 1))?;
        let _ = sys.close(fd);
    }
    Ok(())
}
