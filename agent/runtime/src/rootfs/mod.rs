//! The container's filesystem: the spec's mounts, `/dev`, `pivot_root(2)`,
//! masked and read-only paths (OCI runtime spec, config.md "Mounts",
//! config-linux.md "Devices", "Masked Paths", "Readonly Paths").
//!
//! The runtime builds a [`RootfsPlan`] from a [`RootfsInput`] (all paths
//! as C strings, all options parsed, id-mapped trees prepared); the init
//! then applies it without allocating. The module knows nothing of how the
//! init talks to the runtime: a failure while applying is a plain
//! [`Failure`] the caller forwards.
//!
//! | file | what |
//! |---|---|
//! | `options.rs` | a mount's `options` as flags, propagation, data, attributes |
//! | `resolve.rs` | container paths cleaned and resolved inside the rootfs |
//! | `plan.rs` | the spec's mounts as [`MountPlan`]s (bind, filesystem, cgroup) |
//! | `devices.rs` | device nodes: planned, then made by the init |
//! | `idmap.rs` | id-mapped bind mounts, prepared before the clone |
//! | `apply.rs` | the init's side: mount, pivot_root, masked and read-only paths |
//! | `error.rs` | planning errors ([`Error`]) and the init's [`Failure`] |
//!
//! Mount targets are resolved inside the rootfs with `openat2(2)` and
//! `RESOLVE_IN_ROOT`, so a symlink in the image (`/proc -> /`) can never
//! send a mount onto the host; the mount is then made onto
//! `/proc/self/fd/<fd>` of the resolved target. Missing targets are created
//! one component at a time, each relative to its resolved parent.
//!
//! Without a rootfs that is a mount point, `pivot_root` is impossible (a
//! ramfs initramfs root): with `no_pivot` the rootfs is moved over `/` and
//! `chroot`ed into instead, which is weaker (the old root stays reachable to
//! a process with CAP_SYS_CHROOT) and therefore opt-in, as in runc.

use std::ffi::CString;

use libc::c_ulong;

mod apply;
mod devices;
mod error;
mod idmap;
mod options;
mod plan;
mod resolve;
#[cfg(test)]
mod tests;

pub(crate) use devices::DevicePlan;
pub use error::{Error, Failure, Result, Step};
pub use options::MountOptions;
pub(crate) use plan::RootfsInput;
pub use resolve::resolve_in_rootfs;
pub(crate) use resolve::{fd_path, open_or_create};

/// What one mount step does.
#[derive(Debug)]
pub(crate) enum MountKind {
    Bind {
        source: CString,
        recursive: bool,
    },
    /// A detached id-mapped tree the runtime prepared ([`idmap`]),
    /// attached with move_mount(2).
    Idmapped {
        tree: std::os::fd::OwnedFd,
    },
    Fs {
        fstype: CString,
        source: CString,
        /// Bind this host path instead when the kernel refuses the
        /// filesystem (sysfs or mqueue inside a user namespace).
        fallback: Option<CString>,
    },
    /// Remount what is at the target with `flags` (the read-only tmpfs of a
    /// v1 cgroup mount, once filled).
    Remount,
}

/// One mount, ready for the init.
#[derive(Debug)]
pub(crate) struct MountPlan {
    /// For error messages: `mounts[3] (/dev/pts)`.
    pub label: String,
    /// The destination relative to the rootfs, cleaned (`dev/pts`).
    pub rel: CString,
    /// Each ancestor of `rel` and `rel` itself with its last component,
    /// for creating missing targets one level at a time.
    pub prefixes: Vec<(CString, CString)>,
    /// Whether a missing target is a file (bind of a file) or a directory.
    pub file_target: bool,
    pub kind: MountKind,
    pub flags: c_ulong,
    pub data: Option<CString>,
    pub propagation: Vec<c_ulong>,
    pub attr_set: u64,
    pub attr_clr: u64,
    /// proc and sysfs must land on a real directory, never on a symlink
    /// (CVE-2019-19921 and friends).
    pub no_symlink: bool,
}

/// The whole filesystem setup.
#[derive(Debug)]
pub(crate) struct RootfsPlan {
    pub rootfs: CString,
    /// Propagation for every mount first (default `MS_SLAVE | MS_REC`), so
    /// nothing the container mounts reaches the host.
    pub propagation: c_ulong,
    /// `linux.rootfsPropagation` for the new root once pivoted.
    pub root_propagation: Option<c_ulong>,
    pub mounts: Vec<MountPlan>,
    pub devices: Vec<DevicePlan>,
    /// /dev is a tmpfs of our own: add the standard symlinks.
    pub dev_symlinks: bool,
    /// In a user namespace: bind device nodes instead of mknod, and keep
    /// locked flags on remounts.
    pub userns: bool,
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
    pub readonly_root: bool,
    pub no_pivot: bool,
    /// No mount namespace of its own: the mounts are made in the caller's
    /// namespace (visible on the host, as with runc) and the init only
    /// chroots; "/" is left alone.
    pub host_mntns: bool,
}
