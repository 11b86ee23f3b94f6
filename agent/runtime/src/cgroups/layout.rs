//! Which cgroup hierarchies the host mounts, read from
//! `/proc/self/mountinfo` (proc(5), "/proc/pid/mountinfo").

use std::io;
use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::mountinfo;

/// How the host lays out its cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 hierarchy (systemd's "hybrid").
    Hybrid,
    /// cgroup2 only.
    Unified,
}

impl std::fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupMode::Legacy => "v1",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::Unified => "v2",
        })
    }
}

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Controllers bound to it (`cpu`, `cpuacct`, ...); named hierarchies
    /// (`name=systemd`) are not listed at all.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The cgroup the mount shows at `mountpoint` (`/` on a host).
    pub root: PathBuf,
}

/// The host's cgroup mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    pub mode: CgroupMode,
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount point, if any.
    pub unified: Option<PathBuf>,
    /// Where this was read from (for error messages).
    pub mountinfo: PathBuf,
}

impl CgroupLayout {
    /// Reads `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self> {
        Self::from_file(Path::new("/proc/self/mountinfo"))
    }

    /// Reads a mountinfo file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            err: source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses mountinfo text (`source` names it in errors), through the
    /// shared reader [`crate::mountinfo`] (it says why procfs alone does
    /// not fit: escapes, the controllers' order, lines it cannot parse).
    pub fn parse(text: &str, source: &Path) -> Result<Self> {
        let mut v1: Vec<V1Hierarchy> = Vec::new();
        let mut unified = None;
        for m in mountinfo::parse(text) {
            match m.fs_type.as_str() {
                "cgroup2" if unified.is_none() => unified = Some(m.mount_point),
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_options
                        .into_iter()
                        .filter(|o| is_controller(o))
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    // A hierarchy bind-mounted twice shows up twice: keep the first.
                    if v1
                        .iter()
                        .any(|h| h.controllers.iter().any(|c| controllers.contains(c)))
                    {
                        continue;
                    }
                    v1.push(V1Hierarchy {
                        controllers,
                        mountpoint: m.mount_point,
                        root: m.root,
                    });
                }
                _ => {}
            }
        }
        let mode = match (v1.is_empty(), &unified) {
            (true, Some(_)) => CgroupMode::Unified,
            (false, Some(_)) => CgroupMode::Hybrid,
            (false, None) => CgroupMode::Legacy,
            (true, None) => return Err(Error::NoHierarchy(source.to_path_buf())),
        };
        Ok(CgroupLayout {
            mode,
            v1,
            unified,
            mountinfo: source.to_path_buf(),
        })
    }

    /// The v1 hierarchy that holds `controller`.
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// A cgroup's directory in a v1 hierarchy.
    pub fn v1_dir(hierarchy: &V1Hierarchy, cgroup: &Path) -> PathBuf {
        let rel = cgroup.strip_prefix(&hierarchy.root).unwrap_or(cgroup);
        join_rel(&hierarchy.mountpoint, rel)
    }

    /// The cgroup a process belongs to, per hierarchy, from
    /// `/proc/<pid>/cgroup`: for v2 the path after `0::`, for v1 the path
    /// of the hierarchy holding `controller`.
    pub fn process_cgroup(pid: i32, controller: Option<&str>) -> Result<PathBuf> {
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let read_err = |e: procfs::ProcError| Error::Read {
            path: path.clone(),
            err: match e {
                procfs::ProcError::Io(err, _) => err,
                procfs::ProcError::NotFound(_) => io::Error::from_raw_os_error(libc::ENOENT),
                procfs::ProcError::PermissionDenied(_) => {
                    io::Error::from_raw_os_error(libc::EACCES)
                }
                other => io::Error::other(other.to_string()),
            },
        };
        let groups = procfs::process::Process::new(pid)
            .and_then(|p| p.cgroups())
            .map_err(read_err)?;
        for g in groups {
            let hit = match controller {
                None => g.hierarchy == 0 && g.controllers.is_empty(),
                Some(c) => g.controllers.iter().any(|x| x == c),
            };
            if hit {
                return Ok(PathBuf::from(g.pathname));
            }
        }
        Err(Error::Parse {
            path,
            reason: format!(
                "no line for {}",
                controller.unwrap_or("the unified hierarchy")
            ),
        })
    }
}

/// `base` joined with `rel`, where `rel` may be absolute.
pub(crate) fn join_rel(base: &Path, rel: &Path) -> PathBuf {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

fn is_controller(opt: &str) -> bool {
    matches!(
        opt,
        "cpu"
            | "cpuacct"
            | "cpuset"
            | "memory"
            | "devices"
            | "freezer"
            | "blkio"
            | "pids"
            | "net_cls"
            | "net_prio"
            | "perf_event"
            | "hugetlb"
            | "rdma"
            | "misc"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_is_detected() {
        let l = CgroupLayout::parse(HYBRID, Path::new("test")).unwrap();
        assert_eq!(l.mode, CgroupMode::Hybrid);
        assert_eq!(l.v1.len(), 3, "named hierarchies are skipped");
        assert_eq!(
            l.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        let mem = l.v1_hierarchy("memory").unwrap();
        assert_eq!(
            CgroupLayout::v1_dir(mem, Path::new("/berth/x")),
            Path::new("/sys/fs/cgroup/memory/berth/x")
        );
    }

    #[test]
    fn unified_and_legacy_layouts_are_detected() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = CgroupLayout::parse(v2, Path::new("t")).unwrap();
        assert_eq!(l.mode, CgroupMode::Unified);
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = CgroupLayout::parse(v1, Path::new("t")).unwrap();
        assert_eq!(l.mode, CgroupMode::Legacy);
        assert_eq!(l.v1[0].controllers, ["cpu", "cpuacct"]);
        assert!(CgroupLayout::parse("", Path::new("t")).is_err());
    }

    #[test]
    fn mount_roots_and_escapes_are_honoured() {
        let text = "35 31 0:32 /outer /mnt/my\\040cg rw - cgroup cgroup rw,memory\n";
        let l = CgroupLayout::parse(text, Path::new("t")).unwrap();
        let h = &l.v1[0];
        assert_eq!(h.mountpoint, Path::new("/mnt/my cg"));
        assert_eq!(
            CgroupLayout::v1_dir(h, Path::new("/outer/berth/a")),
            Path::new("/mnt/my cg/berth/a")
        );
    }
}
