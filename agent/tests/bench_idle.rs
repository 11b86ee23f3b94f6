//! Benchmark (run by bench/agent.sh, not part of the test suite): 200 idle
//! containers under one agent binary, whose own CPU time and RSS are
//! measured while it samples them every second for 60 s.

mod common;

use std::time::{Duration, Instant};

use berth_testkit::as_f64;
use common::{BinAgent, TestAgent, is_root, skip};
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// A `kB` field of /proc/<pid>/status.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/agent.sh runs it in release mode"]
async fn idle_containers_cost_the_agent_little() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root");
        return Ok(());
    }
    let n = env_or("BENCH_CONTAINERS", 200);
    let secs = env_or("BENCH_SECONDS", 60);
    let mut setup = TestAgent::start("bench").await?;
    setup.import_busybox().await?;
    setup.stop_serving().await;
    let key = setup.key.clone();
    let agent = BinAgent::spawn(&setup).await?;
    let agent_pid = agent.child.id();

    let t = Instant::now();
    for i in 0..n {
        let r = agent
            .client
            .post(format!("{}/v1/containers?start=true", agent.url))
            .bearer_auth(key.token())
            .json(&json!({"name": format!("idle-{i}"), "image": "busybox",
                          "cmd": ["sleep", "86400"], "network": "none",
                          "limits": {"memory_bytes": 16u64 << 20}}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "container {i}: {}", r.text().await?);
    }
    let created = t.elapsed();
    let (_, list) = agent.get_json(&key, "/v1/containers?state=running").await?;
    anyhow::ensure!(
        list.as_array().map(|a| a.len() as u64) == Some(n),
        "not all running"
    );
    // Let start-up settle, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100);
    let tick = as_f64(u64::try_from(tick)?);
    let c0 = cpu_ticks(agent_pid);
    let t0 = Instant::now();
    let mut rss = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        rss.push(rss_kib(agent_pid));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let c1 = cpu_ticks(agent_pid);
    let wall = t0.elapsed().as_secs_f64();
    let cpu_pct = as_f64(c1.saturating_sub(c0)) / tick / wall * 100.0;
    let rss_max = as_f64(rss.iter().max().copied().unwrap_or(0)) / 1024.0;
    let rss_mean = as_f64(rss.iter().sum::<u64>()) / as_f64(rss.len().max(1) as u64) / 1024.0;
    let (_, samples) = agent.get_json(&key, "/v1/containers/idle-0/stats").await?;
    let prom = agent
        .client
        .get(format!("{}/metrics", agent.url))
        .bearer_auth(key.token())
        .send()
        .await?
        .text()
        .await?;
    let round = prom
        .lines()
        .find_map(|l| l.strip_prefix("berth_agent_sample_round_seconds "))
        .unwrap_or("?")
        .to_string();
    // libtest's "test … " has no newline yet: start a line of our own.
    println!();
    println!(
        "containers              {n} (created and started in {:.1} s, {:.0} ms each)",
        created.as_secs_f64(),
        created.as_secs_f64() * 1000.0 / as_f64(n)
    );
    println!("measured                {wall:.0} s of 1 s sampling");
    println!("agent CPU               {cpu_pct:.2} % of one core (aim < 2 %)");
    println!("agent RSS               mean {rss_mean:.1} MiB, max {rss_max:.1} MiB (aim < 30 MB)");
    println!(
        "agent RSS at the end    {:.1} MiB: {:.1} anonymous (heap, stacks), {:.1} file (the binary's pages)",
        as_f64(rss_kib(agent_pid)) / 1024.0,
        as_f64(status_kib(agent_pid, "RssAnon:")) / 1024.0,
        as_f64(status_kib(agent_pid, "RssFile:")) / 1024.0
    );
    // PSS: shared pages (the binary's, mapped by every monitor too) count
    // by their share: what this process really adds.
    let pss_kib: u64 = std::fs::read_to_string(format!("/proc/{agent_pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "agent PSS at the end    {:.1} MiB (shared pages by their share)",
        as_f64(pss_kib) / 1024.0
    );
    println!(
        "agent threads           {}",
        std::fs::read_dir(format!("/proc/{agent_pid}/task"))?.count()
    );
    println!("one sampling round      {round} s");
    println!(
        "history of idle-0       {} samples",
        samples.as_array().map(|a| a.len()).unwrap_or(0)
    );
    let data_dir = setup.config.data_dir.to_string_lossy().to_string();
    let is_monitor = |pid: &u32| {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        args.get(1) == Some(&b"monitor".as_slice())
            && String::from_utf8_lossy(&cmd).contains(&data_dir)
    };
    let mon_rss: u64 = std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(is_monitor)
        .map(rss_kib)
        .sum();
    println!(
        "monitors' RSS           {:.1} MiB in all, {:.0} KiB each",
        as_f64(mon_rss) / 1024.0,
        as_f64(mon_rss) / as_f64(n)
    );
    Ok(())
}
