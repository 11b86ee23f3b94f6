//! The container's filesystem: the spec's mounts, `/dev`, `pivot_root(2)`,
//! masked and read-only paths (OCI runtime spec, config.md "Mounts",
//! config-linux.md "Devices", "Masked Paths", "Readonly Paths").
//!
//! The runtime builds a [`RootfsPlan`] (all paths as C strings, all options
//! parsed); the init then applies it without allocating.
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

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use libc::{c_ulong, mode_t};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use crate::error::{Error, Result};
use crate::process::sync::{Msg, Step};
use crate::syscall::{Errno, Syscall};

/// A C string from a path (paths never hold NUL; a spec that sneaks one in
/// is refused by [`cstring`]'s caller).
pub(crate) fn cstring(bytes: &[u8], field: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::config(field, "contains a NUL byte"))
}

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

const MOUNT_ATTR_RDONLY: u64 = 0x1;
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
const REMOUNT_FLAGS: c_ulong = libc::MS_RDONLY
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

/// What one mount step does.
#[derive(Debug)]
pub(crate) enum MountKind {
    Bind {
        source: CString,
        recursive: bool,
    },
    /// A detached id-mapped tree the runtime prepared ([`crate::idmap`]),
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

/// The default devices of config-linux.md "Default Devices".
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_SYMLINKS: [(&CStr, &CStr); 5] = [
    (c"/proc/self/fd", c"fd"),
    (c"/proc/self/fd/0", c"stdin"),
    (c"/proc/self/fd/1", c"stdout"),
    (c"/proc/self/fd/2", c"stderr"),
    (c"pts/ptmx", c"ptmx"),
];

/// Cleans a container path lexically into components (no `.`, `..` stops
/// at the root).
fn clean(path: &Path) -> Vec<&std::ffi::OsStr> {
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
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done: Vec<std::ffi::OsString> = Vec::new();
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
fn rel_and_prefixes(path: &Path, field: &str) -> Result<(CString, Vec<(CString, CString)>)> {
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

/// What the planner needs to know besides the spec.
pub(crate) struct PlanContext<'a> {
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub userns: bool,
    pub new_cgroupns: bool,
    /// For `cgroup` mounts: (name under the mount, host directory) for each
    /// hierarchy of the container's cgroup; a single entry named "" on v2.
    pub cgroup_dirs: Vec<(String, PathBuf)>,
    /// The container's id mappings, for `idmap` mounts without their own.
    pub uid_maps: &'a [oci_spec::runtime::LinuxIdMapping],
    pub gid_maps: &'a [oci_spec::runtime::LinuxIdMapping],
}

impl RootfsPlan {
    /// Plans the spec's mounts and devices.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &PlanContext<'_>,
        mounts: &[Mount],
        devices: &[LinuxDevice],
        root_readonly: bool,
        rootfs_propagation: Option<&str>,
        masked: &[String],
        readonly: &[String],
        no_pivot: bool,
    ) -> Result<RootfsPlan> {
        let mut plan = RootfsPlan {
            rootfs: cstring(ctx.rootfs.as_os_str().as_bytes(), "root.path")?,
            propagation: libc::MS_SLAVE | libc::MS_REC,
            root_propagation: None,
            mounts: Vec::new(),
            devices: Vec::new(),
            dev_symlinks: false,
            userns: ctx.userns,
            masked: Vec::new(),
            readonly: Vec::new(),
            readonly_root: root_readonly,
            no_pivot,
            host_mntns: false,
        };
        if let Some(p) = rootfs_propagation.filter(|p| !p.is_empty()) {
            let flag = match p {
                "private" => libc::MS_PRIVATE,
                "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
                "slave" => libc::MS_SLAVE,
                "rslave" => libc::MS_SLAVE | libc::MS_REC,
                "shared" => libc::MS_SHARED,
                "rshared" => libc::MS_SHARED | libc::MS_REC,
                "unbindable" => libc::MS_UNBINDABLE,
                "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
                other => {
                    return Err(Error::config(
                        "linux.rootfsPropagation",
                        format!("unknown propagation {other:?}"),
                    ));
                }
            };
            // Shared and unbindable are set on the new root after
            // pivot_root (an unbindable root cannot be bind-mounted); the
            // host side stays at most slave so no mount escapes.
            if flag & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
                plan.root_propagation = Some(flag);
            } else {
                plan.propagation = flag | libc::MS_REC;
            }
        }
        let mut dev_is_tmpfs = false;
        for (i, m) in mounts.iter().enumerate() {
            let field = format!("mounts[{i}]");
            let dest = m.destination();
            if !dest.is_absolute() {
                return Err(Error::config(
                    format!("{field}.destination"),
                    format!("{} is not an absolute path", dest.display()),
                ));
            }
            let label = format!("{field} ({})", dest.display());
            let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
            let typ = m.typ().as_deref().unwrap_or("");
            let clean_dest: PathBuf = clean(dest).iter().collect();
            if clean_dest == Path::new("dev") && !opts.bind && typ != "bind" {
                dev_is_tmpfs = true;
            }
            let (rel, prefixes) = rel_and_prefixes(&resolve_in_rootfs(ctx.rootfs, dest)?, &field)?;
            let data = if opts.data.is_empty() {
                None
            } else {
                Some(cstring(
                    opts.data.join(",").as_bytes(),
                    &format!("{field}.options"),
                )?)
            };
            if opts.bind || typ == "bind" {
                let source = m.source().as_deref().ok_or_else(|| {
                    Error::config(format!("{field}.source"), "a bind mount needs a source")
                })?;
                let source = if source.is_absolute() {
                    source.to_path_buf()
                } else {
                    ctx.bundle.join(source)
                };
                let meta = std::fs::metadata(&source).map_err(|e| {
                    Error::config(
                        format!("{field}.source"),
                        format!("{}: {e}", source.display()),
                    )
                })?;
                let kind = if opts.idmap {
                    let (uid, gid) = match (
                        m.uid_mappings().as_deref(),
                        m.gid_mappings().as_deref(),
                    ) {
                        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
                        _ if !ctx.uid_maps.is_empty() && !ctx.gid_maps.is_empty() => {
                            (ctx.uid_maps, ctx.gid_maps)
                        }
                        _ => {
                            return Err(Error::config(
                                format!("{field}.options"),
                                "idmap needs uidMappings and gidMappings on the mount or a user namespace with mappings",
                            ));
                        }
                    };
                    let userns = crate::idmap::userns_with_maps(uid, gid)?;
                    let recursive =
                        opts.recursive || m.options().iter().flatten().any(|o| o == "ridmap");
                    MountKind::Idmapped {
                        tree: crate::idmap::idmapped_tree(&source, recursive, &userns)?,
                    }
                } else {
                    MountKind::Bind {
                        source: cstring(source.as_os_str().as_bytes(), &field)?,
                        recursive: opts.recursive,
                    }
                };
                plan.mounts.push(MountPlan {
                    no_symlink: false,
                    label,
                    rel,
                    prefixes,
                    file_target: !meta.is_dir(),
                    kind,
                    flags: opts.flags,
                    data,
                    propagation: opts.propagation,
                    attr_set: opts.attr_set,
                    attr_clr: opts.attr_clr,
                });
            } else if typ == "cgroup" || typ == "cgroup2" {
                plan.plan_cgroup_mount(ctx, &field, label, dest, &opts)?;
            } else {
                if typ.is_empty() || typ == "none" {
                    return Err(Error::config(
                        format!("{field}.type"),
                        "missing: a mount that is not a bind mount needs a filesystem type",
                    ));
                }
                let source = m
                    .source()
                    .as_deref()
                    .map(|s| s.as_os_str().as_bytes().to_vec())
                    .unwrap_or_else(|| typ.as_bytes().to_vec());
                let fallback = match typ {
                    "sysfs" => Some(c"/sys".to_owned()),
                    "mqueue" => Some(c"/dev/mqueue".to_owned()),
                    _ => None,
                };
                let no_symlink = matches!(typ, "proc" | "sysfs");
                if no_symlink {
                    let literal = ctx.rootfs.join(clean_dest.as_path());
                    if std::fs::symlink_metadata(&literal).is_ok_and(|m| !m.is_dir()) {
                        return Err(Error::config(
                            format!("{field}.destination"),
                            format!(
                                "{} is not a directory in the rootfs: {typ} must be mounted on ordinary directory",
                                dest.display()
                            ),
                        ));
                    }
                }
                plan.mounts.push(MountPlan {
                    no_symlink,
                    label,
                    rel,
                    prefixes,
                    file_target: false,
                    kind: MountKind::Fs {
                        fstype: cstring(typ.as_bytes(), &format!("{field}.type"))?,
                        source: cstring(&source, &format!("{field}.source"))?,
                        fallback,
                    },
                    flags: opts.flags,
                    data,
                    propagation: opts.propagation,
                    attr_set: opts.attr_set,
                    attr_clr: opts.attr_clr,
                });
            }
        }
        if dev_is_tmpfs {
            plan.dev_symlinks = true;
            for (name, major, minor) in DEFAULT_DEVICES {
                let path = PathBuf::from("/dev").join(name);
                plan.push_device(&path, libc::S_IFCHR | 0o666, major, minor, 0, 0, name)?;
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
            plan.push_device(
                d.path(),
                kind | perm,
                major as u32,
                minor as u32,
                d.uid().unwrap_or(0),
                d.gid().unwrap_or(0),
                &field,
            )?;
        }
        for (i, p) in masked.iter().enumerate() {
            plan.masked
                .push(cstring(p.as_bytes(), &format!("linux.maskedPaths[{i}]"))?);
        }
        for (i, p) in readonly.iter().enumerate() {
            plan.readonly
                .push(cstring(p.as_bytes(), &format!("linux.readonlyPaths[{i}]"))?);
        }
        Ok(plan)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_device(
        &mut self,
        path: &Path,
        mode: mode_t,
        major: u32,
        minor: u32,
        uid: u32,
        gid: u32,
        label: &str,
    ) -> Result<()> {
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
            host: cstring(clean_path_abs(&clean_path).as_os_str().as_bytes(), label)?,
            mode,
            dev: libc::makedev(major, minor),
            uid,
            gid,
        });
        Ok(())
    }

    fn plan_cgroup_mount(
        &mut self,
        ctx: &PlanContext<'_>,
        field: &str,
        label: String,
        dest: &Path,
        opts: &MountOptions,
    ) -> Result<()> {
        let (rel, prefixes) = rel_and_prefixes(&resolve_in_rootfs(ctx.rootfs, dest)?, field)?;
        let mount = |label: String, rel, prefixes, kind, flags, data| MountPlan {
            label,
            rel,
            prefixes,
            file_target: false,
            kind,
            flags,
            data,
            propagation: Vec::new(),
            attr_set: 0,
            attr_clr: 0,
            no_symlink: false,
        };
        let v2 = ctx.cgroup_dirs.len() == 1 && ctx.cgroup_dirs[0].0.is_empty();
        if v2 {
            let host = &ctx.cgroup_dirs[0].1;
            let kind = if ctx.new_cgroupns {
                MountKind::Fs {
                    fstype: c"cgroup2".to_owned(),
                    source: c"cgroup2".to_owned(),
                    fallback: Some(cstring(host.as_os_str().as_bytes(), field)?),
                }
            } else {
                MountKind::Bind {
                    source: cstring(host.as_os_str().as_bytes(), field)?,
                    recursive: true,
                }
            };
            self.mounts
                .push(mount(label, rel, prefixes, kind, opts.flags, None));
            return Ok(());
        }
        // v1: a tmpfs holding one bind mount per hierarchy, of the
        // container's own cgroup directory, then made read-only as asked.
        self.mounts.push(mount(
            label.clone(),
            rel.clone(),
            prefixes.clone(),
            MountKind::Fs {
                fstype: c"tmpfs".to_owned(),
                source: c"tmpfs".to_owned(),
                fallback: None,
            },
            (opts.flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(c"mode=755".to_owned()),
        ));
        for (name, host) in &ctx.cgroup_dirs {
            let sub = dest.join(name);
            let (srel, sprefixes) = rel_and_prefixes(&resolve_in_rootfs(ctx.rootfs, &sub)?, field)?;
            self.mounts.push(mount(
                format!("{label} {name}"),
                srel,
                sprefixes,
                MountKind::Bind {
                    source: cstring(host.as_os_str().as_bytes(), field)?,
                    recursive: false,
                },
                opts.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            ));
        }
        if opts.flags & libc::MS_RDONLY != 0 {
            self.mounts.push(mount(
                label,
                rel,
                prefixes,
                MountKind::Remount,
                opts.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            ));
        }
        Ok(())
    }

    /// Describes the object an init error's index refers to.
    pub(crate) fn describe(&self, step: Step, index: u32) -> String {
        let i = index as usize;
        let path = |v: &[CString]| v.get(i).map(|p| p.to_string_lossy().into_owned());
        match step {
            Step::MountTarget
            | Step::Mount
            | Step::Remount
            | Step::Propagation
            | Step::NotDirectory => self.mounts.get(i).map(|m| m.label.clone()),
            Step::Device => self.devices.get(i).map(|d| d.label.clone()),
            Step::Masked => path(&self.masked),
            Step::Readonly => path(&self.readonly),
            _ => None,
        }
        .unwrap_or_default()
    }
}

fn clean_path_abs(p: &Path) -> PathBuf {
    Path::new("/").join(p)
}

// ---------------------------------------------------------------------------
// The init's side: no allocation from here on.
// ---------------------------------------------------------------------------

/// Writes `/proc/self/fd/<fd>` into `buf`.
pub(crate) fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.max(0) as u32;
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

const O_PATH_FLAGS: i32 = libc::O_PATH | libc::O_CLOEXEC;
const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

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

/// `statfs` flags as the `MS_*` flags a bind remount must keep.
fn locked_flags(st: c_ulong) -> c_ulong {
    let mut f = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st & st_flag != 0 {
            f |= ms_flag;
        }
    }
    f
}

/// Attaches the detached tree `from` onto the directory (or file) `to`.
fn move_mount(from: RawFd, to: RawFd) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both fds are valid for the call; empty paths name the fds.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `mount_setattr(2)` for the recursive attributes.
fn mount_setattr(fd: RawFd, set: u64, clr: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    // SAFETY: `attr` lives for the call and its size is passed; the path is
    // the empty string with AT_EMPTY_PATH, i.e. the fd itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

impl RootfsPlan {
    /// Mounts everything into the rootfs (before `pivot_root`). Answers the
    /// rootfs fd.
    pub(crate) fn mount_all<S: Syscall + ?Sized>(&self, sys: &S) -> Result<RawFd, Msg> {
        let err = |step, i: usize| move |e: Errno| Msg::error(step, i as u32, e);
        if !self.host_mntns {
            sys.mount(None, c"/", None, self.propagation, None)
                .map_err(err(Step::RootPropagation, 0))?;
        }
        sys.mount(
            Some(&self.rootfs),
            &self.rootfs,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(err(Step::RootBind, 0))?;
        let rootfd = sys
            .openat2(
                libc::AT_FDCWD,
                &self.rootfs,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                0,
                0,
            )
            .map_err(err(Step::OpenRoot, 0))?;
        for (i, m) in self.mounts.iter().enumerate() {
            self.mount_one(sys, rootfd, m, i)?;
        }
        for (i, d) in self.devices.iter().enumerate() {
            self.make_device(sys, rootfd, d)
                .map_err(err(Step::Device, i))?;
        }
        if self.dev_symlinks {
            let devfd = sys
                .openat2(rootfd, c"dev", O_PATH_FLAGS | libc::O_DIRECTORY, 0, IN_ROOT)
                .map_err(err(Step::DevSymlink, 0))?;
            for (i, (target, name)) in DEV_SYMLINKS.iter().enumerate() {
                match sys.symlinkat(target, devfd, name) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(Msg::error(Step::DevSymlink, i as u32, e)),
                }
            }
            let _ = sys.close(devfd);
        }
        Ok(rootfd)
    }

    fn mount_one<S: Syscall + ?Sized>(
        &self,
        sys: &S,
        rootfd: RawFd,
        m: &MountPlan,
        i: usize,
    ) -> Result<(), Msg> {
        let err = |step| move |e: Errno| Msg::error(step, i as u32, e);
        if m.no_symlink {
            match sys.openat2(rootfd, &m.rel, O_PATH_FLAGS | libc::O_NOFOLLOW, 0, IN_ROOT) {
                Ok(fd) => {
                    let mode = sys.stat_mode(fd, c"", libc::AT_EMPTY_PATH);
                    let _ = sys.close(fd);
                    match mode {
                        Ok(m) if m & libc::S_IFMT == libc::S_IFDIR => {}
                        Ok(_) => {
                            return Err(Msg::error(Step::NotDirectory, i as u32, Errno::ENOTDIR));
                        }
                        Err(e) => return Err(Msg::error(Step::MountTarget, i as u32, e)),
                    }
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(Msg::error(Step::MountTarget, i as u32, e)),
            }
        }
        let fd = open_or_create(sys, rootfd, &m.rel, &m.prefixes, m.file_target)
            .map_err(err(Step::MountTarget))?;
        let mut buf = [0u8; 32];
        let target = fd_path(fd, &mut buf);
        let res = match &m.kind {
            MountKind::Bind { source, recursive } => {
                let rec = if *recursive { libc::MS_REC } else { 0 };
                sys.mount(Some(source), target, None, libc::MS_BIND | rec, None)
            }
            MountKind::Fs {
                fstype,
                source,
                fallback,
            } => {
                let flags = m.flags & !libc::MS_REMOUNT;
                match sys.mount(Some(source), target, Some(fstype), flags, m.data.as_deref()) {
                    Err(Errno::EPERM | Errno::EBUSY) if fallback.is_some() => {
                        let host = fallback.as_deref().unwrap_or(c"/");
                        sys.mount(Some(host), target, None, libc::MS_BIND | libc::MS_REC, None)
                    }
                    other => other,
                }
            }
            MountKind::Idmapped { tree } => move_mount(std::os::fd::AsRawFd::as_raw_fd(tree), fd),
            MountKind::Remount => Ok(()),
        };
        let _ = sys.close(fd);
        res.map_err(err(Step::Mount))?;
        // From here on act on the new mount, which covers the old target:
        // open it again.
        let needs_remount = match m.kind {
            MountKind::Bind { .. } | MountKind::Idmapped { .. } => m.flags & REMOUNT_FLAGS != 0,
            MountKind::Remount => true,
            MountKind::Fs { .. } => false,
        };
        if !needs_remount && m.propagation.is_empty() && m.attr_set == 0 && m.attr_clr == 0 {
            return Ok(());
        }
        let fd = sys
            .openat2(rootfd, &m.rel, O_PATH_FLAGS, 0, IN_ROOT)
            .map_err(err(Step::Remount))?;
        let target = fd_path(fd, &mut buf);
        let res = (|| {
            if needs_remount {
                let mut flags = m.flags & REMOUNT_FLAGS;
                if self.userns {
                    // Flags the kernel locked on the source must be kept.
                    let st = sys.statfs_flags(target).map_err(err(Step::Remount))?;
                    flags |= locked_flags(st) & !libc::MS_RDONLY;
                }
                let bind = if matches!(m.kind, MountKind::Bind { .. } | MountKind::Idmapped { .. })
                {
                    libc::MS_BIND
                } else {
                    0
                };
                sys.mount(
                    None,
                    target,
                    None,
                    libc::MS_REMOUNT | bind | flags,
                    m.data.as_deref().filter(|_| bind == 0),
                )
                .map_err(err(Step::Remount))?;
            }
            if m.attr_set != 0 || m.attr_clr != 0 {
                mount_setattr(fd, m.attr_set, m.attr_clr).map_err(err(Step::Remount))?;
            }
            for p in &m.propagation {
                sys.mount(None, target, None, *p, None)
                    .map_err(err(Step::Propagation))?;
            }
            Ok(())
        })();
        let _ = sys.close(fd);
        res
    }

    fn make_device<S: Syscall + ?Sized>(
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

    /// `pivot_root` into the rootfs (or move + chroot with `no_pivot`).
    pub(crate) fn pivot<S: Syscall + ?Sized>(&self, sys: &S, rootfd: RawFd) -> Result<(), Msg> {
        let err = |e: Errno| Msg::error(Step::PivotRoot, 0, e);
        sys.fchdir(rootfd).map_err(err)?;
        if self.host_mntns {
            sys.chroot(c".").map_err(err)?;
        } else if self.no_pivot {
            sys.mount(Some(c"."), c"/", None, libc::MS_MOVE, None)
                .map_err(err)?;
            sys.chroot(c".").map_err(err)?;
        } else {
            // pivot_root(".", ".") stacks the old root on top of the new one;
            // detaching it leaves the new root alone, with no directory to
            // hold the old one.
            sys.pivot_root(c".", c".").map_err(err)?;
            sys.mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
                .map_err(err)?;
            sys.umount2(c".", libc::MNT_DETACH).map_err(err)?;
        }
        sys.chdir(c"/").map_err(err)?;
        let _ = sys.close(rootfd);
        if let Some(p) = self.root_propagation {
            sys.mount(None, c"/", None, p, None)
                .map_err(|e| Msg::error(Step::RootPropagation, 0, e))?;
        }
        Ok(())
    }

    /// Masked and read-only paths, then the read-only root (after pivot).
    pub(crate) fn finish<S: Syscall + ?Sized>(&self, sys: &S) -> Result<(), Msg> {
        for (i, p) in self.masked.iter().enumerate() {
            let err = |e| Msg::error(Step::Masked, i as u32, e);
            let mode = match sys.stat_mode(libc::AT_FDCWD, p, 0) {
                Ok(m) => m,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(err(e)),
            };
            if mode & libc::S_IFMT == libc::S_IFDIR {
                sys.mount(Some(c"tmpfs"), p, Some(c"tmpfs"), libc::MS_RDONLY, None)
                    .map_err(err)?;
            } else {
                sys.mount(Some(c"/dev/null"), p, None, libc::MS_BIND, None)
                    .map_err(err)?;
            }
        }
        for (i, p) in self.readonly.iter().enumerate() {
            let err = |e| Msg::error(Step::Readonly, i as u32, e);
            match sys.stat_mode(libc::AT_FDCWD, p, 0) {
                Ok(_) => {}
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(err(e)),
            }
            sys.mount(Some(p), p, None, libc::MS_BIND | libc::MS_REC, None)
                .map_err(err)?;
            let flags = locked_flags(sys.statfs_flags(p).map_err(err)?);
            sys.mount(
                None,
                p,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | flags,
                None,
            )
            .map_err(err)?;
        }
        if self.readonly_root {
            let err = |e| Msg::error(Step::ReadonlyRoot, 0, e);
            let flags = locked_flags(sys.statfs_flags(c"/").map_err(err)?);
            sys.mount(
                None,
                c"/",
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | flags,
                None,
            )
            .map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::fake::Recorder;

    fn mounts(json: &str) -> Vec<Mount> {
        serde_json::from_str(json).unwrap()
    }

    fn ctx<'a>(bundle: &'a Path, rootfs: &'a Path) -> PlanContext<'a> {
        PlanContext {
            bundle,
            rootfs,
            userns: false,
            new_cgroupns: false,
            cgroup_dirs: vec![("memory".into(), "/sys/fs/cgroup/memory/berth/x".into())],
            uid_maps: &[],
            gid_maps: &[],
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        let res = |p: &str| resolve_in_rootfs(r, Path::new(p)).unwrap();
        assert_eq!(res("/abs/sub/x"), Path::new("real/sub/x"));
        assert_eq!(res("/up/passwd"), Path::new("etc/passwd"));
        assert_eq!(res("/../../a/./b/../c"), Path::new("a/c"));
        assert!(resolve_in_rootfs(r, Path::new("/loop/x")).is_err());
    }

    #[test]
    fn options_parse() {
        let o = MountOptions::parse(&[
            "nosuid".into(),
            "strictatime".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rprivate".into(),
            "rro".into(),
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, ["mode=755", "size=65536k"]);
        assert_eq!(o.propagation, [libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY);
        let o = MountOptions::parse(&["ro".into(), "rw".into(), "rbind".into()]);
        assert_eq!(o.flags, 0);
        assert!(o.bind && o.recursive);
    }

    #[test]
    fn fd_paths_render() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(7, &mut buf), c"/proc/self/fd/7");
        assert_eq!(fd_path(1234, &mut buf), c"/proc/self/fd/1234");
    }

    #[test]
    fn dev_tmpfs_brings_default_devices_and_symlinks() {
        let m = mounts(
            r#"[{"destination":"/proc","type":"proc","source":"proc"},
                {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}]"#,
        );
        let dir = Path::new("/tmp");
        let plan = RootfsPlan::new(&ctx(dir, dir), &m, &[], false, None, &[], &[], false).unwrap();
        assert!(plan.dev_symlinks);
        assert_eq!(plan.devices.len(), 6);
        assert_eq!(plan.mounts[1].rel.as_c_str(), c"dev");
        let rec = Recorder::default();
        let rootfd = plan.mount_all(&rec).unwrap();
        assert!(rootfd > 100);
        let calls = rec.calls_starting("mount");
        assert!(calls[0].starts_with("mount - / - 0x84000"), "{calls:?}");
        assert!(
            calls[1].starts_with("mount /tmp /tmp - 0x5000"),
            "{calls:?}"
        );
        assert!(calls[2].contains(" proc 0x0 -"), "{calls:?}");
        assert!(calls[3].contains(" tmpfs 0x2 mode=755"), "{calls:?}");
        assert_eq!(rec.calls_starting("mknodat").len(), 6);
        assert!(rec.calls_starting("symlinkat pts/ptmx").len() == 1);
    }

    #[test]
    fn missing_targets_are_created_inside_the_root() {
        let m = mounts(r#"[{"destination":"/a/b/../c","type":"tmpfs","source":"tmpfs"}]"#);
        let dir = Path::new("/tmp");
        let plan = RootfsPlan::new(&ctx(dir, dir), &m, &[], false, None, &[], &[], false).unwrap();
        assert_eq!(plan.mounts[0].rel.as_c_str(), c"a/c");
        let rec = Recorder::default();
        rec.missing.borrow_mut().insert("a/c".into());
        plan.mount_all(&rec).unwrap();
        let mk = rec.calls_starting("mkdirat");
        assert_eq!(mk.len(), 1, "{:?}", rec.calls.borrow());
        assert!(mk[0].contains(" c 755"));
        // Every open of a target is scoped to the root.
        for c in rec.calls_starting("openat2") {
            if !c.contains("/tmp") && !c.ends_with("ENOENT") {
                assert!(c.contains(&format!("{:#x}", IN_ROOT)), "{c}");
            }
        }
    }

    #[test]
    fn bind_needs_an_existing_source_and_ro_means_remount() {
        let m = mounts(
            r#"[{"destination":"/x","type":"bind","source":"/nonexistent/src","options":["rbind"]}]"#,
        );
        let dir = Path::new("/tmp");
        let err = RootfsPlan::new(&ctx(dir, dir), &m, &[], false, None, &[], &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mounts[0].source"), "{err}");
        let m = mounts(
            r#"[{"destination":"/x","type":"bind","source":"/tmp","options":["rbind","ro"]}]"#,
        );
        let plan = RootfsPlan::new(&ctx(dir, dir), &m, &[], false, None, &[], &[], false).unwrap();
        let rec = Recorder::default();
        plan.mount_all(&rec).unwrap();
        let calls = rec.calls_starting("mount");
        assert!(
            calls[2].starts_with("mount /tmp /proc/self/fd/"),
            "{calls:?}"
        );
        assert!(calls[2].contains(" - 0x5000 "), "{calls:?}");
        assert!(calls[3].starts_with("mount - /proc/self/fd/"), "{calls:?}");
        assert!(
            calls[3].contains(" - 0x1021 "),
            "remount bind ro: {calls:?}"
        );
    }

    #[test]
    fn v1_cgroup_mount_becomes_tmpfs_and_binds() {
        let m = mounts(
            r#"[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro","nosuid"]}]"#,
        );
        let dir = Path::new("/tmp");
        let plan = RootfsPlan::new(&ctx(dir, dir), &m, &[], false, None, &[], &[], false).unwrap();
        assert_eq!(plan.mounts.len(), 3);
        assert!(matches!(plan.mounts[0].kind, MountKind::Fs { .. }));
        assert_eq!(plan.mounts[0].flags & libc::MS_RDONLY, 0);
        assert_eq!(plan.mounts[1].rel.as_c_str(), c"sys/fs/cgroup/memory");
        assert!(matches!(plan.mounts[2].kind, MountKind::Remount));
    }

    #[test]
    fn devices_must_live_under_dev() {
        let d: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/etc/evil","type":"c","major":1,"minor":3}]"#)
                .unwrap();
        let dir = Path::new("/tmp");
        let err = RootfsPlan::new(&ctx(dir, dir), &[], &d, false, None, &[], &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.devices[0].path"), "{err}");
    }

    #[test]
    fn masking_after_pivot() {
        let dir = Path::new("/tmp");
        let plan = RootfsPlan::new(
            &ctx(dir, dir),
            &[],
            &[],
            true,
            None,
            &["/proc/kcore".into(), "/proc/acpi".into()],
            &["/proc/sys".into()],
            false,
        )
        .unwrap();
        let mut rec = Recorder::default();
        rec.files.insert("/proc/kcore".into());
        plan.finish(&rec).unwrap();
        let calls = rec.calls_starting("mount");
        assert!(
            calls[0].starts_with("mount /dev/null /proc/kcore - 0x1000"),
            "{calls:?}"
        );
        assert!(
            calls[1].starts_with("mount tmpfs /proc/acpi tmpfs 0x1"),
            "{calls:?}"
        );
        assert!(
            calls[2].starts_with("mount /proc/sys /proc/sys - 0x5000"),
            "{calls:?}"
        );
        assert!(
            calls[3].starts_with("mount - /proc/sys - 0x1027"),
            "{calls:?}"
        );
        assert!(calls[4].starts_with("mount - / - 0x1027"), "{calls:?}");
    }
}
