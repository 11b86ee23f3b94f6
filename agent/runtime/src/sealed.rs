//! CVE-2019-5736: a container process must never reach the runtime's own
//! binary on the host. Between `clone3` and `execve`, a container's init or
//! an exec'd process is still a copy of the runtime; a process of the
//! container that sees it (an `exec` joins an existing pid namespace) could
//! open `/proc/<pid>/exe` and, once the runtime exits, write through it.
//!
//! Two defences:
//! - every init makes itself non-dumpable first thing (`PR_SET_DUMPABLE 0`),
//!   so `/proc/<pid>/exe` is refused to anyone without CAP_SYS_PTRACE over
//!   the runtime's user namespace;
//! - [`reexec_sealed`] runs the current program again from a sealed memfd
//!   copy (no write, grow, shrink, or new seals possible), so even a process
//!   that gets at `/proc/<pid>/exe` reaches an anonymous, immutable file.
//!   The CLI does this whenever the new process will be visible to the
//!   container before its `execve` (`exec`, or a container that shares or
//!   joins a pid namespace); a long-lived caller (the agent) calls it once at
//!   start-up.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::syscall::Errno;

const F_ADD_SEALS: libc::c_int = 1033;
const F_GET_SEALS: libc::c_int = 1034;
const F_SEAL_SEAL: libc::c_int = 0x1;
const F_SEAL_SHRINK: libc::c_int = 0x2;
const F_SEAL_GROW: libc::c_int = 0x4;
const F_SEAL_WRITE: libc::c_int = 0x8;
const ALL_SEALS: libc::c_int = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

/// Whether the running program is a sealed memfd.
pub fn is_sealed() -> bool {
    let Ok(f) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: fcntl on an fd we own; F_GET_SEALS fails (EINVAL) for files
    // that are not memfds.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), F_GET_SEALS) };
    seals >= 0 && seals & ALL_SEALS == ALL_SEALS
}

/// Re-executes the current program, with the same arguments and
/// environment, from a sealed memfd copy of itself. Returns only on error,
/// or at once when already sealed.
pub fn reexec_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let out = sealed_copy(Path::new("/proc/self/exe"))?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let argv = crate::process::CStringArray::new(args);
    let envp = crate::process::CStringArray::new(env);
    // SAFETY: argv and envp are NULL-terminated arrays of C strings that
    // live across the call; the empty path with AT_EMPTY_PATH names the fd.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            out.as_raw_fd(),
            c"".as_ptr(),
            argv.ptrs().as_ptr(),
            envp.ptrs().as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(Error::sys("execveat the sealed copy", Errno::last()))
}

/// A sealed memfd copy (close-on-exec) of the program at `path`: an
/// anonymous file nobody can write, grow, shrink or re-seal. A process
/// that starts others from one binary (the agent starting monitors) can
/// make one copy and run them all from `/proc/self/fd/<fd>` of it: one
/// copy in memory, however many processes run it.
pub fn sealed_copy(path: &Path) -> Result<File> {
    let mut src = File::open(path).map_err(|e| Error::io("open", path, e))?;
    // SAFETY: memfd_create with a static name; the new fd is owned below.
    let fd = unsafe {
        libc::memfd_create(
            c"berth-runtime".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(Error::sys("memfd_create", Errno::last()));
    }
    // SAFETY: a fresh fd owned by nothing else.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = File::from(memfd);
    std::io::copy(&mut src, &mut out).map_err(|e| Error::io("copy", path, e))?;
    // SAFETY: fcntl on the memfd we own.
    if unsafe { libc::fcntl(out.as_raw_fd(), F_ADD_SEALS, ALL_SEALS) } < 0 {
        return Err(Error::sys("seal the memfd", Errno::last()));
    }
    Ok(out)
}
