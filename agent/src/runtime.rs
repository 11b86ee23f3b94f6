//! The OCI runtime as the agent and its monitors drive it: create, start,
//! kill, pause, resume, delete, state (OCI runtime spec, "Operations").
//!
//! One trait, so the monitor and the container service do not care which
//! runtime runs the bundle:
//! - [`LibRuntime`], the default: Berth's own runtime library, in-process;
//!   `create` clones the init as a child of the caller (the monitor);
//! - [`CliRuntime`] drives any runc-compatible binary (`runc`, `crun`, the
//!   `berth-runtime` CLI) for comparison: `create` hands the container our
//!   stdio pipes and the init is reparented to the monitor, a subreaper; a
//!   terminal exec gets its pty master over `--console-socket`
//!   (`console.rs`); crun on a hybrid cgroup host runs in a private mount
//!   namespace without the cgroup2 mount it refuses (`cgroup_view.rs`).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

mod binary;
mod cgroup_view;
mod cli;
mod console;

pub use binary::CliRuntime;

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

/// The stdio of an exec.
pub enum ExecIo {
    /// Given stdin, stdout and stderr (pipes).
    Pipes(Stdio3),
    /// A new terminal of `cols` x `rows`, the process's controlling one;
    /// its master comes back in [`ExecChild::terminal`].
    Terminal { cols: u16, rows: u16 },
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
    /// capabilities and seccomp) with `io`.
    fn exec(&self, id: &str, process: &oci_spec::runtime::Process, io: ExecIo)
    -> Result<ExecChild>;
}

/// A process started by [`OciRuntime::exec`].
pub struct ExecChild {
    /// The process, for signals.
    pub pid: u32,
    /// Waits for it (blocking) and answers its exit code, or 128 + signal.
    pub wait: Box<dyn FnOnce() -> i32 + Send>,
    /// The terminal's master, with [`ExecIo::Terminal`].
    pub terminal: Option<OwnedFd>,
}

/// A new pty of `cols` x `rows`: (master, slave).
fn open_pty(cols: u16, rows: u16) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let winsize = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&winsize, None)?;
    Ok((pty.master, pty.slave))
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
        io: ExecIo,
    ) -> Result<ExecChild> {
        let failed = |detail: String| Error::Failed {
            binary: PathBuf::from("berth-runtime (library)"),
            op: "exec",
            id: id.to_string(),
            detail,
        };
        // A terminal: a pty whose slave is the process's stdio and becomes
        // its controlling terminal; we keep the master.
        let (stdio, tty, terminal) = match io {
            ExecIo::Pipes(s) => ([s.stdin, s.stdout, s.stderr], false, None),
            ExecIo::Terminal { cols, rows } => {
                let (master, slave) =
                    open_pty(cols, rows).map_err(|e| failed(format!("open a pty: {e}")))?;
                let copy = || slave.try_clone().map_err(|e| failed(format!("dup: {e}")));
                ([copy()?, copy()?, slave], true, Some(master))
            }
        };
        let opts = berth_runtime::ExecOptions {
            stdio: Some(stdio),
            stdio_tty: tty,
            ..Default::default()
        };
        let pid = self
            .rt
            .exec(id, process, opts)
            .map_err(|e| lib_error("exec", id, e))?;
        let upid = u32::try_from(pid).map_err(|_| failed(format!("no pid (got {pid})")))?;
        Ok(ExecChild {
            pid: upid,
            wait: Box::new(move || berth_runtime::wait(pid).unwrap_or(255)),
            terminal,
        })
    }
}
