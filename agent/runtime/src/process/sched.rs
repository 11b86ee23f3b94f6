//! Scheduling and memory placement of the container's process:
//! `process.scheduler` (sched_setattr), `process.ioPriority` (ioprio_set),
//! `linux.memoryPolicy` (set_mempolicy) and `execCPUAffinity`
//! (sched_setaffinity). Planned by the runtime, applied by the init without
//! allocating.
//!
//! sched_setattr, ioprio_set and set_mempolicy stay raw: nix wraps none of
//! them. The affinity goes through nix's `sched_setaffinity`.

use libc::c_int;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use crate::error::{Error, Result};
use crate::syscall::{Errno, SysResult};

/// The size of `struct sched_attr` (version 1, with the deadline fields).
const SCHED_ATTR_SIZE: u32 = 48;
const _: () = assert!(std::mem::size_of::<SchedPlan>() == SCHED_ATTR_SIZE as usize);

/// `sched_setattr(2)`'s argument, prepared.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct SchedPlan {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

impl SchedPlan {
    pub(crate) fn from_spec(s: &Scheduler, field: &str) -> Result<SchedPlan> {
        let policy: c_int = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
            LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
            LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
            LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
            LinuxSchedulerPolicy::SchedIso => {
                return Err(Error::config(
                    format!("{field}.scheduler.policy"),
                    "SCHED_ISO is not implemented by Linux",
                ));
            }
            LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let policy = policy.cast_unsigned();
        let mut flags = 0u64;
        for f in s.flags().iter().flatten() {
            flags |= match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        Ok(SchedPlan {
            size: SCHED_ATTR_SIZE,
            policy,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: u32::try_from(s.priority().unwrap_or(0)).unwrap_or(0),
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
        })
    }
}

/// `set_mempolicy(2)` arguments for `linux.memoryPolicy`.
pub(crate) fn mempolicy(mp: &oci_spec::runtime::LinuxMemoryPolicy) -> Result<(c_int, Vec<u64>)> {
    use oci_spec::runtime::{MemoryPolicyFlagType as F, MemoryPolicyModeType as M};
    /// Linux's MAX_NUMNODES is at most 1 << 10.
    const MAX_NODES: u64 = 1 << 10;
    let field = "linux.memoryPolicy";
    let mut mode = match mp.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for f in mp.flags().iter().flatten() {
        mode |= match f {
            F::MpolFNumaBalancing => 1 << 13,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFStaticNodes => 1 << 15,
        };
    }
    let mut mask: Vec<u64> = Vec::new();
    let nodes = mp.nodes().as_deref().unwrap_or("").trim();
    if !nodes.is_empty() {
        for part in nodes.split(',') {
            let bad = || {
                Error::config(
                    format!("{field}.nodes"),
                    format!("{nodes:?} is not a node list like 0-3,7"),
                )
            };
            let (a, b) = match part.trim().split_once('-') {
                Some((a, b)) => (
                    a.parse::<u64>().map_err(|_| bad())?,
                    b.parse::<u64>().map_err(|_| bad())?,
                ),
                None => {
                    let n = part.trim().parse::<u64>().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if a > b || b >= MAX_NODES {
                return Err(Error::config(
                    format!("{field}.nodes"),
                    format!("{part:?}: nodes go from 0 to {}", MAX_NODES - 1),
                ));
            }
            for n in a..=b {
                let word = (n / 64) as usize;
                if mask.len() <= word {
                    mask.resize(word + 1, 0);
                }
                mask[word] |= 1 << (n % 64);
            }
        }
    }
    Ok((mode, mask))
}

/// `ioprio_set(2)` value for the spec's ioPriority.
pub(crate) fn io_priority_value(io: &LinuxIOPriority, field: &str) -> Result<c_int> {
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&io.priority()) {
        return Err(Error::config(
            format!("{field}.ioPriority.priority"),
            format!("{} is outside 0..=7", io.priority()),
        ));
    }
    Ok((class << 13) | c_int::try_from(io.priority()).unwrap_or(0))
}

/// `sched_setattr(2)` of the calling process.
pub(crate) fn set_scheduler(s: &SchedPlan) -> SysResult<()> {
    // SAFETY: `s` is a complete sched_attr whose size field is set.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, s as *const SchedPlan, 0) };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, self, value)`.
pub(crate) fn set_io_priority(value: c_int) -> SysResult<()> {
    // SAFETY: ioprio_set takes integers only.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `set_mempolicy(2)` of the calling process: `mode` and the node mask.
pub(crate) fn set_mempolicy(mode: c_int, mask: &[u64]) -> SysResult<()> {
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: `mask` outlives the call and holds `len * 64` bits.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, mask.len() as u64 * 64) };
    if ret < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `sched_setaffinity(2)` of `pid` (0: the caller) to `mask`, through
/// nix's `CpuSet` (a `cpu_set_t` on the stack: nothing is allocated).
pub(crate) fn set_affinity(pid: i32, mask: &super::CpuMask) -> SysResult<()> {
    let mut set = CpuSet::new();
    for (w, word) in mask.iter().enumerate() {
        for bit in 0..64 {
            if word & (1u64 << bit) != 0 {
                set.set(w * 64 + bit)?;
            }
        }
    }
    sched_setaffinity(Pid::from_raw(pid), &set)
}
