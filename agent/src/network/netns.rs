//! Network namespaces as files and threads (namespaces(7), setns(2),
//! unshare(2)).
//!
//! A network namespace is a property of a *thread*: a socket belongs to the
//! namespace its creator was in, a child process starts in its parent
//! thread's namespace, and `/proc/sys/net` shows the namespace of the thread
//! that opens it. So work that must happen in a given namespace runs on a
//! short-lived thread that first `setns`es into it ([`run_in`]); the tokio
//! workers are never moved. The agent keeps a file descriptor of the
//! namespace it was opened in ("the host's"), so everything it does on the
//! host side lands there even when the caller's thread is elsewhere (tests
//! run a whole agent inside a scratch namespace this way).
//!
//! A persistent namespace is one kept alive by a bind mount of its nsfs file
//! on an ordinary file, as `ip netns add` does: [`create_persistent`] makes
//! a fresh namespace on a thread with `unshare(CLONE_NEWNET)` and binds
//! `/proc/thread-self/ns/net` onto `<dir>/<name>`; [`remove_persistent`]
//! unmounts and unlinks it. Its directory is made a shared mount (like
//! /run/netns) so that the unmount propagates into mount namespaces cloned
//! after the bind.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{FsType, statfs};

use super::error::{Error, Result};

/// `NSFS_MAGIC` from linux/magic.h: the filesystem of namespace files.
const NSFS_MAGIC: FsType = FsType(0x6e73_6673);

/// Opens the network namespace of the calling thread.
pub fn current() -> Result<OwnedFd> {
    open("/proc/thread-self/ns/net")
}

/// Opens a network namespace file (`/proc/<pid>/ns/net` or a bind mount of
/// one) and checks that it is one.
pub fn open(path: impl AsRef<Path>) -> Result<OwnedFd> {
    let path = path.as_ref();
    let file = File::open(path)
        .map_err(|e| Error::io(format!("open the network namespace {}", path.display()), e))?;
    if !is_nsfs(path) {
        return Err(Error::Invalid(format!(
            "{} is not a namespace file",
            path.display()
        )));
    }
    Ok(file.into())
}

/// Whether `path` is a namespace file (an nsfs inode or a bind mount of one).
pub fn is_nsfs(path: &Path) -> bool {
    statfs(path)
        .map(|s| s.filesystem_type() == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Runs `f` on a new thread that has joined the network namespace `ns`, and
/// returns its result without blocking the async caller. The thread enters
/// the caller's tokio runtime, so `f` may create sockets that register with
/// it (a netlink connection bound to that namespace).
pub async fn run_in<T, F>(ns: &OwnedFd, what: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns = ns
        .try_clone()
        .map_err(|e| Error::io(format!("{what}: duplicate the namespace descriptor"), e))?;
    let runtime = tokio::runtime::Handle::try_current().ok();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let what_owned = what.to_string();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            let result = setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::errno(format!("{what_owned}: join the network namespace"), e))
                .and_then(|()| {
                    let _enter = runtime.as_ref().map(|r| r.enter());
                    f()
                });
            let _ = tx.send(result);
        })
        .map_err(|e| Error::io(format!("{what}: start a thread"), e))?;
    rx.await.map_err(|_| {
        Error::io(
            what.to_string(),
            std::io::Error::other("the namespace thread panicked"),
        )
    })?
}

/// Makes sure namespace files bound in `dir` (created if missing) sit on a
/// shared mount, as iproute2 does for /run/netns, so that unmounting one
/// also unmounts the copies held by mount namespaces cloned after the bind
/// (services with private mounts, for instance). On a systemd host the
/// whole tree is already shared and nothing is mounted; elsewhere `dir` is
/// bound onto itself and made shared.
pub fn ensure_shared_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let canon = canonical(dir)?;
    let (point, shared) = containing_mount(&canon)?;
    if shared {
        return Ok(());
    }
    if point != canon {
        mount(
            Some(&canon),
            &canon,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::errno(format!("bind {} onto itself", dir.display()), e))?;
    }
    mount(
        None::<&str>,
        &canon,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::errno(format!("make {} a shared mount", dir.display()), e))
}

/// Unmounts the self-bind of [`ensure_shared_dir`], if it made one (for a
/// full teardown).
pub fn release_shared_dir(dir: &Path) -> Result<()> {
    let Ok(canon) = dir.canonicalize() else {
        return Ok(());
    };
    let (point, _) = containing_mount(&canon)?;
    if point == canon {
        umount2(&canon, MntFlags::MNT_DETACH)
            .map_err(|e| Error::errno(format!("unmount {}", dir.display()), e))?;
    }
    Ok(())
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize()
        .map_err(|e| Error::io(format!("resolve {}", path.display()), e))
}

/// The mount point of the mount that holds `path` (canonical) in this mount
/// namespace, and whether that mount is shared (mountinfo's optional field
/// `shared:N`, proc(5)).
fn containing_mount(path: &Path) -> Result<(PathBuf, bool)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
    Ok(mount_of(&info, path))
}

fn mount_of(mountinfo: &str, path: &Path) -> (PathBuf, bool) {
    let mut best: (PathBuf, bool) = (PathBuf::from("/"), false);
    let mut best_len = 0;
    for m in berth_runtime::mountinfo::parse(mountinfo) {
        if !path.starts_with(&m.mount_point) {
            continue;
        }
        let len = m.mount_point.components().count();
        // `>=`: of mounts stacked on one point, the last listed is on top.
        if len >= best_len {
            best = (m.mount_point, m.shared);
            best_len = len;
        }
    }
    best
}

/// Creates a new network namespace and keeps it alive as `path` (which must
/// not exist). Blocking; a few hundred microseconds.
pub fn create_persistent(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(format!("create the namespace file {}", path.display()), e))?;
    let target: PathBuf = path.to_path_buf();
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            // This thread alone moves into the new namespace, then ends.
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::errno("unshare a network namespace", e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| Error::errno(format!("bind the new namespace on {}", target.display()), e))
        })
        .join()
        .map_err(|_| {
            Error::io(
                "create a network namespace",
                std::io::Error::other("thread panicked"),
            )
        })?
    });
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unmounts and removes a persistent namespace file; a missing one is fine.
pub fn remove_persistent(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::errno(format!("unmount {}", path.display()), e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("remove {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mount_holding_a_path_and_its_propagation() {
        let info = "27 1 254:0 / / rw shared:2 - ext4 /dev/vda rw\n\
                    30 27 0:25 / /run rw - tmpfs tmpfs rw\n\
                    31 30 0:25 /x /run/berth\\040dir rw shared:9 master:1 - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_of(info, Path::new("/var/lib")),
            (PathBuf::from("/"), true)
        );
        assert_eq!(
            mount_of(info, Path::new("/run/netns")),
            (PathBuf::from("/run"), false)
        );
        assert_eq!(
            mount_of(info, Path::new("/run/berth dir/netns")),
            (PathBuf::from("/run/berth dir"), true)
        );
    }
}
