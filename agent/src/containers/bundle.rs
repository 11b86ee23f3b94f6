//! From a container spec and its image to an OCI runtime `config.json`
//! (OCI runtime spec, config.md and config-linux.md), with Docker's defaults:
//! its mounts, masked and read-only paths, capabilities, device rules and
//! seccomp profile ([`super::seccomp`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::containers::{ContainerSpec, Limits};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, Mount, MountBuilder, Process,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder, get_default_maskedpaths,
    get_default_mounts, get_default_readonly_paths,
};

use super::user::ResolvedUser;

/// The PATH a container gets when its image sets none (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CPU quota period, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Where the container's network namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetNs {
    /// A new, empty one (`none`).
    New,
    /// The host's (`host`).
    Host,
    /// An existing one, by path (`container:<id>`, or a bridge-mode netns).
    Join(PathBuf),
}

/// Everything [`build`] needs.
pub struct BundleInput<'a> {
    pub spec: &'a ContainerSpec,
    pub image: Option<&'a oci_spec::image::Config>,
    pub user: &'a ResolvedUser,
    pub rootfs: &'a Path,
    /// Absolute cgroup path (inside each hierarchy).
    pub cgroups_path: String,
    pub hostname: String,
    pub netns: NetNs,
    /// Host files bound over /etc files: (source, destination).
    pub etc_files: Vec<(PathBuf, &'static str)>,
}

/// The process's argv: the spec's cmd replaces the image's entrypoint and
/// cmd; otherwise entrypoint + cmd of the image.
pub fn command(spec: &ContainerSpec, image: Option<&oci_spec::image::Config>) -> Vec<String> {
    if let Some(cmd) = &spec.cmd {
        return cmd.clone();
    }
    let mut argv = Vec::new();
    if let Some(c) = image {
        argv.extend(c.entrypoint().clone().unwrap_or_default());
        argv.extend(c.cmd().clone().unwrap_or_default());
    }
    argv
}

/// The environment: the image's, then the spec's on top, plus PATH,
/// HOSTNAME and HOME when missing. Sorted by name.
pub fn environment(
    spec: &ContainerSpec,
    image: Option<&oci_spec::image::Config>,
    hostname: &str,
    user: &ResolvedUser,
) -> Vec<String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOSTNAME".into(), hostname.into());
    if let Some(home) = &user.home {
        env.insert("HOME".into(), home.clone());
    } else {
        env.insert("HOME".into(), "/".into());
    }
    for kv in image.and_then(|c| c.env().clone()).unwrap_or_default() {
        match kv.split_once('=') {
            Some((k, v)) => env.insert(k.to_string(), v.to_string()),
            None => env.insert(kv, String::new()),
        };
    }
    for (k, v) in &spec.env {
        env.insert(k.clone(), v.clone());
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The working directory: the spec's, the image's, or `/`.
pub fn workdir(spec: &ContainerSpec, image: Option<&oci_spec::image::Config>) -> String {
    spec.workdir
        .clone()
        .or_else(|| image.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into())
}

fn bind(source: &Path, destination: &str, readonly: bool) -> Result<Mount, String> {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if readonly {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(|e| e.to_string())
}

/// Builds the runtime config.
pub fn build(input: &BundleInput<'_>) -> Result<Spec, String> {
    let process = process(input)?;
    let mounts = mounts(input)?;
    let namespaces = namespaces(&input.netns)?;
    let resources = resources(&input.spec.limits)?;
    let mut masked = get_default_maskedpaths();
    masked.push("/sys/devices/virtual/powercap".into());
    let seccomp = super::seccomp::default_profile(&DEFAULT_CAPS)?;
    let linux = LinuxBuilder::default()
        .seccomp(seccomp)
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&input.cgroups_path))
        .resources(resources)
        .masked_paths(masked)
        .readonly_paths(get_default_readonly_paths())
        .build()
        .map_err(|e| e.to_string())?;

    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(input.rootfs)
                .readonly(false)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .hostname(input.hostname.clone())
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(|e| e.to_string())
}

/// The process: argv, user, environment, cwd and Docker's capabilities.
fn process(input: &BundleInput<'_>) -> Result<Process, String> {
    let spec = input.spec;
    let argv = command(spec, input.image);
    if argv.is_empty() {
        return Err("no command: the image has none and the spec gives no cmd".into());
    }
    let caps: oci_spec::runtime::Capabilities = DEFAULT_CAPS.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(|e| e.to_string())?;
    let mut user = UserBuilder::default()
        .uid(input.user.uid)
        .gid(input.user.gid);
    if !input.user.additional_gids.is_empty() {
        user = user.additional_gids(input.user.additional_gids.clone());
    }
    ProcessBuilder::default()
        .terminal(false)
        .user(user.build().map_err(|e| e.to_string())?)
        .args(argv)
        .env(environment(spec, input.image, &input.hostname, input.user))
        .cwd(workdir(spec, input.image))
        .capabilities(capabilities)
        .no_new_privileges(false)
        .build()
        .map_err(|e| e.to_string())
}

/// The default mounts (a read-only bind of the host's /sys with host
/// networking), then the /etc files, then the spec's bind mounts.
fn mounts(input: &BundleInput<'_>) -> Result<Vec<Mount>, String> {
    let mut mounts = get_default_mounts();
    if input.netns == NetNs::Host {
        // A sysfs can only be mounted from a network namespace one owns:
        // bind the host's, read-only, as runc and Docker do.
        for m in mounts.iter_mut() {
            if m.destination() == Path::new("/sys") {
                *m = bind(Path::new("/sys"), "/sys", true)?;
            }
        }
    }
    for (source, destination) in &input.etc_files {
        mounts.push(bind(source, destination, false)?);
    }
    for m in &input.spec.mounts {
        mounts.push(bind(Path::new(&m.source), &m.target, m.readonly)?);
    }
    Ok(mounts)
}

/// New pid, ipc, uts and mount namespaces, and the network one of `netns`.
fn namespaces(netns: &NetNs) -> Result<Vec<LinuxNamespace>, String> {
    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(typ)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        NetNs::Join(path) => namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path.clone())
                .build()
                .map_err(|e| e.to_string())?,
        ),
    }
    Ok(namespaces)
}

/// The cgroup resources: no device but those the runtime adds, and the
/// spec's memory, CPU and pids limits.
fn resources(limits: &Limits) -> Result<LinuxResources, String> {
    let mut resources = LinuxResourcesBuilder::default().devices(vec![
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(|e| e.to_string())?,
    ]);
    if let Some(m) = limits.memory_bytes {
        let limit =
            i64::try_from(m).map_err(|_| format!("limits.memory_bytes: {m} is too large"))?;
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(n) = limits.nano_cpus {
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .period(CPU_PERIOD_US)
                .quota(cpu_quota(n)?)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(p) = limits.pids {
        let limit = i64::try_from(p).map_err(|_| format!("limits.pids: {p} is too large"))?;
        resources = resources.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    resources.build().map_err(|e| e.to_string())
}

/// The CFS quota, in microseconds per [`CPU_PERIOD_US`], of `nano_cpus`
/// billionths of a CPU.
fn cpu_quota(nano_cpus: u64) -> Result<i64, String> {
    let quota = u128::from(nano_cpus) * u128::from(CPU_PERIOD_US) / 1_000_000_000;
    i64::try_from(quota).map_err(|_| format!("limits.nano_cpus: {nano_cpus} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::MountSpec;

    fn image() -> oci_spec::image::Config {
        serde_json::from_value(serde_json::json!({
            "Env": ["PATH=/bin", "A=image"],
            "Entrypoint": ["/entry"],
            "Cmd": ["serve"],
            "WorkingDir": "/srv"
        }))
        .unwrap()
    }

    fn root() -> ResolvedUser {
        ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: Some("/root".into()),
        }
    }

    #[test]
    fn command_env_and_workdir_follow_docker() {
        let img = image();
        let mut spec = ContainerSpec {
            image: "x".into(),
            ..Default::default()
        };
        assert_eq!(command(&spec, Some(&img)), ["/entry", "serve"]);
        assert_eq!(workdir(&spec, Some(&img)), "/srv");
        spec.cmd = Some(vec!["sleep".into(), "1".into()]);
        spec.workdir = Some("/tmp".into());
        spec.env.insert("A".into(), "spec".into());
        assert_eq!(command(&spec, Some(&img)), ["sleep", "1"]);
        assert_eq!(workdir(&spec, Some(&img)), "/tmp");
        let env = environment(&spec, Some(&img), "h", &root());
        assert!(env.contains(&"A=spec".to_string()));
        assert!(env.contains(&"PATH=/bin".to_string()));
        assert!(env.contains(&"HOSTNAME=h".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn builds_namespaces_limits_and_mounts() {
        let spec = ContainerSpec {
            image: "x".into(),
            cmd: Some(vec!["sh".into()]),
            limits: Limits {
                memory_bytes: Some(64 << 20),
                nano_cpus: Some(1_500_000_000),
                pids: Some(100),
            },
            mounts: vec![MountSpec {
                source: "/srv/data".into(),
                target: "/data".into(),
                readonly: true,
            }],
            ..Default::default()
        };
        let user = root();
        let input = BundleInput {
            spec: &spec,
            image: None,
            user: &user,
            rootfs: Path::new("/r"),
            cgroups_path: "/berth/abc".into(),
            hostname: "abc".into(),
            netns: NetNs::New,
            etc_files: vec![(PathBuf::from("/d/hosts"), "/etc/hosts")],
        };
        let s = build(&input).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 150_000);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 100);
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/abc");
        let mounts = v["mounts"].as_array().unwrap();
        let data = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
        assert!(data["options"].as_array().unwrap().contains(&"ro".into()));
        assert!(mounts.iter().any(|m| m["destination"] == "/etc/hosts"));
        assert!(
            v["linux"]["maskedPaths"]
                .as_array()
                .unwrap()
                .contains(&"/proc/kcore".into())
        );
        let caps = v["process"]["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".into()));
        // Docker's seccomp profile, for these capabilities.
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed: Vec<&str> = v["linux"]["seccomp"]["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "SCMP_ACT_ALLOW" && s.get("args").is_none())
            .flat_map(|s| s["names"].as_array().unwrap().iter())
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(allowed.contains(&"execve") && allowed.contains(&"chroot"));
        assert!(!allowed.contains(&"mount") && !allowed.contains(&"unshare"));

        // Host networking: no netns, and /sys is a read-only bind.
        let input = BundleInput {
            netns: NetNs::Host,
            ..input
        };
        let v = serde_json::to_value(build(&input).unwrap()).unwrap();
        assert!(
            !v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "network")
        );
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap()
            .clone();
        assert_eq!(sys["type"], "bind");
    }

    #[test]
    fn no_command_is_an_error() {
        let spec = ContainerSpec {
            image: "x".into(),
            ..Default::default()
        };
        let user = root();
        let input = BundleInput {
            spec: &spec,
            image: None,
            user: &user,
            rootfs: Path::new("/r"),
            cgroups_path: "/berth/x".into(),
            hostname: "x".into(),
            netns: NetNs::New,
            etc_files: vec![],
        };
        assert!(build(&input).unwrap_err().contains("no command"));
    }

    #[test]
    fn limits_convert_without_wrapping() {
        assert_eq!(cpu_quota(1_500_000_000), Ok(150_000));
        assert_eq!(cpu_quota(u64::MAX), Ok(1_844_674_407_370_955));
        let too_big = Limits {
            memory_bytes: Some(u64::MAX),
            ..Default::default()
        };
        assert!(resources(&too_big).unwrap_err().contains("memory_bytes"));
        let too_many = Limits {
            pids: Some(u64::MAX),
            ..Default::default()
        };
        assert!(resources(&too_many).unwrap_err().contains("pids"));
    }
}
