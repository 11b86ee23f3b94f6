//! Path safety: a tar name is cleaned lexically ([`clean`]), then resolved
//! by the kernel inside the snapshot root ([`Root`], `openat2(2)` with
//! `RESOLVE_IN_ROOT`), so neither `..` nor a symlink planted by an earlier
//! entry leads out of it; [`remove_at`] clears a name without following
//! symlinks.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::error::{Result, entry_errno, host};

/// The snapshot directory every entry is resolved in.
pub(super) struct Root(pub(super) OwnedFd);

impl Root {
    /// Opens `path` (relative, cleaned) with the kernel resolving it inside
    /// the snapshot root.
    pub(super) fn resolve(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let path: &Path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(&self.0, path, how) {
                // openat2 asks to retry when a rename raced the lookup.
                Err(Errno::EAGAIN) => continue,
                other => return other,
            }
        }
    }

    /// The directory `comps` resolved in the root, created (0755, root) when
    /// missing, as tar implies parents.
    pub(super) fn parent(&self, comps: &[OsString], shown: &str) -> Result<OwnedFd> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.resolve(&join(comps), dir_flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(entry_errno(shown, "parent is not a directory", e)),
        }
        let mut fd = self
            .resolve(Path::new("."), dir_flags)
            .map_err(|e| host(shown, e))?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            fd = match self.resolve(&prefix, dir_flags) {
                Ok(next) => next,
                Err(Errno::ENOENT) => {
                    mkdirat(&fd, comps[i].as_os_str(), Mode::from_bits_truncate(0o755)).map_err(
                        |e| entry_errno(shown, "cannot create parent (dangling symlink?)", e),
                    )?;
                    self.resolve(&prefix, dir_flags)
                        .map_err(|e| entry_errno(shown, "cannot open new parent", e))?
                }
                Err(e) => return Err(entry_errno(shown, "parent is not a directory", e)),
            };
        }
        Ok(fd)
    }
}

/// Cleans a tar name lexically: drops empty and `.` parts, and `..` pops
/// (never above the root). Resolution proper is the kernel's, in the root.
pub(super) fn clean(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte".to_string());
    }
    let mut comps: Vec<OsString> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            p => {
                if p.len() > 255 {
                    return Err("a path component is longer than 255 bytes".to_string());
                }
                comps.push(OsString::from_vec(p.to_vec()));
            }
        }
    }
    Ok(comps)
}

/// The relative path of cleaned components.
pub(super) fn join(comps: &[OsString]) -> PathBuf {
    let mut p = PathBuf::new();
    for c in comps {
        p.push(c);
    }
    p
}

/// Removes `name` in `dir` (recursively for a directory) without following
/// symlinks; a missing name is fine.
pub(super) fn remove_at<Fd: AsFd>(dir: &Fd, name: &OsStr) -> nix::Result<()> {
    let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let children: Vec<OsString> = {
            let dup = sub.try_clone().map_err(|_| Errno::EMFILE)?;
            let mut listing = nix::dir::Dir::from_fd(dup)?;
            listing
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
                .filter(|n| n != "." && n != "..")
                .collect()
        };
        for child in children {
            remove_at(&sub, &child)?;
        }
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_names_lexically() {
        let c = |s: &str| {
            clean(s.as_bytes())
                .unwrap()
                .into_iter()
                .map(|o| o.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(c("./a/b"), ["a", "b"]);
        assert_eq!(c("/etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("a/../../b/./c/"), ["b", "c"]);
        assert!(c("./").is_empty());
        assert!(clean(b"a\0b").is_err());
    }
}
