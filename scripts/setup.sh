#!/usr/bin/env bash
# Installs what Berth needs to build (and, with `test`, to test) on Debian 12.
# Idempotent: each tool is installed only when it is missing, and only from
# the package registries (Debian apt, crates.io, npm); nothing from GitHub.
#
#   scripts/setup.sh run    build tools: wasm target, wasm-bindgen, wasm-opt
#   scripts/setup.sh test   + everything the tests use (runtimes, registry,
#                            dockerd, PostgreSQL, Chromium, QEMU, ...)
#   scripts/setup.sh arm64  + the arm64 cross toolchain and qemu-user
#                            (scripts/package.sh arm64, scripts/arm64-smoke.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-run}
WASM_BINDGEN_VERSION=0.2.129
# Test tools from crates.io, pinned (installed only when missing).
NEXTEST_VERSION=0.9.143
CARGO_DENY_VERSION=0.20.2
# The API contract checks (e2e/tests/api_fuzz.rs), from PyPI, pinned, in a
# venv under target/ (installed only when missing or of another version).
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
SCHEMATHESIS_VERSION=4.32.5

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: installing Debian packages needs root (run as root or with sudo)" >&2
        exit 1
    fi
}

# --- Debian packages ---------------------------------------------------------
# nftables and iproute2: the local agent's container networking needs them at run time.
build_pkgs=(build-essential pkg-config libseccomp-dev nodejs npm curl ca-certificates nftables iproute2)
test_pkgs=(runc crun busybox-static docker-registry skopeo umoci docker.io
    postgresql chromium chromium-driver qemu-system-x86 hyperfine iperf3
    nftables iproute2 util-linux procps psmisc cpio xz-utils kmod apache2-utils
    python3-venv shellcheck git gpgv openssl)
# Cross-compiling for arm64 with Debian's toolchain: the compiler and linker
# with their libc, libseccomp for arm64 (a multiarch package: the runtime
# links it, and it brings libc6:arm64, so qemu-user runs the binaries on the
# very libraries an arm64 host installs), and qemu-user to run them.
arm64_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64 qemu-user-static)

pkgs=("${build_pkgs[@]}")
case "$profile" in
    run) ;;
    test) pkgs+=("${test_pkgs[@]}") ;;
    arm64) pkgs+=("${arm64_pkgs[@]}") ;;
    *)
        echo "usage: scripts/setup.sh [run|test|arm64]" >&2
        exit 1
        ;;
esac
if [ "$profile" = arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    need_root
    log "dpkg --add-architecture arm64 (for libseccomp-dev:arm64)"
    dpkg --add-architecture arm64
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        # npm/nodejs may come from elsewhere (e.g. nodesource); accept a working binary.
        case "$p" in
            nodejs) command -v node >/dev/null && continue ;;
            npm) command -v npm >/dev/null && continue ;;
        esac
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    need_root
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's binaryen (wasm-opt 108) builds a wasm that fails in the browser;
# we use npm's binaryen from tools/. Refuse to run with the Debian one first on PATH.
if dpkg-query -W -f='${Status}' binaryen 2>/dev/null | grep -q "install ok installed"; then
    log "warning: Debian's binaryen is installed; scripts use tools/node_modules/.bin/wasm-opt explicitly"
fi

# --- Rust --------------------------------------------------------------------
if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust with rustup first" >&2
    exit 1
fi
installed_targets=$(rustup target list --installed 2>/dev/null || true)
targets=(wasm32-unknown-unknown x86_64-unknown-linux-musl)
[ "$profile" = arm64 ] && targets+=(aarch64-unknown-linux-gnu)
for t in "${targets[@]}"; do
    if ! grep -qx "$t" <<<"$installed_targets"; then
        log "rustup target add $t"
        rustup target add "$t"
    fi
done

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
    log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --quiet
fi

if [ "$profile" = test ]; then
    # The test groups and timeouts of .config/nextest.toml need nextest:
    # scripts/test.sh refuses to run without it.
    if ! cargo nextest --version 2>/dev/null | grep -q "^cargo-nextest "; then
        log "cargo install cargo-nextest $NEXTEST_VERSION (a few minutes, once)"
        cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
    fi
    if ! cargo deny --version 2>/dev/null | grep -q "^cargo-deny "; then
        log "cargo install cargo-deny $CARGO_DENY_VERSION (a few minutes, once)"
        cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --quiet
    fi
    py=target/py/bin
    if ! "$py/pip" show schemathesis 2>/dev/null | grep -qx "Version: $SCHEMATHESIS_VERSION" ||
        ! "$py/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $OPENAPI_SPEC_VALIDATOR_VERSION"; then
        log "pip install schemathesis $SCHEMATHESIS_VERSION, openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION into target/py"
        [ -x "$py/python" ] || python3 -m venv target/py
        "$py/pip" install --quiet --disable-pip-version-check \
            "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
    fi
fi

# --- npm build tools and vendored browser assets ------------------------------
# --ignore-scripts: no package runs code at install (swagger-ui-dist depends
# on @scarf/scarf, whose postinstall would report the install to a tracker).
if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
    log "npm ci --ignore-scripts (binaryen, xterm.js, swagger-ui) into tools/"
    npm ci --prefix tools --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi

log "ready ($profile)"
