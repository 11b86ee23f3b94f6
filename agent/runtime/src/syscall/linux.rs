//! [`Syscall`] on the running kernel, through `libc` without allocating.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_ulong, gid_t, mode_t, uid_t};

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

fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// `struct open_how` for `openat2(2)`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
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

impl Syscall for Linux {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()> {
        // SAFETY: every pointer is a NUL-terminated string or null, valid for the call.
        let ret = unsafe {
            libc::mount(
                opt_ptr(source),
                target.as_ptr(),
                opt_ptr(fstype),
                flags,
                opt_ptr(data).cast(),
            )
        };
        check(ret).map(drop)
    }

    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult<()> {
        // SAFETY: target is a valid C string.
        check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()> {
        // SAFETY: both are valid C strings; pivot_root has no glibc wrapper.
        let ret =
            unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
        check_long(ret).map(drop)
    }

    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()> {
        // SAFETY: plain integers.
        check(unsafe { libc::setns(fd, nstype) }).map(drop)
    }

    fn unshare(&self, flags: c_int) -> SysResult<()> {
        // SAFETY: plain integers.
        check(unsafe { libc::unshare(flags) }).map(drop)
    }

    fn sethostname(&self, name: &[u8]) -> SysResult<()> {
        // SAFETY: pointer and length describe `name`.
        check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
    }

    fn setdomainname(&self, name: &[u8]) -> SysResult<()> {
        // SAFETY: pointer and length describe `name`.
        check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
    }

    fn chdir(&self, path: &CStr) -> SysResult<()> {
        // SAFETY: valid C string.
        check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
    }

    fn chroot(&self, path: &CStr) -> SysResult<()> {
        // SAFETY: valid C string.
        check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
    }

    fn fchdir(&self, fd: RawFd) -> SysResult<()> {
        // SAFETY: plain integer.
        check(unsafe { libc::fchdir(fd) }).map(drop)
    }

    fn openat2(
        &self,
        dirfd: RawFd,
        path: &CStr,
        flags: c_int,
        mode: mode_t,
        resolve: u64,
    ) -> SysResult<RawFd> {
        let how = OpenHow {
            flags: flags as u64,
            mode: u64::from(mode),
            resolve,
        };
        // SAFETY: `how` lives for the call and its size is passed along.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        check_long(ret).map(|fd| fd as RawFd)
    }

    fn openat(&self, dirfd: RawFd, path: &CStr, flags: c_int, mode: mode_t) -> SysResult<RawFd> {
        // SAFETY: valid C string; mode is passed as the variadic argument.
        check(unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode as libc::c_uint) })
    }

    fn mkdirat(&self, dirfd: RawFd, path: &CStr, mode: mode_t) -> SysResult<()> {
        // SAFETY: valid C string.
        check(unsafe { libc::mkdirat(dirfd, path.as_ptr(), mode) }).map(drop)
    }

    fn mknodat(&self, dirfd: RawFd, path: &CStr, mode: mode_t, dev: u64) -> SysResult<()> {
        // SAFETY: valid C string.
        check(unsafe { libc::mknodat(dirfd, path.as_ptr(), mode, dev) }).map(drop)
    }

    fn symlinkat(&self, target: &CStr, dirfd: RawFd, path: &CStr) -> SysResult<()> {
        // SAFETY: valid C strings.
        check(unsafe { libc::symlinkat(target.as_ptr(), dirfd, path.as_ptr()) }).map(drop)
    }

    fn fchownat(
        &self,
        dirfd: RawFd,
        path: &CStr,
        uid: uid_t,
        gid: gid_t,
        flags: c_int,
    ) -> SysResult<()> {
        // SAFETY: valid C string.
        check(unsafe { libc::fchownat(dirfd, path.as_ptr(), uid, gid, flags) }).map(drop)
    }

    fn close(&self, fd: RawFd) -> SysResult<()> {
        // SAFETY: the caller owns `fd`.
        check(unsafe { libc::close(fd) }).map(drop)
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
            // SAFETY: pointer and length describe `buf`.
            let ret = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if ret >= 0 {
                return Ok(ret as usize);
            }
            let errno = Errno::last();
            if errno != Errno::EINTR {
                return Err(errno);
            }
        }
    }

    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize> {
        loop {
            // SAFETY: pointer and length describe `buf`.
            let ret = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if ret >= 0 {
                return Ok(ret as usize);
            }
            let errno = Errno::last();
            if errno != Errno::EINTR {
                return Err(errno);
            }
        }
    }

    fn stat_mode(&self, dirfd: RawFd, path: &CStr, flags: c_int) -> SysResult<mode_t> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `st` is written by the kernel on success before it is read.
        check(unsafe { libc::fstatat(dirfd, path.as_ptr(), st.as_mut_ptr(), flags) })?;
        // SAFETY: fstatat succeeded, so `st` is initialised.
        Ok(unsafe { st.assume_init() }.st_mode)
    }

    fn statfs_flags(&self, path: &CStr) -> SysResult<c_ulong> {
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `st` is written by the kernel on success before it is read.
        check(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) })?;
        // SAFETY: statvfs succeeded, so `st` is initialised.
        Ok(unsafe { st.assume_init() }.f_flag)
    }

    fn getcwd<'a>(&self, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
        // The raw system call, not glibc's wrapper: the kernel answers
        // "(unreachable)/..." for a directory outside the root, which is
        // exactly what the caller wants to see.
        // SAFETY: pointer and length describe `buf`.
        let ret = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
        let len = check_long(ret)? as usize;
        // The length includes the terminating NUL.
        Ok(&buf[..len.saturating_sub(1).min(buf.len())])
    }

    fn setsid(&self) -> SysResult<()> {
        // SAFETY: no arguments.
        check(unsafe { libc::setsid() }).map(drop)
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
        // SAFETY: plain integer.
        unsafe { libc::umask(mask) };
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
        let lo = |m: u64| m as u32;
        let hi = |m: u64| (m >> 32) as u32;
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
        // SAFETY: `lim` lives for the call; pid 0 is the caller.
        let ret = unsafe { libc::prlimit64(0, resource as _, &lim, ptr::null_mut()) };
        check(ret).map(drop)
    }

    fn ioctl(&self, fd: RawFd, request: c_ulong, arg: c_ulong) -> SysResult<c_int> {
        // SAFETY: the requests used here take an integer or no argument.
        check(unsafe { libc::ioctl(fd, request as _, arg) })
    }

    fn personality(&self, persona: c_ulong) -> SysResult<()> {
        // SAFETY: plain integer.
        check(unsafe { libc::personality(persona) }).map(drop)
    }

    fn seccomp_filter(&self, flags: c_ulong, program: &[libc::sock_filter]) -> SysResult<RawFd> {
        let prog = libc::sock_fprog {
            len: program.len() as u16,
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
        check_long(ret).map(|fd| fd as RawFd)
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
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises `set` before sigprocmask reads it.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), ptr::null_mut());
        }
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
            let space = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as usize;
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
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
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
        // SAFETY: valid C string.
        check(unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, 0) }).map(drop)
    }

    fn fork_exec_wait(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
        stdin: &[u8],
        timeout_secs: i64,
    ) -> SysResult<c_int> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for two fds.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
        let [rd, wr] = fds;
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
        let pid = pid as libc::pid_t;
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
                // SAFETY: `pid` is our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return Err(Errno::ETIMEDOUT);
            }
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 2_000_000,
            };
            // SAFETY: `ts` is valid; a shortened sleep is fine.
            unsafe { libc::nanosleep(&ts, ptr::null_mut()) };
            waited_ms += 2;
        }
    }

    fn exit(&self, code: c_int) -> ! {
        // SAFETY: _exit never returns and runs no destructors, which is what
        // a cloned child must do.
        unsafe { libc::_exit(code) }
    }
}
