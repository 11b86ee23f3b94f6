//! Generated variants: a seeded generator changes ONE field of the base at
//! a time, to one of four kinds of value: absent, empty, typical (drawn at
//! random) or an edge case.

use serde_json::{Value, json};

use super::variants::{Variant, remove};

/// SplitMix64: small, seeded, the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let n = u64::try_from(items.len()).unwrap();
        &items[usize::try_from(self.next() % n).unwrap()]
    }

    /// A random subset of `items`, in their order.
    pub fn subset(&mut self, items: &[&str]) -> Vec<String> {
        items
            .iter()
            .filter(|_| self.next().is_multiple_of(2))
            .map(|s| s.to_string())
            .collect()
    }
}

/// The kinds of value a field is set to.
const KINDS: [&str; 4] = ["absent", "empty", "typical", "edge"];

const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
    "CAP_SYS_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_MKNOD",
];

const PATHS: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/acpi",
    "/proc/sys",
    "/proc/bus",
    "/sys/firmware",
    "/etc/passwd",
    "/tmp",
    "/no/such/path",
];

/// The value of `kind` for the field `f` (None: the field is removed).
fn value(f: &str, kind: &str, rng: &mut Rng) -> Option<Value> {
    let v = match (f, kind) {
        (_, "absent") => return None,
        ("/process/user/uid" | "/process/user/gid", "empty") => json!(0),
        ("/process/user/uid" | "/process/user/gid", "typical") => json!(rng.range(1, 60000)),
        ("/process/user/uid" | "/process/user/gid", _) => json!(*rng.pick(&[65534u64, 4294967294])),
        ("/process/user/umask", "empty") => json!(0),
        ("/process/user/umask", "typical") => json!(rng.range(0, 0o777)),
        ("/process/user/umask", _) => json!(0o777),
        ("/process/user/additionalGids", "empty") => json!([]),
        ("/process/user/additionalGids", "typical") => json!([rng.range(1, 60000)]),
        ("/process/user/additionalGids", _) => json!([0, 65534, 2147483648u64]),
        ("/process/cwd", "empty") => json!(""),
        ("/process/cwd", "typical") => json!(*rng.pick(&["/tmp", "/etc", "/bin", "/"])),
        ("/process/cwd", _) => json!(format!("/new/dir{}", rng.range(0, 999))),
        ("/process/env", "empty") => json!([]),
        ("/process/env", "typical") => json!(["PATH=/bin", format!("X{}=v", rng.range(0, 99))]),
        ("/process/env", _) => json!(["PATH=/bin", "X=a=b", "Y="]),
        ("/process/rlimits", "empty") => json!([]),
        ("/process/rlimits", "typical") => {
            let soft = rng.range(16, 1024);
            json!([{"type": "RLIMIT_NOFILE", "soft": soft, "hard": 1024}])
        }
        ("/process/rlimits", _) => {
            json!([{"type": "RLIMIT_CORE", "soft": u64::MAX, "hard": u64::MAX}])
        }
        ("/process/noNewPrivileges", "empty" | "edge") => json!(false),
        ("/process/noNewPrivileges", _) => json!(true),
        ("/process/oomScoreAdj", "empty") => json!(0),
        ("/process/oomScoreAdj", "typical") => json!(rng.range(1, 1000)),
        ("/process/oomScoreAdj", _) => json!(-1000),
        (c, "empty") if c.starts_with("/process/capabilities/") => json!([]),
        (c, "typical") if c.starts_with("/process/capabilities/") => json!(rng.subset(CAPS)),
        (c, _) if c.starts_with("/process/capabilities/") => json!(CAPS),
        ("/hostname", "empty") => json!(""),
        ("/hostname", "typical") => json!(format!("host-{}", rng.range(0, 99999))),
        ("/hostname", _) => json!("x".repeat(64)),
        ("/linux/maskedPaths" | "/linux/readonlyPaths", "empty") => json!([]),
        ("/linux/maskedPaths" | "/linux/readonlyPaths", "typical") => json!(rng.subset(PATHS)),
        ("/linux/maskedPaths" | "/linux/readonlyPaths", _) => json!(["/etc", "/dev/shm"]),
        ("/linux/sysctl", "empty") => json!({}),
        ("/linux/sysctl", "typical") => {
            json!({"net.ipv4.ip_forward": rng.range(0, 1).to_string()})
        }
        ("/linux/sysctl", _) => {
            json!({"kernel.domainname": format!("d{}.example", rng.range(0, 9))})
        }
        ("/linux/resources/memory", "empty") => json!({}),
        ("/linux/resources/memory", "typical") => json!({"limit": rng.range(16, 1024) << 20}),
        ("/linux/resources/memory", _) => json!({"limit": -1}),
        ("/linux/resources/pids", "empty") => json!({"limit": 0}),
        ("/linux/resources/pids", "typical") => json!({"limit": rng.range(10, 1000)}),
        ("/linux/resources/pids", _) => json!({"limit": -1}),
        ("/linux/resources/cpu", "empty") => json!({}),
        ("/linux/resources/cpu", "typical") => json!({"shares": rng.range(2, 10000)}),
        ("/linux/resources/cpu", _) => json!({"shares": 1, "quota": 1000, "period": 1000}),
        ("/root/readonly", "empty" | "edge") => json!(false),
        ("/root/readonly", _) => json!(true),
        (other, k) => panic!("no {k} value for {other}"),
    };
    Some(v)
}

/// The fields the generator changes.
const FIELDS: &[&str] = &[
    "/process/user/uid",
    "/process/user/gid",
    "/process/user/umask",
    "/process/user/additionalGids",
    "/process/cwd",
    "/process/env",
    "/process/rlimits",
    "/process/noNewPrivileges",
    "/process/oomScoreAdj",
    "/process/capabilities/bounding",
    "/process/capabilities/effective",
    "/process/capabilities/permitted",
    "/process/capabilities/inheritable",
    "/process/capabilities/ambient",
    "/hostname",
    "/linux/maskedPaths",
    "/linux/readonlyPaths",
    "/linux/sysctl",
    "/linux/resources/memory",
    "/linux/resources/pids",
    "/linux/resources/cpu",
    "/root/readonly",
];

/// Sets (or removes) the value at a JSON pointer, making missing objects.
fn set(spec: &mut Value, ptr: &str, v: Option<Value>) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let mut cur = spec;
    for part in parent.split('/').filter(|p| !p.is_empty()) {
        if cur.get(part).is_none() {
            cur[part] = json!({});
        }
        cur = &mut cur[part];
    }
    match v {
        Some(v) => cur[key] = v,
        None => remove(cur, key),
    }
}

/// `n` variants from `seed`, each one field of `base` changed.
pub fn generated(base: &Value, seed: u64, n: usize) -> Vec<Variant> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let field = *rng.pick(FIELDS);
            let kind = *rng.pick(&KINDS);
            let v = value(field, kind, &mut rng);
            let mut spec = base.clone();
            set(&mut spec, field, v.clone());
            let shown = v.map_or("absent".to_string(), |v| v.to_string());
            let shown: String = shown.chars().take(60).collect();
            Variant {
                name: format!("gen{i}:{field}={kind}:{shown}"),
                spec,
            }
        })
        .collect()
}
