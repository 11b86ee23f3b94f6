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
# (built from youki's tests/contest). Optional:
#   RUNTIMES="runc crun youki berth"  which to run
#   TEST_GROUPS="create kill ..."     which groups (default: all of `contest list`)
#   YOUKI=/path/to/youki              default: youki in PATH
#   BERTH=/path/to/berth-runtime      default: target/release/berth-runtime, built here
#   RUNTIME_TOOLS_DIR=/path/to/runtime-tools   also run its validation tests
#   OUT=dir                           raw logs (default: target/conformance)
#   REPORT_ONLY=1                     print the table from the logs in OUT, run nothing
#                                     (e.g. after re-running some groups for one runtime)
#
#   bench/conformance.sh --self-test  checks the crun wrapper (both callers'
#   argument orders, against a fake crun and, as root, the real one) and
#   the TAP-plan verdict on crafted files; needs no CONTEST_DIR.
#
# How peers run here: crun 1.8 refuses the hybrid cgroup layout, so it runs
# in a private mount namespace without /sys/fs/cgroup/unified, with a
# create/run command's options moved before the container id (whatever
# order the caller used) and ociVersion >= 1.2 rewritten to 1.1.0; youki's `run` can hang when the process exits at once, so every
# youki call is bounded by `timeout`. Contest runs with RUNTIME_KIND=runc for
# runc, crun and berth (all runc-compatible CLIs) and with RUNTIME_KIND=youki
# for youki. Each runtime runs inside its own cgroup /berth/conformance/<rt>,
# so runtimes that put relative cgroupsPaths under their caller's cgroup stay
# there; the script thaws, kills and removes what is left in it, and
# unmounts what the suite left mounted under /tmp, after each group (in the
# run's own private mount namespace, so nobody else's mounts are touched).
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)

# --- pieces the self-test checks (bench/conformance.sh --self-test) -----------

# Prints a wrapper script that runs crun (the words of $1, e.g.
# "nsenter --mount=/x/mnt crun") behind runc's command line. Callers put a
# command's options anywhere: contest runs `create <id> --bundle <b>`,
# runtime-tools `create --pid-file <p> --bundle <b> <id>`. crun stops
# reading a command's options at its first operand, so for `create` and
# `run` (whose only operand is the id) the wrapper sorts the words into
# global options, command, command options (with their values) and
# operands, and passes them on in that order. Other commands go through
# unchanged (`exec <id> <cmd...>` must keep the process's own arguments
# after the id). ociVersion >= 1.2 in the bundle is rewritten to 1.1.0
# (crun 1.8 refuses it).
crun_wrapper() {
    sed "s|@CRUN@|$1|" <<'EOF'
#!/usr/bin/env bash
set -eu
crun=(@CRUN@)
globals=()
while [ $# -gt 0 ]; do
    case $1 in
        --root|--log|--log-format|--cgroup-manager)
            [ $# -ge 2 ] || { echo "crun wrapper: $1 needs a value" >&2; exit 2; }
            globals+=("$1" "$2"); shift 2 ;;
        --) shift; break ;;
        -*) globals+=("$1"); shift ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || exec "${crun[@]}" "${globals[@]}"
cmd=$1; shift
case $cmd in
    create|run)
        opts=() operands=() bundle=.
        while [ $# -gt 0 ]; do
            case $1 in
                --) shift; operands+=("$@"); break ;;
                --bundle|-b|--console-socket|--pid-file|--preserve-fds|--config|-f)
                    [ $# -ge 2 ] || { echo "crun wrapper: $1 needs a value" >&2; exit 2; }
                    case $1 in --bundle|-b) bundle=$2 ;; esac
                    opts+=("$1" "$2"); shift 2 ;;
                --bundle=*) bundle=${1#--bundle=}; opts+=("$1"); shift ;;
                -*) opts+=("$1"); shift ;;
                *) operands+=("$1"); shift ;;
            esac
        done
        if [ -f "$bundle/config.json" ]; then
            sed -i 's/"ociVersion": *"1\.[2-9][^"]*"/"ociVersion":"1.1.0"/' "$bundle/config.json"
        fi
        exec "${crun[@]}" "${globals[@]}" "$cmd" "${opts[@]}" "${operands[@]}" ;;
esac
exec "${crun[@]}" "${globals[@]}" "$cmd" "$@"
EOF
}

# The verdict on one TAP file $1 whose process exited with status $2:
#   pass        a plan 1..N (N > 0), exactly N results, none "not ok", exit 0
#   fail        at least one "not ok"
#   skip        plan 1..0, no results, exit 0
#   incomplete  anything else: no plan, fewer or more results than planned
#               (killed by the timeout, crashed), or a non-zero exit
tap_verdict() {
    awk -v rc="$2" '
        /^1\.\.[0-9]+/ { plans++; split($1, p, "\\.\\."); plan = p[2] + 0 }
        /^ok([ \t]|$)/ { ok++ }
        /^not ok([ \t]|$)/ { nok++ }
        END {
            n = ok + nok
            if (nok > 0) v = "fail"
            else if (plans != 1 || rc != 0 || n != plan) v = "incomplete"
            else if (plan == 0) v = "skip"
            else v = "pass"
            print v
        }' "$1"
}

self_test() {
    st=$(mktemp -d /tmp/berth-conformance-selftest.XXXXXX)
    # shellcheck disable=SC2064
    trap "set +e; rm -rf '$st'" EXIT
    fails=0
    check() { # label expected actual
        if [ "$2" = "$3" ]; then
            echo "ok   $1"
        else
            echo "FAIL $1"; echo "     expected: $2"; echo "     got:      $3"
            fails=$((fails + 1))
        fi
    }
    # A fake crun that prints the words it was given, one per line.
    # shellcheck disable=SC2016
    printf '#!/bin/sh\nfor a in "$@"; do printf "%%s|" "$a"; done\n' > "$st/fake-crun"
    chmod +x "$st/fake-crun"
    crun_wrapper "$st/fake-crun" > "$st/crun"
    chmod +x "$st/crun"
    mkdir -p "$st/b"
    v12='{"ociVersion": "1.2.0", "process": {}}'
    echo "$v12" > "$st/b/config.json"
    check "contest order: create <id> --bundle <b>" \
        "--root|/r|create|--bundle|$st/b|ID|" "$("$st/crun" --root /r create ID --bundle "$st/b")"
    check "contest order rewrites ociVersion 1.2 to 1.1.0" \
        '{"ociVersion":"1.1.0", "process": {}}' "$(cat "$st/b/config.json")"
    echo "$v12" > "$st/b/config.json"
    check "runtime-tools order: create --pid-file <p> --bundle <b> <id>" \
        "--root|/r|create|--pid-file|/p/pid|--bundle|$st/b|ID|" \
        "$("$st/crun" --root /r create --pid-file /p/pid --bundle "$st/b" ID)"
    check "runtime-tools order rewrites ociVersion too" \
        '{"ociVersion":"1.1.0", "process": {}}' "$(cat "$st/b/config.json")"
    check "mixed: -b <b> <id> --console-socket <s> --no-pivot" \
        "--log|/l|create|-b|/b|--console-socket|/s|--no-pivot|ID|" \
        "$("$st/crun" --log /l create -b /b ID --console-socket /s --no-pivot)"
    check "--bundle=<b> form and --debug global" \
        "--debug|run|--bundle=/b|--detach|ID|" "$("$st/crun" --debug run ID --bundle=/b --detach)"
    check "kill keeps its operands in order" "--root|/r|kill|ID|KILL|" "$("$st/crun" --root /r kill ID KILL)"
    check "delete --force <id> unchanged" "delete|--force|ID|" "$("$st/crun" delete --force ID)"
    check "exec keeps the process's arguments (and their spaces)" \
        "exec|ID|sh|-c|echo a  b|" "$("$st/crun" exec ID sh -c 'echo a  b')"
    check "a missing option value is an error" "2" "$("$st/crun" create ID --bundle >/dev/null 2>&1 && echo 0 || echo $?)"

    # TAP plans.
    t=$st/t.tap
    printf '1..3\nok 1 a\nok 2 b\nok 3 c\n' > "$t"; check "full plan, exit 0" pass "$(tap_verdict "$t" 0)"
    printf 'ok 1 a\nok 2 b\n1..2\n' > "$t"; check "plan at the end" pass "$(tap_verdict "$t" 0)"
    printf '1..5\nok 1 a\nok 2 b\n' > "$t"; check "killed after 2 of 5" incomplete "$(tap_verdict "$t" 137)"
    printf '1..5\nok 1 a\nok 2 b\n' > "$t"; check "short of its plan, exit 0" incomplete "$(tap_verdict "$t" 0)"
    printf 'ok 1 a\nok 2 b\n' > "$t"; check "no plan at all" incomplete "$(tap_verdict "$t" 0)"
    printf '1..2\nok 1 a\nok 2 b\n' > "$t"; check "full plan, non-zero exit" incomplete "$(tap_verdict "$t" 1)"
    printf '1..2\nok 1 a\nnot ok 2 b\n' > "$t"; check "one not ok" fail "$(tap_verdict "$t" 1)"
    printf '1..2\nok 1 a\nok 2 b\nok 3 c\n' > "$t"; check "more results than planned" incomplete "$(tap_verdict "$t" 0)"
    printf '1..2\nok 1 a\n    ok 1 sub\n    not ok 2 sub\nok 2 b\n' > "$t"
    check "indented subtests are not counted" pass "$(tap_verdict "$t" 0)"
    printf '1..0 # SKIP no cgroup v2\n' > "$t"; check "1..0 is a skip" skip "$(tap_verdict "$t" 0)"

    # The real crun, when this runs as root with crun and busybox-static:
    # a container created through the wrapper in both orders.
    if [ "$(id -u)" = 0 ] && command -v crun >/dev/null && [ -x /bin/busybox ]; then
        self_test_real_crun
    else
        echo "skip real crun (needs root, crun and /bin/busybox)"
    fi
    [ "$fails" = 0 ] || { echo "$fails self-test check(s) failed"; exit 1; }
    echo "self-test passed"
}

self_test_real_crun() {
    ns=$st/ns
    mkdir -p "$ns" "$st/rootfs/bin" "$st/rootfs/proc" "$st/rootfs/dev"
    mount --bind "$ns" "$ns"
    mount --make-private "$ns"
    touch "$ns/mnt"
    # shellcheck disable=SC2064
    trap "set +e; for i in 1 2; do nsenter --mount='$ns/mnt' crun --root '$st/root' delete -f st-\$i 2>/dev/null; done; \
        umount '$ns/mnt' 2>/dev/null; umount '$ns'; rmdir /sys/fs/cgroup/*/berth/conformance-selftest-$$-* 2>/dev/null; rm -rf '$st'" EXIT
    unshare --mount="$ns/mnt" --propagation private true
    nsenter --mount="$ns/mnt" umount /sys/fs/cgroup/unified 2>/dev/null || true
    crun_wrapper "nsenter --mount=$ns/mnt crun" > "$st/real-crun"
    chmod +x "$st/real-crun"
    cp /bin/busybox "$st/rootfs/bin/busybox"
    ln -s busybox "$st/rootfs/bin/sleep"
    for i in 1 2; do
        python3 - "$st/bundle$i" "$st/rootfs" "/berth/conformance-selftest-$$-$i" <<'EOF'
import json, os, sys
os.makedirs(sys.argv[1], exist_ok=True)
json.dump({"ociVersion": "1.2.0", "root": {"path": sys.argv[2], "readonly": True},
           "process": {"args": ["/bin/sleep", "30"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
           "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
           "linux": {"cgroupsPath": sys.argv[3], "namespaces": [{"type": t} for t in ["pid", "mount", "ipc", "uts"]]}},
          open(os.path.join(sys.argv[1], "config.json"), "w"))
EOF
    done
    "$st/real-crun" --root "$st/root" create st-1 --bundle "$st/bundle1" >"$st/c1.log" 2>&1 || cat "$st/c1.log"
    check "real crun, contest order: created" created \
        "$("$st/real-crun" --root "$st/root" state st-1 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)"
    "$st/real-crun" --root "$st/root" create --pid-file "$st/pid2" --bundle "$st/bundle2" st-2 >"$st/c2.log" 2>&1 || cat "$st/c2.log"
    check "real crun, runtime-tools order: created" created \
        "$("$st/real-crun" --root "$st/root" state st-2 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)"
    pid2=$(cat "$st/pid2" 2>/dev/null || true)
    check "real crun, runtime-tools order: pid file names the container's process" \
        "$("$st/real-crun" --root "$st/root" state st-2 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)" \
        "${pid2:-(no pid file)}"
    for i in 1 2; do
        "$st/real-crun" --root "$st/root" delete --force "st-$i" >/dev/null 2>&1
        check "real crun: st-$i deleted" "" "$("$st/real-crun" --root "$st/root" state "st-$i" 2>/dev/null)"
    done
}

if [ "${1:-}" = --self-test ]; then
    self_test
    exit 0
fi

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
        while read -r p; do kill -9 "$p" 2>/dev/null; done 2>/dev/null < "$d/cgroup.procs"
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
        runc) command -v runc ;;
        # A copy: a rebuild during the run must not swap the binary.
        berth) cp "$BERTH" "$W/berth-runtime" && echo "$W/berth-runtime" ;;
        youki)
            cat > "$W/youki" <<EOF
#!/bin/sh
exec timeout -s KILL 60 "$YOUKI" "\$@"
EOF
            chmod +x "$W/youki"; echo "$W/youki" ;;
        crun)
            crun_wrapper "nsenter --mount=$NS/mnt crun" > "$W/crun"
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
# shellcheck disable=SC2086 # one argument per group
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
    echo "runtime-tools validation (files fully passing: plan 1..N, N results, no not ok, exit 0;"
    echo "incomplete: killed, crashed or short of the plan; then ok/not ok assertions):"
    for rt in $RUNTIMES; do
        [ "$rt" = youki ] && [ -z "$YOUKI" ] && continue
        bin=$(wrapper "$rt")
        pass=0; files=0; ok=0; nok=0; incomplete=0
        for t in validation/*/*.t; do
            files=$((files + 1))
            tap="$OUT/$rt-$(basename "$t").tap"
            rc=0
            BERTH_CGROUP_PARENT=/berth/conformance/berth-containers "$W/enter" "$rt" timeout -s KILL 120 env RUNTIME="$bin" "$t" > "$tap" 2>&1 || rc=$?
            o=$(grep -c '^ok' "$tap" || true)
            n=$(grep -c '^not ok' "$tap" || true)
            ok=$((ok + o)); nok=$((nok + n))
            case $(tap_verdict "$tap" "$rc") in
                pass) pass=$((pass + 1)) ;;
                incomplete) incomplete=$((incomplete + 1)); echo "$rt: $t incomplete (exit $rc)" >&2 ;;
            esac
            clean_cgroups "$rt"
        done
        printf '%s\t%s/%s files\t%s incomplete\t%s ok\t%s not ok\n' "$rt" "$pass" "$files" "$incomplete" "$ok" "$nok"
    done
fi
