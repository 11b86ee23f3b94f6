//! [`Syscall`] on the running kernel, without allocating: through `nix`
//! where its wrapper is a plain call on borrowed C strings and fds, and raw
//! where nix has no wrapper (close_range, setdomainname, capset, seccomp,
//! prctl with numbers, generic ioctl, `_exit`, and a clone without glibc's
//! fork handlers) or where its wrapper would be wrong in the init, a clone
//! of a possibly multi-threaded process:
//! - setgroups, setresuid, setresgid: glibc's wrappers (which nix calls)
//!   broadcast the change to every thread of the process with a signal,
//!   and the clone has only one, the others exist only in the copied
//!   memory: the raw system calls change the one thread there is.
//! - execve, sendmsg: nix builds their pointer and control arrays in a
//!   `Vec`, i.e. allocates.
//! - getcwd: nix's answer is a `PathBuf` (allocates) and comes through
//!   glibc, which hides the kernel's `(unreachable)` prefix.
//! - dup2: nix's takes the target as an `OwnedFd`; the init dups onto 0-2,
//!   which it does not own.
//! - signal dispositions, waitpid: nix's `Signal` cannot name real-time
//!   signals.
//! - setrlimit: the plan holds the resource as the kernel's number.

use std::ffi::{CStr, OsStr};
use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use libc::{c_int, c_ulong, gid_t, mode_t, uid_t};
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{AccessFlags, Gid, Pid, Uid};

use super::{CapSets, Errno, SysResult, Syscall};

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn check(ret: c_int) -> SysResult<c_int> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn check_long(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// An fd of the caller's (or `AT_FDCWD`), borrowed for one nix call.
fn fd<'a>(raw: RawFd) -> BorrowedFd<'a> {
    // SAFETY: every caller of the trait passes an fd it holds open for the
    // duration of the call (or AT_FDCWD, which nix passes on as is).
    unsafe { BorrowedFd::borrow_raw(raw) }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The size of one fd in an `SCM_RIGHTS` message (a `c_int`: 4 bytes).
const FD_LEN: u32 = 4;
const _: () = assert!(std::mem::size_of::<c_int>() == FD_LEN as usize);

impl Syscall for Linux {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()> {
        nix::mount::mount(
            source,
            target,
            fstype,
            MsFlags::from_bits_retain(flags),
            data,
        )
    }

    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult<()> {
        nix::mount::umount2(target, MntFlags::from_bits_retain(flags))
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()> {
        nix::sched::setns(self::fd(fd), CloneFlags::from_bits_retain(nstype))
    }

    fn unshare(&self, flags: c_int) -> SysResult<()> {
        nix::sched::unshare(CloneFlags::from_bits_retain(flags))
    }

    fn sethostname(&self, name: &[u8]) -> SysResult<()> {
        nix::unistd::sethostname(OsStr::from_bytes(name))
    }

    fn setdomainname(&self, name: &[u8]) -> SysResult<()> {
        // SAFETY: pointer and length describe `name`.
        check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
    }

    fn chdir(&self, path: &CStr) -> SysResult<()> {
        nix::unistd::chdir(path)
    }

    fn chroot(&self, path: &CStr) -> SysResult<()> {
        nix::unistd::chroot(path)
    }

    fn fchdir(&self, fd: RawFd) -> SysResult<()> {
        nix::unistd::fchdir(self::fd(fd))
    }

    fn openat2(
        &self,
        dirfd: RawFd,
        path: &CStr,
        flags: c_int,
        mode: mode_t,
        resolve: u64,
    ) -> SysResult<RawFd> {
        let how = OpenHow::new()
            .flags(OFlag::from_bits_retain(flags))
            .mode(Mode::from_bits_retain(mode))
            .resolve(ResolveFlag::from_bits_retain(resolve));
        nix::fcntl::openat2(fd(dirfd), path, how).map(IntoRawFd::into_raw_fd)
    }

    fn openat(&self, dirfd: RawFd, path: &CStr, flags: c_int, mode: mode_t) -> SysResult<RawFd> {
        nix::fcntl::openat(
            fd(dirfd),
            path,
            OFlag::from_bits_retain(flags),
            Mode::from_bits_retain(mode),
        )
        .map(IntoRawFd::into_raw_fd)
    }

    fn mkdirat(&self, dirfd: RawFd, path: &CStr, mode: mode_t) -> SysResult<()> {
        nix::sys::stat::mkdirat(fd(dirfd), path, Mode::from_bits_retain(mode))
    }

    fn mknodat(&self, dirfd: RawFd, path: &CStr, mode: mode_t, dev: u64) -> SysResult<()> {
        nix::sys::stat::mknodat(
            fd(dirfd),
            path,
            SFlag::from_bits_retain(mode & libc::S_IFMT),
            Mode::from_bits_retain(mode & !libc::S_IFMT),
            dev,
        )
    }

    fn symlinkat(&self, target: &CStr, dirfd: RawFd, path: &CStr) -> SysResult<()> {
        nix::unistd::symlinkat(target, fd(dirfd), path)
    }

    fn fchownat(
        &self,
        dirfd: RawFd,
        path: &CStr,
        uid: uid_t,
        gid: gid_t,
        flags: c_int,
    ) -> SysResult<()> {
        nix::unistd::fchownat(
            fd(dirfd),
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::from_bits_retain(flags),
        )
    }

    fn close(&self, fd: RawFd) -> SysResult<()> {
        nix::unistd::close(fd)
    }

    fn close_range(&self, first: u32, last: u32) -> SysResult<()> {
        // SAFETY: plain integers; closes only fds the init owns.
        let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        check_long(ret).map(drop)
    }

    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult<()> {
        // SAFETY: plain integers.
        check(unsafe { libc::dup2(old, new) }).map(drop)
    }

    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
        loop {
            match nix::unistd::read(self::fd(fd), buf) {
                Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize> {
        loop {
            match nix::unistd::write(self::fd(fd), buf) {
                Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    fn stat_mode(&self, dirfd: RawFd, path: &CStr, flags: c_int) -> SysResult<mode_t> {
        nix::sys::stat::fstatat(fd(dirfd), path, AtFlags::from_bits_retain(flags))
            .map(|st| st.st_mode)
    }

    fn statfs_flags(&self, path: &CStr) -> SysResult<c_ulong> {
        nix::sys::statvfs::statvfs(path).map(|st| st.flags().bits())
    }

    fn getcwd<'a>(&self, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
        // The raw system call, not glibc's wrapper: the kernel answers
        // "(unreachable)/..." for a directory outside the root, which is
        // exactly what the caller wants to see.
        // SAFETY: pointer and length describe `buf`.
        let ret = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
        let len = usize::try_from(check_long(ret)?).map_err(|_| Errno::ERANGE)?;
        // The length includes the terminating NUL.
        Ok(&buf[..len.saturating_sub(1).min(buf.len())])
    }

    fn setsid(&self) -> SysResult<()> {
        nix::unistd::setsid().map(drop)
    }

    fn setgroups(&self, gids: &[gid_t]) -> SysResult<()> {
        // The raw system call: glibc's wrapper would broadcast to every
        // thread through a signal, and the init has one thread anyway.
        // SAFETY: pointer and length describe `gids`.
        let ret = unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) };
        check_long(ret).map(drop)
    }

    fn setresgid(&self, gid: gid_t) -> SysResult<()> {
        // SAFETY: plain integers; raw call for the same reason as setgroups.
        let ret = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
        check_long(ret).map(drop)
    }

    fn setresuid(&self, uid: uid_t) -> SysResult<()> {
        // SAFETY: plain integers; raw call for the same reason as setgroups.
        let ret = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
        check_long(ret).map(drop)
    }

    fn umask(&self, mask: mode_t) {
        nix::sys::stat::umask(Mode::from_bits_retain(mask));
    }

    fn prctl(&self, option: c_int, arg2: c_ulong, arg3: c_ulong) -> SysResult<c_int> {
        // SAFETY: the options used here take integer arguments only.
        check(unsafe { libc::prctl(option, arg2, arg3, 0 as c_ulong, 0 as c_ulong) })
    }

    fn capset(&self, sets: CapSets) -> SysResult<()> {
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        // The low and high 32 bits of a 64-bit set (truncation intended).
        let lo = |m: u64| u32::try_from(m & u64::from(u32::MAX)).unwrap_or(u32::MAX);
        let hi = |m: u64| u32::try_from(m >> 32).unwrap_or(u32::MAX);
        let data = [
            CapData {
                effective: lo(sets.effective),
                permitted: lo(sets.permitted),
                inheritable: lo(sets.inheritable),
            },
            CapData {
                effective: hi(sets.effective),
                permitted: hi(sets.permitted),
                inheritable: hi(sets.inheritable),
            },
        ];
        // SAFETY: header and the two data structs match the v3 ABI.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        };
        check_long(ret).map(drop)
    }

    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
        let lim = libc::rlimit64 {
            rlim_cur: soft,
            rlim_max: hard,
        };
        let resource = u32::try_from(resource).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `lim` lives for the call; pid 0 is the caller.
        let ret = unsafe { libc::prlimit64(0, resource, &lim, ptr::null_mut()) };
        check(ret).map(drop)
    }

    fn ioctl(&self, fd: RawFd, request: c_ulong, arg: c_ulong) -> SysResult<c_int> {
        // SAFETY: the requests used here take an integer or no argument.
        check(unsafe { libc::ioctl(fd, request as _, arg) })
    }

    fn personality(&self, persona: c_ulong) -> SysResult<()> {
        let persona = c_int::try_from(persona).map_err(|_| Errno::EINVAL)?;
        nix::sys::personality::set(nix::sys::personality::Persona::from_bits_retain(persona))
            .map(drop)
    }

    fn seccomp_filter(&self, flags: c_ulong, program: &[libc::sock_filter]) -> SysResult<RawFd> {
        let prog = libc::sock_fprog {
            len: u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?,
            filter: program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `program`, which outlives the call; the
        // kernel copies the filter.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        check_long(ret).and_then(|fd| RawFd::try_from(fd).map_err(|_| Errno::EBADF))
    }

    fn reset_signals(&self) {
        for sig in 1..=64 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: SIG_DFL is always a valid disposition; errors for
            // signals the kernel reserves are ignored.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    }

    fn send_fd(&self, sock: RawFd, fd: RawFd, payload: &[u8]) -> SysResult<()> {
        // A control buffer big enough for one fd, aligned for cmsghdr.
        #[repr(C)]
        struct Control {
            _align: [libc::cmsghdr; 0],
            buf: [u8; 64],
        }
        let mut control = Control {
            _align: [],
            buf: [0; 64],
        };
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr().cast_mut().cast(),
            iov_len: payload.len(),
        };
        // SAFETY: msghdr is plain data; every pointer set below outlives the
        // sendmsg call, and CMSG_* compute offsets inside `control.buf`.
        unsafe {
            let space = libc::CMSG_SPACE(FD_LEN) as usize;
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.buf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            if cmsg.is_null() {
                return Err(Errno::EINVAL);
            }
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(FD_LEN) as usize;
            ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
            loop {
                let ret = libc::sendmsg(sock, &msg, 0);
                if ret >= 0 {
                    return Ok(());
                }
                let errno = Errno::last();
                if errno != Errno::EINTR {
                    return Err(errno);
                }
            }
        }
    }

    fn execve(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> SysResult<()> {
        if argv.last().is_some_and(|p| !p.is_null()) || envp.last().is_some_and(|p| !p.is_null()) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: argv and envp are NULL-terminated arrays of C strings
        // (checked above) that the caller keeps alive.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        Err(Errno::last())
    }

    fn executable(&self, path: &CStr) -> SysResult<()> {
        nix::unistd::faccessat(
            nix::fcntl::AT_FDCWD,
            path,
            AccessFlags::X_OK,
            AtFlags::empty(),
        )
    }

    fn fork_exec_wait(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
        stdin: &[u8],
        timeout_secs: i64,
    ) -> SysResult<c_int> {
        let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (rd, wr) = (rd.into_raw_fd(), wr.into_raw_fd());
        // A raw clone instead of fork(3): glibc's fork runs atfork handlers
        // that take allocator locks, which must not be touched here.
        // SAFETY: without CLONE_VM the child gets a copy of the address
        // space, exactly as with fork; it only calls async-signal-safe
        // functions before execve or _exit.
        let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as c_ulong, 0, 0, 0, 0) };
        if pid < 0 {
            let errno = Errno::last();
            let _ = self.close(rd);
            let _ = self.close(wr);
            return Err(errno);
        }
        if pid == 0 {
            let _ = self.dup2(rd, 0);
            let _ = self.execve(path, argv, envp);
            // SAFETY: terminate the hook child without running destructors.
            unsafe { libc::_exit(127) };
        }
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return Err(Errno::ECHILD);
        };
        let _ = self.close(rd);
        let mut off = 0;
        while off < stdin.len() {
            match self.write(wr, &stdin[off..]) {
                Ok(n) if n > 0 => off += n,
                _ => break,
            }
        }
        let _ = self.close(wr);
        let deadline_ms = if timeout_secs > 0 {
            timeout_secs * 1000
        } else {
            i64::MAX
        };
        let mut waited_ms: i64 = 0;
        loop {
            let mut status: c_int = 0;
            // SAFETY: `status` is a valid out pointer.
            let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if ret == pid {
                return Ok(status);
            }
            if ret < 0 && Errno::last() != Errno::EINTR {
                return Err(Errno::last());
            }
            if waited_ms >= deadline_ms {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                // SAFETY: `status` is a valid out pointer; `pid` is our own
                // child, reaped here.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                return Err(Errno::ETIMEDOUT);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            waited_ms += 2;
        }
    }

    fn exit(&self, code: c_int) -> ! {
        // SAFETY: _exit never returns and runs no destructors, which is what
        // a cloned child must do.
        unsafe { libc::_exit(code) }
    }
}
