//! The runc-compatible binary behind [`CliRuntime`]: how its commands are
//! built, how its failures become errors, and how its exits and JSON logs
//! are read. `cli.rs` (one command per operation) and `console.rs` (an
//! exec with a pty) both build on this; neither imports the other's
//! internals back.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::cgroup_view::CgroupView;
use super::{Error, Result};

/// A runc-compatible runtime binary with its own state root.
#[derive(Debug, Clone)]
pub struct CliRuntime {
    pub binary: PathBuf,
    pub root: PathBuf,
    /// How its commands see the host's cgroups (`cgroup_view.rs`).
    pub(super) view: CgroupView,
}

impl CliRuntime {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        let binary = binary.into();
        Self {
            view: CgroupView::for_runtime(&binary),
            binary,
            root: root.into(),
        }
    }

    /// `<binary> --root <root>`, stdin from /dev/null. Spawn it only
    /// after [`CgroupView::apply`].
    pub(super) fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    pub(super) fn failed(&self, op: &'static str, id: &str, detail: impl Into<String>) -> Error {
        Error::Failed {
            binary: self.binary.clone(),
            op,
            id: id.to_string(),
            detail: detail.into(),
        }
    }

    pub(super) fn spawn_error(&self, source: std::io::Error) -> Error {
        Error::Spawn {
            binary: self.binary.clone(),
            source,
        }
    }

    /// Writes `process` for `exec --process`; the caller removes the file.
    pub(super) fn process_file(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
    ) -> Result<PathBuf> {
        let file = self
            .root
            .join(format!("exec-{id}-{:016x}.json", rand::random::<u64>()));
        let json =
            serde_json::to_vec(process).map_err(|e| self.failed("exec", id, e.to_string()))?;
        std::fs::write(&file, json).map_err(|e| self.spawn_error(e))?;
        Ok(file)
    }
}

/// An exit status as a shell reports it: the code, or 128 + the signal.
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The last `msg` of a runc JSON log, or its last line.
pub(super) fn last_error_line(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let l = l.trim();
        if l.is_empty() {
            return None;
        }
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => v.get("msg").and_then(|m| m.as_str()).map(str::to_string),
            Err(_) => Some(l.to_string()),
        }
    })
}
