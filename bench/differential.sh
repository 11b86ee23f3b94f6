#!/bin/sh
# The differential harness (agent/runtime/tests/differential.rs) with more
# generated variants than CI runs: the same bundles through runc, crun and
# berth-runtime, compared field by field (docs/testing.md).
#
#   bench/differential.sh                          # 500 generated variants, seed 18
#   DIFF_VARIANTS=2000 DIFF_SEED=7 bench/differential.sh
#   DIFF_ONLY=caps- bench/differential.sh          # only variants whose name has "caps-"
#
# As root, with runc, crun and busybox-static installed. Prints one line per
# variant and, when berth differs where the rules do not allow it, the
# fields with runc's, crun's and berth's values.
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench/differential.sh: run as root" >&2; exit 1; }
for tool in runc crun nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "bench/differential.sh: missing $tool" >&2; exit 1; }
done

export DIFF_VARIANTS="${DIFF_VARIANTS:-500}"
export DIFF_SEED="${DIFF_SEED:-18}"
export DIFF_ONLY="${DIFF_ONLY:-}"
cd "$HERE"
exec cargo test -p berth-runtime --test differential -- --nocapture
