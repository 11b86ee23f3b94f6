//! Container paths: cleaned lexically, and resolved inside the rootfs the
//! way the container will see them (symlinks followed with the rootfs as
//! `/`): by the planner, by path; by the init, without allocating, with
//! `openat2(2)` and `RESOLVE_IN_ROOT` ([`open_or_create`]).

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result};
use crate::syscall::{Errno, Syscall};

/// A C string from a path or option (they never hold NUL; a spec that
/// sneaks one in is refused, naming `field`).
pub(crate) fn cstring(bytes: &[u8], field: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::config(field, "contains a NUL byte"))
}

/// Cleans a container path lexically into components (no `.`, `..` stops
/// at the root).
pub(super) fn clean(path: &Path) -> Vec<&OsStr> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Resolves `path` inside `rootfs` the way the container will see it:
/// symlinks are followed with `rootfs` as `/` (never leaving it), `..`
/// stops at the root, and what does not exist yet is taken literally.
/// Answers a relative path with no symlink left in the existing part, so
/// the init can create the missing directories one by one. (The init still
/// opens everything with `RESOLVE_IN_ROOT`, so a rootfs changed meanwhile
/// cannot lead out of it either.)
pub fn resolve_in_rootfs(rootfs: &Path, path: &Path) -> Result<PathBuf> {
    const MAX_LINKS: usize = 255;
    let mut pending: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let mut candidate = rootfs.to_path_buf();
        candidate.extend(&done);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::config(
                        "mounts",
                        format!("{}: too many levels of symbolic links", path.display()),
                    ));
                }
                let target = std::fs::read_link(&candidate)
                    .map_err(|e| Error::io("readlink", &candidate, e))?;
                if target.is_absolute() {
                    done.clear();
                }
                for t in target.components().rev() {
                    match t {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => done.push(c),
        }
    }
    Ok(done.iter().collect())
}

/// `rel` and its prefixes for a container path.
pub(super) fn rel_and_prefixes(
    path: &Path,
    field: &str,
) -> Result<(CString, Vec<(CString, CString)>)> {
    let comps = clean(path);
    let mut prefixes = Vec::with_capacity(comps.len());
    let mut acc: Vec<u8> = Vec::new();
    for c in &comps {
        if !acc.is_empty() {
            acc.push(b'/');
        }
        acc.extend_from_slice(c.as_bytes());
        prefixes.push((cstring(&acc, field)?, cstring(c.as_bytes(), field)?));
    }
    let rel = if acc.is_empty() {
        CString::from(c".")
    } else {
        cstring(&acc, field)?
    };
    Ok((rel, prefixes))
}

/// `/` joined with a cleaned relative path.
pub(super) fn absolute(p: &Path) -> PathBuf {
    Path::new("/").join(p)
}

/// Writes `/proc/self/fd/<fd>` into `buf`.
pub(crate) fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = u32::try_from(fd).unwrap_or(0);
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    // The buffer holds exactly one NUL, at the end of what was written.
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/")
}

pub(super) const O_PATH_FLAGS: i32 = libc::O_PATH | libc::O_CLOEXEC;
pub(super) const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Opens `rel` inside the root (symlinks resolved in the root), creating
/// what is missing: directories, and the last component as an empty file
/// when `file` is set.
pub(crate) fn open_or_create<S: Syscall + ?Sized>(
    sys: &S,
    rootfd: RawFd,
    rel: &CStr,
    prefixes: &[(CString, CString)],
    file: bool,
) -> Result<RawFd, Errno> {
    match sys.openat2(rootfd, rel, O_PATH_FLAGS, 0, IN_ROOT) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let n = prefixes.len();
    for (i, (prefix, name)) in prefixes.iter().enumerate() {
        let last = i + 1 == n;
        match sys.openat2(rootfd, prefix, O_PATH_FLAGS, 0, IN_ROOT) {
            Ok(fd) => {
                let _ = sys.close(fd);
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        if last && file {
            // O_CREAT through openat2: a dangling symlink is followed, in
            // the root, and its target created.
            let fd = sys.openat2(
                rootfd,
                prefix,
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
                IN_ROOT,
            )?;
            let _ = sys.close(fd);
            continue;
        }
        let parent = if i == 0 {
            rootfd
        } else {
            sys.openat2(
                rootfd,
                &prefixes[i - 1].0,
                O_PATH_FLAGS | libc::O_DIRECTORY,
                0,
                IN_ROOT,
            )?
        };
        let res = sys.mkdirat(parent, name, 0o755);
        if parent != rootfd {
            let _ = sys.close(parent);
        }
        match res {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    sys.openat2(rootfd, rel, O_PATH_FLAGS, 0, IN_ROOT)
}
