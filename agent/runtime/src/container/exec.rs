//! `exec`: another process in a running container. It is cloned as a child
//! of the caller, joins every namespace of the container's init that
//! differs from the runtime's own (`setns(2)`; the pid namespace from a
//! short-lived thread), enters the container's cgroup, and then gets the
//! same treatment as the init: credentials, capabilities, no_new_privs,
//! the container's seccomp filter, closed fds, a checked cwd.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{ContainerState, LinuxNamespaceType, Process};

use super::channel::{forward_seccomp_fd, init_error, recv, send, sync_pair};
use super::prepare::{cgroup_task_files, console_socket, personality, write_pid_file};
use super::{Runtime, spawn_init};
use crate::cgroups::{CgroupManager, Manager};
use crate::child::{reap, wait_status};
use crate::config;
use crate::config::cstring;
use crate::error::{Error, Result};
use crate::namespaces::{self, JOIN_ORDER};
use crate::process::ProcessPlan;
use crate::process::console::ConsolePlan;
use crate::process::init::InitPlan;
use crate::process::sync::Msg;
use crate::seccomp;
use crate::state::Record;

/// Options of [`Runtime::exec`].
#[derive(Debug, Default)]
pub struct ExecOptions {
    pub pid_file: Option<PathBuf>,
    /// Receives the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// stdin, stdout, stderr of the new process (else the caller's).
    pub stdio: Option<[OwnedFd; 3]>,
    /// With `stdio`: stdin is a terminal to become the controlling tty.
    pub stdio_tty: bool,
    pub preserve_fds: u32,
    /// Exec even into a paused container (the process then waits, frozen,
    /// until it is resumed).
    pub ignore_paused: bool,
}

impl Runtime {
    /// Starts `process` inside running container `id`; answers its pid (a
    /// child of the caller).
    pub fn exec(&self, id: &str, process: &Process, mut opts: ExecOptions) -> Result<i32> {
        let rec = self.load(id)?;
        let status = rec.status(&self.root);
        if !matches!(status, ContainerState::Running | ContainerState::Created) {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: status.to_string(),
                action: "exec (the container is not running)",
            });
        }
        if !opts.ignore_paused && self.state(id)?.paused {
            return Err(Error::InvalidState {
                id: id.to_string(),
                status: "paused".into(),
                action: "exec (resume it first, or ignore_paused)",
            });
        }
        config::validate_process(process, "process")?;
        let mut pplan = exec_process_plan(process, &rec)?;
        pplan.add_default_home(Some(Path::new(&format!("/proc/{}/root", rec.pid))));
        let console = console_socket(
            pplan.terminal,
            opts.stdio.is_some() && opts.stdio_tty,
            opts.console_socket.as_ref(),
        )?;
        let join_fds = namespaces_to_join(rec.pid)?;
        let pidns = join_fds
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::Pid)
            .map(|(_, f)| f.as_raw_fd());

        let cgroup = Manager::new(&self.layout, &rec.cgroup_path)?;
        let (parent_sock, child_sock) = sync_pair()?;
        let plan = exec_plan(
            &rec,
            pplan,
            &join_fds,
            &cgroup,
            console.as_ref(),
            &opts,
            child_sock.as_raw_fd(),
        )?;
        let cgroup_fd = if cgroup.exists() {
            cgroup.clone_into_fd()?
        } else {
            None
        };
        let (pid, in_cgroup) =
            spawn_init(&plan, 0, cgroup_fd.as_ref().map(|f| f.as_raw_fd()), pidns)?;
        drop(child_sock);
        drop(console);
        opts.stdio.take();
        if let Some(mask) = &plan.process.affinity_initial {
            set_initial_affinity(pid, mask);
        }
        let mut reaped = false;
        let result = (|| {
            if cgroup.exists()
                && ((cgroup_fd.is_some() && !in_cgroup)
                    || (cgroup_fd.is_none() && plan.cgroup_tasks.is_empty()))
            {
                cgroup.add_task(pid)?;
            }
            if let Some(adj) = plan.process.oom_score_adj {
                let path = format!("/proc/{pid}/oom_score_adj");
                std::fs::write(&path, adj.to_string()).map_err(|e| Error::io("write", path, e))?;
            }
            wait_exec_ready(&parent_sock, &plan, &rec, pid, &mut reaped)
        })();
        if let Err(e) = result {
            if !reaped {
                reap(pid);
            }
            return Err(e);
        }
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(pid)
    }
}

/// The exec'd process's plan, with the container's seccomp filter and the
/// AppArmor profile it asks for.
fn exec_process_plan(process: &Process, rec: &Record) -> Result<ProcessPlan> {
    let mut pplan = ProcessPlan::new(process, "process")?;
    if let Some(s) = rec
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        pplan.seccomp = Some(seccomp::compile(s)?);
    }
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        pplan.apparmor = Some(cstring(
            format!("exec {profile}").as_bytes(),
            "process.apparmorProfile",
        )?);
    }
    Ok(pplan)
}

/// Every namespace of the init `pid` that is not the runtime's own.
fn namespaces_to_join(pid: i32) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    let mut join_fds = Vec::new();
    for t in JOIN_ORDER {
        let name = namespaces::proc_name(t);
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        match (namespaces::ns_inode(&theirs), namespaces::ns_inode(&ours)) {
            (Some(a), Some(b)) if a != b => {
                let f = File::open(&theirs).map_err(|e| Error::io("open", &theirs, e))?;
                join_fds.push((t, f.into()));
            }
            _ => {}
        }
    }
    Ok(join_fds)
}

/// The plan of an exec'd process: the container's namespaces and cgroup,
/// no rootfs, no hooks, no fifo.
fn exec_plan(
    rec: &Record,
    pplan: ProcessPlan,
    join_fds: &[(LinuxNamespaceType, OwnedFd)],
    cgroup: &Manager,
    console: Option<&OwnedFd>,
    opts: &ExecOptions,
    sync_fd: RawFd,
) -> Result<InitPlan> {
    let join: Vec<(RawFd, libc::c_int)> = join_fds
        .iter()
        .filter(|(t, _)| *t != LinuxNamespaceType::Pid)
        .map(|(t, f)| (f.as_raw_fd(), namespaces::clone_flag(*t)))
        .collect();
    let cgroup_tasks = if cgroup.exists() {
        cgroup_task_files(cgroup)?
    } else {
        Vec::new()
    };
    Ok(InitPlan {
        cgroup_tasks,
        sync_fd,
        join,
        userns_root: join_fds.iter().any(|(t, _)| *t == LinuxNamespaceType::User),
        unshare_cgroupns: false,
        hostname: None,
        domainname: None,
        rootfs: None,
        console: console.map(|c| ConsolePlan {
            socket: c.as_raw_fd(),
            console_rel: c"dev/console".to_owned(),
            console_prefixes: Vec::new(),
        }),
        stdio: opts
            .stdio
            .as_ref()
            .map(|s| [s[0].as_raw_fd(), s[1].as_raw_fd(), s[2].as_raw_fd()]),
        stdio_tty: opts.stdio_tty,
        sysctl: Vec::new(),
        process: pplan,
        fifo_dir: None,
        fifo: None,
        preserve_fds: opts.preserve_fds,
        runtime_hooks: false,
        create_container_hooks: Vec::new(),
        start_container_hooks: Vec::new(),
        // As runc: the container's personality holds for exec'd processes
        // too.
        personality: rec.config.linux().as_ref().and_then(personality),
        mempolicy: None,
        time_offsets: None,
    })
}

/// Lets the process go and serves it until it is ready; `reaped` tells
/// whether it died and was waited for.
fn wait_exec_ready(
    sock: &OwnedFd,
    plan: &InitPlan,
    rec: &Record,
    pid: i32,
    reaped: &mut bool,
) -> Result<()> {
    send(sock, Msg::new(Msg::GO))?;
    loop {
        match recv(sock)? {
            Some((m, _)) if m.kind == Msg::READY => return Ok(()),
            Some((m, fd)) if m.kind == Msg::SECCOMP_FD => {
                if let Some(s) = &plan.process.seccomp
                    && let Some(listener) = &s.listener_path
                {
                    let st = rec.to_state(ContainerState::Running, false);
                    forward_seccomp_fd(fd, listener, s.listener_metadata.as_deref(), &st)?;
                }
            }
            Some((m, _)) if m.kind == Msg::ERROR => {
                return Err(init_error(m, None, "process", plan));
            }
            Some((m, _)) => {
                return Err(Error::InitDied {
                    detail: format!(": unexpected message {}", m.kind),
                });
            }
            None => {
                *reaped = true;
                return Err(Error::InitDied {
                    detail: wait_status(pid),
                });
            }
        }
    }
}

/// Pins the new process to its initial CPUs (execCPUAffinity.initial) and
/// logs the mask it then has, as runc does.
fn set_initial_affinity(pid: i32, mask: &crate::process::CpuMask) {
    if let Err(e) = crate::process::sched::set_affinity(pid, mask) {
        tracing::warn!(pid, "set the initial CPU affinity: {e}");
        return;
    }
    if let Ok(now) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(pid)) {
        let low = (0..64).filter(|&c| now.is_set(c).unwrap_or(false));
        tracing::debug!("affinity: 0x{:x}", low.fold(0u64, |m, c| m | 1 << c));
    }
}
