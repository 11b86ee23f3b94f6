//! [`CliRuntime`]: a runc-compatible binary, one command per operation.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::binary::{CliRuntime, exit_code, last_error_line};
use super::{Error, ExecChild, ExecIo, OciRuntime, Result, RuntimeState, Stdio3};

#[derive(Deserialize)]
struct CliState {
    status: String,
    #[serde(default)]
    pid: u32,
}

impl CliRuntime {
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
