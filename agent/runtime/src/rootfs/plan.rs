//! Planning: the spec's mounts as [`MountPlan`]s, checked, resolved
//! inside the rootfs and turned into C strings, so that the init only has
//! to apply them.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxIdMapping, Mount};

use super::error::{Error, Result, Step};
use super::idmap;
use super::options::MountOptions;
use super::resolve::{clean, cstring, rel_and_prefixes, resolve_in_rootfs};
use super::{MountKind, MountPlan, RootfsPlan};

/// What the rootfs is planned from: the spec's parts, and what the runtime
/// knows besides (namespaces, the container's cgroup directories).
pub(crate) struct RootfsInput<'a> {
    /// The bundle, for relative bind sources.
    pub bundle: &'a Path,
    /// The rootfs, canonical.
    pub rootfs: &'a Path,
    /// `mounts`.
    pub mounts: &'a [Mount],
    /// `linux.devices`.
    pub devices: &'a [LinuxDevice],
    /// `root.readonly`.
    pub readonly_root: bool,
    /// `linux.rootfsPropagation`.
    pub propagation: Option<&'a str>,
    /// `linux.maskedPaths`.
    pub masked_paths: &'a [String],
    /// `linux.readonlyPaths`.
    pub readonly_paths: &'a [String],
    /// Move the rootfs over `/` and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The container has a user namespace (new or joined).
    pub userns: bool,
    /// The container has no mount namespace of its own.
    pub host_mntns: bool,
    /// The container gets a new cgroup namespace.
    pub new_cgroupns: bool,
    /// For `cgroup` mounts: (name under the mount, host directory) for each
    /// hierarchy of the container's cgroup; a single entry named "" on v2.
    pub cgroup_dirs: Vec<(String, PathBuf)>,
    /// The container's id mappings, for `idmap` mounts without their own.
    pub uid_maps: &'a [LinuxIdMapping],
    pub gid_maps: &'a [LinuxIdMapping],
}

impl RootfsPlan {
    /// Plans the spec's mounts, devices, masked and read-only paths.
    pub(crate) fn new(input: &RootfsInput<'_>) -> Result<RootfsPlan> {
        let mut plan = RootfsPlan {
            rootfs: cstring(input.rootfs.as_os_str().as_bytes(), "root.path")?,
            propagation: libc::MS_SLAVE | libc::MS_REC,
            root_propagation: None,
            mounts: Vec::new(),
            devices: Vec::new(),
            dev_symlinks: false,
            userns: input.userns,
            masked: Vec::new(),
            readonly: Vec::new(),
            readonly_root: input.readonly_root,
            no_pivot: input.no_pivot,
            host_mntns: input.host_mntns,
        };
        if let Some(p) = input.propagation.filter(|p| !p.is_empty()) {
            plan.set_propagation(p)?;
        }
        // The default devices go into /dev unless /dev is a bind mount
        // (the host's or another's /dev): into the container's own tmpfs,
        // or into the rootfs's /dev when nothing is mounted there, as runc
        // and crun do.
        let mut dev_bound = false;
        for (i, m) in input.mounts.iter().enumerate() {
            dev_bound |= plan.plan_mount(input, i, m)?;
        }
        plan.plan_devices(input.devices, !dev_bound)?;
        for (i, p) in input.masked_paths.iter().enumerate() {
            plan.masked
                .push(cstring(p.as_bytes(), &format!("linux.maskedPaths[{i}]"))?);
        }
        for (i, p) in input.readonly_paths.iter().enumerate() {
            plan.readonly
                .push(cstring(p.as_bytes(), &format!("linux.readonlyPaths[{i}]"))?);
        }
        Ok(plan)
    }

    /// `linux.rootfsPropagation`.
    fn set_propagation(&mut self, p: &str) -> Result<()> {
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
        // Shared and unbindable are set on the new root after pivot_root
        // (an unbindable root cannot be bind-mounted); the host side stays
        // at most slave so no mount escapes.
        if flag & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
            self.root_propagation = Some(flag);
        } else {
            self.propagation = flag | libc::MS_REC;
        }
        Ok(())
    }

    /// Plans `mounts[i]`; answers whether it is a bind mount on `/dev`
    /// (which then gets no default devices).
    fn plan_mount(&mut self, input: &RootfsInput<'_>, i: usize, m: &Mount) -> Result<bool> {
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
        let bind = opts.bind || typ == "bind";
        let clean_dest: PathBuf = clean(dest).iter().collect();
        let dev_bound = clean_dest == Path::new("dev") && bind;
        let (rel, prefixes) = rel_and_prefixes(&resolve_in_rootfs(input.rootfs, dest)?, &field)?;
        let data = if opts.data.is_empty() {
            None
        } else {
            Some(cstring(
                opts.data.join(",").as_bytes(),
                &format!("{field}.options"),
            )?)
        };
        if !bind && (typ == "cgroup" || typ == "cgroup2") {
            self.plan_cgroup_mount(input, &field, label, dest, &opts)?;
            return Ok(dev_bound);
        }
        let (kind, file_target, no_symlink) = if bind {
            let (kind, file_target) = bind_kind(input, &field, m, &opts)?;
            (kind, file_target, false)
        } else {
            let no_symlink = matches!(typ, "proc" | "sysfs");
            if no_symlink {
                check_directory(input.rootfs, &clean_dest, &field, dest, typ)?;
            }
            (fs_kind(&field, typ, m)?, false, no_symlink)
        };
        self.mounts.push(MountPlan {
            no_symlink,
            label,
            rel,
            prefixes,
            file_target,
            kind,
            flags: opts.flags,
            data,
            propagation: opts.propagation,
            attr_set: opts.attr_set,
            attr_clr: opts.attr_clr,
        });
        Ok(dev_bound)
    }

    fn plan_cgroup_mount(
        &mut self,
        ctx: &RootfsInput<'_>,
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

/// A bind mount (plain, or id-mapped): its kind, and whether the source is
/// a file (so a missing target is made as a file).
fn bind_kind(
    input: &RootfsInput<'_>,
    field: &str,
    m: &Mount,
    opts: &MountOptions,
) -> Result<(MountKind, bool)> {
    let source = m
        .source()
        .as_deref()
        .ok_or_else(|| Error::config(format!("{field}.source"), "a bind mount needs a source"))?;
    let source = if source.is_absolute() {
        source.to_path_buf()
    } else {
        input.bundle.join(source)
    };
    let meta = std::fs::metadata(&source).map_err(|e| {
        Error::config(
            format!("{field}.source"),
            format!("{}: {e}", source.display()),
        )
    })?;
    if !opts.idmap {
        let kind = MountKind::Bind {
            source: cstring(source.as_os_str().as_bytes(), field)?,
            recursive: opts.recursive,
        };
        return Ok((kind, !meta.is_dir()));
    }
    let (uid, gid) = match (m.uid_mappings().as_deref(), m.gid_mappings().as_deref()) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
        _ if !input.uid_maps.is_empty() && !input.gid_maps.is_empty() => {
            (input.uid_maps, input.gid_maps)
        }
        _ => {
            return Err(Error::config(
                format!("{field}.options"),
                "idmap needs uidMappings and gidMappings on the mount or a user namespace with mappings",
            ));
        }
    };
    let userns = idmap::userns_with_maps(uid, gid)?;
    let recursive = opts.recursive || m.options().iter().flatten().any(|o| o == "ridmap");
    let kind = MountKind::Idmapped {
        tree: idmap::idmapped_tree(&source, recursive, &userns)?,
    };
    Ok((kind, !meta.is_dir()))
}

/// A filesystem mount (proc, tmpfs, sysfs, ...).
fn fs_kind(field: &str, typ: &str, m: &Mount) -> Result<MountKind> {
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
    Ok(MountKind::Fs {
        fstype: cstring(typ.as_bytes(), &format!("{field}.type"))?,
        source: cstring(&source, &format!("{field}.source"))?,
        fallback,
    })
}

/// proc and sysfs must land on an ordinary directory: refuse a target that
/// exists in the rootfs as anything else (a symlink included).
fn check_directory(
    rootfs: &Path,
    clean_dest: &Path,
    field: &str,
    dest: &Path,
    typ: &str,
) -> Result<()> {
    let literal = rootfs.join(clean_dest);
    if std::fs::symlink_metadata(&literal).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::config(
            format!("{field}.destination"),
            format!(
                "{} is not a directory in the rootfs: {typ} must be mounted on ordinary directory",
                dest.display()
            ),
        ));
    }
    Ok(())
}
