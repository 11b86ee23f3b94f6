//! The runtime's end of the socket pair it shares with an init (create)
//! or exec'd process: the fixed-size messages of [`crate::process::sync`],
//! fds passed with them, and an init's error turned into an [`Error`].

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};

use crate::error::{Error, Result};
use crate::process::init::InitPlan;
use crate::process::sync::{self, Msg, Step};
use crate::rootfs::RootfsPlan;
use crate::state::State;
use crate::syscall::{Errno, Linux, Syscall};

/// A socket pair for runtime ↔ init.
pub(crate) fn sync_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))
}

/// Receives one message from the init, with the fd it may carry
/// (`SCM_RIGHTS`); `None` when the init closed its end.
pub(crate) fn recv_with_fd(sock: RawFd) -> Result<Option<(Msg, Option<OwnedFd>)>> {
    let mut data = [0u8; 16];
    let mut control = nix::cmsg_space!(RawFd);
    let (n, fd) = loop {
        let mut iov = [IoSliceMut::new(&mut data)];
        match recvmsg::<()>(
            sock,
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read from the container init", e)),
            Ok(msg) => {
                let fd = msg.cmsgs().ok().and_then(|mut c| {
                    c.find_map(|c| match c {
                        ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                        _ => None,
                    })
                });
                break (msg.bytes, fd);
            }
        }
    };
    // SAFETY: SCM_RIGHTS gave this process a new fd that nothing else owns.
    let fd = fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    match n {
        0 => Ok(None),
        16 => Ok(Some((Msg::from_bytes(&data), fd))),
        _ => Err(Error::sys("read from the container init", Errno::EIO)),
    }
}

/// Sends `fd` and a payload over a unix socket.
pub(crate) fn send_fd(sock: &OwnedFd, fd: RawFd, payload: &[u8]) -> Result<()> {
    Linux
        .send_fd(sock.as_raw_fd(), fd, payload)
        .map_err(|e| Error::sys("send an fd", e))
}

/// Reads the next message from the init, with the fd it may carry.
pub(crate) fn recv(sock: &OwnedFd) -> Result<Option<(Msg, Option<OwnedFd>)>> {
    recv_with_fd(sock.as_raw_fd())
}

/// Sends a message to the init.
pub(crate) fn send(sock: &OwnedFd, msg: Msg) -> Result<()> {
    sync::send(&Linux, sock.as_raw_fd(), msg)
        .map_err(|e| Error::sys("write to the container init", e))
}

/// Turns an init error message into an [`Error`].
pub(crate) fn init_error(
    msg: Msg,
    rootfs: Option<&RootfsPlan>,
    process_field: &str,
    plan: &InitPlan,
) -> Error {
    let errno = crate::syscall::Errno::from_raw(msg.c);
    let Some(step) = msg.step() else {
        return Error::Init {
            step: format!("unknown step {}", msg.a),
            err: errno,
        };
    };
    let mut what = step.to_string();
    let detail = match step {
        Step::Executable => plan.process.argv.strings().first().map(|a| {
            format!(
                " {} ({process_field}.args[0]; not found in the container or not executable)",
                a.to_string_lossy()
            )
        }),
        Step::Chdir | Step::CwdOutsideRoot => Some(format!(
            " {} ({process_field}.cwd)",
            plan.process.cwd.to_string_lossy()
        )),
        Step::Hook => Some(format!(" #{}", msg.b)),
        Step::Sysctl => plan
            .sysctl
            .get(msg.b as usize)
            .map(|(p, _)| format!(" {}", p.to_string_lossy())),
        Step::Rlimit => Some(format!(" {process_field}.rlimits[{}]", msg.b)),
        Step::PivotRoot if errno == crate::syscall::Errno::EINVAL => {
            Some(" (the root is not a mount point pivot_root can leave, e.g. an initramfs: use --no-pivot)".to_string())
        }
        _ => step
            .to_rootfs()
            .zip(rootfs)
            .map(|(s, r)| r.describe(s, msg.b))
            .filter(|d| !d.is_empty())
            .map(|d| format!(" {d}")),
    };
    if let Some(d) = detail {
        what.push_str(&d);
    }
    if step == Step::Hook {
        return Error::Init {
            step: format!("{what}: exited with status {}", msg.c),
            err: errno,
        };
    }
    Error::Init {
        step: what,
        err: errno,
    }
}

/// Sends the seccomp listener fd to the spec's listener socket, with the
/// container state, as config-linux.md "Seccomp" describes.
pub(crate) fn forward_seccomp_fd(
    fd: Option<OwnedFd>,
    listener: &Path,
    metadata: Option<&str>,
    state: &State,
) -> Result<()> {
    let fd = fd.ok_or_else(|| Error::Seccomp("the init sent no listener fd".into()))?;
    let stream = UnixStream::connect(listener).map_err(|e| {
        Error::Seccomp(format!(
            "connect to the listener {}: {e}",
            listener.display()
        ))
    })?;
    let payload = serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "fds": ["seccompFd"],
        "pid": state.pid(),
        "metadata": metadata.unwrap_or(""),
        "state": state.oci,
    });
    let bytes = serde_json::to_vec(&payload).map_err(|e| Error::Seccomp(e.to_string()))?;
    send_fd(&OwnedFd::from(stream), fd.as_raw_fd(), &bytes)
}

/// Sends a raw datagram (the hook state JSON).
pub(crate) fn send_raw(sock: &OwnedFd, bytes: &[u8]) -> Result<()> {
    if bytes.len() >= 64 * 1024 - 1 {
        return Err(Error::Unsupported(
            "the container state is too large for the hooks".into(),
        ));
    }
    Linux
        .write(sock.as_raw_fd(), bytes)
        .map(drop)
        .map_err(|e| Error::sys("write to the container init", e))
}
