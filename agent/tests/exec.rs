//! Exec over a WebSocket with a real pty: it joins the container's
//! namespaces and cgroup, resizes, reports the exit code; 409 when the
//! container is stopped. Needs root.

mod common;

use std::time::Duration;

use common::{TestAgent, is_root, skip};
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
