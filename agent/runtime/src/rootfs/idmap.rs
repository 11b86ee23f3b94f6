//! Id-mapped bind mounts (mount options `idmap` / `ridmap`, config.md
//! "Mounts", mount_setattr(2) `MOUNT_ATTR_IDMAP`).
//!
//! Marking a mount id-mapped needs CAP_SYS_ADMIN over the filesystem's own
//! user namespace, which the init (inside the container's user namespace)
//! does not have. So the runtime prepares the mount before the clone: a
//! detached copy of the source tree (`open_tree(OPEN_TREE_CLONE)`), mapped
//! through a user namespace that holds the mount's mappings (or the
//! container's). The init then only attaches it with `move_mount(2)`.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;

use super::error::{Error, Result};
use crate::namespaces::format_id_map;
use crate::syscall::Errno;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A user namespace with these mappings, held by its fd. A short-lived
/// child makes it; the namespace lives on through the fd.
pub(crate) fn userns_with_maps(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    // SAFETY: a raw clone into a new user namespace; the child only calls
    // pause(2) until it is killed below, so it needs nothing from the
    // (possibly multi-threaded) parent's state.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(Error::sys(
            "clone a user namespace for an id-mapped mount",
            Errno::last(),
        ));
    }
    if pid == 0 {
        loop {
            // SIGKILL (from `reap` below) ends the child.
            nix::unistd::pause();
        }
    }
    let pid = libc::pid_t::try_from(pid).unwrap_or(libc::pid_t::MAX);
    let result = (|| {
        for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
            if maps.is_empty() {
                continue;
            }
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, format_id_map(maps)).map_err(|e| Error::io("write", path, e))?;
        }
        let path = format!("/proc/{pid}/ns/user");
        let f = std::fs::File::open(&path).map_err(|e| Error::io("open", path, e))?;
        Ok(OwnedFd::from(f))
    })();
    crate::child::reap(pid);
    result
}

/// A detached, id-mapped copy of the tree at `source`.
pub(crate) fn idmapped_tree(source: &Path, recursive: bool, userns: &OwnedFd) -> Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(source.as_os_str().as_bytes())
        .map_err(|_| Error::config("mounts", "a source path holds a NUL byte"))?;
    let rec = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: valid C string; the result is a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | rec,
        )
    };
    if fd < 0 {
        return Err(Error::sys(
            format!("open_tree {}", source.display()),
            Errno::last(),
        ));
    }
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(RawFd::try_from(fd).unwrap_or(-1)) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: u64::from(userns.as_raw_fd().cast_unsigned()),
    };
    // SAFETY: `attr` lives for the call and its size is passed; the empty
    // path with AT_EMPTY_PATH names `tree` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | rec,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(Error::sys(
            format!(
                "id-map the mount of {} (the filesystem may not support it)",
                source.display()
            ),
            Errno::last(),
        ));
    }
    Ok(tree)
}
