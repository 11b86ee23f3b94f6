//! The container's console: a pty made in the container's devpts, its
//! slave bound on /dev/console, its master sent to the caller's console
//! socket (runc's `--console-socket` protocol).

use std::ffi::CString;
use std::os::fd::RawFd;

use libc::c_int;

use super::sync::{Msg, Step, fail};
use crate::rootfs::{fd_path, open_or_create};
use crate::syscall::Syscall;

/// The console: a pty made in the container's devpts, its master sent to
/// the caller's console socket, its slave bound on /dev/console.
#[derive(Debug)]
pub(crate) struct ConsolePlan {
    pub socket: RawFd,
    pub console_rel: CString,
    pub console_prefixes: Vec<(CString, CString)>,
}

/// Makes the pty, binds its slave on /dev/console, sends the master to the
/// console socket; answers the slave.
pub(super) fn setup_console<S: Syscall>(
    sys: &S,
    rootfd: RawFd,
    c: &ConsolePlan,
    size: Option<(u16, u16)>,
) -> Result<RawFd, Msg> {
    let resolve = if rootfd == libc::AT_FDCWD {
        0
    } else {
        libc::RESOLVE_IN_ROOT
    };
    let master = sys
        .openat2(
            rootfd,
            c"dev/pts/ptmx",
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            0,
            resolve,
        )
        .or_else(|_| {
            sys.openat2(
                rootfd,
                c"dev/ptmx",
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                0,
                resolve,
            )
        })
        .map_err(fail(Step::Console, 0))?;
    let unlock: c_int = 0;
    sys.ioctl(
        master,
        libc::TIOCSPTLCK as libc::c_ulong,
        &unlock as *const c_int as libc::c_ulong,
    )
    .map_err(fail(Step::Console, 3))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys.ioctl(
            master,
            libc::TIOCSWINSZ as libc::c_ulong,
            &ws as *const libc::winsize as libc::c_ulong,
        )
        .map_err(fail(Step::Console, 4))?;
    }
    let slave = sys
        .ioctl(
            master,
            libc::TIOCGPTPEER as libc::c_ulong,
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as libc::c_ulong,
        )
        .map_err(fail(Step::Console, 5))?;
    if rootfd != libc::AT_FDCWD {
        let target = open_or_create(sys, rootfd, &c.console_rel, &c.console_prefixes, true)
            .map_err(fail(Step::Console, 6))?;
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let res = sys.mount(
            Some(fd_path(slave, &mut a)),
            fd_path(target, &mut b),
            None,
            libc::MS_BIND,
            None,
        );
        let _ = sys.close(target);
        res.map_err(fail(Step::Console, 7))?;
    }
    sys.send_fd(c.socket, master, b"/dev/ptmx")
        .map_err(fail(Step::Console, 8))?;
    let _ = sys.close(master);
    let _ = sys.close(c.socket);
    Ok(slave)
}
