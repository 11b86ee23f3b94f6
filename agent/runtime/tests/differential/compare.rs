//! The comparison rules of issue 18, and the checked-in table of the
//! differences they allow.
//!
//! - runc and crun agree on a field: berth must give the same value.
//! - runc and crun disagree: `EXPLAINED` must name the variant and the
//!   field, say which of the two berth follows and why; berth must then
//!   give that one's value. A disagreement the table does not name fails.
//! - both refuse the bundle: berth must refuse it too, with a message.
//! - an `Own` row is a difference of berth's own from both, with its
//!   reason; only where the harness cannot be made to agree yet, never for
//!   capabilities, no_new_privs, seccomp, masked or read-only paths or
//!   namespaces.

use std::collections::{BTreeMap, BTreeSet};

use super::world::Outcome;

/// Which value berth must give where the table names a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Runc,
    Crun,
    /// berth differs from both, on purpose or not fixed yet.
    Own,
}

/// One explained difference: the variants named `variant` and the fields
/// named `field`; `*` in a name stands for any text (`*` alone: all).
pub struct Explained {
    pub variant: &'static str,
    pub field: &'static str,
    pub pick: Pick,
    pub reason: &'static str,
}

/// The explained differences (docs/testing.md lists them too); the first
/// row that names a variant and field is the one that counts.
pub const EXPLAINED: &[Explained] = &[
    Explained {
        variant: "*",
        field: "mount./sys/fs/cgroup",
        pick: Pick::Own,
        reason: "berth keeps the v1 /sys/fs/cgroup tmpfs read-only when the \
                 cgroup mount asks for ro; runc and crun leave the tmpfs \
                 writable (only the hierarchies below it are read-only). \
                 Stricter on purpose: nothing in the container needs to \
                 write there",
    },
    Explained {
        variant: "*",
        field: "mount./sys/fs/cgroup/systemd",
        pick: Pick::Own,
        reason: "not fixed yet: runc and crun also bind the container's \
                 cgroup of the named name=systemd hierarchy; berth makes \
                 cgroups only in the hierarchies it manages (controllers)",
    },
    Explained {
        variant: "*",
        field: "env.HOME",
        pick: Pick::Runc,
        reason: "crun leaves HOME unset when the user is not in the \
                 container's /etc/passwd; runc sets it to /, and so does \
                 berth: a program reading $HOME gets a directory",
    },
    Explained {
        variant: "domainname",
        field: "domainname",
        pick: Pick::Crun,
        reason: "runc 1.1 predates the spec's domainname and ignores it; \
                 crun sets it, and so does berth (the spec asks for it)",
    },
    Explained {
        variant: "ns-user",
        field: "mount./dev/*",
        pick: Pick::Runc,
        reason: "in a user namespace the devices are bind mounts of the \
                 host's; crun adds nosuid,noexec to them, runc and berth \
                 bind them as they are (device nodes need neither)",
    },
    Explained {
        variant: "*readonlyPaths=edge*",
        field: "mount.*",
        pick: Pick::Runc,
        reason: "a read-only path keeps the nosuid, nodev and noexec of \
                 the mount it is on (runc and berth remount the bind with \
                 them); crun's read-only remount drops them",
    },
    Explained {
        variant: "*/linux/resources/pids=edge:{\"limit\":-1}",
        field: "outcome",
        pick: Pick::Runc,
        reason: "a pids limit of -1 means no limit (runtime spec): runc and \
                 berth write max, crun 1.8 writes -1 and the kernel \
                 refuses it",
    },
    Explained {
        variant: "*/process/user/*=edge:*4294967294*",
        field: "outcome",
        pick: Pick::Crun,
        reason: "ids up to 2^32-2 are valid for the kernel: crun and berth \
                 run as them, runc 1.1 refuses ids above 2^31-1",
    },
    Explained {
        variant: "*/process/user/additionalGids=edge:*2147483648*",
        field: "outcome",
        pick: Pick::Crun,
        reason: "ids up to 2^32-2 are valid for the kernel: crun and berth \
                 run as them, runc 1.1 refuses ids above 2^31-1",
    },
    Explained {
        variant: "mounts-proc-options",
        field: "mount./proc/*",
        pick: Pick::Runc,
        reason: "a read-only path keeps the nosuid, nodev and noexec of \
                 the mount it is on (runc and berth remount the bind with \
                 them); crun's read-only remount drops them",
    },
    Explained {
        variant: "ns-without-mount",
        field: "outcome",
        pick: Pick::Runc,
        reason: "masked and read-only paths without a mount namespace of \
                 the container's own would be applied to the runtime's \
                 (the host's): runc and berth refuse, crun runs it",
    },
    Explained {
        variant: "ns-duplicate",
        field: "outcome",
        pick: Pick::Runc,
        reason: "a namespace listed twice is ambiguous (which path?): \
                 runc and berth refuse, crun takes one",
    },
    Explained {
        variant: "cwd-relative",
        field: "outcome",
        pick: Pick::Runc,
        reason: "the spec says cwd MUST be absolute: runc and berth \
                 refuse, crun takes it relative to /",
    },
    Explained {
        variant: "env-without-equals",
        field: "outcome",
        pick: Pick::Runc,
        reason: "an env entry must be KEY=value: runc and berth refuse, \
                 crun passes it on",
    },
    Explained {
        variant: "*:/linux/resources/cpu=edge:*",
        field: "outcome",
        pick: Pick::Runc,
        reason: "cpu shares of 1 are below the kernel's minimum of 2: runc \
                 and berth refuse with a clear message, crun lets the \
                 kernel round it up",
    },
    Explained {
        variant: "mounts-empty",
        field: "outcome",
        pick: Pick::Crun,
        reason: "nothing in the spec needs /proc; runc 1.1 fails on its own \
                 need for /proc/self/fd, crun and berth run the process",
    },
];

/// One field the three disagree on, for the report.
#[derive(Debug)]
pub struct Difference {
    pub variant: String,
    pub field: String,
    pub runc: Option<String>,
    pub crun: Option<String>,
    pub berth: Option<String>,
    pub why: String,
}

/// An outcome as fields: `outcome` (ran/refused) and, when it ran, the
/// probe's fields.
fn flatten(o: &Outcome) -> BTreeMap<String, String> {
    match o {
        Outcome::Ran(f) => {
            let mut m = f.clone();
            m.insert("outcome".into(), "ran".into());
            m
        }
        Outcome::Refused(_) => BTreeMap::from([("outcome".to_string(), "refused".to_string())]),
    }
}

/// `*` in `pattern` stands for any text.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return name == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn explained(variant: &str, field: &str) -> Option<&'static Explained> {
    EXPLAINED
        .iter()
        .find(|e| matches(e.variant, variant) && matches(e.field, field))
}

/// Whether the outcome (ran or refused) already breaks the rules.
fn compare_outcome_only(
    variant: &str,
    r: &BTreeMap<String, String>,
    c: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> bool {
    let (rv, cv, bv) = (&r["outcome"], &c["outcome"], &b["outcome"]);
    match explained(variant, "outcome") {
        Some(e) if e.pick == Pick::Runc => bv != rv,
        Some(e) if e.pick == Pick::Crun => bv != cv,
        Some(_) => false,
        None => rv != cv || bv != rv,
    }
}

/// Every difference the rules do not allow, for one variant.
pub fn compare(variant: &str, runc: &Outcome, crun: &Outcome, berth: &Outcome) -> Vec<Difference> {
    let (mut r, mut c, b) = (flatten(runc), flatten(crun), flatten(berth));
    // Where the table picks one runtime's outcome, that runtime is the
    // reference for every field.
    let reference = explained(variant, "outcome").map(|e| e.pick);
    match reference {
        Some(Pick::Runc) => c = r.clone(),
        Some(Pick::Crun) => r = c.clone(),
        _ => {}
    }
    let mut keys: BTreeSet<&String> = r.keys().chain(c.keys()).chain(b.keys()).collect();
    // When the outcomes themselves differ, the rest is noise: the outcome
    // alone is reported.
    let outcome = "outcome".to_string();
    if compare_outcome_only(variant, &r, &c, &b) {
        keys = BTreeSet::from([&outcome]);
    }
    let mut out = Vec::new();
    for k in keys {
        let (rv, cv, bv) = (r.get(k), c.get(k), b.get(k));
        let why = match (rv == cv, explained(variant, k)) {
            (_, Some(e)) if e.pick == Pick::Own => continue,
            // A field row that follows the runtime the outcome row did not
            // pick: that runtime refused, there is no value to follow.
            (_, Some(e)) if reference.is_some_and(|p| p != Pick::Own && p != e.pick) => continue,
            (_, Some(e)) => {
                let want = if e.pick == Pick::Runc { rv } else { cv };
                if bv == want {
                    continue;
                }
                format!("the table says berth follows {:?}: {}", e.pick, e.reason)
            }
            (true, None) => {
                if bv == rv {
                    continue;
                }
                "runc and crun agree, berth does not".to_string()
            }
            (false, None) => "runc and crun disagree and the table does not say \
                              which one berth follows"
                .to_string(),
        };
        // For the outcome, the error a runtime gave is worth reading.
        let detail = |o: &Outcome, v: Option<&String>| match o {
            Outcome::Refused(msg) if k == "outcome" => Some(format!("refused: {msg}")),
            _ => v.cloned(),
        };
        out.push(Difference {
            variant: variant.to_string(),
            field: k.clone(),
            runc: detail(runc, rv),
            crun: detail(crun, cv),
            berth: detail(berth, bv),
            why,
        });
    }
    if let Outcome::Refused(msg) = berth
        && (msg.starts_with("(no error output") || msg.contains("panicked"))
    {
        out.push(Difference {
            variant: variant.to_string(),
            field: "error message".into(),
            runc: None,
            crun: None,
            berth: Some(msg.clone()),
            why: "berth must refuse with a clear message, never silently or \
                  with a panic"
                .into(),
        });
    }
    out
}

/// The differences as a readable table.
pub fn render(diffs: &[Difference]) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
    let mut s = String::new();
    for d in diffs {
        s.push_str(&format!(
            "\n[{}] {}\n    runc:  {}\n    crun:  {}\n    berth: {}\n    why:   {}\n",
            d.variant,
            d.field,
            show(&d.runc),
            show(&d.crun),
            show(&d.berth),
            d.why
        ));
    }
    s
}
