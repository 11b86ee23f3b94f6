//! Root tests of the basic lifecycle: create, start, exit status, kill,
//! delete, with namespaces, cgroup limits and the rootfs for real.

mod common;

use std::path::Path;

use berth_runtime::cgroups::{CgroupLayout, CgroupManager, Manager};
use common::{Fixture, can_run};
use oci_spec::runtime::ContainerState;

fn ns_inode(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn true_and_exit_codes() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let (code, out) = f.run("t1", &f.config("t1", &["true"])).unwrap();
    assert_eq!(code, 0, "{out}");
    let (code, _) = f
        .run("t2", &f.config("t2", &["sh", "-c", "exit 3"]))
        .unwrap();
    assert_eq!(code, 3);
}

#[test]
fn process_sees_its_own_world() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("w", &["sh", "-c", "echo pid=$$; hostname; pwd; echo \"$FOO\"; ls /; cat /proc/self/status | grep -E '^(NoNewPrivs|CapEff|CapBnd):'; ls /dev; for n in mnt pid uts ipc net; do readlink /proc/self/ns/$n; done"]);
    cfg["process"]["env"] = serde_json::json!(["PATH=/bin", "FOO=bar baz"]);
    cfg["process"]["cwd"] = serde_json::json!("/tmp");
    let (code, out) = f.run("w", &cfg).unwrap();
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    assert_eq!(lines[1], "berth-test");
    assert_eq!(lines[2], "/tmp");
    assert_eq!(lines[3], "bar baz");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    // 14 capabilities asked for: mask 0xa80425fb.
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd",
        "stdin",
    ] {
        assert!(out.lines().any(|l| l == dev), "/dev/{dev} missing: {out}");
    }
    // The rootfs, not the host's /: the bundle has no /usr.
    assert!(!out.lines().any(|l| l == "usr"), "{out}");
    for ns in ["mnt", "pid", "uts", "ipc", "net"] {
        let host = ns_inode("self", ns);
        assert!(out.contains(&format!("{ns}:[")), "{out}");
        assert!(
            !out.contains(&host),
            "{ns} namespace shared with the host: {out}"
        );
    }
}

#[test]
fn cgroup_limits_apply_and_delete_cleans_up() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("cg", &["sleep", "600"]);
    cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
    cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 50});
    cfg["linux"]["resources"]["cpu"] =
        serde_json::json!({"quota": 50000, "period": 100000, "shares": 512});
    let (pid, _out) = f.create_captured("cg", &cfg).unwrap();
    let st = f.rt.state("cg").unwrap();
    assert_eq!(st.status(), ContainerState::Created);
    assert_eq!(st.pid(), pid);
    let cgpath = format!("{}/cg", f.cgroup_parent);
    assert_eq!(st.cgroup_path, Path::new(&cgpath));
    let layout = CgroupLayout::detect().unwrap();
    let cg = Manager::new(&layout, &cgpath).unwrap();
    assert_eq!(cg.procs().unwrap(), vec![pid]);
    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory.limit, Some(67108864));
    assert_eq!(stats.pids.limit, Some(50));
    if let Manager::V1(v1) = &cg {
        let cpu = v1.dir("cpu").unwrap();
        assert_eq!(
            std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
                .unwrap()
                .trim(),
            "50000"
        );
        assert_eq!(
            std::fs::read_to_string(cpu.join("cpu.shares"))
                .unwrap()
                .trim(),
            "512"
        );
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(own.contains(&format!(":memory:{cgpath}")), "{own}");
        assert!(own.contains(&format!(":pids:{cgpath}")), "{own}");
    }
    f.rt.start("cg").unwrap();
    assert_eq!(f.rt.state("cg").unwrap().status(), ContainerState::Running);
    let err = f.rt.delete("cg", false).unwrap_err().to_string();
    assert!(err.contains("running"), "{err}");
    f.rt.kill("cg", libc::SIGKILL, false).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
    assert_eq!(f.rt.state("cg").unwrap().status(), ContainerState::Stopped);
    f.rt.delete("cg", false).unwrap();
    assert!(!cg.exists(), "cgroup left behind");
    assert!(f.rt.state("cg").is_err());
    assert!(f.rt.list().unwrap().is_empty());
}

#[test]
fn pause_resume_stats_and_processes() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let (pid, _out) = f
        .create_captured("p", &f.config("p", &["sh", "-c", "sleep 600 & wait"]))
        .unwrap();
    f.rt.start("p").unwrap();
    // Wait until the child sleep exists.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let procs = loop {
        let procs = f.rt.processes("p").unwrap();
        if procs.len() == 2 || std::time::Instant::now() >= deadline {
            break procs;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(procs.len(), 2, "{procs:?}");
    assert!(procs.contains(&pid));
    f.rt.pause("p").unwrap();
    let st = f.rt.state("p").unwrap();
    assert!(st.paused);
    assert_eq!(st.status_str(), "paused");
    assert!(f.rt.pause("p").is_err());
    f.rt.resume("p").unwrap();
    assert!(!f.rt.state("p").unwrap().paused);
    let s = f.rt.stats("p").unwrap();
    assert!(s.memory.usage > 0);
    assert_eq!(s.pids.current, 2);
    f.rt.kill("p", libc::SIGKILL, true).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
    f.rt.delete("p", false).unwrap();
}

#[test]
fn delete_force_of_a_paused_container() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let (pid, _out) = f
        .create_captured("fp", &f.config("fp", &["sleep", "600"]))
        .unwrap();
    f.rt.start("fp").unwrap();
    f.rt.pause("fp").unwrap();
    f.rt.delete("fp", true).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
    assert!(f.rt.list().unwrap().is_empty());
}

#[test]
fn exec_joins_the_container() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let (pid, _out) = f
        .create_captured("ex", &f.config("ex", &["sleep", "600"]))
        .unwrap();
    f.rt.start("ex").unwrap();
    let (r, w) = common::pipe();
    let w2 = w.try_clone().unwrap();
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let process: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["sh", "-c", "echo $$; hostname; pwd; cat /proc/1/cmdline; echo; grep NoNewPrivs /proc/self/status"],
        "env": ["PATH=/bin"],
        "cwd": "/tmp",
        "user": {"uid": 0, "gid": 0},
        "noNewPrivileges": true
    }))
    .unwrap();
    let xpid =
        f.rt.exec(
            "ex",
            &process,
            berth_runtime::ExecOptions {
                stdio: Some([devnull.into(), w, w2]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(berth_runtime::wait(xpid).unwrap(), 0);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].parse::<i32>().unwrap() > 1, "{out}");
    assert_eq!(lines[1], "berth-test", "{out}");
    assert_eq!(lines[2], "/tmp");
    assert!(lines[3].starts_with("sleep"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"));
    f.rt.delete("ex", true).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
}

#[test]
fn missing_program_fails_create_and_leaves_nothing() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let err = f
        .create_captured("np", &f.config("np", &["no-such-program"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("process.args[0]"), "{err}");
    assert!(f.rt.list().unwrap().is_empty());
    assert!(
        std::fs::read_dir(f.rt.root()).unwrap().next().is_none(),
        "state left behind"
    );
    let layout = CgroupLayout::detect().unwrap();
    assert!(
        !Manager::new(&layout, format!("{}/np", f.cgroup_parent))
            .unwrap()
            .exists()
    );
}

#[test]
fn update_changes_limits_of_a_running_container() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("up", &["sleep", "600"]);
    cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
    let (pid, _out) = f.create_captured("up", &cfg).unwrap();
    f.rt.start("up").unwrap();
    let res: oci_spec::runtime::LinuxResources = serde_json::from_value(
        serde_json::json!({"memory": {"limit": 134217728}, "pids": {"limit": 7}}),
    )
    .unwrap();
    f.rt.update("up", &res).unwrap();
    let s = f.rt.stats("up").unwrap();
    assert_eq!(s.memory.limit, Some(134217728));
    assert_eq!(s.pids.limit, Some(7));
    f.rt.delete("up", true).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
    assert!(f.rt.update("up", &res).is_err());
}

/// Linux 6.14+ SIGKILLs a CLONE_INTO_CGROUP child at birth when the
/// caller's cgroup has seen a `cgroup.kill` (its kill generation differs
/// from the new cgroup's). A runtime started from such a cgroup must still
/// start containers.
#[test]
fn starts_from_a_cgroup_that_was_once_killed() {
    if !can_run() {
        return;
    }
    let layout = berth_runtime::cgroups::CgroupLayout::detect().unwrap();
    let Some(unified) = layout.unified.clone() else {
        berth_testkit::skip("no cgroup2 hierarchy");
        return;
    };
    let f = Fixture::new();
    let caller = unified.join(format!(
        "{}/caller",
        f.cgroup_parent.trim_start_matches('/')
    ));
    std::fs::create_dir_all(&caller).unwrap();
    // Removes the caller cgroup even when the test fails.
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _rm = Rm(caller.clone());
    if std::fs::write(caller.join("cgroup.kill"), "1").is_err() {
        berth_testkit::skip("no cgroup.kill on this kernel");
        return;
    }
    let cfg = f.config("killedcaller", &["true"]);
    f.write_config(&cfg);
    let state = f.dir.path().join("state-cli");
    let script = format!(
        "echo $$ > {procs} && exec {bin} --root {root} run -b {bundle} killedcaller",
        procs = caller.join("cgroup.procs").display(),
        bin = env!("CARGO_BIN_EXE_berth-runtime"),
        root = state.display(),
        bundle = f.bundle().display(),
    );
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A non-forced delete right after the process finished its work (and is
/// exiting) deletes it; one of a process that keeps running is refused.
#[test]
fn delete_waits_briefly_for_an_exiting_container() {
    if !can_run() {
        return;
    }
    let f = Fixture::new();
    let cfg = f.config("exiting", &["usleep", "30000"]);
    let (pid, _out) = f.create_captured("exiting", &cfg).unwrap();
    f.rt.start("exiting").unwrap();
    f.rt.delete("exiting", false).unwrap();
    berth_runtime::wait(pid).unwrap();
    assert!(f.rt.list().unwrap().is_empty());

    let cfg = f.config("staying", &["sleep", "600"]);
    let (pid, _out) = f.create_captured("staying", &cfg).unwrap();
    f.rt.start("staying").unwrap();
    let err = f.rt.delete("staying", false).unwrap_err();
    assert!(
        matches!(err, berth_runtime::Error::InvalidState { .. }),
        "{err}"
    );
    f.rt.delete("staying", true).unwrap();
    berth_runtime::wait(pid).unwrap();
}
