#!/usr/bin/env bash
# Builds the Debian packages berth-server and berth-agent (with
# berth-runtime) into target/debian/, with cargo-deb:
#
#   scripts/package.sh [amd64|arm64|all] [--profile release|dev] [--version V]
#
# amd64 is the default. --profile dev packages the debug build the tests
# already made (the packaged-install tests use it: no release build in CI);
# --version V sets the package version (default: the workspace's), e.g. to
# build a newer package for an upgrade test.
#
# Binaries and the dashboard (scripts/setup.sh for its tools, then
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

arch=amd64
profile=release
version=
while [ $# -gt 0 ]; do
    case "$1" in
        amd64 | arm64 | all) arch=$1 ;;
        --profile) profile=${2:?--profile needs release or dev}; shift ;;
        --version) version=${2:?--version needs a version}; shift ;;
        *) die "usage: scripts/package.sh [amd64|arm64|all] [--profile release|dev] [--version V]" ;;
    esac
    shift
done
case "$profile" in
    release) build_flags=(--release) ;;
    dev) build_flags=() ;;
    *) die "--profile is release or dev, not $profile" ;;
esac
deb_flags=(--profile "$profile")
[ -z "$version" ] || deb_flags+=(--deb-version "$version")
case "$arch" in
    amd64) arches=(amd64) ;;
    arm64 | all) die "arm64 packages are not built yet (cross-compiling is the next step, docs/install-debian.md)" ;;
    *) die "usage: scripts/package.sh [amd64|arm64|all]" ;;
esac
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
    die "amd64 packages are built on an amd64 Debian host"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: apt-get install dpkg"

if ! cargo deb --version 2>/dev/null | grep -q "^cargo-deb 3\."; then
    log "installing cargo-deb (cargo install --locked cargo-deb)"
    cargo install --locked cargo-deb --version "^3.8"
fi

log "build tools (scripts/setup.sh: skips what is already there)"
scripts/setup.sh
log "building the dashboard"
scripts/build-frontend.sh
[ -f frontend/dist/index.html ] || die "no frontend/dist/index.html after the dashboard build"

out=target/debian
mkdir -p "$out"
for a in "${arches[@]}"; do
    log "building $profile binaries ($a)"
    cargo build "${build_flags[@]}" --locked -p berth-server -p berth-agent -p berth-runtime \
        --bin berth-server --bin berth-agent --bin berth-runtime
    for pkg in berth-server berth-agent; do
        log "packaging $pkg ($a)"
        cargo deb --no-build --locked "${deb_flags[@]}" -p "$pkg" --output "$out/"
    done
done

log "packages in $out:"
for deb in "$out"/*.deb; do
    printf '  %-50s %8s KiB (installed %s KiB)\n' "$(basename "$deb")" \
        "$(($(stat -c %s "$deb") / 1024))" \
        "$(dpkg-deb -f "$deb" Installed-Size)"
done
