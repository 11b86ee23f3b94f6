//! Resolving a container's `user` (`uid`, `uid:gid`, `name`, `name:group`)
//! against the image's /etc/passwd and /etc/group.
//!
//! The files are opened inside the rootfs with openat2(2) and
//! `RESOLVE_IN_ROOT`, so a hostile image whose /etc/passwd is a symlink to a
//! host file reads its own tree, never the host's. Formats: passwd(5), group(5).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// The identity a container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from /etc/group membership.
    pub additional_gids: Vec<u32>,
    /// The home directory from /etc/passwd (for `HOME`).
    pub home: Option<String>,
}

/// Largest file read from the image (a passwd bigger than this is refused).
const MAX_FILE: u64 = 4 << 20;

/// Resolves `spec` (empty = root) inside `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser, String> {
    let spec = spec.trim();
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() && group.is_none() {
        return Ok(ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: Some("/root".into()),
        });
    }
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(format!(
            "user {spec:?}: expected uid, uid:gid, name or name:group"
        ));
    }
    let passwd = read_in_root(rootfs, "etc/passwd").unwrap_or_default();
    let groups = read_in_root(rootfs, "etc/group").unwrap_or_default();
    let entries = parse_passwd(&passwd);

    let (uid, mut gid, name, home) = match user.parse::<u32>() {
        Ok(uid) => {
            let e = entries.iter().find(|e| e.uid == uid);
            (
                uid,
                e.map(|e| e.gid).unwrap_or(0),
                e.map(|e| e.name.clone()),
                e.map(|e| e.home.clone()),
            )
        }
        Err(_) => {
            let e = entries
                .iter()
                .find(|e| e.name == user)
                .ok_or_else(|| format!("user {user:?} is not in the image's /etc/passwd"))?;
            (e.uid, e.gid, Some(e.name.clone()), Some(e.home.clone()))
        }
    };
    let group_entries = parse_group(&groups);
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| format!("group {g:?} is not in the image's /etc/group"))?,
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) => group_entries
            .iter()
            .filter(|e| e.members.iter().any(|m| m == n))
            .map(|e| e.gid)
            .filter(|g| *g != gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: home.filter(|h| !h.is_empty()),
    })
}

/// Reads `rel` inside `root`, resolving every path component as if `root`
/// were `/` (no escape through `..` or symlinks).
pub fn read_in_root(root: &Path, rel: &str) -> Option<String> {
    let dir: OwnedFd = std::fs::File::open(root).ok()?.into();
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(&dir, rel, how).ok()?;
    let file = std::fs::File::from(fd);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    file.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww-data:x:33:www\nstaff:x:50:www,bob\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn resolves_names_numbers_and_groups() {
        let r = rootfs();
        let u = resolve(r.path(), "www").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (33, 33, vec![50])
        );
        assert_eq!(u.home.as_deref(), Some("/var/www"));
        let u = resolve(r.path(), "1000:50").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let u = resolve(r.path(), "www:staff").unwrap();
        assert_eq!((u.uid, u.gid), (33, 50));
        assert_eq!(resolve(r.path(), "").unwrap().uid, 0);
        assert!(
            resolve(r.path(), "nobody")
                .unwrap_err()
                .contains("/etc/passwd")
        );
        assert!(
            resolve(r.path(), "www:nogroup")
                .unwrap_err()
                .contains("/etc/group")
        );
        assert!(resolve(r.path(), ":5").is_err());
    }

    #[test]
    fn a_symlink_to_the_host_is_resolved_inside_the_rootfs() {
        let r = tempfile::tempdir().unwrap();
        std::fs::create_dir(r.path().join("etc")).unwrap();
        // Absolute and ../ escapes both land inside the rootfs, where no file is.
        std::os::unix::fs::symlink("/etc/passwd", r.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/group", r.path().join("etc/group"))
            .unwrap();
        assert_eq!(read_in_root(r.path(), "etc/passwd"), None);
        assert_eq!(read_in_root(r.path(), "etc/group"), None);
        // The host has a root entry; the image has none, so "root" is unknown.
        assert!(resolve(r.path(), "root").is_err());
    }
}
