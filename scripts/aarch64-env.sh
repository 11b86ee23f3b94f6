# shellcheck shell=bash
# Sourced (not run) by scripts/package.sh and scripts/arm64-smoke.sh: how
# cargo cross-compiles for aarch64-unknown-linux-gnu with Debian's cross
# toolchain (installed by `scripts/setup.sh arm64`). Every variable names the
# target, so native builds in the same shell are untouched.

# Linker, and the C compiler and archiver for crates that build C (ring,
# zstd, SQLite).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# pkg-config (the libseccomp crate's version probe) reads arm64's .pc files
# only, never the host's.
export PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu=1
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
# `cargo test --target aarch64-unknown-linux-gnu` runs the test binaries
# under qemu-user. No binfmt_misc needed; the ELF interpreter and libraries
# are arm64's multiarch ones (libc6:arm64, libseccomp2:arm64), as on an
# arm64 host.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
