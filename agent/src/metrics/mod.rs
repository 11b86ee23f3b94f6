//! Metrics: every second, a sample of each running container's cgroup (v1
//! or v2, through berth-runtime's cgroup managers: CPU and throttling,
//! memory and limit, pids, block I/O, PSI) and network namespace
//! (/proc/<pid>/net/dev), and of the host (procfs). Kept in run-length
//! encoded rings, 1 s for the last hour and 1 min for the last day, saved
//! to `<data>/metrics/history.json` every minute and on shutdown, and
//! broadcast to SSE subscribers. Also renders the Prometheus text.

pub mod host;
pub mod num;
pub mod prometheus;
pub mod ring;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_api::metrics::{ContainerSample, HostSample, Pressure, Window};
use berth_runtime::cgroups::{CgroupLayout, CgroupManager, CgroupMode, Manager};
use chrono::{DateTime, Timelike, Utc};
use procfs::ProcessCGroups;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::containers::Containers;
use crate::network::NetStats;
use host::{HostReader, round2};
use num::{f64_of, f64_of_count, u64_of};
use ring::{Ring, Sample};

impl Sample for HostSample {
    fn time(&self) -> DateTime<Utc> {
        self.t
    }
    fn at(&self, t: DateTime<Utc>) -> Self {
        Self { t, ..self.clone() }
    }
    fn same_values(&self, o: &Self) -> bool {
        &self.at(o.t) == o
    }
    fn average(s: &[Self], t: DateTime<Utc>) -> Self {
        let n = f64_of_count(s.len().max(1));
        let last = s.last().cloned().unwrap_or_else(|| empty_host(t));
        Self {
            t,
            cpu_percent: round2(s.iter().map(|x| x.cpu_percent).sum::<f64>() / n),
            memory_bytes: u64_of(s.iter().map(|x| f64_of(x.memory_bytes)).sum::<f64>() / n),
            load1: round2(s.iter().map(|x| x.load1).sum::<f64>() / n),
            ..last
        }
    }
}

fn empty_host(t: DateTime<Utc>) -> HostSample {
    HostSample {
        t,
        cpu_percent: 0.0,
        memory_bytes: 0,
        memory_total_bytes: 0,
        load1: 0.0,
        net_rx_bytes: 0,
        net_tx_bytes: 0,
        disk_read_bytes: 0,
        disk_write_bytes: 0,
    }
}

impl Sample for ContainerSample {
    fn time(&self) -> DateTime<Utc> {
        self.t
    }
    fn at(&self, t: DateTime<Utc>) -> Self {
        Self { t, ..self.clone() }
    }
    fn same_values(&self, o: &Self) -> bool {
        &self.at(o.t) == o
    }
    fn average(s: &[Self], t: DateTime<Utc>) -> Self {
        let n = f64_of_count(s.len().max(1));
        let mut last = s.last().cloned().unwrap_or_else(|| empty_container(t));
        last.t = t;
        last.cpu_percent = round2(s.iter().map(|x| x.cpu_percent).sum::<f64>() / n);
        last.memory_bytes = u64_of(s.iter().map(|x| f64_of(x.memory_bytes)).sum::<f64>() / n);
        last
    }
}

fn empty_container(t: DateTime<Utc>) -> ContainerSample {
    ContainerSample {
        t,
        cpu_percent: 0.0,
        cpu_throttled_usec: 0,
        memory_bytes: 0,
        memory_limit_bytes: None,
        pids: 0,
        net_rx_bytes: 0,
        net_tx_bytes: 0,
        net_rx_packets: 0,
        net_tx_packets: 0,
        blk_read_bytes: 0,
        blk_write_bytes: 0,
        pressure: None,
    }
}

/// 1 s × 1 h and 1 min × 24 h of one thing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
struct Series<T> {
    secs: Ring<T>,
    mins: Ring<T>,
    #[serde(skip, default = "Vec::new")]
    minute: Vec<T>,
}

impl<T: Sample> Series<T> {
    fn new() -> Self {
        Self {
            secs: Ring::new(1, 3600),
            mins: Ring::new(60, 86400),
            minute: Vec::new(),
        }
    }

    fn push(&mut self, s: T) {
        let t = s.time();
        if let Some(first) = self.minute.first()
            && first.time().timestamp() / 60 != t.timestamp() / 60
        {
            let start = first.time().with_second(0).unwrap_or(first.time());
            let avg = T::average(&self.minute, start);
            self.mins.push(avg);
            self.minute.clear();
        }
        self.minute.push(s.clone());
        self.secs.push(s);
    }

    fn window(&self, w: Window) -> Vec<T> {
        match w {
            Window::Hour => self.secs.samples(),
            Window::Day => self.mins.samples(),
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct History {
    host: Option<Series<HostSample>>,
    #[serde(default)]
    containers: HashMap<String, Series<ContainerSample>>,
}

/// The metrics of this agent. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    history: Arc<Mutex<History>>,
    host_tx: broadcast::Sender<HostSample>,
    container_tx: broadcast::Sender<(String, ContainerSample)>,
    /// Container id → name, for the Prometheus labels.
    names: Arc<Mutex<HashMap<String, String>>>,
    file: PathBuf,
    /// Cost of the last sampling round.
    last_round: Arc<Mutex<Duration>>,
}

impl Metrics {
    /// Loads the saved history (if any) from `dir`.
    pub fn open(dir: PathBuf) -> Self {
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("history.json");
        let history = match crate::fsutil::read_json::<History>(&file) {
            Ok(Some(h)) => h,
            Ok(None) => History::default(),
            Err(e) => {
                tracing::warn!(error = %e, "metric history unreadable; starting empty");
                History::default()
            }
        };
        Self {
            history: Arc::new(Mutex::new(history)),
            host_tx: broadcast::channel(64).0,
            container_tx: broadcast::channel(1024).0,
            names: Arc::new(Mutex::new(HashMap::new())),
            file,
            last_round: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn host(&self, w: Window) -> Vec<HostSample> {
        self.lock()
            .host
            .as_ref()
            .map(|s| s.window(w))
            .unwrap_or_default()
    }

    pub fn container(&self, id: &str, w: Window) -> Vec<ContainerSample> {
        self.lock()
            .containers
            .get(id)
            .map(|s| s.window(w))
            .unwrap_or_default()
    }

    pub fn subscribe_host(&self) -> broadcast::Receiver<HostSample> {
        self.host_tx.subscribe()
    }

    pub fn subscribe_containers(&self) -> broadcast::Receiver<(String, ContainerSample)> {
        self.container_tx.subscribe()
    }

    /// Open live streams by kind: the host's, and containers' stats (every
    /// `/stream` response holds one subscription while its client reads).
    pub fn stream_subscribers(&self) -> [(&'static str, usize); 2] {
        [
            ("host", self.host_tx.receiver_count()),
            ("containers", self.container_tx.receiver_count()),
        ]
    }

    /// Latest host sample and each container's latest, for Prometheus.
    pub fn latest(&self) -> (Option<HostSample>, Vec<(String, String, ContainerSample)>) {
        let h = self.lock();
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let host = h.host.as_ref().and_then(|s| s.secs.last());
        let mut cs: Vec<_> = h
            .containers
            .iter()
            .filter(|(id, _)| names.contains_key(*id))
            .filter_map(|(id, s)| Some((id.clone(), names.get(id)?.clone(), s.secs.last()?)))
            .collect();
        cs.sort_by(|a, b| a.1.cmp(&b.1));
        (host, cs)
    }

    /// How long the last sampling round took.
    pub fn last_round(&self) -> Duration {
        *self.last_round.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the history (atomically).
    pub fn save(&self) {
        let json = {
            let h = self.lock();
            serde_json::to_vec(&*h)
        };
        match json {
            Ok(bytes) => {
                if let Err(e) = crate::fsutil::write_atomic(&self.file, &bytes, 0o600) {
                    tracing::warn!(error = %e, "could not save the metric history");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not encode the metric history"),
        }
    }

    /// Samples every second until `shutdown`, then saves.
    /// Docker's running containers, when `docker` is given, are sampled
    /// alike (their cgroups read directly) into the same history.
    pub async fn run(
        self,
        containers: Containers,
        docker: Option<Arc<dyn crate::docker::Engine>>,
        cpus: u32,
        shutdown: CancellationToken,
    ) {
        let layout = match CgroupLayout::detect() {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "no cgroup layout: container metrics are off");
                None
            }
        };
        let sampler = Arc::new(Mutex::new(Sampler {
            host: HostReader::new("/proc", "/sys/block", cpus),
            prev: HashMap::new(),
            layout,
        }));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_save = Instant::now();
        let mut last_trim = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let running = containers.running();
            let mut all = containers.names();
            let mut paths: Vec<(String, String, u32)> = running
                .iter()
                .map(|(id, _, pid)| (id.clone(), containers.cgroup_path(id), *pid))
                .collect();
            let others = match &docker {
                Some(d) => match tokio::time::timeout(Duration::from_secs(2), d.running()).await {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "Docker's containers not sampled this round");
                        Vec::new()
                    }
                    Err(_) => Vec::new(),
                },
                None => Vec::new(),
            };
            all.extend(others.iter().map(|r| (r.id.clone(), r.name.clone())));
            let s2 = sampler.clone();
            let started = Instant::now();
            let round = tokio::task::spawn_blocking(move || {
                let mut s = s2.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(layout) = &s.layout {
                    for r in &others {
                        if let Some(path) = pid_cgroup_path(layout, r.pid) {
                            paths.push((r.id.clone(), path, r.pid));
                        }
                    }
                }
                s.round(&paths)
            })
            .await;
            let Ok((host, samples)) = round else { continue };
            *self.last_round.lock().unwrap_or_else(|e| e.into_inner()) = started.elapsed();
            {
                let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
                *names = all.iter().cloned().collect();
            }
            {
                let mut h = self.lock();
                h.host.get_or_insert_with(Series::new).push(host.clone());
                for (id, s) in &samples {
                    h.containers
                        .entry(id.clone())
                        .or_insert_with(Series::new)
                        .push(s.clone());
                }
                // Forget the history of deleted containers.
                h.containers
                    .retain(|id, _| all.iter().any(|(i, _)| i == id));
            }
            let _ = self.host_tx.send(host);
            for s in samples {
                let _ = self.container_tx.send(s);
            }
            if last_save.elapsed() >= Duration::from_secs(60) {
                last_save = Instant::now();
                let me = self.clone();
                let _ = tokio::task::spawn_blocking(move || me.save()).await;
            }
            if last_trim.elapsed() >= Duration::from_secs(10) {
                last_trim = Instant::now();
                release_free_memory();
            }
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.save()).await;
    }
}

/// Hands the allocator's free pages back to the kernel (glibc keeps them
/// otherwise, inside each arena): the agent's RSS then follows what it
/// holds, not its peak.
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The previous reading of one container.
struct Prev {
    usage_ns: u64,
    at: Instant,
    /// The last full sample and when it was taken.
    full: ContainerSample,
    full_at: Instant,
}

/// How often an idle container (no CPU used since the last look) gets a
/// full read of its cgroup; in between, one file (its CPU counter) tells
/// that nothing ran, so nothing else can have changed much.
const IDLE_FULL_EVERY: Duration = Duration::from_secs(10);

/// The CPU time of a cgroup in ns, from the one file that has it
/// (cpuacct.usage on v1, cpu.stat's usage_usec on v2).
fn cpu_usage_ns(layout: &CgroupLayout, path: &str) -> Option<u64> {
    let rel = path.trim_start_matches('/');
    match layout.mode {
        CgroupMode::Unified => {
            let text = std::fs::read_to_string(layout.unified.as_ref()?.join(rel).join("cpu.stat"))
                .ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
        }
        _ => {
            let h = layout
                .v1
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == "cpuacct"))?;
            std::fs::read_to_string(h.mountpoint.join(rel).join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse()
                .ok()
        }
    }
}

/// The cgroup of a process (as `/proc/<pid>/cgroup` names it from the
/// host) in the hierarchy the sampler reads: the unified one on cgroup v2,
/// the memory controller's on v1 and hybrid hosts (Docker's cgroupfs and
/// systemd drivers use the same path in every v1 hierarchy).
fn pid_cgroup_path(layout: &CgroupLayout, pid: u32) -> Option<String> {
    let groups = procfs::process::Process::new(i32::try_from(pid).ok()?)
        .and_then(|p| p.cgroups())
        .ok()?;
    sampled_cgroup(groups, layout.mode == CgroupMode::Unified)
}

/// The path of the line for the unified hierarchy (`unified`) or for the
/// memory controller; the root (`/`) is not a container's.
fn sampled_cgroup(groups: ProcessCGroups, unified: bool) -> Option<String> {
    groups.into_iter().find_map(|g| {
        let wanted = if unified {
            g.controllers.is_empty()
        } else {
            g.controllers.iter().any(|c| c == "memory")
        };
        (wanted && g.pathname.starts_with('/') && g.pathname != "/").then_some(g.pathname)
    })
}

struct Sampler {
    host: HostReader,
    prev: HashMap<String, Prev>,
    layout: Option<CgroupLayout>,
}

impl Sampler {
    fn round(
        &mut self,
        running: &[(String, String, u32)],
    ) -> (HostSample, Vec<(String, ContainerSample)>) {
        let now = Utc::now();
        let host = self.host.sample(now);
        let mut out = Vec::with_capacity(running.len());
        for (id, path, pid) in running {
            if let Some(s) = self.container(id, path, *pid, now) {
                out.push((id.clone(), s));
            }
        }
        self.prev
            .retain(|id, _| running.iter().any(|(i, _, _)| i == id));
        (host, out)
    }

    fn container(
        &mut self,
        id: &str,
        path: &str,
        pid: u32,
        now: DateTime<Utc>,
    ) -> Option<ContainerSample> {
        let layout = self.layout.as_ref()?;
        // Idle since the last look: the last full sample still holds.
        if let Some(p) = self.prev.get_mut(id)
            && p.full_at.elapsed() < IDLE_FULL_EVERY
            && cpu_usage_ns(layout, path) == Some(p.usage_ns)
        {
            p.at = Instant::now();
            let mut s = p.full.clone();
            s.t = now;
            s.cpu_percent = 0.0;
            return Some(s);
        }
        let before = Instant::now();
        let stats = Manager::new(layout, path).ok()?.stats().ok()?;
        // The counters were read somewhere in between: the midpoint halves
        // the error a slow read adds to the interval.
        let at = before + before.elapsed() / 2;
        let cpu_percent = match self.prev.get(id) {
            Some(p) if stats.cpu.usage_ns >= p.usage_ns => {
                let wall =
                    f64_of(u64::try_from(at.duration_since(p.at).as_nanos()).unwrap_or(u64::MAX));
                if wall > 0.0 {
                    f64_of(stats.cpu.usage_ns - p.usage_ns) / wall * 100.0
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        let net = NetStats::of_pid(pid).unwrap_or_default();
        let pressure = stats.pressure.as_ref().map(|p| Pressure {
            cpu: p.cpu.as_ref().map(|x| x.some.avg10),
            memory: p.memory.as_ref().map(|x| x.some.avg10),
            io: p.io.as_ref().map(|x| x.some.avg10),
        });
        let sample = ContainerSample {
            t: now,
            cpu_percent: round2(cpu_percent),
            cpu_throttled_usec: stats.cpu.throttled_ns / 1000,
            memory_bytes: stats.memory.usage,
            memory_limit_bytes: stats.memory.limit,
            pids: stats.pids.current,
            net_rx_bytes: net.rx_bytes,
            net_tx_bytes: net.tx_bytes,
            net_rx_packets: net.rx_packets,
            net_tx_packets: net.tx_packets,
            blk_read_bytes: stats.blkio.read_bytes,
            blk_write_bytes: stats.blkio.write_bytes,
            pressure,
        };
        self.prev.insert(
            id.to_string(),
            Prev {
                usage_ns: stats.cpu.usage_ns,
                at,
                full: sample.clone(),
                full_at: at,
            },
        );
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::sampled_cgroup;
    use procfs::FromBufRead;
    use procfs::ProcessCGroups;

    /// The cgroup sampled for the text of a `/proc/<pid>/cgroup` file.
    fn parse_proc_cgroup(text: &str, unified: bool) -> Option<String> {
        sampled_cgroup(
            ProcessCGroups::from_buf_read(text.as_bytes()).ok()?,
            unified,
        )
    }

    #[test]
    fn a_process_cgroup_is_found_in_the_hierarchy_sampled() {
        let hybrid = "12:pids:/docker/abc\n11:cpu,cpuacct:/docker/abc\n\
                      5:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n";
        assert_eq!(
            parse_proc_cgroup(hybrid, false).as_deref(),
            Some("/docker/abc")
        );
        // On hybrid, the unified line is the root: nothing to sample there.
        assert_eq!(parse_proc_cgroup(hybrid, true), None);
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            parse_proc_cgroup(v2, true).as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
        assert_eq!(parse_proc_cgroup(v2, false), None);
        assert_eq!(parse_proc_cgroup("garbage", false), None);
    }
}
