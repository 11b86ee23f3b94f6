//! The reporting commands: `state`, `list`, `ps`, `events`, `spec`,
//! `features`, with runc's output shapes.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use berth_runtime::cgroups::Stats;
use berth_runtime::{Runtime, State};

fn state_json(st: &State) -> Value {
    json!({
        "ociVersion": st.oci.version(),
        "id": st.id(),
        "pid": st.pid(),
        "status": st.status_str(),
        "bundle": st.oci.bundle(),
        "rootfs": st.rootfs,
        "created": st.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "owner": "",
        "annotations": st.oci.annotations().clone().unwrap_or_default(),
    })
}

/// `state`.
pub fn state(rt: &Runtime, id: &str) -> Result<i32> {
    let st = rt.state(id)?;
    println!("{}", serde_json::to_string_pretty(&state_json(&st))?);
    Ok(0)
}

/// `list`.
pub fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<i32> {
    let all = rt.list()?;
    if quiet {
        for st in &all {
            println!("{}", st.id());
        }
        return Ok(0);
    }
    match format {
        "json" => println!(
            "{}",
            serde_json::to_string(&all.iter().map(state_json).collect::<Vec<_>>())?
        ),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for st in &all {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} root",
                    st.id(),
                    st.pid(),
                    st.status_str(),
                    st.oci.bundle().display(),
                    st.created.to_rfc3339()
                );
            }
        }
        other => bail!("unknown format {other:?} (table or json)"),
    }
    Ok(0)
}

/// `ps`.
pub fn ps(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let pids = rt.processes(id)?;
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("run ps")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let Some(header) = lines.next() else {
                return Ok(0);
            };
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                if let Some(pid) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    && pids.contains(&pid)
                {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        other => bail!("unknown format {other:?} (table or json)"),
    }
}

/// runc's `events --stats` data.
fn stats_json(s: &Stats) -> Value {
    json!({
        "cpu": {
            "usage": {"total": s.cpu.usage_ns, "kernel": s.cpu.system_ns, "user": s.cpu.user_ns},
            "throttling": {"periods": s.cpu.periods, "throttledPeriods": s.cpu.throttled_periods, "throttledTime": s.cpu.throttled_ns}
        },
        "memory": {
            "usage": {"limit": s.memory.limit.unwrap_or(u64::MAX), "usage": s.memory.usage, "max": s.memory.max_usage.unwrap_or(0), "failcnt": s.memory.failcnt},
            "swap": {"usage": s.memory.swap_usage.unwrap_or(0), "limit": s.memory.swap_limit.unwrap_or(u64::MAX)},
            "cache": s.memory.cache,
            "raw": {"rss": s.memory.rss, "working_set": s.memory.working_set, "oom_kill": s.memory.oom_kills}
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit.unwrap_or(0)},
        "blkio": {
            "ioServiceBytesRecursive": [
                {"op": "Read", "value": s.blkio.read_bytes},
                {"op": "Write", "value": s.blkio.write_bytes}
            ],
            "ioServicedRecursive": [
                {"op": "Read", "value": s.blkio.read_ops},
                {"op": "Write", "value": s.blkio.write_ops}
            ]
        },
        "hugetlb": s.hugetlb.iter().map(|(k, v)| (k.clone(), json!({"usage": v.usage, "max": v.max_usage.unwrap_or(0), "failcnt": v.failcnt}))).collect::<serde_json::Map<_, _>>(),
        "pressure": s.pressure,
    })
}

fn parse_interval(s: &str) -> Result<Duration> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let v: f64 = num.parse().with_context(|| format!("bad interval {s:?}"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" => v * 60.0,
        other => bail!("bad interval unit {other:?}"),
    };
    if secs <= 0.0 {
        bail!("interval must be above zero");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `events`.
pub fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<i32> {
    let every = parse_interval(interval)?;
    loop {
        let st = rt.state(id)?;
        if st.status() == oci_spec::runtime::ContainerState::Stopped && !once {
            return Ok(0);
        }
        let s = rt.stats(id)?;
        println!(
            "{}",
            json!({"type": "stats", "id": id, "data": stats_json(&s)})
        );
        if once {
            return Ok(0);
        }
        std::thread::sleep(every);
    }
}

/// `spec`.
pub fn spec(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} exists already; remove it first", path.display());
    }
    let mut spec = oci_spec::runtime::Spec::default();
    spec.set_version("1.0.2".to_string());
    spec.set_hostname(Some("berth".to_string()));
    if let Some(p) = spec.process_mut() {
        p.set_args(Some(vec!["sh".to_string()]));
        p.set_terminal(Some(true));
    }
    if rootless {
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        spec = oci_spec::runtime::Spec::rootless(uid, gid);
    }
    // runc's template: no cgroup namespace (tools that drive runc add one
    // themselves, and a namespace listed twice is an error).
    if let Some(linux) = spec.linux_mut()
        && let Some(ns) = linux.namespaces_mut()
    {
        ns.retain(|n| n.typ() != oci_spec::runtime::LinuxNamespaceType::Cgroup);
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}

/// `features`.
pub fn features() -> Result<i32> {
    let v = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "idmap", "lazytime",
            "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "nolazytime", "nomand",
            "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime",
            "remount", "ro", "rprivate", "rro", "rrw", "rshared", "rslave", "runbindable", "rw",
            "shared", "silent", "slave", "strictatime", "suid", "symfollow", "sync", "unbindable",
            "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnoatime", "ratime",
            "rnodiratime", "rdiratime", "rrelatime", "rstrictatime", "rnosymfollow", "rsymfollow"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "berth-runtime"}
    });
    // Check the shape against oci-spec's type before printing it.
    let f: oci_spec::runtime::Features = serde_json::from_value(v)?;
    println!("{}", serde_json::to_string_pretty(&f)?);
    Ok(0)
}
