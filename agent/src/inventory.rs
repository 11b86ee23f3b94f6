//! What isolates what: every namespace of the host as util-linux lsns(8)
//! lists it (walking /proc/<pid>/ns, namespaces(7)), each container's seven
//! namespaces next to the host's, and the cgroup tree of the containers
//! with the host's top level (controllers, limits, usage, PSI).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use berth_api::inventory::{CgroupNode, ContainerNamespace, NAMESPACE_TYPES, NamespaceEntry};
use berth_api::metrics::Pressure;
use berth_runtime::cgroups::{CgroupLayout, CgroupManager, CgroupMode, Manager};

/// The namespace types lsns knows, in its order.
pub const LSNS_TYPES: [&str; 8] = ["mnt", "net", "time", "uts", "ipc", "user", "pid", "cgroup"];

/// `type:[inode]` → inode.
fn ns_inode(proc: &Path, pid: u32, ns: &str) -> Option<u64> {
    let link = std::fs::read_link(proc.join(pid.to_string()).join("ns").join(ns)).ok()?;
    let s = link.to_string_lossy();
    s.rsplit_once('[')?.1.trim_end_matches(']').parse().ok()
}

/// The real uid of a process (`Uid:` of its status, procfs).
fn uid_of(proc: &Path, pid: u32) -> Option<u32> {
    procfs::process::Process::new_with_root(proc.join(pid.to_string()))
        .and_then(|p| p.status())
        .ok()
        .map(|s| s.ruid)
}

/// What lsns prints as COMMAND: the command line, or the name for kernel
/// threads (which have none). Read as bytes, not with procfs's `cmdline()`,
/// which fails on an argument that is not UTF-8 where lsns shows it.
fn command_of(proc: &Path, pid: u32) -> String {
    let dir = proc.join(pid.to_string());
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        std::fs::read_to_string(dir.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default()
    } else {
        args.join(" ")
    }
}

fn user_names(passwd: &Path) -> HashMap<u32, String> {
    std::fs::read_to_string(passwd)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

/// Every namespace held by a process, as lsns shows it, tagged with the
/// container (id) whose init holds it. `containers`: (id, init pid).
pub fn namespaces(proc: &Path, containers: &[(String, u32)]) -> Vec<NamespaceEntry> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    // (type, inode) → (nprocs, lowest pid); pids are walked in order.
    let mut seen: BTreeMap<(usize, u64), (u64, u32)> = BTreeMap::new();
    for &pid in &pids {
        for (ti, t) in LSNS_TYPES.iter().enumerate() {
            if let Some(ino) = ns_inode(proc, pid, t) {
                seen.entry((ti, ino))
                    .and_modify(|e| e.0 += 1)
                    .or_insert((1, pid));
            }
        }
    }
    let mut owner: HashMap<(usize, u64), String> = HashMap::new();
    for (id, pid) in containers {
        for (ti, t) in LSNS_TYPES.iter().enumerate() {
            if let Some(ino) = ns_inode(proc, *pid, t) {
                owner.entry((ti, ino)).or_insert_with(|| id.clone());
            }
        }
    }
    // The host's own namespaces are never a container's, even when a
    // container shares one (host networking).
    let host_pid = pids
        .iter()
        .copied()
        .find(|p| ns_inode(proc, *p, "mnt").is_some())
        .unwrap_or(1);
    for (ti, t) in LSNS_TYPES.iter().enumerate() {
        if let Some(ino) = ns_inode(proc, host_pid, t) {
            owner.remove(&(ti, ino));
        }
    }
    let users = user_names(Path::new("/etc/passwd"));
    let mut out: Vec<NamespaceEntry> = seen
        .into_iter()
        .map(|((ti, inode), (nprocs, pid))| {
            let uid = uid_of(proc, pid);
            NamespaceEntry {
                inode,
                ns_type: LSNS_TYPES[ti].to_string(),
                nprocs,
                pid,
                user: uid
                    .map(|u| users.get(&u).cloned().unwrap_or_else(|| u.to_string()))
                    .unwrap_or_default(),
                command: command_of(proc, pid),
                container: owner.get(&(ti, inode)).cloned(),
            }
        })
        .collect();
    out.sort_by_key(|e| e.inode);
    out
}

/// A container's seven namespaces next to those of `host_pid`.
pub fn container_namespaces(proc: &Path, pid: u32, host_pid: u32) -> Vec<ContainerNamespace> {
    NAMESPACE_TYPES
        .iter()
        .filter_map(|t| {
            let inode = ns_inode(proc, pid, t)?;
            let host_inode = ns_inode(proc, host_pid, t).unwrap_or(0);
            Some(ContainerNamespace {
                ns_type: t.to_string(),
                inode,
                host_inode,
                shared_with_host: inode == host_inode,
            })
        })
        .collect()
}

/// The host's first process: the lowest pid whose namespaces can be read
/// (pid 1, or the first after it where pid 1 is shielded, as in some
/// sandboxes).
pub fn host_pid(proc: &Path) -> u32 {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids.into_iter()
        .find(|p| ns_inode(proc, *p, "mnt").is_some())
        .unwrap_or(1)
}

/// The cgroup tree: the host's top-level cgroups, and below the
/// containers' parent every cgroup (each container's tagged with its id).
pub fn cgroup_tree(
    layout: &CgroupLayout,
    parent: &str,
    containers: &HashMap<String, String>,
) -> CgroupNode {
    let primary = primary_root(layout);
    let mut root = node(layout, Path::new("/"), containers);
    let Some(primary) = primary else {
        return root;
    };
    let parent = PathBuf::from(parent);
    for top in subdirs(&primary) {
        let rel = Path::new("/").join(&top);
        let child = if parent.starts_with(&rel) {
            walk_toward(layout, &primary, &rel, &parent, containers)
        } else {
            node(layout, &rel, containers)
        };
        root.children.push(child);
    }
    root
}

/// The hierarchy whose directories name the cgroups: the unified one on
/// v2, the memory controller's on v1 and hybrid.
fn primary_root(layout: &CgroupLayout) -> Option<PathBuf> {
    match layout.mode {
        CgroupMode::Unified => layout.unified.clone(),
        _ => layout
            .v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == "memory"))
            .map(|h| h.mountpoint.clone()),
    }
}

fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `rel` and its children: along the way to `parent` only that branch is
/// expanded; from `parent` down, everything.
fn walk_toward(
    layout: &CgroupLayout,
    primary: &Path,
    rel: &Path,
    parent: &Path,
    containers: &HashMap<String, String>,
) -> CgroupNode {
    let mut n = node(layout, rel, containers);
    let inside = rel.starts_with(parent);
    for name in subdirs(&primary.join(rel.strip_prefix("/").unwrap_or(rel))) {
        let child = rel.join(&name);
        if inside || parent.starts_with(&child) {
            n.children
                .push(walk_toward(layout, primary, &child, parent, containers));
        }
    }
    n
}

fn node(layout: &CgroupLayout, rel: &Path, containers: &HashMap<String, String>) -> CgroupNode {
    let controllers = controllers(layout, rel);
    let mut limits = BTreeMap::new();
    let mut usage = BTreeMap::new();
    let mut pressure = None;
    if let Ok(stats) = Manager::new(layout, rel).and_then(|m| m.stats()) {
        usage.insert("memory_bytes".to_string(), stats.memory.usage);
        usage.insert("pids".to_string(), stats.pids.current);
        usage.insert("cpu_usec".to_string(), stats.cpu.usage_ns / 1000);
        usage.insert(
            "cpu_throttled_usec".to_string(),
            stats.cpu.throttled_ns / 1000,
        );
        limits.insert(
            "memory.max".to_string(),
            stats
                .memory
                .limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "max".into()),
        );
        limits.insert(
            "pids.max".to_string(),
            stats
                .pids
                .limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "max".into()),
        );
        pressure = stats.pressure.map(|p| Pressure {
            cpu: p.cpu.map(|x| x.some.avg10),
            memory: p.memory.map(|x| x.some.avg10),
            io: p.io.map(|x| x.some.avg10),
        });
    }
    if let Some(cpu) = cpu_max(layout, rel) {
        limits.insert("cpu.max".to_string(), cpu);
    }
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    CgroupNode {
        path: rel.to_string_lossy().into_owned(),
        controllers,
        limits,
        usage,
        pressure,
        container: containers.get(name).map(|_| name.to_string()),
        children: Vec::new(),
    }
}

fn controllers(layout: &CgroupLayout, rel: &Path) -> Vec<String> {
    let r = rel.strip_prefix("/").unwrap_or(rel);
    let mut v: Vec<String> = Vec::new();
    if layout.mode == CgroupMode::Unified {
        if let Some(u) = &layout.unified {
            let f = if r.as_os_str().is_empty() {
                u.join("cgroup.controllers")
            } else {
                u.join(r).join("cgroup.controllers")
            };
            v = std::fs::read_to_string(f)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
        }
    } else {
        for h in &layout.v1 {
            if h.mountpoint.join(r).is_dir() {
                v.extend(h.controllers.iter().cloned());
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// `cpu.max` as v2 writes it (`quota period` or `max period`); on v1 made
/// from cfs_quota_us and cfs_period_us.
fn cpu_max(layout: &CgroupLayout, rel: &Path) -> Option<String> {
    let r = rel.strip_prefix("/").unwrap_or(rel);
    if layout.mode == CgroupMode::Unified {
        return std::fs::read_to_string(layout.unified.as_ref()?.join(r).join("cpu.max"))
            .ok()
            .map(|s| s.trim().to_string());
    }
    let h = layout
        .v1
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "cpu"))?;
    let dir = h.mountpoint.join(r);
    let quota: i64 = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let period = std::fs::read_to_string(dir.join("cpu.cfs_period_us"))
        .ok()?
        .trim()
        .to_string();
    Some(if quota < 0 {
        format!("max {period}")
    } else {
        format!("{quota} {period}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_namespaces_are_listed() {
        let me = std::process::id();
        let all = namespaces(Path::new("/proc"), &[]);
        let my_net = ns_inode(Path::new("/proc"), me, "net").unwrap();
        let e = all
            .iter()
            .find(|e| e.inode == my_net && e.ns_type == "net")
            .unwrap();
        assert!(e.nprocs >= 1);
        assert!(e.pid <= me);
        let mine = container_namespaces(Path::new("/proc"), me, me);
        assert_eq!(mine.len(), 7);
        assert!(mine.iter().all(|n| n.shared_with_host));
    }
}
