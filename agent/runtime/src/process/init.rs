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

use super::ProcessPlan;
use super::console::{ConsolePlan, setup_console};
use super::credentials::{load_seccomp, set_credentials};
use super::sched;
use super::sync::{self, Msg, Step, fail, index_u32};
use crate::rootfs::{RootfsPlan, fd_path};
use crate::syscall::{Errno, Syscall};

/// A hook run by the init (createContainer, startContainer).
#[derive(Debug)]
pub(crate) struct HookPlan {
    pub path: CString,
    pub argv: super::CStringArray,
    pub envp: super::CStringArray,
    pub timeout: i64,
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

const PR_SET_NO_NEW_PRIVS: c_int = 38;
const PR_SET_DUMPABLE: c_int = 4;

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
    let _ = sys.write(2, fmt_u32(msg.c.unsigned_abs(), &mut buf));
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
    enter(sys, plan, scratch)?;
    let console_slave = filesystem(sys, plan, scratch)?;
    limits(sys, plan)?;
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
    check_cwd(sys, p)?;
    security_labels(sys, p)?;

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
        load_seccomp(sys, p.seccomp.as_ref(), plan.sync_fd)?;
        exe
    } else {
        let exe = find_executable(sys, p)?;
        load_seccomp(sys, p.seccomp.as_ref(), plan.sync_fd)?;
        set_credentials(sys, p)?;
        exe
    };
    sys.umask(p.umask);

    sync::send(sys, plan.sync_fd, Msg::new(Msg::READY)).map_err(fail(Step::Sync, 0))?;
    let _ = sys.close(plan.sync_fd);
    if let Some(dir) = plan.fifo_dir {
        wait_for_start(sys, plan, dir)?;
    }
    run_hooks(sys, &plan.start_container_hooks, scratch)?;
    if let Some(mask) = &p.affinity_final {
        sched::set_affinity(0, mask).map_err(fail(Step::Scheduler, 1))?;
    }
    sys.reset_signals();
    let err = match sys.execve(exe, p.argv.ptrs(), p.envp.ptrs()) {
        Err(e) => e,
        Ok(()) => Errno::EINVAL,
    };
    Err(Msg::error(Step::Exec, 0, err))
}

/// Into the container: cgroups, the runtime's go, stdio, namespaces,
/// session, hostname.
fn enter<S: Syscall>(sys: &S, plan: &InitPlan, scratch: &mut [u8]) -> Result<(), Msg> {
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
        for ((i, fd), target) in fds.iter().enumerate().zip(0..) {
            if *fd != target {
                sys.dup2(*fd, target).map_err(fail(Step::Stdio, i))?;
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
    Ok(())
}

/// Mounts, console, createRuntime and createContainer hooks, pivot_root,
/// sysctls, masked and read-only paths; answers the console's slave.
fn filesystem<S: Syscall>(sys: &S, plan: &InitPlan, scratch: &[u8]) -> Result<Option<RawFd>, Msg> {
    let p = &plan.process;
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
    Ok(console_slave)
}

/// rlimits, memory policy, personality, scheduler, I/O priority.
fn limits<S: Syscall>(sys: &S, plan: &InitPlan) -> Result<(), Msg> {
    let p = &plan.process;
    for (i, (res, soft, hard)) in p.rlimits.iter().enumerate() {
        sys.setrlimit(*res, *soft, *hard)
            .map_err(fail(Step::Rlimit, i))?;
    }
    if let Some((mode, mask)) = &plan.mempolicy {
        sched::set_mempolicy(*mode, mask).map_err(fail(Step::MemoryPolicy, 0))?;
    }
    if let Some(pers) = plan.personality {
        sys.personality(pers).map_err(fail(Step::Personality, 0))?;
    }
    if let Some(s) = &p.scheduler {
        sched::set_scheduler(s).map_err(fail(Step::Scheduler, 0))?;
    }
    if let Some(v) = p.io_priority {
        sched::set_io_priority(v).map_err(fail(Step::IoPriority, 0))?;
    }
    Ok(())
}

/// With every inherited fd closed, a cwd through /proc/self/fd can only
/// reach what is left, and getcwd shows whether it is outside the root
/// (CVE-2024-21626). Done before seccomp: the filter may trap getcwd.
fn check_cwd<S: Syscall>(sys: &S, p: &ProcessPlan) -> Result<(), Msg> {
    sys.chdir(&p.cwd).map_err(fail(Step::Chdir, 0))?;
    let mut cwd_buf = [0u8; 512];
    match sys.getcwd(&mut cwd_buf) {
        Ok(cwd) if cwd.first() == Some(&b'/') => Ok(()),
        Ok(_) => Err(Msg::error(Step::CwdOutsideRoot, 0, Errno::EPERM)),
        Err(Errno::ERANGE) => Ok(()),
        Err(e) => Err(Msg::error(Step::CwdOutsideRoot, 0, e)),
    }
}

/// The SELinux label and AppArmor profile the process gets at execve.
fn security_labels<S: Syscall>(sys: &S, p: &ProcessPlan) -> Result<(), Msg> {
    if let Some(label) = &p.selinux {
        write_file(sys, c"/proc/self/attr/exec", label.as_bytes())
            .map_err(fail(Step::Selinux, 0))?;
    }
    if let Some(profile) = &p.apparmor {
        let res = write_file(sys, c"/proc/self/attr/apparmor/exec", profile.as_bytes())
            .or_else(|_| write_file(sys, c"/proc/self/attr/exec", profile.as_bytes()));
        res.map_err(fail(Step::Apparmor, 0))?;
    }
    Ok(())
}

/// Blocks on the exec fifo (in the state directory `dir`) until `start`
/// opens it for reading.
fn wait_for_start<S: Syscall>(sys: &S, plan: &InitPlan, dir: RawFd) -> Result<(), Msg> {
    // A non-dumpable process cannot open its own /proc/self/fd once it
    // is no longer root; the process is the container's user by now.
    sys.prctl(PR_SET_DUMPABLE, 1, 0)
        .map_err(fail(Step::Fifo, 2))?;
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
    Ok(())
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
    for k in keep.iter().filter_map(|&k| u32::try_from(k).ok()) {
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
                index_u32(i),
                Errno::from_raw(code.max(1)),
            ));
        }
    }
    Ok(())
}
