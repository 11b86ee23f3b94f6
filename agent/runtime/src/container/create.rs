//! `create`: validate config.json, make the cgroup, clone the init with its
//! namespaces, let it build the rootfs, and leave it blocked on the exec
//! fifo. Any failure removes everything made so far: init, cgroup, state.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType, LinuxPersonalityDomain, Spec};

use super::{Runtime, recv, send, send_fd, spawn_init, sync_pair};
use crate::cgroups::{self, CgroupManager, Manager};
use crate::child::{reap, wait_status};
use crate::config;
use crate::config::cstring;
use crate::error::{Error, Result};
use crate::hooks;
use crate::namespaces::{self, NamespacePlan};
use crate::process::console::ConsolePlan;
use crate::process::init::{HookPlan, InitPlan};
use crate::process::sync::{Msg, Step};
use crate::process::{CStringArray, ProcessPlan};
use crate::rootfs::{RootfsInput, RootfsPlan};
use crate::seccomp;
use crate::state::{EXEC_FIFO, Record, State, proc_start_time, validate_id};

/// Options of [`Runtime::create`].
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Write the init's pid here.
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the pty master when `process.terminal`
    /// is true (runc's `--console-socket` protocol).
    pub console_socket: Option<PathBuf>,
    /// Give the init these as stdin, stdout, stderr (else it inherits the
    /// caller's 0, 1, 2). Must not be fds 0-2 themselves.
    pub stdio: Option<[OwnedFd; 3]>,
    /// With `stdio`: stdin is a terminal (e.g. a pty slave the caller
    /// made), to become the controlling terminal; no console socket needed.
    pub stdio_tty: bool,
    /// Pass fds 3..3+n of the caller on to the container.
    pub preserve_fds: u32,
    /// Move the rootfs over `/` and chroot instead of pivot_root (for a
    /// ramfs root; weaker, see [`crate::rootfs`]).
    pub no_pivot: bool,
    /// Use this spec instead of reading `bundle/config.json`.
    pub spec: Option<Spec>,
}

/// Removes what a failed create made.
struct Cleanup<'a> {
    dir: &'a Path,
    cgroup: Option<Manager>,
    pid: Option<i32>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            reap(pid);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        let _ = fs::remove_dir_all(self.dir);
    }
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = cstring(path.as_os_str().as_bytes(), "state dir")?;
    // SAFETY: valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o622) } < 0 {
        return Err(Error::io("mkfifo", path, std::io::Error::last_os_error()));
    }
    // Writable by the container's user whatever the umask: the init opens
    // it after switching to that user.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o622))
        .map_err(|e| Error::io("chmod", path, e))
}

fn open_path_dir(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    Ok(f.into())
}

fn open_path(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    Ok(f.into())
}

/// Writes a pid file atomically.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
}

/// The hooks a create runs in the container, as init plans.
/// A startContainer hook without `env` runs with the process's environment
/// (it runs in the container, just before the process); `inherit` is that.
fn hook_plans(
    hooks: &[oci_spec::runtime::Hook],
    stage: &str,
    inherit: Option<&[String]>,
) -> Result<Vec<HookPlan>> {
    hooks
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let field = format!("hooks.{stage}[{i}]");
            let path = cstring(h.path().as_os_str().as_bytes(), &format!("{field}.path"))?;
            let args = match h.args().as_deref().filter(|a| !a.is_empty()) {
                Some(a) => a
                    .iter()
                    .map(|s| cstring(s.as_bytes(), &format!("{field}.args")))
                    .collect::<Result<Vec<_>>>()?,
                None => vec![path.clone()],
            };
            let env = match (h.env().as_deref(), inherit) {
                (Some(e), _) => e,
                (None, Some(e)) => e,
                (None, None) => &[],
            };
            let env = env
                .iter()
                .map(|s| cstring(s.as_bytes(), &format!("{field}.env")))
                .collect::<Result<Vec<_>>>()?;
            Ok(HookPlan {
                path,
                argv: CStringArray::new(args),
                envp: CStringArray::new(env),
                timeout: h.timeout().unwrap_or(0),
            })
        })
        .collect()
}

/// The v1 `tasks` files an init writes itself into, as C strings.
pub(crate) fn cgroup_task_files(cgroup: &Manager) -> Result<Vec<CString>> {
    cgroup
        .self_join_files()
        .iter()
        .map(|p| cstring(p.as_os_str().as_bytes(), "linux.cgroupsPath"))
        .collect()
}

/// `personality(2)` value for `linux.personality`.
pub(crate) fn personality(linux: &oci_spec::runtime::Linux) -> Option<libc::c_ulong> {
    linux.personality().as_ref().map(|p| match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

/// Whether the host runs AppArmor.
fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// Whether the host runs SELinux.
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Turns an init error message into an [`Error`].
pub(crate) fn init_error(
    msg: Msg,
    rootfs: Option<&RootfsPlan>,
    process_field: &str,
    plan: &InitPlan,
) -> Error {
    let errno = crate::syscall::Errno::from_raw(msg.c);
    let Some(step) = msg.step() else {
        return Error::Init {
            step: format!("unknown step {}", msg.a),
            err: errno,
        };
    };
    let mut what = step.to_string();
    let detail = match step {
        Step::Executable => plan.process.argv.strings().first().map(|a| {
            format!(
                " {} ({process_field}.args[0]; not found in the container or not executable)",
                a.to_string_lossy()
            )
        }),
        Step::Chdir | Step::CwdOutsideRoot => Some(format!(
            " {} ({process_field}.cwd)",
            plan.process.cwd.to_string_lossy()
        )),
        Step::Hook => Some(format!(" #{}", msg.b)),
        Step::Sysctl => plan
            .sysctl
            .get(msg.b as usize)
            .map(|(p, _)| format!(" {}", p.to_string_lossy())),
        Step::Rlimit => Some(format!(" {process_field}.rlimits[{}]", msg.b)),
        Step::PivotRoot if errno == crate::syscall::Errno::EINVAL => {
            Some(" (the root is not a mount point pivot_root can leave, e.g. an initramfs: use --no-pivot)".to_string())
        }
        _ => step
            .to_rootfs()
            .zip(rootfs)
            .map(|(s, r)| r.describe(s, msg.b))
            .filter(|d| !d.is_empty())
            .map(|d| format!(" {d}")),
    };
    if let Some(d) = detail {
        what.push_str(&d);
    }
    if step == Step::Hook {
        return Error::Init {
            step: format!("{what}: exited with status {}", msg.c),
            err: errno,
        };
    }
    Error::Init {
        step: what,
        err: errno,
    }
}

/// Sends the seccomp listener fd to the spec's listener socket, with the
/// container state, as config-linux.md "Seccomp" describes.
pub(crate) fn forward_seccomp_fd(
    fd: Option<OwnedFd>,
    listener: &Path,
    metadata: Option<&str>,
    state: &State,
) -> Result<()> {
    let fd = fd.ok_or_else(|| Error::Seccomp("the init sent no listener fd".into()))?;
    let stream = UnixStream::connect(listener).map_err(|e| {
        Error::Seccomp(format!(
            "connect to the listener {}: {e}",
            listener.display()
        ))
    })?;
    let payload = serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "fds": ["seccompFd"],
        "pid": state.pid(),
        "metadata": metadata.unwrap_or(""),
        "state": state.oci,
    });
    let bytes = serde_json::to_vec(&payload).map_err(|e| Error::Seccomp(e.to_string()))?;
    send_fd(&OwnedFd::from(stream), fd.as_raw_fd(), &bytes)
}

impl Runtime {
    /// Creates container `id` from the bundle at `bundle` and leaves its
    /// init waiting for [`Runtime::start`]. The init is a child of the
    /// calling process (wait for it with `waitpid`).
    pub fn create(&self, id: &str, bundle: &Path, mut opts: CreateOptions) -> Result<State> {
        validate_id(id)?;
        let bundle = fs::canonicalize(bundle).map_err(|e| Error::io("open bundle", bundle, e))?;
        let spec = match opts.spec.take() {
            Some(s) => s,
            None => config::load(&bundle)?,
        };
        config::validate(&spec, &bundle)?;
        let dir = Record::dir(&self.root, id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists(id.to_string()));
            }
            Err(e) => return Err(Error::io("create", &dir, e)),
        }
        let mut cleanup = Cleanup {
            dir: &dir,
            cgroup: None,
            pid: None,
            armed: true,
        };
        let state = self.create_in(id, &bundle, &dir, spec, opts, &mut cleanup)?;
        cleanup.armed = false;
        Ok(state)
    }

    fn create_in(
        &self,
        id: &str,
        bundle: &Path,
        dir: &Path,
        spec: Spec,
        opts: CreateOptions,
        cleanup: &mut Cleanup<'_>,
    ) -> Result<State> {
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| Error::config("linux", "missing"))?;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::config("process", "missing"))?;
        let rootfs = fs::canonicalize(config::rootfs_path(&spec, bundle)?)
            .map_err(|e| Error::config("root.path", e.to_string()))?;
        let ns = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
        let userns = ns.has(LinuxNamespaceType::User);

        // The process plan first: it rejects bad input before anything is made.
        let mut pplan = ProcessPlan::new(process, "process")?;
        // execCPUAffinity is for exec'd processes, not the init.
        pplan.affinity_initial = None;
        pplan.affinity_final = None;
        if let Some(s) = linux.seccomp() {
            pplan.seccomp = Some(seccomp::compile(s)?);
        }
        if let Some(profile) = process
            .apparmor_profile()
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            if !apparmor_enabled() {
                return Err(Error::config(
                    "process.apparmorProfile",
                    format!("{profile:?} asked for, but AppArmor is not enabled on this host"),
                ));
            }
            pplan.apparmor = Some(cstring(
                format!("exec {profile}").as_bytes(),
                "process.apparmorProfile",
            )?);
        }
        if !selinux_enabled() {
            pplan.selinux = None;
        }
        let console = if pplan.terminal && !(opts.stdio.is_some() && opts.stdio_tty) {
            let path = opts.console_socket.as_ref().ok_or_else(|| {
                Error::config(
                    "process.terminal",
                    "a terminal needs a console socket (--console-socket)",
                )
            })?;
            let stream = UnixStream::connect(path)
                .map_err(|e| Error::io("connect to console socket", path, e))?;
            Some(OwnedFd::from(stream))
        } else {
            None
        };

        mkfifo(&dir.join(EXEC_FIFO))?;
        let cgroup_path =
            cgroups::resolve_path_under(&self.cgroup_parent, linux.cgroups_path().as_deref(), id)?;
        let cgroup = Manager::new(&self.layout, &cgroup_path)?;
        cgroup.create()?;
        cleanup.cgroup = Some(cgroup.clone());
        if let Some(r) = linux.resources() {
            cgroup.apply(r)?;
        }
        let cgroup_dirs = match &cgroup {
            Manager::V1(v1) => self
                .layout
                .v1
                .iter()
                .filter_map(|h| {
                    let c = h.controllers.first()?;
                    Some((h.controllers.join(","), v1.dir(c)?.to_path_buf()))
                })
                .collect(),
            Manager::V2(v2) => vec![(String::new(), v2.dir().to_path_buf())],
        };
        let rootfs_plan = RootfsPlan::new(&RootfsInput {
            bundle,
            rootfs: &rootfs,
            mounts: spec.mounts().as_deref().unwrap_or(&[]),
            devices: linux.devices().as_deref().unwrap_or(&[]),
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            propagation: linux.rootfs_propagation().as_deref(),
            masked_paths: linux.masked_paths().as_deref().unwrap_or(&[]),
            readonly_paths: linux.readonly_paths().as_deref().unwrap_or(&[]),
            no_pivot: opts.no_pivot,
            userns,
            host_mntns: !ns.has(LinuxNamespaceType::Mount),
            new_cgroupns: ns.new_cgroupns,
            cgroup_dirs,
            uid_maps: linux.uid_mappings().as_deref().unwrap_or(&[]),
            gid_maps: linux.gid_mappings().as_deref().unwrap_or(&[]),
        })?;
        let sysctl = linux
            .sysctl()
            .iter()
            .flatten()
            .map(|(k, v)| {
                let field = format!("linux.sysctl.{k}");
                Ok((
                    cstring(
                        format!("/proc/sys/{}", k.replace('.', "/")).as_bytes(),
                        &field,
                    )?,
                    cstring(v.as_bytes(), &field)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let hooks = spec.hooks().clone().unwrap_or_default();
        let runtime_hooks: Vec<_> = hooks
            .prestart()
            .iter()
            .flatten()
            .chain(hooks.create_runtime().iter().flatten())
            .cloned()
            .collect();
        let time_offsets = linux.time_offsets().as_ref().map(|offs| {
            offs.iter()
                .map(|(clock, o)| {
                    format!(
                        "{clock} {} {}\n",
                        o.secs().unwrap_or(0),
                        o.nanosecs().unwrap_or(0)
                    )
                })
                .collect::<String>()
        });
        let (console_rel, console_prefixes) = (
            c"dev/console".to_owned(),
            vec![
                (c"dev".to_owned(), c"dev".to_owned()),
                (c"dev/console".to_owned(), c"console".to_owned()),
            ],
        );

        let (parent_sock, child_sock) = sync_pair()?;
        let fifo_dir = open_path_dir(dir)?;
        let fifo = open_path(&dir.join(EXEC_FIFO))?;
        let stdio_raw = opts
            .stdio
            .as_ref()
            .map(|s| [s[0].as_raw_fd(), s[1].as_raw_fd(), s[2].as_raw_fd()]);
        let join: Vec<(RawFd, libc::c_int)> = ns
            .join
            .iter()
            .filter(|j| j.typ != LinuxNamespaceType::Pid)
            .map(|j| (j.fd.as_raw_fd(), namespaces::clone_flag(j.typ)))
            .collect();
        let cgroup_tasks = cgroup_task_files(&cgroup)?;
        let plan = InitPlan {
            cgroup_tasks,
            sync_fd: child_sock.as_raw_fd(),
            join,
            userns_root: userns,
            unshare_cgroupns: ns.new_cgroupns,
            hostname: spec
                .hostname()
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| cstring(h.as_bytes(), "hostname"))
                .transpose()?,
            domainname: spec
                .domainname()
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| cstring(h.as_bytes(), "domainname"))
                .transpose()?,
            rootfs: Some(rootfs_plan),
            console: console.as_ref().map(|c| ConsolePlan {
                socket: c.as_raw_fd(),
                console_rel,
                console_prefixes,
            }),
            stdio: stdio_raw,
            stdio_tty: opts.stdio_tty,
            sysctl,
            process: pplan,
            fifo_dir: Some(fifo_dir.as_raw_fd()),
            fifo: Some(fifo.as_raw_fd()),
            preserve_fds: opts.preserve_fds,
            runtime_hooks: !runtime_hooks.is_empty(),
            create_container_hooks: hook_plans(
                hooks.create_container().as_deref().unwrap_or(&[]),
                "createContainer",
                None,
            )?,
            start_container_hooks: hook_plans(
                hooks.start_container().as_deref().unwrap_or(&[]),
                "startContainer",
                process.env().as_deref(),
            )?,
            personality: personality(linux),
            mempolicy: linux
                .memory_policy()
                .as_ref()
                .map(crate::process::sched::mempolicy)
                .transpose()?,
            time_offsets: time_offsets
                .map(|t| cstring(t.as_bytes(), "linux.timeOffsets"))
                .transpose()?,
        };

        let cgroup_fd = cgroup.clone_into_fd()?;
        let pidns = ns.joined(LinuxNamespaceType::Pid).map(|j| j.fd.as_raw_fd());
        // With offsets the init makes the time namespace itself (offsets
        // can only be written before any process is in it).
        let clone_flags = if plan.time_offsets.is_some() {
            ns.clone_flags & !libc::CLONE_NEWTIME
        } else {
            ns.clone_flags
        };
        let (pid, in_cgroup) = spawn_init(
            &plan,
            clone_flags,
            cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
            pidns,
        )?;
        cleanup.pid = Some(pid);
        drop(child_sock);
        drop(console);
        drop(opts.stdio);

        // The init joined its v1 cgroups itself; the cgroup2 part (v2, or
        // hybrid) came with the clone unless the kernel lacks
        // CLONE_INTO_CGROUP.
        if (cgroup_fd.is_some() && !in_cgroup)
            || (cgroup_fd.is_none() && plan.cgroup_tasks.is_empty())
        {
            cgroup.add_task(pid)?;
        }
        if ns.clone_flags & libc::CLONE_NEWUSER != 0 {
            namespaces::write_id_maps(
                pid,
                linux.uid_mappings().as_deref().unwrap_or(&[]),
                linux.gid_mappings().as_deref().unwrap_or(&[]),
            )?;
        }
        if let Some(adj) = plan.process.oom_score_adj {
            let path = format!("/proc/{pid}/oom_score_adj");
            fs::write(&path, adj.to_string()).map_err(|e| Error::io("write", path, e))?;
        }
        let (pid_start, _) = proc_start_time(pid).unwrap_or((0, true));
        let record = Record {
            id: id.to_string(),
            pid,
            pid_start,
            bundle: bundle.to_path_buf(),
            rootfs: rootfs.clone(),
            created: Utc::now(),
            cgroup_path: cgroup_path.clone(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            // SAFETY: getuid cannot fail.
            owner: unsafe { libc::getuid() },
            config: spec.clone(),
        };
        let state_for_hooks =
            |status| serde_json::to_vec(&record.to_state(status, false).oci).unwrap_or_default();
        send(&parent_sock, Msg::new(Msg::GO))?;
        if !plan.create_container_hooks.is_empty() || !plan.start_container_hooks.is_empty() {
            send_raw(&parent_sock, &state_for_hooks(ContainerState::Created))?;
        }
        loop {
            match recv(&parent_sock)? {
                Some((m, _)) if m.kind == Msg::READY => break,
                Some((m, _)) if m.kind == Msg::HOOKS => {
                    hooks::run(
                        "createRuntime",
                        &runtime_hooks,
                        &state_for_hooks(ContainerState::Creating),
                    )?;
                    send(&parent_sock, Msg::new(Msg::GO))?;
                }
                Some((m, fd)) if m.kind == Msg::SECCOMP_FD => {
                    if let Some(s) = &plan.process.seccomp
                        && let Some(listener) = &s.listener_path
                    {
                        let st = record.to_state(ContainerState::Creating, false);
                        forward_seccomp_fd(fd, listener, s.listener_metadata.as_deref(), &st)?;
                    }
                }
                Some((m, _)) if m.kind == Msg::ERROR => {
                    return Err(init_error(m, plan.rootfs.as_ref(), "process", &plan));
                }
                Some((m, _)) => {
                    return Err(Error::InitDied {
                        detail: format!(": unexpected message {}", m.kind),
                    });
                }
                None => {
                    cleanup.pid = None;
                    return Err(Error::InitDied {
                        detail: wait_status(pid),
                    });
                }
            }
        }
        record.save(&self.root)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(record.to_state(ContainerState::Created, false))
    }
}

/// Sends a raw datagram (the hook state JSON).
fn send_raw(sock: &OwnedFd, bytes: &[u8]) -> Result<()> {
    use crate::syscall::{Linux, Syscall};
    if bytes.len() >= 64 * 1024 - 1 {
        return Err(Error::Unsupported(
            "the container state is too large for the hooks".into(),
        ));
    }
    Linux
        .write(sock.as_raw_fd(), bytes)
        .map(drop)
        .map_err(|e| Error::sys("write to the container init", e))
}
