//! Real `berth-agent` processes joined to a test server through real join
//! tokens, on loopback. Each agent has its own data dir, listen port, cgroup
//! parent (`/berth/test-real-<pid>-<n>`) and network namespace, so agents
//! never clash with each other or the host. Dropping a [`RealAgent`] resumes
//! it (if stopped), kills it, and removes its cgroups, netns mount and files.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{TestApp, TestUser};

/// The cargo profile dir holding the workspace binaries (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a folder");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The `berth-agent` binary, or `None` (with the reason printed) when it is
/// not built or the test does not run as root.
pub fn agent_bin() -> Option<PathBuf> {
    if !berth_testkit::require_root("real agents: cgroups, namespaces") {
        return None;
    }
    let p = profile_dir().join("berth-agent");
    if !p.is_file() {
        berth_testkit::skip(&format!(
            "{} is not built: run `cargo build -p berth-agent`",
            p.display()
        ));
        return None;
    }
    Some(p)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A test app whose public URL (the one join tokens carry) is a real HTTPS
/// listener on 127.0.0.1, served until dropped.
pub struct Served {
    pub t: TestApp,
    pub port: u16,
    pub url: String,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Served {
    /// A fresh SQLite app served on a real socket; `tweak` adjusts its config.
    pub async fn start(tweak: impl FnOnce(&mut berth_server::Config)) -> Served {
        Self::start_on(super::Backend::Sqlite, tweak).await
    }

    pub async fn start_on(
        backend: super::Backend,
        tweak: impl FnOnce(&mut berth_server::Config),
    ) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("https://127.0.0.1:{port}");
        let u = url.clone();
        let t = TestApp::with_config(backend, move |c| {
            c.public_url = Some(u);
            tweak(c);
        })
        .await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(berth_server::server::serve(
            listener,
            t.app.clone(),
            t.state.identity.server_config().unwrap(),
            shutdown.clone(),
        ));
        Served {
            t,
            port,
            url,
            shutdown,
        }
    }

    /// Runs the server's health checks (as `berth-server` does) until dropped.
    pub fn run_health_checks(&self) {
        tokio::spawn(berth_server::agents::health::run(
            self.t.state.clone(),
            self.shutdown.clone(),
        ));
    }

    /// A new join token made through the API by `admin`.
    pub async fn join_token(&self, admin: &TestUser) -> String {
        let r = self
            .t
            .post("/api/v1/hosts/join-tokens", &admin.token, json!({}))
            .await;
        assert_eq!(r.status.as_u16(), 200, "join token: {}", r.text());
        r.json()["token"].as_str().expect("token").to_string()
    }

    /// Starts a real agent with a fresh join token and waits until its host
    /// is registered; returns it with its host id.
    pub async fn join_agent(&self, admin: &TestUser, bin: &Path, name: &str) -> RealAgent {
        let token = self.join_token(admin).await;
        let mut a = RealAgent::start(bin, name, None, Some(&token));
        a.host_id = a.wait_joined(Duration::from_secs(20)).await;
        a
    }
}

static N: AtomicUsize = AtomicUsize::new(0);

/// One `berth-agent run` process.
pub struct RealAgent {
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub cgroup_parent: String,
    /// Set once the agent has joined.
    pub host_id: String,
    child: Option<Child>,
    stopped: bool,
    netns: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    tmp: Option<tempfile::TempDir>,
}

impl RealAgent {
    /// Starts `berth-agent run` on `port` (a free one when `None`), joining
    /// with `token` when given.
    pub fn start(bin: &Path, name: &str, port: Option<u16>, token: Option<&str>) -> RealAgent {
        let tmp = tempfile::Builder::new()
            .prefix("berth-real-agent-")
            .tempdir()
            .expect("tempdir");
        let data_dir = tmp.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let port = port.unwrap_or_else(free_port);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let cgroup_parent = format!("/berth/test-real-{}-{n}", std::process::id());
        let netns = scratch_netns(tmp.path());
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--name")
            .arg(name)
            .env("BERTH_AGENT_CGROUP_PARENT", &cgroup_parent)
            // Short: the monitors' sockets are `<root>/m/<64 hex>.sock`,
            // and a socket path has at most 107 bytes.
            .env("BERTH_AGENT_RUNTIME_ROOT", tmp.path().join("rt"))
            .env("BERTH_AGENT_NETWORK_NETNS", &netns)
            .env("RUST_LOG", "info")
            .env_remove("BERTH_AGENT_JOIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.env("BERTH_AGENT_JOIN_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("spawn berth-agent");
        let log = Arc::new(Mutex::new(Vec::new()));
        let outs: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for s in outs {
            let log = log.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(s).lines().map_while(|l| l.ok()) {
                    if std::env::var_os("BERTH_TEST_ECHO").is_some() {
                        eprintln!("[{name}] {line}");
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        RealAgent {
            name: name.to_string(),
            port,
            data_dir,
            cgroup_parent,
            host_id: String::new(),
            child: Some(child),
            stopped: false,
            netns,
            log,
            tmp: Some(tmp),
        }
    }

    /// The agent's pid while it runs (not yet killed and reaped).
    pub fn pid(&self) -> Option<i32> {
        self.child
            .as_ref()
            .map(|c| berth_testkit::pid(c.id()).as_raw())
    }

    /// What the agent printed so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Waits for `data_dir/join.json` and for the agent's port to accept
    /// connections; returns the host id in join.json.
    pub async fn wait_joined(&mut self, within: Duration) -> String {
        let p = self.data_dir.join("join.json");
        let start = Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&p)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&s)
                && let Some(id) = v["host_id"].as_str()
            {
                // The agent binds before it joins; the port check also
                // covers an agent that exited (a port taken meanwhile).
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return id.to_string();
                }
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "agent {} exited ({st}) before joining:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                start.elapsed() < within,
                "agent {} did not join within {within:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Freezes the process (SIGSTOP): its socket stays open, nothing answers.
    pub fn sigstop(&mut self) {
        if let Some(pid) = self.pid() {
            self.stopped = true;
            // SAFETY: kill(2) takes no pointers; the pid is our own child's,
            // not yet reaped, so it names no other process.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
    }

    /// Resumes it (SIGCONT).
    pub fn sigcont(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) takes no pointers; the pid is our own child's,
            // not yet reaped, so it names no other process.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        self.stopped = false;
    }

    /// Stops the process (SIGTERM, then SIGKILL) and waits for it; files stay.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = berth_testkit::pid(c.id()).as_raw();
            // SAFETY: kill(2) takes no pointers; the pid is our own child's,
            // not yet reaped (`take()` above, waited for below).
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RealAgent {
    fn drop(&mut self) {
        if self.stopped {
            self.sigcont();
        }
        self.kill();
        // The container monitors (their command lines name the data dir)
        // and container processes outlive the agent: kill them, remove the
        // cgroups under the agent's parent, then every mount below the temp
        // dir (the netns pin, rootfs overlays, the runtime's netns dir).
        berth_testkit::cleanup::remove_stack_leftovers(&self.data_dir, &self.cgroup_parent);
        drop(self.tmp.take());
    }
}

/// A new, empty network namespace pinned at `dir/netns`.
fn scratch_netns(dir: &Path) -> PathBuf {
    let path = dir.join("netns");
    std::fs::File::create(&path).expect("netns file");
    let p = std::ffi::CString::new(path.as_os_str().to_string_lossy().as_bytes()).unwrap();
    std::thread::spawn(move || {
        // SAFETY: unshare(2) changes only this short-lived thread's network
        // namespace (it exits right after), and mount(2) reads two
        // NUL-terminated strings (`src`, a C literal, and `p`, owned by this
        // closure) that outlive the call; the other pointers are null, which
        // mount(2) accepts for a bind mount.
        unsafe {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWNET),
                0,
                "unshare(CLONE_NEWNET)"
            );
            let src = c"/proc/thread-self/ns/net";
            assert_eq!(
                libc::mount(
                    src.as_ptr(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null()
                ),
                0,
                "bind-mount the netns"
            );
        }
    })
    .join()
    .expect("netns thread");
    path
}

/// The workspace root (the backend crate's parent).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("backend has a parent")
        .to_path_buf()
}

/// A busybox `docker save` tarball (`busybox:latest`, from Debian's
/// busybox-static through `agent/tests/fixtures/make-busybox-tar.sh`), made
/// once under the target's test temp dir; `None` (a skip) when it can't be.
pub fn busybox_tar() -> Option<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("busybox-image.tar");
    if out.is_file() {
        return Some(out);
    }
    let tmp = out.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let script = workspace_root().join("agent/tests/fixtures/make-busybox-tar.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(&tmp)
        .output()
        .expect("run bash");
    if !o.status.success() {
        let _ = std::fs::remove_file(&tmp);
        berth_testkit::skip(&format!(
            "make-busybox-tar.sh failed (apt-get install busybox-static): {}",
            String::from_utf8_lossy(&o.stderr)
        ));
        return None;
    }
    std::fs::rename(&tmp, &out).expect("rename the busybox tar");
    Some(out)
}

/// A response of the server read over its real socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub text: String,
}

impl Served {
    /// `GET /api/v1/hosts/{id}`'s `status`.
    pub async fn host_status(&self, token: &str, id: &str) -> String {
        let r = self.t.get(&format!("/api/v1/hosts/{id}"), token).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        r.json()["status"].as_str().unwrap_or_default().to_string()
    }

    /// Polls until the host has `want` status, failing after `within`;
    /// returns how long it took.
    pub async fn wait_status(
        &self,
        token: &str,
        id: &str,
        want: &str,
        within: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let st = self.host_status(token, id).await;
            if st == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "host {id} still {st:?}, not {want:?}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's plain-HTTP base URL (tests allow plain HTTP).
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Streams the file at `tar` as an image import to `host`, over the
    /// server's real socket.
    pub async fn import_file(&self, token: &str, host: &str, tar: &Path) -> Answer {
        let f = tokio::fs::File::open(tar).await.expect("open the tar");
        let len = f.metadata().await.expect("tar metadata").len();
        let body =
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 << 10));
        let r = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/hosts/{host}/images/import",
                self.http_base()
            ))
            .bearer_auth(token)
            .header("content-type", "application/x-tar")
            .header("content-length", len)
            .body(body)
            .send()
            .await
            .expect("import request");
        answer(r).await
    }

    /// Creates (and starts) a container from `spec` on `host`; panics unless
    /// the server answers 201.
    pub async fn run_container(&self, token: &str, host: &str, spec: serde_json::Value) -> String {
        let r = self
            .t
            .post(
                &format!("/api/v1/hosts/{host}/containers?start=true"),
                token,
                spec.clone(),
            )
            .await;
        assert_eq!(r.status.as_u16(), 201, "create {spec}: {}", r.text());
        r.json()["id"].as_str().expect("id").to_string()
    }

    /// The agent's own Prometheus text (`GET /metrics` on the agent, signed
    /// by this server like every request to it).
    pub async fn agent_metrics(&self, a: &RealAgent) -> String {
        let record = berth_server::db::hosts::get(&self.t.state.db, &a.host_id)
            .await
            .unwrap()
            .expect("host record");
        let c = self.t.state.agents.client(&record).unwrap();
        let rb = c
            .request(reqwest::Method::GET, c.url(&["metrics"], &[]), "test")
            .unwrap();
        let r = rb.send().await.expect("agent reachable");
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.expect("metrics text")
    }
}

/// Reads a reqwest answer whole.
pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer { status, body, text }
}

/// The value of one sample line (`name{labels} value`) of Prometheus text.
pub fn prom_value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
