//! `create`: validate config.json, make the cgroup, clone the init with its
//! namespaces, let it build the rootfs, and leave it blocked on the exec
//! fifo. Any failure removes everything made so far: init, cgroup, state.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::{ContainerState, Hook, Linux, LinuxNamespaceType, Process, Spec};

use super::channel::{forward_seccomp_fd, init_error, recv, send, send_raw, sync_pair};
use super::prepare::{
    apparmor_enabled, cgroup_task_files, console_socket, hook_plans, mkfifo, open_path,
    open_path_dir, personality, selinux_enabled, sysctls, time_offsets, write_pid_file,
};
use super::{Runtime, spawn_init};
use crate::cgroups::{self, CgroupManager, Manager};
use crate::child::{reap, wait_status};
use crate::config::{self, cstring};
use crate::error::{Error, Result};
use crate::hooks;
use crate::namespaces::{self, NamespacePlan};
use crate::process::ProcessPlan;
use crate::process::console::ConsolePlan;
use crate::process::init::InitPlan;
use crate::process::sync::Msg;
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

/// What a create has made and needs on its way: the spec's parts and the
/// fds the init plan points at (which must outlive the clone).
struct Made {
    cgroup: Manager,
    cgroup_path: PathBuf,
    rootfs: PathBuf,
    console: Option<OwnedFd>,
    fifo_dir: OwnedFd,
    fifo: OwnedFd,
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

        // The process plan first: it rejects bad input before anything is made.
        let mut pplan = init_process_plan(process, linux)?;
        // A masked /etc/passwd is empty to the process: runc finds no user.
        let passwd_masked = linux
            .masked_paths()
            .iter()
            .flatten()
            .any(|m| Path::new("/etc/passwd").starts_with(m));
        pplan.add_default_home((!passwd_masked).then_some(rootfs.as_path()));
        make_missing_cwd(&spec, &rootfs, process.cwd())?;
        let console = console_socket(
            pplan.terminal,
            opts.stdio.is_some() && opts.stdio_tty,
            opts.console_socket.as_ref(),
        )?;
        mkfifo(&dir.join(EXEC_FIFO))?;
        let (cgroup, cgroup_path) = self.make_cgroup(id, linux, cleanup)?;
        let made = Made {
            cgroup,
            cgroup_path,
            rootfs,
            console,
            fifo_dir: open_path_dir(dir)?,
            fifo: open_path(&dir.join(EXEC_FIFO))?,
        };
        let rootfs_plan = self.rootfs_plan(&spec, linux, bundle, &made, &ns, opts.no_pivot)?;
        let (parent_sock, child_sock) = sync_pair()?;
        let mut plan = init_plan(&spec, pplan, &ns, &made, &opts, child_sock.as_raw_fd())?;
        plan.rootfs = Some(rootfs_plan);

        let cgroup_fd = made.cgroup.clone_into_fd()?;
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
        drop(made.console);
        drop(opts.stdio);

        place_init(
            &made.cgroup,
            &plan,
            &ns,
            linux,
            pid,
            cgroup_fd.as_ref().map(|_| in_cgroup),
        )?;
        let (pid_start, _) = proc_start_time(pid).unwrap_or((0, true));
        let record = Record {
            id: id.to_string(),
            pid,
            pid_start,
            bundle: bundle.to_path_buf(),
            rootfs: made.rootfs,
            created: Utc::now(),
            cgroup_path: made.cgroup_path,
            annotations: spec.annotations().clone().unwrap_or_default(),
            owner: nix::unistd::getuid().as_raw(),
            config: spec.clone(),
        };
        wait_ready(&parent_sock, &plan, &record, &spec, cleanup)?;
        record.save(&self.root)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(record.to_state(ContainerState::Created, false))
    }

    /// Makes the container's cgroup (removed again by `cleanup` on failure)
    /// and writes its limits.
    fn make_cgroup(
        &self,
        id: &str,
        linux: &Linux,
        cleanup: &mut Cleanup<'_>,
    ) -> Result<(Manager, PathBuf)> {
        let cgroup_path =
            cgroups::resolve_path_under(&self.cgroup_parent, linux.cgroups_path().as_deref(), id)?;
        let cgroup = Manager::new(&self.layout, &cgroup_path)?;
        cgroup.create()?;
        cleanup.cgroup = Some(cgroup.clone());
        if let Some(r) = linux.resources() {
            cgroup.apply(r)?;
        }
        Ok((cgroup, cgroup_path))
    }

    /// The rootfs plan: the spec's mounts, devices and paths, with the
    /// container's namespaces and cgroup directories.
    fn rootfs_plan(
        &self,
        spec: &Spec,
        linux: &Linux,
        bundle: &Path,
        made: &Made,
        ns: &NamespacePlan,
        no_pivot: bool,
    ) -> Result<RootfsPlan> {
        let cgroup_dirs = match &made.cgroup {
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
        Ok(RootfsPlan::new(&RootfsInput {
            bundle,
            rootfs: &made.rootfs,
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
            no_pivot,
            userns: ns.has(LinuxNamespaceType::User),
            host_mntns: !ns.has(LinuxNamespaceType::Mount),
            new_cgroupns: ns.new_cgroupns,
            cgroup_dirs,
            uid_maps: linux.uid_mappings().as_deref().unwrap_or(&[]),
            gid_maps: linux.gid_mappings().as_deref().unwrap_or(&[]),
        })?)
    }
}

/// Right after the clone: into the cgroup when the clone did not put the
/// init there (`placed`: whether CLONE_INTO_CGROUP was asked for, and
/// worked), the user namespace's id maps, `oomScoreAdj`.
fn place_init(
    cgroup: &Manager,
    plan: &InitPlan,
    ns: &NamespacePlan,
    linux: &Linux,
    pid: i32,
    placed: Option<bool>,
) -> Result<()> {
    // The init joined its v1 cgroups itself; the cgroup2 part (v2, or
    // hybrid) came with the clone unless the kernel lacks
    // CLONE_INTO_CGROUP.
    if placed == Some(false) || (placed.is_none() && plan.cgroup_tasks.is_empty()) {
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
    Ok(())
}

/// Makes a missing `process.cwd` in the rootfs (0755, as root), as runc
/// and crun do, before anything is mounted or made read-only. Not under a
/// mount destination: what is there is the mount's, made by the init.
fn make_missing_cwd(spec: &Spec, rootfs: &Path, cwd: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let under_mount = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| cwd.starts_with(m.destination()) && m.destination() != Path::new("/"));
    if under_mount {
        return Ok(());
    }
    let path = rootfs.join(crate::rootfs::resolve_in_rootfs(rootfs, cwd)?);
    if fs::symlink_metadata(&path).is_err() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&path)
            .map_err(|e| Error::io("mkdir", &path, e))?;
    }
    Ok(())
}

/// The init's process plan: `process`, with the container's seccomp
/// filter and AppArmor profile, without execCPUAffinity (for exec'd
/// processes only).
fn init_process_plan(process: &Process, linux: &Linux) -> Result<ProcessPlan> {
    let mut pplan = ProcessPlan::new(process, "process")?;
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
    Ok(pplan)
}

/// The runtime hooks of create (prestart, then createRuntime), run when
/// the init asks.
fn runtime_hooks(spec: &Spec) -> Vec<Hook> {
    let hooks = spec.hooks().clone().unwrap_or_default();
    hooks
        .prestart()
        .iter()
        .flatten()
        .chain(hooks.create_runtime().iter().flatten())
        .cloned()
        .collect()
}

/// Everything of the init plan but its rootfs (filled in by the caller).
fn init_plan(
    spec: &Spec,
    pplan: ProcessPlan,
    ns: &NamespacePlan,
    made: &Made,
    opts: &CreateOptions,
    sync_fd: RawFd,
) -> Result<InitPlan> {
    let (Some(linux), Some(process)) = (spec.linux(), spec.process()) else {
        return Err(Error::config("linux", "missing"));
    };
    let hooks = spec.hooks().clone().unwrap_or_default();
    // In the order the fields were always checked in.
    let sysctl = sysctls(linux)?;
    let cgroup_tasks = cgroup_task_files(&made.cgroup)?;
    let join: Vec<(RawFd, libc::c_int)> = ns
        .join
        .iter()
        .filter(|j| j.typ != LinuxNamespaceType::Pid)
        .map(|j| (j.fd.as_raw_fd(), namespaces::clone_flag(j.typ)))
        .collect();
    let name = |v: Option<&str>, field| {
        v.filter(|h| !h.is_empty())
            .map(|h| cstring(h.as_bytes(), field))
            .transpose()
    };
    Ok(InitPlan {
        cgroup_tasks,
        sync_fd,
        join,
        userns_root: ns.has(LinuxNamespaceType::User),
        unshare_cgroupns: ns.new_cgroupns,
        hostname: name(spec.hostname().as_deref(), "hostname")?,
        domainname: name(spec.domainname().as_deref(), "domainname")?,
        rootfs: None,
        console: made.console.as_ref().map(|c| ConsolePlan {
            socket: c.as_raw_fd(),
            console_rel: c"dev/console".to_owned(),
            console_prefixes: vec![
                (c"dev".to_owned(), c"dev".to_owned()),
                (c"dev/console".to_owned(), c"console".to_owned()),
            ],
        }),
        stdio: opts
            .stdio
            .as_ref()
            .map(|s| [s[0].as_raw_fd(), s[1].as_raw_fd(), s[2].as_raw_fd()]),
        stdio_tty: opts.stdio_tty,
        sysctl,
        process: pplan,
        fifo_dir: Some(made.fifo_dir.as_raw_fd()),
        fifo: Some(made.fifo.as_raw_fd()),
        preserve_fds: opts.preserve_fds,
        runtime_hooks: !runtime_hooks(spec).is_empty(),
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
        time_offsets: time_offsets(linux)?,
    })
}

/// Lets the init go and serves it until it is ready: the hooks' state,
/// the runtime hooks it asks for, its seccomp listener fd.
fn wait_ready(
    sock: &OwnedFd,
    plan: &InitPlan,
    record: &Record,
    spec: &Spec,
    cleanup: &mut Cleanup<'_>,
) -> Result<()> {
    let state_for_hooks =
        |status| serde_json::to_vec(&record.to_state(status, false).oci).unwrap_or_default();
    send(sock, Msg::new(Msg::GO))?;
    if !plan.create_container_hooks.is_empty() || !plan.start_container_hooks.is_empty() {
        send_raw(sock, &state_for_hooks(ContainerState::Created))?;
    }
    loop {
        match recv(sock)? {
            Some((m, _)) if m.kind == Msg::READY => return Ok(()),
            Some((m, _)) if m.kind == Msg::HOOKS => {
                hooks::run(
                    "createRuntime",
                    &runtime_hooks(spec),
                    &state_for_hooks(ContainerState::Creating),
                )?;
                send(sock, Msg::new(Msg::GO))?;
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
                return Err(init_error(m, plan.rootfs.as_ref(), "process", plan));
            }
            Some((m, _)) => {
                return Err(Error::InitDied {
                    detail: format!(": unexpected message {}", m.kind),
                });
            }
            None => {
                cleanup.pid = None;
                return Err(Error::InitDied {
                    detail: wait_status(record.pid),
                });
            }
        }
    }
}
