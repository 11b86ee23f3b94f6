#!/usr/bin/env bash
# Container networking: what network setup adds to a container start
# (bridge against none), and iperf3 throughput host -> container through a
# published port against a direct veth, in one run. Aims: bridge setup adds
# < 10 ms; published-port throughput >= 90 % of direct.
#
# Everything happens in scratch network namespaces (the agent's bridge,
# table and sysctls included), so the machine's own network is untouched.
# Needs root, nftables (nft), busybox-static, iperf3, iproute2.
#
#   BENCH_ITERATIONS=50      containers per mode for the setup timings
#   BENCH_IPERF_SECONDS=5    length of one iperf3 run
#   BENCH_IPERF_RUNS=3       runs per path (interleaved; best one kept)
#   PROFILE=release          cargo profile of the driver (release or dev)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/network.sh: needs root (network namespaces, nftables)" >&2
    exit 1
fi
for tool in nft iperf3 ip nsenter; do
    command -v "$tool" >/dev/null || { echo "bench/network.sh: $tool is not installed" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "bench/network.sh: /bin/busybox (busybox-static) is missing" >&2; exit 1; }
export BENCH_ITERATIONS=${BENCH_ITERATIONS:-50}
export BENCH_IPERF_SECONDS=${BENCH_IPERF_SECONDS:-5}
export BENCH_IPERF_RUNS=${BENCH_IPERF_RUNS:-3}
profile=${PROFILE:-release}
flag=--release
[ "$profile" = release ] || flag=
echo "== berth network: setup x$BENCH_ITERATIONS per mode, iperf3 ${BENCH_IPERF_RUNS}x${BENCH_IPERF_SECONDS}s per path ($profile build) =="
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
# Only the result lines are shown, but a failed benchmark fails the script.
set +e
# shellcheck disable=SC2086 # $flag is empty or one word
cargo test $flag -p berth-agent --test network_bench -- --ignored --nocapture --test-threads=1 2>&1 \
    | grep -E '^(--|  |start|iperf|aim|skipped)|panicked|error'
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[0]}" -ne 0 ]; then
    echo "bench/network.sh: the network benchmark failed (cargo test exited ${status[0]})" >&2
    exit "${status[0]}"
fi
