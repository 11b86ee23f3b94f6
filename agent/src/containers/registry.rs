//! The registry: [`Containers`], the service every other module of
//! `containers` adds its operations to, holds one [`Entry`] per container.
//! Here are its opening (every persisted record loaded), the lookups (by
//! id, name or id prefix), the views the API answers with, and the paths
//! and cgroups a container gets. It uses no sibling module.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use berth_api::containers::{Container, ContainerState, RuntimeKind, is_container_id};
use tokio::sync::watch;

use super::record::{RECORD_FILE, Record};
use super::{Error, Result};
use crate::auth::Auth;
use crate::config::Paths;
use crate::images::ImageStore;
use crate::monitor::logfile;
use crate::network::Network;
use crate::runtime::OciRuntime;

/// What the service needs to know of its host.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub paths: Paths,
    /// Parent cgroup of every container (`/berth`, `/berth/<name>` in tests).
    pub cgroup_parent: String,
    /// The binary that runs `monitor` (the agent itself).
    pub monitor_bin: PathBuf,
    /// A runc-compatible runtime binary; `None` is the runtime library.
    pub runtime_bin: Option<PathBuf>,
    pub cpus: u32,
    /// The host's resolv.conf.
    pub host_resolv: PathBuf,
    pub log_limits: logfile::Limits,
}

/// The live side of a container, as the agent last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    Created,
    Running { pid: u32, paused: bool },
    Stopped,
}

/// One container: its record and its live state.
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) dir: PathBuf,
    /// Serialises the actions on one container.
    pub(super) ops: tokio::sync::Mutex<()>,
    record: Mutex<Record>,
    pub(super) live: watch::Sender<Live>,
    /// Bumped at every start: a watcher of an older run ignores its exit.
    pub(super) generation: AtomicU64,
    /// Consecutive quick failures, for the restart back-off.
    pub(super) backoff: AtomicU32,
}

impl Entry {
    pub(super) fn new(id: String, dir: PathBuf, record: Record, live: Live) -> Self {
        Entry {
            id,
            dir,
            ops: tokio::sync::Mutex::new(()),
            record: Mutex::new(record),
            live: watch::Sender::new(live),
            generation: AtomicU64::new(0),
            backoff: AtomicU32::new(0),
        }
    }

    pub(super) fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the record and saves it.
    pub(super) fn update(&self, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut r);
        crate::fsutil::write_json(&self.dir.join(RECORD_FILE), &*r, 0o600)
            .map_err(|e| Error::internal(format!("save container {}", self.id), e))?;
        Ok(r.clone())
    }

    pub(super) fn live(&self) -> Live {
        *self.live.borrow()
    }
}

pub(super) struct Inner {
    pub(super) cfg: ServiceConfig,
    pub(super) images: ImageStore,
    pub(super) runtime: Box<dyn OciRuntime>,
    /// Container networking; `None` when it could not be set up (then only
    /// `none` and `host` work, without loopback set up in `none`).
    pub(super) network: Option<Network>,
    auth: Auth,
    entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// Serialises creates, so names stay unique.
    pub(super) create_lock: tokio::sync::Mutex<()>,
}

/// The container service. Cheap to clone.
#[derive(Clone)]
pub struct Containers {
    pub(super) inner: Arc<Inner>,
}

impl Containers {
    /// Loads every persisted container. Call [`Containers::adopt`] next.
    pub fn open(
        cfg: ServiceConfig,
        images: ImageStore,
        network: Option<Network>,
        auth: Auth,
    ) -> Result<Self> {
        let dir = cfg.paths.containers_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("create {}", dir.display()), e))?;
        let runtime = crate::runtime::open(cfg.runtime_bin.as_deref(), &cfg.paths.oci_root())
            .map_err(|e| Error::internal("open the OCI runtime", e))?;
        let entries = load(&dir)?;
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                images,
                runtime,
                network,
                auth,
                entries: Mutex::new(entries),
                create_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Every entry, in id order.
    pub(super) fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Adds a new entry.
    pub(super) fn insert(&self, entry: Arc<Entry>) {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.id.clone(), entry);
    }

    /// Takes the entry `id` out (the container is being deleted).
    pub(super) fn remove(&self, id: &str) {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Is `id` still registered (not deleted)?
    pub(super) fn contains(&self, id: &str) -> bool {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// Finds a container by id, name, or a unique id prefix of 12+ digits.
    pub(super) fn find(&self, key: &str) -> Result<Arc<Entry>> {
        let entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get(key) {
            return Ok(e.clone());
        }
        if let Some(e) = entries.values().find(|e| e.record().name == key) {
            return Ok(e.clone());
        }
        if key.len() >= 12 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut m = entries
                .range(key.to_string()..)
                .take_while(|(k, _)| k.starts_with(key));
            if let (Some((_, e)), None) = (m.next(), m.next()) {
                return Ok(e.clone());
            }
        }
        Err(Error::NotFound(key.to_string()))
    }

    /// The view of one container.
    pub fn get(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        Ok(self.view(&e))
    }

    /// Every container, filtered by `label=k=v` pairs and state.
    pub fn list(
        &self,
        labels: &[(String, String)],
        state: Option<ContainerState>,
    ) -> Vec<Container> {
        let mut v: Vec<Container> = self
            .entries()
            .iter()
            .map(|e| self.view(e))
            .filter(|c| labels.iter().all(|(k, val)| c.labels.get(k) == Some(val)))
            .filter(|c| state.is_none_or(|s| c.state == s))
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.name.cmp(&b.name)));
        v
    }

    /// What the API shows of a container.
    pub(super) fn view(&self, e: &Entry) -> Container {
        let r = e.record();
        let (state, pid) = match e.live() {
            Live::Created => (ContainerState::Created, None),
            Live::Running { pid, paused: false } => (ContainerState::Running, Some(pid)),
            Live::Running { pid, paused: true } => (ContainerState::Paused, Some(pid)),
            Live::Stopped => (ContainerState::Stopped, None),
        };
        let stopped = state == ContainerState::Stopped;
        Container {
            id: r.id.clone(),
            name: r.name.clone(),
            host: self.inner.auth.host_id().unwrap_or_default(),
            runtime: RuntimeKind::Berth,
            image: r.spec.image.clone(),
            state,
            exit_code: if stopped { r.exit_code } else { None },
            pid,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: if stopped { r.finished_at } else { None },
            limits: r.spec.limits.clone(),
            ports: r.spec.ports.clone(),
            labels: r.spec.labels.clone(),
            restart_count: r.restart_count,
            cmd: r.cmd.clone(),
            network: r.network.clone(),
            ip_address: r.ip_address.clone(),
            restart: r.spec.restart.unwrap_or_default(),
            spec: Some(r.spec.clone()),
            redacted: false,
        }
    }

    /// The directory holding a container's log files, and a receiver that
    /// changes when its state does.
    pub fn log_source(&self, key: &str) -> Result<(String, PathBuf, watch::Receiver<Live>)> {
        let e = self.find(key)?;
        Ok((e.id.clone(), e.dir.join("logs"), e.live.subscribe()))
    }

    /// The log limits monitors use (readers need `max_files`).
    pub fn log_limits(&self) -> logfile::Limits {
        self.inner.cfg.log_limits
    }

    /// Running (and paused) containers: id, name, init pid.
    pub fn running(&self) -> Vec<(String, String, u32)> {
        self.entries()
            .iter()
            .filter_map(|e| match e.live() {
                Live::Running { pid, .. } => Some((e.id.clone(), e.record().name, pid)),
                _ => None,
            })
            .collect()
    }

    /// Every container: id and name.
    pub fn names(&self) -> Vec<(String, String)> {
        self.entries()
            .iter()
            .map(|e| (e.id.clone(), e.record().name))
            .collect()
    }

    /// The container's cgroup path inside each hierarchy.
    pub fn cgroup_path(&self, id: &str) -> String {
        format!("{}/{id}", self.cgroup_parent())
    }

    /// The parent cgroup of every container.
    pub fn cgroup_parent(&self) -> String {
        let p = self.inner.cfg.cgroup_parent.trim_end_matches('/');
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        }
    }

    /// The id of a container by id, name or prefix.
    pub fn resolve_id(&self, key: &str) -> Result<String> {
        Ok(self.find(key)?.id.clone())
    }

    /// The pid of a running container's init, or 409.
    pub fn running_pid(&self, key: &str) -> Result<(String, u32)> {
        let e = self.find(key)?;
        match e.live() {
            Live::Running { pid, paused: false } => Ok((e.id.clone(), pid)),
            Live::Running { paused: true, .. } => {
                Err(Error::Conflict(format!("container {key} is paused")))
            }
            _ => Err(Error::Conflict(format!("container {key} is not running"))),
        }
    }

    /// The socket of a container's monitor, under the runtime root.
    pub(super) fn socket_path(&self, id: &str) -> PathBuf {
        self.inner
            .cfg
            .paths
            .runtime_root
            .join("m")
            .join(format!("{id}.sock"))
    }
}

/// Reads every container record under `dir`: a container with a start on
/// record is stopped until adoption says otherwise. A dir without a
/// readable record is logged and skipped.
fn load(dir: &std::path::Path) -> Result<BTreeMap<String, Arc<Entry>>> {
    let mut entries = BTreeMap::new();
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::internal(format!("read {}", dir.display()), e))?;
    for e in rd.flatten() {
        let path = e.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !is_container_id(&id) {
            continue;
        }
        match crate::fsutil::read_json::<Record>(&path.join(RECORD_FILE)) {
            Ok(Some(record)) => {
                let live = if record.started_at.is_some() {
                    Live::Stopped
                } else {
                    Live::Created
                };
                entries.insert(id.clone(), Arc::new(Entry::new(id, path, record, live)));
            }
            Ok(None) => {
                tracing::warn!(dir = %path.display(), "container dir without a record; ignored")
            }
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "unreadable container record; ignored")
            }
        }
    }
    Ok(entries)
}
