//! Unpacking a layer tar into a snapshot directory, confined to it whatever
//! the tar says (OCI image-spec "Image Layer Filesystem Changeset").
//!
//! Every path is resolved by the kernel relative to the snapshot root with
//! `openat2(2)` and `RESOLVE_IN_ROOT`: `..` stops at the root and symlinks
//! (absolute or relative) are resolved as if the snapshot were `/`, so neither
//! a crafted name nor a symlink planted by an earlier entry can reach the
//! host. Only the last component of an entry is then created, with `*at`
//! calls on the resolved parent that never follow a symlink (`O_NOFOLLOW`,
//! `O_EXCL`, `AT_SYMLINK_NOFOLLOW`). Host paths are never joined as strings.
//!
//! What the tar can contain and what becomes of it:
//! - `..` and absolute names are cleaned lexically (`/../etc/x` → `etc/x`)
//!   and then resolved in the root, so they land inside;
//! - symlinks are created as they are (their target is just data), hardlink
//!   targets are resolved in the root and must already exist in this layer;
//! - whiteouts become overlayfs whiteouts: `.wh.NAME` → a `0/0` character
//!   device `NAME`, `.wh..wh..opq` → `trusted.overlay.opaque=y` on the
//!   directory (overlayfs(5) "whiteouts and opaque directories");
//! - device nodes and fifos are made (the overlay is mounted `nodev`);
//! - modes keep setuid/setgid/sticky (set after `chown`, which clears them);
//! - `trusted.*` and other privileged xattrs from the tar are dropped, only
//!   `user.*` and `security.capability` are kept;
//! - a truncated entry or stream fails the unpack, and sizes are limited.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, open, openat, openat2};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, fstat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};

use super::digest::HashingReader;
use super::error::Error;

/// The overlayfs xattr marking an opaque directory.
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";

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

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From an OCI or Docker layer media type; `None` if it is not a layer
    /// type the store can unpack.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Self::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// From the first bytes of a blob (for `docker save` layers, which carry
    /// no media type).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI media type of a layer so compressed.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Why an unpack failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream is not a readable tar (truncated, corrupt compression...).
    #[error("{0}")]
    Archive(String),
    /// One entry cannot be applied.
    #[error("entry {path:?}: {reason}")]
    Entry { path: String, reason: String },
    /// The layer is larger than the limits.
    #[error("{0}")]
    TooLarge(String, u64),
    /// The uncompressed stream's digest is not the diff id.
    #[error("uncompressed digest is {actual}, expected {expected}")]
    DiffIdMismatch { expected: String, actual: String },
    /// A host-side failure (disk full...).
    #[error("failed to write {path:?}: {source}")]
    Host { path: String, source: io::Error },
}

impl UnpackError {
    /// The store error for this failure of layer `layer`.
    pub fn into_error(self, layer: &str) -> Error {
        match self {
            UnpackError::Host { path, source } => Error::io(
                format!("failed to unpack layer {layer} at {path:?}"),
                source,
            ),
            UnpackError::TooLarge(what, limit) => Error::TooLarge {
                what: format!("layer {layer} ({what})"),
                limit,
            },
            UnpackError::DiffIdMismatch { expected, actual } => Error::DigestMismatch {
                what: format!("uncompressed layer {layer}"),
                expected,
                actual,
            },
            other => Error::BadLayer {
                layer: layer.to_string(),
                reason: other.to_string(),
            },
        }
    }
}

type Result<T> = std::result::Result<T, UnpackError>;

/// Decompresses `blob`, unpacks it into `dest` (an existing empty
/// directory) and checks that the uncompressed stream hashes to `diff_id`.
pub fn unpack_blob<R: Read>(
    blob: R,
    compression: Compression,
    dest: &Path,
    diff_id: &str,
    limits: &UnpackLimits,
) -> Result<UnpackStats> {
    let blob = BufReader::with_capacity(256 << 10, blob);
    let decoder: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(blob)
                .map_err(|e| UnpackError::Archive(format!("bad zstd stream: {e}")))?,
        ),
    };
    let mut hashing = HashingReader::new(decoder);
    let stats = unpack(&mut hashing, dest, limits)?;
    let (actual, _) = hashing
        .finish()
        .map_err(|e| UnpackError::Archive(format!("corrupt data after the tar's end: {e}")))?;
    if actual != diff_id {
        return Err(UnpackError::DiffIdMismatch {
            expected: diff_id.to_string(),
            actual,
        });
    }
    Ok(stats)
}

/// Peeks at a blob's first bytes to guess its compression.
pub fn sniff_file(path: &Path) -> io::Result<Compression> {
    let mut reader = BufReader::new(File::open(path)?);
    Ok(Compression::sniff(reader.fill_buf()?))
}

/// Unpacks an uncompressed tar stream into `dest`, an existing directory.
pub fn unpack<R: Read>(tar_stream: R, dest: &Path, limits: &UnpackLimits) -> Result<UnpackStats> {
    let root = open(
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| host(dest.display().to_string(), e))?;
    let mut unpacker = Unpacker {
        root,
        limits: *limits,
        stats: UnpackStats::default(),
        dir_times: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar_stream);
    let entries = archive
        .entries()
        .map_err(|e| UnpackError::Archive(format!("not a tar stream: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| UnpackError::Archive(format!("unreadable tar entry: {e}")))?;
        unpacker.stats.entries += 1;
        if unpacker.stats.entries > limits.max_entries {
            return Err(UnpackError::TooLarge(
                "entry count".to_string(),
                limits.max_entries,
            ));
        }
        unpacker.apply(entry)?;
    }
    unpacker.restore_dir_times();
    Ok(unpacker.stats)
}

struct Unpacker {
    root: OwnedFd,
    limits: UnpackLimits,
    stats: UnpackStats,
    /// Directories whose mtime is set at the end (writing entries into them
    /// changes it).
    dir_times: Vec<(PathBuf, u64)>,
}

/// Ownership, mode, time and xattrs of an entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: u64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Unpacker {
    fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
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
            let parent_fd = self.parent(parent, &shown)?;
            if hidden == b".wh..opq" {
                let dir = openat(
                    &parent_fd,
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| entry_errno(&shown, "cannot open directory", e))?;
                set_xattr(dir.as_fd(), OPAQUE_XATTR, b"y").map_err(|e| host(&shown, e))?;
            } else if hidden.starts_with(b".wh.") {
                // aufs bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): nothing to do.
            } else if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(entry_err(&shown, "invalid whiteout name"));
            } else {
                let hidden = OsStr::from_bytes(hidden);
                remove_at(&parent_fd, hidden).map_err(|e| entry_errno(&shown, "remove", e))?;
                mknodat(
                    &parent_fd,
                    hidden,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    makedev(0, 0),
                )
                .map_err(|e| entry_errno(&shown, "cannot make whiteout", e))?;
            }
            return Ok(());
        }

        let parent_fd = self.parent(parent, &shown)?;
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.write_file(&mut entry, &parent_fd, name, &meta, &shown)
            }
            tar::EntryType::Directory => {
                let existing = fstatat(&parent_fd, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW);
                let is_dir =
                    matches!(existing, Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR);
                if !is_dir {
                    remove_at(&parent_fd, name).map_err(|e| entry_errno(&shown, "remove", e))?;
                    mkdirat(
                        &parent_fd,
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| classify(&shown, "cannot make directory", e))?;
                }
                let dir = openat(
                    &parent_fd,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| classify(&shown, "cannot open directory", e))?;
                let dir = File::from(dir);
                apply_meta_fd(&dir, &meta).map_err(|e| host(&shown, e))?;
                let mut rel = PathBuf::new();
                for c in &comps {
                    rel.push(c);
                }
                self.dir_times.push((rel, meta.mtime));
                Ok(())
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&shown, "symlink without a target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(entry_err(&shown, "invalid symlink target"));
                }
                remove_at(&parent_fd, name).map_err(|e| entry_errno(&shown, "remove", e))?;
                symlinkat(OsStr::from_bytes(&target), &parent_fd, name.as_os_str())
                    .map_err(|e| classify(&shown, "cannot make symlink", e))?;
                fchownat(
                    &parent_fd,
                    name.as_os_str(),
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| host(&shown, e))?;
                let t = TimeSpec::new(meta.mtime as i64, 0);
                utimensat(
                    &parent_fd,
                    name.as_os_str(),
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| host(&shown, e))?;
                Ok(())
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&shown, "hardlink without a target"))?
                    .into_owned();
                let target = clean(&target).map_err(|reason| entry_err(&shown, reason))?;
                if target.is_empty() {
                    return Err(entry_err(&shown, "hardlink to the root directory"));
                }
                if target == comps {
                    return Ok(());
                }
                let source = self
                    .resolve(&join(&target), OFlag::O_PATH | OFlag::O_NOFOLLOW)
                    .map_err(|e| entry_errno(&shown, "hardlink target is not in this layer", e))?;
                let st = fstat(&source).map_err(|e| host(&shown, e))?;
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    return Err(entry_err(&shown, "hardlink to a directory"));
                }
                remove_at(&parent_fd, name).map_err(|e| entry_errno(&shown, "remove", e))?;
                linkat(
                    &source,
                    "",
                    &parent_fd,
                    name.as_os_str(),
                    AtFlags::AT_EMPTY_PATH,
                )
                .map_err(|e| classify(&shown, "cannot make hardlink", e))?;
                Ok(())
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let kind_flag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let (major, minor) =
                    match kind {
                        tar::EntryType::Fifo => (0, 0),
                        _ => {
                            let h = entry.header();
                            let major = h.device_major().ok().flatten().ok_or_else(|| {
                                entry_err(&shown, "device without a major number")
                            })?;
                            let minor = h.device_minor().ok().flatten().ok_or_else(|| {
                                entry_err(&shown, "device without a minor number")
                            })?;
                            (major, minor)
                        }
                    };
                remove_at(&parent_fd, name).map_err(|e| entry_errno(&shown, "remove", e))?;
                mknodat(
                    &parent_fd,
                    name.as_os_str(),
                    kind_flag,
                    Mode::empty(),
                    makedev(u64::from(major), u64::from(minor)),
                )
                .map_err(|e| classify(&shown, "cannot make device node", e))?;
                fchownat(
                    &parent_fd,
                    name.as_os_str(),
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| host(&shown, e))?;
                // The node was just made by us in a directory only we write:
                // the name cannot have become a symlink in between.
                fchmodat(
                    &parent_fd,
                    name.as_os_str(),
                    Mode::from_bits_truncate(meta.mode),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| host(&shown, e))?;
                let t = TimeSpec::new(meta.mtime as i64, 0);
                utimensat(
                    &parent_fd,
                    name.as_os_str(),
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| host(&shown, e))?;
                Ok(())
            }
            other => Err(entry_err(
                &shown,
                format!("unsupported tar entry type {other:?}"),
            )),
        }
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent_fd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        shown: &str,
    ) -> Result<()> {
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

    /// Opens `path` (relative, cleaned) with the kernel resolving it inside
    /// the snapshot root.
    fn resolve(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let path: &Path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(&self.root, path, how) {
                // openat2 asks to retry when a rename raced the lookup.
                Err(Errno::EAGAIN) => continue,
                other => return other,
            }
        }
    }

    /// The directory `comps` resolved in the root, created (0755, root) when
    /// missing, as tar implies parents.
    fn parent(&self, comps: &[OsString], shown: &str) -> Result<OwnedFd> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.resolve(&join(comps), dir_flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(entry_errno(shown, "parent is not a directory", e)),
        }
        let mut fd = self
            .resolve(Path::new("."), dir_flags)
            .map_err(|e| host(shown, e))?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            fd = match self.resolve(&prefix, dir_flags) {
                Ok(next) => next,
                Err(Errno::ENOENT) => {
                    mkdirat(&fd, comps[i].as_os_str(), Mode::from_bits_truncate(0o755)).map_err(
                        |e| entry_errno(shown, "cannot create parent (dangling symlink?)", e),
                    )?;
                    self.resolve(&prefix, dir_flags)
                        .map_err(|e| entry_errno(shown, "cannot open new parent", e))?
                }
                Err(e) => return Err(entry_errno(shown, "parent is not a directory", e)),
            };
        }
        Ok(fd)
    }

    fn restore_dir_times(&self) {
        for (rel, mtime) in self.dir_times.iter().rev() {
            let Ok(fd) = self.resolve(
                rel,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            ) else {
                continue; // replaced by a later entry
            };
            let t = TimeSpec::new(*mtime as i64, 0);
            let _ = futimens(&fd, &t, &t);
        }
    }
}

/// Cleans a tar name lexically: drops empty and `.` parts, and `..` pops
/// (never above the root). Resolution proper is the kernel's, in the root.
fn clean(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte".to_string());
    }
    let mut comps: Vec<OsString> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            p => {
                if p.len() > 255 {
                    return Err("a path component is longer than 255 bytes".to_string());
                }
                comps.push(OsString::from_vec(p.to_vec()));
            }
        }
    }
    Ok(comps)
}

fn join(comps: &[OsString]) -> PathBuf {
    let mut p = PathBuf::new();
    for c in comps {
        p.push(c);
    }
    p
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::result::Result<Meta, String> {
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
fn apply_meta_fd(file: &File, meta: &Meta) -> io::Result<()> {
    std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))?;
    file.set_permissions(std::fs::Permissions::from_mode(meta.mode))?;
    for (name, value) in &meta.xattrs {
        set_xattr(file.as_fd(), name, value)?;
    }
    let t = TimeSpec::new(meta.mtime as i64, 0);
    futimens(file, &t, &t)?;
    Ok(())
}

fn set_xattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
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

/// Removes `name` in `dir` (recursively for a directory) without following
/// symlinks; a missing name is fine.
fn remove_at<Fd: AsFd>(dir: &Fd, name: &OsStr) -> nix::Result<()> {
    let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let children: Vec<OsString> = {
            let dup = sub.try_clone().map_err(|_| Errno::EMFILE)?;
            let mut listing = nix::dir::Dir::from_fd(dup)?;
            listing
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
                .filter(|n| n != "." && n != "..")
                .collect()
        };
        for child in children {
            remove_at(&sub, &child)?;
        }
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
    }
}

fn entry_err(path: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Entry {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn entry_errno(path: &str, what: &str, e: Errno) -> UnpackError {
    classify(path, what, e)
}

/// Errors caused by what the tar asks for are the layer's fault; running out
/// of space or a failing disk are the host's.
fn classify(path: &str, what: &str, e: Errno) -> UnpackError {
    match e {
        Errno::ENOSPC | Errno::EDQUOT | Errno::EIO | Errno::EROFS | Errno::ENOMEM => host(path, e),
        e => entry_err(path, format!("{what}: {}", e.desc())),
    }
}

fn host(path: impl Into<String>, e: impl Into<io::Error>) -> UnpackError {
    UnpackError::Host {
        path: path.into(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_names_lexically() {
        let c = |s: &str| {
            clean(s.as_bytes())
                .unwrap()
                .into_iter()
                .map(|o| o.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(c("./a/b"), ["a", "b"]);
        assert_eq!(c("/etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("a/../../b/./c/"), ["b", "c"]);
        assert!(c("./").is_empty());
        assert!(clean(b"a\0b").is_err());
    }

    #[test]
    fn media_types_and_magic() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type("application/json"), None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
    }
}
