//! The container service: specs become validated, persisted containers that
//! run through the OCI runtime under a monitor each, and the actions of
//! docs/api.md (start, stop, restart, kill, pause, unpause, delete) with
//! their state rules (409 for the wrong state).
//!
//! Layout of one container, `<data>/containers/<id>/`:
//! ```text
//! container.json         the record (spec, image, restart bookkeeping)
//! bundle/config.json     the OCI runtime config, rebuilt at each start
//! rootfs                 the overlayfs mount of the image (images::overlay)
//! upper, work            the container's writable layer
//! etc/                   hostname, hosts, resolv.conf (bind-mounted)
//! logs/container.log*    its stdout and stderr, JSON lines (the monitor writes)
//! started.json, exited.json, monitor.log   the monitor's reports
//! ```
//! Runtime files (the monitor's socket, the runtime's state) live under the
//! runtime root in /run, so a reboot clears them; the agent then knows from
//! the boot id in `started.json` that nothing it recorded still runs, and
//! applies the restart policies.

pub mod bundle;
pub mod record;
pub mod seccomp;
pub mod user;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::containers::{
    Container, ContainerSpec, ContainerState, CreatedContainer, NetworkMode, RestartPolicy,
    RuntimeKind, is_container_id,
};
use chrono::Utc;
use rand::RngCore;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::config::Paths;
use crate::images::ImageStore;
use crate::monitor::{self, MonitorArgs, logfile, status};
use crate::network::Network;
use crate::runtime::OciRuntime;
use bundle::NetNs;
use record::{RECORD_FILE, Record};

/// Errors of the container service, each with the HTTP status it means.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Image(#[from] crate::images::Error),
    #[error("{0}")]
    Network(#[from] crate::network::Error),
    #[error("{what}: {cause}")]
    Internal { what: String, cause: String },
}

impl Error {
    fn internal(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Internal {
            what: what.into(),
            cause: cause.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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

struct Entry {
    id: String,
    dir: PathBuf,
    /// Serialises the actions on one container.
    ops: tokio::sync::Mutex<()>,
    record: Mutex<Record>,
    live: watch::Sender<Live>,
    /// Bumped at every start: a watcher of an older run ignores its exit.
    generation: AtomicU64,
    /// Consecutive quick failures, for the restart back-off.
    backoff: AtomicU32,
}

impl Entry {
    fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut r);
        crate::fsutil::write_json(&self.dir.join(RECORD_FILE), &*r, 0o600)
            .map_err(|e| Error::internal(format!("save container {}", self.id), e))?;
        Ok(r.clone())
    }

    fn live(&self) -> Live {
        *self.live.borrow()
    }
}

struct Inner {
    cfg: ServiceConfig,
    images: ImageStore,
    runtime: Box<dyn OciRuntime>,
    /// Container networking; `None` when it could not be set up (then only
    /// `none` and `host` work, without loopback set up in `none`).
    network: Option<Network>,
    auth: Auth,
    entries: Mutex<BTreeMap<String, Arc<Entry>>>,
    /// Serialises creates, so names stay unique.
    create_lock: tokio::sync::Mutex<()>,
}

/// The container service. Cheap to clone.
#[derive(Clone)]
pub struct Containers {
    inner: Arc<Inner>,
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
        let mut entries = BTreeMap::new();
        let rd = std::fs::read_dir(&dir)
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
                    entries.insert(
                        id.clone(),
                        Arc::new(Entry {
                            id,
                            dir: path,
                            ops: tokio::sync::Mutex::new(()),
                            record: Mutex::new(record),
                            live: watch::Sender::new(live),
                            generation: AtomicU64::new(0),
                            backoff: AtomicU32::new(0),
                        }),
                    );
                }
                Ok(None) => {
                    tracing::warn!(dir = %path.display(), "container dir without a record; ignored")
                }
                Err(e) => {
                    tracing::warn!(dir = %path.display(), error = %e, "unreadable container record; ignored")
                }
            }
        }
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

    /// Re-adopts what runs (same pids, same monitors), records what ended
    /// while the agent was away, and applies restart policies, including
    /// after a reboot.
    pub async fn adopt(&self) {
        let boot = status::boot_id();
        for entry in self.entries() {
            let rec = entry.record();
            if rec.started_at.is_none() {
                continue;
            }
            let started = status::read_started(&entry.dir);
            let mut exited = status::read_exited(&entry.dir);
            if let (Some(s), None) = (&started, &exited)
                && s.boot_id == boot
                && status::monitor_alive(s.monitor_pid, &entry.id)
                && !status::process_alive(s.pid)
            {
                // Reaped, not yet recorded: the monitor writes the exit
                // right after. Never re-adopt a dead container as running.
                exited = status::wait_exited(&entry.dir, Duration::from_secs(2)).await;
            }
            match (started, exited) {
                (Some(s), None)
                    if s.boot_id == boot && status::monitor_alive(s.monitor_pid, &entry.id) =>
                {
                    let paused = self.runtime_paused(&entry.id).await;
                    entry
                        .live
                        .send_replace(Live::Running { pid: s.pid, paused });
                    let generation = entry.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    self.watch(entry.clone(), generation);
                    tracing::info!(id = %entry.id, pid = s.pid, "re-adopted a running container");
                }
                (_, Some(x)) => {
                    let _ = entry.update(|r| {
                        r.exit_code = Some(x.exit_code);
                        r.finished_at = Some(x.finished_at);
                    });
                    entry.live.send_replace(Live::Stopped);
                    self.after_exit(entry.clone()).await;
                }
                _ => {
                    // The host rebooted, or the monitor died without a word.
                    tracing::info!(id = %entry.id, "container did not survive (reboot or lost monitor)");
                    entry.live.send_replace(Live::Stopped);
                    if rec.finished_at.is_none() || rec.finished_at < rec.started_at {
                        let _ = entry.update(|r| {
                            r.finished_at = Some(Utc::now());
                            r.exit_code = None;
                        });
                    }
                    self.after_exit(entry.clone()).await;
                }
            }
        }
        if let Some(n) = &self.inner.network {
            let ids: std::collections::HashSet<String> =
                self.entries().iter().map(|e| e.id.clone()).collect();
            match n.reconcile(&ids).await {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(
                        count = gone.len(),
                        "released the network of containers that no longer exist"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "network reconcile failed"),
            }
        }
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by id, name, or a unique id prefix of 12+ digits.
    fn find(&self, key: &str) -> Result<Arc<Entry>> {
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

    fn view(&self, e: &Entry) -> Container {
        let r = e.record();
        let live = e.live();
        let (state, pid) = match live {
            Live::Created => (ContainerState::Created, None),
            Live::Running { pid, paused: false } => (ContainerState::Running, Some(pid)),
            Live::Running { pid, paused: true } => (ContainerState::Paused, Some(pid)),
            Live::Stopped => (ContainerState::Stopped, None),
        };
        Container {
            id: r.id.clone(),
            name: r.name.clone(),
            host: self.inner.auth.host_id().unwrap_or_default(),
            runtime: RuntimeKind::Berth,
            image: r.spec.image.clone(),
            state,
            exit_code: if state == ContainerState::Stopped {
                r.exit_code
            } else {
                None
            },
            pid,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: if state == ContainerState::Stopped {
                r.finished_at
            } else {
                None
            },
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

    /// The process an exec runs: the container's own process (user, env,
    /// cwd, capabilities) with `argv`. 409 unless the container runs.
    pub fn exec_process(
        &self,
        key: &str,
        argv: Vec<String>,
        tty: bool,
    ) -> Result<(String, oci_spec::runtime::Process)> {
        let (id, _) = self.running_pid(key)?;
        let e = self.find(&id)?;
        let spec = oci_spec::runtime::Spec::load(e.dir.join("bundle/config.json"))
            .map_err(|err| Error::internal("read the container's config.json", err))?;
        let mut process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::internal("exec", "config.json has no process"))?;
        if argv.is_empty() || argv[0].is_empty() {
            return Err(Error::Invalid("cmd: give the command to run".into()));
        }
        process.set_args(Some(argv));
        process.set_terminal(Some(false));
        if tty {
            let mut env = process.env().clone().unwrap_or_default();
            if !env.iter().any(|v| v.starts_with("TERM=")) {
                env.push("TERM=xterm".into());
            }
            process.set_env(Some(env));
        }
        Ok((id, process))
    }

    /// Starts `process` in container `id` with `io`. Blocking.
    pub fn exec_start(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: crate::runtime::ExecIo,
    ) -> Result<crate::runtime::ExecChild> {
        self.inner
            .runtime
            .exec(id, process, io)
            .map_err(|e| match e {
                crate::runtime::Error::NotFound(_) => {
                    Error::Conflict(format!("container {id} is not running"))
                }
                crate::runtime::Error::Failed { detail, .. } if detail.contains("not running") => {
                    Error::Conflict(format!("container {id} is not running"))
                }
                other => Error::Invalid(format!("exec failed: {other}")),
            })
    }

    /// Creates a container from `spec`; starts it too when `start`.
    pub async fn create(&self, spec: ContainerSpec, start: bool) -> Result<CreatedContainer> {
        validate::validate(&spec, self.inner.cfg.cpus).map_err(Error::Invalid)?;
        if spec.runtime == Some(RuntimeKind::Docker) {
            return Err(Error::Invalid(
                "runtime \"docker\": no Docker engine is bridged on this agent".into(),
            ));
        }
        let has_network = self.inner.network.is_some();
        let network = match spec.network.clone() {
            None if has_network => NetworkMode::Bridge,
            None | Some(NetworkMode::None) => NetworkMode::None,
            Some(NetworkMode::Bridge) if has_network => NetworkMode::Bridge,
            Some(NetworkMode::Bridge) => {
                return Err(Error::Invalid(
                    "network \"bridge\": container networking could not be set up on this host (see the agent's log); use \"none\" or \"host\"".into(),
                ));
            }
            Some(NetworkMode::Host) => NetworkMode::Host,
            Some(NetworkMode::Container(c)) => {
                let other = self.find(&c).map_err(|_| {
                    Error::Invalid(format!("network \"container:{c}\": no such container"))
                })?;
                NetworkMode::Container(other.id.clone())
            }
        };
        Network::validate(&network, &spec.ports).map_err(|e| Error::Invalid(e.to_string()))?;

        let _guard = self.inner.create_lock.lock().await;
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => generated_name(&spec.image),
        };
        if self.find(&name).is_ok() {
            return Err(Error::Conflict(format!(
                "the name {name:?} is already in use"
            )));
        }
        let image = {
            let images = self.inner.images.clone();
            let r = spec.image.clone();
            blocking(move || images.resolve(&r)).await?
        };
        let image = image.map_err(|e| match e {
            crate::images::Error::NotFound(_) => Error::Invalid(format!(
                "image {:?} is not on this host: pull or import it first",
                spec.image
            )),
            other => Error::Image(other),
        })?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let dir = self.inner.cfg.paths.container_dir(&id);
        let stop_signal = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.stop_signal().clone());
        let reservation = match &self.inner.network {
            Some(n) => Some(n.reserve(&id, &network, &spec.ports).await?),
            None => None,
        };
        let record = Record {
            ip_address: reservation
                .as_ref()
                .and_then(|r| r.ip)
                .map(|ip| ip.to_string()),
            id: id.clone(),
            name: name.clone(),
            cmd: bundle::command(&spec, image.config.config().as_ref()),
            spec,
            image_id: image.id.clone(),
            network,
            stop_signal,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            restart_count: 0,
            manually_stopped: false,
            should_run: false,
        };
        if record.cmd.is_empty() {
            self.release_network(&id).await;
            return Err(Error::Invalid(
                "cmd: the image has no command, so the spec must give one".into(),
            ));
        }
        let made = {
            let this = self.clone();
            let record = record.clone();
            let dir = dir.clone();
            blocking(move || this.prepare(&record, &dir)).await?
        };
        if let Err(e) = made {
            let this = self.clone();
            let (id2, dir2, image_id) = (id.clone(), dir.clone(), record.image_id.clone());
            let _ = blocking(move || this.remove_files(&id2, &dir2, &image_id)).await;
            self.release_network(&id).await;
            return Err(e);
        }
        let entry = Arc::new(Entry {
            id: id.clone(),
            dir,
            ops: tokio::sync::Mutex::new(()),
            record: Mutex::new(record),
            live: watch::Sender::new(Live::Created),
            generation: AtomicU64::new(0),
            backoff: AtomicU32::new(0),
        });
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), entry.clone());
        drop(_guard);
        tracing::info!(%id, %name, "created container");
        if start {
            let _ops = entry.ops.lock().await;
            self.start_entry(&entry).await?;
        }
        Ok(CreatedContainer { id, name })
    }

    /// Makes the container's files: dirs, rootfs, /etc files, record,
    /// bundle. Blocking.
    fn prepare(&self, record: &Record, dir: &Path) -> Result<()> {
        for d in [dir.join("logs"), dir.join("bundle")] {
            std::fs::create_dir_all(&d)
                .map_err(|e| Error::internal(format!("create {}", d.display()), e))?;
        }
        self.inner.images.add_user(&record.image_id, &record.id)?;
        self.inner.images.mount_rootfs(&record.image_id, dir)?;
        crate::fsutil::write_json(&dir.join(RECORD_FILE), record, 0o600)
            .map_err(|e| Error::internal("save the container record", e))?;
        // Check now what would fail at start: the user and the bundle.
        self.write_bundle(record, dir, None)?;
        Ok(())
    }

    /// (Re)writes `bundle/config.json` from the record, joining the network
    /// namespace of `net` when attached. Blocking.
    fn write_bundle(
        &self,
        record: &Record,
        dir: &Path,
        net: Option<&crate::network::Attachment>,
    ) -> Result<()> {
        let image = self.inner.images.resolve(&record.image_id)?;
        let image_config = image.config.config().clone();
        let rootfs_dir = dir.join("rootfs");
        let user_spec = record
            .spec
            .user
            .clone()
            .or_else(|| image_config.as_ref().and_then(|c| c.user().clone()))
            .unwrap_or_default();
        let user = user::resolve(&rootfs_dir, &user_spec).map_err(Error::Invalid)?;
        let hostname = record
            .spec
            .hostname
            .clone()
            .unwrap_or_else(|| record.id[..12].to_string());
        let netns = match (net, &record.network) {
            (Some(att), _) => match &att.netns {
                Some(path) => NetNs::Join(path.clone()),
                None => NetNs::Host,
            },
            (None, NetworkMode::Host) => NetNs::Host,
            (None, NetworkMode::Container(other)) => {
                let e = self.find(other).map_err(|_| {
                    Error::Conflict(format!("network container {other} no longer exists"))
                })?;
                match e.live() {
                    Live::Running { pid, .. } => {
                        NetNs::Join(PathBuf::from(format!("/proc/{pid}/ns/net")))
                    }
                    _ => {
                        return Err(Error::Conflict(format!(
                            "network container {} is not running",
                            e.record().name
                        )));
                    }
                }
            }
            _ => NetNs::New,
        };
        let resolv = match &self.inner.network {
            Some(n) => crate::network::etc::host_resolv_source(n.config().resolv_conf.as_deref()),
            None => self.inner.cfg.host_resolv.clone(),
        };
        let ip = net.and_then(|a| a.ip);
        let etc_files = crate::network::etc::write(dir, &hostname, &record.name, ip, &resolv)?;
        let cgroups_path = self.cgroup_path(&record.id);
        let spec = bundle::build(&bundle::BundleInput {
            spec: &record.spec,
            image: image_config.as_ref(),
            user: &user,
            rootfs: &rootfs_dir,
            cgroups_path,
            hostname,
            netns,
            etc_files,
        })
        .map_err(Error::Invalid)?;
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::internal("encode config.json", e))?;
        crate::fsutil::write_atomic(&dir.join("bundle/config.json"), &json, 0o600)
            .map_err(|e| Error::internal("write config.json", e))?;
        Ok(())
    }

    fn monitor_args(&self, entry: &Entry) -> MonitorArgs {
        let limits = self.inner.cfg.log_limits;
        MonitorArgs {
            id: entry.id.clone(),
            container_dir: entry.dir.clone(),
            bundle: entry.dir.join("bundle"),
            socket: self.socket_path(&entry.id),
            runtime_root: self.inner.cfg.paths.oci_root(),
            runtime_bin: self.inner.cfg.runtime_bin.clone(),
            log_max_size: limits.max_size,
            log_max_files: limits.max_files,
        }
    }

    fn socket_path(&self, id: &str) -> PathBuf {
        self.inner
            .cfg
            .paths
            .runtime_root
            .join("m")
            .join(format!("{id}.sock"))
    }

    /// Starts a container (the caller holds its ops lock).
    async fn start_entry(&self, entry: &Arc<Entry>) -> Result<()> {
        if let Live::Running { .. } = entry.live() {
            return Err(Error::Conflict(format!(
                "container {} is already running",
                entry.record().name
            )));
        }
        let record = entry.record();
        let attachment = match &self.inner.network {
            Some(n) => Some(n.attach(&entry.id, None).await?),
            None => None,
        };
        let this = self.clone();
        let dir = entry.dir.clone();
        let args = self.monitor_args(entry);
        let bin = self.inner.cfg.monitor_bin.clone();
        let started = blocking(move || -> Result<u32> {
            // After a reboot the rootfs is not mounted any more.
            this.inner.images.mount_rootfs(&record.image_id, &dir)?;
            this.write_bundle(&record, &dir, attachment.as_ref())?;
            // Stale runtime state of a run that did not end cleanly.
            let _ = this.inner.runtime.delete(&record.id, true);
            status::clear(&dir);
            monitor::spawn::start(&bin, &args).map_err(|e| match e {
                monitor::spawn::Error::Start(why) => {
                    Error::Invalid(format!("the container failed to start: {why}"))
                }
                other => Error::internal("start the container's monitor", other),
            })
        })
        .await?;
        let pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                self.detach_network(&entry.id).await;
                return Err(e);
            }
        };
        let started_at = status::read_started(&entry.dir)
            .map(|s| s.started_at)
            .unwrap_or_else(Utc::now);
        entry.update(|r| {
            r.started_at = Some(started_at);
            r.finished_at = None;
            r.exit_code = None;
            r.should_run = true;
            r.manually_stopped = false;
        })?;
        let generation = entry.generation.fetch_add(1, Ordering::SeqCst) + 1;
        entry
            .live
            .send_replace(Live::Running { pid, paused: false });
        self.watch(entry.clone(), generation);
        tracing::info!(id = %entry.id, pid, "started container");
        Ok(())
    }

    /// Waits for the monitor of this run to end, then records the exit.
    fn watch(&self, entry: Arc<Entry>, generation: u64) {
        let this = self.clone();
        let socket = self.socket_path(&entry.id);
        tokio::spawn(async move {
            monitor::spawn::wait_for_exit(&socket).await;
            if entry.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let exited = status::read_exited(&entry.dir);
            let _ = entry.update(|r| match &exited {
                Some(x) => {
                    r.exit_code = Some(x.exit_code);
                    r.finished_at = Some(x.finished_at);
                }
                None => {
                    r.exit_code = None;
                    r.finished_at = Some(Utc::now());
                }
            });
            entry.live.send_replace(Live::Stopped);
            tracing::info!(id = %entry.id, exit = ?exited.map(|x| x.exit_code), "container stopped");
            this.after_exit(entry).await;
        });
    }

    /// Applies the restart policy to a container that has just been seen
    /// stopped.
    async fn after_exit(&self, entry: Arc<Entry>) {
        let r = entry.record();
        let policy = r.spec.restart.unwrap_or_default();
        let failed = r.exit_code != Some(0);
        let restart = !r.manually_stopped
            && match policy {
                RestartPolicy::No => false,
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure { max_retries } => {
                    failed && max_retries.is_none_or(|n| r.restart_count < n)
                }
            };
        if !restart {
            let _ = entry.update(|r| r.should_run = false);
            // Its address and ports stay reserved; the veth and rules go.
            self.detach_network(&entry.id).await;
            return;
        }
        // Docker's back-off: 100 ms doubling up to a minute; a run of 10 s
        // or more resets it.
        let ran = match (r.started_at, r.finished_at) {
            (Some(s), Some(f)) => (f - s).num_seconds(),
            _ => 0,
        };
        if ran >= 10 {
            entry.backoff.store(0, Ordering::SeqCst);
        }
        let generation = entry.generation.load(Ordering::SeqCst);
        self.schedule_restart(entry, generation);
    }

    /// After the next back-off delay, starts the container again unless it
    /// was started, stopped by hand or deleted meanwhile (its generation
    /// moved or it is marked stopped). A start that fails (a busy host, a
    /// cgroup still being torn down) is retried with the next delay for as
    /// long as the policy wants the container running, as Docker's restart
    /// manager does, instead of leaving an `always` container down.
    fn schedule_restart(&self, entry: Arc<Entry>, generation: u64) {
        let level = entry.backoff.fetch_add(1, Ordering::SeqCst);
        let delay = Duration::from_millis(100u64 << level.min(10)).min(Duration::from_secs(60));
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ops = entry.ops.lock().await;
            let gone = !this
                .inner
                .entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&entry.id);
            let r = entry.record();
            if gone
                || entry.generation.load(Ordering::SeqCst) != generation
                || r.manually_stopped
                || entry.live() != Live::Stopped
            {
                return;
            }
            if let RestartPolicy::OnFailure {
                max_retries: Some(n),
            } = r.spec.restart.unwrap_or_default()
                && r.restart_count >= n
            {
                let _ = entry.update(|r| r.should_run = false);
                this.detach_network(&entry.id).await;
                return;
            }
            let _ = entry.update(|r| r.restart_count += 1);
            if let Err(e) = this.start_entry(&entry).await {
                tracing::warn!(id = %entry.id, error = %e, "restart by policy failed; trying again after the next back-off");
                this.schedule_restart(entry.clone(), generation);
            }
        });
    }

    /// `start`: 409 when running.
    pub async fn start(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        self.start_entry(&e).await?;
        e.backoff.store(0, Ordering::SeqCst);
        Ok(self.view(&e))
    }

    /// `stop`: the image's stop signal (SIGTERM), then SIGKILL after `timeout`.
    pub async fn stop(&self, key: &str, timeout: Duration) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if !matches!(e.live(), Live::Running { .. }) {
            let r = e.record();
            if r.should_run && !r.manually_stopped {
                // Between two runs, waiting for its policy's back-off: as
                // in Docker, a stop cancels the pending restart.
                e.update(|r| {
                    r.manually_stopped = true;
                    r.should_run = false;
                })?;
                self.detach_network(&e.id).await;
                return Ok(self.view(&e));
            }
            return Err(Error::Conflict(format!("container {key} is not running")));
        }
        self.stop_entry(&e, timeout).await?;
        Ok(self.view(&e))
    }

    async fn stop_entry(&self, e: &Arc<Entry>, timeout: Duration) -> Result<()> {
        e.update(|r| {
            r.manually_stopped = true;
            r.should_run = false;
        })?;
        if let Live::Running { paused: true, .. } = e.live() {
            self.runtime_call(&e.id, |rt, id| rt.resume(id)).await?;
        }
        let sig = e
            .record()
            .stop_signal
            .as_deref()
            .and_then(|s| parse_signal(s).ok())
            .unwrap_or(libc::SIGTERM);
        let _ = self
            .runtime_call(&e.id, move |rt, id| rt.kill(id, sig, false))
            .await;
        if !wait_stopped(e, timeout).await {
            let _ = self
                .runtime_call(&e.id, |rt, id| rt.kill(id, libc::SIGKILL, true))
                .await;
            wait_killed(e, "stop").await?;
        }
        Ok(())
    }

    /// `restart`: stop (if running), then start.
    pub async fn restart(&self, key: &str, timeout: Duration) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if matches!(e.live(), Live::Running { .. }) {
            self.stop_entry(&e, timeout).await?;
        }
        self.start_entry(&e).await?;
        Ok(self.view(&e))
    }

    /// `kill`: sends `signal` to the container's init.
    pub async fn kill(&self, key: &str, signal: i32) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if !matches!(e.live(), Live::Running { .. }) {
            return Err(Error::Conflict(format!("container {key} is not running")));
        }
        e.update(|r| r.manually_stopped = true)?;
        self.runtime_call(&e.id, move |rt, id| rt.kill(id, signal, false))
            .await?;
        if signal == libc::SIGKILL {
            wait_stopped(&e, Duration::from_secs(5)).await;
        }
        Ok(self.view(&e))
    }

    /// `pause`: freezes every process (the freezer cgroup).
    pub async fn pause(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        let Live::Running { pid, paused: false } = e.live() else {
            return Err(Error::Conflict(format!(
                "container {key} is not running (or is paused already)"
            )));
        };
        self.runtime_call(&e.id, |rt, id| rt.pause(id)).await?;
        e.live.send_replace(Live::Running { pid, paused: true });
        Ok(self.view(&e))
    }

    /// `unpause`: thaws it.
    pub async fn unpause(&self, key: &str) -> Result<Container> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        let Live::Running { pid, paused: true } = e.live() else {
            return Err(Error::Conflict(format!("container {key} is not paused")));
        };
        self.runtime_call(&e.id, |rt, id| rt.resume(id)).await?;
        e.live.send_replace(Live::Running { pid, paused: false });
        Ok(self.view(&e))
    }

    /// `DELETE`: 409 while running unless `force`, which kills it first.
    pub async fn delete(&self, key: &str, force: bool) -> Result<()> {
        let e = self.find(key)?;
        let _ops = e.ops.lock().await;
        if matches!(e.live(), Live::Running { .. }) {
            if !force {
                return Err(Error::Conflict(format!(
                    "container {key} is running: stop it first or delete with force=true"
                )));
            }
            e.update(|r| r.manually_stopped = true)?;
            if let Live::Running { paused: true, .. } = e.live() {
                let _ = self.runtime_call(&e.id, |rt, id| rt.resume(id)).await;
            }
            let _ = self
                .runtime_call(&e.id, |rt, id| rt.kill(id, libc::SIGKILL, true))
                .await;
            wait_killed(&e, "delete").await?;
        }
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&e.id);
        e.generation.fetch_add(1, Ordering::SeqCst);
        self.release_network(&e.id).await;
        let this = self.clone();
        let (id, dir, image_id) = (e.id.clone(), e.dir.clone(), e.record().image_id);
        blocking(move || this.remove_files(&id, &dir, &image_id)).await??;
        tracing::info!(id = %e.id, "deleted container");
        Ok(())
    }

    /// Removes what a container left: runtime state, rootfs mount, image
    /// use, its dir. Blocking.
    fn remove_files(&self, id: &str, dir: &Path, image_id: &str) -> Result<()> {
        let _ = self.inner.runtime.delete(id, true);
        self.inner.images.unmount_rootfs(dir)?;
        let _ = std::fs::remove_file(self.socket_path(id));
        if let Err(e) = self.inner.images.remove_user(image_id, id) {
            tracing::warn!(%id, error = %e, "could not release the image");
        }
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!("remove {}", dir.display()), e)),
        }
    }

    async fn detach_network(&self, id: &str) {
        if let Some(n) = &self.inner.network
            && let Err(e) = n.detach(id).await
        {
            tracing::warn!(%id, error = %e, "could not take the container's network down");
        }
    }

    async fn release_network(&self, id: &str) {
        if let Some(n) = &self.inner.network
            && let Err(e) = n.release(id).await
        {
            tracing::warn!(%id, error = %e, "could not release the container's network");
        }
    }

    async fn runtime_call<F>(&self, id: &str, f: F) -> Result<()>
    where
        F: FnOnce(&dyn OciRuntime, &str) -> crate::runtime::Result<()> + Send + 'static,
    {
        let this = self.clone();
        let id = id.to_string();
        blocking(move || f(this.inner.runtime.as_ref(), &id))
            .await?
            .map_err(|e| Error::internal("runtime", e))
    }

    async fn runtime_paused(&self, id: &str) -> bool {
        let this = self.clone();
        let id = id.to_string();
        blocking(move || this.inner.runtime.state(&id))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten()
            .is_some_and(|s| s.status == "paused")
    }
}

/// Waits until the container is seen stopped; false on timeout.
async fn wait_stopped(e: &Entry, timeout: Duration) -> bool {
    let mut rx = e.live.subscribe();
    tokio::time::timeout(timeout, rx.wait_for(|l| !matches!(l, Live::Running { .. })))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Waits, after a SIGKILL to every process of the container, until its
/// monitor has seen it end. The monitor reports the end only once it has
/// written the exit status and the runtime has deleted the container's
/// state and cgroups, which on a loaded host (tasks in uninterruptible
/// sleep leaving their cgroups late, each v1 hierarchy retried) can take
/// longer than the kill itself: so while the init is gone, the wait goes
/// on (up to a minute) for that cleanup instead of failing at 10 s. An
/// init still alive 10 s after SIGKILL is an error that says so.
async fn wait_killed(e: &Entry, what: &str) -> Result<()> {
    if wait_stopped(e, Duration::from_secs(10)).await {
        return Ok(());
    }
    if let Live::Running { pid, .. } = e.live()
        && init_alive(pid)
    {
        return Err(Error::internal(
            format!("{what} container {}", e.id),
            format!("its init (pid {pid}) did not end within 10 s of SIGKILL"),
        ));
    }
    tracing::info!(id = %e.id, "the init has ended; waiting for its monitor to clean up");
    if wait_stopped(e, Duration::from_secs(50)).await {
        return Ok(());
    }
    Err(Error::internal(
        format!("{what} container {}", e.id),
        "its init ended but its monitor did not finish cleaning up within a minute (see monitor.log in the container's dir)",
    ))
}

/// Is `pid` a live process (not gone, not a zombie waiting for its reaper)?
fn init_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command in parentheses, which may hold
        // spaces or parentheses itself.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("a blocking task", e))
}

/// `9`, `KILL`, `SIGKILL` or `RTMIN+3`: the runtime's one signal parser.
pub use berth_runtime::signal::parse as parse_signal;

/// `<image short name>-<6 hex>`, e.g. `busybox-3fa2c1`.
fn generated_name(image: &str) -> String {
    let base = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split(['@', ':'])
        .next()
        .unwrap_or("container");
    let base: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(40)
        .collect();
    let base = if base.is_empty() || !base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "container".to_string()
    } else {
        base
    };
    let mut raw = [0u8; 3];
    rand::rng().fill_bytes(&mut raw);
    format!("{base}-{}", hex::encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_alive_reads_the_process_state() {
        assert!(init_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie, no longer alive.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while init_alive(pid) {
            assert!(std::time::Instant::now() < deadline, "{pid} never exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!init_alive(pid));
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert!(parse_signal("NOPE").unwrap_err().contains("unknown signal"));
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn generated_names_are_valid() {
        for image in [
            "busybox",
            "docker.io/library/busybox:latest",
            "x@sha256:ab",
            "_",
        ] {
            let n = generated_name(image);
            berth_api::containers::validate_container_name(&n).unwrap();
        }
        assert!(generated_name("registry:5000/team/web:1").starts_with("web-"));
    }
}
