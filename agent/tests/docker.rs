//! The Docker bridge against a real dockerd (Debian's docker.io) that the
//! test starts with its own data root, exec root and socket, no bridge and
//! no iptables rules, and containers under its own cgroup parent; a busybox
//! image comes in with `docker load`. Everything it made is removed after.
//! Needs root and dockerd.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestAgent, is_root, skip};
use serde_json::json;

struct Dockerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    cgroup_parent: String,
}

impl Dockerd {
    fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "berth-dockerd-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("docker.sock");
        let cgroup_parent = common::test_cgroup_parent("docker");
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        let child = Command::new("dockerd")
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
            ])
            .arg("--cgroup-parent")
            .arg(&cgroup_parent)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let d = Self {
            child,
            dir,
            socket,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d
            .docker(&["version"])
            .map(|o| o.status.success())
            .unwrap_or(false)
        {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "dockerd did not come up: {}",
                    std::fs::read_to_string(d.dir.join("dockerd.log"))?
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(d)
    }

    fn docker(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .output()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", "dk", "made-by-docker"]);
        let pid = berth_testkit::pid(self.child.id());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its containerd, shims and containers, if any survived.
        let needle = self.dir.to_string_lossy().to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        common::remove_cgroups(&self.cgroup_parent);
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut mps: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| m.starts_with(&needle))
                .collect();
            mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mps {
                let _ = nix::mount::umount2(Path::new(m), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_containers_through_the_same_api() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (dockerd)");
        return Ok(());
    }
    if Command::new("dockerd").arg("--version").output().is_err() {
        skip("dockerd is not installed (apt-get install docker.io)");
        return Ok(());
    }
    // Without an engine, nothing about Docker shows.
    let plain = TestAgent::start("nodocker").await?;
    let (_, info) = plain.get_json("/v1/info").await?;
    assert_eq!(info["runtimes"], json!(["berth"]));
    let (s, p) = plain
        .post_json(
            "/v1/containers",
            &json!({"image": "busybox", "runtime": "docker"}),
        )
        .await?;
    assert_eq!(s, 422, "{p}");
    drop(plain);

    let dockerd = Dockerd::start()?;
    let tar = common::busybox_tar()?;
    let out = dockerd.docker(&["load", "-i", &tar.to_string_lossy()])?;
    assert!(
        out.status.success(),
        "docker load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One made with the docker CLI, which the agent must show too.
    let out = dockerd.docker(&[
        "create",
        "--name",
        "made-by-docker",
        "--network",
        "none",
        "busybox",
        "true",
    ])?;
    assert!(
        out.status.success(),
        "docker create: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tmp = Arc::new(
        tempfile::Builder::new()
            .prefix("berth-agent-test-")
            .tempdir()?,
    );
    let socket = dockerd.socket.clone();
    let agent =
        TestAgent::start_with("docker", tmp, None, move |c| c.docker_socket = socket).await?;
    let (_, info) = agent.get_json("/v1/info").await?;
    assert_eq!(info["runtimes"], json!(["berth", "docker"]));

    let (s, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"name": "dk", "image": "busybox", "runtime": "docker", "network": "none",
                    "cmd": ["sh", "-c", "echo hello-docker; echo oops >&2; sleep 600"],
                    "limits": {"memory_bytes": 64u64 << 20}, "labels": {"app": "x"}, "restart": "on-failure:3"}),
        )
        .await?;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["name"], "dk");
    let id = c["id"].as_str().unwrap().to_string();

    let (_, list) = agent.get_json("/v1/containers").await?;
    let items = list.as_array().unwrap();
    let dk = items
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("dk listed");
    assert_eq!(dk["runtime"], "docker");
    assert_eq!(dk["state"], "running");
    assert_eq!(dk["limits"]["memory_bytes"], 64u64 << 20);
    assert_eq!(dk["labels"]["app"], "x");
    assert_eq!(dk["restart"], "on-failure:3");
    let other = items
        .iter()
        .find(|c| c["name"] == "made-by-docker")
        .expect("CLI-made container listed");
    assert_eq!(other["state"], "created");
    let (_, filtered) = agent.get_json("/v1/containers?label=app=x").await?;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    // Logs: both lines, each on its stream (waiting until the second one
    // is there).
    common::wait_until("dk's two log lines", Duration::from_secs(20), || async {
        agent
            .get_json("/v1/containers/dk/logs")
            .await
            .is_ok_and(|(_, l)| l.as_array().is_some_and(|a| a.len() >= 2))
    })
    .await?;
    let (s, logs) = agent.get_json("/v1/containers/dk/logs").await?;
    assert_eq!(s, 200);
    let lines: Vec<(String, String)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().into(),
                l["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        lines.contains(&("stdout".into(), "hello-docker".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stderr".into(), "oops".into())),
        "{lines:?}"
    );

    // Stats: sampled every second into the same history as Berth's own
    // (read from its cgroup), by name or id, and streamed.
    let deadline = Instant::now() + Duration::from_secs(15);
    let history = loop {
        let (s, stats) = agent.get_json("/v1/containers/dk/stats?window=1h").await?;
        assert_eq!(s, 200, "{stats}");
        let v = stats.as_array().unwrap().clone();
        if v.len() >= 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "no history for dk: {stats}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for st in &history {
        assert_eq!(st["memory_limit_bytes"], 64u64 << 20, "{st}");
        assert!(st["pids"].as_u64().unwrap() >= 1, "{st}");
        assert!(st["memory_bytes"].as_u64().unwrap() > 0, "{st}");
    }
    let times: Vec<&str> = history.iter().map(|s| s["t"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let (_, by_id) = agent
        .get_json(&format!("/v1/containers/{}/stats?window=1h", &id[..12]))
        .await?;
    assert!(by_id.as_array().unwrap().len() >= history.len(), "{by_id}");
    let (s, day) = agent.get_json("/v1/containers/dk/stats?window=24h").await?;
    assert_eq!(s, 200, "{day}");
    {
        let mut r = agent
            .req(reqwest::Method::GET, "/v1/containers/dk/stats/stream")
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let mut got = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !got.contains("\n\n") && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(3), r.chunk()).await {
                Ok(Ok(Some(b))) => got.push_str(&String::from_utf8_lossy(&b)),
                _ => break,
            }
        }
        let data = got
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("no stats event: {got:?}"));
        let v: serde_json::Value = serde_json::from_str(data)?;
        assert_eq!(v["memory_limit_bytes"], 64u64 << 20, "{v}");
    }
    assert_eq!(
        agent
            .get_json("/v1/containers/nosuch/stats/stream")
            .await?
            .0,
        404
    );

    // Exec, with and without a tty.
    {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        let mut ws = agent
            .ws("/v1/containers/dk/exec?cmd=sh&cmd=-c&cmd=echo%20in-docker%3B%20exit%203&tty=false")
            .await?;
        let (out, exit) = common::exec_output(&mut ws).await?;
        assert!(out.contains("in-docker"), "{out:?}");
        assert_eq!(exit, Some(3), "{out:?}");
        let mut ws = agent
            .ws("/v1/containers/dk/exec?cmd=/bin/sh&tty=true")
            .await?;
        ws.send(Message::Text(
            json!({"resize": [90, 30]}).to_string().into(),
        ))
        .await?;
        // dockerd applies the resize on its own time: the shell waits for
        // it (up to 10 s) instead of the test sleeping a guess. The size is
        // spelled as sums so that the tty's echo of this line cannot
        // satisfy the check below.
        ws.send(Message::Binary(
            b"i=0; while [ \"$(stty size)\" != \"$((29+1)) $((89+1))\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; stty size; exit 4\n"
                .to_vec()
                .into(),
        ))
        .await?;
        let (out, exit) = common::exec_output(&mut ws).await?;
        assert!(out.contains("30 90"), "{out:?}");
        assert_eq!(exit, Some(4), "{out:?}");
    }

    // Actions and their state rules.
    assert_eq!(agent.post("/v1/containers/dk/start").await?.0, 409);
    let (s, v) = agent.post("/v1/containers/dk/pause").await?;
    assert_eq!((s, v["state"].as_str()), (200, Some("paused")), "{v}");
    let (s, v) = agent.post("/v1/containers/dk/unpause").await?;
    assert_eq!((s, v["state"].as_str()), (200, Some("running")), "{v}");
    let (s, v) = agent.post("/v1/containers/dk/stop?timeout=1").await?;
    assert_eq!((s, v["state"].as_str()), (200, Some("stopped")), "{v}");
    assert_eq!(agent.post("/v1/containers/dk/stop").await?.0, 409);
    let (s, v) = agent.post(&format!("/v1/containers/{id}/start")).await?;
    assert_eq!((s, v["state"].as_str()), (200, Some("running")), "{v}");
    let (s, v) = agent.post("/v1/containers/dk/restart?timeout=1").await?;
    assert_eq!((s, v["state"].as_str()), (200, Some("running")), "{v}");
    let (s, v) = agent.post("/v1/containers/dk/kill?signal=KILL").await?;
    assert_eq!(s, 200, "{v}");
    assert_eq!(agent.delete("/v1/containers/made-by-docker").await?, 204);
    assert_eq!(agent.delete("/v1/containers/dk?force=true").await?, 204);
    assert_eq!(agent.get_json("/v1/containers/dk").await?.0, 404);
    Ok(())
}
