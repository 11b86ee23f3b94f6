//! Device nodes under `/dev`: the spec's `linux.devices` and, on a `/dev`
//! tmpfs of our own, the default ones (config-linux.md "Devices", "Default
//! Devices"); planned by the runtime, made by the init (`mknod`, or a bind
//! of the host's node inside a user namespace, where mknod is refused).

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::mode_t;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::RootfsPlan;
use super::error::{Error, Result};
use super::resolve::{
    IN_ROOT, O_PATH_FLAGS, absolute, clean, cstring, fd_path, open_or_create, rel_and_prefixes,
};
use crate::syscall::{Errno, Syscall};

/// A device node to make under /dev.
#[derive(Debug)]
pub(crate) struct DevicePlan {
    pub label: String,
    /// Parent dirs to create (as in [`MountPlan::prefixes`]), then the node.
    pub prefixes: Vec<(CString, CString)>,
    pub rel: CString,
    /// The host node to bind when mknod is not allowed (user namespace).
    pub host: CString,
    pub mode: mode_t,
    pub dev: u64,
    pub uid: u32,
    pub gid: u32,
}

/// The default devices of config-linux.md "Default Devices".
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The links a `/dev` tmpfs of our own gets (config-linux.md "Default
/// Devices"): (target, name under /dev).
pub(super) const DEV_SYMLINKS: [(&CStr, &CStr); 5] = [
    (c"/proc/self/fd", c"fd"),
    (c"/proc/self/fd/0", c"stdin"),
    (c"/proc/self/fd/1", c"stdout"),
    (c"/proc/self/fd/2", c"stderr"),
    (c"pts/ptmx", c"ptmx"),
];

/// A node's type and permission bits, numbers and owner.
struct Node {
    mode: mode_t,
    major: u32,
    minor: u32,
    uid: u32,
    gid: u32,
}

impl RootfsPlan {
    /// Plans the default devices (with `defaults`) and the spec's.
    pub(super) fn plan_devices(&mut self, devices: &[LinuxDevice], defaults: bool) -> Result<()> {
        if defaults {
            self.dev_symlinks = true;
            for (name, major, minor) in DEFAULT_DEVICES {
                let path = PathBuf::from("/dev").join(name);
                let node = Node {
                    mode: libc::S_IFCHR | 0o666,
                    major,
                    minor,
                    uid: 0,
                    gid: 0,
                };
                self.push_device(&path, node, name)?;
            }
        }
        for (i, d) in devices.iter().enumerate() {
            let field = format!("linux.devices[{i}]");
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
                LinuxDeviceType::B => libc::S_IFBLK,
                LinuxDeviceType::P => libc::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(Error::config(
                        format!("{field}.type"),
                        "must be c, b, u or p",
                    ));
                }
            };
            let perm = d.file_mode().unwrap_or(0o666) & 0o7777;
            let (major, minor) = (d.major(), d.minor());
            if kind != libc::S_IFIFO && (major < 0 || minor < 0) {
                return Err(Error::config(
                    format!("{field}.major"),
                    "major and minor must not be negative",
                ));
            }
            let node = Node {
                mode: kind | perm,
                major: low32(major),
                minor: low32(minor),
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            };
            self.push_device(d.path(), node, &field)?;
        }
        Ok(())
    }

    fn push_device(&mut self, path: &Path, node: Node, label: &str) -> Result<()> {
        let clean_path: PathBuf = clean(path).iter().collect();
        if !clean_path.starts_with("dev") || clean_path == Path::new("dev") {
            return Err(Error::config(
                format!("{label}.path"),
                format!("{} is not under /dev", path.display()),
            ));
        }
        let (rel, prefixes) = rel_and_prefixes(path, label)?;
        // A later entry for the same path replaces an earlier (default) one.
        self.devices.retain(|d| d.rel != rel);
        self.devices.push(DevicePlan {
            label: format!("{label} ({})", path.display()),
            prefixes,
            rel,
            host: cstring(absolute(&clean_path).as_os_str().as_bytes(), label)?,
            mode: node.mode,
            dev: libc::makedev(node.major, node.minor),
            uid: node.uid,
            gid: node.gid,
        });
        Ok(())
    }

    /// Makes device node `d` (the init's side; no allocation).
    pub(super) fn make_device<S: Syscall + ?Sized>(
        &self,
        sys: &S,
        rootfd: RawFd,
        d: &DevicePlan,
    ) -> Result<(), Errno> {
        let n = d.prefixes.len();
        if n >= 2 {
            // The parent directory, made like a mount target.
            let (parent_rel, _) = &d.prefixes[n - 2];
            let fd = open_or_create(sys, rootfd, parent_rel, &d.prefixes[..n - 1], false)?;
            let _ = sys.close(fd);
        }
        let parent = if n >= 2 {
            sys.openat2(
                rootfd,
                &d.prefixes[n - 2].0,
                O_PATH_FLAGS | libc::O_DIRECTORY,
                0,
                IN_ROOT,
            )?
        } else {
            return Err(Errno::EINVAL);
        };
        let name = &d.prefixes[n - 1].1;
        let res = (|| {
            if self.userns && d.mode & libc::S_IFMT != libc::S_IFIFO {
                // No mknod in a user namespace: bind the host's node onto
                // an empty file.
                match sys.openat(
                    parent,
                    name,
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                ) {
                    Ok(fd) => {
                        let _ = sys.close(fd);
                    }
                    Err(e) => return Err(e),
                }
                let fd = sys.openat2(rootfd, &d.rel, O_PATH_FLAGS, 0, IN_ROOT)?;
                let mut buf = [0u8; 32];
                let res = sys.mount(
                    Some(&d.host),
                    fd_path(fd, &mut buf),
                    None,
                    libc::MS_BIND,
                    None,
                );
                let _ = sys.close(fd);
                return res;
            }
            match sys.mknodat(parent, name, d.mode, d.dev) {
                Ok(()) => {}
                Err(Errno::EEXIST) => return Ok(()),
                Err(e) => return Err(e),
            }
            sys.fchownat(parent, name, d.uid, d.gid, libc::AT_SYMLINK_NOFOLLOW)
        })();
        let _ = sys.close(parent);
        res
    }
}

/// The low 32 bits of a device number, as `mknod` takes it (a fifo's
/// numbers are not checked and not used).
fn low32(v: i64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}
