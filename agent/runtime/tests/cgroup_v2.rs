//! cgroup v2 for real: run by vm/run.sh in Debian's kernel with a pure v2
//! hierarchy. On a host without one each test prints why it skips.

mod common;

use berth_runtime::cgroups::{CgroupLayout, CgroupManager, CgroupMode, Manager};
use common::{Fixture, can_run};

fn v2() -> bool {
    if !can_run() {
        return false;
    }
    match CgroupLayout::detect() {
        Ok(l) if l.mode == CgroupMode::Unified => true,
        Ok(l) => {
            berth_testkit::skip(&format!(
                "the host's cgroups are {} (vm/run.sh runs these in a v2 guest)",
                l.mode
            ));
            false
        }
        Err(e) => {
            berth_testkit::skip(&e.to_string());
            false
        }
    }
}

fn read(cg: &Manager, file: &str) -> String {
    let Manager::V2(m) = cg else { panic!("not v2") };
    std::fs::read_to_string(m.dir().join(file))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn limits_are_written_and_the_init_is_born_in_its_cgroup() {
    if !v2() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config("l", &["sleep", "600"]);
    cfg["linux"]["resources"]["memory"] =
        serde_json::json!({"limit": 67108864, "swap": 134217728, "reservation": 33554432});
    cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 50});
    cfg["linux"]["resources"]["cpu"] =
        serde_json::json!({"quota": 50000, "period": 100000, "shares": 1024});
    let (pid, _out) = f.create_captured("l", &cfg).unwrap();
    let layout = CgroupLayout::detect().unwrap();
    let cg = Manager::new(&layout, format!("{}/l", f.cgroup_parent)).unwrap();
    assert_eq!(read(&cg, "memory.max"), "67108864");
    assert_eq!(read(&cg, "memory.low"), "33554432");
    assert_eq!(read(&cg, "memory.swap.max"), "67108864");
    assert_eq!(read(&cg, "pids.max"), "50");
    assert_eq!(read(&cg, "cpu.max"), "50000 100000");
    assert_eq!(read(&cg, "cpu.weight"), "39");
    assert_eq!(cg.procs().unwrap(), vec![pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(own.trim(), format!("0::{}/l", f.cgroup_parent));
    let s = cg.stats().unwrap();
    assert_eq!(s.memory.limit, Some(67108864));
    assert_eq!(s.pids.limit, Some(50));
    assert!(s.pressure.is_some(), "PSI expected on v2");
    f.rt.start("l").unwrap();
    f.rt.pause("l").unwrap();
    assert_eq!(read(&cg, "cgroup.freeze"), "1");
    assert!(f.rt.state("l").unwrap().paused);
    f.rt.resume("l").unwrap();
    f.rt.delete("l", true).unwrap();
    assert_eq!(berth_runtime::wait(pid).unwrap(), 128 + 9);
    assert!(!cg.exists());
}

#[test]
fn memory_limit_kills_and_is_counted() {
    if !v2() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config(
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 16777216, "swap": 16777216});
    let (pid, _out) = f.create_captured("oom", &cfg).unwrap();
    f.rt.start("oom").unwrap();
    let code = berth_runtime::wait(pid).unwrap();
    let s = f.rt.stats("oom").unwrap();
    assert_eq!(code, 128 + 9, "expected an OOM kill");
    assert!(s.memory.oom_kills >= 1, "{:?}", s.memory);
    f.rt.delete("oom", true).unwrap();
}

#[test]
fn pids_limit_stops_forks() {
    if !v2() {
        return;
    }
    let f = Fixture::new();
    let mut cfg = f.config(
        "pl",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait; echo end",
        ],
    );
    cfg["linux"]["resources"]["pids"] = serde_json::json!({"limit": 4});
    let (_code, out) = f.run("pl", &cfg).unwrap();
    assert!(out.contains("can't fork"), "{out}");
}

#[test]
fn device_rules_are_enforced_by_ebpf() {
    if !v2() {
        return;
    }
    let f = Fixture::new();
    // /dev/kmsg exists in the container, but the rules (deny all + the
    // defaults) do not allow it; /dev/null is allowed.
    let mut cfg = f.config(
        "dev",
        &[
            "sh",
            "-c",
            "echo hi > /dev/null && echo null-ok; head -c1 /dev/kmsg && echo kmsg-open",
        ],
    );
    cfg["linux"]["devices"] = serde_json::json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}]);
    let (_code, out) = f.run("dev", &cfg).unwrap();
    assert!(out.contains("null-ok"), "{out}");
    assert!(!out.contains("kmsg-open"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
}
