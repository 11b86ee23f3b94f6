//! Shared fixtures of the network tests (owner: the networking engineer).
//!
//! Each test gets its own "host": a scratch network namespace (`ip netns
//! add bt…`) in which the agent's [`Network`] is opened and which holds the
//! bridge, the veths and the nftables table, so tests run in parallel and
//! never touch the machine's own network, a real `berth0` or its sysctls.
//! The body runs on a thread that joined that namespace, under a
//! current-thread tokio runtime. "Containers" are the persistent namespaces
//! the module makes (or `unshare -n` children); programs run in them with
//! `nsenter --net=…` (busybox from Debian's busybox-static, curl).
//!
//! Guards undo everything even when a test fails: processes are killed and
//! reaped, mounts under the temp dir are detached, the scratch namespaces
//! are deleted (taking bridge, veths and table with them).

#![allow(dead_code)]

use std::future::Future;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_agent::network::{Ipv4Network, NetworkConfig};
use nix::sched::{CloneFlags, setns};

/// Why these tests cannot run here, if they cannot.
pub fn unsupported() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("needs root".into());
    }
    for bin in [
        "/usr/sbin/nft",
        "/bin/busybox",
        "/usr/bin/nsenter",
        "/usr/bin/curl",
    ] {
        if !Path::new(bin).exists() {
            return Some(format!("needs {bin}"));
        }
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs iproute2's ip".into());
    }
    None
}

/// Returns early from a test (with a printed reason) where it cannot run.
#[macro_export]
macro_rules! require_root_network {
    () => {
        if let Some(why) = network_support::unsupported() {
            berth_testkit::skip(&why);
            return;
        }
    };
}

/// A short name unique to this process and call: `bt` + 8 hex digits (fits
/// interface names).
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!("{tag}/{}/{n}/{nanos}", std::process::id()).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    // The low 32 bits of the hash: 8 hex digits.
    format!("bt{:08x}", h & 0xffff_ffff)
}

/// Runs a command and returns its output (never panics on failure).
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {args:?}: {e}"))
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named scratch network namespace (`ip netns add`), deleted on drop.
pub struct NetNs {
    pub name: String,
    pub path: PathBuf,
}

impl NetNs {
    pub fn new(name: &str) -> Self {
        run_ok(&["ip", "netns", "add", name]);
        let ns = NetNs {
            name: name.to_string(),
            path: PathBuf::from(format!("/run/netns/{name}")),
        };
        run_ok(&["ip", "-n", name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `args` inside this namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        in_netns(&self.path, args)
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap_or_default()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Runs `args` with `nsenter --net=<netns>`.
pub fn in_netns(netns: &Path, args: &[&str]) -> Output {
    let net = format!("--net={}", netns.display());
    let mut all = vec!["nsenter", net.as_str(), "--"];
    all.extend_from_slice(args);
    run(&all)
}

/// A test's host: a scratch namespace and a temp dir for the agent's state
/// and namespace files.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub host: NetNs,
    pub name: String,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        let dir = tempfile::Builder::new()
            .prefix("berth-net-")
            .tempdir()
            .expect("tempdir");
        let host = NetNs::new(&format!("{name}h"));
        Scratch { dir, host, name }
    }

    /// An agent configuration under this scratch dir: bridge and table named
    /// after the test, a /24 subnet unless told.
    pub fn config(&self, agent: &str, subnet: &str) -> NetworkConfig {
        let root = self.dir.path().join(agent);
        let mut cfg = NetworkConfig::new(&root.join("data"), &root.join("run"));
        cfg.bridge = format!("{}{agent}", self.name);
        cfg.table = format!("{}{agent}", self.name);
        cfg.subnet = subnet.parse::<Ipv4Network>().expect("subnet");
        let resolv = root.join("resolv.conf");
        let _ = std::fs::create_dir_all(&root);
        let _ = std::fs::write(
            &resolv,
            "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch test\n",
        );
        cfg.resolv_conf = Some(resolv);
        cfg
    }

    /// Runs `body` on a thread inside the host namespace, with a runtime.
    pub fn run<F, Fut>(&self, body: F) -> Fut::Output
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        block_on_in(&self.host.path, body)
    }

    /// The nftables table of agent config `table`, as JSON, from the host
    /// namespace.
    pub fn nft_table(&self, table: &str) -> Option<serde_json::Value> {
        nft_table_in(&self.host.path, table)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_under(self.dir.path());
    }
}

/// Detaches every mount at or below `dir` (namespace files, the self-bind
/// of the namespace directory), deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let Ok(dir) = dir.canonicalize() else { return };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `body` under a current-thread runtime on a thread that joined the
/// network namespace at `ns`.
pub fn block_on_in<F, Fut>(ns: &Path, body: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    let file = std::fs::File::open(ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(body())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Runs a blocking closure on a thread inside the network namespace `ns`.
pub fn in_ns_thread<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// `nft -j list table ip <table>` in namespace `ns`; `None` when absent.
pub fn nft_table_in(ns: &Path, table: &str) -> Option<serde_json::Value> {
    let out = in_netns(ns, &["nft", "-j", "list", "table", "ip", table]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The rules of `chain` in a listed table.
pub fn rules_of<'a>(table: &'a serde_json::Value, chain: &str) -> Vec<&'a serde_json::Value> {
    table["nftables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("rule"))
                .filter(|r| r["chain"] == chain)
                .collect()
        })
        .unwrap_or_default()
}

/// A process this test started; killed and reaped on drop.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `args` inside the network namespace `netns`.
pub fn spawn_in(netns: &Path, args: &[&str]) -> Proc {
    let child = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    Proc { child }
}

/// busybox httpd serving `body` as /index.html on `port` in `netns`.
pub fn httpd(netns: &Path, www: &Path, port: u16, body: &str) -> Proc {
    std::fs::create_dir_all(www).expect("www dir");
    std::fs::write(www.join("index.html"), body).expect("index.html");
    let p = format!("{port}");
    let h = www.to_str().expect("utf-8 path");
    spawn_in(netns, &["/bin/busybox", "httpd", "-f", "-p", &p, "-h", h])
}

/// `curl -s` of `url` from namespace `ns`; the body on success.
pub fn curl_in(ns: &Path, url: &str) -> Option<String> {
    let out = in_netns(ns, &["curl", "-s", "-m", "3", url]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` until it returns `Some`, for up to `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
