//! The one reader of mountinfo (proc(5), "/proc/pid/mountinfo") for the
//! runtime and the agent: the cgroup layout, the agent's host facts, its
//! crun cgroup view and its netns directory all read mounts through
//! [`parse`].
//!
//! Each line is parsed by procfs's [`MountInfo::from_line`]; this module
//! adds only what procfs leaves out:
//!
//! - procfs keeps `root` and `mount_point` as the kernel wrote them, with
//!   space, tab, newline and backslash escaped as `\ooo` (`\040`); here they
//!   are unescaped ([`unescape`]), so a mount point holding a space compares
//!   equal to the path it names;
//! - procfs keeps the super options in a `HashMap`, which loses their order;
//!   the kernel's order of a v1 hierarchy's controllers (`cpu,cpuacct`)
//!   names the hierarchy's directory inside a container, so
//!   [`Mount::super_options`] lists them as written: the line's last field
//!   (proc(5): super options are the last field, and hold no raw space);
//! - procfs's `MountInfos` fails the whole file on one line it cannot parse;
//!   [`parse`] skips that line, as every caller did before.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use procfs::process::{MountInfo, MountOptFields};

/// One mount, as a line of mountinfo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem that forms the root of this mount
    /// (unescaped).
    pub root: PathBuf,
    /// Where it is mounted (unescaped).
    pub mount_point: PathBuf,
    /// The filesystem type (`cgroup`, `cgroup2`, `tmpfs`, ...).
    pub fs_type: String,
    /// Whether the mount is shared (an optional field `shared:N`).
    pub shared: bool,
    /// The per-superblock options, in the kernel's order.
    pub super_options: Vec<String>,
}

/// The mounts of mountinfo text, in the kernel's order; a line that does
/// not parse is skipped.
pub fn parse(text: &str) -> impl Iterator<Item = Mount> + '_ {
    text.lines().filter_map(|line| {
        let info = MountInfo::from_line(line).ok()?;
        let super_options = line
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::to_string)
            .collect();
        Some(Mount {
            root: unescape(&info.root),
            mount_point: unescape(&info.mount_point.to_string_lossy()),
            shared: info
                .opt_fields
                .iter()
                .any(|f| matches!(f, MountOptFields::Shared(_))),
            fs_type: info.fs_type,
            super_options,
        })
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a
/// backslash); a backslash not followed by three octal digits of a byte
/// stays as it is.
pub fn unescape(s: &str) -> PathBuf {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(v) = bytes.get(i + 1..i + 4).and_then(octal_byte)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The byte three octal digits spell, if they spell one (`\400` and above
/// do not).
fn octal_byte(digits: &[u8]) -> Option<u8> {
    let mut v: u16 = 0;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return None;
        }
        v = v * 8 + u16::from(d - b'0');
    }
    u8::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), Path::new("/a b"));
        assert_eq!(
            unescape("/tab\\011nl\\012bs\\134"),
            Path::new("/tab\tnl\nbs\\")
        );
        assert_eq!(unescape("/plain"), Path::new("/plain"));
        assert_eq!(unescape("/end\\"), Path::new("/end\\"));
        assert_eq!(unescape("/short\\04"), Path::new("/short\\04"));
        assert_eq!(unescape("/not\\08x"), Path::new("/not\\08x"));
        assert_eq!(unescape("/big\\777"), Path::new("/big\\777"));
    }

    #[test]
    fn lines_are_parsed_and_bad_ones_skipped() {
        let text = "\
36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue
garbage
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
";
        let mounts: Vec<Mount> = parse(text).collect();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].root, Path::new("/mnt1"));
        assert_eq!(mounts[0].mount_point, Path::new("/mnt/my dir"));
        assert_eq!(mounts[0].fs_type, "ext3");
        assert!(mounts[0].shared);
        assert!(!mounts[1].shared);
        assert_eq!(mounts[1].super_options, ["rw", "cpu", "cpuacct"]);
    }
}
