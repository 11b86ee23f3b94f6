//! Docker's default seccomp profile guards every Berth container and every
//! exec into it: a syscall outside the allowlist (unshare of a user
//! namespace, which needs no capability and so only seccomp stops) fails
//! with EPERM, while ordinary work (shell, pipes, files, sleep, exec) runs.
//! Needs root.

mod common;

use std::time::{Duration, Instant};

use common::{TestAgent, is_root, skip};
use serde_json::json;

/// The container's log as text, one line each.
async fn log_text(agent: &TestAgent, c: &str) -> anyhow::Result<Vec<String>> {
    let (_, logs) = agent.get_json(&format!("/v1/containers/{c}/logs")).await?;
    Ok(logs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_execs_run_under_the_default_profile() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs, seccomp)");
        return Ok(());
    }
    if !std::fs::read_to_string("/proc/self/status")?.contains("Seccomp:") {
        skip("the kernel has no seccomp");
        return Ok(());
    }
    let agent = TestAgent::start("seccomp").await?;
    agent.import_busybox().await?;
    let script = "grep '^Seccomp:' /proc/self/status; \
                  unshare -U true; echo unshare-user=$?; \
                  unshare -n true; echo unshare-net=$?; \
                  mount -t tmpfs none /tmp; echo mount=$?; \
                  echo work=$(seq 1 3 | wc -l); echo data > /tmp/f && cat /tmp/f; \
                  exec sleep 600";
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "guarded", "image": "busybox", "network": "none",
                    "cmd": ["sh", "-c", script]}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let lines = log_text(&agent, "guarded").await?;
        if lines.iter().any(|l| l == "data") {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "the script did not finish: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let has = |want: &str| lines.iter().any(|l| l == want);
    assert!(has("Seccomp:\t2"), "no filter on the init: {lines:?}");
    // A user namespace needs no capability: only the filter refuses it.
    assert!(has("unshare-user=1"), "{lines:?}");
    assert!(has("unshare-net=1"), "{lines:?}");
    assert!(has("mount=1"), "{lines:?}");
    for (what, msg) in [
        ("unshare(0x10000000)", "Operation not permitted"),
        ("unshare(0x40000000)", "Operation not permitted"),
        // busybox's words for EPERM from mount(2).
        ("mount:", "permission denied"),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(what) && l.contains(msg)),
            "{what}: EPERM expected: {lines:?}"
        );
    }
    // Normal work runs.
    assert!(has("work=3") && has("data"), "{lines:?}");
    let (_, v) = agent.get_json("/v1/containers/guarded").await?;
    assert_eq!(v["state"], "running", "{v}");

    // An exec inherits the filter, with and without a tty.
    for tty in ["false", "true"] {
        let mut ws = agent
            .ws(&format!(
                "/v1/containers/guarded/exec?tty={tty}&cmd=sh&cmd=-c&cmd={}",
                "grep%20%27%5ESeccomp%3A%27%20%2Fproc%2Fself%2Fstatus%3B%20unshare%20-U%20true%3B%20echo%20rc%3D%24%3F%3B%20ls%20%2Fbin%2Fsh"
            ))
            .await?;
        let (out, exit) = common::exec_output(&mut ws).await?;
        assert_eq!(exit, Some(0), "tty={tty}: {out:?}");
        assert!(out.contains("Seccomp:\t2"), "tty={tty}: {out:?}");
        assert!(
            out.contains("Operation not permitted"),
            "tty={tty}: {out:?}"
        );
        assert!(out.contains("rc=1"), "tty={tty}: {out:?}");
        assert!(out.contains("/bin/sh"), "tty={tty}: {out:?}");
    }
    assert_eq!(
        agent.delete("/v1/containers/guarded?force=true").await?,
        204
    );
    Ok(())
}
