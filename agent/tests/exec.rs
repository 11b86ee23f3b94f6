//! Exec over a WebSocket with a real pty: it joins the container's
//! namespaces and cgroup, resizes, reports the exit code; 409 when the
//! container is stopped; a terminal exec whose client leaves ends and
//! leaves no process or file behind. Needs root. With
//! BERTH_TEST_OCI_RUNTIME the terminal comes from the runtime's
//! `--console-socket`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestAgent, exec_output, is_root, skip, wait_until};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gets_a_pty_inside_the_container() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("exec").await?;
    agent.import_busybox().await?;
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "target", "image": "busybox", "cmd": ["sleep", "600"],
                    "hostname": "inside", "network": "none", "limits": {"memory_bytes": 64u64 << 20}}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();

    let mut ws = agent
        .ws("/v1/containers/target/exec?cmd=/bin/sh&tty=true")
        .await?;
    ws.send(Message::Text(
        json!({"resize": [100, 40]}).to_string().into(),
    ))
    .await?;
    ws.send(Message::Binary(
        b"tty; stty size; hostname; cat /proc/1/cmdline; echo; grep memory /proc/self/cgroup; echo end-of-output; exit 5\n"
            .to_vec()
            .into(),
    ))
    .await?;
    let mut out = Vec::new();
    let mut exit = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg? {
            Message::Binary(b) => out.extend_from_slice(&b),
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t)?;
                exit = v.get("exit").and_then(|e| e.as_i64());
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&out)
        .replace('\r', "")
        .replace('\0', " ");
    assert_eq!(exit, Some(5), "{text}");
    assert!(text.contains("40 100"), "resize not applied: {text}");
    assert!(
        text.contains("\ninside\n"),
        "not in the container's uts namespace: {text}"
    );
    assert!(
        text.contains("sleep 600"),
        "not in the container's pid namespace: {text}"
    );
    assert!(text.contains(&id), "not in the container's cgroup: {text}");
    assert!(text.contains("end-of-output"), "output cut: {text:?}");

    // Without a tty: pipes, and the output of a one-shot command.
    let mut ws = agent
        .ws("/v1/containers/target/exec?cmd=echo&cmd=piped&tty=false")
        .await?;
    let mut out = Vec::new();
    let mut exit = None;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match msg? {
            Message::Binary(b) => out.extend_from_slice(&b),
            Message::Text(t) => {
                exit = serde_json::from_str::<serde_json::Value>(&t)?["exit"].as_i64()
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(String::from_utf8_lossy(&out), "piped\n");
    assert_eq!(exit, Some(0));

    // Stopped: 409 before any upgrade.
    let (s, _) = agent.post("/v1/containers/target/stop?timeout=1").await?;
    assert_eq!(s, 200);
    let r = agent
        .req(
            reqwest::Method::GET,
            "/v1/containers/target/exec?cmd=/bin/sh",
        )
        .send()
        .await?;
    assert_eq!(r.status(), 409);
    assert_eq!(agent.get_json("/v1/containers/nosuch/exec").await?.0, 404);
    Ok(())
}

/// This process's children, by pid.
fn children() -> BTreeSet<u32> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // The ppid is the 2nd field after the ")" that ends comm.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(me)
        })
        .collect()
}

/// What an exec leaves in the runtime's root: process files, console
/// sockets, pid files and logs.
fn exec_leftovers(oci_root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(oci_root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("exec-") || n.starts_with("console-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_exec_ends_with_its_client_and_leaves_nothing() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("exec-gone").await?;
    agent.import_busybox().await?;
    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "target", "image": "busybox", "cmd": ["sleep", "600"],
                    "network": "none"}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    let before = children();

    let mut ws = agent
        .ws("/v1/containers/target/exec?cmd=/bin/sh&tty=true")
        .await?;
    // The product is printed only by the shell, never by the echo of input.
    ws.send(Message::Binary(
        b"echo ready-$((6*7)); exec sleep 987\n".to_vec().into(),
    ))
    .await?;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&out).contains("ready-42") {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => out.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => anyhow::bail!(
                "no ready line ({other:?}): {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    // The client leaves while `sleep 987` holds the terminal.
    drop(ws);

    let ps = || async {
        let Ok(mut ws) = agent
            .ws("/v1/containers/target/exec?cmd=ps&tty=false")
            .await
        else {
            return String::new();
        };
        exec_output(&mut ws)
            .await
            .map(|(o, _)| o)
            .unwrap_or_default()
    };
    assert!(ps().await.contains("sleep 600"), "ps sees no container");
    wait_until(
        "the exec's process to end",
        Duration::from_secs(20),
        || async { !ps().await.contains("sleep 987") },
    )
    .await?;
    // Nothing of the exec stays with the agent: no child (a runtime, a
    // reaper, a zombie), no file in the runtime's root.
    wait_until(
        "the exec's children to be reaped",
        Duration::from_secs(20),
        || async { children().is_subset(&before) },
    )
    .await?;
    let oci_root = agent.config.paths().oci_root();
    assert_eq!(exec_leftovers(&oci_root), Vec::<String>::new());
    Ok(())
}
