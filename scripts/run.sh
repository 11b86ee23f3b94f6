#!/usr/bin/env bash
# Builds Berth and starts it on this machine: the server with a local agent
# and an embedded SQLite database, at http://127.0.0.1:8080.
# This is the README's run command. Extra arguments go to berth-server, e.g.
#   scripts/run.sh --listen 0.0.0.0:8080
# Data lives in ./data unless BERTH_DATA_DIR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run: the local agent runs containers and needs root" >&2
    exit 1
fi

scripts/setup.sh run
printf '\033[1m[run]\033[0m cargo build --release (the first build takes several minutes)\n'
cargo build --release --locked -p berth-server -p berth-agent -p berth-runtime
scripts/build-frontend.sh

export BERTH_DATA_DIR=${BERTH_DATA_DIR:-$PWD/data}
export BERTH_DASHBOARD_DIR=${BERTH_DASHBOARD_DIR:-$PWD/frontend/dist}
# Local use: also answer plain HTTP (http://127.0.0.1:8080). An install
# reachable by others leaves this off, so plain HTTP is redirected to HTTPS.
export BERTH_ALLOW_PLAIN_HTTP=${BERTH_ALLOW_PLAIN_HTTP:-true}
exec target/release/berth-server --local-agent "$@"
