//! The hand-written variants of runc's template: one or a few fields of the
//! runtime spec changed each, named after what they change.

use serde_json::{Value, json};

/// A variant: its name and the spec it runs.
pub struct Variant {
    pub name: String,
    pub spec: Value,
}

/// runc's template as the harness runs it: no terminal (the probe's output
/// is read from the runtime's stdout). The probe's arguments and the root
/// and cgroup paths are filled in per run.
pub fn base(template: &Value) -> Value {
    let mut s = template.clone();
    s["process"]["terminal"] = json!(false);
    s
}

type Edit = fn(&mut Value);

/// Removes `key` from the object at `v`.
pub fn remove(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

fn caps(v: &mut Value, sets: &[(&str, &[&str])]) {
    let mut c = serde_json::Map::new();
    for (set, list) in sets {
        c.insert((*set).to_string(), json!(list));
    }
    v["process"]["capabilities"] = Value::Object(c);
}

const THREE: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

fn add_mount(v: &mut Value, m: Value) {
    v["mounts"].as_array_mut().unwrap().push(m);
}

fn drop_mount(v: &mut Value, dest: &str) {
    v["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != dest);
}

fn drop_ns(v: &mut Value, t: &str) {
    v["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != t);
}

fn add_ns(v: &mut Value, t: &str) {
    v["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": t}));
}

/// The process fields.
const PROCESS: &[(&str, Edit)] = &[
    ("template", |_| {}),
    ("user.uid-1000", |v| {
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000})
    }),
    ("user.additionalGids", |v| {
        v["process"]["user"]["additionalGids"] = json!([10, 20, 65534])
    }),
    ("user.umask-077", |v| {
        v["process"]["user"]["umask"] = json!(0o077)
    }),
    ("user.umask-0", |v| v["process"]["user"]["umask"] = json!(0)),
    ("cwd-tmp", |v| v["process"]["cwd"] = json!("/tmp")),
    ("cwd-missing", |v| {
        v["process"]["cwd"] = json!("/no/such/dir")
    }),
    ("cwd-relative", |v| v["process"]["cwd"] = json!("tmp")),
    ("env-empty", |v| v["process"]["env"] = json!([])),
    ("env-absent", |v| remove(&mut v["process"], "env")),
    ("env-duplicate", |v| {
        v["process"]["env"] = json!(["PATH=/bin", "A=1", "A=2"])
    }),
    ("env-without-equals", |v| {
        v["process"]["env"] = json!(["PATH=/bin", "NOEQUALS"])
    }),
    ("env-home-given", |v| {
        v["process"]["env"] = json!(["PATH=/bin", "HOME=/tmp"])
    }),
    ("rlimits-absent", |v| remove(&mut v["process"], "rlimits")),
    ("rlimits-empty", |v| v["process"]["rlimits"] = json!([])),
    ("rlimits-several", |v| {
        v["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_STACK", "soft": 1048576, "hard": 8388608}
        ])
    }),
    (
        "rlimits-soft-above-hard",
        |v| {
            v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}])
        },
    ),
    ("rlimits-unknown-type", |v| {
        v["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
    }),
    ("noNewPrivileges-false", |v| {
        v["process"]["noNewPrivileges"] = json!(false)
    }),
    ("noNewPrivileges-absent", |v| {
        remove(&mut v["process"], "noNewPrivileges")
    }),
    ("oomScoreAdj-500", |v| {
        v["process"]["oomScoreAdj"] = json!(500)
    }),
    ("oomScoreAdj-1000", |v| {
        v["process"]["oomScoreAdj"] = json!(1000)
    }),
    ("oomScoreAdj-1001", |v| {
        v["process"]["oomScoreAdj"] = json!(1001)
    }),
    ("apparmorProfile-absent", |v| {
        remove(&mut v["process"], "apparmorProfile")
    }),
    ("caps-absent", |v| remove(&mut v["process"], "capabilities")),
    ("caps-empty", |v| v["process"]["capabilities"] = json!({})),
    ("caps-bounding-only", |v| caps(v, &[("bounding", THREE)])),
    ("caps-effective-only", |v| caps(v, &[("effective", THREE)])),
    ("caps-permitted-only", |v| caps(v, &[("permitted", THREE)])),
    ("caps-inheritable-only", |v| {
        caps(v, &[("inheritable", THREE)])
    }),
    ("caps-ambient-only", |v| caps(v, &[("ambient", THREE)])),
    ("caps-ambient-with-inheritable", |v| {
        caps(
            v,
            &[
                ("bounding", THREE),
                ("effective", THREE),
                ("permitted", THREE),
                ("inheritable", THREE),
                ("ambient", THREE),
            ],
        )
    }),
    ("caps-ambient-with-inheritable-uid1000", |v| {
        caps(
            v,
            &[
                ("bounding", THREE),
                ("permitted", THREE),
                ("inheritable", THREE),
                ("ambient", THREE),
            ],
        );
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    }),
    ("caps-uid1000-without-ambient", |v| {
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        remove(&mut v["process"]["capabilities"], "ambient");
    }),
    ("caps-sys-admin", |v| {
        let l: &[&str] = &["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"];
        caps(v, &[("bounding", l), ("effective", l), ("permitted", l)])
    }),
    ("caps-unknown", |v| {
        caps(
            v,
            &[("bounding", &["CAP_BOGUS"]), ("effective", &["CAP_BOGUS"])],
        )
    }),
];

/// hostname, mounts, masked and read-only paths, root.
const FILESYSTEM: &[(&str, Edit)] = &[
    ("hostname-absent", |v| remove(v, "hostname")),
    ("hostname-empty", |v| v["hostname"] = json!("")),
    ("hostname-64", |v| v["hostname"] = json!("h".repeat(64))),
    ("hostname-65", |v| v["hostname"] = json!("h".repeat(65))),
    ("domainname", |v| v["domainname"] = json!("example.org")),
    ("root-readonly-false", |v| {
        v["root"]["readonly"] = json!(false)
    }),
    ("root-readonly-absent", |v| {
        remove(&mut v["root"], "readonly")
    }),
    ("mounts-tmpfs-size-mode", |v| {
        add_mount(
            v,
            json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "size=1m", "mode=700"]}),
        )
    }),
    ("mounts-tmpfs-ro", |v| {
        add_mount(
            v,
            json!({"destination": "/mnt/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
        )
    }),
    ("mounts-bind-ro", |v| {
        add_mount(
            v,
            json!({"destination": "/mnt/etc", "type": "bind", "source": "/etc",
                   "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}),
        )
    }),
    ("mounts-bind-rw", |v| {
        add_mount(
            v,
            json!({"destination": "/mnt/etc", "source": "/etc", "options": ["bind"]}),
        )
    }),
    ("mounts-bind-missing-source", |v| {
        add_mount(
            v,
            json!({"destination": "/mnt/x", "source": "/no/such/source", "options": ["bind"]}),
        )
    }),
    ("mounts-relative-destination", |v| {
        add_mount(
            v,
            json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"}),
        )
    }),
    ("mounts-without-sys", |v| drop_mount(v, "/sys")),
    ("mounts-without-cgroup", |v| drop_mount(v, "/sys/fs/cgroup")),
    ("mounts-without-devpts", |v| drop_mount(v, "/dev/pts")),
    ("mounts-without-dev", |v| {
        drop_mount(v, "/dev");
        drop_mount(v, "/dev/pts");
        drop_mount(v, "/dev/shm");
        drop_mount(v, "/dev/mqueue");
    }),
    ("mounts-empty", |v| v["mounts"] = json!([])),
    ("mounts-cgroup-rw", |v| {
        for m in v["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
            }
        }
    }),
    ("mounts-proc-options", |v| {
        v["mounts"][0]["options"] = json!(["nosuid", "nodev", "noexec"])
    }),
    ("masked-empty", |v| v["linux"]["maskedPaths"] = json!([])),
    ("masked-absent", |v| remove(&mut v["linux"], "maskedPaths")),
    ("masked-extra", |v| {
        v["linux"]["maskedPaths"] = json!(["/etc/passwd", "/tmp", "/proc/kcore", "/no/such/path"])
    }),
    ("readonly-empty", |v| {
        v["linux"]["readonlyPaths"] = json!([])
    }),
    ("readonly-absent", |v| {
        remove(&mut v["linux"], "readonlyPaths")
    }),
    ("readonly-extra", |v| {
        v["root"]["readonly"] = json!(false);
        v["linux"]["readonlyPaths"] = json!(["/tmp", "/etc/passwd", "/proc/sys", "/no/such/path"]);
    }),
];

/// Namespaces, sysctls, resources, seccomp.
const LINUX: &[(&str, Edit)] = &[
    ("ns-without-pid", |v| drop_ns(v, "pid")),
    ("ns-without-network", |v| drop_ns(v, "network")),
    ("ns-without-ipc", |v| drop_ns(v, "ipc")),
    ("ns-without-uts", |v| drop_ns(v, "uts")),
    ("ns-without-uts-and-hostname", |v| {
        drop_ns(v, "uts");
        remove(v, "hostname");
    }),
    ("ns-without-mount", |v| drop_ns(v, "mount")),
    ("ns-cgroup", |v| add_ns(v, "cgroup")),
    ("ns-user", |v| {
        add_ns(v, "user");
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    }),
    ("ns-user-without-mappings", |v| add_ns(v, "user")),
    ("ns-duplicate", |v| add_ns(v, "pid")),
    ("ns-join-host-network", |v| {
        for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!("/proc/1/ns/net");
            }
        }
    }),
    (
        "sysctl-net",
        |v| {
            v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1024"})
        },
    ),
    (
        "sysctl-ipc",
        |v| v["linux"]["sysctl"] = json!({"kernel.shmmni": "2048", "kernel.msgmax": "16384"}),
    ),
    ("sysctl-net-without-netns", |v| {
        drop_ns(v, "network");
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    }),
    ("sysctl-unknown", |v| {
        v["linux"]["sysctl"] = json!({"kernel.no_such_sysctl": "1"})
    }),
    ("sysctl-host-wide", |v| {
        v["linux"]["sysctl"] = json!({"vm.swappiness": "10"})
    }),
    ("resources-memory", |v| {
        v["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432})
    }),
    ("resources-memory-swap", |v| {
        v["linux"]["resources"]["memory"] = json!({"limit": 67108864, "swap": 134217728})
    }),
    ("resources-memory-swappiness", |v| {
        v["linux"]["resources"]["memory"] = json!({"swappiness": 10})
    }),
    ("resources-cpu", |v| {
        v["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000})
    }),
    ("resources-cpuset", |v| {
        v["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"})
    }),
    ("resources-pids", |v| {
        v["linux"]["resources"]["pids"] = json!({"limit": 64})
    }),
    ("resources-empty", |v| v["linux"]["resources"] = json!({})),
    ("seccomp-minimal", |v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["sethostname", "setdomainname"], "action": "SCMP_ACT_ERRNO"}]
        })
    }),
    ("seccomp-minimal-without-nnp", |v| {
        v["process"]["noNewPrivileges"] = json!(false);
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
        })
    }),
    ("seccomp-unknown-syscall", |v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]
        })
    }),
    ("seccomp-bad-action", |v| {
        v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_BOGUS"})
    }),
];

/// Every hand-written variant, on `base`.
pub fn hand_written(base: &Value) -> Vec<Variant> {
    PROCESS
        .iter()
        .chain(FILESYSTEM)
        .chain(LINUX)
        .map(|(name, edit)| {
            let mut spec = base.clone();
            edit(&mut spec);
            Variant {
                name: (*name).to_string(),
                spec,
            }
        })
        .collect()
}
