//! Containers outlive their agent: SIGKILL the agent binary while a
//! container prints a counter every 50 ms, start it again, and check the
//! same pid still runs and the log has no gap; a container that ended while
//! the agent was away is reported with its exit code. Needs root.

mod common;

use std::time::Duration;

use common::{BinAgent, ServerKey, TestAgent, is_root, skip, wait_until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_the_agent_loses_no_container_and_no_log_line() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let mut setup = TestAgent::start("survive").await?;
    setup.import_busybox().await?;
    setup.stop_serving().await;
    let key = &setup.key;

    let mut agent = BinAgent::spawn(&setup).await?;
    let post = |path: &str, body: serde_json::Value| {
        agent
            .client
            .post(format!("{}{path}", agent.url))
            .bearer_auth(key.token())
            .json(&body)
            .send()
    };
    let r = post(
        "/v1/containers?start=true",
        json!({"name": "counter", "image": "busybox", "network": "none",
               "cmd": ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); usleep 50000; done"]}),
    )
    .await?;
    assert_eq!(r.status(), 201, "{}", r.text().await?);
    let r = post(
        "/v1/containers?start=true",
        json!({"name": "short", "image": "busybox", "network": "none", "cmd": ["sh", "-c", "sleep 1; exit 7"]}),
    )
    .await?;
    assert_eq!(r.status(), 201, "{}", r.text().await?);
    let (_, before) = agent.get_json(key, "/v1/containers/counter").await?;
    let pid = before["pid"].as_u64().expect("a pid");
    let (_, short) = agent.get_json(key, "/v1/containers/short").await?;
    let short_pid = short["pid"].as_u64().expect("a pid");
    // The counter has printed a few lines the agent logged.
    wait_until(
        "the counter's first lines in the log",
        Duration::from_secs(20),
        || async { log_numbers(&agent, key).await.len() >= 5 },
    )
    .await?;
    let logged_before = log_numbers(&agent, key).await.len();

    agent.kill9();
    let killed = std::time::Instant::now();
    // While the agent is dead: "short" exits (after its 1 s), the counter
    // goes on.
    wait_until("\"short\" to exit", Duration::from_secs(20), || async {
        !std::path::Path::new(&format!("/proc/{short_pid}")).exists()
    })
    .await?;
    // The agent stays away a second at least (about 20 lines of the
    // counter): what is waited for here is wall-clock time itself.
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(killed.elapsed())).await;
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with its agent"
    );

    let agent = BinAgent::spawn(&setup).await?;
    let (status, after) = agent.get_json(key, "/v1/containers/counter").await?;
    assert_eq!(status, 200);
    assert_eq!(after["state"], "running", "{after}");
    assert_eq!(
        after["pid"].as_u64(),
        Some(pid),
        "re-adopted with the same pid"
    );
    let (_, short) = agent.get_json(key, "/v1/containers/short").await?;
    assert_eq!(short["state"], "stopped", "{short}");
    assert_eq!(short["exit_code"], 7, "{short}");

    // The lines printed while the agent was away (a second at least, 20
    // lines every 50 ms) reach the log, with none missing.
    wait_until(
        "the lines printed while the agent was dead in the log",
        Duration::from_secs(20),
        || async { log_numbers(&agent, key).await.len() > logged_before + 20 },
    )
    .await?;
    let nums = log_numbers(&agent, key).await;
    assert_eq!(nums[0], 0);
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap in the log: {} then {}", w[0], w[1]);
    }

    // The re-adopted container still obeys: stop ends it and is seen.
    let r = agent
        .client
        .post(format!(
            "{}/v1/containers/counter/stop?timeout=1",
            agent.url
        ))
        .bearer_auth(key.token())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await?;
    assert_eq!(v["state"], "stopped", "{v}");
    Ok(())
}

/// The counter's numbers in the agent's log, in order.
async fn log_numbers(agent: &BinAgent, key: &ServerKey) -> Vec<u64> {
    let Ok((_, logs)) = agent.get_json(key, "/v1/containers/counter/logs").await else {
        return Vec::new();
    };
    logs.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["text"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
