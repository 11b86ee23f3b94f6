//! `linux.seccomp` (config-linux.md "Seccomp") compiled to a classic BPF
//! program with libseccomp, in the runtime. The init then installs the
//! finished program with one `seccomp(2)` call: no libseccomp (and no
//! allocation) in the container's process.

use std::io::{Read, Seek, SeekFrom};

use std::path::PathBuf;
use std::str::FromStr;

use libc::c_ulong;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::memfd::MFdFlags;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::error::{Error, Result};

const SECCOMP_FILTER_FLAG_TSYNC: c_ulong = 1;
const SECCOMP_FILTER_FLAG_LOG: c_ulong = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: c_ulong = 4;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: c_ulong = 8;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: c_ulong = 32;

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct SeccompProgram {
    pub filter: Vec<libc::sock_filter>,
    /// `seccomp(2)` flags.
    pub flags: c_ulong,
    /// Some rule uses `SCMP_ACT_NOTIFY`: the init gets a listener fd.
    pub notify: bool,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, field: &str) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            let e = errno.unwrap_or(libc::EPERM as u32);
            let Ok(e) = u16::try_from(e) else {
                return Err(Error::config(
                    format!("{field}.errnoRet"),
                    format!("{e} is above 65535"),
                ));
            };
            ScmpAction::Errno(i32::from(e))
        }
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActTrace => {
            // The tracer's message is 16 bits: the low ones of errnoRet.
            let msg = errno.unwrap_or(libc::EPERM.cast_unsigned()) & 0xffff;
            ScmpAction::Trace(u16::try_from(msg).unwrap_or(u16::MAX))
        }
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn seccomp_err(field: &str) -> impl Fn(libseccomp::error::SeccompError) -> Error + '_ {
    move |e| Error::config(field.to_string(), e.to_string())
}

/// Compiles the spec's filter for the running architecture(s).
pub fn compile(s: &LinuxSeccomp) -> Result<SeccompProgram> {
    let base = "linux.seccomp";
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{base}.defaultAction"),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(seccomp_err(base))?;
    // The init sets no_new_privs itself when asked; libseccomp must not.
    ctx.set_ctl_nnp(false).map_err(seccomp_err(base))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("{base}.architectures[{i}]");
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name)
            .map_err(|_| Error::config(&field, format!("unknown architecture {name:?}")))?;
        ctx.add_arch(a).map_err(seccomp_err(&field))?;
    }
    let mut notify = default == ScmpAction::Notify;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("{base}.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &field)?;
        if act == default {
            // libseccomp refuses rules that repeat the default action.
            continue;
        }
        notify |= act == ScmpAction::Notify;
        let mut conds = Vec::new();
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            let op = match arg.op() {
                LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
            };
            if arg.index() > 5 {
                return Err(Error::config(
                    format!("{field}.args[{j}].index"),
                    format!("{} is above 5", arg.index()),
                ));
            }
            let datum = match arg.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
                _ => arg.value(),
            };
            // At most 5, checked above.
            let index = u32::try_from(arg.index()).unwrap_or(u32::MAX);
            conds.push(ScmpArgCompare::new(index, op, datum));
        }
        for name in sc.names() {
            // Names this libseccomp (or architecture) does not know are
            // skipped, as runc does: profiles list syscalls of newer kernels.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let res = if conds.is_empty() {
                ctx.add_rule(act, nr)
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
            };
            res.map_err(|e| Error::config(format!("{field}.names ({name})"), e.to_string()))?;
        }
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if notify {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if s.listener_path().is_none() {
            return Err(Error::config(
                format!("{base}.listenerPath"),
                "SCMP_ACT_NOTIFY needs a listener socket",
            ));
        }
    }
    let filter = export(&ctx)?;
    Ok(SeccompProgram {
        filter,
        flags,
        notify,
        listener_path: s.listener_path().clone(),
        listener_metadata: s.listener_metadata().clone(),
    })
}

/// The BPF program of a filter context.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = nix::sys::memfd::memfd_create(c"berth-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| Error::Seccomp(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&fd)
        .map_err(|e| Error::Seccomp(format!("export: {e}")))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::Seccomp(format!("read the exported program: {e}")))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_compiles() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["getcwd","no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":42},
                            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap();
        let p = compile(&s).unwrap();
        assert!(p.filter.len() > 4);
        assert!(!p.notify);
        assert_eq!(p.flags, 0);
    }

    #[test]
    fn notify_needs_a_listener() {
        // qemu-user (scripts/arm64-smoke.sh) answers seccomp(2) with ENOSYS,
        // so libseccomp finds API level 1 and refuses SCMP_ACT_NOTIFY itself
        // before the listener is checked.
        if std::env::var_os("BERTH_UNDER_QEMU_USER").is_some() {
            berth_testkit::skip("qemu-user has no seccomp(2): libseccomp refuses SCMP_ACT_NOTIFY");
            return;
        }
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        let err = compile(&s).unwrap_err().to_string();
        assert!(err.contains("linux.seccomp.listenerPath"), "{err}");
    }
}
