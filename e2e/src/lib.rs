//! Harness for the end-to-end tests: a real `berth-server --local-agent`
//! (which starts and joins a real `berth-agent`) on free ports with a
//! temporary data dir, and a teardown that leaves nothing behind: no process,
//! cgroup, mount or file of the stack survives its [`Stack`] value.
//!
//! Tests need root (the agent runs containers) and the binaries built by
//! `cargo build` (nextest and `cargo test --workspace` build them).

pub mod browser;
pub use berth_testkit::cleanup;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use berth_api::hosts::{Host, HostStatus};
use berth_api::{List, Problem};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// The cargo profile dir holding the binaries (`target/debug`): the test
/// executable lives in its `deps/` folder.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a folder");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Path of a workspace binary, built by cargo before the tests run.
pub fn bin(name: &str) -> Result<PathBuf> {
    let p = profile_dir().join(name);
    if !p.is_file() {
        bail!(
            "{} is not built: run `cargo build` (or the tests through cargo nextest/cargo test --workspace)",
            p.display()
        );
    }
    Ok(p)
}

/// Folder for screenshots and other artefacts: `target/e2e/`.
pub fn artefacts_dir() -> PathBuf {
    let d = workspace_root().join("target").join("e2e");
    let _ = fs::create_dir_all(&d);
    d
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Is this process root? Tests that run containers need it.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A `docker save` tarball of a busybox image built from Debian's
/// busybox-static, made once per test run under `target/e2e/`.
pub fn busybox_tarball() -> Result<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = artefacts_dir().join("busybox-image.tar");
    if out.is_file() {
        return Ok(out);
    }
    let script = workspace_root().join("agent/tests/fixtures/make-busybox-tar.sh");
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let status = Command::new("bash")
        .arg(&script)
        .arg(&tmp)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed: {status}", script.display());
    }
    fs::rename(&tmp, &out)?;
    Ok(out)
}

/// A new, empty network namespace pinned at a file in `dir`.
pub fn scratch_netns(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("netns");
    fs::File::create(&path)?;
    let p = path.clone();
    std::thread::spawn(move || -> Result<()> {
        // The unshare affects only this short-lived thread.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the netns thread panicked"))??;
    Ok(path)
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Options for [`Stack::start_with`].
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Create the owner `admin` with this password at first start instead of
    /// printing a setup token.
    pub admin_password: Option<String>,
    /// Extra environment for the server (and the agent it starts).
    pub env: Vec<(String, String)>,
}

/// The `BERTH_METRICS_TOKEN` of every stack (`GET /metrics` needs it).
pub const METRICS_TOKEN: &str = "e2e-metrics-token";

/// A running server with its local agent.
pub struct Stack {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub port: u16,
    pub agent_port: u16,
    /// The server's data dir (the agent's is `data_dir/agent`).
    pub data_dir: PathBuf,
    /// The cgroup parent the local agent puts containers under.
    pub cgroup_parent: String,
    server: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    _tmp: tempfile::TempDir,
    /// A session token for API calls, once [`Stack::login`] or
    /// [`Stack::setup_owner`] ran.
    pub token: Option<String>,
    http: reqwest::Client,
}

/// Spawns the stack's server with its stdout and stderr collected into
/// `log` (and echoed with `BERTH_E2E_ECHO`).
fn spawn_logged(mut cmd: Command, bin: &Path, log: &Arc<Mutex<Vec<String>>>) -> Result<Child> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let outs = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ];
    for stream in outs.into_iter().flatten() {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                if std::env::var_os("BERTH_E2E_ECHO").is_some() {
                    eprintln!("[stack] {line}");
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
    }
    Ok(child)
}

impl Stack {
    /// Starts a stack with a setup token (no user yet).
    pub async fn start() -> Result<Stack> {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(opts: StackOptions) -> Result<Stack> {
        install_crypto_provider();
        let server_bin = bin("berth-server")?;
        let agent_bin = bin("berth-agent")?;
        let tmp = tempfile::Builder::new().prefix("berth-e2e-").tempdir()?;
        let data_dir = tmp.path().join("data");
        fs::create_dir_all(&data_dir)?;
        let unique = format!(
            "e2e-{}-{}",
            std::process::id(),
            tmp.path()
                .file_name()
                .map(|n| n.to_string_lossy().replace("berth-e2e-", ""))
                .unwrap_or_default()
        );
        let cgroup_parent = format!("/berth/{unique}");
        let dashboard = workspace_root().join("frontend/dist");
        // Container networking (bridge, veths, nftables table) is built in a
        // namespace of the stack's own, so stacks never touch the host's
        // berth0 or each other; unmounting it at teardown frees it all.
        let netns = scratch_netns(tmp.path())?;

        // The command for a pair of ports.
        let (bin_c, data_c, cgroup_c) =
            (server_bin.clone(), data_dir.clone(), cgroup_parent.clone());
        let runtime_dir = tmp.path().join("runtime");
        let command = move |port: u16, agent_port: u16| {
            let mut cmd = Command::new(&bin_c);
            cmd.arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(&data_c)
                .arg("--local-agent")
                .arg("--agent-bin")
                .arg(&agent_bin)
                .arg("--local-agent-listen")
                .arg(format!("127.0.0.1:{agent_port}"))
                .arg("--dashboard-dir")
                .arg(&dashboard)
                // The tests talk plain HTTP to 127.0.0.1 (the browser too).
                .arg("--allow-plain-http")
                .env("BERTH_METRICS_TOKEN", METRICS_TOKEN)
                .env("BERTH_AGENT_CGROUP_PARENT", &cgroup_c)
                .env("BERTH_AGENT_RUNTIME_ROOT", &runtime_dir)
                .env("BERTH_AGENT_NETWORK_NETNS", &netns)
                .env("RUST_LOG", "info")
                .env_remove("DATABASE_URL")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(pw) = &opts.admin_password {
                cmd.env("BERTH_ADMIN_PASSWORD", pw);
            } else {
                cmd.env_remove("BERTH_ADMIN_PASSWORD");
            }
            for (k, v) in &opts.env {
                cmd.env(k, v);
            }
            cmd
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let spawn = |cmd: Command| spawn_logged(cmd, &server_bin, &log);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let (port, agent_port) = (free_port(), free_port());
        let child = spawn(command(port, agent_port))?;
        let mut stack = Stack {
            url: format!("http://127.0.0.1:{port}"),
            port,
            agent_port,
            data_dir,
            cgroup_parent,
            server: Some(child),
            log: log.clone(),
            _tmp: tmp,
            token: None,
            http,
        };
        // The ports were free when picked, but another process may take one
        // before the server binds it: the server then exits saying the
        // address is in use, and starts again on new ports (a few times).
        let mut attempt = 1;
        loop {
            match stack.wait_healthy(Duration::from_secs(60)).await {
                Ok(()) => return Ok(stack),
                Err(e) if attempt < 5 && stack.lost_port_race() => {
                    attempt += 1;
                    eprintln!(
                        "[stack] a port was taken before the server bound it, again on new ports: {e:#}"
                    );
                    let (port, agent_port) = (free_port(), free_port());
                    log.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    stack.port = port;
                    stack.agent_port = agent_port;
                    stack.url = format!("http://127.0.0.1:{port}");
                    stack.server = Some(spawn(command(port, agent_port))?);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Everything the server (and the agent it started) printed so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Did the server exit because its address was in use?
    fn lost_port_race(&self) -> bool {
        self.server.is_none() && self.log().contains("in use")
    }

    /// Waits until the server answers its health check; an error at once
    /// when it exited (then `self.server` is `None`).
    async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.server = None;
                // Let the log threads read the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!("the server exited ({status}); its log:\n{}", self.log());
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/api/v1/health", self.url))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "server not healthy after {timeout:?}; its log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The one-time setup token the server wrote to its data dir.
    pub fn setup_token(&self) -> Result<String> {
        let p = self.data_dir.join("setup-token");
        Ok(fs::read_to_string(&p)
            .with_context(|| format!("reading {}", p.display()))?
            .trim()
            .to_string())
    }

    /// Creates the owner through `POST /api/v1/setup` and logs in as it.
    pub async fn setup_owner(&mut self, username: &str, password: &str) -> Result<()> {
        let token = self.setup_token()?;
        let r = self
            .http
            .post(format!("{}/api/v1/setup", self.url))
            .json(&serde_json::json!({"setup_token": token, "username": username, "password": password}))
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("setup answered {}: {}", r.status(), r.text().await?);
        }
        self.login(username, password).await
    }

    /// Logs in and keeps the session token for [`Stack::api`] calls.
    pub async fn login(&mut self, username: &str, password: &str) -> Result<()> {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("login answered {}: {}", r.status(), r.text().await?);
        }
        let v: berth_api::auth::LoginResponse = r.json().await?;
        self.token = Some(v.token);
        Ok(())
    }

    /// A request builder with the session token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(t) = &self.token {
            b = b.bearer_auth(t);
        }
        b
    }

    /// Calls the API and decodes a success, or returns the problem.
    pub async fn api<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<std::result::Result<T, Problem>> {
        let mut b = self.request(method, path);
        if let Some(body) = body {
            b = b.json(body);
        }
        let r = b.send().await?;
        let status = r.status();
        let bytes = r.bytes().await?;
        if status.is_success() {
            let v = if bytes.is_empty() {
                serde_json::from_str("null")?
            } else {
                serde_json::from_slice(&bytes).with_context(|| {
                    format!("decoding {path}: {}", String::from_utf8_lossy(&bytes))
                })?
            };
            Ok(Ok(v))
        } else {
            let p: Problem = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{path} answered {status} without a problem body: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })?;
            Ok(Err(p))
        }
    }

    /// Waits until the local agent has joined and is online; returns it.
    pub async fn wait_local_host_online(&self, timeout: Duration) -> Result<Host> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Ok(list)) = self
                .api::<List<Host>>(reqwest::Method::GET, "/api/v1/hosts", None::<&()>)
                .await
                && let Some(h) = list
                    .items
                    .into_iter()
                    .find(|h| h.status == HostStatus::Online)
            {
                return Ok(h);
            }
            if Instant::now() > deadline {
                bail!("no host online after {timeout:?}; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Streams a file as the body of an image import.
    pub async fn import_image(&self, host: &str, tar: &Path) -> Result<serde_json::Value> {
        let f = tokio::fs::File::open(tar).await?;
        let len = f.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(f));
        let r = self
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/hosts/{host}/images/import"),
            )
            .header("content-type", "application/x-tar")
            .header("content-length", len)
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("import answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Stops the server (which stops its agent) and removes everything the
    /// stack made. Called by `Drop` too; calling it twice is harmless.
    pub fn shutdown(&mut self) {
        if let Some(mut child) = self.server.take() {
            let pid = berth_testkit::pid(child.id());
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        cleanup::remove_stack_leftovers(&self.data_dir, &self.cgroup_parent);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown();
    }
}
