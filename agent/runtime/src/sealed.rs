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
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::error::{Error, Result};

/// No write, grow, shrink, or new seals.
const ALL_SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// Whether the running program is a sealed memfd.
pub fn is_sealed() -> bool {
    let Ok(f) = File::open("/proc/self/exe") else {
        return false;
    };
    // F_GET_SEALS fails (EINVAL) for files that are not memfds.
    fcntl(&f, FcntlArg::F_GET_SEALS)
        .is_ok_and(|seals| SealFlag::from_bits_retain(seals).contains(ALL_SEALS))
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
    let Err(e) = nix::unistd::execveat(&out, c"", &args, &env, AtFlags::AT_EMPTY_PATH);
    Err(Error::sys("execveat the sealed copy", e))
}

/// A sealed memfd copy (close-on-exec) of the program at `path`: an
/// anonymous file nobody can write, grow, shrink or re-seal. A process
/// that starts others from one binary (the agent starting monitors) can
/// make one copy and run them all from `/proc/self/fd/<fd>` of it: one
/// copy in memory, however many processes run it.
pub fn sealed_copy(path: &Path) -> Result<File> {
    let mut src = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let memfd = memfd_create(
        c"berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(|e| Error::sys("memfd_create", e))?;
    let mut out = File::from(memfd);
    std::io::copy(&mut src, &mut out).map_err(|e| Error::io("copy", path, e))?;
    fcntl(&out, FcntlArg::F_ADD_SEALS(ALL_SEALS)).map_err(|e| Error::sys("seal the memfd", e))?;
    Ok(out)
}
