#!/usr/bin/env bash
# The agent's own cost: 200 idle containers (busybox `sleep`) under one
# release-built agent, whose CPU time and RSS are measured while it samples
# every container's cgroup every second for 60 s. Aim: < 2 % of one core and
# < 30 MB RSS. Then, when dockerd is installed, the same for Docker: a
# private dockerd (own data root, exec root, socket and cgroup parent; no
# bridge, no iptables) runs as many idle busybox containers, and what
# dockerd + containerd cost is measured idle and while `docker stats`
# streams every container's stats for as long. Everything it made is
# removed at exit, even on failure. Needs root.
# Both sides start their containers one at a time (the Berth side,
# agent/tests/bench_idle.rs, creates and starts them in a loop; Docker's
# `docker run -d` calls run one after the other too), so the start-up
# times printed are comparable. Exits non-zero when a side fails.
# BENCH_CONTAINERS / BENCH_SECONDS change the size; BENCH_DOCKER=0 skips
# the Docker comparison, BENCH_AGENT=0 the agent.

set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/agent.sh: needs root (containers, cgroups, mounts)" >&2
    exit 1
fi
export BENCH_CONTAINERS=${BENCH_CONTAINERS:-200}
export BENCH_SECONDS=${BENCH_SECONDS:-60}
if [ "${BENCH_AGENT:-1}" != 0 ]; then
    echo "== berth-agent: $BENCH_CONTAINERS idle containers, ${BENCH_SECONDS}s =="
    # Only the result lines are shown, but a failed benchmark fails the script.
    set +e
    cargo test --release -p berth-agent --test bench_idle -- --ignored --nocapture --test-threads=1 2>&1 |
        grep -E '^(containers|measured|agent|one sampling|history|monitors)|panicked|error'
    status=("${PIPESTATUS[@]}")
    set -e
    if [ "${status[0]}" -ne 0 ]; then
        echo "bench/agent.sh: the berth-agent benchmark failed (cargo test exited ${status[0]})" >&2
        exit "${status[0]}"
    fi
fi

if [ "${BENCH_DOCKER:-1}" = 0 ]; then
    exit 0
fi
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "== docker: dockerd is not installed, no comparison =="
    exit 0
fi

# --- Docker, for comparison ---------------------------------------------
dir=$(mktemp -d /tmp/berth-bench-dockerd.XXXXXX)
cg="berth/bench-docker-$$"
dockerd_pid=
stats_pid=
D=(docker -H "unix://$dir/docker.sock")

# Processes started by this dockerd: its containerd and shims name $dir.
procs_of_dir() {
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$dir"; then
            echo "${p#/proc/}"
        fi
    done
}

cleanup() {
    set +e
    [ -n "$stats_pid" ] && kill "$stats_pid" 2>/dev/null
    [ -n "$dockerd_pid" ] && kill -9 "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
    local p
    for p in $(procs_of_dir); do kill -9 "$p" 2>/dev/null; done
    # The containers themselves (their cmdline does not name $dir): every
    # process of the cgroup parent this dockerd was given.
    for f in /sys/fs/cgroup/*/"$cg"; do
        [ -d "$f" ] || continue
        find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do
            kill -9 "$p" 2>/dev/null
        done
    done
    sleep 1
    for f in /sys/fs/cgroup/*/"$cg"; do
        [ -d "$f" ] && find "$f" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    awk -v d="$dir" '$5 ~ "^"d {print length($5), $5}' /proc/self/mountinfo | sort -rn |
        cut -d' ' -f2- | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT

ticks() { # utime + stime of pids, in clock ticks
    local sum=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086 # the fields of /proc/<pid>/stat
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}
rss_kib() {
    local sum=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

echo "== docker $(dockerd --version | cut -d' ' -f3 | tr -d ,): $BENCH_CONTAINERS idle containers, ${BENCH_SECONDS}s =="
dockerd --pidfile "$dir/docker.pid" --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$dir/docker.sock" --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --cgroup-parent "/$cg" >"$dir/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 300); do
    "${D[@]}" version >/dev/null 2>&1 && break
    sleep 0.2
done
"${D[@]}" version >/dev/null || { tail -5 "$dir/dockerd.log"; exit 1; }
tar=$(ls target/tmp/busybox-image.tar 2>/dev/null || true)
if [ -z "$tar" ]; then
    tar="$dir/busybox.tar"
    bash agent/tests/fixtures/make-busybox-tar.sh "$tar"
fi
"${D[@]}" load -i "$tar" >/dev/null
start=$(date +%s.%N)
# One at a time, as the Berth side starts its containers.
seq 0 $((BENCH_CONTAINERS - 1)) | xargs -P 1 -I{} "${D[@]}" run -d --network none \
    --name idle-{} -m 16m busybox sleep 86400 >/dev/null
took=$(echo "$(date +%s.%N) - $start" | bc)
running=$("${D[@]}" ps -q | wc -l)
printf 'containers              %s running (started one at a time in %.1f s, %.0f ms each)\n' \
    "$running" "$took" "$(echo "$took * 1000 / $BENCH_CONTAINERS" | bc -l)"
[ "$running" -eq "$BENCH_CONTAINERS" ] || { echo "bench/agent.sh: only $running of $BENCH_CONTAINERS docker containers run" >&2; exit 1; }
# Which of them is containerd, which are the shims (one per container).
cmd_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }
containerd_pid=
shims=
for p in $(procs_of_dir); do
    case "$(cmd_of "$p")" in
    *containerd-shim*) shims="$shims $p" ;;
    containerd\ *) containerd_pid=$p ;;
    esac
done
hz=$(getconf CLK_TCK)
sleep 3

measure() { # label: CPU and RSS of dockerd + containerd over BENCH_SECONDS
    local c0 c1 r=0 n=0 max=0 v
    c0=$(ticks "$dockerd_pid" "$containerd_pid")
    for _ in $(seq 1 "$BENCH_SECONDS"); do
        v=$(rss_kib "$dockerd_pid" "$containerd_pid")
        r=$((r + v)); n=$((n + 1)); [ "$v" -gt "$max" ] && max=$v
        sleep 1
    done
    c1=$(ticks "$dockerd_pid" "$containerd_pid")
    printf '%-23s %.2f %% of one core; RSS mean %.1f MiB, max %.1f MiB (dockerd + containerd)\n' \
        "$1" "$(echo "($c1 - $c0) * 100 / $hz / $BENCH_SECONDS" | bc -l)" \
        "$(echo "$r / $n / 1024" | bc -l)" "$(echo "$max / 1024" | bc -l)"
}
measure "docker idle"
"${D[@]}" stats --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}' >/dev/null 2>&1 &
stats_pid=$!
sleep 3
c0=$(ticks "$stats_pid")
measure "docker stats (all)"
c1=$(ticks "$stats_pid")
printf 'docker stats CLI         %.2f %% of one core\n' "$(echo "($c1 - $c0) * 100 / $hz / $BENCH_SECONDS" | bc -l)"
# shellcheck disable=SC2086
nshims=$(echo $shims | wc -w)
if [ "$nshims" -gt 0 ]; then
    # shellcheck disable=SC2086
    shim_rss=$(rss_kib $shims)
    printf 'shims                   %s, RSS %.1f MiB in all, %.0f KiB each (Berth: the monitors)\n' \
        "$nshims" "$(echo "$shim_rss / 1024" | bc -l)" "$(echo "$shim_rss / $nshims" | bc -l)"
fi
