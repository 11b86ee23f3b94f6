//! Host facts: kernel, OS, cgroup mode, CPUs, memory, as the server shows
//! them for each host (`HostFacts`).
//!
//! Sources: uname(2), os-release(5), /proc/self/mountinfo (proc(5), through
//! the one mountinfo reader, `berth_runtime::mountinfo`) and /proc/meminfo
//! (the metrics sampler's reader). Paths are parameters so unit tests read
//! fixtures.

use std::path::Path;

use berth_api::hosts::{CgroupMode, HostFacts};

/// Reads the facts of the running host.
pub fn host_facts() -> HostFacts {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    HostFacts {
        kernel: field(|u| u.release()),
        os: os_pretty_name(Path::new("/etc/os-release")),
        cgroup: cgroup_mode(Path::new("/proc/self/mountinfo")),
        cpus: std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1),
        memory_bytes: mem_total(Path::new("/proc/meminfo")),
        hostname: hostname(),
        arch: field(|u| u.machine()),
    }
}

/// The host's name (uname nodename), or "localhost" when unset.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// PRETTY_NAME from an os-release file, or "Linux".
pub fn os_pretty_name(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".to_string())
}

/// How the host mounts cgroups, from a mountinfo file: a cgroup2 at
/// /sys/fs/cgroup is v2; v1 controllers with a cgroup2 beside them are
/// hybrid; v1 alone is v1.
pub fn cgroup_mode(mountinfo: &Path) -> CgroupMode {
    let text = std::fs::read_to_string(mountinfo).unwrap_or_default();
    let (mut v1, mut v2_root, mut v2_other) = (false, false, false);
    for m in berth_runtime::mountinfo::parse(&text) {
        match m.fs_type.as_str() {
            "cgroup2" if m.mount_point == Path::new("/sys/fs/cgroup") => v2_root = true,
            "cgroup2" => v2_other = true,
            "cgroup" => v1 = true,
            _ => {}
        }
    }
    match (v1, v2_root || v2_other) {
        (true, true) => CgroupMode::Hybrid,
        (true, false) => CgroupMode::V1,
        _ => CgroupMode::V2,
    }
}

/// MemTotal of a meminfo file, in bytes (0 when unreadable).
pub fn mem_total(meminfo: &Path) -> u64 {
    std::fs::read_to_string(meminfo)
        .ok()
        .and_then(|s| crate::metrics::host::meminfo_bytes(&s, "MemTotal"))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_fixtures() {
        let d = tempfile::tempdir().unwrap();
        let os = write(
            d.path(),
            "os",
            "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        );
        assert_eq!(os_pretty_name(&os), "Debian GNU/Linux 12 (bookworm)");
        let mem = write(d.path(), "mem", "MemTotal:       2048 kB\nMemFree: 1 kB\n");
        assert_eq!(mem_total(&mem), 2048 * 1024);
        let hybrid = write(
            d.path(),
            "h",
            "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n\
             31 25 0:27 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n",
        );
        assert_eq!(cgroup_mode(&hybrid), CgroupMode::Hybrid);
        let v2 = write(
            d.path(),
            "v2",
            "30 25 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(cgroup_mode(&v2), CgroupMode::V2);
        let v1 = write(
            d.path(),
            "v1",
            "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        assert_eq!(cgroup_mode(&v1), CgroupMode::V1);
    }
}
