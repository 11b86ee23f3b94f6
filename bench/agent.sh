#!/usr/bin/env bash
# The agent's own cost: 200 idle containers (busybox `sleep`) under one
# release-built agent, whose CPU time and RSS are measured while it samples
# every container's cgroup every second for 60 s. Aim: < 2 % of one core and
# < 30 MB RSS. Needs root. BENCH_CONTAINERS / BENCH_SECONDS change the size.

set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/agent.sh: needs root (containers, cgroups, mounts)" >&2
    exit 1
fi
export BENCH_CONTAINERS=${BENCH_CONTAINERS:-200}
export BENCH_SECONDS=${BENCH_SECONDS:-60}
echo "== berth-agent: $BENCH_CONTAINERS idle containers, ${BENCH_SECONDS}s =="
cargo test --release -p berth-agent --test bench_idle -- --ignored --nocapture --test-threads=1 2>&1 \
    | grep -E '^(containers|measured|agent|one sampling|history|monitors)|panicked|error' || true
