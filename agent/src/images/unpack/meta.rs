//! An entry's ownership, mode, time and xattrs: read from its tar and pax
//! headers ([`read_meta`], only `user.*` and `security.capability` xattrs
//! kept) and applied to what was made ([`apply_meta_fd`]).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;

use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;

/// Ownership, mode, time and xattrs of an entry.
pub(super) struct Meta {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mode: u32,
    pub(super) mtime: u64,
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

/// The time of a tar entry (seconds since the epoch); one beyond what
/// `time_t` holds is the latest it can hold.
pub(super) fn timespec(secs: u64) -> TimeSpec {
    TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0)
}

/// An entry's metadata, or why its headers are unreadable.
pub(super) fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> std::result::Result<Meta, String> {
    let header = entry.header();
    let mut meta = Meta {
        uid: header
            .uid()
            .map_err(|e| format!("bad uid: {e}"))?
            .try_into()
            .map_err(|_| "uid out of range".to_string())?,
        gid: header
            .gid()
            .map_err(|e| format!("bad gid: {e}"))?
            .try_into()
            .map_err(|_| "gid out of range".to_string())?,
        mode: header.mode().map_err(|e| format!("bad mode: {e}"))? & 0o7777,
        mtime: header.mtime().unwrap_or(0),
        xattrs: Vec::new(),
    };
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax {
            let ext = ext.map_err(|e| format!("bad pax header: {e}"))?;
            let Ok(key) = ext.key() else { continue };
            match key {
                "uid" | "gid" => {
                    let id: u32 = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| format!("bad pax {key}"))?;
                    if key == "uid" {
                        meta.uid = id;
                    } else {
                        meta.gid = id;
                    }
                }
                "mtime" => {
                    if let Some(secs) = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|s| s.split('.').next())
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        meta.mtime = secs;
                    }
                }
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.")
                        && (name.starts_with("user.") || name == "security.capability")
                        && let Ok(name) = CString::new(name)
                    {
                        meta.xattrs.push((name, ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

/// chown, then chmod (chown clears setuid/setgid), xattrs, then mtime.
pub(super) fn apply_meta_fd(file: &File, meta: &Meta) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))?;
    file.set_permissions(std::fs::Permissions::from_mode(meta.mode))?;
    for (name, value) in &meta.xattrs {
        set_xattr(file.as_fd(), name, value)?;
    }
    let t = timespec(meta.mtime);
    futimens(file, &t, &t)?;
    Ok(())
}

/// Sets xattr `name` on `fd`.
pub(super) fn set_xattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor borrowed for the call, `name` is a
    // NUL-terminated string and `value` a slice whose pointer and length are
    // passed together; the kernel only reads them.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
