//! Where the three runtimes run: a fresh busybox rootfs with the probe for
//! every run (runtimes write into it: device nodes when nothing is mounted
//! on /dev, a missing cwd), a state root per runtime, cgroups under `/berth-diff/<pid>`. Every runtime
//! command runs in a fresh private mount namespace without the hybrid
//! host's cgroup2 (crun 1.8 refuses a host whose cgroup2 holds controllers;
//! the agent does the same for crun, `agent/src/runtime/cgroup_view.rs`):
//! all three see the same host, and a bundle without a mount namespace of
//! its own can only change that throw-away namespace. Everything is removed
//! on drop, even when the test fails.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The runtimes compared, in the order of the report's columns.
pub const RUNTIMES: [&str; 3] = ["runc", "crun", "berth"];

/// What one runtime did with one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The probe ran to its end: its exit status and what it printed.
    Ran(BTreeMap<String, String>),
    /// The runtime refused the bundle (or the process never got to run the
    /// probe): its error output.
    Refused(String),
}

pub struct World {
    dir: tempfile::TempDir,
    /// The pristine rootfs each run's is linked from.
    rootfs: PathBuf,
    berth: PathBuf,
    /// `/berth-diff/<pid>`: the parent of every container's cgroup.
    pub cgroup_parent: String,
    /// The test's own namespaces as `type:[inode]` (the mount namespace
    /// is each run's own, see `run`).
    host_ns: BTreeMap<String, String>,
    runs: u32,
    /// busybox's applets, linked in every run's rootfs.
    applets: Vec<String>,
}

impl World {
    pub fn new(berth: &Path) -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-diff.")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        crate::common::busybox_rootfs(&rootfs);
        fs::write(rootfs.join("probe.sh"), include_str!("probe.sh")).unwrap();
        let applets = fs::read_dir(rootfs.join("bin"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "busybox")
            .collect();
        World {
            dir,
            rootfs,
            berth: berth.to_path_buf(),
            cgroup_parent: format!("/berth-diff/{}", std::process::id()),
            host_ns: host_namespaces(),
            runs: 0,
            applets,
        }
    }

    /// A copy of the pristine rootfs at `to` (files hard-linked: nothing
    /// writes into files, only new entries are made).
    fn fresh_rootfs(&self, to: &Path) {
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root"] {
            fs::create_dir_all(to.join(d)).unwrap();
        }
        for f in ["bin/busybox", "probe.sh", "etc/passwd", "etc/group"] {
            fs::hard_link(self.rootfs.join(f), to.join(f)).unwrap();
        }
        for a in &self.applets {
            std::os::unix::fs::symlink("busybox", to.join("bin").join(a)).unwrap();
        }
    }

    /// runc's own template: `runc spec` in a scratch directory.
    pub fn runc_template(&self) -> Value {
        let d = self.dir.path().join("template");
        fs::create_dir_all(&d).unwrap();
        sh(&["runc", "spec", "-b", d.to_str().unwrap()]);
        serde_json::from_slice(&fs::read(d.join("config.json")).unwrap()).unwrap()
    }

    /// The next variant's containers get new ids.
    pub fn next_variant(&mut self) {
        self.runs += 1;
    }

    fn binary(&self, rt: &str) -> PathBuf {
        match rt {
            "berth" => self.berth.clone(),
            other => PathBuf::from(other),
        }
    }

    /// Runs `spec` through `rt` (`runc ... run`), in the private namespace,
    /// bounded by a deadline; deletes the container and its cgroup after.
    pub fn run(&self, rt: &str, spec: &Value) -> Outcome {
        let id = format!("d{}-{rt}", self.runs);
        let bundle = self.dir.path().join("bundles").join(&id);
        fs::create_dir_all(&bundle).unwrap();
        let mut spec = spec.clone();
        let rootfs = bundle.join("rootfs");
        self.fresh_rootfs(&rootfs);
        spec["root"]["path"] = Value::from(rootfs.to_str().unwrap());
        spec["linux"]["cgroupsPath"] = Value::from(format!("{}/{id}", self.cgroup_parent));
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        let root = self.dir.path().join(format!("state-{rt}"));
        let mntns = bundle.join("mntns");
        let out = self.rt_command(
            rt,
            &root,
            &mntns,
            &["run", "-b", bundle.to_str().unwrap(), &id],
        );
        let _ = self.rt_command(
            rt,
            &root,
            &bundle.join("mntns-delete"),
            &["delete", "-f", &id],
        );
        remove_cgroup(&format!("{}/{id}", self.cgroup_parent));
        let (code, stdout, stderr) = out;
        // The run's own mount namespace stands for the host's: a container
        // without a mount namespace shares it.
        let mut host_ns = self.host_ns.clone();
        host_ns.insert(
            "mnt".into(),
            fs::read_to_string(&mntns).unwrap_or_default().trim().into(),
        );
        let _ = fs::remove_dir_all(&bundle);
        if stdout.lines().any(|l| l == "probe.end=1") {
            let mut fields = crate::diff::probe::parse(&stdout);
            crate::diff::probe::normalise(&mut fields, &spec, &host_ns);
            fields.insert("exit".into(), code.to_string());
            Outcome::Ran(fields)
        } else {
            let mut msg = stderr.trim().to_string();
            if msg.is_empty() {
                msg = format!("(no error output; exit {code}; stdout {stdout:?})");
            }
            Outcome::Refused(msg)
        }
    }

    /// `<rt> --root <root> <args>` in a fresh private mount namespace
    /// without /sys/fs/cgroup/unified, whose `ns/mnt` link goes to
    /// `mntns`: (exit code, stdout, stderr). Killed after 30 s (a hang is a
    /// finding, not a stuck test).
    fn rt_command(
        &self,
        rt: &str,
        root: &Path,
        mntns: &Path,
        args: &[&str],
    ) -> (i32, String, String) {
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "readlink /proc/self/ns/mnt > \"$0\"; \
                 umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"",
            )
            .arg(mntns)
            .arg(self.binary(rt))
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out_pipe.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            // A poll interval in a wait with a deadline (docs/development.md).
            if let Some(st) = child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break -9;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // A process left in the container could hold the pipes open: the
        // caller's `delete -f` kills it; read what came until then.
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        (code, stdout, stderr)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for rt in RUNTIMES {
            let root = self.dir.path().join(format!("state-{rt}"));
            if let Ok(entries) = fs::read_dir(&root) {
                for e in entries.flatten() {
                    let id = e.file_name().to_string_lossy().into_owned();
                    let scratch = self.dir.path().join("mntns-drop");
                    let _ = self.rt_command(rt, &root, &scratch, &["delete", "-f", &id]);
                }
            }
        }
        remove_cgroup(&self.cgroup_parent);
        // The shared top, when no other run is using it (rmdir only).
        for base in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(base.path().join("berth-diff"));
        }
        let _ = fs::remove_dir("/sys/fs/cgroup/berth-diff");
    }
}

/// Runs a set-up command that must succeed.
fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/proc/self/ns/*` of the test.
fn host_namespaces() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for e in fs::read_dir("/proc/self/ns").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(link) = fs::read_link(e.path()) {
            m.insert(name, link.to_string_lossy().into_owned());
        }
    }
    m
}

/// Removes the cgroup `path` (and what is below it) from every hierarchy:
/// thawed, its processes killed, directories removed bottom-up. Only ever
/// called on cgroups this harness made.
fn remove_cgroup(path: &str) {
    let Ok(bases) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = bases
        .flatten()
        .map(|b| b.path().join(path.trim_start_matches('/')))
        .collect();
    dirs.push(Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')));
    for d in dirs.into_iter().filter(|d| d.is_dir()) {
        let mut all = Vec::new();
        collect_dirs(&d, &mut all);
        for sub in all.iter().rev() {
            let _ = fs::write(sub.join("freezer.state"), "THAWED");
            for pid in fs::read_to_string(sub.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) on a pid read from a cgroup this harness
                // made for its containers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            // A poll interval in a wait with a deadline: rmdir fails with
            // EBUSY until the killed processes are gone.
            while fs::remove_dir(sub).is_err() && Instant::now() < deadline {
                if !sub.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    if let Ok(entries) = fs::read_dir(d) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}
