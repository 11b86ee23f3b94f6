//! The container's processes: the plan for the user process (`process` of
//! config.json, or of `exec`), the init that applies it between `clone3`
//! and `execve`, and the socket protocol between runtime and init.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::{c_char, c_int, gid_t, mode_t, uid_t};
use oci_spec::runtime::{PosixRlimitType, Process};

use crate::capabilities::{CapMasks, current_bounding, last_cap};
use crate::config::cstring;
use crate::error::{Error, Result};
use crate::seccomp::SeccompProgram;

pub(crate) mod clone;
pub(crate) mod console;
mod credentials;
pub(crate) mod init;
pub(crate) mod sched;
pub mod sync;

/// A NULL-terminated array of pointers into owned C strings.
#[derive(Debug)]
pub(crate) struct CStringArray {
    strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

// SAFETY: the pointers point into the heap buffers of `strings`, which the
// struct owns and never changes; moving the struct to another thread moves
// the owner along with the pointers.
unsafe impl Send for CStringArray {}
// SAFETY: shared access only reads the pointers and the strings, which are
// never mutated after construction.
unsafe impl Sync for CStringArray {}

impl CStringArray {
    pub fn new(strings: Vec<CString>) -> Self {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStringArray { strings, ptrs }
    }

    /// The NULL-terminated pointer array.
    pub fn ptrs(&self) -> &[*const c_char] {
        &self.ptrs
    }

    pub fn strings(&self) -> &[CString] {
        &self.strings
    }
}

/// The spec's `process`, ready for the init.
#[derive(Debug)]
pub(crate) struct ProcessPlan {
    pub argv: CStringArray,
    pub envp: CStringArray,
    /// Where to look for `args[0]`, in order (PATH lookup in the container).
    pub exe_candidates: Vec<CString>,
    pub cwd: CString,
    pub uid: uid_t,
    pub gid: gid_t,
    pub additional_gids: Vec<gid_t>,
    pub umask: mode_t,
    /// The five sets; all empty when the spec lists none.
    pub caps: CapMasks,
    pub last_cap: u8,
    pub no_new_privs: bool,
    pub rlimits: Vec<(c_int, u64, u64)>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub oom_score_adj: Option<i32>,
    pub apparmor: Option<CString>,
    pub selinux: Option<CString>,
    pub seccomp: Option<SeccompProgram>,
    /// `(policy, priority, flags)` for sched_setattr.
    pub scheduler: Option<sched::SchedPlan>,
    /// ioprio_set value.
    pub io_priority: Option<c_int>,
    /// `execCPUAffinity` (exec only): CPU masks before joining the
    /// container's cgroup and right before execve.
    pub affinity_initial: Option<CpuMask>,
    pub affinity_final: Option<CpuMask>,
}

/// A CPU set as sched_setaffinity(2) takes it (1024 CPUs).
pub type CpuMask = [u64; 16];

/// Parses a CPU list such as `0-3,7`.
pub(crate) fn cpu_mask(list: &str, field: &str) -> Result<CpuMask> {
    let mut mask = [0u64; 16];
    let bad = || Error::config(field, format!("{list:?} is not a CPU list like 0-3,7"));
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().map_err(|_| bad())?,
                b.trim().parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if a > b || b >= 1024 {
            return Err(bad());
        }
        for cpu in a..=b {
            mask[cpu / 64] |= 1 << (cpu % 64);
        }
    }
    Ok(mask)
}

fn rlimit_resource(t: PosixRlimitType) -> c_int {
    (match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    })
    // The resource numbers are 0..16: the same in either type.
    .cast_signed()
}

impl ProcessPlan {
    /// Plans `p`; `field` prefixes error paths (`process` or `process.json`).
    pub fn new(p: &Process, field: &str) -> Result<ProcessPlan> {
        let args = p.args().as_deref().unwrap_or(&[]);
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::config(
                format!("{field}.args"),
                "must name a program to run",
            ));
        }
        let argv = args
            .iter()
            .enumerate()
            .map(|(i, a)| cstring(a.as_bytes(), &format!("{field}.args[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let env_list = p.env().as_deref().unwrap_or(&[]);
        let env = env_plan(env_list, field)?;
        let exe_candidates = exe_candidates(&args[0], env_list, field)?;
        let cwd = p.cwd();
        if !cwd.is_absolute() {
            return Err(Error::config(
                format!("{field}.cwd"),
                format!("{} is not an absolute path", cwd.display()),
            ));
        }
        let user = p.user();
        let last = last_cap();
        // No `capabilities` means no capabilities: all five sets empty,
        // the bounding set too (as runc and crun), never the runtime's own.
        let caps = match p.capabilities() {
            Some(c) => CapMasks::from_spec(c, last, current_bounding())?,
            None => CapMasks::default(),
        };
        let rlimits = rlimit_plan(p, field)?;
        if let Some(adj) = p.oom_score_adj()
            && !(-1000..=1000).contains(&adj)
        {
            return Err(Error::config(
                format!("{field}.oomScoreAdj"),
                format!("{adj} is outside -1000..=1000"),
            ));
        }
        let console_size = p.console_size().as_ref().map(|b| {
            (
                u16::try_from(b.height()).unwrap_or(u16::MAX),
                u16::try_from(b.width()).unwrap_or(u16::MAX),
            )
        });
        Ok(ProcessPlan {
            argv: CStringArray::new(argv),
            envp: CStringArray::new(env),
            exe_candidates,
            cwd: cstring(cwd.as_os_str().as_bytes(), &format!("{field}.cwd"))?,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022) as mode_t,
            caps,
            last_cap: last,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            rlimits,
            terminal: p.terminal().unwrap_or(false),
            console_size,
            oom_score_adj: p.oom_score_adj(),
            apparmor: match p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
                Some(a) => Some(cstring(a.as_bytes(), &format!("{field}.apparmorProfile"))?),
                None => None,
            },
            selinux: match p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
                Some(s) => Some(cstring(s.as_bytes(), &format!("{field}.selinuxLabel"))?),
                None => None,
            },
            seccomp: None,
            scheduler: match p.scheduler() {
                Some(s) => Some(sched::SchedPlan::from_spec(s, field)?),
                None => None,
            },
            affinity_initial: affinity(
                p.exec_cpu_affinity()
                    .as_ref()
                    .and_then(|a| a.initial().as_deref()),
                &format!("{field}.execCPUAffinity.initial"),
            )?,
            affinity_final: affinity(
                p.exec_cpu_affinity()
                    .as_ref()
                    .and_then(|a| a.cpu_affinity_final().as_deref()),
                &format!("{field}.execCPUAffinity.final"),
            )?,
            io_priority: match p.io_priority() {
                Some(io) => Some(sched::io_priority_value(io, field)?),
                None => None,
            },
        })
    }
}

impl ProcessPlan {
    /// Adds `HOME` when the environment has none, as runc and crun do: the
    /// user's home directory in the container's `/etc/passwd` (read under
    /// `root`, symlinks resolved inside it; `None`: none to read), else `/`.
    pub fn add_default_home(&mut self, root: Option<&Path>) {
        if self
            .envp
            .strings()
            .iter()
            .any(|e| e.as_bytes().starts_with(b"HOME="))
        {
            return;
        }
        let home = root
            .and_then(|r| passwd_home(r, self.uid))
            .unwrap_or_else(|| "/".into());
        let mut env = self.envp.strings().to_vec();
        if let Ok(h) = CString::new(format!("HOME={home}")) {
            env.push(h);
            self.envp = CStringArray::new(env);
        }
    }
}

/// The home directory of `uid` in the passwd file of the rootfs `root`.
fn passwd_home(root: &Path, uid: uid_t) -> Option<String> {
    use std::io::Read;
    // Relative to `root`, every symlink on the way resolved inside it.
    let rel = crate::rootfs::resolve_in_rootfs(root, Path::new("/etc/passwd")).ok()?;
    let mut text = String::new();
    std::fs::File::open(root.join(rel))
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<uid_t>().ok() == Some(uid) && !f[5].is_empty())
            .then(|| f[5].to_string())
    })
}

/// `env`, each entry checked to be `KEY=value`.
fn env_plan(env_list: &[String], field: &str) -> Result<Vec<CString>> {
    let mut env = Vec::with_capacity(env_list.len());
    for (i, e) in env_list.iter().enumerate() {
        if !e.contains('=') {
            return Err(Error::config(
                format!("{field}.env[{i}]"),
                format!("{e:?} is not KEY=value"),
            ));
        }
        env.push(cstring(e.as_bytes(), &format!("{field}.env[{i}]"))?);
    }
    Ok(env)
}

/// Where to look for `arg0`: itself when it holds a `/`, else each
/// directory of the process's `PATH` in order (none without a `PATH`).
fn exe_candidates(arg0: &str, env_list: &[String], field: &str) -> Result<Vec<CString>> {
    if arg0.contains('/') {
        return Ok(vec![cstring(arg0.as_bytes(), &format!("{field}.args[0]"))?]);
    }
    // Without a PATH nothing is found, as with runc and crun (no default
    // path is searched: the spec's environment is all the process has).
    let Some(path_var) = env_list.iter().rev().find_map(|e| e.strip_prefix("PATH=")) else {
        return Ok(Vec::new());
    };
    path_var
        .split(':')
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| {
            cstring(
                Path::new(d).join(arg0).as_os_str().as_bytes(),
                &format!("{field}.args[0]"),
            )
        })
        .collect()
}

/// `rlimits`: soft at most hard, each resource once.
fn rlimit_plan(p: &Process, field: &str) -> Result<Vec<(c_int, u64, u64)>> {
    let mut rlimits = Vec::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if r.soft() > r.hard() {
            return Err(Error::config(
                format!("{field}.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            ));
        }
        let res = rlimit_resource(r.typ());
        if rlimits.iter().any(|(x, _, _)| *x == res) {
            return Err(Error::config(
                format!("{field}.rlimits[{i}].type"),
                format!("{:?} is listed twice", r.typ()),
            ));
        }
        rlimits.push((res, r.soft(), r.hard()));
    }
    Ok(rlimits)
}

/// An `execCPUAffinity` list, when one is given.
fn affinity(list: Option<&str>, field: &str) -> Result<Option<CpuMask>> {
    match list {
        Some(l) if !l.is_empty() => Ok(Some(cpu_mask(l, field)?)),
        _ => Ok(None),
    }
}
