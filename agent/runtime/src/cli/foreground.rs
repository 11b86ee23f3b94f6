//! `run`: create + start, then (unless `--detach`) stay in the foreground:
//! forward signals to the container, relay a terminal when the process has
//! one and no console socket was given, reap the init, delete the
//! container, and exit with its status.

use std::io::{stdin, stdout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use berth_runtime::{Runtime, config};
use oci_spec::runtime::Spec;

use super::{CreateArgs, create_options};

/// Signals the foreground run forwards to the container.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

/// Blocks the forwarded signals and SIGCHLD and answers a signalfd for them.
fn signal_fd() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        set.add(*s);
    }
    // Blocking them in this thread (the CLI has one) makes them pend for
    // the signalfd.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("sigprocmask")?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).context("signalfd")
}

/// A pty pair (master, slave).
pub(crate) fn openpty_pair() -> Result<(OwnedFd, OwnedFd)> {
    let pty = nix::pty::openpty(None, None).context("openpty")?;
    Ok((pty.master, pty.slave))
}

/// Puts our terminal in raw mode while alive.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enable() -> RawMode {
        let Ok(orig) = tcgetattr(stdin()) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin(), SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = tcsetattr(stdin(), SetArg::TCSANOW, t);
        }
    }
}

/// The terminal size of `from` onto `to` (raw: nix has no ready wrapper
/// for the TIOC*WINSZ ioctls, only macros to declare one).
fn copy_winsize(from: RawFd, to: RawFd) {
    let mut ws = std::mem::MaybeUninit::<libc::winsize>::uninit();
    // SAFETY: TIOCGWINSZ fills `ws` on success, checked before the set.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, ws.as_mut_ptr()) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, ws.as_ptr());
        }
    }
}

/// Copies what `from` has ready to `to`; false at end of file or error.
fn relay(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    let n = match nix::unistd::read(from, &mut buf) {
        Ok(n) if n > 0 => n,
        _ => return false,
    };
    let mut off = 0usize;
    while off < n {
        match nix::unistd::write(to, &buf[off..n]) {
            Ok(w) if w > 0 => off += w,
            _ => return false,
        }
    }
    true
}

/// `run`.
/// `spec` is config.json when the caller has read it already.
pub fn run(
    rt: &Runtime,
    id: &str,
    args: &CreateArgs,
    spec: Option<Spec>,
    detach: bool,
    keep: bool,
) -> Result<i32> {
    let mut opts = create_options(args);
    if detach {
        opts.spec = spec;
        rt.create(id, &args.bundle, opts)?;
        if let Err(e) = rt.start(id) {
            let _ = rt.delete(id, true);
            return Err(e.into());
        }
        return Ok(0);
    }
    let spec = match spec {
        Some(s) => s,
        None => config::load(&args.bundle)?,
    };
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    // Block the signals before the init exists, so none is lost.
    let sigfd = signal_fd()?;
    let mut pty_master = None;
    if terminal && args.console_socket.is_none() {
        let (master, slave) = openpty_pair()?;
        copy_winsize(0, master.as_raw_fd());
        opts.stdio = Some([slave.try_clone()?, slave.try_clone()?, slave]);
        opts.stdio_tty = true;
        pty_master = Some(master);
    }
    opts.spec = Some(spec);
    let st = rt.create(id, &args.bundle, opts)?;
    let pid = st.pid();
    if let Err(e) = rt.start(id) {
        let _ = rt.delete(id, true);
        return Err(e.into());
    }
    let code = wait_with(pid, pty_master.as_ref(), &sigfd)?;
    if !keep {
        rt.delete(id, true)
            .with_context(|| format!("delete {id}"))?;
    }
    Ok(code)
}

/// Waits for child `pid`, forwarding signals and relaying `pty_master`.
pub(crate) fn wait_relaying(pid: i32, pty_master: Option<&OwnedFd>) -> Result<i32> {
    let sigfd = signal_fd()?;
    wait_with(pid, pty_master, &sigfd)
}

fn wait_with(pid: i32, pty_master: Option<&OwnedFd>, sigfd: &SignalFd) -> Result<i32> {
    let _raw = pty_master.map(|_| RawMode::enable());
    // It may have exited before SIGCHLD was blocked.
    if let Some(code) = berth_runtime::child::try_wait(pid) {
        return Ok(code);
    }
    let (stdin, stdout) = (stdin(), stdout());
    loop {
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = pty_master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready =
            |i: usize, what: PollFlags| fds[i].revents().is_some_and(|r| r.intersects(what));
        let (signal, master, input) = (
            ready(0, PollFlags::POLLIN),
            pty_master.is_some() && ready(1, PollFlags::POLLIN | PollFlags::POLLHUP),
            pty_master.is_some() && ready(2, PollFlags::POLLIN),
        );
        if let Some(m) = pty_master {
            if master {
                // A false answer means the slave side is gone; the exit
                // status follows through SIGCHLD.
                relay(m.as_fd(), stdout.as_fd());
            }
            if input {
                relay(stdin.as_fd(), m.as_fd());
            }
        }
        if !signal {
            continue;
        }
        let Ok(Some(info)) = sigfd.read_signal() else {
            continue;
        };
        let Ok(sig) = i32::try_from(info.ssi_signo) else {
            continue;
        };
        if sig == libc::SIGCHLD {
            if let Some(code) = berth_runtime::child::try_wait(pid) {
                if let Some(m) = pty_master {
                    // What the process wrote last.
                    while relay_ready(m.as_fd(), stdout.as_fd()) {}
                }
                return Ok(code);
            }
            continue;
        }
        if sig == libc::SIGWINCH
            && let Some(m) = pty_master
        {
            copy_winsize(0, m.as_raw_fd());
            continue;
        }
        // `pid` is our child, still unreaped.
        let _ = berth_runtime::child::kill(pid, sig);
    }
}

/// Relays what `fd` has ready now, without waiting.
fn relay_ready(fd: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
    let ready = poll(&mut p, PollTimeout::ZERO).is_ok_and(|n| n > 0)
        && p[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
    ready && relay(fd, to)
}
