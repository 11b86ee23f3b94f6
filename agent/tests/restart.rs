//! Restart policies: no, on-failure[:N] with back-off, always,
//! unless-stopped; honoured after a host reboot (simulated: every process,
//! mount and runtime state of the containers gone, another boot id) when
//! the agent starts. Needs root.

mod common;

use std::time::{Duration, Instant};

use common::{BinAgent, TestAgent, is_root, skip};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_decide_what_comes_back() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("restart").await?;
    agent.import_busybox().await?;
    for (name, cmd, restart) in [
        ("never", "exit 1", "no"),
        ("twice", "exit 1", "on-failure:2"),
        ("clean", "exit 0", "on-failure"),
        ("loop", "sleep 0.3", "always"),
    ] {
        let spec = json!({"name": name, "image": "busybox", "network": "none",
                          "cmd": ["sh", "-c", cmd], "restart": restart});
        let (s, v) = agent.post_json("/v1/containers?start=true", &spec).await?;
        assert_eq!(s, 201, "{name}: {v}");
    }
    // on-failure:2 comes back exactly twice (100 ms, then 200 ms back-off).
    let v = agent
        .wait_for("twice", "restarted twice and stopped", |c| {
            c["restart_count"] == 2 && c["state"] == "stopped"
        })
        .await?;
    assert_eq!(v["exit_code"], 1);
    let v = agent
        .wait_for("loop", "restarted twice", |c| {
            c["restart_count"].as_u64() >= Some(2)
        })
        .await?;
    assert_eq!(v["restart"], "always");
    // "never" and "clean" ran once and ended.
    for (name, code) in [("never", 1), ("clean", 0)] {
        agent
            .wait_for(name, "stopped", |c| {
                c["state"] == "stopped" && c["exit_code"] == code
            })
            .await?;
    }
    // Negative check, not synchronisation: give a wrong restart the chance
    // to happen (a third run of "twice" would follow its 400 ms back-off).
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (name, count) in [("never", 0), ("twice", 2), ("clean", 0)] {
        let (_, v) = agent.get_json(&format!("/v1/containers/{name}")).await?;
        assert_eq!(v["state"], "stopped", "{name}: {v}");
        assert_eq!(v["restart_count"], count, "{name}: {v}");
    }
    // A stop by hand ends `always`.
    let (s, v) = agent.post("/v1/containers/loop/stop?timeout=1").await?;
    assert_eq!(s, 200, "{v}");
    let count = v["restart_count"].as_u64().unwrap();
    // Negative check: longer than the back-off a wrong restart of "loop"
    // would wait (100 ms doubling per quick exit, so far at most 800 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, v) = agent.get_json("/v1/containers/loop").await?;
    assert_eq!(v["state"], "stopped", "{v}");
    assert_eq!(v["restart_count"].as_u64(), Some(count), "{v}");

    // A stop between two runs (waiting out the back-off) cancels the
    // pending restart instead of answering 409.
    let spec = json!({"name": "crashy", "image": "busybox", "network": "none",
                      "cmd": ["sh", "-c", "exit 2"], "restart": "always"});
    let (s, v) = agent.post_json("/v1/containers?start=true", &spec).await?;
    assert_eq!(s, 201, "{v}");
    // After 4 quick failures the next start waits 1.6 s.
    agent
        .wait_for("crashy", "restarted four times", |c| {
            c["restart_count"].as_u64() >= Some(4) && c["state"] == "stopped"
        })
        .await?;
    let (s, v) = agent.post("/v1/containers/crashy/stop?timeout=1").await?;
    assert_eq!(s, 200, "{v}");
    let count = v["restart_count"].as_u64().unwrap();
    // Negative check: the cancelled restart was due 1.6 s after the fourth
    // failure; wait well past it and nothing may have started.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, v) = agent.get_json("/v1/containers/crashy").await?;
    assert_eq!(v["state"], "stopped", "{v}");
    assert_eq!(v["restart_count"].as_u64(), Some(count), "{v}");
    // A second stop: it is not running and nothing is pending.
    let (s, v) = agent.post("/v1/containers/crashy/stop?timeout=1").await?;
    assert_eq!(s, 409, "{v}");
    Ok(())
}

/// Kills every process of a cgroup tree (the container and its monitor die
/// as in a power cut).
fn kill_pid(pid: u64) {
    let pid = u32::try_from(pid).expect("a pid fits in u32");
    let _ = nix::sys::signal::kill(berth_testkit::pid(pid), nix::sys::signal::Signal::SIGKILL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_apply_after_a_reboot() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let mut setup = TestAgent::start("reboot").await?;
    setup.import_busybox().await?;
    setup.stop_serving().await;
    let key = &setup.key;
    let mut agent = BinAgent::spawn(&setup).await?;
    let mut ids = std::collections::BTreeMap::new();
    for (name, restart) in [
        ("web", "always"),
        ("batch", "no"),
        ("svc", "unless-stopped"),
        ("manual", "unless-stopped"),
    ] {
        let r = agent
            .client
            .post(format!("{}/v1/containers?start=true", agent.url))
            .bearer_auth(key.token())
            .json(&json!({"name": name, "image": "busybox", "network": "none",
                          "cmd": ["sleep", "600"], "restart": restart}))
            .send()
            .await?;
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await?;
        ids.insert(name, v["id"].as_str().unwrap().to_string());
    }
    // "manual" is stopped by hand before the reboot: it stays down.
    let r = agent
        .client
        .post(format!("{}/v1/containers/manual/stop?timeout=1", agent.url))
        .bearer_auth(key.token())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let mut old_pids = std::collections::BTreeMap::new();
    for name in ["web", "batch", "svc"] {
        let (_, v) = agent
            .get_json(key, &format!("/v1/containers/{name}"))
            .await?;
        old_pids.insert(name, v["pid"].as_u64().unwrap());
    }

    // The "reboot": agent, monitors and containers die at once; mounts and
    // /run are gone; the boot id changes.
    agent.kill9();
    let paths = setup.config.paths();
    for name in ["web", "batch", "svc"] {
        let dir = paths.container_dir(&ids[name]);
        let started: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("started.json"))?)?;
        kill_pid(started["monitor_pid"].as_u64().unwrap());
        kill_pid(old_pids[name]);
        let mut s = started.clone();
        s["boot_id"] = json!("a-boot-before-this-one");
        std::fs::write(dir.join("started.json"), serde_json::to_vec(&s)?)?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while old_pids
        .values()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(Instant::now() < deadline, "containers did not die");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for id in ids.values() {
        let _ = nix::mount::umount2(
            &paths.container_dir(id).join("rootfs"),
            nix::mount::MntFlags::MNT_DETACH,
        );
    }
    // What the runtime kept in /run would be gone too; its cgroups are
    // emptied by the kill (and removed by the cleanup of the stale state).
    let _ = std::fs::remove_dir_all(&paths.runtime_root);

    let agent = BinAgent::spawn(&setup).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, web) = agent.get_json(key, "/v1/containers/web").await?;
        let (_, svc) = agent.get_json(key, "/v1/containers/svc").await?;
        if web["state"] == "running" && svc["state"] == "running" {
            assert_ne!(web["pid"].as_u64(), Some(old_pids["web"]));
            assert_eq!(web["restart_count"], 1, "{web}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not restarted after the reboot: {web} {svc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, batch) = agent.get_json(key, "/v1/containers/batch").await?;
    assert_eq!(batch["state"], "stopped", "{batch}");
    let (_, manual) = agent.get_json(key, "/v1/containers/manual").await?;
    assert_eq!(manual["state"], "stopped", "{manual}");
    // The restarted one really runs, from a remounted rootfs.
    let (_, web) = agent.get_json(key, "/v1/containers/web").await?;
    let pid = web["pid"].as_u64().unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))?;
    assert_eq!(cmd, "sleep\x00600\x00");
    Ok(())
}
