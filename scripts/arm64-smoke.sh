#!/usr/bin/env bash
# Smoke-tests the arm64 packages on this amd64 host under qemu-user:
#
#   scripts/arm64-smoke.sh [--no-package] [--profile release|dev]
#
# 1. builds the arm64 packages (scripts/package.sh arm64; --no-package takes
#    the ones already in target/debian/ instead);
# 2. checks their control fields (Architecture: arm64, libc6 and, for the
#    agent, libseccomp2 among the Depends), extracts them (dpkg-deb -x) and
#    runs the packaged berth-server, berth-agent and berth-runtime
#    `--version` under qemu-aarch64-static, on arm64's own multiarch libc
#    and libseccomp (libc6:arm64, libseccomp2:arm64);
# 3. runs berth-runtime's unit tests cross-compiled for aarch64 under
#    qemu-user (BERTH_UNDER_QEMU_USER=1: the two tests that need what
#    qemu-user does not emulate skip, each saying why, and the script checks
#    that exactly those skipped; docs/install-debian.md lists them).
#
# Not part of scripts/test.sh: building for aarch64 compiles every
# dependency once more (docs/install-debian.md has the times). Each step
# prints its time. Needs root the first time (scripts/setup.sh arm64).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[arm64-smoke]\033[0m %s\n' "$*"; }
die() {
    printf '\033[1;31m[arm64-smoke] error:\033[0m %s\n' "$*" >&2
    exit 1
}

package=1
profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --no-package) package=0 ;;
        --profile) profile=${2:?--profile needs release or dev}; shift ;;
        *) die "usage: scripts/arm64-smoke.sh [--no-package] [--profile release|dev]" ;;
    esac
    shift
done

total=$SECONDS
step_start=$SECONDS
step() {
    log "$1"
    step_start=$SECONDS
}
step_done() { log "  done in $((SECONDS - step_start)) s"; }

step "toolchain (scripts/setup.sh arm64: skips what is already there)"
scripts/setup.sh arm64 >/dev/null
# shellcheck source=scripts/aarch64-env.sh
. scripts/aarch64-env.sh
step_done

if [ "$package" = 1 ]; then
    step "packages (scripts/package.sh arm64 --profile $profile)"
    scripts/package.sh arm64 --profile "$profile"
    step_done
fi

step "control fields and the packaged binaries under qemu-user"
version=$(cargo pkgid -p berth-agent | sed 's/.*[#@]//')
[ -n "$version" ] || die "no workspace version from cargo pkgid"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for pkg in berth-server berth-agent; do
    debs=(target/debian/"${pkg}_${version}"-*_arm64.deb)
    [ -f "${debs[0]}" ] || die "no target/debian/${pkg}_${version}-*_arm64.deb (scripts/package.sh arm64)"
    [ ${#debs[@]} -eq 1 ] || die "more than one ${pkg} ${version} arm64 package in target/debian/: ${debs[*]}"
    deb=${debs[0]}
    arch=$(dpkg-deb -f "$deb" Architecture)
    [ "$arch" = arm64 ] || die "$deb: Architecture: $arch"
    depends=$(dpkg-deb -f "$deb" Depends)
    log "  $(basename "$deb"): Architecture: $arch; Depends: $depends"
    wanted=(libc6)
    [ "$pkg" = berth-agent ] && wanted+=(libseccomp2 nftables iproute2)
    for d in "${wanted[@]}"; do
        grep -Eq "(^|, )$d( |,|$)" <<<"$depends" || die "$deb does not depend on $d"
    done
    # An arm64 dependency that is only a cross-build package would not install on arm64.
    if grep -q -- '-cross' <<<"$depends"; then die "$deb depends on a cross-toolchain package"; fi
    dpkg-deb -x "$deb" "$work/$pkg"
done
for bin in berth-server/usr/bin/berth-server berth-agent/usr/bin/berth-agent berth-agent/usr/bin/berth-runtime; do
    path=$work/$bin
    machine=$(aarch64-linux-gnu-readelf -h "$path" | sed -n 's/^ *Machine: *//p')
    [ "$machine" = AArch64 ] || die "$bin is built for '$machine', not AArch64"
    out=$(qemu-aarch64-static "$path" --version) || die "$bin --version failed under qemu-user"
    grep -qF "$version" <<<"$out" || die "$bin --version printed '$out', not version $version"
    log "  $bin --version: $out"
done
step_done

step "berth-runtime unit tests for aarch64 under qemu-user"
# The tests qemu-user cannot run skip, each saying why
# (docs/install-debian.md lists them); any other skip, or one of these that
# no longer skips, fails the smoke test.
expected_skips=(
    "child::tests::exit_codes_read_as_a_shell_does: qemu-user renumbers real-time signals in a wait status"
    "seccomp::tests::notify_needs_a_listener: qemu-user has no seccomp(2): libseccomp refuses SCMP_ACT_NOTIFY"
)
unit_log=$work/unit.log
skip_log=$work/skips.log
: >"$skip_log"
BERTH_UNDER_QEMU_USER=1 BERTH_TEST_STRICT=0 BERTH_TEST_SKIP_LOG=$skip_log \
    cargo test --locked -p berth-runtime --lib --target aarch64-unknown-linux-gnu 2>&1 |
    tee "$unit_log" || die "berth-runtime's unit tests failed under qemu-user"
grep -q '^test result: ok\.' "$unit_log" || die "no passing test result in the unit tests' output"
sed -n 's/^test result: /  unit tests: /p' "$unit_log"
if [ "$(sort "$skip_log")" != "$(printf '%s\n' "${expected_skips[@]}" | sort)" ]; then
    printf '  skipped: %s\n' "$(cat "$skip_log")" >&2
    die "the skips under qemu-user are not the expected ones (scripts/arm64-smoke.sh, docs/install-debian.md)"
fi
log "  skipped under qemu-user (${#expected_skips[@]}, as expected):"
sed 's/^/    /' "$skip_log"
step_done

log "arm64 smoke test passed in $((SECONDS - total)) s"
