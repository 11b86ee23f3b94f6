//! Whiteouts (OCI image-spec "Whiteouts"), made as overlayfs shows them
//! (overlayfs(5) "whiteouts and opaque directories"): `.wh.NAME` removes
//! `NAME` and leaves a `0/0` character device in its place, `.wh..wh..opq`
//! marks the directory opaque (`trusted.overlay.opaque=y`). Other
//! `.wh..wh.` names are aufs bookkeeping and are skipped.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

use super::error::{Result, entry_err, entry_errno, host};
use super::meta::set_xattr;
use super::path::remove_at;

/// The overlayfs xattr marking an opaque directory.
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

/// Applies the whiteout whose name, after `.wh.`, is `hidden`, in the
/// directory `parent_fd` (`shown` names the entry in errors).
pub(super) fn apply(parent_fd: &OwnedFd, hidden: &[u8], shown: &str) -> Result<()> {
    if hidden == b".wh..opq" {
        let dir = openat(
            parent_fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| entry_errno(shown, "cannot open directory", e))?;
        set_xattr(dir.as_fd(), OPAQUE_XATTR, b"y").map_err(|e| host(shown, e))?;
    } else if hidden.starts_with(b".wh.") {
        // aufs bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): nothing to do.
    } else if hidden.is_empty() || hidden == b"." || hidden == b".." {
        return Err(entry_err(shown, "invalid whiteout name"));
    } else {
        let hidden = OsStr::from_bytes(hidden);
        remove_at(parent_fd, hidden).map_err(|e| entry_errno(shown, "remove", e))?;
        mknodat(
            parent_fd,
            hidden,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(|e| entry_errno(shown, "cannot make whiteout", e))?;
    }
    Ok(())
}
