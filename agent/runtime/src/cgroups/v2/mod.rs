//! cgroup v2: one directory in the unified hierarchy. Controllers are
//! enabled in the parents' `cgroup.subtree_control` (only where missing),
//! processes can be placed at `clone3` time with `CLONE_INTO_CGROUP`,
//! `cgroup.kill` empties the cgroup in one write, and device rules become an
//! eBPF program ([`devices`]).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use super::layout::join_rel;
use super::{CgroupManager, Error, FreezerState, Result, Stats, files, kill_pid, wait_until};

mod cpu;
pub mod devices;
mod io;
mod memory;

/// Controllers the runtime enables for its cgroups when the host has them.
const WANTED: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

/// A cgroup in a cgroup2 hierarchy.
#[derive(Debug, Clone)]
pub struct V2Manager {
    mount: PathBuf,
    path: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    /// `mount` is the cgroup2 mount point, `path` the cgroup inside it.
    pub fn new(mount: &Path, path: &Path) -> Self {
        V2Manager {
            mount: mount.to_path_buf(),
            path: path.to_path_buf(),
            dir: join_rel(mount, path),
        }
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Enables `controllers` (those the host has) for this cgroup, i.e. in
    /// the `cgroup.subtree_control` of every ancestor below the mount.
    pub fn enable(&self, controllers: &[&str]) -> Result<()> {
        let Ok(rel) = self.dir.strip_prefix(&self.mount) else {
            return Ok(());
        };
        let mut cur = self.mount.clone();
        let mut parents = vec![cur.clone()];
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push(c);
            parents.push(cur.clone());
        }
        for dir in parents {
            let available = files::read(&dir, "cgroup.controllers")?;
            let enabled = files::read(&dir, "cgroup.subtree_control")?;
            let missing: Vec<String> = controllers
                .iter()
                .filter(|c| available.split_whitespace().any(|a| a == **c))
                .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
                .map(|c| format!("+{c}"))
                .collect();
            if missing.is_empty() {
                continue;
            }
            if files::write(&dir, "cgroup.subtree_control", missing.join(" ")).is_err() {
                // One at a time, so one refused controller (say, a
                // threaded cpuset) does not keep the others off.
                for m in &missing {
                    files::write(&dir, "cgroup.subtree_control", m)?;
                }
            }
        }
        Ok(())
    }

    /// Makes the directory (and parents) without enabling controllers.
    pub fn create_dir(&self) -> Result<()> {
        files::create_dirs(&self.dir).map(drop)
    }

    /// Writes `linux.resources.unified`: file name → value.
    pub fn apply_unified(&self, unified: &HashMap<String, String>) -> Result<()> {
        for (key, value) in unified {
            if key.contains('/') || key.starts_with('.') || key.is_empty() {
                return Err(Error::Unsupported(format!(
                    "linux.resources.unified: {key:?} is not a cgroup file name"
                )));
            }
            if let Some(ctrl) = key.split('.').next()
                && WANTED.contains(&ctrl)
            {
                self.enable(&[ctrl])?;
            }
            files::write(&self.dir, key, value)?;
        }
        Ok(())
    }

    fn events(&self) -> Result<String> {
        files::read(&self.dir, "cgroup.events")
    }

    fn populated(&self) -> bool {
        match self.events() {
            Ok(ev) => files::keyed(&ev, "populated") == Some("1"),
            Err(_) => false,
        }
    }
}

impl CgroupManager for V2Manager {
    fn path(&self) -> &Path {
        &self.path
    }

    fn create(&self) -> Result<()> {
        files::create_dirs(&self.dir)?;
        self.enable(WANTED)
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            memory::apply(&self.dir, m)?;
        }
        if let Some(c) = r.cpu() {
            cpu::apply(&self.dir, c)?;
        }
        if let Some(p) = r.pids() {
            super::v1::pids::apply(&self.dir, p)?;
        }
        if let Some(b) = r.block_io() {
            io::apply(&self.dir, b)?;
        }
        if let Some(h) = r.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
            super::v1::hugetlb::apply(&self.dir, h)?;
        }
        if let Some(d) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            devices::apply(&self.dir, d)?;
        }
        if let Some(rdma) = r.rdma() {
            for (dev, lim) in rdma {
                let mut parts = vec![dev.clone()];
                if let Some(h) = lim.hca_handles() {
                    parts.push(format!("hca_handle={h}"));
                }
                if let Some(o) = lim.hca_objects() {
                    parts.push(format!("hca_object={o}"));
                }
                files::write(&self.dir, "rdma.max", parts.join(" "))?;
            }
        }
        if let Some(u) = r.unified() {
            self.apply_unified(u)?;
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        files::write(&self.dir, "cgroup.procs", pid.to_string())
    }

    fn procs(&self) -> Result<Vec<i32>> {
        files::read_pids(&self.dir)
    }

    fn set_freezer(&self, state: FreezerState) -> Result<()> {
        let (value, want) = match state {
            FreezerState::Frozen => ("1", "1"),
            FreezerState::Thawed => ("0", "0"),
        };
        files::write(&self.dir, "cgroup.freeze", value)?;
        let done = wait_until(Duration::from_secs(10), || {
            self.events()
                .map(|ev| files::keyed(&ev, "frozen") == Some(want))
                .unwrap_or(true)
        });
        if !done {
            return Err(Error::Busy {
                path: self.dir.join("cgroup.events"),
                waited: Duration::from_secs(10),
            });
        }
        Ok(())
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        Ok(
            match files::read_opt(&self.dir, "cgroup.freeze")?
                .as_deref()
                .map(str::trim)
            {
                Some("1") => FreezerState::Frozen,
                _ => FreezerState::Thawed,
            },
        )
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        cpu::stats(&self.dir, &mut s.cpu)?;
        memory::stats(&self.dir, &mut s.memory)?;
        if self.dir.join("pids.current").exists() {
            super::v1::pids::stats(&self.dir, &mut s.pids)?;
        }
        io::stats(&self.dir, &mut s.blkio)?;
        super::v1::hugetlb::stats(&self.dir, &mut s.hugetlb)?;
        s.pressure = super::stats::read_pressure(&self.dir);
        Ok(s)
    }

    fn signal_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL && self.dir.join("cgroup.kill").exists() {
            return files::write(&self.dir, "cgroup.kill", "1");
        }
        for pid in self.procs()? {
            kill_pid(pid, signal);
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        let has_kill = self.dir.join("cgroup.kill").exists();
        let emptied = wait_until(Duration::from_secs(10), || {
            if !self.populated() {
                return true;
            }
            if has_kill {
                let _ = files::write(&self.dir, "cgroup.kill", "1");
            } else {
                let _ = files::write(&self.dir, "cgroup.freeze", "0");
                for pid in files::read_pids(&self.dir).unwrap_or_default() {
                    kill_pid(pid, libc::SIGKILL);
                }
            }
            false
        });
        if !emptied {
            return Err(Error::Busy {
                path: self.dir.clone(),
                waited: Duration::from_secs(10),
            });
        }
        files::remove_dir(&self.dir)
    }

    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        let f = std::fs::File::open(&self.dir).map_err(|source| Error::Read {
            path: self.dir.clone(),
            err: source,
        })?;
        Ok(Some(f.into()))
    }

    fn self_join_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    fn exists(&self) -> bool {
        self.dir.exists()
    }
}
