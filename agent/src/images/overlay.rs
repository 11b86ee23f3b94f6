//! A container's root filesystem as an overlayfs mount (overlayfs(5),
//! Documentation/filesystems/overlayfs.rst): the image's snapshots as
//! read-only lower layers, the container's own `upper/` and `work/` above.
//!
//! ```text
//! <container dir>/upper   the container's changes (its root dir's mode)
//! <container dir>/work    overlayfs scratch space
//! <container dir>/rootfs  the mount point
//! ```
//! The mount is `nodev`: a device node shipped in an image cannot be opened
//! through it (the runtime gives the container its own /dev).

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::error::{Error, Result};

/// The kernel takes mount options up to a page.
const MAX_OPTIONS: usize = 4000;

/// Mounts `layers` (bottom first) under `container_dir/rootfs` and returns
/// the rootfs path. Already mounted is fine.
pub fn mount_layers(layers: &[PathBuf], container_dir: &Path) -> Result<PathBuf> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let rootfs = container_dir.join("rootfs");
    let empty = container_dir.join("empty");
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o755);
    for dir in [&upper, &work, &rootfs] {
        builder
            .create(dir)
            .map_err(|e| Error::io_path("create", dir, e))?;
    }
    if is_mounted(&rootfs, container_dir)? {
        return Ok(rootfs);
    }
    let mut lowers: Vec<&Path> = layers.iter().rev().map(PathBuf::as_path).collect();
    if lowers.is_empty() {
        builder
            .create(&empty)
            .map_err(|e| Error::io_path("create", &empty, e))?;
        lowers.push(&empty);
    }
    let upper_work = format!(
        ",upperdir={},workdir={}",
        option_path(&upper)?,
        option_path(&work)?
    );
    let mut lower = String::new();
    for (i, dir) in lowers.iter().enumerate() {
        if i > 0 {
            lower.push(':');
        }
        lower.push_str(option_path(dir)?);
    }
    // Many layers with long paths overflow the page the kernel takes for
    // options: name each layer by an O_PATH descriptor instead
    // (`/proc/self/fd/N`, which overlayfs resolves at mount time).
    let mut held = Vec::new();
    if "lowerdir=".len() + lower.len() + upper_work.len() > MAX_OPTIONS {
        lower.clear();
        for (i, dir) in lowers.iter().enumerate() {
            let fd = nix::fcntl::open(
                *dir,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::io_path("open layer", dir, e))?;
            if i > 0 {
                lower.push(':');
            }
            lower.push_str(&format!("/proc/self/fd/{}", fd.as_raw_fd()));
            held.push(fd);
        }
    }
    let options = format!("lowerdir={lower}{upper_work}");
    if options.len() > MAX_OPTIONS {
        return Err(Error::Unsupported(format!(
            "{} layers are more than one overlay mount can stack",
            layers.len()
        )));
    }
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| Error::io_path("mount overlay on", &rootfs, e))?;
    drop(held);
    Ok(rootfs)
}

/// Unmounts `container_dir/rootfs` if it is mounted (lazily, so a process
/// still holding it does not make this fail).
pub fn unmount(container_dir: &Path) -> Result<()> {
    let rootfs = container_dir.join("rootfs");
    match umount2(&rootfs, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::io_path("unmount", &rootfs, e)),
    }
}

/// A mount point's device differs from its parent's once something is
/// mounted on it.
fn is_mounted(rootfs: &Path, parent: &Path) -> Result<bool> {
    let a = fs::metadata(rootfs).map_err(|e| Error::io_path("stat", rootfs, e))?;
    let b = fs::metadata(parent).map_err(|e| Error::io_path("stat", parent, e))?;
    Ok(a.dev() != b.dev())
}

/// A path as overlayfs options can carry it: `,` and `:` separate options and
/// layers, so paths holding them are refused rather than misparsed.
fn option_path(path: &Path) -> Result<&str> {
    let s = path.to_str().ok_or_else(|| {
        Error::io_path(
            "use as an overlay layer",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"),
        )
    })?;
    if s.contains([',', ':', '\\']) {
        return Err(Error::io_path(
            "use as an overlay layer",
            path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "path contains ',', ':' or '\\'",
            ),
        ));
    }
    Ok(s)
}
