#!/usr/bin/env bash
# Builds the Debian packages berth-server and berth-agent (with
# berth-runtime) into target/debian/, with cargo-deb:
#
#   scripts/package.sh [amd64|arm64|all] [--profile release|dev] [--version V]
#
# amd64 is the default; arm64 is cross-compiled with Debian's cross
# toolchain (`scripts/setup.sh arm64` installs it when missing, the settings
# are in scripts/aarch64-env.sh) and smoke-tested under qemu-user by
# scripts/arm64-smoke.sh; all builds both. --profile dev packages the debug
# build the tests already made (the packaged-install tests use it: no release
# build in CI); --version V sets the package version (default: the
# workspace's), e.g. to build a newer package for an upgrade test.
#
# Binaries and the dashboard (scripts/setup.sh for its tools, then
# scripts/build-frontend.sh; wasm, the same files for every architecture)
# are built first; cargo-deb is installed from crates.io (cargo install
# --locked) only when missing. Prints each package's size and the build's
# time; see docs/install-debian.md.
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
    amd64 | arm64) arches=("$arch") ;;
    all) arches=(amd64 arm64) ;;
esac
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
    die "the packages are built on an amd64 Debian host (arm64 is cross-compiled there)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: apt-get install dpkg"

if ! cargo deb --version 2>/dev/null | grep -q "^cargo-deb 3\."; then
    log "installing cargo-deb (cargo install --locked cargo-deb)"
    cargo install --locked cargo-deb --version "^3.8"
fi

if [ "$arch" = amd64 ]; then
    log "build tools (scripts/setup.sh: skips what is already there)"
    scripts/setup.sh
else
    log "build tools and the arm64 cross toolchain (scripts/setup.sh arm64: skips what is already there)"
    scripts/setup.sh arm64
    # shellcheck source=scripts/aarch64-env.sh
    . scripts/aarch64-env.sh
fi
log "building the dashboard"
scripts/build-frontend.sh
[ -f frontend/dist/index.html ] || die "no frontend/dist/index.html after the dashboard build"

out=target/debian
mkdir -p "$out"
for a in "${arches[@]}"; do
    # cargo-deb reads the assets' target/release/... from
    # target/<triple>/<profile>/... when given --target.
    case "$a" in
        amd64) target_flags=() ;;
        arm64) target_flags=(--target aarch64-unknown-linux-gnu) ;;
    esac
    log "building $profile binaries ($a)"
    started=$SECONDS
    cargo build "${build_flags[@]}" "${target_flags[@]}" --locked \
        -p berth-server -p berth-agent -p berth-runtime \
        --bin berth-server --bin berth-agent --bin berth-runtime
    log "built $profile binaries ($a) in $((SECONDS - started)) s"
    for pkg in berth-server berth-agent; do
        log "packaging $pkg ($a)"
        deb=$(cargo deb --no-build --locked "${deb_flags[@]}" "${target_flags[@]}" -p "$pkg" --output "$out/" | tail -n 1)
        [ -f "$deb" ] || die "cargo deb did not name the package it wrote (got: $deb)"
        got=$(dpkg-deb -f "$deb" Architecture)
        [ "$got" = "$a" ] || die "$deb has Architecture: $got, not $a"
        printf '%s\n' "$deb" # on stdout, as cargo deb prints it
    done
done

log "packages in $out:"
for deb in "$out"/*.deb; do
    printf '  %-50s %8s KiB (installed %s KiB)\n' "$(basename "$deb")" \
        "$(($(stat -c %s "$deb") / 1024))" \
        "$(dpkg-deb -f "$deb" Installed-Size)"
done
