//! Checks a container spec before anything is made for it. Each error names
//! the field and what was wrong with it; the HTTP layer answers 422.

use std::path::{Component, Path};

use berth_api::containers::{ContainerSpec, validate_container_name};

/// Docker's floor for a memory limit (a smaller one cannot start a process).
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;
/// The smallest CPU limit: 0.01 core (a 1 ms quota per 100 ms period).
pub const MIN_NANO_CPUS: u64 = 10_000_000;

/// Validates `spec` for a host with `cpus` CPUs.
pub fn validate(spec: &ContainerSpec, cpus: u32) -> Result<(), String> {
    if let Some(name) = &spec.name {
        validate_container_name(name)?;
    }
    if spec.image.trim().is_empty() {
        return Err("image: must not be empty".into());
    }
    if let Some(cmd) = &spec.cmd {
        if cmd.is_empty() {
            return Err("cmd: must not be an empty list (leave it out to use the image's)".into());
        }
        if cmd.iter().any(|a| a.contains('\0')) {
            return Err("cmd: arguments must not contain NUL bytes".into());
        }
    }
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(format!(
                "env: {k:?} is not a valid variable (a name without '=' or NUL, a value without NUL)"
            ));
        }
    }
    if let Some(w) = &spec.workdir {
        check_container_path("workdir", w)?;
    }
    if let Some(u) = &spec.user
        && (u.contains('\0') || u.contains('\n') || u.matches(':').count() > 1)
    {
        return Err(format!(
            "user {u:?}: expected uid, uid:gid, name or name:group"
        ));
    }
    if let Some(h) = &spec.hostname {
        check_hostname(h)?;
    }
    let l = &spec.limits;
    if let Some(m) = l.memory_bytes
        && m < MIN_MEMORY_BYTES
    {
        return Err(format!(
            "limits.memory_bytes: {m} is below the minimum of {MIN_MEMORY_BYTES} (6 MiB)"
        ));
    }
    if let Some(m) = l.memory_bytes
        && m > i64::MAX as u64
    {
        return Err(format!("limits.memory_bytes: {m} is too large"));
    }
    if let Some(n) = l.nano_cpus {
        let max = cpus.max(1) as u64 * 1_000_000_000;
        if !(MIN_NANO_CPUS..=max).contains(&n) {
            return Err(format!(
                "limits.nano_cpus: {n} is outside 0.01 to {cpus} CPUs ({MIN_NANO_CPUS} to {max})"
            ));
        }
    }
    if let Some(p) = l.pids
        && (p == 0 || p > i64::MAX as u64)
    {
        return Err(format!("limits.pids: {p} must be at least 1"));
    }
    let mut seen = std::collections::HashSet::new();
    for p in &spec.ports {
        if p.host_port == 0 || p.container_port == 0 {
            return Err("ports: host_port and container_port must be 1 to 65535".into());
        }
        if !seen.insert((p.host_port, p.protocol)) {
            return Err(format!(
                "ports: host port {}/{} is published twice",
                p.host_port, p.protocol
            ));
        }
    }
    let mut targets = std::collections::HashSet::new();
    for m in &spec.mounts {
        let src = Path::new(&m.source);
        if !src.is_absolute() {
            return Err(format!(
                "mounts: source {:?} must be an absolute host path",
                m.source
            ));
        }
        if src.components().any(|c| c == Component::ParentDir) {
            return Err(format!(
                "mounts: source {:?} must not contain '..'",
                m.source
            ));
        }
        if !src.exists() {
            return Err(format!(
                "mounts: source {:?} does not exist on the host",
                m.source
            ));
        }
        check_container_path("mounts: target", &m.target)?;
        if m.target.trim_end_matches('/').is_empty() {
            return Err("mounts: target must not be /".into());
        }
        for reserved in ["/proc", "/sys", "/dev"] {
            let t = Path::new(&m.target);
            if t == Path::new(reserved) || t.starts_with(reserved) {
                return Err(format!(
                    "mounts: target {:?} is reserved ({reserved})",
                    m.target
                ));
            }
        }
        if !targets.insert(m.target.trim_end_matches('/').to_string()) {
            return Err(format!("mounts: target {:?} is used twice", m.target));
        }
    }
    for k in spec.labels.keys() {
        if k.is_empty() {
            return Err("labels: keys must not be empty".into());
        }
    }
    Ok(())
}

fn check_container_path(field: &str, p: &str) -> Result<(), String> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!("{field} {p:?} must be an absolute path"));
    }
    if p.contains('\0') || path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{field} {p:?} must not contain '..' or NUL"));
    }
    Ok(())
}

/// RFC 1123 host name: dot-separated labels of letters, digits and '-',
/// each 1–63 long and not starting or ending with '-'; 253 at most.
pub fn check_hostname(h: &str) -> Result<(), String> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "hostname {h:?}: use letters, digits and '-' in dot-separated labels of at most 63 characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::{Limits, MountSpec, PortMapping, Protocol};

    fn spec() -> ContainerSpec {
        ContainerSpec {
            image: "busybox".into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_plain_spec() {
        validate(&spec(), 2).unwrap();
    }

    #[test]
    fn names_the_bad_field() {
        let cases: Vec<(ContainerSpec, &str)> = vec![
            (
                ContainerSpec {
                    name: Some("-x".into()),
                    ..spec()
                },
                "invalid container name",
            ),
            (
                ContainerSpec {
                    image: " ".into(),
                    ..spec()
                },
                "image",
            ),
            (
                ContainerSpec {
                    cmd: Some(vec![]),
                    ..spec()
                },
                "cmd",
            ),
            (
                ContainerSpec {
                    workdir: Some("rel".into()),
                    ..spec()
                },
                "workdir",
            ),
            (
                ContainerSpec {
                    hostname: Some("a_b".into()),
                    ..spec()
                },
                "hostname",
            ),
            (
                ContainerSpec {
                    limits: Limits {
                        memory_bytes: Some(1024),
                        ..Default::default()
                    },
                    ..spec()
                },
                "memory_bytes",
            ),
            (
                ContainerSpec {
                    limits: Limits {
                        nano_cpus: Some(64_000_000_000),
                        ..Default::default()
                    },
                    ..spec()
                },
                "nano_cpus",
            ),
            (
                ContainerSpec {
                    limits: Limits {
                        pids: Some(0),
                        ..Default::default()
                    },
                    ..spec()
                },
                "pids",
            ),
            (
                ContainerSpec {
                    ports: vec![PortMapping {
                        host_port: 0,
                        container_port: 80,
                        protocol: Protocol::Tcp,
                    }],
                    ..spec()
                },
                "ports",
            ),
            (
                ContainerSpec {
                    mounts: vec![MountSpec {
                        source: "rel".into(),
                        target: "/x".into(),
                        readonly: false,
                    }],
                    ..spec()
                },
                "absolute host path",
            ),
            (
                ContainerSpec {
                    mounts: vec![MountSpec {
                        source: "/nonexistent-berth".into(),
                        target: "/x".into(),
                        readonly: false,
                    }],
                    ..spec()
                },
                "does not exist",
            ),
            (
                ContainerSpec {
                    mounts: vec![MountSpec {
                        source: "/tmp".into(),
                        target: "/proc/x".into(),
                        readonly: false,
                    }],
                    ..spec()
                },
                "reserved",
            ),
        ];
        for (s, want) in cases {
            let e = validate(&s, 2).unwrap_err();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
        }
        let mut env = spec();
        env.env.insert("A=B".into(), "x".into());
        assert!(validate(&env, 2).unwrap_err().starts_with("env"));
    }
}
