#!/bin/sh
# The OCI conformance suite (youki's contest) against runc, crun, youki and
# berth-runtime on this machine, one line per test:
#
#   group/test<TAB>runc<TAB>crun<TAB>youki<TAB>berth     (ok, fail or skip)
#
# followed by a totals line, then runtime-tools' validation summary when
# RUNTIME_TOOLS_DIR is given.
#
#   CONTEST_DIR=/path/with/contest,runtimetest,bundle.tar.gz bench/conformance.sh
#
# CONTEST_DIR holds youki's `contest` and a static `runtimetest` built from
# youki's source outside this repository, and the suite's bundle.tar.gz
# (see shared/notes/conformance.md). Optional:
#   RUNTIMES="runc crun youki berth"  which to run
#   TEST_GROUPS="create kill ..."     which groups (default: all of `contest list`)
#   YOUKI=/path/to/youki              default: youki in PATH
#   BERTH=/path/to/berth-runtime      default: target/release/berth-runtime, built here
#   RUNTIME_TOOLS_DIR=/path/to/runtime-tools   also run its validation tests
#   OUT=dir                           raw logs (default: target/conformance)
#   REPORT_ONLY=1                     print the table from the logs in OUT, run nothing
#                                     (e.g. after re-running some groups for one runtime)
#
# How peers run here: crun 1.8 refuses the hybrid cgroup layout, so it runs
# in a private mount namespace without /sys/fs/cgroup/unified, with its
# options moved before the container id and ociVersion >= 1.2 rewritten to
# 1.1.0; youki's `run` can hang when the process exits at once, so every
# youki call is bounded by `timeout`. Contest runs with RUNTIME_KIND=runc for
# runc, crun and berth (all runc-compatible CLIs) and with RUNTIME_KIND=youki
# for youki. Each runtime runs inside its own cgroup /berth/conformance/<rt>,
# so runtimes that put relative cgroupsPaths under their caller's cgroup stay
# there; the script thaws, kills and removes what is left in it, and
# unmounts what the suite left mounted under /tmp, after each group (in the
# run's own private mount namespace, so nobody else's mounts are touched).
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
: "${CONTEST_DIR:?set CONTEST_DIR to the folder with contest, runtimetest and bundle.tar.gz}"
CONTEST_DIR=$(cd "$CONTEST_DIR" && pwd)
RUNTIMES=${RUNTIMES:-runc crun youki berth}
OUT=${OUT:-$HERE/target/conformance}
GROUP_TIMEOUT=${GROUP_TIMEOUT:-300}

[ "$(id -u)" = 0 ] || { echo "bench/conformance.sh: run as root" >&2; exit 1; }

# The whole run lives in a private mount namespace of its own: what the
# runtimes and the suite mount never reaches the host, and the clean-up
# after each group (which unmounts every new mount under /tmp) can only
# touch this run's copies, never another process's mounts.
if [ -z "${BERTH_CONFORMANCE_PRIVATE:-}" ] && [ -z "${REPORT_ONLY:-}" ]; then
    BERTH_CONFORMANCE_PRIVATE=1 exec unshare --mount --propagation private "$0" "$@"
fi
for f in contest runtimetest bundle.tar.gz; do
    [ -e "$CONTEST_DIR/$f" ] || { echo "bench/conformance.sh: $CONTEST_DIR/$f is missing" >&2; exit 1; }
done

if [ -z "${BERTH:-}" ] && [ -z "${REPORT_ONLY:-}" ]; then
    echo "building berth-runtime (release)..." >&2
    (cd "$HERE" && cargo build --release -q -p berth-runtime)
    BERTH="$HERE/target/release/berth-runtime"
fi
YOUKI=${YOUKI:-$(command -v youki || true)}

mkdir -p "$OUT"
W=$(mktemp -d /tmp/berth-conformance.XXXXXX)
NS="$W/ns"
NS_READY=

# Thaws and kills everything in the cgroup tree at $1, then removes its
# directories (the top one too unless $2 is "keep").
clean_tree() {
    [ -d "$1" ] || return 0
    find "$1" -depth -type d | while read -r d; do
        [ -w "$d/freezer.state" ] && echo THAWED > "$d/freezer.state" 2>/dev/null
        [ -w "$d/cgroup.freeze" ] && echo 0 > "$d/cgroup.freeze" 2>/dev/null
        # Not into a cgroup that is kept for the next group's runtime: a
        # cgroup.kill there makes Linux 6.14+ SIGKILL the CLONE_INTO_CGROUP
        # children of processes that later run in it.
        if [ "$d" != "$1" ] || [ "${2:-}" != keep ]; then
            [ -w "$d/cgroup.kill" ] && echo 1 > "$d/cgroup.kill" 2>/dev/null
        fi
        for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done || true
    sleep 0.2
    if [ "${2:-}" = keep ]; then
        find "$1" -depth -mindepth 1 -type d -exec rmdir {} \; 2>/dev/null || true
    else
        find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
    return 0
}

hierarchies() {
    for base in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        [ -f "$base/cgroup.procs" ] && echo "${base%/}"
    done
    return 0
}

# What a group may leave behind: the runtime's own /berth/conformance/<rt>
# subtree (runc, crun and youki put relative cgroupsPaths under their
# caller's cgroup; berth is told to use <rt>-containers beside it by
# $BERTH_CGROUP_PARENT, a cgroup without processes) and contest's
# own /runtime-test.
clean_cgroups() {
    for base in $(hierarchies); do
        clean_tree "$base/berth/conformance/$1" keep
        clean_tree "$base/berth/conformance/$1-containers"
        clean_tree "$base/runtime-test"
        # crun in its mount namespace puts the suite's containers at the
        # top, named by their uuid: those that appeared during the run.
        for d in "$base"/????????-????-????-????-????????????; do
            [ -d "$d" ] || continue
            grep -qxF "$d" "$W/cgroups.before" || clean_tree "$d"
        done
    done
    return 0
}

# Unmounts mounts under /tmp that appeared since $W/mounts.before.
clean_mounts() {
    awk '{print $5}' /proc/self/mountinfo | grep '^/tmp/' | sort > "$W/mounts.after" || true
    comm -13 "$W/mounts.before" "$W/mounts.after" | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done || true
    return 0
}

cleanup() {
    set +e
    for rt in $RUNTIMES; do clean_cgroups "$rt"; done
    for base in $(hierarchies); do
        clean_tree "$base/berth/conformance"
    done
    clean_mounts
    [ -n "$NS_READY" ] && { umount "$NS/mnt" 2>/dev/null; umount "$NS" 2>/dev/null; }
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for base in $(hierarchies); do
    for d in "$base"/????????-????-????-????-????????????; do
        if [ -d "$d" ]; then echo "$d"; fi
    done
done > "$W/cgroups.before"
awk '{print $5}' /proc/self/mountinfo | grep '^/tmp/' | sort > "$W/mounts.before" || true

# --- wrappers ---------------------------------------------------------------
wrapper() {
    case $1 in
        runc) echo "$(command -v runc)" ;;
        # A copy: a rebuild during the run must not swap the binary.
        berth) cp "$BERTH" "$W/berth-runtime" && echo "$W/berth-runtime" ;;
        youki)
            cat > "$W/youki" <<EOF
#!/bin/sh
exec timeout -s KILL 60 "$YOUKI" "\$@"
EOF
            chmod +x "$W/youki"; echo "$W/youki" ;;
        crun)
            cat > "$W/crun" <<EOF
#!/bin/sh
# Global options, then the command; crun wants the command's options
# before the container id, and ociVersion below 1.2.
globals=""
while [ \$# -gt 0 ]; do
    case \$1 in
        --root|--log|--log-format) globals="\$globals \$1 \$2"; shift 2 ;;
        -*) globals="\$globals \$1"; shift ;;
        *) break ;;
    esac
done
cmd=\$1; shift
if [ "\$cmd" = create ] || [ "\$cmd" = run ]; then
    id=\$1; shift
    bundle=.
    prev=
    for a in "\$@"; do
        [ "\$prev" = --bundle ] || [ "\$prev" = -b ] && bundle=\$a
        prev=\$a
    done
    if [ -f "\$bundle/config.json" ]; then
        sed -i 's/"ociVersion": *"1\.[2-9][^"]*"/"ociVersion":"1.1.0"/' "\$bundle/config.json"
    fi
    # shellcheck disable=SC2086
    exec nsenter --mount="$NS/mnt" crun \$globals "\$cmd" "\$@" "\$id"
fi
# shellcheck disable=SC2086
exec nsenter --mount="$NS/mnt" crun \$globals "\$cmd" "\$@"
EOF
            chmod +x "$W/crun"; echo "$W/crun" ;;
    esac
}

# Moves itself into /berth/conformance/<rt> in every hierarchy, then runs
# the rest of its arguments.
cat > "$W/enter" <<'EOF'
#!/bin/sh
rt=$1; shift
for base in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -f "$base/cgroup.procs" ] || continue
    case $base in */systemd/) continue ;; esac
    mkdir -p "$base/berth/conformance/$rt" 2>/dev/null || continue
    if [ -f "$base/cpuset.cpus" ]; then
        for c in berth berth/conformance "berth/conformance/$rt"; do
            [ -n "$(cat "$base/$c/cpuset.cpus" 2>/dev/null)" ] && continue
            cat "$base/cpuset.cpus" > "$base/$c/cpuset.cpus"
            cat "$base/cpuset.mems" > "$base/$c/cpuset.mems"
        done
    fi
    echo $$ > "$base/berth/conformance/$rt/cgroup.procs" 2>/dev/null || true
done
exec "$@"
EOF
chmod +x "$W/enter"
case " $RUNTIMES " in
    *" crun "*)
        mkdir -p "$NS"
        mount --bind "$NS" "$NS"
        mount --make-private "$NS"
        NS_READY=1
        touch "$NS/mnt"
        unshare --mount="$NS/mnt" --propagation private true
        nsenter --mount="$NS/mnt" umount /sys/fs/cgroup/unified 2>/dev/null || true
        ;;
esac
# The namespace mounts above are ours: clean_mounts must leave them alone.
awk '{print $5}' /proc/self/mountinfo | grep '^/tmp/' | sort > "$W/mounts.before" || true

# --- run ----------------------------------------------------------------------
cd "$CONTEST_DIR"
GROUPS_TO_RUN=${TEST_GROUPS:-$(./contest list)}
for rt in $RUNTIMES; do
    [ -n "${REPORT_ONLY:-}" ] && break
    if [ "$rt" = youki ] && [ -z "$YOUKI" ]; then
        echo "bench/conformance.sh: youki not found (set YOUKI); its column stays empty" >&2
        continue
    fi
    bin=$(wrapper "$rt")
    kind=runc
    [ "$rt" = youki ] && kind=youki
    mkdir -p "$OUT/$rt"
    echo "== $rt ($bin)" >&2
    for g in $GROUPS_TO_RUN; do
        # One process per group: a panic in one group must not end the others.
        RUNTIME_KIND=$kind BERTH_CGROUP_PARENT=/berth/conformance/berth-containers "$W/enter" "$rt" timeout -s KILL "$GROUP_TIMEOUT" \
            ./contest run --runtime "$bin" --runtimetest ./runtimetest -t "$g" > "$OUT/$rt/$g.log" 2>&1 || true
        clean_cgroups "$rt"
        clean_mounts
        printf '.' >&2
    done
    echo >&2
done

# --- report -------------------------------------------------------------------
python3 - "$OUT" "$RUNTIMES" $GROUPS_TO_RUN <<'EOF'
import os, re, sys
out, runtimes, groups = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
cols = ["runc", "crun", "youki", "berth"]
line_re = re.compile(r"^\d+ / \d+ : (.*) : (ok|not ok|skipped)\s*$")
results = {}  # (group, test) -> {rt: cell}
order = []
for rt in cols:
    if rt not in runtimes:
        continue
    for g in groups:
        path = os.path.join(out, rt, g + ".log")
        seen = False
        if os.path.exists(path):
            for line in open(path, errors="replace"):
                m = line_re.match(line.rstrip("\n"))
                if not m:
                    continue
                seen = True
                key = (g, m.group(1).strip())
                if key not in results:
                    results[key] = {}
                    order.append(key)
                results[key][rt] = {"ok": "ok", "not ok": "fail", "skipped": "skip"}[m.group(2)]
        if not seen:
            key = (g, "(group)")
            if key not in results:
                results[key] = {}
                order.append(key)
            results[key][rt] = "fail"
# A group that crashed for one runtime but not for another is counted by
# its tests (the crashed runtime fails each); "(group)" is only for groups
# no runtime got through.
tested = {g for (g, t) in order if t != "(group)"}
order = [k for k in order if not (k[1] == "(group)" and k[0] in tested)]
totals = {rt: {"ok": 0, "fail": 0, "skip": 0} for rt in cols}
missed = []
youki_only = []
for key in order:
    row = results[key]
    cells = [row.get(rt, "fail" if rt in runtimes else "-") for rt in cols]
    for rt, c in zip(cols, cells):
        if c in totals[rt]:
            totals[rt][c] += 1
    if row.get("berth") != "ok" and any(row.get(p) == "ok" for p in ("runc", "crun", "youki")):
        # Skipped for berth while a peer passed: contest runs some tests only
        # for RUNTIME_KIND=youki (youki's own column), never for runc-kind
        # runtimes (runc, crun and berth alike).
        if row.get("berth") == "skip" and all(row.get(p) in ("skip", None) for p in ("runc", "crun")):
            youki_only.append("/".join(key))
        else:
            missed.append("/".join(key))
    print("\t".join(["/".join(key)] + cells))
print("\t".join(["TOTAL ok/fail/skip"] + [f"{t['ok']}/{t['fail']}/{t['skip']}" if rt in runtimes else "-" for rt, t in totals.items()]))
if "berth" in runtimes:
    print(f"berth misses {len(missed)} test(s) a peer passes" + (": " + ", ".join(missed) if missed else ""))
    if youki_only:
        print(f"not run for runc-kind runtimes (contest runs them as youki only): {', '.join(youki_only)}")
EOF

# --- runtime-tools validation (optional) --------------------------------------
if [ -n "${RUNTIME_TOOLS_DIR:-}" ]; then
    cd "$RUNTIME_TOOLS_DIR"
    echo "runtime-tools validation (files fully passing, ok/not ok assertions):"
    for rt in $RUNTIMES; do
        [ "$rt" = youki ] && [ -z "$YOUKI" ] && continue
        bin=$(wrapper "$rt")
        pass=0; files=0; ok=0; nok=0
        for t in validation/*/*.t; do
            files=$((files + 1))
            BERTH_CGROUP_PARENT=/berth/conformance/berth-containers "$W/enter" "$rt" timeout -s KILL 120 env RUNTIME="$bin" "$t" > "$OUT/$rt-$(basename "$t").tap" 2>&1 || true
            o=$(grep -c '^ok' "$OUT/$rt-$(basename "$t").tap" || true)
            n=$(grep -c '^not ok' "$OUT/$rt-$(basename "$t").tap" || true)
            ok=$((ok + o)); nok=$((nok + n))
            [ "$n" = 0 ] && [ "$o" -gt 0 ] && pass=$((pass + 1))
            clean_cgroups "$rt"
        done
        printf '%s\t%s/%s files\t%s ok\t%s not ok\n' "$rt" "$pass" "$files" "$ok" "$nok"
    done
fi
