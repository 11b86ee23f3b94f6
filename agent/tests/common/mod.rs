//! Shared harness of the agent's integration tests: a real agent over TLS
//! (in-process, or the binary), a server key pair that signs requests, a
//! busybox image, and guards that remove every container, mount and cgroup
//! a test made, even when it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use berth_agent::config::Config;
use berth_agent::join::JoinState;
use berth_agent::tls::PinnedCert;
use berth_agent::{Agent, Binaries};
use berth_api::agent::AgentRequestClaims;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use tokio_util::sync::CancellationToken;

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints why a test cannot run here; the caller returns.
pub fn skip(why: &str) {
    berth_testkit::skip(why);
}

/// Polls `cond` (every 50 ms) until it holds; an error naming `what` when
/// it still does not after `within`. For synchronisation on a condition
/// instead of a fixed sleep.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut cond: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The OCI runtime binary the tests drive: $BERTH_TEST_OCI_RUNTIME (e.g.
/// /usr/sbin/runc), else none: the built-in runtime library.
pub fn runtime_bin() -> Option<PathBuf> {
    std::env::var_os("BERTH_TEST_OCI_RUNTIME").map(PathBuf::from)
}

/// A busybox `docker save` tarball, made once under the target dir.
pub fn busybox_tar() -> Result<PathBuf> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("busybox-image.tar");
    if out.is_file() {
        return Ok(out);
    }
    let tmp = out.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let script = workspace_root().join("agent/tests/fixtures/make-busybox-tar.sh");
    let o = Command::new("bash").arg(&script).arg(&tmp).output()?;
    if !o.status.success() {
        bail!(
            "make-busybox-tar.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

/// The server side of the tests: an Ed25519 key pair and a host id.
#[derive(Clone)]
pub struct ServerKey {
    pub host_id: String,
    encoding: jsonwebtoken::EncodingKey,
    pub public_pem: String,
}

impl ServerKey {
    pub fn new(host_id: &str) -> Self {
        berth_net::install_providers();
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let private_pem = sk.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
        let public_pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("spki");
        Self {
            host_id: host_id.to_string(),
            encoding: jsonwebtoken::EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("key"),
            public_pem,
        }
    }

    /// A token with these claims.
    pub fn sign(&self, claims: &AgentRequestClaims) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            claims,
            &self.encoding,
        )
        .expect("sign")
    }

    /// A valid token for this host (120 s, like the server's).
    pub fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&AgentRequestClaims {
            iss: "berth-server".into(),
            aud: self.host_id.clone(),
            sub: "test".into(),
            iat: now,
            exp: now + 120,
        })
    }
}

/// Removes containers, mounts, cgroups and the scratch network namespace
/// of one test agent on drop.
pub struct Cleanup {
    /// Everything of the agent lives below this dir.
    pub root: PathBuf,
    pub data: PathBuf,
    pub runtime_root: PathBuf,
    pub cgroup_parent: String,
    pub runtime_bin: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Every container the runtime knows: kill and delete.
        let oci_root = self.runtime_root.join("runtime");
        if let Ok(rd) = std::fs::read_dir(&oci_root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().to_string();
                match &self.runtime_bin {
                    Some(bin) => {
                        let _ = Command::new(bin)
                            .arg("--root")
                            .arg(&oci_root)
                            .arg("delete")
                            .arg("--force")
                            .arg(&id)
                            .output();
                    }
                    None => {
                        if let Ok(rt) = berth_runtime::Runtime::new(&oci_root) {
                            let _ = rt.delete(&id, true);
                        }
                    }
                }
            }
        }
        // Monitors of this agent (their command line names its data dir).
        kill_processes_mentioning(&self.data.to_string_lossy());
        // Mounts below the agent's dirs, deepest first.
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let data = self.root.to_string_lossy().to_string();
            let mut mps: Vec<String> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
                .filter(|m| m.starts_with(&data))
                .collect();
            mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mps {
                let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        remove_cgroups(&self.cgroup_parent);
        let _ = std::fs::remove_dir_all(&self.runtime_root);
    }
}

fn kill_processes_mentioning(needle: &str) {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            let _ =
                nix::sys::signal::kill(berth_testkit::pid(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Thaws, kills and removes every cgroup under `parent` in every hierarchy.
pub fn remove_cgroups(parent: &str) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mp) = pre.split(' ').nth(4) else {
            continue;
        };
        let dir = Path::new(mp).join(parent.trim_start_matches('/'));
        if dir.exists() {
            remove_cgroup_tree(&dir);
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new, empty network namespace pinned at a file in `dir` (the cleanup's
/// unmount of everything below the temp dir releases it, and with it the
/// bridge, veths and nftables table the agent made there).
pub fn scratch_netns(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format!("netns-host-{}", rand::random::<u32>()));
    std::fs::File::create(&path)?;
    let p = path.clone();
    std::thread::spawn(move || -> Result<()> {
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

/// A unique cgroup parent for one test.
pub fn test_cgroup_parent(tag: &str) -> String {
    format!(
        "/berth/test-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A real agent serving HTTPS on 127.0.0.1, joined to `key`'s server.
pub struct TestAgent {
    pub url: String,
    pub key: ServerKey,
    pub config: Config,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    // Fields drop in order: the cleanup (unmounts) before the temp dir.
    pub cleanup: Cleanup,
    pub tmp: Arc<tempfile::TempDir>,
}

pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl TestAgent {
    /// Starts an agent in a fresh data dir with the busybox image imported.
    pub async fn start(tag: &str) -> Result<Self> {
        let tmp = Arc::new(
            tempfile::Builder::new()
                .prefix("berth-agent-test-")
                .tempdir()?,
        );
        Self::start_in(tag, tmp, None).await
    }

    /// Starts (or restarts) an agent on `tmp`'s data dir.
    pub async fn start_in(
        tag: &str,
        tmp: Arc<tempfile::TempDir>,
        reuse: Option<(ServerKey, String)>,
    ) -> Result<Self> {
        Self::start_with(tag, tmp, reuse, |_| {}).await
    }

    /// As [`TestAgent::start_in`], with a change to the config.
    pub async fn start_with(
        tag: &str,
        tmp: Arc<tempfile::TempDir>,
        reuse: Option<(ServerKey, String)>,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self> {
        install_crypto();
        let data = tmp.path().join("data");
        let runtime_root = tmp.path().join("run");
        let (key, cgroup_parent) = match reuse {
            Some(r) => r,
            None => (
                ServerKey::new(&format!("host-{tag}")),
                test_cgroup_parent(tag),
            ),
        };
        let mut config = Config::with_data_dir(&data);
        config.listen = "127.0.0.1:0".parse()?;
        config.runtime_root = Some(runtime_root.clone());
        config.cgroup_parent = cgroup_parent.clone();
        // No Docker engine unless a test brings its own.
        config.docker_socket = tmp.path().join("no-docker.sock");
        // Container networking in a scratch namespace of its own (bridge,
        // veths, nftables table), never the machine's.
        if config.network_netns.is_none() {
            config.network_netns = Some(scratch_netns(tmp.path())?);
        }
        tweak(&mut config);
        std::fs::create_dir_all(&data)?;
        JoinState {
            host_id: key.host_id.clone(),
            server_url: "https://127.0.0.1:1".into(),
            server_fingerprint: "0".repeat(64),
            server_public_key_pem: key.public_pem.clone(),
        }
        .save(&config.paths().join_file())?;

        let runtime = runtime_bin();
        let cleanup = Cleanup {
            root: tmp.path().to_path_buf(),
            data: data.clone(),
            runtime_root,
            cgroup_parent,
            runtime_bin: runtime.clone(),
        };
        let bins = Binaries {
            monitor: PathBuf::from(env!("CARGO_BIN_EXE_berth-agent")),
            runtime,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let agent = Agent::open(config.clone(), bins).await?;
        let fp = agent.identity().fingerprint().to_string();
        let shutdown = CancellationToken::new();
        let s2 = shutdown.clone();
        let task = tokio::spawn(async move {
            let _ = agent.serve(listener, s2).await;
        });
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(PinnedCert::new(&fp).client_config()?)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            url: format!("https://{addr}"),
            key,
            config,
            client,
            shutdown,
            task: Some(task),
            cleanup,
            tmp,
        })
    }

    /// Imports the busybox image through the agent's API.
    pub async fn import_busybox(&self) -> Result<()> {
        let body = tokio::fs::read(busybox_tar()?).await?;
        let r = self
            .req(reqwest::Method::POST, "/v1/images/import")
            .header("content-type", "application/x-tar")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        if status.as_u16() != 201 {
            bail!("import: {status}: {}", r.text().await.unwrap_or_default());
        }
        Ok(())
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.key.token())
    }

    pub async fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let r = self.req(reqwest::Method::GET, path).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value)> {
        let r = self
            .req(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    pub async fn post(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let r = self.req(reqwest::Method::POST, path).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    pub async fn delete(&self, path: &str) -> Result<u16> {
        Ok(self
            .req(reqwest::Method::DELETE, path)
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// Stops serving (containers keep running).
    pub async fn stop_serving(&mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits until `f` holds for the container's view.
    pub async fn wait_for(
        &self,
        c: &str,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, v) = self.get_json(&format!("/v1/containers/{c}")).await?;
            if f(&v) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("container {c} never became {what}: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// base64url without padding (join tokens).
pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// The agent binary (`berth-agent run`) on a data dir, for tests that kill it.
pub struct BinAgent {
    pub child: std::process::Child,
    pub url: String,
    pub client: reqwest::Client,
}

impl BinAgent {
    /// Starts `berth-agent run` with the same dirs and key as `like` (an
    /// in-process agent that has stopped serving), on a free port.
    pub async fn spawn(like: &TestAgent) -> Result<Self> {
        Self::spawn_binary(like, Path::new(env!("CARGO_BIN_EXE_berth-agent"))).await
    }

    /// As [`BinAgent::spawn`], running `binary` (a copy of berth-agent).
    pub async fn spawn_binary(like: &TestAgent, binary: &Path) -> Result<Self> {
        // The port is free when picked, but another process may take it
        // before the agent binds it: then the agent exits at once and is
        // started again on another port (a few times).
        let mut attempt = 1;
        loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            match Self::spawn_on(like, binary, port).await? {
                Some(agent) => return Ok(agent),
                None if attempt < 5 => attempt += 1,
                None => bail!("the agent binary lost the race for a free port {attempt} times"),
            }
        }
    }

    /// Starts the agent on `port`; `None` when it exited because another
    /// process holds the port.
    async fn spawn_on(like: &TestAgent, binary: &Path, port: u16) -> Result<Option<Self>> {
        install_crypto();
        let c = &like.config;
        let mut cmd = Command::new(binary);
        if let Some(bin) = runtime_bin() {
            cmd.env("BERTH_AGENT_OCI_RUNTIME", bin);
        }
        let child = cmd
            .arg("run")
            .arg("--data-dir")
            .arg(&c.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-root")
            .arg(c.runtime_root.as_ref().context("runtime root")?)
            .arg("--cgroup-parent")
            .arg(&c.cgroup_parent)
            .args(
                c.network_netns
                    .iter()
                    .flat_map(|p| [std::ffi::OsStr::new("--network-netns"), p.as_os_str()]),
            )
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .spawn()?;
        let fp = berth_agent::tls::load_or_create(&c.paths().tls_dir(), &[])?
            .fingerprint()
            .to_string();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(PinnedCert::new(&fp).client_config()?)
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut agent = Self {
            child,
            url: format!("https://127.0.0.1:{port}"),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = agent
                .client
                .get(format!("{}/v1/info", agent.url))
                .bearer_auth(like.key.token())
                .send()
                .await
                && r.status() == 200
            {
                return Ok(Some(agent));
            }
            if let Some(status) = agent.child.try_wait()? {
                // Exited: if the port is taken now, someone else won it.
                let taken = matches!(
                    std::net::TcpListener::bind(("127.0.0.1", port)),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
                );
                if taken {
                    return Ok(None);
                }
                bail!("the agent binary exited ({status}) before it came up on port {port}");
            }
            if Instant::now() > deadline {
                bail!("the agent binary did not come up on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn get_json(&self, key: &ServerKey, path: &str) -> Result<(u16, serde_json::Value)> {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(key.token())
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BinAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A WebSocket to the agent (exec), over TLS pinned to its certificate.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl TestAgent {
    pub async fn ws(&self, path: &str) -> Result<Ws> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let addr = self.url.trim_start_matches("https://").to_string();
        let tcp = tokio::net::TcpStream::connect(&addr).await?;
        let fp = berth_agent::tls::load_or_create(&self.config.paths().tls_dir(), &[])?
            .fingerprint()
            .to_string();
        let cfg = PinnedCert::new(&fp).client_config()?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect("localhost".try_into()?, tcp)
            .await?;
        let mut req = format!("wss://{addr}{path}").into_client_request()?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.key.token()).parse()?,
        );
        let (ws, _) = tokio_tungstenite::client_async(req, tls).await?;
        Ok(ws)
    }
}

/// Reads an exec session to its end: (terminal bytes, exit code).
pub async fn exec_output(ws: &mut Ws) -> Result<(String, Option<i64>)> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut out = Vec::new();
    let mut exit = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg? {
            Message::Binary(b) => out.extend_from_slice(&b),
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(&t)?;
                exit = v.get("exit").and_then(|e| e.as_i64()).or(exit);
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok((
        String::from_utf8_lossy(&out)
            .replace('\r', "")
            .replace('\0', " "),
        exit,
    ))
}

/// Compiles `src` into a static binary at `out`; `Ok(false)` when there
/// is no C compiler here.
pub fn cc_static(src: &str, out: &Path) -> Result<bool> {
    let c = out.with_extension("c");
    std::fs::write(&c, src)?;
    let o = match Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(out)
        .arg(&c)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    anyhow::ensure!(
        o.status.success(),
        "cc -static {}: {}",
        c.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(true)
}
