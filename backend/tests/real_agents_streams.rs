//! The server's shared streams against REAL `berth-agent` processes: many
//! viewers of one host's live metrics cost the agent one stream (counted by
//! the agent itself), and the multi-host stats stream labels each sample
//! with the host it came from. Every agent, container and viewer is cleaned
//! up by its guard, even when an assertion fails.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::real_agent::{Served, agent_bin, busybox_tar, prom_value};
use common::wait_until;
use futures::StreamExt;
use serde_json::{Value, json};

/// The data events of one SSE response, read as they come.
struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Sse {
    fn new(r: reqwest::Response) -> Self {
        Sse {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next `data:` event as JSON; panics when none comes `within`.
    async fn next_data(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return serde_json::from_str(data)
                        .unwrap_or_else(|e| panic!("{data} is not JSON: {e}"));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}"))
                .expect("the stream goes on")
                .expect("a chunk");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The agent's count of live host-metrics streams it serves.
const HOST_STREAMS: &str = "berth_agent_streams_open{stream=\"host\"}";

/// 20 viewers of one host's live metrics, all served by ONE upstream: the
/// real agent's own gauge of open streams says 1 while all 20 read samples
/// (it would say 20 if each viewer had its own), and 0 again once they
/// leave. (Counting TCP connections would not tell: the server speaks h2 to
/// the agent, so any number of streams share one connection.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_viewers_of_a_real_agent_share_one_upstream() {
    let Some(bin) = agent_bin() else { return };
    let s = Served::start(|_| {}).await;
    let owner = s.t.owner().await;
    let a = s.join_agent(&owner, &bin, "shared").await;
    let streams_at_agent = || async {
        let text = s.agent_metrics(&a).await;
        prom_value(&text, HOST_STREAMS).unwrap_or_else(|| panic!("no {HOST_STREAMS} in:\n{text}"))
    };
    assert_eq!(streams_at_agent().await, 0.0, "nobody watches yet");

    let url = format!(
        "{}/api/v1/hosts/{}/metrics/stream",
        s.http_base(),
        a.host_id
    );
    let http = reqwest::Client::new();
    let answers =
        futures::future::join_all((0..20).map(|_| http.get(&url).bearer_auth(&owner.token).send()))
            .await;
    let mut viewers: Vec<Sse> = answers
        .into_iter()
        .map(|r| {
            let r = r.expect("viewer connects");
            assert_eq!(r.status().as_u16(), 200);
            assert_eq!(r.headers()["content-type"], "text/event-stream");
            Sse::new(r)
        })
        .collect();

    // Every viewer gets the agent's samples (one a second), twice over so
    // that each has live ones, not only the replayed latest.
    for round in 0..2 {
        let samples = futures::future::join_all(
            viewers
                .iter_mut()
                .map(|v| v.next_data(Duration::from_secs(15))),
        )
        .await;
        for (i, sample) in samples.iter().enumerate() {
            assert!(
                sample["memory_total_bytes"].as_u64().is_some_and(|m| m > 0)
                    && sample["t"].is_string(),
                "viewer {i}, round {round}: not a host sample: {sample}"
            );
        }
    }
    let at_agent = streams_at_agent().await;
    eprintln!("20 viewers: the agent serves {at_agent} host stream(s)");
    assert_eq!(at_agent, 1.0, "20 viewers must share one upstream");
    assert_eq!(s.t.state.streams.open_streams(), 1);

    // All leave: the upstream closes, at the agent too.
    drop(viewers);
    wait_until(
        "the agent's stream to close",
        Duration::from_secs(15),
        || async { streams_at_agent().await == 0.0 },
    )
    .await;
    wait_until(
        "the server to forget the stream",
        Duration::from_secs(5),
        || async { s.t.state.streams.open_streams() == 0 },
    )
    .await;
}

/// The memory limit of the container on host `i`: each host's container
/// has its own, so a sample's limit tells which host it came from.
fn limit_of(i: usize) -> u64 {
    (48 + 8 * i as u64) << 20
}

/// Three real agents, each running a busybox container named `web` (the
/// same name on every host) with its own memory limit; one multi-host stats
/// stream delivers samples of all three, each labelled with the host whose
/// container it measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_host_stats_stream_labels_samples_of_real_hosts() {
    let Some(bin) = agent_bin() else { return };
    let Some(tar) = busybox_tar() else { return };
    let s = Served::start(|_| {}).await;
    let owner = s.t.owner().await;
    let mut agents = Vec::new();
    for i in 0..3 {
        agents.push(s.join_agent(&owner, &bin, &format!("stats-{i}")).await);
    }
    for (i, a) in agents.iter().enumerate() {
        let r = s.import_file(&owner.token, &a.host_id, &tar).await;
        assert_eq!(r.status, 201, "import on {}: {}", a.name, r.text);
        let spec = json!({
            "name": "web", "image": "busybox", "cmd": ["sleep", "600"],
            "limits": {"memory_bytes": limit_of(i), "pids": 16}, "network": "none"
        });
        s.run_container(&owner.token, &a.host_id, spec).await;
    }
    let host_index: HashMap<String, usize> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.host_id.clone(), i))
        .collect();
    let query: Vec<String> = agents
        .iter()
        .map(|a| format!("container={}/web", a.host_id))
        .collect();
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/stats/stream?{}",
            s.http_base(),
            query.join("&")
        ))
        .bearer_auth(&owner.token)
        .send()
        .await
        .expect("stats stream");
    assert_eq!(r.status().as_u16(), 200);
    let mut events = Sse::new(r);

    // Two samples of every host (the first may be the replayed latest).
    let mut seen = [0usize; 3];
    while seen.iter().any(|n| *n < 2) {
        let ev = events.next_data(Duration::from_secs(20)).await;
        assert!(
            ev.get("problem").is_none() && ev.get("ended").is_none(),
            "a host's stream failed: {ev} (seen {seen:?})"
        );
        let host = ev["host"].as_str().expect("host label");
        let i = *host_index
            .get(host)
            .unwrap_or_else(|| panic!("a sample of an unknown host: {ev}"));
        assert_eq!(ev["container"], "web", "{ev}");
        assert_eq!(
            ev["sample"]["memory_limit_bytes"].as_u64(),
            Some(limit_of(i)),
            "a sample labelled {} ({}) measured another host's container: {ev}",
            agents[i].name,
            host
        );
        seen[i] += 1;
    }
    eprintln!("samples per host: {seen:?}");
}
