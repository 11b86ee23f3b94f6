//! Starting the init: `clone3(2)` with the new namespaces (and, on cgroup
//! v2, `CLONE_INTO_CGROUP`, so the child is born in its cgroup), falling
//! back to `clone(2)` where clone3 is missing.
//!
//! The child is a child of the calling thread's process, with SIGCHLD as
//! its exit signal, so the caller can `waitpid` it: no double fork.

use std::os::fd::RawFd;

use crate::syscall::Errno;

/// `struct clone_args`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which process we are after [`clone`].
pub(crate) enum Forked {
    /// In the parent: the child's pid, and whether it already sits in the
    /// cgroup given.
    Parent { pid: i32, in_cgroup: bool },
    /// In the child.
    Child,
}

/// Clones with `flags` (`CLONE_NEW*`), into `cgroup_fd` when given.
///
/// # Safety
/// The child runs on a copy of the caller's stack and memory. The caller
/// must, in the child, only call functions that neither allocate nor take
/// locks another thread may hold, and must end it with `execve` or `_exit`.
pub(crate) unsafe fn clone(flags: libc::c_int, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        flags: u64::from(flags.cast_unsigned()),
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd).map_err(|_| Errno::EBADF)?;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; without
    // CLONE_VM the child gets its own copy of memory, as with fork.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        return Ok(Forked::Child);
    }
    if ret > 0 {
        return Ok(Forked::Parent {
            pid: pid_of(ret),
            in_cgroup: cgroup_fd.is_some(),
        });
    }
    let err = Errno::last();
    if !matches!(err, Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL)
        || (err == Errno::EINVAL && cgroup_fd.is_none())
    {
        return Err(err);
    }
    // Old kernel (no clone3, or no CLONE_INTO_CGROUP): plain clone; the
    // caller moves the child into its cgroup.
    // SAFETY: as above; a NULL stack means "the caller's stack, copied".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_ulong::from(flags.cast_unsigned()) | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        0 => Ok(Forked::Child),
        r if r > 0 => Ok(Forked::Parent {
            pid: pid_of(r),
            in_cgroup: false,
        }),
        _ => Err(Errno::last()),
    }
}

/// The pid a clone answered (a pid always fits `pid_t`: `pid_max` is at
/// most 2^22).
fn pid_of(ret: libc::c_long) -> libc::pid_t {
    libc::pid_t::try_from(ret).unwrap_or(libc::pid_t::MAX)
}
