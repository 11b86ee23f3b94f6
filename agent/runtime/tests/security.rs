//! Regression tests for the known container escapes (issue 3, "Safety"):
//! each one fails if its defence is taken out.

mod common;

use std::os::fd::AsRawFd;
use std::process::Command;

use berth_runtime::cgroups::{CgroupLayout, CgroupManager, Manager};
use common::{Fixture, can_run};

fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-runtime")
}

/// CVE-2019-5736: a process that shares the container's pid namespace
/// while it is still the runtime must not lead to the runtime's binary.
/// The createContainer hook runs in the container's namespaces while the
/// init is still a copy of the runtime; with no pid namespace of its own
/// the container sees that process, so the CLI runs from a sealed memfd.
#[test]
fn cve_2019_5736_runtime_binary_is_not_reachable() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let out = f.dir.path().join("exe-seen");
    let mut cfg = f.config("c5736", &["true"]);
    cfg["linux"]["namespaces"] =
        serde_json::json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]);
    cfg["hooks"] = serde_json::json!({"createContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!(
            "readlink /proc/$PPID/exe > {o}",
            o = out.display())]
    }]});
    f.write_config(&cfg);
    let state = f.dir.path().join("state-cli");
    let st = Command::new(berth_bin())
        .args([
            "--root",
            state.to_str().unwrap(),
            "run",
            "-b",
            f.bundle().to_str().unwrap(),
            "c5736",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let seen = std::fs::read_to_string(&out).unwrap();
    assert!(
        seen.starts_with("/memfd:berth-runtime"),
        "the init's exe is {seen:?}"
    );
    assert!(!seen.contains(berth_bin()), "{seen}");
}

/// CVE-2024-21626: no host fd leaks into the container and the working
/// directory can never be outside the container's root, even when
/// process.cwd names an fd through /proc/self/fd.
#[test]
fn cve_2024_21626_no_fd_or_cwd_leaks() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    // An fd without close-on-exec, open in the runtime's process.
    let leak = std::fs::File::open("/etc").unwrap();
    // SAFETY: clears FD_CLOEXEC on an fd this test owns.
    unsafe { libc::fcntl(leak.as_raw_fd(), libc::F_SETFD, 0) };
    let (code, out) = f
        .run("fds", &f.config("fds", &["sh", "-c", "ls /proc/self/fd"]))
        .unwrap();
    assert_eq!(code, 0, "{out}");
    let fds: Vec<&str> = out.split_whitespace().collect();
    // 0-2 and the directory ls reads.
    assert_eq!(fds, ["0", "1", "2", "3"], "leaked fds: {out}");

    for n in 3..16 {
        let id = format!("cwd{n}");
        let mut cfg = f.config(&id, &["sh", "-c", "pwd; ls"]);
        cfg["process"]["cwd"] = serde_json::json!(format!("/proc/self/fd/{n}"));
        match f.run(&id, &cfg) {
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("process.cwd"), "fd {n}: {e}");
            }
            Ok((_code, out)) => {
                assert!(
                    !out.contains("unreachable"),
                    "fd {n}: cwd outside the root: {out}"
                );
                assert!(out.starts_with('/'), "fd {n}: {out}");
            }
        }
    }
    drop(leak);
}

/// Mount targets that are symlinks are resolved inside the rootfs: an
/// absolute or `..`-climbing link in the image cannot send a mount (or a
/// created directory) onto the host.
#[test]
fn symlinked_mount_targets_stay_in_the_rootfs() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let host_target = f.dir.path().join("host-escape");
    let rootfs = f.rootfs();
    std::os::unix::fs::symlink(&host_target, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../../..".to_string() + host_target.to_str().unwrap(),
        rootfs.join("up"),
    )
    .unwrap();
    let mut cfg = f.config("sym", &["sh", "-c", "ls -d /abs/a /up/b && echo inside"]);
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/abs/a", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(serde_json::json!({"destination": "/up/b", "type": "tmpfs", "source": "tmpfs"}));
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (code, out) = f.run("sym", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("inside"), "{out}");
    assert!(
        !host_target.exists(),
        "a mount target was created on the host"
    );
    // Both landed in the rootfs, at the link's target taken as rooted there.
    let in_root = rootfs.join(host_target.strip_prefix("/").unwrap());
    assert!(in_root.join("a").is_dir() && in_root.join("b").is_dir());
    assert_eq!(
        before,
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        "host mounts changed"
    );
}

/// /proc and /sys must be real directories: a symlink there is refused.
#[test]
fn proc_on_a_symlink_is_refused() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let rootfs = f.rootfs();
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink("/tmp", rootfs.join("proc")).unwrap();
    let err = f
        .run("psym", &f.config("psym", &["true"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ordinary directory"), "{err}");
}

/// maskedPaths hide, readonlyPaths cannot be written.
#[test]
fn masked_and_readonly_paths() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let cfg = f.config(
        "mask",
        &["sh", "-c", "wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/domainname || echo ro-ok; ls /sys/firmware | wc -l"],
    );
    let (code, out) = f.run("mask", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/timer_list readable: {out}");
    assert_eq!(lines[1].trim(), "0", "/proc/acpi not masked: {out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("ro-ok"), "{out}");
}

/// The five capability lines of /proc/self/status inside a container run
/// with `cfg`, as (CapInh, CapPrm, CapEff, CapBnd, CapAmb).
fn capability_sets(f: &Fixture, id: &str, mut cfg: serde_json::Value) -> [String; 5] {
    cfg["process"]["args"] = serde_json::json!(["grep", "^Cap", "/proc/self/status"]);
    let (code, out) = f.run(id, &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|k| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:\t")))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .to_string()
    })
}

/// Issue 18: a spec without `process.capabilities` gets no capability at
/// all, the bounding set included, as with runc and crun (berth used to
/// leave the runtime's own, almost every capability).
#[test]
fn no_capabilities_in_the_spec_means_none() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("nocaps", &["true"]);
    cfg["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let zero = "0000000000000000".to_string();
    assert_eq!(
        capability_sets(&f, "nocaps", cfg),
        [zero.clone(), zero.clone(), zero.clone(), zero.clone(), zero]
    );
}

/// Issue 18: runc's own template (`runc spec`) lists ambient capabilities
/// without inheritable ones. The kernel refuses to raise those (ambient ⊆
/// permitted ∩ inheritable); runc and crun run the spec and the process
/// starts with an empty ambient set, and so does berth. When the spec makes
/// them inheritable too, they are raised (and a non-root user keeps them
/// across execve).
#[test]
fn ambient_capabilities_without_inheritable_are_left_out() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let template = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut cfg = f.config("amb", &["true"]);
    cfg["process"]["capabilities"] = serde_json::json!({
        "bounding": template, "effective": template,
        "permitted": template, "ambient": template
    });
    let zero = "0000000000000000".to_string();
    let three = "0000000020000420".to_string();
    assert_eq!(
        capability_sets(&f, "amb", cfg.clone()),
        [
            zero.clone(),
            three.clone(),
            three.clone(),
            three.clone(),
            zero
        ]
    );
    // Inheritable too, as a non-root user: ambient raised, and after
    // execve they are the user's permitted and effective sets.
    cfg["process"]["capabilities"]["inheritable"] = template;
    cfg["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    assert_eq!(
        capability_sets(&f, "amb-inh", cfg),
        [
            three.clone(),
            three.clone(),
            three.clone(),
            three.clone(),
            three
        ]
    );
}

/// Bad config.json: a clear error naming the field, and nothing left
/// behind (no state, no cgroup, no mount).
#[test]
fn bad_configs_name_the_field_and_leave_nothing() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let layout = CgroupLayout::detect().unwrap();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "/process/user/uid",
            serde_json::json!("root"),
            "process.user.uid",
        ),
        (
            "/linux/namespaces/0/type",
            serde_json::json!("pidd"),
            "linux.namespaces[0].type",
        ),
        (
            "/linux/resources/memory",
            serde_json::json!({"limit": -9}),
            "linux.resources.memory.limit",
        ),
        (
            "/linux/resources/pids",
            serde_json::json!({"limit": "many"}),
            "linux.resources.pids.limit",
        ),
        (
            "/root/path",
            serde_json::json!("no-such-rootfs"),
            "root.path",
        ),
        ("/process/args", serde_json::json!([]), "process.args"),
        (
            "/linux/sysctl",
            serde_json::json!({"vm.swappiness": "10"}),
            "linux.sysctl.vm.swappiness",
        ),
        (
            "/linux/namespaces",
            serde_json::json!([{"type": "pid"}, {"type": "uts"}]),
            "linux.maskedPaths",
        ),
        (
            "/process/rlimits",
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
            "process.rlimits[0]",
        ),
        (
            "/linux/devices",
            serde_json::json!([{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]),
            "linux.devices[0].path",
        ),
        (
            "/process/args",
            serde_json::json!(["/no/such/program"]),
            "process.args[0]",
        ),
    ];
    for (i, (ptr, value, field)) in cases.into_iter().enumerate() {
        let id = format!("bad{i}");
        let mut cfg = f.config(&id, &["true"]);
        set(&mut cfg, ptr, value);
        f.write_config(&cfg);
        let err =
            f.rt.create(&id, &f.bundle(), Default::default())
                .map(|_| ())
                .unwrap_err()
                .to_string();
        assert!(err.contains(field), "case {ptr}: {err}");
        assert!(
            std::fs::read_dir(f.rt.root()).unwrap().next().is_none(),
            "{ptr}: state left"
        );
        let cg = Manager::new(&layout, format!("{}/{id}", f.cgroup_parent)).unwrap();
        assert!(!cg.exists(), "{ptr}: cgroup left");
    }
    assert_eq!(
        mounts_before,
        std::fs::read_to_string("/proc/self/mountinfo").unwrap()
    );
}

/// Sets the value at a JSON pointer, making missing objects on the way.
fn set(v: &mut serde_json::Value, ptr: &str, value: serde_json::Value) {
    let mut cur = v;
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            serde_json::Value::Array(a) => &mut a[part.parse::<usize>().unwrap()],
            other => {
                let obj = other.as_object_mut().unwrap();
                if last {
                    obj.insert(part.to_string(), serde_json::Value::Null);
                }
                obj.entry(part.to_string())
                    .or_insert_with(|| serde_json::json!({}))
            }
        };
    }
    *cur = value;
}
