//! crun on a hybrid cgroup host.
//!
//! A hybrid host mounts the cgroup v1 controllers under /sys/fs/cgroup and
//! a cgroup2 hierarchy at /sys/fs/cgroup/unified. When that cgroup2 holds
//! controllers of its own (e.g. hugetlb), crun refuses every container
//! ("cgroups in hybrid mode not supported, drop all controllers from
//! cgroupv2"); with an empty one it works, and places the container in it
//! too. runc handles both layouts.
//!
//! So when the runtime is crun and the host's cgroup2 holds controllers,
//! each of the runtime's commands runs in a private mount namespace where
//! that cgroup2 is unmounted: crun then sees a v1 host and places the
//! container in every v1 controller, as it would on a v1-only host (no
//! controller lives in both). The namespace is the runtime process's own
//! (made after fork, before exec): the agent's is never touched, `/` is
//! made a recursive slave so nothing done there reaches the host while the
//! host's later mounts (rootfs, netns) still show, and it ends with the
//! runtime process: the container makes its own mount namespace from it.

use std::ffi::CStr;
use std::path::Path;
use std::process::Command;

/// Where a hybrid host mounts its cgroup2 hierarchy (and where crun looks).
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// How the runtime's commands see the host's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupView {
    /// As the agent does.
    Host,
    /// In a private mount namespace without the cgroup2 at [`UNIFIED`].
    WithoutUnified,
}

impl CgroupView {
    /// The view `binary` needs on this host.
    pub fn for_runtime(binary: &Path) -> Self {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if !hybrid(&mountinfo) {
            return Self::Host;
        }
        let controllers = std::fs::read_to_string(Path::new(UNIFIED).join("cgroup.controllers"))
            .unwrap_or_default();
        if controllers.trim().is_empty() || !is_crun(binary) {
            return Self::Host;
        }
        Self::WithoutUnified
    }

    /// Makes `cmd` run in this view (a pre-exec step; add it after any
    /// other, so that it runs last, in the runtime process itself).
    pub fn apply(self, cmd: &mut Command) {
        if self == Self::WithoutUnified {
            without_mount(cmd, c"/sys/fs/cgroup/unified");
        }
    }
}

/// cgroup v1 hierarchies plus a cgroup2 at [`UNIFIED`], per mountinfo(5).
fn hybrid(mountinfo: &str) -> bool {
    let mut v1 = false;
    let mut unified = false;
    for m in berth_runtime::mountinfo::parse(mountinfo) {
        match m.fs_type.as_str() {
            "cgroup" => v1 = true,
            "cgroup2" if m.mount_point == Path::new(UNIFIED) => unified = true,
            _ => {}
        }
    }
    v1 && unified
}

/// Whether `binary` is crun, by what it says of itself.
fn is_crun(binary: &Path) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| says_crun(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(false)
}

fn says_crun(version: &str) -> bool {
    version
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("crun version"))
}

/// Makes `cmd` run in a mount namespace of its own, `/` a recursive slave
/// of the caller's, `mount_point` unmounted there.
fn without_mount(cmd: &mut Command, mount_point: &'static CStr) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `enter_without` makes only async-signal-safe system calls on
    // NUL-terminated static strings, and allocates nothing.
    unsafe { cmd.pre_exec(move || enter_without(mount_point)) };
}

/// Runs in the forked runtime process before exec (nix's calls on a
/// `&CStr` allocate nothing).
fn enter_without(mount_point: &CStr) -> std::io::Result<()> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&CStr>,
    )?;
    umount2(mount_point, MntFlags::MNT_DETACH)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmounts the test's tmpfs mounts (and removes the dir) even on failure.
    struct Mounted(Vec<std::path::PathBuf>);

    impl Drop for Mounted {
        fn drop(&mut self) {
            for m in self.0.iter().rev() {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
            if let Some(top) = self.0.first() {
                let _ = std::fs::remove_dir(top);
            }
        }
    }

    fn mounted(mountinfo: &str, dir: &Path) -> bool {
        berth_runtime::mountinfo::parse(mountinfo).any(|m| m.mount_point == dir)
    }

    #[test]
    fn the_command_loses_the_mount_and_the_caller_keeps_it() {
        use nix::mount::{MsFlags, mount};
        if !nix::unistd::geteuid().is_root() {
            berth_testkit::skip("needs root (mount namespaces)");
            return;
        }
        // `inner` on a shared `outer`: its unmount in a peer namespace would
        // propagate back to us, unless the command's `/` is a slave.
        let outer = std::env::temp_dir().join(format!(
            "berth-cgroup-view-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let inner = outer.join("inner");
        std::fs::create_dir(&outer).unwrap();
        let mut guard = Mounted(vec![outer.clone()]);
        let tmpfs = |at: &Path| {
            mount(
                Some("tmpfs"),
                at,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
        };
        tmpfs(&outer).unwrap();
        mount(
            None::<&str>,
            &outer,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
        std::fs::create_dir(&inner).unwrap();
        tmpfs(&inner).unwrap();
        guard.0.push(inner.clone());
        let path = std::ffi::CString::new(inner.to_string_lossy().as_bytes()).unwrap();
        let path: &'static CStr = Box::leak(path.into_boxed_c_str());

        let mut cmd = Command::new("cat");
        cmd.arg("/proc/self/mountinfo");
        without_mount(&mut cmd, path);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let theirs = String::from_utf8_lossy(&out.stdout);
        assert!(
            mounted(&theirs, &outer),
            "the command lost the parent mount"
        );
        assert!(
            !mounted(&theirs, &inner),
            "the command still sees {inner:?}"
        );
        let ours = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(mounted(&ours, &inner), "the unmount reached the caller");
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_needs_v1_controllers_and_the_unified_mount() {
        assert!(hybrid(HYBRID));
        let unified_only = "30 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n";
        assert!(!hybrid(unified_only));
        let v1_only: String = HYBRID.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(!hybrid(&v1_only));
        // A cgroup2 elsewhere is not what crun looks at.
        let elsewhere = HYBRID.replace("/sys/fs/cgroup/unified", "/mnt/cg2");
        assert!(!hybrid(&elsewhere));
    }

    #[test]
    fn crun_is_known_by_its_version_line() {
        assert!(says_crun(
            "crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\n"
        ));
        assert!(!says_crun(
            "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n"
        ));
        assert!(!says_crun(""));
    }
}
