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
    LinuxSeccompBuilder, LinuxSyscall, LinuxSyscallBuilder,
};

mod always;
mod rules;

use always::ALWAYS;
use rules::{Arg, RULES};

/// The errno of a refused syscall (EPERM), as in Docker.
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

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
