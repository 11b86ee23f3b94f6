//! Checks a container spec before anything is made for it. Each error names
//! the field and what was wrong with it; the HTTP layer answers 422.

use std::path::{Component, Path};

use berth_api::containers::{
    ContainerSpec, Limits, MountSpec, PortMapping, validate_container_name,
};

/// The limits' floors live with the wire types: the OpenAPI document
/// states them from the same constants.
pub use berth_api::containers::{MIN_MEMORY_BYTES, MIN_NANO_CPUS};

/// Validates `spec` for a host with `cpus` CPUs.
pub fn validate(spec: &ContainerSpec, cpus: u32) -> Result<(), String> {
    if let Some(name) = &spec.name {
        validate_container_name(name)?;
    }
    if spec.image.trim().is_empty() {
        return Err("image: must not be empty".into());
    }
    check_process(spec)?;
    check_limits(&spec.limits, cpus)?;
    check_ports(&spec.ports)?;
    check_mounts(&spec.mounts)?;
    if spec.labels.keys().any(String::is_empty) {
        return Err("labels: keys must not be empty".into());
    }
    Ok(())
}

/// What the process gets: cmd, env, workdir, user and hostname.
fn check_process(spec: &ContainerSpec) -> Result<(), String> {
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
    Ok(())
}

/// Memory, CPU and pids limits, for a host with `cpus` CPUs.
fn check_limits(l: &Limits, cpus: u32) -> Result<(), String> {
    if let Some(m) = l.memory_bytes
        && m < MIN_MEMORY_BYTES
    {
        return Err(format!(
            "limits.memory_bytes: {m} is below the minimum of {MIN_MEMORY_BYTES} (6 MiB)"
        ));
    }
    if let Some(m) = l.memory_bytes
        && i64::try_from(m).is_err()
    {
        return Err(format!("limits.memory_bytes: {m} is too large"));
    }
    if let Some(n) = l.nano_cpus {
        let max = u64::from(cpus.max(1)) * 1_000_000_000;
        if !(MIN_NANO_CPUS..=max).contains(&n) {
            return Err(format!(
                "limits.nano_cpus: {n} is outside 0.01 to {cpus} CPUs ({MIN_NANO_CPUS} to {max})"
            ));
        }
    }
    if let Some(p) = l.pids
        && (p == 0 || i64::try_from(p).is_err())
    {
        return Err(format!("limits.pids: {p} must be at least 1"));
    }
    Ok(())
}

/// Published ports: non-zero, each host port once per protocol.
fn check_ports(ports: &[PortMapping]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for p in ports {
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
    Ok(())
}

/// Bind mounts: an existing absolute source without `..`, and a target
/// that is absolute, not `/`, not under /proc, /sys or /dev, and used once.
/// The host's policy is [`check_mount_policy`]'s.
fn check_mounts(mounts: &[MountSpec]) -> Result<(), String> {
    let mut targets = std::collections::HashSet::new();
    for m in mounts {
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

/// Host paths no bind mount may expose without the owner listing them
/// explicitly in the host's allowlist: a mount of one of these, anything
/// under one, or any directory that contains one (`/`, `/var`, `/run`...) is
/// refused. `/var/lib/berth*` is matched by prefix (any `berth…` entry).
pub const MOUNT_DENYLIST: [&str; 14] = [
    "/",
    "/etc",
    "/root",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/var/lib/berth*",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd",
    "/var/run/containerd",
    "/run/docker",
    "/var/lib/docker",
];

/// Is `p` (canonical) `d`, under `d`, or (unless `d` is `/`) a directory
/// that contains `d`? `d` may end in `*` (a name prefix).
fn touches(p: &Path, d: &str) -> bool {
    if let Some(prefix) = d.strip_suffix('*') {
        let (dir, name) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir = Path::new(if dir.is_empty() { "/" } else { dir });
        // p under dir/name*: its component right below `dir` starts with name.
        if let Ok(rest) = p.strip_prefix(dir)
            && let Some(Component::Normal(first)) = rest.components().next()
            && first.to_string_lossy().starts_with(name)
        {
            return true;
        }
        return dir.starts_with(p);
    }
    let d = Path::new(d);
    if d == Path::new("/") {
        return p == d;
    }
    p.starts_with(d) || d.starts_with(p)
}

/// Is `entry` (an allowlist prefix) at or below a denied path, i.e. does the
/// owner name that denied path explicitly?
fn names_denied(entry: &Path) -> bool {
    MOUNT_DENYLIST.iter().any(|d| match d.strip_suffix('*') {
        Some(prefix) => {
            let (dir, name) = prefix.rsplit_once('/').unwrap_or(("", prefix));
            entry
                .strip_prefix(dir)
                .ok()
                .and_then(|r| r.components().next())
                .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with(name))
        }
        None if *d == "/" => entry == Path::new("/"),
        None => entry.starts_with(d),
    })
}

/// A path with symlinks, `..` and trailing slashes resolved as far as it
/// exists (the rest kept as written).
fn resolve(p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    if let Ok(c) = std::fs::canonicalize(path) {
        return c;
    }
    let mut out = std::path::PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => {
                out.push(n);
                if let Ok(c) = std::fs::canonicalize(&out) {
                    out = c;
                }
            }
        }
    }
    out
}

/// The host's bind-mount policy, enforced on the real filesystem: each
/// source is resolved (symlinks, `..`, trailing slashes), refused when it
/// touches [`MOUNT_DENYLIST`], and, when the host has an allowlist, refused
/// unless it lies under one of its prefixes (resolved too). A denied path is
/// allowed only when an allowlist prefix names it (or a path below it)
/// explicitly. The sources are replaced by their resolved form, so the
/// runtime mounts exactly what was checked.
pub fn check_mount_policy(spec: &mut ContainerSpec, allowlist: &[String]) -> Result<(), String> {
    let allow: Vec<std::path::PathBuf> = allowlist.iter().map(|a| resolve(a)).collect();
    for m in &mut spec.mounts {
        if !m.source.starts_with('/') {
            return Err(format!(
                "mounts: source {:?} must be an absolute host path",
                m.source
            ));
        }
        let real = std::fs::canonicalize(&m.source)
            .map_err(|_| format!("mounts: source {:?} does not exist on the host", m.source))?;
        let covering: Vec<&std::path::PathBuf> =
            allow.iter().filter(|a| real.starts_with(a)).collect();
        if !allow.is_empty() && covering.is_empty() {
            return Err(format!(
                "mounts: source {:?} ({}) is outside this host's bind-mount allowlist ({})",
                m.source,
                real.display(),
                allowlist.join(", ")
            ));
        }
        let explicit = covering.iter().any(|a| names_denied(a));
        if !explicit && let Some(d) = MOUNT_DENYLIST.iter().find(|d| touches(&real, d)) {
            return Err(format!(
                "mounts: source {:?} ({}) is refused: it exposes {d}, which only the host's owner can allow (bind_mount_allowlist)",
                m.source,
                real.display()
            ));
        }
        m.source = real.to_string_lossy().into_owned();
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
    use berth_api::containers::Protocol;

    fn with_mount(source: &str) -> ContainerSpec {
        ContainerSpec {
            image: "busybox".into(),
            mounts: vec![MountSpec {
                source: source.into(),
                target: "/mnt".into(),
                readonly: false,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn mount_policy_refuses_the_hosts_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let sock_dir = tmp.path().join("run");
        std::fs::create_dir(&sock_dir).unwrap();
        let link2 = tmp.path().join("proc-self");
        std::os::unix::fs::symlink("/proc/self", &link2).unwrap();
        let mut refused = vec![
            "/".to_string(),
            "/etc".into(),
            "/etc/".into(),
            "/etc/ssl".into(),
            "/proc".into(),
            "/sys/fs/cgroup".into(),
            "/dev".into(),
            "/root".into(),
            "/boot".into(),
            "/tmp/../etc".into(),
            "/var".into(),
            "/run".into(),
            link.display().to_string(),
            format!("{}/", link.display()),
            link2.display().to_string(),
        ];
        for s in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/containerd",
        ] {
            if Path::new(s).exists() {
                refused.push(s.into());
            }
        }
        std::fs::create_dir_all("/var/lib/berth-policy-test").ok();
        if Path::new("/var/lib/berth-policy-test").exists() {
            refused.push("/var/lib/berth-policy-test".into());
            refused.push("/var/lib".into());
        }
        for s in &refused {
            let e = check_mount_policy(&mut with_mount(s), &[]).unwrap_err();
            assert!(
                e.contains("refused") || e.contains("does not exist"),
                "{s}: {e}"
            );
        }
        let _ = std::fs::remove_dir("/var/lib/berth-policy-test");
        // A plain directory is fine, and the checked (resolved) path is what
        // the runtime gets.
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut ok = with_mount(&format!("{}/", data.display()));
        check_mount_policy(&mut ok, &[]).unwrap();
        assert_eq!(
            ok.mounts[0].source,
            std::fs::canonicalize(&data).unwrap().display().to_string()
        );
    }

    #[test]
    fn mount_policy_allowlist() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let allowed = base.join("allowed");
        let other = base.join("other");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::os::unix::fs::symlink(&other, allowed.join("escape")).unwrap();
        let list = vec![format!("{}/", allowed.display())];
        check_mount_policy(
            &mut with_mount(&allowed.join("sub").display().to_string()),
            &list,
        )
        .unwrap();
        for s in [
            other.display().to_string(),
            allowed.join("escape").display().to_string(),
            format!("{}/../other", allowed.display()),
            "/etc".to_string(),
        ] {
            let e = check_mount_policy(&mut with_mount(&s), &list).unwrap_err();
            assert!(e.contains("outside"), "{s}: {e}");
        }
        // The owner may name a denied path explicitly; a broad prefix does
        // not open what lies in the denylist.
        check_mount_policy(&mut with_mount("/etc/ssl"), &["/etc/ssl".into()]).unwrap();
        let e = check_mount_policy(&mut with_mount("/etc"), &["/etc/ssl".into()]).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = check_mount_policy(&mut with_mount("/proc"), &["/".into(), "/tmp".into()])
            .map(|_| ())
            .err();
        // "/" listed explicitly is the owner's choice.
        assert!(e.is_none());
        let e = check_mount_policy(&mut with_mount("/proc"), &["/tmp".into()]).unwrap_err();
        assert!(e.contains("outside"), "{e}");
    }

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
    fn names_the_bad_process_field() {
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
        ];
        assert_each_names(cases);
        let mut env = spec();
        env.env.insert("A=B".into(), "x".into());
        assert!(validate(&env, 2).unwrap_err().starts_with("env"));
    }

    #[test]
    fn names_the_bad_limit_port_or_mount() {
        let cases: Vec<(ContainerSpec, &str)> = vec![
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
        assert_each_names(cases);
    }

    fn assert_each_names(cases: Vec<(ContainerSpec, &str)>) {
        for (s, want) in cases {
            let e = validate(&s, 2).unwrap_err();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
        }
    }
}
