//! The system calls that change a process: mounts, namespaces, credentials,
//! capabilities, `execve`.
//!
//! The container's init runs between `clone3(2)` and `execve(2)` in a copy of
//! a possibly multi-threaded caller (the agent is a tokio program), so that
//! code must not allocate: another thread may have held the allocator's lock
//! at the moment of the clone. Every method here therefore takes borrowed C
//! strings and plain integers and returns a bare [`Errno`].
//!
//! The [`Syscall`] trait lets unit tests run the init's steps against a
//! recording fake ([`fake::Recorder`]); the real thing ([`Linux`]) is tested
//! for real, as root, in `tests/`.

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_int, c_ulong, gid_t, mode_t, uid_t};
pub use nix::errno::Errno;

mod linux;
pub use linux::Linux;

#[cfg(test)]
pub mod fake;

/// The result of one system call.
pub type SysResult<T> = std::result::Result<T, Errno>;

/// Capability sets for `capset(2)`, as 64-bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The system calls the container init and `exec` use.
///
/// Implementations must not allocate in any method.
pub trait Syscall {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()>;
    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult<()>;
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()>;
    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()>;
    fn unshare(&self, flags: c_int) -> SysResult<()>;
    fn sethostname(&self, name: &[u8]) -> SysResult<()>;
    fn setdomainname(&self, name: &[u8]) -> SysResult<()>;
    fn chdir(&self, path: &CStr) -> SysResult<()>;
    fn chroot(&self, path: &CStr) -> SysResult<()>;
    fn fchdir(&self, fd: RawFd) -> SysResult<()>;
    /// `openat2(2)` with `resolve` flags (e.g. `RESOLVE_IN_ROOT`).
    fn openat2(
        &self,
        dirfd: RawFd,
        path: &CStr,
        flags: c_int,
        mode: mode_t,
        resolve: u64,
    ) -> SysResult<RawFd>;
    fn openat(&self, dirfd: RawFd, path: &CStr, flags: c_int, mode: mode_t) -> SysResult<RawFd>;
    fn mkdirat(&self, dirfd: RawFd, path: &CStr, mode: mode_t) -> SysResult<()>;
    fn mknodat(&self, dirfd: RawFd, path: &CStr, mode: mode_t, dev: u64) -> SysResult<()>;
    fn symlinkat(&self, target: &CStr, dirfd: RawFd, path: &CStr) -> SysResult<()>;
    fn fchownat(
        &self,
        dirfd: RawFd,
        path: &CStr,
        uid: uid_t,
        gid: gid_t,
        flags: c_int,
    ) -> SysResult<()>;
    fn close(&self, fd: RawFd) -> SysResult<()>;
    /// Closes fds `first..=last`.
    fn close_range(&self, first: u32, last: u32) -> SysResult<()>;
    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult<()>;
    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize>;
    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize>;
    /// `fstatat(2)`'s `st_mode`.
    fn stat_mode(&self, dirfd: RawFd, path: &CStr, flags: c_int) -> SysResult<mode_t>;
    /// `statfs(2)`'s mount flags (`ST_RDONLY`, `ST_NOSUID`, ...).
    fn statfs_flags(&self, path: &CStr) -> SysResult<c_ulong>;
    /// The current directory as the kernel reports it (may start with
    /// `(unreachable)` when it lies outside the root).
    fn getcwd<'a>(&self, buf: &'a mut [u8]) -> SysResult<&'a [u8]>;
    fn setsid(&self) -> SysResult<()>;
    fn setgroups(&self, gids: &[gid_t]) -> SysResult<()>;
    fn setresgid(&self, gid: gid_t) -> SysResult<()>;
    fn setresuid(&self, uid: uid_t) -> SysResult<()>;
    fn umask(&self, mask: mode_t);
    fn prctl(&self, option: c_int, arg2: c_ulong, arg3: c_ulong) -> SysResult<c_int>;
    fn capset(&self, sets: CapSets) -> SysResult<()>;
    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()>;
    fn ioctl(&self, fd: RawFd, request: c_ulong, arg: c_ulong) -> SysResult<c_int>;
    fn personality(&self, persona: c_ulong) -> SysResult<()>;
    /// Installs a seccomp BPF program (`seccomp(SECCOMP_SET_MODE_FILTER)`);
    /// returns the listener fd when `flags` asks for one.
    fn seccomp_filter(&self, flags: c_ulong, program: &[libc::sock_filter]) -> SysResult<RawFd>;
    /// Resets every signal handler to the default and unblocks all signals.
    fn reset_signals(&self);
    /// Sends `fd` over the unix socket `sock` with `SCM_RIGHTS`.
    fn send_fd(&self, sock: RawFd, fd: RawFd, payload: &[u8]) -> SysResult<()>;
    fn execve(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> SysResult<()>;
    /// `faccessat(2)` with `X_OK`.
    fn executable(&self, path: &CStr) -> SysResult<()>;
    /// Waits for a child (a hook) and returns its wait status.
    fn fork_exec_wait(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
        stdin: &[u8],
        timeout_secs: i64,
    ) -> SysResult<c_int>;
    fn exit(&self, code: c_int) -> !;
}
