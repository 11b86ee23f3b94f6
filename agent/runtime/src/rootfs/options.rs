//! A mount's `options` (mount(8) words) as `mount(2)` flags, propagation
//! changes, filesystem data and `mount_setattr(2)` attributes.

use libc::c_ulong;

/// Mount flags parsed from a mount's `options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MS_*` flags to set.
    pub flags: c_ulong,
    /// Propagation changes, applied after the mount in order.
    pub propagation: Vec<c_ulong>,
    /// Filesystem-specific options, comma-joined for `mount(2)`'s data.
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// `mount_setattr(2)` attributes for the whole tree (`rro`, `rnosuid`...).
    pub attr_set: u64,
    pub attr_clr: u64,
    /// `idmap`/`ridmap`: an id-mapped mount.
    pub idmap: bool,
    /// crun's `tmpcopyup`: fill a new tmpfs with what it covers.
    pub tmpcopyup: bool,
}

pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR__ATIME: u64 = 0x70;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// Flags a bind mount only gets through a remount.
pub(super) const REMOUNT_FLAGS: c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME
    | libc::MS_NOSYMFOLLOW;

impl MountOptions {
    /// Parses mount(8)-style options.
    pub fn parse(options: &[String]) -> MountOptions {
        let mut o = MountOptions::default();
        for opt in options {
            let (set, clear): (c_ulong, c_ulong) = match opt.as_str() {
                "defaults" => (0, 0),
                "ro" => (libc::MS_RDONLY, 0),
                "rw" => (0, libc::MS_RDONLY),
                "suid" => (0, libc::MS_NOSUID),
                "nosuid" => (libc::MS_NOSUID, 0),
                "dev" => (0, libc::MS_NODEV),
                "nodev" => (libc::MS_NODEV, 0),
                "exec" => (0, libc::MS_NOEXEC),
                "noexec" => (libc::MS_NOEXEC, 0),
                "sync" => (libc::MS_SYNCHRONOUS, 0),
                "async" => (0, libc::MS_SYNCHRONOUS),
                "dirsync" => (libc::MS_DIRSYNC, 0),
                "remount" => (libc::MS_REMOUNT, 0),
                "mand" => (libc::MS_MANDLOCK, 0),
                "nomand" => (0, libc::MS_MANDLOCK),
                "atime" => (0, libc::MS_NOATIME),
                "noatime" => (libc::MS_NOATIME, 0),
                "diratime" => (0, libc::MS_NODIRATIME),
                "nodiratime" => (libc::MS_NODIRATIME, 0),
                "relatime" => (libc::MS_RELATIME, 0),
                "norelatime" => (0, libc::MS_RELATIME),
                "strictatime" => (libc::MS_STRICTATIME, 0),
                "nostrictatime" => (0, libc::MS_STRICTATIME),
                "lazytime" => (libc::MS_LAZYTIME, 0),
                "nolazytime" => (0, libc::MS_LAZYTIME),
                "silent" => (libc::MS_SILENT, 0),
                "loud" => (0, libc::MS_SILENT),
                "nosymfollow" => (libc::MS_NOSYMFOLLOW, 0),
                "symfollow" => (0, libc::MS_NOSYMFOLLOW),
                "bind" => {
                    o.bind = true;
                    (0, 0)
                }
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                    (0, 0)
                }
                "private" => {
                    o.propagation.push(libc::MS_PRIVATE);
                    (0, 0)
                }
                "rprivate" => {
                    o.propagation.push(libc::MS_PRIVATE | libc::MS_REC);
                    (0, 0)
                }
                "shared" => {
                    o.propagation.push(libc::MS_SHARED);
                    (0, 0)
                }
                "rshared" => {
                    o.propagation.push(libc::MS_SHARED | libc::MS_REC);
                    (0, 0)
                }
                "slave" => {
                    o.propagation.push(libc::MS_SLAVE);
                    (0, 0)
                }
                "rslave" => {
                    o.propagation.push(libc::MS_SLAVE | libc::MS_REC);
                    (0, 0)
                }
                "unbindable" => {
                    o.propagation.push(libc::MS_UNBINDABLE);
                    (0, 0)
                }
                "runbindable" => {
                    o.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC);
                    (0, 0)
                }
                "idmap" | "ridmap" => {
                    o.idmap = true;
                    (0, 0)
                }
                "tmpcopyup" => {
                    o.tmpcopyup = true;
                    (0, 0)
                }
                other => {
                    if let Some((set, clr)) = recursive_attr(other) {
                        o.attr_set |= set;
                        o.attr_clr |= clr;
                    } else {
                        o.data.push(other.to_string());
                    }
                    (0, 0)
                }
            };
            o.flags = (o.flags | set) & !clear;
        }
        o
    }
}

/// `rro`, `rnosuid`, ... as mount_setattr(2) (set, clear) attributes.
fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        // The atime modes are one field: changing it needs the whole
        // field in attr_clr, and "clearing" a mode means relatime.
        "rrelatime" | "ratime" | "rnostrictatime" | "rnorelatime" => {
            (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME)
        }
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}
