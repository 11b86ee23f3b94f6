#!/bin/sh
# Start-up time of berth-runtime against crun and runc, on one busybox bundle.
#
#   bench/runtime.sh            # as root; needs hyperfine, runc, crun, busybox-static
#   RUNS=100 bench/runtime.sh   # more runs
#   RUNS=5 WARMUP=1 BERTH=target/release/berth-runtime bench/runtime.sh   # short check, no build
#
# Two measurements per runtime (hyperfine, medians):
#   run    `<rt> run` of /bin/true with memory and pids limits;
#   cycle  `<rt> create` + `start` + `delete -f` of the same container.
# crun 1.8 refuses this machine's hybrid cgroup layout (it sees the cgroup2
# mount at /sys/fs/cgroup/unified and gives up), so it must run in a
# private mount namespace where that mount is unmounted. Entering it costs
# about 1.3 ms of nsenter, so berth-runtime and runc run through the very
# same `nsenter --mount=<that namespace>` too: every figure includes the
# same nsenter, and the ratios compare the runtimes alone. The cost of the
# bare `nsenter ... true` is measured and printed beside them.
# Every runtime gets an absolute cgroupsPath under /berth.
set -eu

RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "bench/runtime.sh: run as root" >&2; exit 1; }
for tool in hyperfine runc crun nsenter unshare python3; do
    command -v "$tool" >/dev/null || { echo "bench/runtime.sh: missing $tool" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "bench/runtime.sh: missing /bin/busybox (busybox-static)" >&2; exit 1; }

if [ -z "${BERTH:-}" ]; then
    echo "building berth-runtime (release)..." >&2
    (cd "$HERE" && cargo build --release -q -p berth-runtime)
    BERTH="$HERE/target/release/berth-runtime"
fi
# Absolute: nsenter starts it from the namespace's root directory.
BERTH=$(realpath "$BERTH")

T=$(mktemp -d /tmp/berth-bench.XXXXXX)
NS="$T/ns"
# A runtime's command line: each one through the same nsenter.
rt_cmd() {
    case $1 in
        berth) echo "nsenter --mount=$NS/mnt $BERTH --root $T/root-berth" ;;
        runc) echo "nsenter --mount=$NS/mnt runc --root $T/root-runc" ;;
        crun) echo "nsenter --mount=$NS/mnt crun --root $T/root-crun" ;;
    esac
}
cleanup() {
    set +e
    for rt in berth runc crun; do
        for id in run-$rt cyc-$rt; do
            # shellcheck disable=SC2046 # the runtime's command line, as words
            $(rt_cmd "$rt") delete -f "$id"
        done >/dev/null 2>&1
    done
    umount "$NS/mnt" 2>/dev/null
    umount "$NS" 2>/dev/null
    for c in /sys/fs/cgroup/*/berth/bench-* /sys/fs/cgroup/unified/berth/bench-*; do
        [ -d "$c" ] && rmdir "$c" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The bundle: busybox with its applets as links.
mkdir -p "$T/bundle/rootfs/bin" "$T/bundle/rootfs/proc" "$T/bundle/rootfs/dev" "$T/bundle/rootfs/sys" "$T/bundle/rootfs/tmp"
cp /bin/busybox "$T/bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$T/bundle/rootfs/bin/$a"
done
# One config per runtime: the same except the cgroup path.
for rt in berth runc crun; do
    mkdir -p "$T/b-$rt"
    python3 - "$T/b-$rt/config.json" "/berth/bench-$rt" "$T/bundle/rootfs" <<'EOF'
import json, sys
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
config = {
    "ociVersion": "1.0.2",
    "root": {"path": sys.argv[3], "readonly": True},
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
        "env": ["PATH=/bin"], "cwd": "/",
        "capabilities": {k: caps for k in ["bounding", "effective", "permitted"]},
        "noNewPrivileges": True,
    },
    "hostname": "bench",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ],
    "linux": {
        "cgroupsPath": sys.argv[2],
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}],
            "memory": {"limit": 67108864},
            "pids": {"limit": 100},
        },
        "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
        "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}
json.dump(config, open(sys.argv[1], "w"), indent=1)
EOF
done

# The mount namespace without the cgroup2 hierarchy crun needs; every
# runtime runs in it.
mkdir -p "$NS"
mount --bind "$NS" "$NS"
mount --make-private "$NS"
touch "$NS/mnt"
unshare --mount="$NS/mnt" --propagation private true
nsenter --mount="$NS/mnt" umount /sys/fs/cgroup/unified

cmd_run() {
    echo "$(rt_cmd "$1") run -b $T/b-$1 run-$1"
}
cmd_cycle() {
    r=$(rt_cmd "$1")
    echo "$r create -b $T/b-$1 cyc-$1 && $r start cyc-$1 && $r delete -f cyc-$1"
}

echo "== nsenter alone (in every figure below)" >&2
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$T/nsenter.json" "nsenter --mount=$NS/mnt true" >&2

for rt in berth crun runc; do
    # One plain run first: a failure here is an error, not a timing.
    sh -c "$(cmd_run $rt)" || { echo "bench/runtime.sh: $rt run failed" >&2; exit 1; }
    echo "== $rt run" >&2
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$T/run-$rt.json" "$(cmd_run $rt)" >&2
    echo "== $rt create+start+delete" >&2
    hyperfine --warmup "$WARMUP" --runs "$RUNS" --export-json "$T/cycle-$rt.json" "$(cmd_cycle $rt)" >&2
done

python3 - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
def stat(kind, rt):
    r = json.load(open(f"{t}/{kind}-{rt}.json"))["results"][0]
    return r["median"] * 1000, r["min"] * 1000
rows = {rt: (stat("run", rt), stat("cycle", rt)) for rt in ["berth", "crun", "runc"]}
crun_run, crun_cyc = rows["crun"][0][0], rows["crun"][1][0]
ns = json.load(open(f"{t}/nsenter.json"))["results"][0]["median"] * 1000
print(f"every figure includes the same nsenter into the namespace (alone: median {ns:.2f} ms)")
print("runtime\trun median ms\trun min ms\tcycle median ms\tcycle min ms\trun / crun\tcycle / crun")
for rt, ((rm, rmin), (cm, cmin)) in rows.items():
    print(f"{rt}\t{rm:.2f}\t{rmin:.2f}\t{cm:.2f}\t{cmin:.2f}\t{rm / crun_run:.2f}\t{cm / crun_cyc:.2f}")
EOF
