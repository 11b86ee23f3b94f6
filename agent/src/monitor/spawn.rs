//! The agent's side of a monitor: start one and read its status line, and
//! wait (asynchronously) for the container it watches to end.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::MonitorArgs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("start the monitor {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The runtime refused the container; the text is the runtime's reason.
    #[error("{0}")]
    Start(String),
    #[error("the monitor ended without saying whether the container started{0}")]
    Silent(String),
}

/// What monitors run (CVE-2019-5736, see `berth_runtime::sealed`: a
/// monitor clones the container's init from itself, so it must never run
/// from the berth-agent file on the host): `monitor_bin` itself when it is
/// this process's own sealed copy (`/proc/self/exe` of a sealed agent),
/// else `/proc/self/fd/<n>` of one sealed copy of `monitor_bin`, made on
/// first use and kept for the life of the process, so that every monitor
/// runs from one copy in memory. `monitor_bin` when no copy can be made:
/// the monitor then re-runs itself from a copy of its own.
fn sealed_program(monitor_bin: &Path) -> PathBuf {
    static COPIES: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());
    if monitor_bin == Path::new("/proc/self/exe") && berth_runtime::sealed::is_sealed() {
        return monitor_bin.to_path_buf();
    }
    let fd_path = |f: &File| PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, f)) = copies.iter().find(|(p, _)| p == monitor_bin) {
        return fd_path(f);
    }
    match berth_runtime::sealed::sealed_copy(monitor_bin) {
        Ok(f) => {
            let p = fd_path(&f);
            copies.push((monitor_bin.to_path_buf(), f));
            p
        }
        Err(e) => {
            tracing::warn!(binary = %monitor_bin.display(), error = %e, "no sealed copy of the monitor binary: each monitor makes its own");
            monitor_bin.to_path_buf()
        }
    }
}

/// Starts `monitor_bin monitor ARGS` (from a sealed copy, see
/// [`sealed_program`]) and waits for its status line; returns the
/// container's pid. Blocking: call it from `spawn_blocking`.
pub fn start(monitor_bin: &Path, args: &MonitorArgs) -> Result<u32, Error> {
    let monitor_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.container_dir.join("monitor.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut cmd = Command::new(sealed_program(monitor_bin));
    // Keep the command line saying what they are (`berth-agent monitor
    // --id …`), whatever /proc path runs them.
    cmd.arg0("berth-agent");
    if let Some(bin) = &args.runtime_bin {
        cmd.arg("monitor").arg("--runtime-bin").arg(bin);
    } else {
        cmd.arg("monitor");
    }
    let mut child = cmd
        .arg("--id")
        .arg(&args.id)
        .arg("--container-dir")
        .arg(&args.container_dir)
        .arg("--bundle")
        .arg(&args.bundle)
        .arg("--socket")
        .arg(&args.socket)
        .arg("--runtime-root")
        .arg(&args.runtime_root)
        .arg("--log-max-size")
        .arg(args.log_max_size.to_string())
        .arg("--log-max-files")
        .arg(args.log_max_files.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(monitor_log)
        .spawn()
        .map_err(|source| Error::Spawn {
            binary: monitor_bin.to_path_buf(),
            source,
        })?;
    let mut line = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut line);
    }
    // The first process exits as soon as it has forked the monitor.
    let _ = child.wait();
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ok ") {
        return pid
            .trim()
            .parse()
            .map_err(|_| Error::Silent(format!(" (it said {line:?})")));
    }
    if let Some(why) = line.strip_prefix("error ") {
        return Err(Error::Start(why.to_string()));
    }
    let log = std::fs::read_to_string(args.container_dir.join("monitor.log")).unwrap_or_default();
    let tail = log
        .lines()
        .last()
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    Err(Error::Silent(tail))
}

/// Waits until the monitor listening on `socket` ends (the container has
/// ended). Returns at once when no monitor listens there.
pub async fn wait_for_exit(socket: &Path) {
    use tokio::io::AsyncReadExt;
    let mut stream = match tokio::net::UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                // Should not happen on a unix socket; avoid a busy loop.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if tokio::net::UnixStream::connect(socket).await.is_err() {
                    return;
                }
            }
        }
    }
}
