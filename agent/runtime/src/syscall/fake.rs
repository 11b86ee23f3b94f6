//! A recording [`Syscall`] for unit tests: every call becomes one line in
//! [`Recorder::calls`], and nothing touches the host.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_int, c_ulong, gid_t, mode_t, uid_t};

use super::{CapSets, Errno, SysResult, Syscall};

/// Records calls; answers success, with fds counted up from 100.
#[derive(Default)]
pub struct Recorder {
    pub calls: RefCell<Vec<String>>,
    next_fd: Cell<RawFd>,
    /// Paths (as passed to `openat2`) that answer `ENOENT` until `mkdirat`
    /// creates them.
    pub missing: RefCell<HashSet<String>>,
    /// Paths that `stat_mode` reports as regular files (else directories).
    pub files: HashSet<String>,
    /// The directory `getcwd` reports.
    pub cwd: RefCell<String>,
}

fn s(c: &CStr) -> String {
    c.to_string_lossy().into_owned()
}

impl Recorder {
    fn log(&self, line: String) {
        self.calls.borrow_mut().push(line);
    }

    fn fd(&self) -> RawFd {
        let fd = self.next_fd.get().max(100) + 1;
        self.next_fd.set(fd);
        fd
    }

    /// The recorded calls that start with `prefix`.
    pub fn calls_starting(&self, prefix: &str) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: c_ulong,
        data: Option<&CStr>,
    ) -> SysResult<()> {
        self.log(format!(
            "mount {} {} {} {:#x} {}",
            source.map(s).unwrap_or_else(|| "-".into()),
            s(target),
            fstype.map(s).unwrap_or_else(|| "-".into()),
            flags,
            data.map(s).unwrap_or_else(|| "-".into())
        ));
        Ok(())
    }
    fn umount2(&self, target: &CStr, flags: c_int) -> SysResult<()> {
        self.log(format!("umount2 {} {flags}", s(target)));
        Ok(())
    }
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> SysResult<()> {
        self.log(format!("pivot_root {} {}", s(new_root), s(put_old)));
        Ok(())
    }
    fn setns(&self, fd: RawFd, nstype: c_int) -> SysResult<()> {
        self.log(format!("setns {fd} {nstype:#x}"));
        Ok(())
    }
    fn unshare(&self, flags: c_int) -> SysResult<()> {
        self.log(format!("unshare {flags:#x}"));
        Ok(())
    }
    fn sethostname(&self, name: &[u8]) -> SysResult<()> {
        self.log(format!("sethostname {}", String::from_utf8_lossy(name)));
        Ok(())
    }
    fn setdomainname(&self, name: &[u8]) -> SysResult<()> {
        self.log(format!("setdomainname {}", String::from_utf8_lossy(name)));
        Ok(())
    }
    fn chdir(&self, path: &CStr) -> SysResult<()> {
        self.log(format!("chdir {}", s(path)));
        Ok(())
    }
    fn chroot(&self, path: &CStr) -> SysResult<()> {
        self.log(format!("chroot {}", s(path)));
        Ok(())
    }
    fn fchdir(&self, fd: RawFd) -> SysResult<()> {
        self.log(format!("fchdir {fd}"));
        Ok(())
    }
    fn openat2(
        &self,
        dirfd: RawFd,
        path: &CStr,
        flags: c_int,
        _mode: mode_t,
        resolve: u64,
    ) -> SysResult<RawFd> {
        if self.missing.borrow().contains(&s(path)) {
            self.log(format!("openat2 {dirfd} {} ENOENT", s(path)));
            return Err(Errno::ENOENT);
        }
        let fd = self.fd();
        self.log(format!(
            "openat2 {dirfd} {} {flags:#x} {resolve:#x} = {fd}",
            s(path)
        ));
        Ok(fd)
    }
    fn openat(&self, dirfd: RawFd, path: &CStr, flags: c_int, _mode: mode_t) -> SysResult<RawFd> {
        let fd = self.fd();
        self.log(format!("openat {dirfd} {} {flags:#x} = {fd}", s(path)));
        Ok(fd)
    }
    fn mkdirat(&self, dirfd: RawFd, path: &CStr, mode: mode_t) -> SysResult<()> {
        self.log(format!("mkdirat {dirfd} {} {mode:o}", s(path)));
        // The next openat2 of any missing path ending in this name succeeds.
        let name = s(path);
        self.missing
            .borrow_mut()
            .retain(|m| m.rsplit('/').next() != Some(name.as_str()));
        Ok(())
    }
    fn mknodat(&self, dirfd: RawFd, path: &CStr, mode: mode_t, dev: u64) -> SysResult<()> {
        self.log(format!("mknodat {dirfd} {} {mode:o} {dev:#x}", s(path)));
        Ok(())
    }
    fn symlinkat(&self, target: &CStr, dirfd: RawFd, path: &CStr) -> SysResult<()> {
        self.log(format!("symlinkat {} {dirfd} {}", s(target), s(path)));
        Ok(())
    }
    fn fchownat(
        &self,
        dirfd: RawFd,
        path: &CStr,
        uid: uid_t,
        gid: gid_t,
        _flags: c_int,
    ) -> SysResult<()> {
        self.log(format!("fchownat {dirfd} {} {uid} {gid}", s(path)));
        Ok(())
    }
    fn close(&self, fd: RawFd) -> SysResult<()> {
        self.log(format!("close {fd}"));
        Ok(())
    }
    fn close_range(&self, first: u32, last: u32) -> SysResult<()> {
        self.log(format!("close_range {first} {last}"));
        Ok(())
    }
    fn dup2(&self, old: RawFd, new: RawFd) -> SysResult<()> {
        self.log(format!("dup2 {old} {new}"));
        Ok(())
    }
    fn read(&self, fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
        self.log(format!("read {fd}"));
        buf.fill(0);
        Ok(buf.len())
    }
    fn write(&self, fd: RawFd, buf: &[u8]) -> SysResult<usize> {
        self.log(format!("write {fd} {}", String::from_utf8_lossy(buf)));
        Ok(buf.len())
    }
    fn stat_mode(&self, _dirfd: RawFd, path: &CStr, _flags: c_int) -> SysResult<mode_t> {
        if self.files.contains(&s(path)) {
            Ok(libc::S_IFREG | 0o644)
        } else {
            Ok(libc::S_IFDIR | 0o755)
        }
    }
    fn statfs_flags(&self, path: &CStr) -> SysResult<c_ulong> {
        self.log(format!("statfs {}", s(path)));
        Ok(libc::ST_NOSUID | libc::ST_NODEV)
    }
    fn getcwd<'a>(&self, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
        let cwd = self.cwd.borrow();
        let n = cwd.len().min(buf.len());
        buf[..n].copy_from_slice(&cwd.as_bytes()[..n]);
        Ok(&buf[..n])
    }
    fn setsid(&self) -> SysResult<()> {
        self.log("setsid".into());
        Ok(())
    }
    fn setgroups(&self, gids: &[gid_t]) -> SysResult<()> {
        self.log(format!("setgroups {gids:?}"));
        Ok(())
    }
    fn setresgid(&self, gid: gid_t) -> SysResult<()> {
        self.log(format!("setresgid {gid}"));
        Ok(())
    }
    fn setresuid(&self, uid: uid_t) -> SysResult<()> {
        self.log(format!("setresuid {uid}"));
        Ok(())
    }
    fn umask(&self, mask: mode_t) {
        self.log(format!("umask {mask:o}"));
    }
    fn prctl(&self, option: c_int, arg2: c_ulong, arg3: c_ulong) -> SysResult<c_int> {
        self.log(format!("prctl {option} {arg2} {arg3}"));
        Ok(0)
    }
    fn capset(&self, sets: CapSets) -> SysResult<()> {
        self.log(format!(
            "capset e={:#x} p={:#x} i={:#x}",
            sets.effective, sets.permitted, sets.inheritable
        ));
        Ok(())
    }
    fn setrlimit(&self, resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
        self.log(format!("setrlimit {resource} {soft} {hard}"));
        Ok(())
    }
    fn ioctl(&self, fd: RawFd, request: c_ulong, arg: c_ulong) -> SysResult<c_int> {
        self.log(format!("ioctl {fd} {request:#x} {arg}"));
        Ok(self.fd())
    }
    fn personality(&self, persona: c_ulong) -> SysResult<()> {
        self.log(format!("personality {persona:#x}"));
        Ok(())
    }
    fn seccomp_filter(&self, flags: c_ulong, program: &[libc::sock_filter]) -> SysResult<RawFd> {
        self.log(format!("seccomp {flags:#x} {}", program.len()));
        Ok(self.fd())
    }
    fn reset_signals(&self) {
        self.log("reset_signals".into());
    }
    fn send_fd(&self, sock: RawFd, fd: RawFd, payload: &[u8]) -> SysResult<()> {
        self.log(format!("send_fd {sock} {fd} {}", payload.len()));
        Ok(())
    }
    fn execve(
        &self,
        path: &CStr,
        argv: &[*const libc::c_char],
        _envp: &[*const libc::c_char],
    ) -> SysResult<()> {
        self.log(format!("execve {} argc={}", s(path), argv.len() - 1));
        Err(Errno::ENOEXEC)
    }
    fn executable(&self, path: &CStr) -> SysResult<()> {
        self.log(format!("access {}", s(path)));
        Ok(())
    }
    fn fork_exec_wait(
        &self,
        path: &CStr,
        _argv: &[*const libc::c_char],
        _envp: &[*const libc::c_char],
        stdin: &[u8],
        timeout_secs: i64,
    ) -> SysResult<c_int> {
        self.log(format!(
            "hook {} stdin={} timeout={timeout_secs}",
            s(path),
            stdin.len()
        ));
        Ok(0)
    }
    fn exit(&self, code: c_int) -> ! {
        panic!("exit {code}")
    }
}
