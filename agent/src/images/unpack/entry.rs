//! Applying one tar entry: the [`Unpacker`] creates only the entry's last
//! component, with `*at` calls on its parent (resolved in the root by
//! [`Root`]) that never follow a symlink (`O_NOFOLLOW`, `O_EXCL`,
//! `AT_SYMLINK_NOFOLLOW`), and counts what it writes against the
//! [`UnpackLimits`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, fstat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::unistd::{Gid, Uid, fchownat, linkat, symlinkat};

use super::error::{Result, UnpackError, classify, entry_err, entry_errno, host};
use super::meta::{Meta, apply_meta_fd, read_meta, timespec};
use super::path::{Root, clean, join, remove_at};
use super::whiteout;

/// Limits on what one layer may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Total bytes of regular file content.
    pub max_bytes: u64,
    /// Number of tar entries.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 30,
            max_entries: 2_000_000,
        }
    }
}

/// What an unpack wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Bytes of regular file content written (the snapshot's size).
    pub size: u64,
    /// Entries processed.
    pub entries: u64,
}

/// Applies the entries of one layer to its snapshot directory.
pub(super) struct Unpacker {
    root: Root,
    limits: UnpackLimits,
    pub(super) stats: UnpackStats,
    /// Directories whose mtime is set at the end (writing entries into them
    /// changes it).
    dir_times: Vec<(PathBuf, u64)>,
}

/// An entry's last component, where it goes and how it is named in errors.
struct Target<'a> {
    parent_fd: OwnedFd,
    name: &'a OsString,
    shown: &'a str,
}

impl Unpacker {
    /// An unpacker into the directory `root` (opened `O_PATH`).
    pub(super) fn new(root: OwnedFd, limits: UnpackLimits) -> Self {
        Self {
            root: Root(root),
            limits,
            stats: UnpackStats::default(),
            dir_times: Vec::new(),
        }
    }

    /// Applies one entry.
    pub(super) fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let comps = clean(&raw).map_err(|reason| entry_err(&shown, reason))?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let Some((name, parent)) = comps.split_last() else {
            // The root itself (`./`): its metadata belongs to the upper dir.
            return Ok(());
        };
        let meta = read_meta(&mut entry).map_err(|reason| entry_err(&shown, reason))?;

        if let Some(hidden) = name.as_bytes().strip_prefix(b".wh.") {
            let parent_fd = self.root.parent(parent, &shown)?;
            return whiteout::apply(&parent_fd, hidden, &shown);
        }

        let t = Target {
            parent_fd: self.root.parent(parent, &shown)?,
            name,
            shown: &shown,
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.write_file(&mut entry, &t, &meta)
            }
            tar::EntryType::Directory => self.directory(&t, &comps, &meta),
            tar::EntryType::Symlink => symlink(&entry, &t, &meta),
            tar::EntryType::Link => self.hardlink(&entry, &t, &comps),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                node(&entry, kind, &t, &meta)
            }
            other => Err(entry_err(
                &shown,
                format!("unsupported tar entry type {other:?}"),
            )),
        }
    }

    /// A directory: kept when one is there (a later layer's entry for it
    /// only changes its metadata), else made; its mtime is set at the end.
    fn directory(&mut self, t: &Target<'_>, comps: &[OsString], meta: &Meta) -> Result<()> {
        let (parent_fd, name, shown) = (&t.parent_fd, t.name, t.shown);
        let existing = fstatat(parent_fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW);
        let is_dir = matches!(existing, Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if !is_dir {
            remove_at(parent_fd, name).map_err(|e| entry_errno(shown, "remove", e))?;
            mkdirat(parent_fd, name.as_os_str(), Mode::from_bits_truncate(0o700))
                .map_err(|e| classify(shown, "cannot make directory", e))?;
        }
        let dir = openat(
            parent_fd,
            name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| classify(shown, "cannot open directory", e))?;
        let dir = File::from(dir);
        apply_meta_fd(&dir, meta).map_err(|e| host(shown, e))?;
        self.dir_times.push((join(comps), meta.mtime));
        Ok(())
    }

    /// A hardlink: its target is resolved in the root, must already exist
    /// (in this layer) and must not be a directory.
    fn hardlink<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        t: &Target<'_>,
        comps: &[OsString],
    ) -> Result<()> {
        let (parent_fd, name, shown) = (&t.parent_fd, t.name, t.shown);
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| entry_err(shown, "hardlink without a target"))?
            .into_owned();
        let target = clean(&target).map_err(|reason| entry_err(shown, reason))?;
        if target.is_empty() {
            return Err(entry_err(shown, "hardlink to the root directory"));
        }
        if target == comps {
            return Ok(());
        }
        let source = self
            .root
            .resolve(&join(&target), OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(|e| entry_errno(shown, "hardlink target is not in this layer", e))?;
        let st = fstat(&source).map_err(|e| host(shown, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(entry_err(shown, "hardlink to a directory"));
        }
        remove_at(parent_fd, name).map_err(|e| entry_errno(shown, "remove", e))?;
        linkat(
            &source,
            "",
            parent_fd,
            name.as_os_str(),
            AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| classify(shown, "cannot make hardlink", e))?;
        Ok(())
    }

    /// A regular file, written through a fresh `O_EXCL | O_NOFOLLOW` fd, its
    /// size checked against the limit before and while it is written and
    /// against its header after.
    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        t: &Target<'_>,
        meta: &Meta,
    ) -> Result<()> {
        let (parent_fd, name, shown) = (&t.parent_fd, t.name.as_os_str(), t.shown);
        let declared = entry.size();
        if self.stats.size.saturating_add(declared) > self.limits.max_bytes {
            return Err(UnpackError::TooLarge(
                format!("entry {shown:?} of {declared} bytes"),
                self.limits.max_bytes,
            ));
        }
        remove_at(parent_fd, name).map_err(|e| entry_errno(shown, "remove", e))?;
        let fd = openat(
            parent_fd,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| classify(shown, "cannot create file", e))?;
        let mut file = File::from(fd);
        let mut buf = vec![0u8; 128 << 10];
        let mut written = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| {
                UnpackError::Archive(format!(
                    "entry {shown:?} is truncated or unreadable after {written} of {declared} bytes: {e}"
                ))
            })?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if self.stats.size + written > self.limits.max_bytes {
                return Err(UnpackError::TooLarge(
                    format!("entry {shown:?}"),
                    self.limits.max_bytes,
                ));
            }
            file.write_all(&buf[..n]).map_err(|e| host(shown, e))?;
        }
        if written != declared {
            return Err(UnpackError::Archive(format!(
                "entry {shown:?} is truncated: {written} of {declared} bytes"
            )));
        }
        self.stats.size += written;
        apply_meta_fd(&file, meta).map_err(|e| host(shown, e))
    }

    /// Sets the mtime of every directory made, deepest last written first.
    pub(super) fn restore_dir_times(&self) {
        for (rel, mtime) in self.dir_times.iter().rev() {
            let Ok(fd) = self.root.resolve(
                rel,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            ) else {
                continue; // replaced by a later entry
            };
            let t = timespec(*mtime);
            let _ = futimens(&fd, &t, &t);
        }
    }
}

/// A symlink, made as it is (its target is just data), owned and dated
/// without following it.
fn symlink<R: Read>(entry: &tar::Entry<'_, R>, t: &Target<'_>, meta: &Meta) -> Result<()> {
    let (parent_fd, name, shown) = (&t.parent_fd, t.name, t.shown);
    let target = entry
        .link_name_bytes()
        .ok_or_else(|| entry_err(shown, "symlink without a target"))?
        .into_owned();
    if target.is_empty() || target.contains(&0) {
        return Err(entry_err(shown, "invalid symlink target"));
    }
    remove_at(parent_fd, name).map_err(|e| entry_errno(shown, "remove", e))?;
    symlinkat(OsStr::from_bytes(&target), parent_fd, name.as_os_str())
        .map_err(|e| classify(shown, "cannot make symlink", e))?;
    fchownat(
        parent_fd,
        name.as_os_str(),
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| host(shown, e))?;
    let time = timespec(meta.mtime);
    utimensat(
        parent_fd,
        name.as_os_str(),
        &time,
        &time,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| host(shown, e))?;
    Ok(())
}

/// A character or block device or a fifo (the overlay is mounted `nodev`).
fn node<R: Read>(
    entry: &tar::Entry<'_, R>,
    kind: tar::EntryType,
    t: &Target<'_>,
    meta: &Meta,
) -> Result<()> {
    let (parent_fd, name, shown) = (&t.parent_fd, t.name, t.shown);
    let kind_flag = match kind {
        tar::EntryType::Char => SFlag::S_IFCHR,
        tar::EntryType::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFIFO,
    };
    let (major, minor) = match kind {
        tar::EntryType::Fifo => (0, 0),
        _ => {
            let h = entry.header();
            let major = h
                .device_major()
                .ok()
                .flatten()
                .ok_or_else(|| entry_err(shown, "device without a major number"))?;
            let minor = h
                .device_minor()
                .ok()
                .flatten()
                .ok_or_else(|| entry_err(shown, "device without a minor number"))?;
            (major, minor)
        }
    };
    remove_at(parent_fd, name).map_err(|e| entry_errno(shown, "remove", e))?;
    mknodat(
        parent_fd,
        name.as_os_str(),
        kind_flag,
        Mode::empty(),
        makedev(u64::from(major), u64::from(minor)),
    )
    .map_err(|e| classify(shown, "cannot make device node", e))?;
    fchownat(
        parent_fd,
        name.as_os_str(),
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| host(shown, e))?;
    // The node was just made by us in a directory only we write:
    // the name cannot have become a symlink in between.
    fchmodat(
        parent_fd,
        name.as_os_str(),
        Mode::from_bits_truncate(meta.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| host(shown, e))?;
    let time = timespec(meta.mtime);
    utimensat(
        parent_fd,
        name.as_os_str(),
        &time,
        &time,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| host(shown, e))?;
    Ok(())
}
