//! A terminal exec through an external runtime:
//! `<runtime> exec --detach --console-socket <socket> --pid-file <file>
//! --process <process.json> <id>`.
//!
//! runc and crun make the pty inside the container (in its devpts, as the
//! process's controlling terminal) and send the master over the console
//! socket in an SCM_RIGHTS message (unix(7)); the agent bridges that master
//! to the WebSocket and resizes it, as it does the pty of the built-in
//! runtime.
//!
//! runc takes a console socket only with `--detach`: it exits once the
//! process runs, and the process, its child, would be reparented to the
//! host's init with its exit status lost. So the runtime runs under a
//! reaper: the child the agent spawns is a fork of the agent that becomes a
//! child subreaper (prctl(2) `PR_SET_CHILD_SUBREAPER`) and forks the runtime.
//! When the runtime exits the process is reparented to the reaper, which
//! reports the runtime's outcome and the process's pid on a pipe, waits for
//! the process and exits with its status. The agent waits for the reaper.

use std::ffi::CString;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use super::binary::{CliRuntime, exit_code, last_error_line};
use super::{ExecChild, Result};

/// The files of one terminal exec, removed when dropped.
struct ExecFiles {
    process: PathBuf,
    pid: PathBuf,
    log: PathBuf,
    socket: PathBuf,
}

impl ExecFiles {
    fn new(root: &Path, process: PathBuf) -> Self {
        let tag = format!("{:016x}", rand::random::<u64>());
        Self {
            process,
            pid: root.join(format!("console-{tag}.pid")),
            log: root.join(format!("console-{tag}.log")),
            socket: root.join(format!("console-{tag}.sock")),
        }
    }
}

impl Drop for ExecFiles {
    fn drop(&mut self) {
        for f in [&self.process, &self.pid, &self.log, &self.socket] {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Runs `process` in container `id` on a new terminal of `cols` x `rows`.
pub(super) fn exec(
    rt: &CliRuntime,
    id: &str,
    process: &oci_spec::runtime::Process,
    cols: u16,
    rows: u16,
) -> Result<ExecChild> {
    let failed = |detail: String| rt.failed("exec", id, detail);
    let mut process = process.clone();
    process.set_terminal(Some(true));
    let size = oci_spec::runtime::BoxBuilder::default()
        .width(u64::from(cols))
        .height(u64::from(rows))
        .build()
        .map_err(|e| failed(format!("console size: {e}")))?;
    process.set_console_size(Some(size));
    let files = ExecFiles::new(&rt.root, rt.process_file(id, &process)?);
    // In the runtime root (0700, the agent's): only root reaches the socket.
    let listener = UnixListener::bind(&files.socket)
        .map_err(|e| failed(format!("console socket {}: {e}", files.socket.display())))?;
    let log = std::fs::File::create(&files.log).map_err(|e| rt.spawn_error(e))?;
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| rt.spawn_error(e.into()))?;
    let pid_file = CString::new(files.pid.as_os_str().as_bytes())
        .map_err(|_| failed("a NUL in the runtime root".into()))?;

    let mut cmd = rt.command();
    cmd.arg("exec")
        .arg("--detach")
        .arg("--console-socket")
        .arg(&files.socket)
        .arg("--pid-file")
        .arg(&files.pid)
        .arg("--process")
        .arg(&files.process)
        .arg(id)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    let report_fd = report_w.as_raw_fd();
    // SAFETY: `reaper::fork` makes only async-signal-safe calls and does
    // not allocate (the pid file's path is made before the fork).
    unsafe { cmd.pre_exec(move || reaper::fork(report_fd, &pid_file)) };
    // After the reaper's step: it runs in the runtime process only.
    rt.view.apply(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| rt.spawn_error(e))?;
    drop(report_w);

    let report = read_report(report_r);
    let outcome = match report {
        Some((0, pid)) if pid > 0 => receive_terminal(&listener).map(|t| (pid.unsigned_abs(), t)),
        Some((0, _)) => Err(format!("no pid in {}", files.pid.display())),
        Some((code, _)) => {
            let log = std::fs::read_to_string(&files.log).unwrap_or_default();
            Err(last_error_line(&log).unwrap_or_else(|| format!("exited with {code}")))
        }
        None => Err("the runtime's reaper ended without a word".to_string()),
    };
    match outcome {
        Ok((pid, terminal)) => Ok(ExecChild {
            pid,
            wait: Box::new(move || child.wait().map(exit_code).unwrap_or(255)),
            terminal: Some(terminal),
        }),
        Err(detail) => {
            if let Some((0, pid)) = report.filter(|(_, pid)| *pid > 0) {
                // Running without a terminal we hold: nobody could use it.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait();
            Err(failed(detail))
        }
    }
}

/// The reaper's report: the runtime's exit code and the process's pid.
fn read_report(fd: OwnedFd) -> Option<(i32, i32)> {
    let mut buf = [0u8; 8];
    std::fs::File::from(fd).read_exact(&mut buf).ok()?;
    let code = i32::from_ne_bytes(buf[..4].try_into().ok()?);
    let pid = i32::from_ne_bytes(buf[4..].try_into().ok()?);
    Some((code, pid))
}

/// The pty master the runtime sent. It has exited successfully by now, so
/// its connection is queued; the timeouts only bound a misbehaving one.
fn receive_terminal(listener: &UnixListener) -> std::result::Result<OwnedFd, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    let (conn, _) = listener
        .accept()
        .map_err(|e| format!("the runtime sent no terminal: {e}"))?;
    conn.set_nonblocking(false)
        .and_then(|()| conn.set_read_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| format!("console socket: {e}"))?;
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("receive the terminal: {e}"))?;
    let mut fds = Vec::new();
    for cmsg in msg
        .cmsgs()
        .map_err(|e| format!("receive the terminal: {e}"))?
    {
        if let ControlMessageOwned::ScmRights(rights) = cmsg {
            // SAFETY: SCM_RIGHTS installed these fds in this process for us
            // alone; each is owned once, here.
            fds.extend(
                rights
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let mut fds = fds.into_iter();
    let master = fds
        .next()
        .ok_or_else(|| "the runtime's console message held no fd".to_string())?;
    if fds.next().is_some() {
        return Err("the runtime sent more than one fd".into());
    }
    if !nix::unistd::isatty(&master).unwrap_or(false) {
        return Err("the runtime sent an fd that is not a terminal".into());
    }
    Ok(master)
}

/// The reaper, in the child `Command::spawn` forks, before exec. Only
/// async-signal-safe system calls: the agent has other threads. Through nix
/// where its wrapper allocates nothing; raw for what nix lacks
/// (`close_range`, `_exit`) and for `waitpid`, whose status must stay the
/// raw number (nix's `WaitStatus` cannot name a real-time signal).
mod reaper {
    use std::ffi::CStr;
    use std::os::fd::{BorrowedFd, RawFd};

    use nix::errno::Errno;
    use nix::fcntl::{OFlag, open};
    use nix::sys::signal::{SigHandler, Signal, signal};
    use nix::sys::stat::Mode;
    use nix::unistd::{ForkResult, close, read, write};

    /// Becomes a child subreaper and forks: the child returns (and goes on
    /// to exec the runtime); this process reaps and never returns.
    pub fn fork(report: RawFd, pid_file: &CStr) -> std::io::Result<()> {
        nix::sys::prctl::set_child_subreaper(true)?;
        // SAFETY: this process is the single-threaded child of a spawn; both
        // sides only make async-signal-safe calls until exec or exit.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => {
                let _ = close(report);
                Ok(())
            }
            // SAFETY: as above, in the parent side of the fork.
            ForkResult::Parent { child } => unsafe { reap(child.as_raw(), report, pid_file) },
        }
    }

    /// Waits for the runtime, reports, waits for the process, exits with
    /// its status.
    unsafe fn reap(runtime: libc::pid_t, report: RawFd, pid_file: &CStr) -> ! {
        // SAFETY: SIG_DFL is always a valid disposition.
        let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
        // SAFETY: async-signal-safe calls on our own fds and buffers.
        unsafe {
            // Hold nothing of the agent's: its spawn waits for the close of
            // an exec-error pipe, and sockets and ptys must close with it.
            if report > 3 {
                libc::syscall(libc::SYS_close_range, 3, report - 1, 0);
            }
            libc::syscall(libc::SYS_close_range, report + 1, u32::MAX, 0);
        }
        let code = exit_code(wait_for(runtime));
        let pid = if code == 0 { read_pid(pid_file) } else { 0 };
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&code.to_ne_bytes());
        buf[4..].copy_from_slice(&pid.to_ne_bytes());
        // SAFETY: `report` is the pipe this process was given, open until
        // the close below.
        let _ = write(unsafe { BorrowedFd::borrow_raw(report) }, &buf);
        let _ = close(report);
        // SAFETY: waitpid and _exit on our own children and status.
        unsafe {
            if pid <= 0 {
                libc::_exit(255);
            }
            // The process, and whatever else is reparented here (a
            // runtime's helpers): report the process's status only.
            loop {
                let mut status = 0;
                let r = libc::waitpid(-1, &mut status, 0);
                if r == pid {
                    libc::_exit(exit_code(status));
                }
                if r < 0 && Errno::last() != Errno::EINTR {
                    libc::_exit(255);
                }
            }
        }
    }

    fn wait_for(pid: libc::pid_t) -> libc::c_int {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into our local.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                return status;
            }
            if r < 0 && Errno::last() != Errno::EINTR {
                return 255 << 8;
            }
        }
    }

    fn exit_code(status: libc::c_int) -> i32 {
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            128 + libc::WTERMSIG(status)
        } else {
            255
        }
    }

    /// The pid the runtime wrote, or 0.
    fn read_pid(path: &CStr) -> libc::pid_t {
        let mut buf = [0u8; 24];
        let Ok(fd) = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) else {
            return 0;
        };
        let Ok(n) = read(&fd, &mut buf) else {
            return 0;
        };
        parse_pid(&buf[..n])
    }

    pub(super) fn parse_pid(bytes: &[u8]) -> libc::pid_t {
        let mut pid: libc::pid_t = 0;
        for &b in bytes {
            match b {
                b'0'..=b'9' => {
                    pid = match pid
                        .checked_mul(10)
                        .and_then(|p| p.checked_add((b - b'0').into()))
                    {
                        Some(p) => p,
                        None => return 0,
                    }
                }
                b'\n' | b' ' => break,
                _ => return 0,
            }
        }
        pid
    }
}

#[cfg(test)]
mod tests {
    use super::reaper::parse_pid;

    #[test]
    fn pid_files_parse_without_allocating() {
        assert_eq!(parse_pid(b"24653"), 24653);
        assert_eq!(parse_pid(b"24653\n"), 24653);
        assert_eq!(parse_pid(b""), 0);
        assert_eq!(parse_pid(b"12a"), 0);
        assert_eq!(parse_pid(b"99999999999999"), 0);
    }
}
