//! Removes what a test leaves on the host: the processes it started
//! (server, agents, per-container monitors, container processes), the
//! cgroups under its own parent, and the mounts under its temporary dir.
//! The e2e stacks and the backend's real-agent tests both use it.
//!
//! Only things that belong to the stack are touched: processes whose command
//! line names the stack's temporary data dir or that sit in the stack's own
//! cgroup parent, cgroups under that parent, and mounts below the data dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Every cgroup hierarchy mounted on this host (v1 controllers and v2).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            pre.split_whitespace().nth(4).map(PathBuf::from)
        })
        .collect()
}

fn pids_in_tree(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                pids_in_tree(&e.path(), out);
            }
        }
    }
}

fn thaw_tree(dir: &Path) {
    let _ = fs::write(dir.join("freezer.state"), "THAWED");
    let _ = fs::write(dir.join("cgroup.freeze"), "0");
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                thaw_tree(&e.path());
            }
        }
    }
}

fn rmdir_tree(dir: &Path) -> bool {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// Pids of processes whose command line mentions `needle`.
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = crate::pid(std::process::id()).as_raw();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// Kills and removes the cgroup tree at `parent` (e.g. `/berth/e2e-x`) in
/// every hierarchy. Returns false if something could not be removed.
pub fn remove_cgroup_tree(parent: &str) -> bool {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() {
        return true;
    }
    let dirs: Vec<PathBuf> = cgroup_mounts()
        .into_iter()
        .map(|m| m.join(rel))
        .filter(|d| d.is_dir())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut pids = Vec::new();
        for d in &dirs {
            thaw_tree(d);
            let _ = fs::write(d.join("cgroup.kill"), "1");
            pids_in_tree(d, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        for p in &pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
        }
        let all_gone = dirs.iter().all(|d| rmdir_tree(d));
        if all_gone {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("cleanup: could not remove cgroup {parent} in every hierarchy");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lazily unmounts everything mounted at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Everything a stack made: processes naming its data dir, its cgroups, its
/// mounts. The temp dir itself is removed by its owner afterwards.
pub fn remove_stack_leftovers(data_dir: &Path, cgroup_parent: &str) {
    let needle = data_dir.to_string_lossy().to_string();
    for _ in 0..3 {
        let pids = pids_mentioning(&needle);
        if pids.is_empty() {
            break;
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    remove_cgroup_tree(cgroup_parent);
    if let Some(tmp) = data_dir.parent() {
        unmount_below(tmp);
    } else {
        unmount_below(data_dir);
    }
}
