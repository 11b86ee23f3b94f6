//! Reading and checking `config.json` (OCI runtime spec, config.md and
//! config-linux.md). Every error names the JSON path of the field at fault
//! (`linux.resources.memory.limit: ...`), both for malformed JSON (through
//! `serde_path_to_error`) and for values that parse but make no sense.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxResources, Process, Spec};

use crate::error::{Error, Result};

/// A C string from a path or string of the spec (they never hold NUL; a
/// spec that sneaks one in is refused, naming `field`).
pub(crate) fn cstring(bytes: &[u8], field: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(bytes).map_err(|_| Error::config(field, "contains a NUL byte"))
}

/// Reads and parses `bundle/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    parse(&bytes, "config.json")
}

/// Parses a spec document. As runc and crun: a mount destination that is
/// not absolute is taken as relative to `/`, and capability names this
/// runtime does not know are left out (with a warning).
pub fn parse(bytes: &[u8], file: &'static str) -> Result<Spec> {
    let mut spec: Spec = match parse_json(bytes, file) {
        Ok(s) => s,
        Err(e) => match without_unknown_capabilities(bytes, file) {
            Some(parsed) => parsed?,
            None => return Err(e),
        },
    };
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut m| {
                if !m.destination().is_absolute() {
                    m.set_destination(Path::new("/").join(m.destination()));
                }
                m
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    Ok(spec)
}

/// The spec parsed again with unknown names dropped from
/// `process.capabilities`, when it lists any (what else is wrong is then
/// named as usual).
fn without_unknown_capabilities(bytes: &[u8], file: &'static str) -> Option<Result<Spec>> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let caps = v
        .get_mut("process")?
        .get_mut("capabilities")?
        .as_object_mut()?;
    let mut dropped = Vec::new();
    for (set, list) in caps.iter_mut() {
        if let Some(list) = list.as_array_mut() {
            list.retain(|c| {
                let known =
                    serde_json::from_value::<oci_spec::runtime::Capability>(c.clone()).is_ok();
                if !known {
                    dropped.push(format!("{set}: {c}"));
                }
                known
            });
        }
    }
    if dropped.is_empty() {
        return None;
    }
    let bytes = serde_json::to_vec(&v).ok()?;
    let spec = parse_json(&bytes, file);
    if spec.is_ok() {
        tracing::warn!(
            "ignoring unknown capabilities in process.capabilities: {}",
            dropped.join(", ")
        );
    }
    Some(spec)
}

/// Parses a `process.json` (for `exec -p`).
pub fn parse_process(bytes: &[u8]) -> Result<Process> {
    parse_json(bytes, "process.json")
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], file: &'static str) -> Result<T> {
    // The plain parser first (it is the start-up path of every create);
    // only a document that fails goes through again to name the field.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        Error::Config {
            file,
            field: if field == "." {
                "(document)".into()
            } else {
                field
            },
            reason: inner.to_string(),
        }
    })
}

/// The rootfs as an absolute path (`root.path` is relative to the bundle
/// when not absolute).
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "missing"))?;
    let p = root.path();
    Ok(if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    })
}

fn check_limit(field: &str, v: Option<i64>, min: i64) -> Result<()> {
    match v {
        Some(v) if v < -1 => Err(Error::config(
            field,
            format!("{v} is not a valid limit (use -1 for none)"),
        )),
        Some(v) if v >= 0 && v < min => Err(Error::config(
            field,
            format!("{v} is below the minimum of {min}"),
        )),
        _ => Ok(()),
    }
}

/// Checks a cpu list such as `0-3,7`.
fn check_cpu_list(field: &str, s: &str) -> Result<()> {
    let ok = s.split(',').all(|part| {
        let mut r = part.trim().splitn(2, '-');
        let a = r.next().map(|x| x.parse::<u32>().is_ok()).unwrap_or(false);
        let b = r.next().map(|x| x.parse::<u32>().is_ok()).unwrap_or(true);
        a && b
    });
    if s.trim().is_empty() || ok {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("{s:?} is not a list like 0-3,7"),
        ))
    }
}

/// Checks what parsing cannot: required parts, absolute paths, namespace
/// rules, and limits that no kernel would take.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(Error::config(
            "ociVersion",
            format!("{version:?} is not a 1.x version of the runtime spec"),
        ));
    }
    let rootfs = rootfs_path(spec, bundle)?;
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::config(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Err(e) => {
            return Err(Error::config(
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "missing"))?;
    validate_process(process, "process")?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "missing: only Linux containers are supported"))?;

    let seen = validate_namespaces(spec, linux)?;
    let has = |t: LinuxNamespaceType| seen.contains(&t);
    // Masking or making read-only without a mount namespace of its own
    // would do it to the runtime's, the host's (runc refuses it too).
    if !has(LinuxNamespaceType::Mount) {
        for (field, list) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(Error::config(
                    field,
                    "needs a mount namespace (linux.namespaces has none)",
                ));
            }
        }
    }
    validate_sysctls(linux, &has)?;
    validate_mounts_and_hooks(spec)?;
    if let Some(r) = linux.resources() {
        validate_resources(r)?;
    }
    crate::cgroups::resolve_path(linux.cgroups_path().as_deref(), "x")
        .map_err(|e| Error::config("linux.cgroupsPath", e.to_string()))?;
    Ok(())
}

/// Namespaces listed once, and what needs one: hostname, domainname, id
/// mappings, time offsets. Answers the types listed.
fn validate_namespaces(spec: &Spec, linux: &Linux) -> Result<HashSet<LinuxNamespaceType>> {
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::config(
                format!("linux.namespaces[{i}].type"),
                format!(
                    "namespace {} is listed twice",
                    crate::namespaces::proc_name(ns.typ())
                ),
            ));
        }
    }
    let has_new = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().as_ref().is_none_or(|p| p.as_os_str().is_empty()))
    };
    let has = |t: LinuxNamespaceType| seen.contains(&t);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(Error::config(
            "hostname",
            "setting a hostname needs a uts namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        return Err(Error::config(
            "domainname",
            "setting a domainname needs a uts namespace",
        ));
    }
    let uid_maps = linux.uid_mappings().as_deref().unwrap_or(&[]);
    let gid_maps = linux.gid_mappings().as_deref().unwrap_or(&[]);
    if (!uid_maps.is_empty() || !gid_maps.is_empty()) && !has(LinuxNamespaceType::User) {
        return Err(Error::config(
            "linux.uidMappings",
            "id mappings need a user namespace in linux.namespaces",
        ));
    }
    if has_new(LinuxNamespaceType::User) && (uid_maps.is_empty() || gid_maps.is_empty()) {
        return Err(Error::config(
            "linux.uidMappings",
            "a new user namespace needs both uidMappings and gidMappings",
        ));
    }
    if linux.time_offsets().is_some() && !has_new(LinuxNamespaceType::Time) {
        return Err(Error::config(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    Ok(seen)
}

/// `linux.sysctl`: names, and the namespace each kind needs.
fn validate_sysctls(linux: &Linux, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    for (key, _) in linux.sysctl().iter().flatten() {
        let field = format!("linux.sysctl.{key}");
        if key.is_empty() || key.contains("..") || key.starts_with('/') || key.contains('\0') {
            return Err(Error::config(field, "is not a sysctl name"));
        }
        if key.starts_with("net.") && !has(LinuxNamespaceType::Network) {
            return Err(Error::config(
                field,
                "net.* sysctls need a network namespace",
            ));
        }
        let ipc = key.starts_with("kernel.msg")
            || key.starts_with("kernel.sem")
            || key.starts_with("kernel.shm")
            || key.starts_with("fs.mqueue.");
        if ipc && !has(LinuxNamespaceType::Ipc) {
            return Err(Error::config(field, "IPC sysctls need an ipc namespace"));
        }
        let uts = key == "kernel.hostname" || key == "kernel.domainname";
        if uts && !has(LinuxNamespaceType::Uts) {
            return Err(Error::config(field, "needs a uts namespace"));
        }
        // Any other sysctl is the host's own: writing it from a container
        // would change the host (runc and crun refuse it too).
        if !key.starts_with("net.") && !ipc && !uts {
            return Err(Error::config(
                field,
                "is not in a kernel namespace: it would change the host",
            ));
        }
    }
    Ok(())
}

/// Absolute hook paths, positive hook timeouts (mount destinations are
/// made absolute by `parse`).
fn validate_mounts_and_hooks(spec: &Spec) -> Result<()> {
    if let Some(hooks) = spec.hooks() {
        let stages = [
            ("hooks.prestart", hooks.prestart()),
            ("hooks.createRuntime", hooks.create_runtime()),
            ("hooks.createContainer", hooks.create_container()),
            ("hooks.startContainer", hooks.start_container()),
            ("hooks.poststart", hooks.poststart()),
            ("hooks.poststop", hooks.poststop()),
        ];
        for (stage, list) in stages {
            for (i, h) in list.iter().flatten().enumerate() {
                if !h.path().is_absolute() {
                    return Err(Error::config(
                        format!("{stage}[{i}].path"),
                        "must be an absolute path",
                    ));
                }
                if h.timeout().is_some_and(|t| t <= 0) {
                    return Err(Error::config(
                        format!("{stage}[{i}].timeout"),
                        "must be above zero",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Limits no kernel would take.
fn validate_resources(r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        const MIN_MEMORY: i64 = 256 * 1024;
        check_limit("linux.resources.memory.limit", m.limit(), MIN_MEMORY)?;
        check_limit("linux.resources.memory.reservation", m.reservation(), 0)?;
        check_limit("linux.resources.memory.swap", m.swap(), 0)?;
        if let (Some(l), Some(s)) = (m.limit(), m.swap())
            && l >= 0
            && s >= 0
            && s < l
        {
            return Err(Error::config(
                "linux.resources.memory.swap",
                format!("{s} is below memory.limit ({l}); swap counts memory plus swap"),
            ));
        }
        if m.swappiness().is_some_and(|s| s > 100) {
            return Err(Error::config(
                "linux.resources.memory.swappiness",
                "must be 0..=100",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares()
            && s != 0
            && !(2..=262_144).contains(&s)
        {
            return Err(Error::config(
                "linux.resources.cpu.shares",
                format!("{s} is outside 2..=262144"),
            ));
        }
        if let Some(q) = c.quota()
            && q != -1
            && q != 0
            && q < 1000
        {
            return Err(Error::config(
                "linux.resources.cpu.quota",
                format!("{q} is below 1000 µs (or -1 for none)"),
            ));
        }
        if let Some(p) = c.period()
            && p != 0
            && !(1000..=1_000_000).contains(&p)
        {
            return Err(Error::config(
                "linux.resources.cpu.period",
                format!("{p} is outside 1000..=1000000 µs"),
            ));
        }
        if let Some(cpus) = c.cpus() {
            check_cpu_list("linux.resources.cpu.cpus", cpus)?;
        }
        if let Some(mems) = c.mems() {
            check_cpu_list("linux.resources.cpu.mems", mems)?;
        }
    }
    if let Some(p) = r.pids()
        && p.limit() < -1
    {
        return Err(Error::config(
            "linux.resources.pids.limit",
            format!("{} is not a valid limit (use -1 for none)", p.limit()),
        ));
    }
    if let Some(b) = r.block_io()
        && let Some(w) = b.weight()
        && !(10..=1000).contains(&w)
    {
        return Err(Error::config(
            "linux.resources.blockIO.weight",
            format!("{w} is outside 10..=1000"),
        ));
    }

    Ok(())
}

/// Checks a process (config.json's `process` or an exec's process.json).
pub fn validate_process(p: &Process, field: &str) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config(
            format!("{field}.args"),
            "must name a program to run",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::config(
            format!("{field}.cwd"),
            format!("{} is not an absolute path", p.cwd().display()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(json: &str) -> String {
        parse(json.as_bytes(), "config.json")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn relative_destinations_and_unknown_capabilities_as_runc() {
        let spec = parse(
            br#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},
                "capabilities":{"bounding":["CAP_KILL","CAP_BOGUS"]}},
                "mounts":[{"destination":"mnt/rel","type":"tmpfs","source":"tmpfs"}]}"#,
            "config.json",
        )
        .unwrap();
        let m = &spec.mounts().as_ref().unwrap()[0];
        assert_eq!(m.destination(), Path::new("/mnt/rel"));
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        // Anything else that does not parse still names its field.
        let e = err_of(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},
                "capabilities":{"bounding":["CAP_BOGUS"]},"terminal":"yes"}}"#,
        );
        assert!(e.contains("process.terminal"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e =
            err_of(r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":"root","gid":0}}}"#);
        assert!(e.contains("process.user.uid"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pidd"}]}}"#);
        assert!(e.contains("linux.namespaces[0].type"), "{e}");
        let e =
            err_of(r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":"lots"}}}}"#);
        assert!(e.contains("linux.resources.memory.limit"), "{e}");
    }

    fn valid_spec(dir: &Path) -> serde_json::Value {
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]},
            "hostname": "box"
        })
    }

    fn check(dir: &Path, v: &serde_json::Value) -> Result<()> {
        let spec = parse(v.to_string().as_bytes(), "config.json")?;
        validate(&spec, dir)
    }

    #[test]
    fn absurd_values_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let ok = valid_spec(dir.path());
        check(dir.path(), &ok).unwrap();
        let cases: &[(&str, serde_json::Value, &str)] = &[
            (
                "/linux/resources",
                serde_json::json!({"memory": {"limit": -5}}),
                "linux.resources.memory.limit",
            ),
            (
                "/linux/resources",
                serde_json::json!({"memory": {"limit": 100}}),
                "linux.resources.memory.limit",
            ),
            (
                "/linux/resources",
                serde_json::json!({"pids": {"limit": -7}}),
                "linux.resources.pids.limit",
            ),
            (
                "/linux/resources",
                serde_json::json!({"cpu": {"shares": 1}}),
                "linux.resources.cpu.shares",
            ),
            (
                "/linux/resources",
                serde_json::json!({"cpu": {"cpus": "zero"}}),
                "linux.resources.cpu.cpus",
            ),
            ("/root", serde_json::json!({"path": "nope"}), "root.path"),
            ("/process/cwd", serde_json::json!("relative"), "process.cwd"),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "pid"}, {"type": "pid"}]),
                "linux.namespaces[1].type",
            ),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "pid"}]),
                "hostname",
            ),
            (
                "/linux/cgroupsPath",
                serde_json::json!("/a/../b"),
                "linux.cgroupsPath",
            ),
            (
                "/linux/sysctl",
                serde_json::json!({"net.ipv4.ip_forward": "1"}),
                "linux.sysctl.net.ipv4.ip_forward",
            ),
        ];
        for (ptr, value, field) in cases {
            let mut v = ok.clone();
            let parent_ptr = &ptr[..ptr.rfind('/').unwrap()];
            let key = &ptr[ptr.rfind('/').unwrap() + 1..];
            let parent = if parent_ptr.is_empty() {
                &mut v
            } else {
                v.pointer_mut(parent_ptr).unwrap()
            };
            parent[key] = value.clone();
            let e = check(dir.path(), &v).unwrap_err().to_string();
            assert!(e.contains(field), "{ptr}: {e}");
        }
    }
}
