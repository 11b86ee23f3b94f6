//! The OCI runtime as the agent and its monitors drive it: create, start,
//! kill, pause, resume, delete, state (OCI runtime spec, "Operations").
//!
//! One trait, so the monitor and the container service do not care which
//! runtime runs the bundle:
//! - [`LibRuntime`], the default: Berth's own runtime library, in-process;
//!   `create` clones the init as a child of the caller (the monitor);
//! - [`CliRuntime`] drives any runc-compatible binary (`runc`, `crun`, the
//!   `berth-runtime` CLI) for comparison: `create` hands the container our
//!   stdio pipes and the init is reparented to the monitor, a subreaper.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{binary} {op} {id}: {detail}")]
    Failed {
        binary: PathBuf,
        op: &'static str,
        id: String,
        detail: String,
    },
    #[error("container {0} is unknown to the runtime")]
    NotFound(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the runtime says of a container (`state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    pub pid: Option<u32>,
}

/// The container's stdio, handed to its init process.
pub struct Stdio3 {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// An OCI runtime.
pub trait OciRuntime: Send + Sync {
    /// Creates the container from `bundle`; its init (a child or, through a
    /// subreaper, a descendant of the caller) waits for `start`. Returns its pid.
    fn create(&self, id: &str, bundle: &Path, stdio: Stdio3) -> Result<u32>;
    fn start(&self, id: &str) -> Result<()>;
    /// Sends `signal` to the init, or to every process of the container.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()>;
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    /// Removes the runtime's state and the container's cgroup; `force`
    /// kills what still runs first.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// `None` when the runtime does not know the container.
    fn state(&self, id: &str) -> Result<Option<RuntimeState>>;
    /// Runs `process` inside the running container (its namespaces, cgroup,
    /// capabilities and seccomp) with `stdio`; `tty` when stdin is a
    /// terminal to become the controlling one. Returns the pid of a child
    /// of the caller, which the caller reaps; its exit status is the
    /// process's.
    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        stdio: Stdio3,
        tty: bool,
    ) -> Result<ExecChild>;
}

/// A process started by [`OciRuntime::exec`].
pub struct ExecChild {
    pub pid: u32,
    /// Waits for it (blocking) and answers its exit code, or 128 + signal.
    pub wait: Box<dyn FnOnce() -> i32 + Send>,
}

/// Opens the runtime: the library when `binary` is `None`.
pub fn open(binary: Option<&Path>, root: &Path) -> Result<Box<dyn OciRuntime>> {
    Ok(match binary {
        None => Box::new(LibRuntime::new(root)?),
        Some(b) => Box::new(CliRuntime::new(b, root)),
    })
}

/// Berth's runtime library, in-process.
pub struct LibRuntime {
    rt: berth_runtime::Runtime,
}

impl LibRuntime {
    pub fn new(root: &Path) -> Result<Self> {
        let rt = berth_runtime::Runtime::new(root).map_err(|e| lib_error("open", "", e))?;
        Ok(Self { rt })
    }

    /// The library itself, for calls outside the trait (exec, stats).
    pub fn inner(&self) -> &berth_runtime::Runtime {
        &self.rt
    }
}

fn lib_error(op: &'static str, id: &str, e: berth_runtime::Error) -> Error {
    match e {
        berth_runtime::Error::NotFound(id) => Error::NotFound(id),
        other => Error::Failed {
            binary: PathBuf::from("berth-runtime (library)"),
            op,
            id: id.to_string(),
            detail: other.to_string(),
        },
    }
}

impl OciRuntime for LibRuntime {
    fn create(&self, id: &str, bundle: &Path, stdio: Stdio3) -> Result<u32> {
        let opts = berth_runtime::CreateOptions {
            stdio: Some([stdio.stdin, stdio.stdout, stdio.stderr]),
            ..Default::default()
        };
        let st = self
            .rt
            .create(id, bundle, opts)
            .map_err(|e| lib_error("create", id, e))?;
        u32::try_from(st.pid()).map_err(|_| Error::Failed {
            binary: PathBuf::from("berth-runtime (library)"),
            op: "create",
            id: id.to_string(),
            detail: format!("no pid (got {})", st.pid()),
        })
    }

    fn start(&self, id: &str) -> Result<()> {
        self.rt.start(id).map_err(|e| lib_error("start", id, e))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        self.rt
            .kill(id, signal, all)
            .map_err(|e| lib_error("kill", id, e))
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.rt.pause(id).map_err(|e| lib_error("pause", id, e))
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.rt.resume(id).map_err(|e| lib_error("resume", id, e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        match self.rt.delete(id, force) {
            Ok(()) | Err(berth_runtime::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(lib_error("delete", id, e)),
        }
    }

    fn state(&self, id: &str) -> Result<Option<RuntimeState>> {
        match self.rt.state(id) {
            Ok(st) => Ok(Some(RuntimeState {
                status: st.status_str(),
                pid: u32::try_from(st.pid()).ok().filter(|p| *p > 0),
            })),
            Err(berth_runtime::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(lib_error("state", id, e)),
        }
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        stdio: Stdio3,
        tty: bool,
    ) -> Result<ExecChild> {
        let opts = berth_runtime::ExecOptions {
            stdio: Some([stdio.stdin, stdio.stdout, stdio.stderr]),
            stdio_tty: tty,
            ..Default::default()
        };
        let pid = self
            .rt
            .exec(id, process, opts)
            .map_err(|e| lib_error("exec", id, e))?;
        let upid = u32::try_from(pid).map_err(|_| Error::Failed {
            binary: PathBuf::from("berth-runtime (library)"),
            op: "exec",
            id: id.to_string(),
            detail: format!("no pid (got {pid})"),
        })?;
        Ok(ExecChild {
            pid: upid,
            wait: Box::new(move || berth_runtime::wait(pid).unwrap_or(255)),
        })
    }
}

/// A runc-compatible runtime binary with its own state root.
#[derive(Debug, Clone)]
pub struct CliRuntime {
    pub binary: PathBuf,
    pub root: PathBuf,
}

#[derive(Deserialize)]
struct CliState {
    status: String,
    #[serde(default)]
    pid: u32,
}

impl CliRuntime {
    pub fn new(binary: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            root: root.into(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, op: &'static str, id: &str, mut cmd: Command) -> Result<Vec<u8>> {
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
        stdio: Stdio3,
        _tty: bool,
    ) -> Result<ExecChild> {
        let mut process = process.clone();
        // The binary gets the terminal as its stdio, like `runc exec` in a shell.
        process.set_terminal(Some(false));
        let file = self
            .root
            .join(format!("exec-{id}-{}.json", rand::random::<u64>()));
        let json = serde_json::to_vec(&process).map_err(|e| Error::Failed {
            binary: self.binary.clone(),
            op: "exec",
            id: id.to_string(),
            detail: e.to_string(),
        })?;
        std::fs::write(&file, json).map_err(|source| Error::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let mut c = self.command();
        c.arg("exec")
            .arg("--process")
            .arg(&file)
            .arg(id)
            .stdin(Stdio::from(stdio.stdin))
            .stdout(Stdio::from(stdio.stdout))
            .stderr(Stdio::from(stdio.stderr));
        let child = c.spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(source) => {
                let _ = std::fs::remove_file(&file);
                return Err(Error::Spawn {
                    binary: self.binary.clone(),
                    source,
                });
            }
        };
        Ok(ExecChild {
            pid: child.id(),
            wait: Box::new(move || {
                use std::os::unix::process::ExitStatusExt;
                let code = match child.wait() {
                    Ok(st) => st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                    Err(_) => 255,
                };
                let _ = std::fs::remove_file(&file);
                code
            }),
        })
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

/// The last `msg` of a runc JSON log, or its last line.
fn last_error_line(log: &str) -> Option<String> {
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
