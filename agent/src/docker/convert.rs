//! Docker's JSON ↔ Berth's wire types.

use std::collections::{BTreeMap, HashMap};

use berth_api::containers::{
    Container, ContainerSpec, ContainerState, Limits, LogLine, LogStream, NetworkMode, PortMapping,
    Protocol, RestartPolicy, RuntimeKind,
};
use berth_api::metrics::ContainerSample;
use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerStatsResponse, HostConfig, PortBinding, RestartPolicyNameEnum,
};
use chrono::{DateTime, Utc};

use super::{Error, Result};

fn time(s: Option<&String>) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s?).ok()?.with_timezone(&Utc);
    // Docker says 0001-01-01 for "never".
    (t.timestamp() > 0).then_some(t)
}

/// The published ports of a Docker container, sorted, once each.
fn ports(hc: &HostConfig) -> Vec<PortMapping> {
    let mut ports = Vec::new();
    for (k, binds) in hc.port_bindings.clone().unwrap_or_default() {
        let (port, proto) = k.split_once('/').unwrap_or((&k, "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            continue;
        };
        for b in binds.unwrap_or_default() {
            if let Some(hp) = b.host_port.and_then(|p| p.parse::<u16>().ok()) {
                ports.push(PortMapping {
                    host_port: hp,
                    container_port,
                    protocol: if proto == "udp" {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                });
            }
        }
    }
    ports.sort_by_key(|p| (p.host_port, p.container_port));
    ports.dedup();
    ports
}

/// Docker's restart policy as Berth's.
fn restart_policy(hc: &HostConfig) -> RestartPolicy {
    match hc.restart_policy.as_ref().and_then(|r| r.name) {
        Some(RestartPolicyNameEnum::ALWAYS) => RestartPolicy::Always,
        Some(RestartPolicyNameEnum::UNLESS_STOPPED) => RestartPolicy::UnlessStopped,
        Some(RestartPolicyNameEnum::ON_FAILURE) => RestartPolicy::OnFailure {
            max_retries: hc
                .restart_policy
                .as_ref()
                .and_then(|r| r.maximum_retry_count)
                .filter(|n| *n > 0)
                .and_then(|n| u32::try_from(n).ok()),
        },
        _ => RestartPolicy::No,
    }
}

/// Docker's network mode as Berth's.
fn network_mode(hc: &HostConfig) -> NetworkMode {
    match hc.network_mode.as_deref() {
        Some("host") => NetworkMode::Host,
        Some("none") => NetworkMode::None,
        Some(m) if m.starts_with("container:") => NetworkMode::Container(m[10..].to_string()),
        _ => NetworkMode::Bridge,
    }
}

/// A Docker container as Berth shows it.
pub fn container(i: &ContainerInspectResponse, host: &str) -> Container {
    let st = i.state.clone().unwrap_or_default();
    let state = match st.status {
        Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
        Some(ContainerStateStatusEnum::RUNNING) | Some(ContainerStateStatusEnum::RESTARTING) => {
            ContainerState::Running
        }
        Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
        _ => ContainerState::Stopped,
    };
    let hc = i.host_config.clone().unwrap_or_default();
    let cfg = i.config.clone().unwrap_or_default();
    let ports = ports(&hc);
    let restart = restart_policy(&hc);
    let network = network_mode(&hc);
    let mut cmd = cfg.entrypoint.clone().unwrap_or_default();
    cmd.extend(cfg.cmd.clone().unwrap_or_default());
    let ip = i
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|n| {
            n.values()
                .find_map(|e| e.ip_address.clone().filter(|a| !a.is_empty()))
        });
    Container {
        id: i.id.clone().unwrap_or_default(),
        name: i
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        host: host.to_string(),
        runtime: RuntimeKind::Docker,
        image: cfg.image.clone().unwrap_or_default(),
        state,
        exit_code: (state == ContainerState::Stopped)
            .then(|| saturating_i32(st.exit_code.unwrap_or(0))),
        pid: st
            .pid
            .filter(|p| *p > 0 && state != ContainerState::Stopped)
            .and_then(|p| u32::try_from(p).ok()),
        created_at: time(i.created.as_ref()).unwrap_or_default(),
        started_at: time(st.started_at.as_ref()),
        finished_at: if state == ContainerState::Stopped {
            time(st.finished_at.as_ref())
        } else {
            None
        },
        limits: Limits {
            memory_bytes: hc.memory.and_then(positive),
            nano_cpus: hc.nano_cpus.and_then(positive),
            pids: hc.pids_limit.and_then(positive),
        },
        ports,
        labels: cfg
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        restart_count: u32::try_from(i.restart_count.unwrap_or(0).max(0)).unwrap_or(u32::MAX),
        cmd,
        network,
        ip_address: ip,
        restart,
        spec: None,
        redacted: false,
    }
}

/// The create body for a spec.
pub fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody> {
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        exposed.push(key.clone());
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: None,
                host_port: Some(p.host_port.to_string()),
            });
    }
    let restart = spec.restart.map(|r| bollard::models::RestartPolicy {
        name: Some(match r {
            RestartPolicy::No => RestartPolicyNameEnum::NO,
            RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
            RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
            RestartPolicy::OnFailure { .. } => RestartPolicyNameEnum::ON_FAILURE,
        }),
        maximum_retry_count: match r {
            RestartPolicy::OnFailure {
                max_retries: Some(n),
            } => Some(i64::from(n)),
            _ => None,
        },
    });
    // Docker's bind syntax is `source:target[:options]`: a `:` or `,` in
    // either path would smuggle in another path or options (e.g. `rshared`).
    for m in &spec.mounts {
        if [&m.source, &m.target]
            .iter()
            .any(|p| p.contains(':') || p.contains(','))
        {
            return Err(Error::Invalid(format!(
                "mounts: {:?} -> {:?}: a Docker bind path must not contain ':' or ','",
                m.source, m.target
            )));
        }
    }
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.extend(super::berth_labels());
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.workdir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            memory: spec.limits.memory_bytes.map(saturating_i64),
            nano_cpus: spec.limits.nano_cpus.map(saturating_i64),
            pids_limit: spec.limits.pids.map(saturating_i64),
            binds: (!spec.mounts.is_empty()).then(|| {
                spec.mounts
                    .iter()
                    .map(|m| {
                        format!(
                            "{}:{}{}",
                            m.source,
                            m.target,
                            if m.readonly { ":ro" } else { "" }
                        )
                    })
                    .collect()
            }),
            network_mode: spec.network.as_ref().map(|n| n.to_string()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            restart_policy: restart,
            ..Default::default()
        }),
        ..Default::default()
    })
    .and_then(|b| {
        if spec.image.is_empty() {
            Err(Error::Invalid("image: must not be empty".into()))
        } else {
            Ok(b)
        }
    })
}

/// Docker log frames (with `timestamps`) → lines.
pub fn log_lines(out: LogOutput) -> Vec<LogLine> {
    let (stream, bytes) = match out {
        LogOutput::StdOut { message } => (LogStream::Stdout, message),
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::Console { message } => (LogStream::Stdout, message),
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .map(|l| {
            let (time, text) = match l.split_once(' ') {
                Some((ts, rest)) => match DateTime::parse_from_rfc3339(ts) {
                    Ok(t) => (t.with_timezone(&Utc), rest.to_string()),
                    Err(_) => (Utc::now(), l.to_string()),
                },
                None => (Utc::now(), l.to_string()),
            };
            LogLine {
                stream,
                time,
                text,
                partial: false,
            }
        })
        .collect()
}

/// Docker's stats → a sample. CPU percent is of one core: the container's
/// share of the host's CPU time times the number of CPUs.
pub fn sample(s: &ContainerStatsResponse) -> ContainerSample {
    let cpu = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let used = cpu
        .cpu_usage
        .as_ref()
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let pre_used = pre
        .cpu_usage
        .as_ref()
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let sys = cpu.system_cpu_usage.unwrap_or(0);
    let pre_sys = pre.system_cpu_usage.unwrap_or(0);
    let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
    let cpu_percent = if sys > pre_sys && used >= pre_used {
        ratio(used - pre_used, sys - pre_sys) * cpus * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.clone().unwrap_or_default();
    let (mut rx, mut tx, mut rxp, mut txp) = (0, 0, 0, 0);
    for n in s.networks.clone().unwrap_or_default().values() {
        rx += n.rx_bytes.unwrap_or(0);
        tx += n.tx_bytes.unwrap_or(0);
        rxp += n.rx_packets.unwrap_or(0);
        txp += n.tx_packets.unwrap_or(0);
    }
    let (mut br, mut bw) = (0, 0);
    for e in s
        .blkio_stats
        .clone()
        .and_then(|b| b.io_service_bytes_recursive)
        .unwrap_or_default()
    {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => br += e.value.unwrap_or(0),
            Some("write") => bw += e.value.unwrap_or(0),
            _ => {}
        }
    }
    ContainerSample {
        t: Utc::now(),
        cpu_percent: crate::metrics::host::round2(cpu_percent),
        cpu_throttled_usec: cpu
            .throttling_data
            .and_then(|t| t.throttled_time)
            .unwrap_or(0)
            / 1000,
        memory_bytes: mem.usage.unwrap_or(0),
        memory_limit_bytes: mem.limit.filter(|l| *l > 0 && *l < (1 << 62)),
        pids: s.pids_stats.clone().and_then(|p| p.current).unwrap_or(0),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        net_rx_packets: rxp,
        net_tx_packets: txp,
        blk_read_bytes: br,
        blk_write_bytes: bw,
        pressure: None,
    }
}

/// A limit Docker gives as a positive `i64` (0 or less: none).
fn positive(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// An exit code Docker reports as `i64`, clamped to an `i32`.
fn saturating_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// A limit for Docker's `i64` fields; one beyond `i64::MAX` (no host has
/// that much of anything) becomes `i64::MAX`.
fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `a / b` of two CPU-time counters. Counters beyond 2^53 ns (104 days of
/// CPU time) lose their lowest bits as `f64`, which a percentage does not
/// show.
#[allow(clippy::cast_precision_loss)] // a ratio; see above
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::MountSpec;

    /// No spec field reaches Docker's escalation knobs: the API cannot
    /// express privileged, devices, added capabilities, or the host's pid,
    /// ipc, uts, user or cgroup namespaces, so the body never sets them,
    /// whatever the spec holds.
    #[test]
    fn create_body_never_escalates() {
        let full: ContainerSpec = serde_json::from_value(serde_json::json!({
            "name": "x", "image": "busybox", "cmd": ["sh"], "env": {"A": "1"},
            "workdir": "/w", "user": "0:0", "hostname": "h",
            "limits": {"memory_bytes": 67108864u64, "nano_cpus": 1000000000u64, "pids": 9},
            "ports": [{"host_port": 8080, "container_port": 80}],
            "mounts": [{"source": "/srv/data", "target": "/data", "readonly": true}],
            "restart": "always", "labels": {"a": "b"}, "runtime": "docker"
        }))
        .unwrap();
        for network in [None, Some("bridge"), Some("none"), Some("container:web")] {
            let mut spec = full.clone();
            spec.network = network.map(|n| n.parse().unwrap());
            let body = create_body(&spec).unwrap();
            let hc = body.host_config.unwrap();
            assert_ne!(hc.privileged, Some(true));
            assert!(hc.devices.is_none() && hc.device_requests.is_none());
            assert!(hc.device_cgroup_rules.is_none());
            assert!(hc.cap_add.is_none());
            assert!(hc.security_opt.is_none());
            assert!(hc.pid_mode.is_none() && hc.ipc_mode.is_none());
            assert!(hc.uts_mode.is_none() && hc.userns_mode.is_none());
            assert!(hc.cgroupns_mode.is_none() && hc.cgroup_parent.is_none());
            assert!(hc.mounts.is_none() && hc.volumes_from.is_none());
            assert_ne!(hc.network_mode.as_deref(), Some("host"));
            assert_eq!(hc.binds, Some(vec!["/srv/data:/data:ro".to_string()]));
        }
    }

    #[test]
    fn bind_paths_cannot_smuggle_options() {
        for (source, target) in [
            ("/srv:/etc", "/x"),
            ("/srv", "/x:rw,rshared"),
            ("/a,b", "/x"),
        ] {
            let spec = ContainerSpec {
                image: "busybox".into(),
                mounts: vec![MountSpec {
                    source: source.into(),
                    target: target.into(),
                    readonly: false,
                }],
                ..Default::default()
            };
            assert!(
                matches!(create_body(&spec), Err(Error::Invalid(_))),
                "{source} {target}"
            );
        }
    }
}
