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

/// Forgets the previous run's files before a new start.
pub fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(STARTED_FILE));
    let _ = std::fs::remove_file(dir.join(EXITED_FILE));
}

/// Is `pid` a live monitor process for container `id`? (Guards against a
/// recycled pid.)
pub fn monitor_alive(pid: u32, id: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.contains(&b"monitor".as_slice()) && args.contains(&id.as_bytes())
}
