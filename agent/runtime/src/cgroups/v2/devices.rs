//! Device rules on cgroup v2: v2 has no `devices` files, so the rules become
//! a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup
//! (bpf(2), `Documentation/bpf/prog_cgroup_device` ... as runc and crun do).
//!
//! v1 semantics are kept: the last rule that matches decides; a rule for all
//! devices (`a *:*`) resets the default, so rules before the last such rule
//! no longer matter; with no such rule the default is to allow.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgroups::{DeviceRule, Error, Result};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

fn access_mask(access: &str) -> i32 {
    access.chars().fold(0, |m, c| match c {
        'm' => m | ACC_MKNOD,
        'r' => m | ACC_READ,
        'w' => m | ACC_WRITE,
        _ => m,
    })
}

/// Compiles rules (already in order, defaults included) to a program.
pub fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let is_all = |r: &DeviceRule| r.kind == 'a' && r.major.is_none() && r.minor.is_none();
    let (default, relevant) = match rules.iter().rposition(is_all) {
        Some(k) => (rules[k].allow, &rules[k + 1..]),
        None => (true, rules),
    };
    // r2 = type, r3 = access, r4 = major, r5 = minor
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    // Last match wins: test the rules from the last one back.
    for rule in relevant.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        // Jumps to the next block get their offset once the block is known.
        let mut jumps = Vec::new();
        match rule.kind {
            'c' => {
                jumps.push(block.len());
                block.push(insn(JNE_K, 2, 0, 0, DEV_CHAR));
            }
            'b' => {
                jumps.push(block.len());
                block.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK));
            }
            _ => {}
        }
        let mask = access_mask(&rule.access);
        block.push(insn(MOV_X, 6, 3, 0, 0));
        if rule.allow {
            // Allowed only if every requested access is in the rule.
            block.push(insn(AND_K, 6, 0, 0, !mask & 7));
            jumps.push(block.len());
            block.push(insn(JNE_K, 6, 0, 0, 0));
        } else {
            // Denied if any requested access is in the rule.
            block.push(insn(AND_K, 6, 0, 0, mask));
            jumps.push(block.len());
            block.push(insn(JEQ_K, 6, 0, 0, 0));
        }
        if let Some(major) = rule.major {
            jumps.push(block.len());
            block.push(insn(JNE_K, 4, 0, 0, imm32(major)));
        }
        if let Some(minor) = rule.minor {
            jumps.push(block.len());
            block.push(insn(JNE_K, 5, 0, 0, imm32(minor)));
        }
        block.push(insn(MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in jumps {
            // A rule's block is a handful of instructions: the jump fits.
            block[j].off = i16::try_from(len - j - 1).unwrap_or(i16::MAX);
        }
        prog.extend(block);
    }
    prog.push(insn(MOV_K, 0, 0, 0, i32::from(default)));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// `union bpf_attr` for BPF_PROG_LOAD, zero-padded.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    pad: [u8; 80],
}

/// `union bpf_attr` for BPF_PROG_ATTACH, zero-padded.
#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    pad: [u8; 112],
}

/// The verifier log's size.
const LOG_SIZE: u32 = 16 * 1024;

/// A device number as a BPF immediate: the low 32 bits, as the program
/// compares the 32-bit major and minor the kernel loads.
#[allow(clippy::cast_possible_truncation)] // the truncation is the encoding
fn imm32(v: i64) -> i32 {
    v as i32
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-padded bpf_attr variant that lives for the
    // call; its size is passed along.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Loads the rules' program and attaches it to the cgroup at `dir`.
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = compile(&DeviceRule::with_defaults(rules));
    let license = c"GPL";
    let mut log = vec![0u8; LOG_SIZE as usize];
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len()).map_err(|_| {
            Error::Unsupported("a device-rules program over 2^32 instructions".into())
        })?,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: LOG_SIZE,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        pad: [0; 80],
    };
    let prog_fd = bpf(BPF_PROG_LOAD, &mut load).map_err(|e| {
        let text = String::from_utf8_lossy(&log);
        let text = text.trim_end_matches('\0').trim();
        Error::Unsupported(format!(
            "load the device-rules eBPF program for {}: {e}{}",
            dir.display(),
            if text.is_empty() {
                String::new()
            } else {
                format!(" ({text})")
            }
        ))
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new fd that nothing else owns.
    let prog_fd = unsafe {
        OwnedFd::from_raw_fd(
            RawFd::try_from(prog_fd).map_err(|_| Error::Unsupported("BPF_PROG_LOAD fd".into()))?,
        )
    };
    let cg = std::fs::File::open(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        err: source,
    })?;
    let mut attach = AttachAttr {
        target_fd: cg.as_raw_fd().cast_unsigned(),
        attach_bpf_fd: prog_fd.as_raw_fd().cast_unsigned(),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        pad: [0; 112],
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| {
        Error::Unsupported(format!(
            "attach the device-rules eBPF program to {}: {e}",
            dir.display()
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        kind: char,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    /// A tiny interpreter for the instructions `compile` emits.
    fn run(prog: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
        let ctx = [
            ((access << 16) | typ).cast_unsigned(),
            major.cast_unsigned(),
            minor.cast_unsigned(),
        ];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = i64::from(ctx[usize::try_from(i.off / 4).unwrap()]),
                AND_K => r[dst] &= i64::from(i.imm),
                RSH_K => r[dst] >>= i.imm,
                MOV_K => r[dst] = i64::from(i.imm),
                MOV_X => r[dst] = r[src],
                JNE_K if r[dst] != i64::from(i.imm) => pc += usize::try_from(i.off).unwrap(),
                JEQ_K if r[dst] == i64::from(i.imm) => pc += usize::try_from(i.off).unwrap(),
                JNE_K | JEQ_K => {}
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn deny_all_then_allow_null() {
        let prog = compile(&[
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(136), None, "rw"),
        ]);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 5), 0, "zero not listed");
        assert_eq!(
            run(&prog, DEV_BLOCK, ACC_READ, 1, 3),
            0,
            "block 1:3 is another device"
        );
        assert_eq!(
            run(&prog, DEV_CHAR, ACC_READ, 136, 7),
            1,
            "pts wildcard minor"
        );
        assert_eq!(
            run(&prog, DEV_CHAR, ACC_MKNOD, 136, 7),
            0,
            "mknod not granted"
        );
    }

    #[test]
    fn without_a_reset_the_default_is_allow_and_last_match_wins() {
        let prog = compile(&[
            rule(false, 'c', Some(1), Some(9), "rwm"),
            rule(true, 'c', Some(1), Some(9), "r"),
        ]);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 9), 1);
        assert_eq!(run(&prog, DEV_CHAR, ACC_WRITE, 1, 9), 0);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_WRITE, 8, 0), 1);
    }
}
