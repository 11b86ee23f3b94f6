//! A real agent over TLS with signed requests: the request-signature rules,
//! and a busybox container's whole life (create, start, stop, kill, delete)
//! checked from /proc and the cgroup files, plus bad input. Needs root.

mod common;

use std::time::Duration;

use berth_api::agent::AgentRequestClaims;
use common::{TestAgent, is_root, skip};
use serde_json::json;

/// Every cgroup directory `pid` is in whose path is `path` (the
/// container's own), over all mounted hierarchies: the v1 ones by their
/// controllers (or name=), the v2 one by the `0::` line. With whether it is
/// the freezer's (v1 `freezer`, or the unified hierarchy).
fn cgroup_dirs(pid: &str, path: &str) -> Vec<(std::path::PathBuf, bool)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // (mount point, fstype, super options) of every cgroup mount.
    let mounts: Vec<(String, String, String)> = info
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mut post = post.split(' ');
            let fstype = post.next()?.to_string();
            let opts = post.nth(1).unwrap_or("").to_string();
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some((pre.split(' ').nth(4)?.to_string(), fstype, opts))
        })
        .collect();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut dirs = Vec::new();
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(p)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if p != path {
            continue;
        }
        let want: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        for (mp, fstype, opts) in &mounts {
            let matches = if want.is_empty() {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && want.iter().all(|c| opts.split(',').any(|o| o == *c))
            };
            if matches {
                let freezer = want.is_empty() || want.contains(&"freezer");
                dirs.push((
                    std::path::Path::new(mp).join(p.trim_start_matches('/')),
                    freezer,
                ));
            }
        }
    }
    dirs
}

/// Is the cgroup at `dir` frozen (v1 freezer.state, v2 cgroup.events)?
fn frozen(dir: &std::path::Path) -> String {
    if let Ok(s) = std::fs::read_to_string(dir.join("freezer.state")) {
        return s.trim().to_string();
    }
    std::fs::read_to_string(dir.join("cgroup.events"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("frozen "))
        .unwrap_or("")
        .to_string()
}

/// How many lines the container's counter (/tmp/ticks) has, read from the
/// host through the init's root.
fn ticks(pid: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/root/tmp/ticks"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

async fn ticks_advance(pid: &str) -> bool {
    let before = ticks(pid);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if ticks(pid) > before {
            return true;
        }
    }
    false
}

fn ns(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_signed_for_this_host_pass() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (the agent makes cgroups and mounts)");
        return Ok(());
    }
    let agent = TestAgent::start("auth").await?;
    let url = format!("{}/v1/info", agent.url);
    let send = |token: Option<String>| {
        let mut r = agent.client.get(&url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let ok = send(Some(agent.key.token())).await?;
    assert_eq!(ok.status(), 200);
    let info: serde_json::Value = ok.json().await?;
    assert_eq!(info["host_id"], agent.key.host_id);

    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iat: i64, exp: i64, iss: &str| AgentRequestClaims {
        iss: iss.into(),
        aud: aud.into(),
        sub: "t".into(),
        iat,
        exp,
    };
    let other = common::ServerKey::new(&agent.key.host_id);
    let cases = [
        (None, "no Authorization"),
        (Some("garbage".to_string()), "malformed"),
        (
            Some(
                agent
                    .key
                    .sign(&claims("another-host", now, now + 60, "berth-server")),
            ),
            "aud",
        ),
        (
            Some(agent.key.sign(&claims(
                &agent.key.host_id,
                now - 400,
                now - 100,
                "berth-server",
            ))),
            "expired",
        ),
        (
            Some(
                agent
                    .key
                    .sign(&claims(&agent.key.host_id, now, now + 3600, "berth-server")),
            ),
            "lifetime",
        ),
        (
            Some(
                agent
                    .key
                    .sign(&claims(&agent.key.host_id, now, now + 60, "someone")),
            ),
            "iss",
        ),
        (Some(other.token()), "signature"),
    ];
    for (token, why) in cases {
        let r = send(token).await?;
        assert_eq!(r.status(), 401, "{why}");
        assert_eq!(
            r.headers()["content-type"].to_str()?,
            "application/problem+json",
            "{why}"
        );
        let p: serde_json::Value = r.json().await?;
        assert!(
            p["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{why}: {p}"
        );
    }
    // An HS256 token (the "alg confusion" trick) is refused too.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(&agent.key.host_id, now, now + 60, "berth-server"),
        &jsonwebtoken::EncodingKey::from_secret(agent.key.public_pem.as_bytes()),
    )?;
    let r = send(Some(hs)).await?;
    assert_eq!(r.status(), 401);

    // After leave, even good tokens are refused.
    let (status, _) = agent.post("/v1/leave").await?;
    assert_eq!(status, 204);
    assert_eq!(send(Some(agent.key.token())).await?.status(), 401);
    assert!(!agent.config.paths().join_file().exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_lifecycle_with_namespaces_and_memory_limit() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("life").await?;
    agent.import_busybox().await?;

    let (status, created) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({
                "name": "sleeper",
                "image": "busybox",
                "cmd": ["sleep", "600"],
                "limits": {"memory_bytes": 64u64 << 20, "pids": 64},
                "network": "none",
                "labels": {"team": "a"}
            }),
        )
        .await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(berth_api::containers::is_container_id(&id));
    assert_eq!(created["name"], "sleeper");

    let (status, c) = agent.get_json("/v1/containers/sleeper").await?;
    assert_eq!(status, 200);
    assert_eq!(c["state"], "running", "{c}");
    assert_eq!(c["host"], agent.key.host_id);
    assert_eq!(c["cmd"], json!(["sleep", "600"]));
    let pid = c["pid"].as_u64().unwrap().to_string();

    // Its own namespaces.
    for n in ["mnt", "uts", "ipc", "pid", "net"] {
        let (mine, theirs) = (ns("self", n), ns(&pid, n));
        assert!(!theirs.is_empty(), "{n}");
        assert_ne!(mine, theirs, "{n} namespace is the host's");
    }
    // "running" is the OCI state after `start`; through runc or crun the
    // init may still be the runtime's own (`runc init`) for a moment
    // before it execs the command: wait for the exec, with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let cmdline = loop {
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))?;
        if cmdline == "sleep\x00600\x00" || std::time::Instant::now() > deadline {
            break cmdline;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(cmdline, "sleep\x00600\x00");

    // Its memory cgroup, with the limit.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let mem = cg
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            (ctrl.split(',').any(|c| c == "memory")
                || (ctrl.is_empty() && !cg.contains(":memory:")))
            .then(|| path.to_string())
        })
        .expect("a memory cgroup line");
    assert_eq!(mem, format!("{}/{id}", agent.config.cgroup_parent), "{cg}");
    // Every hierarchy's directory of the container (checked gone after
    // the delete): at least the memory and freezer ones.
    let dirs = cgroup_dirs(&pid, &mem);
    assert!(
        dirs.iter().any(|(_, freezer)| *freezer),
        "no freezer cgroup in {dirs:?} ({cg})"
    );
    for (d, _) in &dirs {
        assert!(d.is_dir(), "{} missing ({cg})", d.display());
    }
    let v1 = format!("/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup{mem}/memory.max");
    let limit = std::fs::read_to_string(&v1).or_else(|_| std::fs::read_to_string(&v2))?;
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    // Listing with filters.
    let (_, all) = agent
        .get_json("/v1/containers?label=team=a&state=running")
        .await?;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let (_, none) = agent.get_json("/v1/containers?label=team=b").await?;
    assert_eq!(none.as_array().unwrap().len(), 0);
    // A key alone matches any value (what the server's API documents).
    let (_, keyed) = agent.get_json("/v1/containers?label=team").await?;
    assert_eq!(keyed.as_array().unwrap().len(), 1, "{keyed}");
    let (_, none) = agent.get_json("/v1/containers?label=team&label=x").await?;
    assert_eq!(none.as_array().unwrap().len(), 0);

    // Wrong state and bad names.
    let (status, p) = agent.post(&format!("/v1/containers/{id}/start")).await?;
    assert_eq!(status, 409, "{p}");
    let (status, p) = agent
        .post_json(
            "/v1/containers",
            &json!({"name": "sleeper", "image": "busybox"}),
        )
        .await?;
    assert_eq!(status, 409, "{p}");
    assert_eq!(agent.delete("/v1/containers/sleeper").await?, 409);

    // Pause and unpause through the freezer. A process of the container
    // counts (one line in /tmp/ticks every 50 ms): the count stops while
    // paused and goes on after.
    let mut ws = agent
        .ws(&format!(
            "/v1/containers/sleeper/exec?tty=false&cmd=sh&cmd=-c&cmd={}",
            "while%20true%3B%20do%20echo%20x%20%3E%3E%20%2Ftmp%2Fticks%3B%20sleep%200.05%3B%20done%20%3C%2Fdev%2Fnull%20%3E%2Fdev%2Fnull%202%3E%261%20%26"
        ))
        .await?;
    let (out, exit) = common::exec_output(&mut ws).await?;
    assert_eq!(exit, Some(0), "{out:?}");
    assert!(ticks_advance(&pid).await, "the counter does not count");
    let freezer = &dirs.iter().find(|(_, f)| *f).expect("freezer").0;
    let (status, c) = agent.post("/v1/containers/sleeper/pause").await?;
    assert_eq!((status, c["state"].as_str()), (200, Some("paused")), "{c}");
    let state = frozen(freezer);
    assert!(
        state == "FROZEN" || state == "frozen 1",
        "{}: {state:?}",
        freezer.display()
    );
    // The freezer says every task has stopped (FROZEN / "frozen 1" are only
    // reported then), so no tick can be in flight: nothing more may come.
    assert!(!ticks_advance(&pid).await, "the paused container counts on");
    let (status, c) = agent.post("/v1/containers/sleeper/unpause").await?;
    assert_eq!((status, c["state"].as_str()), (200, Some("running")));
    let state = frozen(freezer);
    assert!(
        state == "THAWED" || state == "frozen 0",
        "{}: {state:?}",
        freezer.display()
    );
    assert!(ticks_advance(&pid).await, "the counter did not resume");

    // Stop: sleep as pid 1 ignores SIGTERM, so SIGKILL follows the timeout.
    let t = std::time::Instant::now();
    let (status, c) = agent.post("/v1/containers/sleeper/stop?timeout=1").await?;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "stopped");
    assert_eq!(c["exit_code"], 137);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            s != cmdline
        }
    );
    let (status, _) = agent.post("/v1/containers/sleeper/stop").await?;
    assert_eq!(status, 409);

    // Start again, then kill with a signal.
    let (status, c) = agent.post("/v1/containers/sleeper/start").await?;
    assert_eq!((status, c["state"].as_str()), (200, Some("running")), "{c}");
    assert_ne!(c["pid"].as_u64().unwrap().to_string(), pid);
    let (status, c) = agent
        .post("/v1/containers/sleeper/kill?signal=KILL")
        .await?;
    assert_eq!(status, 200, "{c}");
    let c = agent
        .wait_for("sleeper", "stopped", |c| c["state"] == "stopped")
        .await?;
    assert_eq!(c["exit_code"], 137);
    let (status, _) = agent
        .post("/v1/containers/sleeper/kill?signal=NOPE")
        .await?;
    assert_eq!(status, 400);

    // Delete: gone, and its cgroup too.
    assert_eq!(agent.delete("/v1/containers/sleeper").await?, 204);
    let (status, p) = agent.get_json("/v1/containers/sleeper").await?;
    assert_eq!(status, 404, "{p}");
    for (d, _) in &dirs {
        assert!(!d.exists(), "{} is left after the delete", d.display());
    }
    assert!(!agent.config.paths().container_dir(&id).exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_exit_codes_and_force_delete() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let agent = TestAgent::start("logs").await?;
    agent.import_busybox().await?;
    let (status, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({
                "image": "busybox",
                "cmd": ["sh", "-c", "echo out-$GREETING; echo err >&2; printf 'bad \\377 byte\\n'; exit 3"],
                "env": {"GREETING": "hi"},
                "user": "www",
                "workdir": "/tmp",
                "network": "none"
            }),
        )
        .await?;
    assert_eq!(status, 201, "{c}");
    let name = c["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("busybox-"), "{name}");
    let v = agent
        .wait_for(&name, "stopped", |c| c["state"] == "stopped")
        .await?;
    assert_eq!(v["exit_code"], 3, "{v}");
    let (status, logs) = agent
        .get_json(&format!("/v1/containers/{name}/logs"))
        .await?;
    assert_eq!(status, 200);
    let lines: Vec<(String, String)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_string(),
                l["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        lines.contains(&("stdout".into(), "out-hi".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stderr".into(), "err".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stdout".into(), "bad \u{fffd} byte".into())),
        "{lines:?}"
    );
    let (_, tail) = agent
        .get_json(&format!("/v1/containers/{name}/logs?tail=1"))
        .await?;
    assert_eq!(tail.as_array().unwrap().len(), 1);

    // user, workdir: id and pwd inside.
    let (status, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"image": "busybox", "cmd": ["sh", "-c", "id -u; id -g; id -G; pwd; hostname"],
                    "user": "www", "workdir": "/tmp", "hostname": "box1", "network": "none"}),
        )
        .await?;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    agent
        .wait_for(&id, "stopped", |c| c["state"] == "stopped")
        .await?;
    let (_, logs) = agent.get_json(&format!("/v1/containers/{id}/logs")).await?;
    let texts: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["33", "33", "33 50", "/tmp", "box1"]);

    // Follow: SSE that ends when the container stops.
    let (status, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"image": "busybox", "cmd": ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done"], "network": "none"}),
        )
        .await?;
    assert_eq!(status, 201);
    let id = c["id"].as_str().unwrap().to_string();
    let body = tokio::time::timeout(
        Duration::from_secs(20),
        agent
            .req(
                reqwest::Method::GET,
                &format!("/v1/containers/{id}/logs?follow=true"),
            )
            .send()
            .await?
            .text(),
    )
    .await??;
    for n in ["n1", "n2", "n3"] {
        assert!(body.contains(&format!("\"text\":\"{n}\"")), "{body}");
    }
    assert!(body.trim_end().ends_with("event: end\ndata: {}"), "{body}");

    // Force delete of a running container.
    let (status, c) = agent
        .post_json(
            "/v1/containers?start=true",
            &json!({"image": "busybox", "cmd": ["sleep", "600"], "network": "none"}),
        )
        .await?;
    assert_eq!(status, 201);
    let id = c["id"].as_str().unwrap();
    assert_eq!(agent.delete(&format!("/v1/containers/{id}")).await?, 409);
    assert_eq!(
        agent
            .delete(&format!("/v1/containers/{id}?force=true"))
            .await?,
        204
    );
    assert_eq!(
        agent.get_json(&format!("/v1/containers/{id}")).await?.0,
        404
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_problem() -> anyhow::Result<()> {
    if !is_root() {
        skip("needs root (the agent makes cgroups and mounts)");
        return Ok(());
    }
    let agent = TestAgent::start("bad").await?;
    agent.import_busybox().await?;
    let raw = |body: &'static str| {
        agent
            .req(reqwest::Method::POST, "/v1/containers")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, want) in [
        ("{not json", "malformed JSON"),
        (r#"{"image": 5}"#, "invalid body"),
        (r#"{"image": "busybox", "cmd": "sleep 1"}"#, "invalid body"),
        (r#"{"image": "busybox", "memory": 1}"#, "unknown field"),
        // A container's own process never gets a terminal (config.json has
        // terminal: false, for every runtime): asking for one is refused.
        (r#"{"image": "busybox", "tty": true}"#, "unknown field"),
    ] {
        let r = raw(body).await?;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: serde_json::Value = r.json().await?;
        assert!(p["detail"].as_str().unwrap().contains(want), "{body}: {p}");
    }
    for (spec, status, want) in [
        (
            json!({"image": "busybox", "limits": {"memory_bytes": 1000}}),
            422,
            "memory_bytes",
        ),
        (json!({"image": "nosuch:image"}), 422, "not on this host"),
        (
            json!({"image": "busybox", "name": "bad/name"}),
            422,
            "invalid container name",
        ),
        (
            json!({"image": "busybox", "network": "container:nosuch"}),
            422,
            "no such container",
        ),
        (
            json!({"image": "busybox", "ports": [{"host_port": 8080, "container_port": 80}], "network": "none"}),
            422,
            "ports",
        ),
        (
            json!({"image": "busybox", "user": "nobody-here", "network": "none"}),
            422,
            "/etc/passwd",
        ),
        (
            json!({"image": "busybox", "mounts": [{"source": "/nonexistent-x", "target": "/x"}]}),
            422,
            "does not exist",
        ),
    ] {
        let (s, p) = agent.post_json("/v1/containers", &spec).await?;
        assert_eq!(s, status, "{spec}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(want), "{spec}: {p}");
    }
    // Nothing was left behind by the refused creates.
    let (_, list) = agent.get_json("/v1/containers").await?;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    let dirs = std::fs::read_dir(agent.config.paths().containers_dir())?.count();
    assert_eq!(dirs, 0);

    assert_eq!(agent.get_json("/v1/containers/nosuch").await?.0, 404);
    assert_eq!(agent.post("/v1/containers/nosuch/start").await?.0, 404);
    assert_eq!(agent.post("/v1/containers/nosuch/explode").await?.0, 404);
    assert_eq!(agent.delete("/v1/containers/nosuch").await?, 404);
    assert_eq!(agent.get_json("/v1/nothing-here").await?.0, 404);
    // A query parameter the agent can't read: a 400 problem naming it.
    for req in [
        "GET /v1/containers?state=dancing",
        "GET /v1/containers/nosuch/logs?since=yesterday",
        "POST /v1/containers/nosuch/stop?timeout=soon",
    ] {
        let (method, path) = req.split_once(' ').unwrap();
        let r = agent.req(method.parse()?, path).send().await?;
        let (status, p) = (r.status(), r.json::<serde_json::Value>().await?);
        let param = path.split_once('?').unwrap().1.split('=').next().unwrap();
        let named = p["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("{param}=")));
        assert!(status == 400 && named, "{req}: {status} {p}");
    }
    Ok(())
}
