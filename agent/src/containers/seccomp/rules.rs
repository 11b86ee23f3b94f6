//! The conditional rules of Docker's default seccomp profile (moby's
//! `profiles/seccomp/default.json`): syscalls allowed or refused depending
//! on capabilities, architecture and kernel. The parent module turns them
//! and [`super::always`] into an OCI `linux.seccomp`.

use oci_spec::runtime::{Capability, LinuxSeccompOperator};

/// The namespace flags of clone(2) (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET): 0x7E020000.
pub(super) const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// AF_VSOCK, which containers may not open (it reaches the hypervisor).
pub(super) const AF_VSOCK: u64 = 40;

/// One argument check of a rule.
#[derive(Clone, Copy)]
pub(super) struct Arg {
    pub(super) index: usize,
    pub(super) value: u64,
    pub(super) op: LinuxSeccompOperator,
}

/// A rule that applies only in some conditions (moby's includes/excludes).
pub(super) struct Rule {
    pub(super) names: &'static [&'static str],
    /// `None` allows; `Some(errno)` fails with it.
    pub(super) errno: Option<u32>,
    pub(super) args: &'static [Arg],
    /// Applies only when the container has every one of these.
    pub(super) caps: &'static [Capability],
    /// Does not apply when it has any of these.
    pub(super) unless_caps: &'static [Capability],
    /// Applies only on these host architectures (moby's names).
    pub(super) arches: &'static [&'static str],
    pub(super) unless_arches: &'static [&'static str],
    /// Applies only from this kernel version on.
    pub(super) min_kernel: Option<(u32, u32)>,
}

pub(super) const RULE: Rule = Rule {
    names: &[],
    errno: None,
    args: &[],
    caps: &[],
    unless_caps: &[],
    arches: &[],
    unless_arches: &[],
    min_kernel: None,
};

pub(super) const fn eq(index: usize, value: u64) -> Arg {
    Arg {
        index,
        value,
        op: LinuxSeccompOperator::ScmpCmpEq,
    }
}

pub(super) const PERSONA_LINUX: &[Arg] = &[eq(0, 0)];
pub(super) const PERSONA_LINUX32: &[Arg] = &[eq(0, 8)];
pub(super) const PERSONA_UNAME26: &[Arg] = &[eq(0, 0x20000)];
pub(super) const PERSONA_LINUX32_UNAME26: &[Arg] = &[eq(0, 0x20008)];
pub(super) const PERSONA_QUERY: &[Arg] = &[eq(0, 0xffff_ffff)];

pub(super) const RULES: &[Rule] = &[
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
