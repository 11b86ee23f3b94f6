#!/usr/bin/env bash
# Builds the Debian packages berth-server and berth-agent (with
# berth-runtime) into target/debian/, with cargo-deb:
#
#   scripts/package.sh [amd64|arm64|all]      (default: amd64)
#
# Release binaries and the dashboard (scripts/setup.sh for its tools, then
# scripts/build-frontend.sh) are built first; cargo-deb is installed from crates.io (cargo install --locked) only
# when missing. arm64 is not built yet (docs/install-debian.md says what
# remains). Prints each package's size; see docs/install-debian.md.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[package]\033[0m %s\n' "$*"; }
die() {
    printf '\033[1;31m[package] error:\033[0m %s\n' "$*" >&2
    exit 1
}

arch=${1:-amd64}
case "$arch" in
    amd64) arches=(amd64) ;;
    arm64 | all) die "arm64 packages are not built yet (cross-compiling is the next step, docs/install-debian.md)" ;;
    *) die "usage: scripts/package.sh [amd64|arm64|all]" ;;
esac
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
    die "amd64 packages are built on an amd64 Debian host"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: apt-get install dpkg"

if ! cargo deb --version >/dev/null 2>&1; then
    log "installing cargo-deb (cargo install --locked cargo-deb)"
    cargo install --locked cargo-deb
fi

log "build tools (scripts/setup.sh: skips what is already there)"
scripts/setup.sh
log "building the dashboard"
scripts/build-frontend.sh
[ -f frontend/dist/index.html ] || die "no frontend/dist/index.html after the dashboard build"

out=target/debian
mkdir -p "$out"
for a in "${arches[@]}"; do
    log "building release binaries ($a)"
    cargo build --release --locked -p berth-server -p berth-agent -p berth-runtime \
        --bin berth-server --bin berth-agent --bin berth-runtime
    for pkg in berth-server berth-agent; do
        log "packaging $pkg ($a)"
        cargo deb --no-build --locked -p "$pkg" --output "$out/"
    done
done

log "packages in $out:"
for deb in "$out"/*.deb; do
    printf '  %-50s %8s KiB (installed %s KiB)\n' "$(basename "$deb")" \
        "$(($(stat -c %s "$deb") / 1024))" \
        "$(dpkg-deb -f "$deb" Installed-Size)"
done
