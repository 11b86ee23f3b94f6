//! Root tests of the spec's features one by one: user namespaces, hooks at
//! every stage, the console socket, rlimits, sysctl, oom_score_adj, users
//! and groups, seccomp, personality, no_pivot, exec into a user namespace.

mod common;

use std::io::Read;
use std::os::unix::net::UnixListener;

use common::{Fixture, can_run};

fn userns_supported() -> bool {
    let ok = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    if !ok {
        berth_testkit::skip("user namespaces are disabled here");
    }
    ok
}

#[test]
fn user_namespace_with_mappings() {
    if !can_run() || !userns_supported() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config(
        "uns",
        &[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map; sleep 600",
        ],
    );
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (pid, out) = f.create_captured("uns", &cfg).unwrap();
    f.rt.start("uns").unwrap();
    // The first three lines, before anything else happens.
    let mut reader = std::io::BufReader::new(out);
    let mut s = String::new();
    for _ in 0..3 {
        std::io::BufRead::read_line(&mut reader, &mut s).unwrap();
    }
    // Outside, the process is the mapped host uid.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status.contains("Uid:\t100000") || std::time::Instant::now() >= deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(status.contains("Uid:\t100000\t100000"), "{status}");
    // exec joins the user namespace too.
    let process: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["id", "-u"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}
    }))
    .unwrap();
    let (r, w) = common::pipe();
    let w2 = w.try_clone().unwrap();
    let xpid =
        f.rt.exec(
            "uns",
            &process,
            berth_runtime::ExecOptions {
                stdio: Some([std::fs::File::open("/dev/null").unwrap().into(), w, w2]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(berth_runtime::wait(xpid).unwrap(), 0);
    let mut xout = String::new();
    std::fs::File::from(r).read_to_string(&mut xout).unwrap();
    assert_eq!(xout.trim(), "0");
    f.rt.delete("uns", true).unwrap();
    berth_runtime::wait(pid).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.len() >= 3, "{s}");
    assert_eq!(lines[0], "0", "{s}");
    assert_eq!(lines[1], "0", "{s}");
    assert!(
        lines[2].split_whitespace().eq(["0", "100000", "65536"]),
        "{s}"
    );
}

#[test]
fn hooks_run_at_every_stage_in_order() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let log = f.dir.path().join("hooks.log");
    let hook = |name: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} >> {}", log.display())]});
    // startContainer runs in the container's mount namespace, after
    // pivot_root: it writes inside the container.
    let start_hook = serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer > /tmp/started"]});
    let mut cfg = f.config("hk", &["true"]);
    cfg["hooks"] = serde_json::json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "startContainer": [start_hook],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    let (code, out) = f.run("hk", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    let got = std::fs::read_to_string(&log).unwrap();
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got[..3], ["prestart", "createRuntime", "createContainer"]);
    assert!(got.contains(&"poststart"), "{got:?}");
    let started = std::fs::read_to_string(f.rootfs().join("tmp/started")).unwrap();
    assert_eq!(started.trim(), "startContainer");
    assert_eq!(got.last(), Some(&"poststop"));

    // A failing createRuntime hook fails create and leaves nothing.
    let mut cfg = f.config("hk2", &["true"]);
    cfg["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    let err = f.run("hk2", &cfg).unwrap_err().to_string();
    assert!(err.contains("createRuntime"), "{err}");
    assert!(f.rt.list().unwrap().is_empty());
}

#[test]
fn failing_poststop_hook_stops_the_rest_and_fails_delete_after_cleanup() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let log = f.dir.path().join("poststop.log");
    let hook = |cmd: String| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", cmd]});
    let mut cfg = f.config("ps", &["true"]);
    cfg["hooks"] = serde_json::json!({"poststop": [
        hook(format!("echo one >> {}", log.display())),
        hook(format!("echo two >> {}; exit 1", log.display())),
        hook(format!("echo three >> {}", log.display())),
    ]});
    let (pid, _out) = f.create_captured("ps", &cfg).unwrap();
    f.rt.start("ps").unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 0);
    let err = f.rt.delete("ps", false).unwrap_err().to_string();
    assert!(err.contains("poststop"), "{err}");
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), ["one", "two"]);
    // The container is gone all the same: no state, no cgroup.
    assert!(f.rt.list().unwrap().is_empty());
    assert!(matches!(
        f.rt.state("ps"),
        Err(berth_runtime::Error::NotFound(_))
    ));
    use berth_runtime::cgroups::CgroupManager;
    let layout = berth_runtime::cgroups::CgroupLayout::detect().unwrap();
    let mgr =
        berth_runtime::cgroups::Manager::new(&layout, format!("{}/ps", f.cgroup_parent)).unwrap();
    assert!(!mgr.exists(), "the cgroup is left behind");
}

#[test]
fn console_socket_gets_the_pty_master() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let sock = f.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cfg = f.config("tty", &["sh", "-c", "tty; echo hello-tty"]);
    cfg["process"]["terminal"] = serde_json::json!(true);
    f.write_config(&cfg);
    f.track("tty");
    let accept = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        recv_fd(&conn)
    });
    let st =
        f.rt.create(
            "tty",
            &f.bundle(),
            berth_runtime::CreateOptions {
                console_socket: Some(sock.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let master = accept.join().unwrap();
    f.rt.start("tty").unwrap();
    assert_eq!(berth_runtime::wait(st.pid()).unwrap(), 0);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut file = std::fs::File::from(master);
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("hello-tty"), "{out}");
    f.rt.delete("tty", true).unwrap();
}

fn recv_fd(conn: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; the pointers outlive recvmsg.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        assert!(libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) > 0);
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null());
        std::os::fd::OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(cmsg).cast::<i32>(),
        ))
    }
}

#[test]
fn process_settings_apply() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config(
        "ps",
        &["sh", "-c", "ulimit -n; cat /proc/self/oom_score_adj; id -u; id -g; id -G; umask; cat /proc/sys/kernel/shmmax; cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/domainname"],
    );
    cfg["process"]["rlimits"] =
        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    cfg["process"]["oomScoreAdj"] = serde_json::json!(123);
    cfg["process"]["user"] =
        serde_json::json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001], "umask": 63});
    cfg["linux"]["sysctl"] =
        serde_json::json!({"kernel.shmmax": "12345678", "net.ipv4.ip_forward": "1"});
    cfg["domainname"] = serde_json::json!("example.test");
    let (code, out) = f.run("ps", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "321",
            "123",
            "1000",
            "1001",
            "1001 2000 2001",
            "0077",
            "12345678",
            "1",
            "example.test"
        ],
        "{out}"
    );
}

#[test]
fn seccomp_errno_ret_and_personality() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("sc", &["sh", "-c", "mkdir /tmp/x; echo rc=$?; uname -m"]);
    cfg["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]
    });
    cfg["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
    let (code, out) = f.run("sc", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    // 28 is ENOSPC.
    assert!(out.contains("No space left on device"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("i686"), "{out}");
}

#[test]
fn no_pivot_and_readonly_root() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config(
        "np",
        &[
            "sh",
            "-c",
            "touch /x || echo ro-root; cat /proc/self/mountinfo | head -1",
        ],
    );
    cfg["root"]["readonly"] = serde_json::json!(true);
    f.write_config(&cfg);
    f.track("np");
    let (r, w) = common::pipe();
    let w2 = w.try_clone().unwrap();
    let st =
        f.rt.create(
            "np",
            &f.bundle(),
            berth_runtime::CreateOptions {
                no_pivot: true,
                stdio: Some([std::fs::File::open("/dev/null").unwrap().into(), w, w2]),
                ..Default::default()
            },
        )
        .unwrap();
    f.rt.start("np").unwrap();
    assert_eq!(berth_runtime::wait(st.pid()).unwrap(), 0);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    assert!(out.contains("ro-root"), "{out}");
    f.rt.delete("np", true).unwrap();
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

/// A tmpfs mounted for one test, unmounted (lazily) even when it panics.
struct TmpfsMount(std::path::PathBuf);

impl TmpfsMount {
    fn new(at: &std::path::Path) -> Self {
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("mode=0755"),
        )
        .expect("mount a tmpfs for the test");
        Self(at.to_owned())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn idmapped_bind_mount_in_a_user_namespace() {
    if !can_run() || !userns_supported() {
        return;
    }
    let f = Fixture::new();
    let shared = f.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    // The temporary directory's own filesystem may not support id-mapped
    // mounts (overlayfs, 9p): a tmpfs does on every kernel that has them.
    let _tmpfs = TmpfsMount::new(&shared);
    std::fs::write(shared.join("file"), "x").unwrap();
    // The rootfs belongs to host root, which the user namespace does not
    // map: the mount points must exist already.
    std::fs::create_dir(f.rootfs().join("plain")).unwrap();
    std::fs::create_dir(f.rootfs().join("mapped")).unwrap();
    let mut cfg = f.config("idm", &["sh", "-c", "stat -c %u /plain/file /mapped/file"]);
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    cfg["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let mounts = cfg["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/plain", "type": "bind", "source": shared, "options": ["rbind"]}));
    mounts.push(serde_json::json!({"destination": "/mapped", "type": "bind", "source": shared, "options": ["rbind", "idmap"]}));
    if !kernel_at_least(6, 3) {
        // tmpfs learnt id-mapped mounts in Linux 6.3 (Debian 12's 6.1 in the
        // cgroup v2 guest has not): the runtime must refuse with a clear
        // error naming the mount, and leave no container behind.
        let err = f.run("idm", &cfg).expect_err("idmap on tmpfs before 6.3");
        let msg = format!("{err:?}");
        assert!(
            msg.contains("id-map the mount") && msg.contains("shared"),
            "{msg}"
        );
        assert!(f.rt.state("idm").is_err(), "the failed container is gone");
        return;
    }
    let (code, out) = f.run("idm", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    // Host root's file: unmapped (overflow id) in the plain bind mount,
    // the container's root through the id-mapped one.
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids, ["65534", "0"], "{out}");
}

#[test]
fn exec_cpu_affinity_final() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let (pid, _out) = f
        .create_captured("aff", &f.config("aff", &["sleep", "600"]))
        .unwrap();
    f.rt.start("aff").unwrap();
    let process: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "env": ["PATH=/bin"], "cwd": "/",
        "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "0", "final": "0"}
    }))
    .unwrap();
    let (r, w) = common::pipe();
    let w2 = w.try_clone().unwrap();
    let xpid =
        f.rt.exec(
            "aff",
            &process,
            berth_runtime::ExecOptions {
                stdio: Some([std::fs::File::open("/dev/null").unwrap().into(), w, w2]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(berth_runtime::wait(xpid).unwrap(), 0);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).unwrap();
    assert!(out.trim().ends_with("\t0"), "{out}");
    f.rt.delete("aff", true).unwrap();
    berth_runtime::wait(pid).unwrap();
}
