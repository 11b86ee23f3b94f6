//! The init's side: applying a [`RootfsPlan`] between clone and execve.
//! Nothing here allocates (see [`crate::syscall`]); a failure is a plain
//! [`Failure`] naming the step and the index of the mount or path.
//!
//! Every target is opened with `openat2(2)` and `RESOLVE_IN_ROOT`, and the
//! mount made onto `/proc/self/fd/<fd>` of what was opened.

use std::os::fd::RawFd;

use libc::c_ulong;

use super::devices::DEV_SYMLINKS;
use super::error::{Failure, Step};
use super::options::REMOUNT_FLAGS;
use super::resolve::{IN_ROOT, O_PATH_FLAGS, fd_path, open_or_create};
use super::{MountKind, MountPlan, RootfsPlan};
use crate::syscall::{Errno, Syscall};

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
    pub(crate) fn mount_all<S: Syscall + ?Sized>(&self, sys: &S) -> Result<RawFd, Failure> {
        let err = |step, i: usize| move |e: Errno| Failure::new(step, i, e);
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
                    Err(e) => return Err(Failure::new(Step::DevSymlink, i, e)),
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
    ) -> Result<(), Failure> {
        let err = |step| move |e: Errno| Failure::new(step, i, e);
        if m.no_symlink {
            check_directory(sys, rootfd, m, i)?;
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
        self.after_mount(sys, rootfd, m, i)
    }

    /// Remount flags, recursive attributes and propagation of `m`, once
    /// mounted.
    fn after_mount<S: Syscall + ?Sized>(
        &self,
        sys: &S,
        rootfd: RawFd,
        m: &MountPlan,
        i: usize,
    ) -> Result<(), Failure> {
        let err = |step| move |e: Errno| Failure::new(step, i, e);
        let mut buf = [0u8; 32];
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

    /// `pivot_root` into the rootfs (or move + chroot with `no_pivot`).
    pub(crate) fn pivot<S: Syscall + ?Sized>(&self, sys: &S, rootfd: RawFd) -> Result<(), Failure> {
        let err = |e: Errno| Failure::new(Step::PivotRoot, 0, e);
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
                .map_err(|e| Failure::new(Step::RootPropagation, 0, e))?;
        }
        Ok(())
    }

    /// Masked and read-only paths, then the read-only root (after pivot).
    pub(crate) fn finish<S: Syscall + ?Sized>(&self, sys: &S) -> Result<(), Failure> {
        for (i, p) in self.masked.iter().enumerate() {
            let err = |e| Failure::new(Step::Masked, i, e);
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
            let err = |e| Failure::new(Step::Readonly, i, e);
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
            let err = |e| Failure::new(Step::ReadonlyRoot, 0, e);
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

/// proc and sysfs land on a real directory, never a symlink (CVE-2019-19921
/// and friends): what exists at the target must be a directory.
fn check_directory<S: Syscall + ?Sized>(
    sys: &S,
    rootfd: RawFd,
    m: &MountPlan,
    i: usize,
) -> Result<(), Failure> {
    match sys.openat2(rootfd, &m.rel, O_PATH_FLAGS | libc::O_NOFOLLOW, 0, IN_ROOT) {
        Ok(fd) => {
            let mode = sys.stat_mode(fd, c"", libc::AT_EMPTY_PATH);
            let _ = sys.close(fd);
            match mode {
                Ok(m) if m & libc::S_IFMT == libc::S_IFDIR => {}
                Ok(_) => {
                    return Err(Failure::new(Step::NotDirectory, i, Errno::ENOTDIR));
                }
                Err(e) => return Err(Failure::new(Step::MountTarget, i, e)),
            }
        }
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(Failure::new(Step::MountTarget, i, e)),
    }
    Ok(())
}
