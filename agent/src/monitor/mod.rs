//! `berth-agent monitor`: one small process per container, the role conmon
//! plays for Podman (docs/architecture.md, rule 4).
//!
//! The agent starts it and reads one line from its stdout: `ok <pid>` once
//! the container runs, or `error <why>`. Before that line the monitor has
//! forked away from the agent and called setsid(2), so the agent never waits
//! on it and a dying agent takes no container with it. The monitor then:
//! - is a child subreaper (prctl(2) `PR_SET_CHILD_SUBREAPER`), so the
//!   container's init is its child or is reparented to it;
//! - owns the container's stdout and stderr pipes and writes them to the log
//!   ([`logfile`]), so no line is lost while the agent is away;
//! - records `started.json` and `exited.json` ([`status`]);
//! - listens on a unix socket: the agent connects and learns that the
//!   container ended when the connection closes;
//! - after the init has exited, deletes the runtime's state (and cgroup).

pub mod logfile;
pub mod spawn;
pub mod status;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_api::containers::LogStream;
use chrono::Utc;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::runtime::{OciRuntime, Stdio3};
use logfile::{LineSplitter, LogWriter};
use status::{Exited, Started};

/// Arguments of `berth-agent monitor` (internal: the agent passes them).
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// The container id.
    #[arg(long)]
    pub id: String,
    /// The container's directory under the agent's data dir.
    #[arg(long)]
    pub container_dir: PathBuf,
    /// The OCI bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The unix socket to listen on.
    #[arg(long)]
    pub socket: PathBuf,
    /// The runtime's state root.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// A runc-compatible runtime binary (default: the runtime library).
    #[arg(long)]
    pub runtime_bin: Option<PathBuf>,
    #[arg(long, default_value_t = logfile::DEFAULT_MAX_SIZE)]
    pub log_max_size: u64,
    #[arg(long, default_value_t = logfile::DEFAULT_MAX_FILES)]
    pub log_max_files: u32,
}

impl MonitorArgs {
    fn runtime(&self) -> crate::runtime::Result<Box<dyn OciRuntime>> {
        crate::runtime::open(self.runtime_bin.as_deref(), &self.runtime_root)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.container_dir.join("logs")
    }
}

/// Runs the monitor; returns the process exit code. Must be called while
/// the process is single-threaded (before any runtime or thread starts).
pub fn run(args: MonitorArgs) -> i32 {
    // SAFETY: called from main before any thread exists, so the child is a
    // copy of a single-threaded process and may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            report(&format!("error fork the monitor: {e}"));
            return 1;
        }
    }
    if let Err(e) = nix::unistd::setsid() {
        report(&format!("error setsid: {e}"));
        return 1;
    }
    match supervise(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("monitor {}: {e}", args.id);
            1
        }
    }
}

/// Writes the one status line the agent waits for, then detaches stdout so
/// the agent sees end-of-file.
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(null.as_fd());
    }
}

struct Output {
    fd: OwnedFd,
    splitter: LineSplitter,
    open: bool,
}

fn supervise(args: &MonitorArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    nix::sys::prctl::set_child_subreaper(true).context("become a child subreaper")?;
    let runtime = match args.runtime() {
        Ok(r) => r,
        Err(e) => {
            report(&format!("error {e}"));
            return Err(e.into());
        }
    };

    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    chld.thread_block().context("block SIGCHLD")?;
    let sigfd = SignalFd::with_flags(&chld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("signalfd")?;

    let listener = listen(&args.socket)?;

    let limits = logfile::Limits {
        max_size: args.log_max_size,
        max_files: args.log_max_files,
        ..Default::default()
    };
    let mut log = LogWriter::open(&args.log_dir(), limits)
        .with_context(|| format!("open the log in {}", args.log_dir().display()))?;

    let (pid, out_r, err_r) = start(args, runtime.as_ref(), &chld)?;

    let mut outputs = [
        Output {
            fd: out_r,
            splitter: LineSplitter::new(LogStream::Stdout, limits.max_line),
            open: true,
        },
        Output {
            fd: err_r,
            splitter: LineSplitter::new(LogStream::Stderr, limits.max_line),
            open: true,
        },
    ];
    let mut clients: Vec<UnixStream> = Vec::new();
    let mut exit: Option<(i32, Option<i32>)> = None;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let hello = format!("{{\"pid\":{pid}}}\n");

    // Reap anything that ended while SIGCHLD was unblocked.
    reap(pid, &mut exit, &mut exited_at);
    loop {
        let outputs_open = outputs.iter().any(|o| o.open);
        if let Some(t) = exited_at
            && (!outputs_open || t.elapsed() > Duration::from_secs(2))
        {
            break;
        }
        let pending = outputs.iter().any(|o| o.splitter.pending_since().is_some());
        let timeout = if pending || exited_at.is_some() {
            200u16
        } else {
            5000
        };
        let ready = wait_ready(&sigfd, &listener, &outputs, timeout)?;
        if ready[0] {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            reap(pid, &mut exit, &mut exited_at);
        }
        if ready[1] {
            while let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(hello.as_bytes());
                clients.push(s);
            }
        }
        relay(&mut outputs, &ready[2..], &mut buf, &mut log);
    }
    let now = Utc::now();
    for o in outputs.iter_mut() {
        if let Some(l) = o.splitter.flush(false, now) {
            let _ = log.write(&l);
        }
    }
    record_exit(args, exit, now)?;
    if let Err(e) = runtime.delete(&args.id, true) {
        eprintln!("monitor {}: delete: {e}", args.id);
    }
    let _ = std::fs::remove_file(&args.socket);
    // Closing the clients tells the agent the container has ended.
    drop(clients);
    Ok(())
}

/// The agent's socket at `socket` (a stale one replaced), non-blocking.
fn listen(socket: &std::path::Path) -> anyhow::Result<UnixListener> {
    use anyhow::Context;
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let listener =
        UnixListener::bind(socket).with_context(|| format!("listen on {}", socket.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Writes `exited.json`: the init's status (255 when it was never seen).
fn record_exit(
    args: &MonitorArgs,
    exit: Option<(i32, Option<i32>)>,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let (exit_code, signal) = exit.unwrap_or((255, None));
    let exited = Exited {
        exit_code,
        signal,
        finished_at: now,
        error: None,
    };
    crate::fsutil::write_json(
        &args.container_dir.join(status::EXITED_FILE),
        &exited,
        0o644,
    )
    .context("write exited.json")?;
    Ok(())
}

/// Creates and starts the container with its output on two pipes, records
/// `started.json` and reports `ok <pid>` to the agent: the init's pid and
/// the read ends of its stdout and stderr. On failure the container is
/// deleted and `error ...` reported.
fn start(
    args: &MonitorArgs,
    runtime: &dyn OciRuntime,
    chld: &SigSet,
) -> anyhow::Result<(u32, OwnedFd, OwnedFd)> {
    use anyhow::Context;
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let stdin: OwnedFd = std::fs::File::open("/dev/null")?.into();
    let stdio = Stdio3 {
        stdin,
        stdout: out_w,
        stderr: err_w,
    };

    // The init must not inherit a blocked SIGCHLD.
    let _ = chld.thread_unblock();
    let created = runtime.create(&args.id, &args.bundle, stdio);
    let started = created.and_then(|pid| runtime.start(&args.id).map(|()| pid));
    let _ = chld.thread_block();
    let pid = match started {
        Ok(pid) => pid,
        Err(e) => {
            let _ = runtime.delete(&args.id, true);
            let _ = std::fs::remove_file(&args.socket);
            report(&format!("error {e}"));
            return Err(e.into());
        }
    };
    let started = Started {
        pid,
        monitor_pid: std::process::id(),
        started_at: Utc::now(),
        boot_id: status::boot_id(),
    };
    crate::fsutil::write_json(
        &args.container_dir.join(status::STARTED_FILE),
        &started,
        0o644,
    )
    .context("write started.json")?;
    report(&format!("ok {pid}"));

    Ok((pid, out_r, err_r))
}

/// Waits (up to `timeout` ms) for a signal, a client or output; which of
/// the signalfd, the listener and the two outputs are ready, in that order.
fn wait_ready(
    sigfd: &SignalFd,
    listener: &UnixListener,
    outputs: &[Output; 2],
    timeout: u16,
) -> anyhow::Result<Vec<bool>> {
    let mut fds = vec![
        PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        PollFd::new(listener.as_fd(), PollFlags::POLLIN),
    ];
    for o in outputs {
        let flags = if o.open {
            PollFlags::POLLIN
        } else {
            PollFlags::empty()
        };
        fds.push(PollFd::new(o.fd.as_fd(), flags));
    }
    match nix::poll::poll(&mut fds, PollTimeout::from(timeout)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(anyhow::anyhow!("poll: {e}")),
    }
    let ready: Vec<bool> = fds
        .iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    drop(fds);
    Ok(ready)
}

/// Reads what the ready outputs hold (`ready`: one flag per output) into
/// the log; a line left without its newline for a second is written as
/// partial.
fn relay(outputs: &mut [Output; 2], ready: &[bool], buf: &mut [u8], log: &mut LogWriter) {
    let now = Utc::now();
    for (i, o) in outputs.iter_mut().enumerate() {
        if !o.open || !ready[i] {
            continue;
        }
        match nix::unistd::read(o.fd.as_fd(), buf) {
            Ok(0) => {
                o.open = false;
                if let Some(l) = o.splitter.flush(false, now) {
                    let _ = log.write(&l);
                }
            }
            Ok(n) => {
                for l in o.splitter.feed(&buf[..n], now) {
                    let _ = log.write(&l);
                }
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(_) => o.open = false,
        }
    }
    // A line without its newline for a second is written as partial.
    for o in outputs.iter_mut() {
        if let Some(since) = o.splitter.pending_since()
            && (now - since).num_milliseconds() > 1000
            && let Some(l) = o.splitter.flush(true, now)
        {
            let _ = log.write(&l);
        }
    }
}

/// Reaps every ended child; records the init's status.
fn reap(init: u32, exit: &mut Option<(i32, Option<i32>)>, exited_at: &mut Option<Instant>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) => {
                if u32::try_from(p.as_raw()) == Ok(init) {
                    *exit = Some((code, None));
                    *exited_at = Some(Instant::now());
                }
            }
            Ok(WaitStatus::Signaled(p, sig, _)) => {
                if u32::try_from(p.as_raw()) == Ok(init) {
                    *exit = Some((128 + sig as i32, Some(sig as i32)));
                    *exited_at = Some(Instant::now());
                }
            }
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
