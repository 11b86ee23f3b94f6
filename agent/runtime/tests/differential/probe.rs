//! The probe's output as fields, and what legitimately differs between two
//! runs taken out of it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Paths the probe always looks at, whatever the spec lists: runc's default
/// masked and read-only paths, so a variant that drops them shows what a
/// runtime leaves open.
const ALWAYS_PROBED: [&str; 6] = [
    "masked:/proc/kcore",
    "masked:/proc/keys",
    "masked:/proc/acpi",
    "masked:/sys/firmware",
    "readonly:/proc/sys",
    "readonly:/proc/sysrq-trigger",
];

/// The probe's command line for `spec`: its masked and read-only paths and
/// its sysctls, as the probe's arguments.
pub fn args(spec: &Value) -> Vec<String> {
    let mut what: BTreeSet<String> = ALWAYS_PROBED.iter().map(|s| s.to_string()).collect();
    let list = |key: &str| -> Vec<String> {
        spec["linux"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    what.extend(
        list("maskedPaths")
            .into_iter()
            .map(|p| format!("masked:{p}")),
    );
    what.extend(
        list("readonlyPaths")
            .into_iter()
            .map(|p| format!("readonly:{p}")),
    );
    if let Some(s) = spec["linux"]["sysctl"].as_object() {
        what.extend(s.keys().map(|k| format!("sysctl:{k}")));
    }
    let mut a = vec!["sh".to_string(), "/probe.sh".to_string()];
    a.extend(what);
    a
}

/// The status lines compared.
const STATUS: [&str; 10] = [
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
    "Uid",
    "Gid",
    "Groups",
];

/// The probe's sections as fields; a key seen twice (a mount point
/// mounted over) keeps every value, in order, joined by ` | `.
pub fn parse(out: &str) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |k: String, v: String| {
        m.entry(k)
            .and_modify(|old| {
                old.push_str(" | ");
                old.push_str(&v);
            })
            .or_insert(v);
    };
    let mut section = "";
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            section = name;
            continue;
        }
        match section {
            "status" => {
                if let Some((k, v)) = line.split_once(':')
                    && STATUS.contains(&k)
                {
                    add(
                        format!("status.{k}"),
                        v.split_whitespace().collect::<Vec<_>>().join(" "),
                    );
                }
            }
            "limits" if !line.starts_with("Limit ") && line.len() >= 68 => {
                // Fixed-width columns: name, soft, hard, units.
                let name = line[..26].trim().replace(' ', "_");
                add(
                    format!("limit.{name}"),
                    format!("{} {}", line[26..47].trim(), line[47..68].trim()),
                );
            }
            "mountinfo" => {
                let f: Vec<&str> = line.split(' ').collect();
                if let Some(dash) = f.iter().position(|x| *x == "-")
                    && f.len() > dash + 3
                {
                    add(
                        format!("mount.{}", f[4]),
                        format!("{} {} {}", f[dash + 1], f[5], f[dash + 3]),
                    );
                }
            }
            "env" => {
                if let Some((k, v)) = line.split_once('=') {
                    add(format!("env.{k}"), v.to_string());
                }
            }
            "ns" => {
                if let Some((left, link)) = line.split_once(" -> ")
                    && let Some(name) = left.split_whitespace().last()
                {
                    add(format!("ns.{name}"), link.to_string());
                }
            }
            _ => {
                if let Some((k, v)) = line.split_once('=')
                    && k != "probe.end"
                {
                    add(k.to_string(), v.to_string());
                }
            }
        }
    }
    m
}

/// Takes out of one run's fields what legitimately differs between
/// runtimes and runs, each for the reason given beside it.
pub fn normalise(
    fields: &mut BTreeMap<String, String>,
    spec: &Value,
    host_ns: &BTreeMap<String, String>,
) {
    let masked: BTreeSet<String> = spec["linux"]["maskedPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let keys: Vec<String> = fields.keys().cloned().collect();
    for k in keys {
        if let Some(name) = k.strip_prefix("ns.") {
            // Namespace inodes are new numbers every run: what matters is
            // whether the container shares the namespace with the host (the
            // runtime's own) or has one of its own.
            let v = fields[&k].clone();
            let same = host_ns.get(name).is_some_and(|h| *h == v);
            fields.insert(k, if same { "host" } else { "new" }.into());
        } else if k.starts_with("masked.") || k.starts_with("readonly.") {
            // An unmasked file's length is the caller's own (/proc/keys
            // lists the runtime's keyrings): readable and not empty is
            // what is compared.
            let v = fields[&k].clone();
            let v = match v.split_once("bytes=") {
                Some((a, rest)) if !rest.starts_with("0 ") => {
                    let tail = rest.split_once(' ').map_or("", |(_, t)| t);
                    format!("{a}bytes>0 {tail}")
                }
                _ => v,
            };
            fields.insert(k, v);
        } else if let Some(point) = k.strip_prefix("mount.") {
            if masked.contains(point) {
                // A masked file is a bind mount of /dev/null, runc's from the
                // container's /dev (a tmpfs), crun's from the host's
                // (devtmpfs), and a masked directory an empty read-only
                // tmpfs, runc's without a size and crun's with size=0k: fs
                // type and options are the runtime's choice of source. What
                // the mount hides is compared by `masked.<path>`.
                fields.remove(&k);
                continue;
            }
            let v = fields[&k]
                .split(" | ")
                .map(|one| mount_value(point, one))
                .collect::<Vec<_>>()
                .join(" | ");
            fields.insert(k, v);
        }
    }
}

/// One mount's `fstype per-mount-options super-options`, normalised.
fn mount_value(point: &str, v: &str) -> String {
    let mut parts = v.splitn(3, ' ');
    let (fstype, opts, sopts) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    // Per-mount options are what the process is held to (ro, nosuid, nodev,
    // noexec, atime): compared as they are. Of the super options, the
    // leading rw/ro is the superblock's, which depends on whether the
    // runtime mounted read-only at once or remounted the bind later (runc
    // and crun differ: /sys, masked directories); the mount's own `ro` says
    // what the process can do.
    let sopts: Vec<&str> = sopts
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro")
        .collect();
    // /sys/fs/cgroup (v1) is a tmpfs each runtime sizes its own way (runc
    // mode=755, crun size=1024k); the hierarchies below it are binds of
    // the container's own cgroups. Their super options say nothing the
    // process could use.
    let sopts = if point.starts_with("/sys/fs/cgroup") {
        "-".to_string()
    } else {
        sopts.join(",")
    };
    format!("{fstype} {opts} {sopts}")
}
