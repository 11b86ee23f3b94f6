//! Shared fixtures for the root integration tests: a busybox bundle, a
//! runtime on a temp state root, cgroups under `/berth/test-<unique>`, and a
//! guard that removes all of it, even when a test fails.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_runtime::cgroups::{CgroupLayout, CgroupManager, Manager};
use berth_runtime::{CreateOptions, Runtime};
use serde_json::{Value, json};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether root tests can run here; prints why not.
pub fn can_run() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        berth_testkit::skip("needs root");
        return false;
    }
    if !Path::new("/bin/busybox").exists() {
        berth_testkit::skip("needs /bin/busybox (Debian's busybox-static)");
        return false;
    }
    true
}

/// A rootfs with a static busybox and its applets as symlinks.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "sys", "tmp", "etc", "root"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let out = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// A runc-like default config for `args`.
pub fn default_config(args: &[&str], cgroups_path: &str) -> Value {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// One test's world: bundle, runtime, parent cgroup; removed on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub rt: Runtime,
    pub cgroup_parent: String,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        busybox_rootfs(&dir.path().join("bundle/rootfs"));
        let rt = Runtime::new(dir.path().join("state")).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let cgroup_parent = format!("/berth/test-{}-{n}", std::process::id());
        Fixture {
            dir,
            rt,
            cgroup_parent,
            ids: Default::default(),
        }
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle().join("rootfs")
    }

    /// A config for `args` with its cgroup under this fixture's parent.
    pub fn config(&self, id: &str, args: &[&str]) -> Value {
        default_config(args, &format!("{}/{id}", self.cgroup_parent))
    }

    pub fn write_config(&self, config: &Value) {
        fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }

    /// Creates with the config given, capturing stdout+stderr in a pipe.
    pub fn create_captured(
        &self,
        id: &str,
        config: &Value,
    ) -> berth_runtime::Result<(i32, fs::File)> {
        self.write_config(config);
        self.ids.borrow_mut().push(id.to_string());
        let (r, w) = pipe();
        let devnull = fs::File::open("/dev/null").unwrap();
        let w2 = w.try_clone().unwrap();
        let opts = CreateOptions {
            stdio: Some([devnull.into(), w, w2]),
            ..Default::default()
        };
        let st = self.rt.create(id, &self.bundle(), opts)?;
        Ok((st.pid(), fs::File::from(r)))
    }

    /// create + start + wait: (exit code, output).
    pub fn run(&self, id: &str, config: &Value) -> berth_runtime::Result<(i32, String)> {
        let (pid, mut out) = self.create_captured(id, config)?;
        self.rt.start(id)?;
        let code = berth_runtime::wait(pid)?;
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        self.rt.delete(id, true)?;
        Ok((code, s))
    }

    /// Tracks an id for cleanup.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            if let Ok(st) = self.rt.state(id) {
                let _ = self.rt.delete(id, true);
                if st.pid() > 0 {
                    // Reap our child if it is one.
                    // SAFETY: waitpid with WNOHANG on a pid we created.
                    unsafe { libc::waitpid(st.pid(), std::ptr::null_mut(), libc::WNOHANG) };
                }
            }
        }
        if let Ok(layout) = CgroupLayout::detect()
            && let Ok(m) = Manager::new(&layout, &self.cgroup_parent)
        {
            let _ = m.destroy();
        }
    }
}

/// A pipe as two owned fds (read, write), close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}
