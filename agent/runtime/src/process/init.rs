//! The container's init: what runs in the cloned child until `execve(2)`.
//!
//! The order follows the OCI runtime spec (runtime.md "Lifecycle") and
//! runc: wait for the runtime (id maps, cgroup) → join namespaces →
//! hostname → mounts, devices, console → runtime hooks → pivot_root →
//! masked/read-only paths → sysctl, rlimits → close inherited fds →
//! credentials and capabilities → chdir (checked to stay inside the root,
//! CVE-2024-21626) → no_new_privs, seccomp → report ready → wait on the
//! exec fifo → execve.
//!
//! Nothing here allocates (see [`crate::syscall`]); errors travel to the
//! runtime as a fixed-size [`Msg`] naming the step, the index of the mount or
//! path, and the errno.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use libc::c_int;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use super::ProcessPlan;
use super::sync::{self, Msg, Step};
use crate::error::{Error, Result};
use crate::rootfs::{RootfsPlan, fd_path, open_or_create};
use crate::syscall::{CapSets, Errno, Syscall};

/// A hook run by the init (createContainer, startContainer).
#[derive(Debug)]
pub(crate) struct HookPlan {
    pub path: CString,
    pub argv: super::CStringArray,
    pub envp: super::CStringArray,
    pub timeout: i64,
}

/// The console: a pty made in the container's devpts, its master sent to
/// the caller's console socket, its slave bound on /dev/console.
#[derive(Debug)]
pub(crate) struct ConsolePlan {
    pub socket: RawFd,
    pub console_rel: CString,
    pub console_prefixes: Vec<(CString, CString)>,
}

/// Everything the init does, prepared by the runtime.
#[derive(Debug)]
pub(crate) struct InitPlan {
    /// The init's end of the socket pair.
    pub sync_fd: RawFd,
    /// v1 `tasks` files to write "0" to: the init moves itself into its
    /// cgroups (see `CgroupManager::self_join_files`).
    pub cgroup_tasks: Vec<CString>,
    /// Namespaces to join, in order (fd, CLONE_NEW* flag).
    pub join: Vec<(RawFd, c_int)>,
    pub unshare_cgroupns: bool,
    /// In a user namespace (new or joined): become its root first, so that
    /// files the init makes (mount targets, device nodes) get a mapped owner.
    pub userns_root: bool,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub rootfs: Option<RootfsPlan>,
    pub console: Option<ConsolePlan>,
    /// Use the given fds as 0, 1, 2.
    pub stdio: Option<[RawFd; 3]>,
    /// With `stdio`: fd 0 is a terminal to make the controlling tty.
    pub stdio_tty: bool,
    /// `/proc/sys/...` path and value.
    pub sysctl: Vec<(CString, CString)>,
    pub process: ProcessPlan,
    /// The state directory, holding `exec.fifo` (create only).
    pub fifo_dir: Option<RawFd>,
    /// An `O_PATH` fd of the exec fifo itself: reopened for writing through
    /// `/proc/self/fd`, which needs no search permission on the state
    /// directory (the process may no longer be root by then).
    pub fifo: Option<RawFd>,
    /// Keep fds 3..3+n open for the process (`--preserve-fds`).
    pub preserve_fds: u32,
    /// Ask the runtime to run prestart/createRuntime hooks before pivot_root.
    pub runtime_hooks: bool,
    pub create_container_hooks: Vec<HookPlan>,
    pub start_container_hooks: Vec<HookPlan>,
    /// `personality(2)` value.
    pub personality: Option<libc::c_ulong>,
    /// `set_mempolicy(2)`: mode with flags, and the node mask.
    pub mempolicy: Option<(c_int, Vec<u64>)>,
    /// Join the time namespace's offsets: `unshare(CLONE_NEWTIME)` then
    /// write them (the process enters it at execve).
    pub time_offsets: Option<CString>,
}

/// `sched_setattr(2)`'s argument, prepared.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct SchedPlan {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

impl SchedPlan {
    pub(crate) fn from_spec(s: &Scheduler, field: &str) -> Result<SchedPlan> {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
            LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
            LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
            LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
            LinuxSchedulerPolicy::SchedIso => {
                return Err(Error::config(
                    format!("{field}.scheduler.policy"),
                    "SCHED_ISO is not implemented by Linux",
                ));
            }
            LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        } as u32;
        let mut flags = 0u64;
        for f in s.flags().iter().flatten() {
            flags |= match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        Ok(SchedPlan {
            size: std::mem::size_of::<SchedPlan>() as u32,
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0).max(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        })
    }
}

/// `set_mempolicy(2)` arguments for `linux.memoryPolicy`.
pub(crate) fn mempolicy(mp: &oci_spec::runtime::LinuxMemoryPolicy) -> Result<(c_int, Vec<u64>)> {
    use oci_spec::runtime::{MemoryPolicyFlagType as F, MemoryPolicyModeType as M};
    /// Linux's MAX_NUMNODES is at most 1 << 10.
    const MAX_NODES: u64 = 1 << 10;
    let field = "linux.memoryPolicy";
    let mut mode = match mp.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for f in mp.flags().iter().flatten() {
        mode |= match f {
            F::MpolFNumaBalancing => 1 << 13,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFStaticNodes => 1 << 15,
        };
    }
    let mut mask: Vec<u64> = Vec::new();
    let nodes = mp.nodes().as_deref().unwrap_or("").trim();
    if !nodes.is_empty() {
        for part in nodes.split(',') {
            let bad = || {
                Error::config(
                    format!("{field}.nodes"),
                    format!("{nodes:?} is not a node list like 0-3,7"),
                )
            };
            let (a, b) = match part.trim().split_once('-') {
                Some((a, b)) => (
                    a.parse::<u64>().map_err(|_| bad())?,
                    b.parse::<u64>().map_err(|_| bad())?,
                ),
                None => {
                    let n = part.trim().parse::<u64>().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if a > b || b >= MAX_NODES {
                return Err(Error::config(
                    format!("{field}.nodes"),
                    format!("{part:?}: nodes go from 0 to {}", MAX_NODES - 1),
                ));
            }
            for n in a..=b {
                let word = (n / 64) as usize;
                if mask.len() <= word {
                    mask.resize(word + 1, 0);
                }
                mask[word] |= 1 << (n % 64);
            }
        }
    }
    Ok((mode, mask))
}

/// `ioprio_set(2)` value for the spec's ioPriority.
pub(crate) fn io_priority_value(io: &LinuxIOPriority, field: &str) -> Result<c_int> {
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&io.priority()) {
        return Err(Error::config(
            format!("{field}.ioPriority.priority"),
            format!("{} is outside 0..=7", io.priority()),
        ));
    }
    Ok((class << 13) | io.priority() as c_int)
}

const PR_SET_NO_NEW_PRIVS: c_int = 38;
const PR_SET_DUMPABLE: c_int = 4;
const PR_CAPBSET_DROP: c_int = 24;
const PR_SET_KEEPCAPS: c_int = 8;
const PR_CAP_AMBIENT: c_int = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;

/// Runs the init. Never returns: it either `execve`s or reports an error
/// and exits.
pub(crate) fn run<S: Syscall>(sys: &S, plan: &InitPlan, scratch: &mut [u8]) -> ! {
    match steps(sys, plan, scratch) {
        Ok(()) => sys.exit(0),
        Err(msg) => {
            // The runtime may be gone already (after READY); then stderr
            // is all that is left.
            if sync::send(sys, plan.sync_fd, msg).is_err() {
                report_to_stderr(sys, msg);
            }
            sys.exit(127)
        }
    }
}

fn report_to_stderr<S: Syscall>(sys: &S, msg: Msg) {
    let _ = sys.write(2, b"berth-runtime: container init failed at step ");
    let mut buf = [0u8; 24];
    let _ = sys.write(2, fmt_u32(msg.a, &mut buf));
    let _ = sys.write(2, b", errno ");
    let _ = sys.write(2, fmt_u32(msg.c as u32, &mut buf));
    let _ = sys.write(2, b"\n");
}

fn fmt_u32(mut n: u32, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

fn fail(step: Step, index: usize) -> impl Fn(Errno) -> Msg {
    move |e| Msg::error(step, index as u32, e)
}

fn wait_go<S: Syscall>(sys: &S, fd: RawFd) -> Result<(), Msg> {
    match sync::recv(sys, fd) {
        Ok(Some(m)) if m.kind == Msg::GO => Ok(()),
        Ok(_) => Err(Msg::error(Step::Sync, 0, Errno::EPIPE)),
        Err(e) => Err(Msg::error(Step::Sync, 0, e)),
    }
}

fn write_file<S: Syscall>(sys: &S, path: &CStr, value: &[u8]) -> Result<(), Errno> {
    let fd = sys.openat(libc::AT_FDCWD, path, libc::O_WRONLY | libc::O_CLOEXEC, 0)?;
    let res = sys.write(fd, value);
    let _ = sys.close(fd);
    res.map(drop)
}

fn steps<S: Syscall>(sys: &S, plan: &InitPlan, scratch: &mut [u8]) -> Result<(), Msg> {
    let p = &plan.process;
    // Until execve this process is a copy of the runtime: keep container
    // processes away from its /proc files (CVE-2019-5736, see crate::sealed).
    sys.prctl(PR_SET_DUMPABLE, 0, 0)
        .map_err(fail(Step::Sync, 2))?;
    // First of all, and while still host root: into the cgroups.
    for (i, tasks) in plan.cgroup_tasks.iter().enumerate() {
        write_file(sys, tasks, b"0").map_err(fail(Step::CgroupJoin, i))?;
    }
    wait_go(sys, plan.sync_fd)?;
    if !plan.create_container_hooks.is_empty() || !plan.start_container_hooks.is_empty() {
        // The state JSON for the hooks, NUL-terminated in the zeroed buffer.
        let cap = scratch.len().saturating_sub(1);
        sys.read(plan.sync_fd, &mut scratch[..cap])
            .map_err(fail(Step::Sync, 1))?;
    }

    if let Some(fds) = plan.stdio {
        for (i, fd) in fds.iter().enumerate() {
            if *fd != i as RawFd {
                sys.dup2(*fd, i as RawFd).map_err(fail(Step::Stdio, i))?;
            }
        }
    }
    for (i, (fd, nstype)) in plan.join.iter().enumerate() {
        sys.setns(*fd, *nstype).map_err(fail(Step::Setns, i))?;
        let _ = sys.close(*fd);
    }
    // While still the owner of /proc/self (before becoming the user
    // namespace's root): the offsets are written through it.
    if let Some(offsets) = &plan.time_offsets {
        sys.unshare(libc::CLONE_NEWTIME)
            .map_err(fail(Step::Unshare, 1))?;
        write_file(sys, c"/proc/self/timens_offsets", offsets.as_bytes())
            .map_err(fail(Step::Unshare, 1))?;
    }
    if plan.userns_root {
        sys.setresgid(0).map_err(fail(Step::Setgid, 1))?;
        sys.setresuid(0).map_err(fail(Step::Setuid, 1))?;
    }
    if plan.unshare_cgroupns {
        sys.unshare(libc::CLONE_NEWCGROUP)
            .map_err(fail(Step::Unshare, 0))?;
    }
    sys.setsid().map_err(fail(Step::Setsid, 0))?;
    if let Some(h) = &plan.hostname {
        sys.sethostname(h.as_bytes())
            .map_err(fail(Step::Hostname, 0))?;
    }
    if let Some(d) = &plan.domainname {
        sys.setdomainname(d.as_bytes())
            .map_err(fail(Step::Domainname, 0))?;
    }
    // Device nodes and mount targets get exactly the modes asked for.
    sys.umask(0);

    let mut console_slave: Option<RawFd> = None;
    if let Some(rootfs) = &plan.rootfs {
        let rootfd = rootfs.mount_all(sys)?;
        if let Some(c) = &plan.console {
            console_slave = Some(setup_console(sys, rootfd, c, p.console_size)?);
        }
        if plan.runtime_hooks {
            sync::send(sys, plan.sync_fd, Msg::new(Msg::HOOKS)).map_err(fail(Step::Sync, 0))?;
            wait_go(sys, plan.sync_fd)?;
        }
        run_hooks(sys, &plan.create_container_hooks, scratch)?;
        rootfs.pivot(sys, rootfd)?;
    } else if let Some(c) = &plan.console {
        console_slave = Some(setup_console(sys, libc::AT_FDCWD, c, p.console_size)?);
    }

    // Before the read-only paths: /proc/sys is usually one of them.
    for (i, (path, value)) in plan.sysctl.iter().enumerate() {
        write_file(sys, path, value.as_bytes()).map_err(fail(Step::Sysctl, i))?;
    }
    if let Some(rootfs) = &plan.rootfs {
        rootfs.finish(sys)?;
    }
    for (i, (res, soft, hard)) in p.rlimits.iter().enumerate() {
        sys.setrlimit(*res, *soft, *hard)
            .map_err(fail(Step::Rlimit, i))?;
    }
    if let Some((mode, mask)) = &plan.mempolicy {
        let ptr = if mask.is_empty() {
            std::ptr::null()
        } else {
            mask.as_ptr()
        };
        // SAFETY: `mask` outlives the call and holds `len * 64` bits.
        let ret =
            unsafe { libc::syscall(libc::SYS_set_mempolicy, *mode, ptr, mask.len() as u64 * 64) };
        if ret < 0 {
            return Err(Msg::error(Step::MemoryPolicy, 0, Errno::last()));
        }
    }
    if let Some(pers) = plan.personality {
        sys.personality(pers).map_err(fail(Step::Personality, 0))?;
    }
    if let Some(s) = &p.scheduler {
        // SAFETY: `s` is a complete sched_attr whose size field is set.
        let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, s as *const SchedPlan, 0) };
        if ret < 0 {
            return Err(Msg::error(Step::Scheduler, 0, Errno::last()));
        }
    }
    if let Some(v) = p.io_priority {
        // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, self, value) takes integers.
        let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, v) };
        if ret < 0 {
            return Err(Msg::error(Step::IoPriority, 0, Errno::last()));
        }
    }

    if let Some(slave) = console_slave {
        for i in 0..3 {
            sys.dup2(slave, i).map_err(fail(Step::Console, 1))?;
        }
        sys.ioctl(0, libc::TIOCSCTTY as libc::c_ulong, 0)
            .map_err(fail(Step::Console, 2))?;
    } else if plan.stdio_tty {
        sys.ioctl(0, libc::TIOCSCTTY as libc::c_ulong, 0)
            .map_err(fail(Step::Console, 2))?;
    }

    close_inherited_fds(sys, plan, console_slave)?;

    // With every inherited fd closed, a cwd through /proc/self/fd can only
    // reach what is left, and getcwd shows whether it is outside the root
    // (CVE-2024-21626). Done before seccomp: the filter may trap getcwd.
    sys.chdir(&p.cwd).map_err(fail(Step::Chdir, 0))?;
    let mut cwd_buf = [0u8; 512];
    match sys.getcwd(&mut cwd_buf) {
        Ok(cwd) if cwd.first() == Some(&b'/') => {}
        Ok(_) => return Err(Msg::error(Step::CwdOutsideRoot, 0, Errno::EPERM)),
        Err(Errno::ERANGE) => {}
        Err(e) => return Err(Msg::error(Step::CwdOutsideRoot, 0, e)),
    }

    if let Some(label) = &p.selinux {
        write_file(sys, c"/proc/self/attr/exec", label.as_bytes())
            .map_err(fail(Step::Selinux, 0))?;
    }
    if let Some(profile) = &p.apparmor {
        let res = write_file(sys, c"/proc/self/attr/apparmor/exec", profile.as_bytes())
            .or_else(|_| write_file(sys, c"/proc/self/attr/exec", profile.as_bytes()));
        res.map_err(fail(Step::Apparmor, 0))?;
    }

    // The program is looked up before any seccomp filter exists (a profile
    // may refuse faccessat), as the process's own user when no_new_privs
    // lets the filter wait until after the switch.
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
    // while the init still has it (the filter must then allow the few
    // calls that follow, as with runc).
    let exe = if p.no_new_privs {
        set_credentials(sys, p)?;
        sys.prctl(PR_SET_NO_NEW_PRIVS, 1, 0)
            .map_err(fail(Step::NoNewPrivs, 0))?;
        let exe = find_executable(sys, p)?;
        load_seccomp(sys, plan)?;
        exe
    } else {
        let exe = find_executable(sys, p)?;
        load_seccomp(sys, plan)?;
        set_credentials(sys, p)?;
        exe
    };
    sys.umask(p.umask);

    sync::send(sys, plan.sync_fd, Msg::new(Msg::READY)).map_err(fail(Step::Sync, 0))?;
    let _ = sys.close(plan.sync_fd);

    if let Some(dir) = plan.fifo_dir {
        // A non-dumpable process cannot open its own /proc/self/fd once it
        // is no longer root; the process is the container's user by now.
        sys.prctl(PR_SET_DUMPABLE, 1, 0)
            .map_err(fail(Step::Fifo, 2))?;
        // Blocks until `start` opens the fifo for reading.
        let mut buf = [0u8; 32];
        let via_proc = match plan.fifo {
            Some(f) => sys.openat(
                libc::AT_FDCWD,
                fd_path(f, &mut buf),
                libc::O_WRONLY | libc::O_CLOEXEC,
                0,
            ),
            None => Err(Errno::ENOENT),
        };
        let fd = match via_proc {
            Ok(fd) => fd,
            // No /proc in the container: through the directory.
            Err(Errno::ENOENT) => sys
                .openat(dir, c"exec.fifo", libc::O_WRONLY | libc::O_CLOEXEC, 0)
                .map_err(fail(Step::Fifo, 0))?,
            Err(e) => return Err(Msg::error(Step::Fifo, 0, e)),
        };
        sys.write(fd, b"0").map_err(fail(Step::Fifo, 1))?;
        let _ = sys.close(fd);
        let _ = sys.close(dir);
        if let Some(f) = plan.fifo {
            let _ = sys.close(f);
        }
    }
    run_hooks(sys, &plan.start_container_hooks, scratch)?;

    if let Some(mask) = &p.affinity_final {
        // SAFETY: `mask` is 1024 bits, the size passed; pid 0 is this process.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sched_setaffinity,
                0,
                std::mem::size_of_val(mask),
                mask.as_ptr(),
            )
        };
        if ret < 0 {
            return Err(Msg::error(Step::Scheduler, 1, Errno::last()));
        }
    }
    sys.reset_signals();
    let err = match sys.execve(exe, p.argv.ptrs(), p.envp.ptrs()) {
        Err(e) => e,
        Ok(()) => Errno::EINVAL,
    };
    Err(Msg::error(Step::Exec, 0, err))
}

/// Makes the pty, binds its slave on /dev/console, sends the master to the
/// console socket; answers the slave.
fn setup_console<S: Syscall>(
    sys: &S,
    rootfd: RawFd,
    c: &ConsolePlan,
    size: Option<(u16, u16)>,
) -> Result<RawFd, Msg> {
    let resolve = if rootfd == libc::AT_FDCWD {
        0
    } else {
        libc::RESOLVE_IN_ROOT
    };
    let master = sys
        .openat2(
            rootfd,
            c"dev/pts/ptmx",
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            0,
            resolve,
        )
        .or_else(|_| {
            sys.openat2(
                rootfd,
                c"dev/ptmx",
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                0,
                resolve,
            )
        })
        .map_err(fail(Step::Console, 0))?;
    let unlock: c_int = 0;
    sys.ioctl(
        master,
        libc::TIOCSPTLCK as libc::c_ulong,
        &unlock as *const c_int as libc::c_ulong,
    )
    .map_err(fail(Step::Console, 3))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys.ioctl(
            master,
            libc::TIOCSWINSZ as libc::c_ulong,
            &ws as *const libc::winsize as libc::c_ulong,
        )
        .map_err(fail(Step::Console, 4))?;
    }
    let slave = sys
        .ioctl(
            master,
            libc::TIOCGPTPEER as libc::c_ulong,
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as libc::c_ulong,
        )
        .map_err(fail(Step::Console, 5))?;
    if rootfd != libc::AT_FDCWD {
        let target = open_or_create(sys, rootfd, &c.console_rel, &c.console_prefixes, true)
            .map_err(fail(Step::Console, 6))?;
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let res = sys.mount(
            Some(fd_path(slave, &mut a)),
            fd_path(target, &mut b),
            None,
            libc::MS_BIND,
            None,
        );
        let _ = sys.close(target);
        res.map_err(fail(Step::Console, 7))?;
    }
    sys.send_fd(c.socket, master, b"/dev/ptmx")
        .map_err(fail(Step::Console, 8))?;
    let _ = sys.close(master);
    let _ = sys.close(c.socket);
    Ok(slave)
}

/// Closes every fd ≥ 3 except the ones the init still needs (all of them
/// close-on-exec) and the preserved ones.
fn close_inherited_fds<S: Syscall>(
    sys: &S,
    plan: &InitPlan,
    console: Option<RawFd>,
) -> Result<(), Msg> {
    let mut keep = [-1 as RawFd; 4];
    keep[0] = plan.sync_fd;
    keep[1] = plan.fifo_dir.unwrap_or(-1);
    keep[2] = console.unwrap_or(-1);
    keep[3] = plan.fifo.unwrap_or(-1);
    keep.sort_unstable();
    let mut first: u32 = 3 + plan.preserve_fds;
    for &k in keep.iter().filter(|&&k| k >= 0) {
        let k = k as u32;
        if k < first {
            continue;
        }
        if k > first {
            sys.close_range(first, k - 1)
                .map_err(fail(Step::Stdio, 3))?;
        }
        first = k + 1;
    }
    sys.close_range(first, u32::MAX)
        .map_err(fail(Step::Stdio, 3))?;
    if let Some(c) = console
        && c > 2
    {
        // The slave is dup'ed onto 0-2 already.
        let _ = sys.close(c);
    }
    Ok(())
}

fn set_credentials<S: Syscall>(sys: &S, p: &ProcessPlan) -> Result<(), Msg> {
    if let Some(caps) = &p.caps {
        for cap in 0..=u32::from(p.last_cap) {
            if caps.bounding & (1u64 << cap) == 0 {
                match sys.prctl(PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                    Ok(_) | Err(Errno::EINVAL) => {}
                    Err(e) => return Err(Msg::error(Step::Bounding, cap, e)),
                }
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
    if let Some(caps) = &p.caps {
        sys.capset(CapSets {
            effective: caps.effective,
            permitted: caps.permitted,
            inheritable: caps.inheritable,
        })
        .map_err(fail(Step::Capabilities, 1))?;
        let _ = sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
        for cap in 0..=u32::from(p.last_cap) {
            if caps.ambient & (1u64 << cap) != 0 {
                sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap as libc::c_ulong)
                    .map_err(fail(Step::Ambient, cap as usize))?;
            }
        }
    }
    Ok(())
}

fn load_seccomp<S: Syscall>(sys: &S, plan: &InitPlan) -> Result<(), Msg> {
    let Some(prog) = &plan.process.seccomp else {
        return Ok(());
    };
    let fd = sys
        .seccomp_filter(prog.flags, &prog.filter)
        .map_err(fail(Step::Seccomp, 0))?;
    if prog.notify {
        sys.send_fd(plan.sync_fd, fd, &Msg::new(Msg::SECCOMP_FD).to_bytes())
            .map_err(fail(Step::Seccomp, 1))?;
        let _ = sys.close(fd);
    }
    Ok(())
}

fn find_executable<'a, S: Syscall>(sys: &S, p: &'a ProcessPlan) -> Result<&'a CStr, Msg> {
    let mut last = Errno::ENOENT;
    for c in &p.exe_candidates {
        match sys.executable(c) {
            Ok(()) => {
                // A directory passes X_OK; execve would fail on it.
                match sys.stat_mode(libc::AT_FDCWD, c, 0) {
                    Ok(m) if m & libc::S_IFMT == libc::S_IFDIR => last = Errno::EACCES,
                    _ => return Ok(c),
                }
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            Err(e) => last = e,
        }
    }
    Err(Msg::error(Step::Executable, 0, last))
}

/// Runs hooks in the init's namespaces; the state JSON comes from the
/// runtime over the socket (it knows the pid only after the clone).
fn run_hooks<S: Syscall>(sys: &S, hooks: &[HookPlan], scratch: &[u8]) -> Result<(), Msg> {
    if hooks.is_empty() {
        return Ok(());
    }
    let len = scratch
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(scratch.len());
    for (i, h) in hooks.iter().enumerate() {
        let status = sys
            .fork_exec_wait(
                &h.path,
                h.argv.ptrs(),
                h.envp.ptrs(),
                &scratch[..len],
                h.timeout,
            )
            .map_err(fail(Step::Hook, i))?;
        if status != 0 {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            return Err(Msg::error(
                Step::Hook,
                i as u32,
                Errno::from_raw(code.max(1)),
            ));
        }
    }
    Ok(())
}
