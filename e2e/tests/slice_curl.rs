//! The foundation slice with curl alone: set up the owner with the setup
//! token, log in, see the local host online, import a busybox image, run
//! `sleep 600` with a 64 MiB memory limit, check from /proc that it really is
//! in its own namespaces and memory cgroup, stop it, delete it. Then the bad
//! inputs of the foundation issue.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use berth_e2e::{Stack, busybox_tarball, is_root};
use serde_json::{Value, json};

struct Curl<'a> {
    url: &'a str,
    token: Option<String>,
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

impl Curl<'_> {
    /// One curl call: `-X method`, optional JSON body or `@file`.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        file: Option<&str>,
    ) -> Result<Answer> {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-X",
            method,
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{content_type}",
        ]);
        if let Some(t) = &self.token {
            cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        if let Some(f) = file {
            cmd.args(["-H", "Content-Type: application/x-tar", "-T", f]);
        }
        cmd.arg(format!("{}{}", self.url, path));
        let out = cmd.output().context("running curl")?;
        ensure!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout)?;
        let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
        let (code, ctype) = tail.split_once(' ').unwrap_or((tail, ""));
        Ok(Answer {
            status: code.parse()?,
            content_type: ctype.to_string(),
            body: body.to_string(),
        })
    }
}

fn expect_problem(a: &Answer, status: u16, detail_has: &str) -> Result<()> {
    ensure!(
        a.status == status,
        "expected {status}, got {} {}",
        a.status,
        a.body
    );
    ensure!(
        a.content_type.starts_with("application/problem+json"),
        "expected problem+json, got {:?}",
        a.content_type
    );
    let v = a.json()?;
    ensure!(v["status"] == status, "problem status: {v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    ensure!(
        detail.to_lowercase().contains(&detail_has.to_lowercase()),
        "problem detail {detail:?} should mention {detail_has:?}"
    );
    Ok(())
}

fn ns_inode(pid: &str, ns: &str) -> Result<String> {
    let link = fs::read_link(format!("/proc/{pid}/ns/{ns}"))?;
    Ok(link.to_string_lossy().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn foundation_slice_with_curl() -> Result<()> {
    if !is_root() {
        berth_testkit::skip("needs root to run containers");
        return Ok(());
    }
    let tar = busybox_tarball()?;
    let stack = Stack::start().await?;
    let mut curl = Curl {
        url: &stack.url,
        token: None,
    };

    // Health, then the setup token flow.
    let a = curl.call("GET", "/api/v1/health", None, None)?;
    ensure!(
        a.status == 200 && a.json()?["status"] == "ok",
        "health: {}",
        a.body
    );
    let a = curl.call(
        "POST",
        "/api/v1/setup",
        Some(&json!({"setup_token": "wrong", "username": "root", "password": "correct horse battery"}).to_string()),
        None,
    )?;
    expect_problem(&a, 401, "token")?;
    let setup = json!({"setup_token": stack.setup_token()?, "username": "root", "password": "correct horse battery"});
    let a = curl.call("POST", "/api/v1/setup", Some(&setup.to_string()), None)?;
    ensure!(a.status == 201, "setup: {} {}", a.status, a.body);
    let a = curl.call("POST", "/api/v1/setup", Some(&setup.to_string()), None)?;
    expect_problem(&a, 409, "")?;

    let a = curl.call(
        "POST",
        "/api/v1/auth/login",
        Some(&json!({"username": "root", "password": "correct horse battery"}).to_string()),
        None,
    )?;
    ensure!(a.status == 200, "login: {} {}", a.status, a.body);
    curl.token = Some(a.json()?["token"].as_str().context("token")?.to_string());
    let me = curl.call("GET", "/api/v1/auth/me", None, None)?.json()?;
    ensure!(me["username"] == "root", "me: {me}");

    // The local agent joins by itself and comes online.
    let deadline = Instant::now() + Duration::from_secs(60);
    let host = loop {
        let hosts = curl.call("GET", "/api/v1/hosts", None, None)?.json()?;
        if let Some(h) = hosts["items"]
            .as_array()
            .and_then(|a| a.iter().find(|h| h["status"] == "online"))
        {
            break h.clone();
        }
        if Instant::now() > deadline {
            bail!("local host never came online: {hosts}\n{}", stack.log());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let h = host["id"].as_str().context("host id")?.to_string();
    ensure!(
        ["v1", "v2", "hybrid"].contains(&host["facts"]["cgroup"].as_str().unwrap_or("")),
        "{host}"
    );

    // Import the busybox image.
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/images/import"),
        None,
        Some(tar.to_str().unwrap()),
    )?;
    ensure!(a.status == 201, "import: {} {}", a.status, a.body);
    let images = curl
        .call("GET", &format!("/api/v1/hosts/{h}/images"), None, None)?
        .json()?;
    ensure!(
        images["items"].as_array().is_some_and(|i| i
            .iter()
            .any(|i| i["references"].to_string().contains("busybox"))),
        "images: {images}"
    );

    // Create and start `sleep 600` with a 64 MiB memory limit.
    let spec = json!({
        "name": "slice", "image": "busybox", "cmd": ["sleep", "600"],
        "limits": {"memory_bytes": 64u64 << 20, "pids": 32}, "network": "none"
    });
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers?start=true"),
        Some(&spec.to_string()),
        None,
    )?;
    ensure!(a.status == 201, "create: {} {}", a.status, a.body);
    let created = a.json()?;
    let id = created["id"].as_str().context("id")?.to_string();
    ensure!(id.len() == 64, "id {id}");
    ensure!(created["name"] == "slice");

    let c = curl
        .call(
            "GET",
            &format!("/api/v1/hosts/{h}/containers/slice"),
            None,
            None,
        )?
        .json()?;
    ensure!(c["state"] == "running", "container: {c}");
    let pid = c["pid"].as_u64().context("pid")?.to_string();
    ensure!(c["limits"]["memory_bytes"] == 64u64 << 20, "{c}");

    // From /proc: its own namespaces...
    for ns in ["mnt", "uts", "ipc", "pid", "net"] {
        ensure!(
            ns_inode(&pid, ns)? != ns_inode("self", ns)?,
            "container shares the host's {ns} namespace"
        );
    }
    let comm = fs::read_to_string(format!("/proc/{pid}/cmdline"))?.replace('\0', " ");
    ensure!(comm.starts_with("sleep 600"), "cmdline {comm:?}");
    // ...and its own memory cgroup with the limit.
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let mem_path = cg
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            (ctrl.split(',').any(|c| c == "memory")
                || (ctrl.is_empty() && !cg.contains(":memory:")))
            .then(|| path.to_string())
        })
        .context("no memory cgroup line")?;
    ensure!(
        mem_path.starts_with(&stack.cgroup_parent),
        "memory cgroup {mem_path} not under {}",
        stack.cgroup_parent
    );
    let v1 = format!("/sys/fs/cgroup/memory{mem_path}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup{mem_path}/memory.max");
    let limit = fs::read_to_string(&v1).or_else(|_| fs::read_to_string(&v2))?;
    ensure!(
        limit.trim() == (64u64 << 20).to_string(),
        "memory limit {limit}"
    );

    // Wrong state, unknown container, bad bodies.
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers/slice/start"),
        None,
        None,
    )?;
    expect_problem(&a, 409, "running")?;
    let a = curl.call(
        "GET",
        &format!("/api/v1/hosts/{h}/containers/nosuch"),
        None,
        None,
    )?;
    expect_problem(&a, 404, "nosuch")?;
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers"),
        Some("{\"image\": "),
        None,
    )?;
    expect_problem(&a, 400, "")?;
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers"),
        Some(r#"{"image": "busybox", "cmd": "sleep 1"}"#),
        None,
    )?;
    expect_problem(&a, 400, "cmd")?;
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers"),
        Some(r#"{"image": "busybox", "limits": {"memory_bytes": "lots"}}"#),
        None,
    )?;
    expect_problem(&a, 400, "memory_bytes")?;

    // Stop: SIGTERM (sleep dies of it), then the state says stopped.
    let a = curl.call(
        "POST",
        &format!("/api/v1/hosts/{h}/containers/slice/stop?timeout=5"),
        None,
        None,
    )?;
    ensure!(a.status == 200, "stop: {} {}", a.status, a.body);
    let c = curl
        .call(
            "GET",
            &format!("/api/v1/hosts/{h}/containers/{id}"),
            None,
            None,
        )?
        .json()?;
    ensure!(c["state"] == "stopped", "after stop: {c}");
    let still = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    ensure!(
        !still.starts_with(b"sleep\x00600"),
        "the container process is still alive"
    );

    // Delete, then it is gone.
    let a = curl.call(
        "DELETE",
        &format!("/api/v1/hosts/{h}/containers/slice"),
        None,
        None,
    )?;
    ensure!(a.status == 204, "delete: {} {}", a.status, a.body);
    let a = curl.call(
        "GET",
        &format!("/api/v1/hosts/{h}/containers/slice"),
        None,
        None,
    )?;
    expect_problem(&a, 404, "")?;
    let list = curl.call("GET", "/api/v1/containers", None, None)?.json()?;
    ensure!(
        list["items"].as_array().is_some_and(|i| i.is_empty()),
        "list after delete: {list}"
    );
    Ok(())
}
