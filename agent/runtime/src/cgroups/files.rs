//! Reading and writing cgroup control files, with errors that name the file
//! and the value.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{Error, Result};

/// Writes `value` to `dir/file` (no create, no truncate: cgroupfs files exist).
pub(crate) fn write(dir: &Path, file: &str, value: impl AsRef<str>) -> Result<()> {
    let path = dir.join(file);
    let value = value.as_ref();
    let res = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| Error::Write {
        path,
        value: value.to_string(),
        err: source,
    })
}

/// Reads `dir/file` as text.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, err: source })
}

/// Reads `dir/file`, or `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, err: source }),
    }
}

/// Reads a single number; `max` (v2's "no limit") reads as `None`.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    let Some(text) = read_opt(dir, file)? else {
        return Ok(None);
    };
    parse_u64_or_max(&text).map_err(|reason| Error::Parse {
        path: dir.join(file),
        reason,
    })
}

pub(crate) fn parse_u64_or_max(text: &str) -> std::result::Result<Option<u64>, String> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|e| format!("{t:?} is not a number: {e}"))
}

/// The value of `key` in a flat-keyed file (`key value` per line).
pub(crate) fn keyed<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then_some(v.trim())
    })
}

pub(crate) fn keyed_u64(text: &str, key: &str) -> u64 {
    keyed(text, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The pids listed in a `cgroup.procs` file.
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    let text = read(dir, "cgroup.procs")?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// `mkdir -p`, answering the directories it created (outermost first).
pub(crate) fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    // The usual case, the parent there already: one mkdir, no lookups.
    match fs::create_dir(dir) {
        Ok(()) => return Ok(vec![dir.to_path_buf()]),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(Vec::new()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Create {
                path: dir.to_path_buf(),
                err: source,
            });
        }
    }
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    missing.reverse();
    for d in &missing {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::Create {
                    path: d.clone(),
                    err: source,
                });
            }
        }
    }
    Ok(missing)
}

/// `rmdir`, retrying while the kernel still counts exiting tasks; a missing
/// directory is fine.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    let mut last_err = None;
    super::wait_until(std::time::Duration::from_secs(5), || {
        match fs::remove_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => true,
            Err(e) => {
                let retry = e.raw_os_error() == Some(libc::EBUSY);
                last_err = Some(e);
                !retry
            }
        }
    });
    if dir.exists() {
        return Err(Error::Remove {
            path: dir.to_path_buf(),
            err: last_err.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EBUSY)),
        });
    }
    Ok(())
}
