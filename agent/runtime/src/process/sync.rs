//! The messages the runtime and a container's init exchange over their
//! socket pair (`SOCK_SEQPACKET`, one message per datagram). Fixed-size and
//! `Copy`, so the init can send them without allocating.

use std::fmt;
use std::os::fd::RawFd;

use crate::rootfs::{self, Failure};
use crate::syscall::{Errno, SysResult, Syscall};

/// A step of the init, named in errors.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Sync = 1,
    Setns,
    Unshare,
    Hostname,
    Domainname,
    RootPropagation,
    RootBind,
    OpenRoot,
    MountTarget,
    Mount,
    Remount,
    Propagation,
    Device,
    DevSymlink,
    Console,
    PivotRoot,
    Masked,
    Readonly,
    ReadonlyRoot,
    Sysctl,
    Rlimit,
    Setsid,
    Groups,
    Setgid,
    Setuid,
    Bounding,
    Capabilities,
    Ambient,
    NoNewPrivs,
    Seccomp,
    Personality,
    Chdir,
    CwdOutsideRoot,
    Executable,
    Fifo,
    Hook,
    Stdio,
    Apparmor,
    Selinux,
    Scheduler,
    IoPriority,
    Exec,
    NotDirectory,
    MemoryPolicy,
    CgroupJoin,
}

impl Step {
    fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        const ALL: [Step; 45] = [
            Sync,
            Setns,
            Unshare,
            Hostname,
            Domainname,
            RootPropagation,
            RootBind,
            OpenRoot,
            MountTarget,
            Mount,
            Remount,
            Propagation,
            Device,
            DevSymlink,
            Console,
            PivotRoot,
            Masked,
            Readonly,
            ReadonlyRoot,
            Sysctl,
            Rlimit,
            Setsid,
            Groups,
            Setgid,
            Setuid,
            Bounding,
            Capabilities,
            Ambient,
            NoNewPrivs,
            Seccomp,
            Personality,
            Chdir,
            CwdOutsideRoot,
            Executable,
            Fifo,
            Hook,
            Stdio,
            Apparmor,
            Selinux,
            Scheduler,
            IoPriority,
            Exec,
            NotDirectory,
            MemoryPolicy,
            CgroupJoin,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Step::*;
        f.write_str(match self {
            Sync => "wait for the runtime",
            Setns => "join namespace",
            Unshare => "unshare namespace",
            Hostname => "set hostname",
            Domainname => "set domainname",
            RootPropagation => "set root propagation",
            RootBind => "bind-mount the rootfs",
            OpenRoot => "open the rootfs",
            MountTarget => "create mount target",
            Mount => "mount",
            Remount => "remount",
            Propagation => "set mount propagation",
            Device => "create device",
            DevSymlink => "create /dev symlink",
            Console => "set up the console",
            PivotRoot => "pivot_root",
            Masked => "mask path",
            Readonly => "make path read-only",
            ReadonlyRoot => "make the rootfs read-only",
            Sysctl => "write sysctl",
            Rlimit => "set rlimit",
            Setsid => "setsid",
            Groups => "set additional groups",
            Setgid => "set gid",
            Setuid => "set uid",
            Bounding => "drop bounding capabilities",
            Capabilities => "set capabilities",
            Ambient => "raise ambient capabilities",
            NoNewPrivs => "set no_new_privs",
            Seccomp => "load seccomp filter",
            Personality => "set personality",
            Chdir => "chdir to process.cwd",
            CwdOutsideRoot => "process.cwd resolves outside the container",
            Executable => "find process.args[0]",
            Fifo => "wait on the exec fifo",
            Hook => "run hook",
            Stdio => "set up stdio",
            Apparmor => "set AppArmor profile",
            Selinux => "set SELinux label",
            Scheduler => "set scheduler",
            IoPriority => "set I/O priority",
            Exec => "execve",
            NotDirectory => "mount target must be mounted on ordinary directory, not a symlink",
            MemoryPolicy => "set memory policy",
            CgroupJoin => "join the container's cgroup",
        })
    }
}

impl Step {
    /// A step of the rootfs setup as the init reports it.
    pub(crate) fn from_rootfs(s: rootfs::Step) -> Step {
        use rootfs::Step as R;
        match s {
            R::RootPropagation => Step::RootPropagation,
            R::RootBind => Step::RootBind,
            R::OpenRoot => Step::OpenRoot,
            R::MountTarget => Step::MountTarget,
            R::Mount => Step::Mount,
            R::Remount => Step::Remount,
            R::Propagation => Step::Propagation,
            R::NotDirectory => Step::NotDirectory,
            R::Device => Step::Device,
            R::DevSymlink => Step::DevSymlink,
            R::PivotRoot => Step::PivotRoot,
            R::Masked => Step::Masked,
            R::Readonly => Step::Readonly,
            R::ReadonlyRoot => Step::ReadonlyRoot,
        }
    }

    /// The rootfs step this is, if it is one (to name its mount or path).
    pub(crate) fn to_rootfs(self) -> Option<rootfs::Step> {
        use rootfs::Step as R;
        Some(match self {
            Step::RootPropagation => R::RootPropagation,
            Step::RootBind => R::RootBind,
            Step::OpenRoot => R::OpenRoot,
            Step::MountTarget => R::MountTarget,
            Step::Mount => R::Mount,
            Step::Remount => R::Remount,
            Step::Propagation => R::Propagation,
            Step::NotDirectory => R::NotDirectory,
            Step::Device => R::Device,
            Step::DevSymlink => R::DevSymlink,
            Step::PivotRoot => R::PivotRoot,
            Step::Masked => R::Masked,
            Step::Readonly => R::Readonly,
            Step::ReadonlyRoot => R::ReadonlyRoot,
            _ => return None,
        })
    }
}

/// One message.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    pub kind: u32,
    /// Error: the [`Step`]; hook request: the stage.
    pub a: u32,
    /// Error: index of the mount, device, path... the step was working on.
    pub b: u32,
    /// Error: errno.
    pub c: i32,
}

impl Msg {
    /// Parent → init: go on (maps written, cgroup joined).
    pub const GO: u32 = 1;
    /// Init → parent: run the runtime-namespace hooks (prestart,
    /// createRuntime) now; init waits for [`Msg::GO`].
    pub const HOOKS: u32 = 2;
    /// Init → parent: ready, about to wait on the exec fifo (or exec).
    pub const READY: u32 = 3;
    /// Init → parent: a step failed.
    pub const ERROR: u32 = 4;
    /// Init → parent: the seccomp listener fd follows as SCM_RIGHTS.
    pub const SECCOMP_FD: u32 = 5;

    pub fn new(kind: u32) -> Msg {
        Msg {
            kind,
            a: 0,
            b: 0,
            c: 0,
        }
    }

    pub fn error(step: Step, index: u32, errno: Errno) -> Msg {
        Msg {
            kind: Msg::ERROR,
            a: step as u32,
            b: index,
            c: errno as i32,
        }
    }

    /// The step an error message names.
    pub fn step(&self) -> Option<Step> {
        Step::from_u32(self.a)
    }

    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.kind.to_ne_bytes());
        b[4..8].copy_from_slice(&self.a.to_ne_bytes());
        b[8..12].copy_from_slice(&self.b.to_ne_bytes());
        b[12..16].copy_from_slice(&self.c.to_ne_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8; 16]) -> Msg {
        let u = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Msg {
            kind: u(0),
            a: u(4),
            b: u(8),
            c: u(12).cast_signed(),
        }
    }
}

impl From<Failure> for Msg {
    fn from(f: Failure) -> Msg {
        Msg::error(Step::from_rootfs(f.step), f.index, f.errno)
    }
}

/// Turns an errno into the error message of `step` at `index`.
pub(crate) fn fail(step: Step, index: usize) -> impl Fn(Errno) -> Msg {
    move |e| Msg::error(step, index_u32(index), e)
}

/// A step's index on the wire (indexes are small: a saturated one is still
/// past every real entry).
pub(crate) fn index_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Sends one message.
pub fn send<S: Syscall + ?Sized>(sys: &S, fd: RawFd, msg: Msg) -> SysResult<()> {
    let bytes = msg.to_bytes();
    match sys.write(fd, &bytes)? {
        16 => Ok(()),
        _ => Err(Errno::EIO),
    }
}

/// Receives one message; `Ok(None)` when the peer closed its end.
pub fn recv<S: Syscall + ?Sized>(sys: &S, fd: RawFd) -> SysResult<Option<Msg>> {
    let mut buf = [0u8; 16];
    match sys.read(fd, &mut buf)? {
        0 => Ok(None),
        16 => Ok(Some(Msg::from_bytes(&buf))),
        _ => Err(Errno::EIO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = Msg::error(Step::Mount, 3, Errno::EPERM);
        assert_eq!(Msg::from_bytes(&m.to_bytes()), m);
        assert_eq!(m.step(), Some(Step::Mount));
        assert_eq!(
            Msg::error(Step::Exec, 0, Errno::ENOENT).step(),
            Some(Step::Exec)
        );
    }

    #[test]
    fn rootfs_failures_keep_their_step_and_index() {
        let m = Msg::from(Failure {
            step: rootfs::Step::Readonly,
            index: 2,
            errno: Errno::EROFS,
        });
        assert_eq!(m, Msg::error(Step::Readonly, 2, Errno::EROFS));
        assert_eq!(
            m.step().and_then(Step::to_rootfs),
            Some(rootfs::Step::Readonly)
        );
        assert_eq!(Step::Exec.to_rootfs(), None);
    }
}
