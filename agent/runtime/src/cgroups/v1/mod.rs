//! cgroup v1: one directory per mounted hierarchy, one file per controller
//! below. In the hybrid layout the cgroup is also made in the cgroup2
//! hierarchy, which brings PSI and any controller only v2 has (hugetlb on
//! some hosts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use super::layout::CgroupLayout;
use super::v2::V2Manager;
use super::{CgroupManager, Error, FreezerState, Result, Stats, files, kill_pid, wait_until};

mod blkio;
mod cpu;
mod cpuset;
mod devices;
mod freezer;
pub(crate) mod hugetlb;
mod memory;
mod net;
pub(crate) mod pids;

/// One hierarchy's directory for this cgroup.
#[derive(Debug, Clone)]
struct Dir {
    controllers: Vec<String>,
    path: PathBuf,
}

/// A cgroup on a v1 (or hybrid) host.
#[derive(Debug, Clone)]
pub struct V1Manager {
    path: PathBuf,
    dirs: Vec<Dir>,
    unified: Option<V2Manager>,
}

impl V1Manager {
    pub fn new(layout: &CgroupLayout, path: &Path) -> Self {
        let dirs = layout
            .v1
            .iter()
            .map(|h| Dir {
                controllers: h.controllers.clone(),
                path: CgroupLayout::v1_dir(h, path),
            })
            .collect();
        let unified = layout.unified.as_deref().map(|u| V2Manager::new(u, path));
        V1Manager {
            path: path.to_path_buf(),
            dirs,
            unified,
        }
    }

    /// This cgroup's directory in the hierarchy holding `controller`.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// The cgroup2 part of a hybrid layout.
    pub fn unified(&self) -> Option<&V2Manager> {
        self.unified.as_ref()
    }

    fn any_dir(&self) -> Result<&Path> {
        self.dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
            .ok_or_else(|| Error::Unsupported("no cgroup v1 hierarchy is mounted".into()))
    }

    fn need(&self, controller: &str) -> Result<&Path> {
        self.dir(controller).ok_or_else(|| {
            Error::Unsupported(format!(
                "the {controller} cgroup controller is not mounted on this host"
            ))
        })
    }
}

impl CgroupManager for V1Manager {
    fn path(&self) -> &Path {
        &self.path
    }

    fn create(&self) -> Result<()> {
        for d in &self.dirs {
            let created = files::create_dirs(&d.path)?;
            if d.controllers.iter().any(|c| c == "cpuset") {
                for (i, dir) in created.iter().enumerate() {
                    cpuset::init_created(dir, i + 1 == created.len())?;
                }
            }
        }
        if let Some(u) = &self.unified {
            // Membership only (for PSI): controllers are enabled there when
            // a limit needs one (hugetlb), so a parent holding processes
            // does not fail every create.
            u.create_dir()?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            memory::apply(self.need("memory")?, m)?;
        }
        if let Some(c) = r.cpu() {
            if c.shares().is_some()
                || c.quota().is_some()
                || c.period().is_some()
                || c.burst().is_some()
                || c.realtime_period().is_some()
                || c.realtime_runtime().is_some()
                || c.idle().is_some()
            {
                cpu::apply(self.need("cpu")?, c)?;
            }
            if c.cpus().is_some() || c.mems().is_some() {
                cpuset::apply(self.need("cpuset")?, c)?;
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(self.need("pids")?, p)?;
        }
        if let Some(b) = r.block_io() {
            blkio::apply(self.need("blkio")?, b)?;
        }
        if let Some(d) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            devices::apply(self.need("devices")?, d)?;
        }
        if let Some(h) = r.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
            let dir = match (self.dir("hugetlb"), &self.unified) {
                (Some(d), _) => d.to_path_buf(),
                (None, Some(u)) => {
                    u.enable(&["hugetlb"])?;
                    u.dir().to_path_buf()
                }
                (None, None) => self.need("hugetlb")?.to_path_buf(),
            };
            hugetlb::apply(&dir, h)?;
        }
        if let Some(n) = r.network() {
            net::apply(self.dir("net_cls"), self.dir("net_prio"), n)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            match &self.unified {
                Some(v2) => v2.apply_unified(u)?,
                None => {
                    return Err(Error::Unsupported(
                        "linux.resources.unified needs cgroup v2, and this host has only v1".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for d in &self.dirs {
            files::write(&d.path, "cgroup.procs", &pid)?;
        }
        if let Some(u) = &self.unified {
            files::write(u.dir(), "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    fn procs(&self) -> Result<Vec<i32>> {
        files::read_pids(self.any_dir()?)
    }

    fn set_freezer(&self, state: FreezerState) -> Result<()> {
        freezer::set(self.need("freezer")?, state)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        match self.dir("freezer") {
            Some(d) => freezer::get(d),
            None => Ok(FreezerState::Thawed),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        cpu::stats(self.dir("cpu"), self.dir("cpuacct"), &mut s.cpu)?;
        if let Some(d) = self.dir("memory") {
            memory::stats(d, &mut s.memory)?;
        }
        if let Some(d) = self.dir("pids") {
            pids::stats(d, &mut s.pids)?;
        }
        if let Some(d) = self.dir("blkio") {
            blkio::stats(d, &mut s.blkio)?;
        }
        if let Some(d) = self.dir("hugetlb") {
            hugetlb::stats(d, &mut s.hugetlb)?;
        } else if let Some(u) = &self.unified {
            hugetlb::stats(u.dir(), &mut s.hugetlb)?;
        }
        if let Some(u) = &self.unified {
            s.pressure = super::stats::read_pressure(u.dir());
        }
        Ok(s)
    }

    fn signal_all(&self, signal: i32) -> Result<()> {
        // Freeze so that nothing forks past the signal, as runc does.
        let was = self.freezer_state()?;
        let freeze = self.dir("freezer").is_some() && was == FreezerState::Thawed;
        if freeze {
            self.set_freezer(FreezerState::Frozen)?;
        }
        let res = self.procs().map(|pids| {
            for pid in pids {
                kill_pid(pid, signal);
            }
        });
        if freeze {
            self.set_freezer(FreezerState::Thawed)?;
        }
        res
    }

    fn destroy(&self) -> Result<()> {
        if !self.exists() {
            if let Some(u) = &self.unified {
                u.destroy()?;
            }
            return Ok(());
        }
        if self.freezer_state()? == FreezerState::Frozen {
            self.set_freezer(FreezerState::Thawed)?;
        }
        let dir = self.any_dir()?.to_path_buf();
        let emptied = wait_until(Duration::from_secs(10), || match files::read_pids(&dir) {
            Ok(pids) if pids.is_empty() => true,
            Ok(pids) => {
                for pid in pids {
                    kill_pid(pid, libc::SIGKILL);
                }
                false
            }
            Err(_) => true,
        });
        if !emptied {
            return Err(Error::Busy {
                path: dir,
                waited: Duration::from_secs(10),
            });
        }
        for d in &self.dirs {
            files::remove_dir(&d.path)?;
        }
        if let Some(u) = &self.unified {
            u.destroy()?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        match &self.unified {
            Some(u) => u.clone_into_fd(),
            None => Ok(None),
        }
    }

    fn self_join_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.join("tasks")).collect()
    }

    fn exists(&self) -> bool {
        self.dirs.first().is_some_and(|d| d.path.exists())
    }
}
