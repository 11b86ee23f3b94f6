//! What create and exec prepare before the clone, from the spec: the exec
//! fifo and its fds, hook plans, cgroup task files, personality, the
//! console socket, the pid file.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxPersonalityDomain;

use crate::cgroups::{CgroupManager, Manager};
use crate::config::cstring;
use crate::error::{Error, Result};
use crate::process::CStringArray;
use crate::process::init::HookPlan;

pub(crate) fn mkfifo(path: &Path) -> Result<()> {
    let c = cstring(path.as_os_str().as_bytes(), "state dir")?;
    nix::unistd::mkfifo(c.as_c_str(), nix::sys::stat::Mode::from_bits_retain(0o622))
        .map_err(|e| Error::io("mkfifo", path, std::io::Error::from(e)))?;
    // Writable by the container's user whatever the umask: the init opens
    // it after switching to that user.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o622))
        .map_err(|e| Error::io("chmod", path, e))
}

pub(crate) fn open_path_dir(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    Ok(f.into())
}

pub(crate) fn open_path(path: &Path) -> Result<OwnedFd> {
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
pub(crate) fn hook_plans(
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
pub(crate) fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// Whether the host runs SELinux.
pub(crate) fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Connects to the console socket when the process wants a terminal and
/// the caller gave none through `stdio`.
pub(crate) fn console_socket(
    terminal: bool,
    stdio_tty: bool,
    socket: Option<&PathBuf>,
) -> Result<Option<OwnedFd>> {
    if !terminal || stdio_tty {
        return Ok(None);
    }
    let path = socket.ok_or_else(|| {
        Error::config(
            "process.terminal",
            "a terminal needs a console socket (--console-socket)",
        )
    })?;
    let stream =
        UnixStream::connect(path).map_err(|e| Error::io("connect to console socket", path, e))?;
    Ok(Some(OwnedFd::from(stream)))
}

/// `linux.sysctl` as (`/proc/sys/...` path, value).
pub(crate) fn sysctls(linux: &oci_spec::runtime::Linux) -> Result<Vec<(CString, CString)>> {
    linux
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
        .collect()
}

/// `linux.timeOffsets` as `/proc/self/timens_offsets` wants them.
pub(crate) fn time_offsets(linux: &oci_spec::runtime::Linux) -> Result<Option<CString>> {
    let text = linux.time_offsets().as_ref().map(|offs| {
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
    text.map(|t| cstring(t.as_bytes(), "linux.timeOffsets"))
        .transpose()
}
