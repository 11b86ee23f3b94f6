//! [`CliRuntime`]: a runc-compatible binary, one command per operation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::cgroup_view::CgroupView;
use super::{Error, ExecChild, ExecIo, OciRuntime, Result, RuntimeState, Stdio3};

/// A runc-compatible runtime binary with its own state root.
#[derive(Debug, Clone)]
pub struct CliRuntime {
    pub binary: PathBuf,
    pub root: PathBuf,
    /// How its commands see the host's cgroups (`cgroup_view.rs`).
    pub(super) view: CgroupView,
}

#[derive(Deserialize)]
struct CliState {
    status: String,
    #[serde(default)]
    pid: u32,
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

    fn run(&self, op: &'static str, id: &str, mut cmd: Command) -> Result<Vec<u8>> {
        self.view.apply(&mut cmd);
        let out = cmd.output().map_err(|source| Error::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if detail.contains("does not exist") || detail.contains("not found") {
            return Err(Error::NotFound(id.to_string()));
        }
        Err(Error::Failed {
            binary: self.binary.clone(),
            op,
            id: id.to_string(),
            detail: if detail.is_empty() {
                out.status.to_string()
            } else {
                detail
            },
        })
    }

    fn simple(&self, op: &'static str, id: &str, extra: &[&str]) -> Result<()> {
        let mut c = self.command();
        c.arg(op).args(extra).arg(id);
        self.run(op, id, c).map(|_| ())
    }
}

impl OciRuntime for CliRuntime {
    fn create(&self, id: &str, bundle: &Path, stdio: Stdio3) -> Result<u32> {
        let pid_file = bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        // The runtime's own errors go to its --log file so they can be
        // reported; stderr carries the container's stderr.
        let log = bundle.join("runtime.log");
        let _ = std::fs::remove_file(&log);
        let mut c = self.command();
        c.arg("--log")
            .arg(&log)
            .arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(Stdio::from(stdio.stdin))
            .stdout(Stdio::from(stdio.stdout));
        c.stderr(Stdio::from(stdio.stderr));
        self.view.apply(&mut c);
        let status = c.status().map_err(|source| Error::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        if !status.success() {
            let detail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(Error::Failed {
                binary: self.binary.clone(),
                op: "create",
                id: id.to_string(),
                detail: last_error_line(&detail).unwrap_or_else(|| status.to_string()),
            });
        }
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .ok_or_else(|| Error::Failed {
                binary: self.binary.clone(),
                op: "create",
                id: id.to_string(),
                detail: format!("no pid in {}", pid_file.display()),
            })?;
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.simple("start", id, &[])
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let mut c = self.command();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        c.arg(id).arg(signal.to_string());
        self.run("kill", id, c).map(|_| ())
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.simple("pause", id, &[])
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.simple("resume", id, &[])
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        match self.simple("delete", id, if force { &["--force"] } else { &[] }) {
            Err(Error::NotFound(_)) => Ok(()),
            r => r,
        }
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ExecIo,
    ) -> Result<ExecChild> {
        match io {
            ExecIo::Pipes(stdio) => self.exec_pipes(id, process, stdio),
            ExecIo::Terminal { cols, rows } => super::console::exec(self, id, process, cols, rows),
        }
    }

    fn state(&self, id: &str) -> Result<Option<RuntimeState>> {
        let mut c = self.command();
        c.arg("state").arg(id);
        match self.run("state", id, c) {
            Ok(out) => {
                let s: CliState = serde_json::from_slice(&out).map_err(|e| Error::Failed {
                    binary: self.binary.clone(),
                    op: "state",
                    id: id.to_string(),
                    detail: e.to_string(),
                })?;
                Ok(Some(RuntimeState {
                    status: s.status,
                    pid: (s.pid > 0).then_some(s.pid),
                }))
            }
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl CliRuntime {
    /// `exec` with our pipes as the process's stdio: the runtime stays in
    /// the foreground, forwards signals and exits with the process's status.
    fn exec_pipes(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        stdio: Stdio3,
    ) -> Result<ExecChild> {
        let mut process = process.clone();
        process.set_terminal(Some(false));
        let file = self.process_file(id, &process)?;
        let mut c = self.command();
        c.arg("exec")
            .arg("--process")
            .arg(&file)
            .arg(id)
            .stdin(Stdio::from(stdio.stdin))
            .stdout(Stdio::from(stdio.stdout))
            .stderr(Stdio::from(stdio.stderr));
        self.view.apply(&mut c);
        let mut child = match c.spawn() {
            Ok(c) => c,
            Err(source) => {
                let _ = std::fs::remove_file(&file);
                return Err(self.spawn_error(source));
            }
        };
        Ok(ExecChild {
            pid: child.id(),
            wait: Box::new(move || {
                let code = child.wait().map(exit_code).unwrap_or(255);
                let _ = std::fs::remove_file(&file);
                code
            }),
            terminal: None,
        })
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
