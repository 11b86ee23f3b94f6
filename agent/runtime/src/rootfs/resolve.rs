//! Container paths: cleaned lexically, and resolved inside the rootfs the
//! way the container will see them (symlinks followed with the rootfs as
//! `/`).

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result};

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
