//! The default seccomp profile of Berth containers: Docker's (moby's
//! `profiles/seccomp/default.json`), expressed as an OCI `linux.seccomp`
//! (config-linux.md, "Seccomp") for the capabilities a container has.
//!
//! It is an allowlist: anything not named fails with EPERM
//! (`SCMP_ACT_ERRNO`, errno 1). Besides the syscalls every workload needs,
//! some are allowed only with the capability that makes them useful
//! (`mount`, `unshare`, `setns` … with CAP_SYS_ADMIN, `ptrace` with
//! CAP_SYS_PTRACE on old kernels, `chroot` with CAP_SYS_CHROOT …), `clone`
//! may not create namespaces without CAP_SYS_ADMIN (its flags are checked;
//! `clone3`, whose flags seccomp cannot see, answers ENOSYS so that libc
//! falls back to `clone`), `socket` may not open AF_VSOCK, and `personality`
//! takes only the harmless personas. As in moby, rules that name an
//! architecture apply when the host is that architecture, and the filter
//! covers the host's native architecture and its compat ones (x86_64: also
//! x86 and x32), so a 32-bit binary cannot walk around it.
//!
//! io_uring (`io_uring_setup`, `io_uring_enter`, `io_uring_register`) is
//! not allowed, as in Docker 25 and later: its rings run syscall-like
//! operations that seccomp cannot see, and it has been a steady source of
//! kernel privilege escalations.
//!
//! The runtime compiles the profile with libseccomp when it creates the
//! container and again for every exec (it reads the container's config),
//! so exec sessions run under the same filter.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

/// The errno of a refused syscall (EPERM), as in Docker.
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Allowed for every container, whatever its capabilities.
const ALWAYS: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// The namespace flags of clone(2) (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET): 0x7E020000.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// AF_VSOCK, which containers may not open (it reaches the hypervisor).
const AF_VSOCK: u64 = 40;

/// One argument check of a rule.
#[derive(Clone, Copy)]
struct Arg {
    index: usize,
    value: u64,
    op: LinuxSeccompOperator,
}

/// A rule that applies only in some conditions (moby's includes/excludes).
struct Rule {
    names: &'static [&'static str],
    /// `None` allows; `Some(errno)` fails with it.
    errno: Option<u32>,
    args: &'static [Arg],
    /// Applies only when the container has every one of these.
    caps: &'static [Capability],
    /// Does not apply when it has any of these.
    unless_caps: &'static [Capability],
    /// Applies only on these host architectures (moby's names).
    arches: &'static [&'static str],
    unless_arches: &'static [&'static str],
    /// Applies only from this kernel version on.
    min_kernel: Option<(u32, u32)>,
}

const RULE: Rule = Rule {
    names: &[],
    errno: None,
    args: &[],
    caps: &[],
    unless_caps: &[],
    arches: &[],
    unless_arches: &[],
    min_kernel: None,
};

const fn eq(index: usize, value: u64) -> Arg {
    Arg {
        index,
        value,
        op: LinuxSeccompOperator::ScmpCmpEq,
    }
}

const PERSONA_LINUX: &[Arg] = &[eq(0, 0)];
const PERSONA_LINUX32: &[Arg] = &[eq(0, 8)];
const PERSONA_UNAME26: &[Arg] = &[eq(0, 0x20000)];
const PERSONA_LINUX32_UNAME26: &[Arg] = &[eq(0, 0x20008)];
const PERSONA_QUERY: &[Arg] = &[eq(0, 0xffff_ffff)];

const RULES: &[Rule] = &[
    // Harmless since 4.8, when they stopped bypassing seccomp.
    Rule {
        names: &["process_vm_readv", "process_vm_writev", "ptrace"],
        min_kernel: Some((4, 8)),
        ..RULE
    },
    Rule {
        names: &["socket"],
        args: &[Arg {
            index: 0,
            value: AF_VSOCK,
            op: LinuxSeccompOperator::ScmpCmpNe,
        }],
        ..RULE
    },
    Rule {
        names: &["personality"],
        args: PERSONA_LINUX,
        ..RULE
    },
    Rule {
        names: &["personality"],
        args: PERSONA_LINUX32,
        ..RULE
    },
    Rule {
        names: &["personality"],
        args: PERSONA_UNAME26,
        ..RULE
    },
    Rule {
        names: &["personality"],
        args: PERSONA_LINUX32_UNAME26,
        ..RULE
    },
    Rule {
        names: &["personality"],
        args: PERSONA_QUERY,
        ..RULE
    },
    Rule {
        names: &["sync_file_range2", "swapcontext"],
        arches: &["ppc64le"],
        ..RULE
    },
    Rule {
        names: &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arches: &["arm", "arm64"],
        ..RULE
    },
    Rule {
        names: &["arch_prctl"],
        arches: &["amd64", "x32"],
        ..RULE
    },
    Rule {
        names: &["modify_ldt"],
        arches: &["amd64", "x32", "x86"],
        ..RULE
    },
    Rule {
        names: &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arches: &["s390", "s390x"],
        ..RULE
    },
    Rule {
        names: &["riscv_flush_icache"],
        arches: &["riscv64"],
        ..RULE
    },
    Rule {
        names: &["open_by_handle_at"],
        caps: &[Capability::DacReadSearch],
        ..RULE
    },
    Rule {
        names: &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        caps: &[Capability::SysAdmin],
        ..RULE
    },
    // Without CAP_SYS_ADMIN: threads and processes, but no namespaces.
    Rule {
        names: &["clone"],
        args: &[Arg {
            index: 0,
            value: CLONE_NAMESPACE_FLAGS,
            op: LinuxSeccompOperator::ScmpCmpMaskedEq,
        }],
        unless_caps: &[Capability::SysAdmin],
        unless_arches: &["s390", "s390x"],
        ..RULE
    },
    // s390 passes clone's flags second.
    Rule {
        names: &["clone"],
        args: &[Arg {
            index: 1,
            value: CLONE_NAMESPACE_FLAGS,
            op: LinuxSeccompOperator::ScmpCmpMaskedEq,
        }],
        arches: &["s390", "s390x"],
        unless_caps: &[Capability::SysAdmin],
        ..RULE
    },
    Rule {
        names: &["clone3"],
        errno: Some(libc::ENOSYS as u32),
        unless_caps: &[Capability::SysAdmin],
        ..RULE
    },
    Rule {
        names: &["reboot"],
        caps: &[Capability::SysBoot],
        ..RULE
    },
    Rule {
        names: &["chroot"],
        caps: &[Capability::SysChroot],
        ..RULE
    },
    Rule {
        names: &["delete_module", "init_module", "finit_module"],
        caps: &[Capability::SysModule],
        ..RULE
    },
    Rule {
        names: &["acct"],
        caps: &[Capability::SysPacct],
        ..RULE
    },
    Rule {
        names: &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        caps: &[Capability::SysPtrace],
        ..RULE
    },
    Rule {
        names: &["iopl", "ioperm"],
        caps: &[Capability::SysRawio],
        ..RULE
    },
    Rule {
        names: &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        caps: &[Capability::SysTime],
        ..RULE
    },
    Rule {
        names: &["vhangup"],
        caps: &[Capability::SysTtyConfig],
        ..RULE
    },
    Rule {
        names: &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        caps: &[Capability::SysNice],
        ..RULE
    },
    Rule {
        names: &["syslog"],
        caps: &[Capability::Syslog],
        ..RULE
    },
    Rule {
        names: &["bpf"],
        caps: &[Capability::Bpf],
        ..RULE
    },
    Rule {
        names: &["perf_event_open"],
        caps: &[Capability::Perfmon],
        ..RULE
    },
];

/// The host's architecture by moby's (Go's) name: what the `arches` of a
/// rule refer to.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        "mips64" => "mips64",
        other => other,
    }
}

/// The filter's architectures for a host: its own and those its kernel
/// also runs (moby's archMap).
fn filter_arches(arch: &str) -> Vec<Arch> {
    match arch {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        "ppc64le" => vec![Arch::ScmpArchPpc64le],
        "loong64" => vec![Arch::ScmpArchLoongarch64],
        "x86" => vec![Arch::ScmpArchX86],
        "arm" => vec![Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

/// The running kernel's (major, minor); (0, 0) when unreadable, so that no
/// rule guarded by a minimum version applies.
pub fn kernel_version() -> (u32, u32) {
    let Ok(u) = nix::sys::utsname::uname() else {
        return (0, 0);
    };
    parse_kernel_version(&u.release().to_string_lossy())
}

fn parse_kernel_version(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn syscall(names: &[&str], errno: Option<u32>, args: &[Arg]) -> Result<LinuxSyscall, String> {
    let mut b = LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .action(match errno {
            None => LinuxSeccompAction::ScmpActAllow,
            Some(_) => LinuxSeccompAction::ScmpActErrno,
        });
    if let Some(e) = errno {
        b = b.errno_ret(e);
    }
    if !args.is_empty() {
        let args = args
            .iter()
            .map(|a| {
                LinuxSeccompArgBuilder::default()
                    .index(a.index)
                    .value(a.value)
                    .op(a.op)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        b = b.args(args);
    }
    b.build().map_err(|e| e.to_string())
}

/// Docker's default profile for a container whose bounding set is `caps`,
/// on a host of architecture `arch` (moby's name) running kernel `kernel`.
pub fn profile_for(
    caps: &[Capability],
    arch: &str,
    kernel: (u32, u32),
) -> Result<LinuxSeccomp, String> {
    let mut syscalls = vec![syscall(ALWAYS, None, &[])?];
    for r in RULES {
        let applies = r.caps.iter().all(|c| caps.contains(c))
            && !r.unless_caps.iter().any(|c| caps.contains(c))
            && (r.arches.is_empty() || r.arches.contains(&arch))
            && !r.unless_arches.contains(&arch)
            && r.min_kernel.is_none_or(|min| kernel >= min);
        if applies {
            syscalls.push(syscall(r.names, r.errno, r.args)?);
        }
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(DEFAULT_ERRNO)
        .architectures(filter_arches(arch))
        .syscalls(syscalls)
        .build()
        .map_err(|e| e.to_string())
}

/// Docker's default profile for `caps` on this host.
pub fn default_profile(caps: &[Capability]) -> Result<LinuxSeccomp, String> {
    profile_for(caps, host_arch(), kernel_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syscall name and, when conditional, its (index, value) checks.
    type Allowed = (String, Option<Vec<(usize, u64)>>);

    fn allowed(p: &LinuxSeccomp) -> Vec<Allowed> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
            .flat_map(|s| {
                let args = s
                    .args()
                    .as_ref()
                    .map(|a| a.iter().map(|x| (x.index(), x.value())).collect());
                s.names()
                    .iter()
                    .map(move |n| (n.clone(), args.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn unconditional(p: &LinuxSeccomp, name: &str) -> bool {
        allowed(p).iter().any(|(n, a)| n == name && a.is_none())
    }

    #[test]
    fn default_caps_allow_workloads_but_not_namespaces() {
        let caps = crate::containers::bundle::DEFAULT_CAPS;
        let p = profile_for(&caps, "amd64", (6, 1)).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().clone().unwrap(),
            [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        for ok in [
            "read",
            "execve",
            "arch_prctl",
            "chroot",
            "ptrace",
            "setresuid",
        ] {
            assert!(unconditional(&p, ok), "{ok} should be allowed");
        }
        for no in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "reboot",
            "init_module",
            "bpf",
            "open_by_handle_at",
            "kexec_load",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ] {
            assert!(
                !allowed(&p).iter().any(|(n, _)| n == no),
                "{no} should be refused"
            );
        }
        // clone only without namespace flags; clone3 says ENOSYS.
        let clone: Vec<_> = allowed(&p)
            .into_iter()
            .filter(|(n, _)| n == "clone")
            .collect();
        assert_eq!(clone, [("clone".into(), Some(vec![(0, 0x7E02_0000)]))]);
        let clone3 = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names().contains(&"clone3".to_string()))
            .unwrap();
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3.errno_ret(), Some(38));
        // personality: only the five harmless values.
        let personas: Vec<u64> = allowed(&p)
            .into_iter()
            .filter(|(n, _)| n == "personality")
            .map(|(_, a)| a.unwrap()[0].1)
            .collect();
        assert_eq!(personas, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn capabilities_and_arch_and_kernel_change_the_profile() {
        let caps = [Capability::SysAdmin, Capability::SysPtrace];
        let p = profile_for(&caps, "amd64", (6, 1)).unwrap();
        for ok in ["mount", "unshare", "setns", "clone", "clone3", "kcmp"] {
            assert!(unconditional(&p, ok), "{ok} with CAP_SYS_ADMIN");
        }
        assert!(
            !p.syscalls()
                .iter()
                .flatten()
                .any(|s| s.action() == LinuxSeccompAction::ScmpActErrno),
            "clone3 is not refused with CAP_SYS_ADMIN"
        );
        let p = profile_for(&[], "arm64", (4, 4)).unwrap();
        assert!(!unconditional(&p, "arch_prctl"));
        assert!(unconditional(&p, "cacheflush"));
        assert!(
            !unconditional(&p, "ptrace"),
            "before 4.8 ptrace needs the cap"
        );
        assert!(!unconditional(&p, "chroot"));
        assert_eq!(
            p.architectures().clone().unwrap(),
            [Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        let p = profile_for(&[], "s390x", (6, 1)).unwrap();
        let clone: Vec<_> = allowed(&p)
            .into_iter()
            .filter(|(n, _)| n == "clone")
            .collect();
        assert_eq!(clone, [("clone".into(), Some(vec![(1, 0x7E02_0000)]))]);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.1.0-28-amd64"), (6, 1));
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), (6, 18));
        assert_eq!(parse_kernel_version("garbage"), (0, 0));
    }

    #[test]
    fn the_runtime_compiles_it() {
        let p = default_profile(&crate::containers::bundle::DEFAULT_CAPS).unwrap();
        let prog = berth_runtime::seccomp::compile(&p).expect("compiles");
        assert!(
            prog.filter.len() > 100,
            "{} instructions",
            prog.filter.len()
        );
    }
}
