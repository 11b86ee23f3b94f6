//! `run`: create + start, then (unless `--detach`) stay in the foreground:
//! forward signals to the container, relay a terminal when the process has
//! one and no console socket was given, reap the init, delete the
//! container, and exit with its status.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result, bail};

use berth_runtime::{Runtime, config};
use oci_spec::runtime::Spec;

use super::{CreateArgs, create_options};

/// Signals the foreground run forwards to the container.
const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCONT,
    libc::SIGWINCH,
];

fn sigset(signals: &[i32]) -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for s in signals {
            libc::sigaddset(set.as_mut_ptr(), *s);
        }
        set.assume_init()
    }
}

/// Blocks the forwarded signals and SIGCHLD and answers a signalfd for them.
fn signal_fd() -> Result<OwnedFd> {
    let mut all: Vec<i32> = FORWARDED.to_vec();
    all.push(libc::SIGCHLD);
    let set = sigset(&all);
    // SAFETY: `set` is initialised; blocking signals in this thread (the
    // CLI has one) makes them pend for the signalfd.
    unsafe {
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    // SAFETY: `set` is initialised.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        bail!("signalfd: {}", std::io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pty pair (master, slave).
pub(crate) fn openpty_pair() -> Result<(OwnedFd, OwnedFd)> {
    let (mut m, mut s) = (0, 0);
    // SAFETY: out pointers to two ints; no name, termios or winsize.
    let ret = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if ret < 0 {
        bail!("openpty: {}", std::io::Error::last_os_error());
    }
    // SAFETY: new fds owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) })
}

/// Puts our terminal in raw mode while alive.
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn enable() -> RawMode {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills `t` on success only, checked before use.
        if unsafe { libc::tcgetattr(0, t.as_mut_ptr()) } != 0 {
            return RawMode(None);
        }
        // SAFETY: initialised by tcgetattr above.
        let orig = unsafe { t.assume_init() };
        let mut raw = orig;
        // SAFETY: cfmakeraw edits a valid termios; tcsetattr applies it.
        unsafe {
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
        }
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the settings read in `enable`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

fn copy_winsize(from: RawFd, to: RawFd) {
    let mut ws = std::mem::MaybeUninit::<libc::winsize>::uninit();
    // SAFETY: TIOCGWINSZ fills `ws` on success, checked before the set.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, ws.as_mut_ptr()) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, ws.as_ptr());
        }
    }
}

fn relay(from: RawFd, to: RawFd) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: reads into and writes from `buf`, within its length.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0usize;
    while off < n as usize {
        // SAFETY: as above.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
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

fn wait_with(pid: i32, pty_master: Option<&OwnedFd>, sigfd: &OwnedFd) -> Result<i32> {
    let _raw = pty_master.map(|_| RawMode::enable());
    // It may have exited before SIGCHLD was blocked.
    if let Some(code) = berth_runtime::child::try_wait(pid) {
        return Ok(code);
    }
    loop {
        let mut fds = vec![libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = pty_master {
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        if let Some(m) = pty_master {
            if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                // A false answer means the slave side is gone; the exit
                // status follows through SIGCHLD.
                relay(m.as_raw_fd(), 1);
            }
            if fds[2].revents & libc::POLLIN != 0 {
                relay(0, m.as_raw_fd());
            }
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::uninit();
        // SAFETY: reads one siginfo into `info`.
        let r = unsafe {
            libc::read(
                sigfd.as_raw_fd(),
                info.as_mut_ptr().cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        if r <= 0 {
            continue;
        }
        // SAFETY: a full siginfo was read.
        let sig = unsafe { info.assume_init() }.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            if let Some(code) = berth_runtime::child::try_wait(pid) {
                if let Some(m) = pty_master {
                    // What the process wrote last.
                    while relay_ready(m.as_raw_fd()) {}
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

fn relay_ready(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLIN != 0 && relay(fd, 1)
}
