//! The files a monitor leaves in its container's directory, read by the
//! agent (also after a restart, to re-adopt): `started.json` once the
//! container runs, `exited.json` once it has ended.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const STARTED_FILE: &str = "started.json";
pub const EXITED_FILE: &str = "exited.json";

/// Written after `start` succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The container's init, in the host's pid namespace.
    pub pid: u32,
    pub monitor_pid: u32,
    pub started_at: DateTime<Utc>,
    /// /proc/sys/kernel/random/boot_id at start: another boot means every
    /// pid here is stale.
    pub boot_id: String,
}

/// Written when the init has ended (or the start failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exited {
    /// The exit status, or 128 + the signal that killed it.
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub finished_at: DateTime<Utc>,
    /// Why the container could not start, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The running kernel's boot id ("" when unreadable).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn read_started(dir: &Path) -> Option<Started> {
    crate::fsutil::read_json(&dir.join(STARTED_FILE))
        .ok()
        .flatten()
}

pub fn read_exited(dir: &Path) -> Option<Exited> {
    crate::fsutil::read_json(&dir.join(EXITED_FILE))
        .ok()
        .flatten()
}

/// Waits at most `within` for the exit record of a container whose process
/// is gone (its monitor writes it right after reaping).
pub async fn wait_exited(dir: &Path, within: std::time::Duration) -> Option<Exited> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(x) = read_exited(dir) {
            return Some(x);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Is `pid` a live process (not gone, not a zombie waiting to be reaped)?
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    procfs::process::Process::new(pid).is_ok_and(|p| p.is_alive())
}

/// Forgets the previous run's files before a new start.
pub fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(STARTED_FILE));
    let _ = std::fs::remove_file(dir.join(EXITED_FILE));
}

/// Is `pid` a live monitor process for container `id`? (Guards against a
/// recycled pid.) The command line is read as bytes: procfs's `cmdline()`
/// fails on an argument that is not UTF-8, such as a container directory's
/// path may hold.
pub fn monitor_alive(pid: u32, id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.contains(&b"monitor".as_slice()) && args.contains(&id.as_bytes())
}

#[cfg(test)]
mod alive_tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_child_is_not_alive_and_a_late_exit_is_waited_for() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie is not alive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_alive(pid) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!process_alive(pid));

        let dir = tempfile::tempdir().unwrap();
        let quick = std::time::Duration::from_millis(100);
        assert!(wait_exited(dir.path(), quick).await.is_none());
        let writer = {
            let dir = dir.path().to_path_buf();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let x = Exited {
                    exit_code: 7,
                    signal: None,
                    finished_at: chrono::Utc::now(),
                    error: None,
                };
                crate::fsutil::write_json(&dir.join(EXITED_FILE), &x, 0o600).unwrap();
            })
        };
        let got = wait_exited(dir.path(), std::time::Duration::from_secs(10)).await;
        writer.await.unwrap();
        assert_eq!(got.map(|x| x.exit_code), Some(7));
    }
}
